"""A hostile guest's requests, byte by byte (issue 8): forged headers, smuggling and framing
tricks, oversized inputs, absolute-form targets and log flooding, sent raw from the
attacker's namespace.

Topology: one compute; `evil` (10.0.0.10) and `peer` (10.0.0.11) on net-a, `victim`
(10.0.0.10, same CIDR) on net-b of another project. Whatever the request, no answer may
carry the peer's or the victim's uuid or user data, and every 200 is the attacker's own.
"""

import json
import re
import subprocess

import pytest

from ovnmeta.lab import hostile
from ovnmeta.lab.lab import Lab

from .labkit import running_lab, wait_metadata

pytestmark = pytest.mark.lab

PROJECT_B = "0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b0b"
META = "/openstack/latest/meta_data.json"
USER_DATA = "/openstack/latest/user_data"
PEER_IP = "10.0.0.11"
# Padding that brings the head close to haproxy's 16 kB buffer (minus its 1 kB rewrite
# reserve), in lines the agent's parser accepts (aiohttp: 8190 bytes a line).
PADDING = tuple(f"X-Pad{i}: " + "a" * 7000 for i in range(2))


def user_data(name: str) -> bytes:
    return f"#cloud-config\n# user data of {name}: secret-{name}-7f3a\n".encode()


@pytest.fixture(scope="module")
def lab():
    with running_lab(1, 1) as lab:
        lab.create_network("net-a", ["10.0.0.0/24"])
        lab.create_network("net-b", ["10.0.0.0/24"], project=PROJECT_B)
        for name, network in (("evil", "net-a"), ("peer", "net-a"), ("victim", "net-b")):
            lab.boot(name, network, 1, user_data=user_data(name))
            wait_metadata(lab, name)
        assert lab.instance("peer").addresses[0] == PEER_IP
        assert lab.instance("victim").addresses[0] == lab.instance("evil").addresses[0]
        yield lab


def send_raw(lab: Lab, cases: dict[str, str], timeout: float = 3) -> dict[str, str]:
    """Each case's bytes on a connection of its own from `evil`; what came back, by name."""
    payload = json.dumps([{"name": k, "data": v} for k, v in cases.items()])
    out = subprocess.run(
        lab.exec_argv("evil", hostile.argv("raw", "169.254.169.254", str(timeout))),
        input=payload,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return {r["name"]: r["response"] for r in json.loads(out)}


def statuses(response: str) -> list[int]:
    """The status of every response on the connection (pipelining gives several)."""
    return [int(m) for m in re.findall(r"HTTP/1\.[01] (\d{3}) ", response)]


def req(
    *headers: str,
    target: str = META,
    method: str = "GET",
    body: str = "",
    eol: str = "\r\n",
    close: bool = True,
    host: str = "169.254.169.254",
) -> str:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", *headers]
    if close:
        lines.append("Connection: close")
    return eol.join(lines) + eol + eol + body


def smuggled(net_b: str) -> str:
    """A complete request hidden in a body: for another network and the peer's address."""
    return req(f"X-OVN-Network-ID: {net_b}", f"X-Forwarded-For: {PEER_IP}", target=USER_DATA)


def chunk(data: str) -> str:
    return f"{len(data):x}\r\n{data}\r\n0\r\n\r\n"


def forged_cases(net_b: str) -> dict[str, str]:
    """Header smuggling: every one must leave the attacker on its own network and address."""
    s = smuggled(net_b)
    return {
        "network-id": req(f"X-OVN-Network-ID: {net_b}"),
        "network-id-lower": req(f"x-ovn-network-id: {net_b}"),
        "network-id-upper": req(f"X-OVN-NETWORK-ID: {net_b}"),
        "network-id-underscore": req(f"X_OVN_Network_ID: {net_b}"),
        "network-id-twice": req(f"X-OVN-Network-ID: {net_b}", f"X-OVN-Network-ID: {net_b}"),
        "network-id-tab": req(f"X-OVN-Network-ID:\t{net_b}"),
        "network-id-space-before-colon": req(f"X-OVN-Network-ID : {net_b}"),
        "network-id-padded": req(*PADDING, f"X-OVN-Network-ID: {net_b}"),
        "network-id-value-padded": req(f"X-OVN-Network-ID: {net_b}{' ' * 8000}"),
        "network-id-fills-buffer": req(
            *PADDING, "X-Pad2: " + "a" * 1300, f"X-OVN-Network-ID: {net_b}"
        ),
        "network-id-nul": req(f"X-OVN-Network-ID: {net_b}\0"),
        "network-id-after-cr": req(f"X-Foo: a\rX-OVN-Network-ID: {net_b}"),
        "network-id-obs-fold": req("X-Foo: a", f" X-OVN-Network-ID: {net_b}"),
        "network-id-folded-value": req("X-OVN-Network-ID: x", f" {net_b}"),
        "network-id-bare-lf": req(f"X-OVN-Network-ID: {net_b}", eol="\n"),
        "router-id": req(f"X-Neutron-Router-ID: {net_b}"),
        "health-probe": req("X-Ovnmeta-Health: backend", f"X-OVN-Network-ID: {net_b}"),
        "forwarded-for": req(f"X-Forwarded-For: {PEER_IP}"),
        "forwarded-for-list": req(f"X-Forwarded-For: {PEER_IP}, 10.0.0.10"),
        "forwarded-for-underscore": req(f"X_Forwarded_For: {PEER_IP}"),
        "forwarded-for-padded": req(*PADDING, f"X-Forwarded-For: {PEER_IP}"),
        "forwarded-rfc7239": req(f"Forwarded: for={PEER_IP}", f"X-Real-IP: {PEER_IP}"),
        "instance-headers": req(
            "X-Instance-ID: {victim}",
            f"X-Tenant-ID: {PROJECT_B}",
            "X-Instance-ID-Signature: " + "0" * 64,
        ),
        "cl-te": req("Content-Length: 4", "Transfer-Encoding: chunked", body="0\r\n\r\n" + s),
        "te-cl": req("Transfer-Encoding: chunked", "Content-Length: 3", body=chunk(s), close=False),
        "te-obfuscated": req("Transfer-Encoding: xchunked", f"Content-Length: {len(s)}", body=s),
        "te-space-before-colon": req("Transfer-Encoding : chunked", body=chunk(s)),
        "te-twice": req("Transfer-Encoding: chunked", "Transfer-Encoding: identity", body=s),
        "te-tab": req("Transfer-Encoding:\tchunked", "Content-Length: 0", body=s),
        "two-content-lengths": req("Content-Length: 0", f"Content-Length: {len(s)}", body=s),
        "content-length-list": req(f"Content-Length: 0, {len(s)}", body=s),
        "pipelined": req(close=False) + s,
        "pipelined-three": req(close=False) + req(close=False, target=USER_DATA) + s,
        "http10": f"GET {META} HTTP/1.0\r\nX-OVN-Network-ID: {net_b}\r\n\r\n",
        "http09": f"GET {META}\r\n\r\n",
    }


# Lines the edge passes (under its 16 kB buffer) but the agent's parser refuses (aiohttp:
# 8190 bytes a line).
PARSER_LIMIT = {
    "header-9k": req("X-Big: " + "a" * 9000),
    "uri-9k": req(target=META + "?q=" + "a" * 9000),
}

# Oversized heads and bodies: refused with a 4xx, whatever the agent could have done.
OVERSIZED = {
    **PARSER_LIMIT,
    "header-20k": req("X-Big: " + "a" * 20_000),
    "header-70k": req("X-Big: " + "a" * 70_000),
    "uri-20k": req(target=META + "?q=" + "a" * 20_000),
    "header-count-200": req(*(f"X-H{i}: v" for i in range(200))),
    "password-post-2m": req(
        "Content-Length: 2000000",
        "Content-Type: text/plain",
        method="POST",
        target="/openstack/latest/password",
        body="p" * 2_000_000,
    ),
    "chunk-size-overflow": req(
        "Transfer-Encoding: chunked",
        method="POST",
        target="/openstack/latest/password",
        body="fffffffffffffffff\r\nxx\r\n0\r\n\r\n",
    ),
}


@pytest.fixture(scope="module")
def forged(lab):
    net_b = lab.state().networks["net-b"].id
    cases = forged_cases(net_b)
    cases["instance-headers"] = cases["instance-headers"].replace(
        "{victim}", lab.instance("victim").id
    )
    return send_raw(lab, cases)


def secrets_of_others(lab: Lab) -> list[str]:
    return [
        s
        for name in ("peer", "victim")
        for s in (lab.instance(name).id, user_data(name).decode().splitlines()[1])
    ]


def assert_only_own(lab: Lab, name: str, response: str) -> None:
    for secret in secrets_of_others(lab):
        assert secret not in response, f"{name}: another instance's data: {response[:400]!r}"
    own_id = lab.instance("evil").id
    own_ud = user_data("evil").decode()
    # Every 200 on the connection is the attacker's own document or user data.
    bodies = re.split(r"HTTP/1\.[01] \d{3} ", response)[1:]
    for body, status in zip(bodies, statuses(response), strict=True):
        if status == 200:
            assert own_id in body or own_ud in body, f"{name}: a 200 not ours: {body[:400]!r}"


FORGED_NAMES = sorted(forged_cases("x"))


@pytest.mark.parametrize("name", FORGED_NAMES)
def test_forged_or_smuggled_request_gets_only_own_data(lab, forged, name):
    response = forged[name]
    assert_only_own(lab, name, response)
    assert all(s == 200 or 400 <= s < 500 for s in statuses(response)), response[:400]


@pytest.mark.parametrize("name", ["network-id", "forwarded-for", "router-id", "pipelined"])
def test_plain_forgeries_are_served_as_the_attacker(lab, forged, name):
    # The edge replaces the headers: the request is answered, as the attacker's own.
    assert statuses(forged[name])[0] == 200
    assert lab.instance("evil").id in forged[name]


@pytest.mark.parametrize("name", sorted(OVERSIZED))
def test_oversized_input_is_refused_with_4xx(lab, name):
    response = send_raw(lab, {name: OVERSIZED[name]}, timeout=5)[name]
    codes = statuses(response)
    assert codes, f"{name}: no answer at all"
    assert 400 <= codes[0] < 500, response[:400]
    assert_only_own(lab, name, response)


# The plain absolute-form and a foreign target are in test_hostile_fairness.py (curl -x);
# these are the spellings a raw client can add.
def test_absolute_form_with_explicit_port_is_served_with_own_uuid(lab):
    response = send_raw(lab, {"port-80": req(target="http://169.254.169.254:80" + META)})["port-80"]
    assert statuses(response) == [200], response[:400]
    assert json.loads(response.partition("\r\n\r\n")[2])["uuid"] == lab.instance("evil").id


def test_absolute_form_for_another_host_is_400_whatever_the_host_header(lab):
    got = send_raw(
        lab,
        {
            "name-target": req(target="http://metadata.example" + META, host="metadata.example"),
            "host-header-disagrees": req(target="http://10.0.0.1" + META),
            "other-port": req(target="http://169.254.169.254:8775" + META),
        },
    )
    for name, response in got.items():
        assert statuses(response) == [400], f"{name}: {response[:400]!r}"
        assert_only_own(lab, name, response)


def test_malformed_requests_do_not_flood_the_agent_log(lab):
    # A guest decides how often these arrive: the agent's log must not grow with them.
    cases = {f"{kind}-{i}": data for kind, data in PARSER_LIMIT.items() for i in range(100)}
    before = len(lab.agent_log(1).splitlines())
    got = send_raw(lab, cases)
    assert all(statuses(r)[:1] == [400] for r in got.values()), "every one refused"
    grown = lab.agent_log(1).splitlines()[before:]
    assert len(grown) <= 30, (
        f"{len(cases)} bad requests wrote {len(grown)} agent log lines: " + "\n".join(grown[:12])
    )
