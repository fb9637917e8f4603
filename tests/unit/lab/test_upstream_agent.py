"""The upstream agent's ini files and names (the lab test runs them for real)."""

import configparser
from pathlib import Path

import pytest

from ovnmeta.core.errors import UsageError
from ovnmeta.lab.upstream_agent import MODES, REGISTRATION_KEY, render_ini, veth_names


def ini(mode: str) -> configparser.ConfigParser:
    text = render_ini(
        mode,
        state=Path("/lab/cmp1/upstream"),
        ovsdb=Path("/lab/cmp1/ovs/db.sock"),
        sb_remote="tcp:10.255.0.11:6642",
        api_host="10.255.0.11",
        api_port=8775,
        secret="s3cret",
        workers=4,
    )
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser


@pytest.mark.parametrize("mode", MODES)
def test_both_modes_point_at_the_lab_and_run_without_sudo(mode):
    conf = ini(mode)
    assert conf["agent"]["root_helper"] == "env"
    assert conf["ovs"]["ovsdb_connection"] == "unix:/lab/cmp1/ovs/db.sock"
    assert conf["ovn"]["ovn_sb_connection"] == "tcp:10.255.0.11:6642"
    default = conf["DEFAULT"]
    assert default["state_path"] == "/lab/cmp1/upstream"
    assert default["metadata_proxy_socket"] == "/lab/cmp1/upstream/metadata_proxy"
    assert (default["nova_metadata_host"], default["nova_metadata_port"]) == ("10.255.0.11", "8775")
    assert default["metadata_proxy_shared_secret"] == "s3cret"
    assert default["metadata_workers"] == "4"


def test_only_the_ovn_agent_loads_the_metadata_extension():
    assert ini("ovn-agent")["agent"]["extensions"] == "metadata"
    assert "extensions" not in ini("metadata-agent")["agent"]


def test_each_mode_registers_under_its_own_key():
    assert REGISTRATION_KEY == {
        "metadata-agent": "neutron:ovn-metadata-id",
        "ovn-agent": "neutron:ovn-neutron-agent-id",
    }


def test_unknown_mode_is_one_clear_error():
    with pytest.raises(UsageError, match="unknown upstream mode 'sriov'"):
        ini("sriov")


def test_veth_names_are_upstreams():
    assert veth_names("818ca4c7-06dd-4d93-8405-07e093436fcb") == (
        "tap818ca4c7-00",
        "tap818ca4c7-01",
    )
