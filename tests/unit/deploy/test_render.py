"""Golden files: parameters in golden/<case>.yaml, expected files in golden/<case>/.

OVNMETA_UPDATE_GOLDEN=1 pytest tests/unit/deploy rewrites the expected files; review the diff.
"""

import os
import pathlib

import pytest
from oslo_config import cfg

from ovnmeta.agent import config
from ovnmeta.deploy import cli, params, render

GOLDEN = pathlib.Path(__file__).parent / "golden"
CASES = [
    ("compute-minimal", "compute"),
    ("compute-tls", "compute"),
    ("controller", "controller"),
    ("controller-disabled", "controller"),
]


@pytest.mark.parametrize(("case", "role"), CASES, ids=[c for c, _ in CASES])
def test_golden(case, role):
    files, _ = cli.render_files(str(GOLDEN / f"{case}.yaml"), role, check_files=False)
    expected_dir = GOLDEN / case
    if os.environ.get("OVNMETA_UPDATE_GOLDEN"):
        expected_dir.mkdir(exist_ok=True)
        for old in expected_dir.iterdir():
            old.unlink()
        for f in files:
            (expected_dir / f.name).write_text(f.text)
    expected = {p.name: p.read_text() for p in expected_dir.iterdir()}
    assert {f.name: f.text for f in files} == expected


def load_agent_ini(path):
    conf = config.new_conf()
    conf(
        args=["--config-file", str(path)],
        project="neutron",
        default_config_files=[],
        default_config_dirs=[],
        use_env=False,
    )
    return config.from_conf(conf)


def test_golden_agent_ini_loads_in_the_agent_with_the_same_values():
    s = load_agent_ini(GOLDEN / "compute-tls" / render.AGENT_INI)
    assert s.proxy.metadata_proxy_shared_secret == "7d1e0b0c4f5a9e2b$x"  # `$$` unescaped
    assert s.sb.connection_string == (
        "ssl:192.0.2.11:6642,ssl:192.0.2.12:6642,ssl:[2001:db8::13]:6642"
    )
    assert s.proxy.nova_base_url == "https://metadata.internal.example.org:8775"
    assert s.edge.rate_limit.ip_versions == frozenset({4, 6})
    assert str(s.ovs.ovsdb_connection) == "tcp:127.0.0.1:6640"
    assert s.agent.debug is True


def test_golden_metadata_api_ini_has_the_api_options():
    conf = cfg.ConfigOpts()
    opts = [cfg.StrOpt(o) for o in render.METADATA_API_OPTIONS.values()]
    conf.register_opts(opts, group=render.METADATA_API_SECTION)
    conf(
        args=["--config-file", str(GOLDEN / "controller" / render.METADATA_API_INI)],
        project="ovnmeta",
        default_config_files=[],
        use_env=False,
    )
    api = conf[render.METADATA_API_SECTION]
    assert api.metadata_listen == "192.0.2.11"
    assert api.metadata_listen_port == "8775"
    assert api.metadata_proxy_shared_secret == "7d1e0b0c4f5a9e2b"


def test_unset_options_are_left_out():
    d = params.parse(
        {
            "shared_secret": "7d1e0b0c4f5a9e2b",
            "agent": {"ovn_sb_connection": "tcp:192.0.2.11:6642", "metadata_host": "192.0.2.10"},
        },
        "compute",
    )
    (f,) = render.render(d, "compute")
    assert "nova_metadata_port" not in f.text and "metadata_rate_limiting" not in f.text
    assert f.mode == 0o640


def test_rendered_file_repr_hides_the_text():
    f = render.RenderedFile("x.ini", "metadata_proxy_shared_secret = abc", 0o640)
    assert "abc" not in repr(f)


def test_every_agent_option_rendered_is_one_the_agent_registers():
    """oslo.config ignores unknown options: a misspelt name would load and do nothing."""
    d = params.parse(cli.read_params(str(GOLDEN / "compute-tls.yaml")), "compute")
    conf = config.new_conf()
    for section, options in render.agent_sections(d.agent):
        for name, _ in options:
            conf._get_opt_info(name, None if section == "DEFAULT" else section)  # or raises


def test_token_and_identity_options_rendered_and_loaded_back():
    data = {
        "shared_secret": "7d1e0b0c4f5a9e2b",
        "agent": {
            "ovn_sb_connection": "tcp:192.0.2.11:6642",
            "metadata_host": "192.0.2.10",
            "imds_tokens": "required",
            "imds_tokens_required_projects": ["p1", "p2"],
            "imds_token_state": True,
            "imds_hop_limit": 2,
        },
        "metadata_api": {
            "listen": "192.0.2.11",
            "identity_key": "/etc/ovnmeta/identity.key",
            "identity_cert": "/etc/ovnmeta/identity.crt",
            "region": "north",
        },
    }
    d = params.parse(data, "compute")
    (f,) = render.render(d, "compute")
    assert "[ovnmeta]\nimds_tokens = required\nimds_tokens_required_projects = p1,p2\n" in f.text
    assert "imds_token_state = true\nimds_hop_limit = 2" in f.text
    c = params.parse(data, "controller")
    api_text = render.ini("", render.metadata_api_sections(c.metadata_api))
    assert "identity_key = /etc/ovnmeta/identity.key" in api_text and "region = north" in api_text
    assert ("metadata_api.identity_key", "/etc/ovnmeta/identity.key") in params.files_to_check(c)
