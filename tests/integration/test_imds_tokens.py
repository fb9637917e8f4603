"""Session tokens and their hop limit end to end (issue 12): guests on a real lab, through
the edge and the agent, to the embedded metadata API."""

import json
import subprocess
import sys

import pytest

from ovnmeta.lab import cloudinit, services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until
from ovnmeta.metadata_api.store import InstanceStore

from .labkit import METADATA, metadata_get, running_lab, wait_metadata

pytestmark = pytest.mark.lab

TOKEN = "X-aws-ec2-metadata-token"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"
NESTED_NET = "192.168.77"
USER_DATA = b"#cloud-config\nhostname: tokens\n"


@pytest.fixture(scope="module")
def lab():
    with running_lab(1, 1) as lab:
        lab.create_network("net-a", ["10.0.0.0/24", "fd00:a::/64"])
        for name in ("g1", "g2", "strict"):
            lab.boot(name, "net-a", 1, user_data=USER_DATA)
        for name in ("g1", "g2", "strict"):
            wait_metadata(lab, name)
        yield lab


def curl(lab: Lab, netns: str, *args: str, timeout_s: int = 10) -> tuple[int, str]:
    """(HTTP status, body) of a curl run in `netns`; status 0: no answer within timeout_s."""
    argv = ["ip", "netns", "exec", netns, "curl", "-s", "-g", "-m", str(timeout_s)]
    out = subprocess.run(
        [*argv, "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=60
    ).stdout
    body, _, code = out.rpartition("\n")
    return int(code or 0), body


def put_token(lab: Lab, netns: str, *headers: str, ttl: str = "21600", timeout_s: int = 10):
    args = ["-X", "PUT", "-H", f"{TTL}: {ttl}"]
    for h in headers:
        args += ["-H", h]
    return curl(lab, netns, *args, f"{METADATA}/latest/api/token", timeout_s=timeout_s)


def reads_own(lab: Lab, name: str, token: str) -> bool:
    status, body = metadata_get(lab, name, "/openstack/latest/meta_data.json", {TOKEN: token})
    return status == 200 and f'"uuid": "{lab.instance(name).id}"' in body


def test_guest_gets_a_token_and_reads_with_it(lab):
    vm = lab.instance("g1")
    status, token = put_token(lab, vm.netns)
    assert status == 200 and len(token) == 60
    assert reads_own(lab, "g1", token)
    assert metadata_get(lab, "g1", "/latest/meta-data/local-ipv4", {TOKEN: token}) == (
        200,
        vm.addresses[0],
    )


def test_token_over_ipv6_link_local(lab):
    """Bound to the guest's link-local address: valid over IPv6, refused over IPv4."""
    vm = lab.instance("g1")
    v6 = "http://[fe80::a9fe:a9fe%eth0]"
    wait_metadata(lab, "g1", url=v6)  # the guest's link-local address comes up after DAD
    status, token = curl(lab, vm.netns, "-X", "PUT", "-H", f"{TTL}: 60", f"{v6}/latest/api/token")
    assert status == 200 and len(token) == 60
    path = "/openstack/latest/meta_data.json"
    status, body = metadata_get(lab, "g1", path, {TOKEN: token}, url=v6)
    assert status == 200 and vm.id in body
    assert metadata_get(lab, "g1", path, {TOKEN: token})[0] == 401
    ns = f"ovnmeta-{lab.state().networks['net-a'].id}"
    routes = lab.run_on_compute(
        1, ["ip", "netns", "exec", ns, "ip", "-6", "route", "show", "table", "2541"]
    )
    assert "hoplimit 1" in routes


def test_another_guests_token_and_garbage_are_401(lab):
    _, theirs = put_token(lab, lab.instance("g2").netns)
    assert metadata_get(lab, "g1", "/latest/meta-data/", {TOKEN: theirs})[0] == 401
    assert metadata_get(lab, "g1", "/latest/meta-data/", {TOKEN: "garbage"})[0] == 401
    assert metadata_get(lab, "g1", "/latest/meta-data/", {TOKEN: "A" * 60})[0] == 401


@pytest.mark.parametrize(
    ("ttl", "headers", "status"),
    [
        ("0", (), 400),
        ("21601", (), 400),
        ("soon", (), 400),
        ("60", ("X-Forwarded-For: 10.9.9.9",), 403),
    ],
    ids=["ttl-zero", "ttl-above", "ttl-text", "relayed-by-a-guest-proxy"],
)
def test_bad_token_puts(lab, ttl, headers, status):
    assert put_token(lab, lab.instance("g1").netns, *headers, ttl=ttl)[0] == status


def test_tokens_survive_an_agent_restart(lab):
    vm = lab.instance("g1")
    _, token = put_token(lab, vm.netns)
    lab.stop_agent(1)
    lab.start_agent(1)
    # the edge holds requests while the agent restarts (docs/agent.md): no retry loop needed
    assert reads_own(lab, "g1", token)


# Real clients, run with the venv's Python inside the guest: both always use a token.
EC2_METADATA = """
import json
from ec2_metadata import ec2_metadata as m
print(json.dumps({"instance_id": m.instance_id, "ip": m.private_ipv4,
                  "user_data": m.user_data.decode()}))
"""
BOTOCORE = """
import json
from botocore.utils import IMDSFetcher

class Reader(IMDSFetcher):  # botocore's own token + GET steps, on our paths
    def read(self, path):
        token = self._fetch_metadata_token()
        return token, self._get_request(path, None, token).text

f = Reader(timeout=5, num_attempts=1)
token, instance_id = f.read("latest/meta-data/instance-id")
print(json.dumps({"token": bool(token), "instance_id": instance_id,
                  "ip": f.read("latest/meta-data/local-ipv4")[1],
                  "user_data": f.read("latest/user-data")[1]}))
"""


def client(lab: Lab, name: str, script: str) -> dict:
    out = subprocess.run(
        lab.exec_argv(name, [sys.executable, "-c", script]),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def ec2_view(lab: Lab, name: str) -> dict:
    vm = lab.instance(name)
    return {
        "instance_id": "i-" + vm.id.replace("-", "")[:8],
        "ip": vm.addresses[0],
        "user_data": USER_DATA.decode(),
    }


@pytest.mark.parametrize("name", ["g1", "strict"], ids=["optional", "required"])
def test_ec2_metadata_package_reads_with_tokens(lab, required_strict, name):
    assert client(lab, name, EC2_METADATA) == ec2_view(lab, name)


@pytest.mark.parametrize("name", ["g1", "strict"], ids=["optional", "required"])
def test_botocore_fetcher_reads_with_tokens(lab, required_strict, name):
    assert client(lab, name, BOTOCORE) == {"token": True, **ec2_view(lab, name)}


def test_cloud_init_reads_in_optional_mode(lab):
    doc = cloudinit.read(METADATA, netns=lab.instance("g1").netns)
    assert doc["uuid"] == lab.instance("g1").id
    assert doc["ec2"]["local_ipv4"] == lab.instance("g1").addresses[0]


def test_cloud_init_is_refused_with_401_in_required_mode(lab, required_strict):
    # cloud-init never sends tokens: the 401 makes its reader give up at once (its verdict,
    # not the reader's deadline, which would say "deadline passed" / "no answer")
    assert metadata_get(lab, "strict", "/openstack/latest/meta_data.json")[0] == 401
    with pytest.raises(cloudinit.ReaderError, match="NonReadable: Missing mandatory path"):
        cloudinit.read(METADATA, netns=lab.instance("strict").netns, deadline_s=30)


@pytest.fixture(scope="module")
def required_strict(lab):
    vm = lab.instance("strict")
    with InstanceStore(services.store_path(lab.dir)) as store:
        store.update(vm.id, imds_tokens="required")
    # the API caches records for metadata_cache_expiration: wait for the change to show
    wait_until(
        "strict instance refused without a token",
        lambda: metadata_get(lab, "strict", "/latest/meta-data/instance-id")[0] == 401,
        timeout=60,
        interval=0.5,
    )
    return vm


def test_required_instance_refuses_tokenless_reads_on_both_trees(lab, required_strict):
    vm = required_strict
    assert metadata_get(lab, "strict", "/openstack/latest/meta_data.json")[0] == 401
    _, token = put_token(lab, vm.netns)
    assert reads_own(lab, "strict", token)
    # other instances stay optional
    assert metadata_get(lab, "g1", "/latest/meta-data/instance-id")[0] == 200


@pytest.fixture
def nested(lab):
    """A namespace behind g1, which routes and masquerades for it (a container behind the
    guest's NAT): its packets reach the metadata service with g1's address."""
    guest = lab.instance("g1").netns
    ns = f"{lab.prefix}-nest1"
    script = [
        f"ip netns add {ns}",
        f"ip link add nest0 netns {guest} type veth peer name eth0 netns {ns}",
        f"ip -n {guest} addr add {NESTED_NET}.1/24 dev nest0",
        f"ip -n {guest} link set nest0 up",
        f"ip -n {ns} addr add {NESTED_NET}.2/24 dev eth0",
        f"ip -n {ns} link set eth0 up",
        f"ip -n {ns} link set lo up",
        f"ip -n {ns} route add default via {NESTED_NET}.1",
        f"ip netns exec {guest} sysctl -qw net.ipv4.ip_forward=1",
        f"ip netns exec {guest} nft -f - <<'EOF'\n"
        "table ip lab_nat {\n"
        "  chain post { type nat hook postrouting priority 100; oifname eth0 masquerade; }\n"
        "}\nEOF",
        f"ip netns exec {ns} ethtool -K eth0 tx off tso off >/dev/null",
        f"ip netns exec {guest} ethtool -K nest0 tx off tso off >/dev/null",
    ]
    try:
        subprocess.run(["sh", "-ec", "\n".join(script)], check=True, timeout=30)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        subprocess.run(
            ["ip", "netns", "exec", guest, "nft", "delete", "table", "ip", "lab_nat"], check=False
        )
        subprocess.run(["ip", "-n", guest, "link", "del", "nest0"], check=False)


def test_hop_limit_keeps_tokens_from_clients_behind_the_guest(lab, nested):
    guest = lab.instance("g1")
    # Control: the nested client reaches the service through the guest's NAT ...
    status, body = curl(lab, nested, f"{METADATA}/openstack/latest/meta_data.json")
    assert status == 200 and guest.id in body
    # ... but the token's answer leaves with TTL 1 and dies at the guest's forwarding step.
    assert put_token(lab, nested, timeout_s=5) == (0, "")
    # The guest itself still gets one, and the nested client's reads stay unaffected.
    status, token = put_token(lab, guest.netns)
    assert status == 200 and len(token) == 60
    assert curl(lab, nested, f"{METADATA}/latest/meta-data/instance-id")[0] == 200


def test_hop_limit_is_set_up_in_the_metadata_namespace(lab):
    ns = f"ovnmeta-{lab.state().networks['net-a'].id}"
    rules = lab.run_on_compute(1, ["ip", "netns", "exec", ns, "ip", "rule"])
    assert "fwmark 0xa9fea9f lookup 2541" in rules
    routes = lab.run_on_compute(
        1, ["ip", "netns", "exec", ns, "ip", "route", "show", "table", "2541"]
    )
    assert "hoplimit 1" in routes


def test_a_larger_hop_limit_lets_the_nested_client_have_a_token(lab, nested):
    """The negative control of the test above: the TTL, nothing else, kept the token away."""
    fragment = services.config_dir(lab.dir, "cmp1") / "97-test-hop-limit.conf"
    ns = f"ovnmeta-{lab.state().networks['net-a'].id}"

    def table() -> str:
        return lab.run_on_compute(
            1, ["ip", "netns", "exec", ns, "ip", "route", "show", "table", "2541"]
        )

    fragment.write_text("[ovnmeta]\nimds_hop_limit = 2\n")
    try:
        lab.stop_agent(1)
        lab.start_agent(1)
        wait_until("hop limit 2 in the namespace", lambda: "hoplimit 2" in table(), timeout=60)
        status, token = put_token(lab, nested)
        assert status == 200 and len(token) == 60
    finally:
        fragment.unlink()
        lab.stop_agent(1)
        lab.start_agent(1)
        wait_until("hop limit 1 again", lambda: "hoplimit 1" in table(), timeout=60)
    assert put_token(lab, nested, timeout_s=5) == (0, "")


def test_chassis_required_mode_in_the_agent(lab):
    """`[ovnmeta] imds_tokens = required`: the agent refuses token-less requests itself (the
    Nova-backend configuration), for every instance of the chassis."""
    fragment = services.config_dir(lab.dir, "cmp1") / "97-test-required.conf"
    fragment.write_text("[ovnmeta]\nimds_tokens = required\n")
    try:
        lab.stop_agent(1)
        lab.start_agent(1)
        assert metadata_get(lab, "g2", "/latest/meta-data/instance-id")[0] == 401
        assert metadata_get(lab, "g2", "/openstack/latest/meta_data.json")[0] == 401
        _, token = put_token(lab, lab.instance("g2").netns)
        assert reads_own(lab, "g2", token)
        assert client(lab, "g2", EC2_METADATA) == ec2_view(lab, "g2")
    finally:
        fragment.unlink()
        lab.stop_agent(1)
        lab.start_agent(1)
    assert metadata_get(lab, "g2", "/latest/meta-data/instance-id")[0] == 200


IDENTITY = """
import json
from ec2_metadata import ec2_metadata as m
print(json.dumps({"account": m.account_id, "region": m.region,
                  "document": m.instance_identity_document}))
"""


def test_signed_identity_document_read_by_ec2_metadata_and_verified(lab, tmp_path):
    vm = lab.instance("g1")
    doc = client(lab, "g1", IDENTITY)
    assert (doc["account"], doc["region"]) == (vm.project, "RegionOne")
    assert doc["document"]["instanceId"] == "i-" + vm.id.replace("-", "")[:8]
    assert doc["document"]["privateIp"] == vm.addresses[0]
    _, token = put_token(lab, vm.netns)
    base = "/latest/dynamic/instance-identity/"
    status, raw = metadata_get(lab, "g1", base + "document", {TOKEN: token})
    _, p7 = metadata_get(lab, "g1", base + "pkcs7", {TOKEN: token})
    assert status == 200 and json.loads(raw) == doc["document"]
    (tmp_path / "doc").write_text(raw)
    (tmp_path / "p7.pem").write_text(f"-----BEGIN PKCS7-----\n{p7}\n-----END PKCS7-----\n")
    verify = ["openssl", "cms", "-verify", "-inform", "PEM", "-in", str(tmp_path / "p7.pem"),
              "-content", str(tmp_path / "doc"), "-binary", "-purpose", "any",
              "-CAfile", str(services.identity_pair(lab.dir)[1])]  # fmt: skip
    assert subprocess.run(verify, capture_output=True).returncode == 0
    (tmp_path / "doc").write_text(raw.replace(vm.project, "another-project"))
    assert subprocess.run(verify, capture_output=True).returncode != 0
