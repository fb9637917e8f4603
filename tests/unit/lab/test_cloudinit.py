"""cloud-init 22.4.2's own readers against the real metadata API on loopback."""

import hashlib
import json
import subprocess

import pytest

from ovnmeta.core.errors import DependencyError
from ovnmeta.lab import cloudinit
from ovnmeta.metadata_api import settings, store
from tests.unit.metadata_api.conftest import PROJECT, PUBKEY, SECRET, UUID, build_record
from tests.unit.metadata_api.httpserver import ServerThread, signing_relay

needs_cloud_init = pytest.mark.skipif(
    not cloudinit.is_available(),
    reason=f"cloud-init not unpacked in {cloudinit.cache_dir()} (run scripts/setup)",
)
USER_DATA = b"#cloud-config\nruncmd: [echo hi]\n\xff\xfe binary tail"


def test_reader_command_plain_and_in_a_namespace(tmp_path):
    argv = cloudinit.reader_command("http://169.254.169.254", root=tmp_path, retries=2)
    assert argv[:3] == ["/usr/bin/python3", "-I", str(cloudinit.READER_SCRIPT)]
    assert argv[3] == "http://169.254.169.254"
    assert argv[argv.index("--cloud-init-path") + 1] == str(
        tmp_path / "usr/lib/python3/dist-packages"
    )
    assert argv[argv.index("--retries") + 1] == "2"
    in_ns = cloudinit.reader_command("http://169.254.169.254", netns="vm1", root=tmp_path)
    assert in_ns[:4] == ["ip", "netns", "exec", "vm1"]
    assert in_ns[4:] == cloudinit.reader_command("http://169.254.169.254", root=tmp_path)


def test_missing_cloud_init_is_a_dependency_error(tmp_path):
    with pytest.raises(DependencyError, match="not unpacked"):
        cloudinit.read("http://127.0.0.1:9", root=tmp_path / "none")


def test_reader_script_needs_no_ovnmeta_imports():
    source = cloudinit.READER_SCRIPT.read_text()
    assert "import ovnmeta" not in source and "from ovnmeta" not in source


@pytest.fixture
def served(tmp_path):
    record = build_record(
        user_data=USER_DATA,
        vendor_data='{"cloud-init": "#cloud-config\\n"}',
        metadata=(("dsmode", "net"), ("role", "web")),
    )  # the default vif: fa:16:3e:11:22:33, 10.0.0.11/24 via 10.0.0.1, mtu 1442
    config = settings.ApiSettings(metadata_listen_port=0, metadata_proxy_shared_secret=SECRET)
    with store.InstanceStore(tmp_path / "i.sqlite3") as instances:
        instances.add(record)
        with ServerThread(config, instances) as server:
            yield server


@needs_cloud_init
def test_cloud_init_reads_both_trees_through_a_signing_relay(served):
    with signing_relay(served.port, UUID, PROJECT, SECRET) as relay:
        doc = cloudinit.read(relay.url, timeout_s=5, retries=0, deadline_s=60)
    assert doc["cloud_init_version"].startswith("22.4")
    assert doc["uuid"] == doc["instance_id"] == UUID
    assert doc["hostname"] == "vm1.novalocal"
    assert doc["public_keys"] == {"lab-key": PUBKEY}
    assert doc["user_data_sha256"] == hashlib.sha256(USER_DATA).hexdigest()
    assert doc["random_seed_bytes"] == 512
    assert doc["dsmode"] == "net"
    assert doc["vendor_data"] == {"cloud-init": "#cloud-config\n"}
    assert doc["vendor_data2"] == {"static": {"cloud-init": "#cloud-config\n"}}
    assert doc["network_data"]["links"][0]["ethernet_mac_address"] == "fa:16:3e:11:22:33"
    assert doc["network_data"]["networks"][0]["ip_address"] == "10.0.0.11"
    assert "public-keys" in doc["ec2_from_reader"]
    ec2 = doc["ec2"]
    assert ec2["instance_id"] == "i-b65cee2f"
    assert ec2["hostname"] == "vm1.novalocal"
    assert ec2["local_ipv4"] == "10.0.0.11"
    assert ec2["public_keys"] == {"lab-key": PUBKEY}
    assert ec2["user_data_sha256"] == hashlib.sha256(USER_DATA).hexdigest()


@needs_cloud_init
def test_cloud_init_rejects_a_service_that_refuses_it(served):
    # Without the agent's headers every document is a 400: meta_data.json is mandatory.
    with pytest.raises(cloudinit.ReaderError, match="NonReadable"):
        cloudinit.read(served.url, timeout_s=5, retries=0, deadline_s=60)


@needs_cloud_init
def test_reader_script_runs_standalone(served):
    with signing_relay(served.port, UUID, PROJECT, SECRET) as relay:
        argv = cloudinit.reader_command(relay.url)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["uuid"] == UUID


@needs_cloud_init
def test_full_openstack_datasource_accepts_the_service(served):
    with signing_relay(served.port, UUID, PROJECT, SECRET) as relay:
        doc = cloudinit.read(relay.url, datasource=True, deadline_s=60)
    ds = doc["datasource"]
    assert ds["found"] is True
    assert ds["instance_id"] == UUID
    assert ds["local_hostname"] == "vm1"
    assert ds["public_keys"] == [PUBKEY]
    assert ds["dsmode"] == "net"
    assert ds["user_data_sha256"] == hashlib.sha256(USER_DATA).hexdigest()
    assert ds["vendor_data_raw"] == "#cloud-config\n"
    # cloud-init maps network_data.json links to local NICs by MAC; this host has none.
    if "network_config" in ds:
        assert ds["network_config"]["config"][0]["mac_address"] == "fa:16:3e:11:22:33"
    else:
        assert "fa:16:3e:11:22:33" in ds["network_config_error"]


@needs_cloud_init
def test_full_datasource_not_found_without_the_agent_headers(served):
    with pytest.raises(cloudinit.ReaderError, match="NonReadable"):
        cloudinit.read(served.url, datasource=True, deadline_s=60)
