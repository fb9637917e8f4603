import email.message
import http.client
import http.server
import re
import socket
import socketserver
import subprocess
import threading
import time

import pytest

from ovnmeta.agent import config
from ovnmeta.agent.dataplane import haproxy_conf
from ovnmeta.agent.dataplane.haproxy_conf import Frontend, limits, render
from ovnmeta.agent.proxy import probe
from ovnmeta.agent.settings import BOOT_BURST, BOOT_CONCURRENCY

NET = "f3dc8112-273e-4653-af3c-6069330ad350"
NET2 = "0b1c2d3e-4f50-4617-8899-aabbccddeeff"
FDS = 1 << 20  # a hard open-files limit that never binds


def settings(tmp_path, ovnmeta=None, **rate):
    conf = config.new_conf()
    conf(args=[], default_config_files=[], default_config_dirs=[])
    conf.set_override("state_path", str(tmp_path))
    for k, v in rate.items():
        conf.set_override(k, v, group="metadata_rate_limiting")
    for k, v in (ovnmeta or {}).items():
        conf.set_override(k, v, group="ovnmeta")
    return config.from_conf(conf).edge


def networks(n: int) -> list[Frontend]:
    return [
        Frontend(f"{i:08x}-0000-4000-8000-000000000000", f"ns{i}", f"i{i}", i % 2 == 0)
        for i in range(n)
    ]


def block(text: str, net: str) -> str:
    return section(text, f"frontend net_{net} from guests")


def section(text: str, head: str) -> str:
    start = text.index(f"{head}\n")
    return text[start : text.index("\n\n", start)]


def guest_rules(text: str) -> str:
    """The HTTP rules every network's frontend inherits (and runs before its own)."""
    return section(text, "defaults guests from edge")


def test_one_frontend_per_network_sharing_one_backend(tmp_path):
    text = render(
        [
            Frontend(NET2, f"ovnmeta-{NET2}", "tap0b1c2d3e-41", True),
            Frontend(NET, f"ovnmeta-{NET}", "tapf3dc8112-21", False),
        ],
        settings(tmp_path),
        FDS,
    )
    assert text.count("frontend net_") == 2
    assert text.count("\nbackend agent from edge\n") == 1
    assert f"server agent unix@{tmp_path}/metadata_proxy.ovnmeta\n" in text  # proxy.holder
    assert f"bind 169.254.169.254:80 namespace ovnmeta-{NET}\n" in text
    assert f"bind ipv6@fe80::a9fe:a9fe:80 namespace ovnmeta-{NET2} interface tap0b1c2d3e-41" in text
    assert text.count("bind ipv6@") == 1
    # delete before set, for both spoofable headers: the guest rules (a defaults section)
    # run before the frontend's own, which set the network id
    fe, rules = block(text, NET), guest_rules(text)
    assert "http-request del-header X-OVN-Network-ID\n" in rules
    assert "X-OVN-Network-ID" not in rules.replace("del-header X-OVN-Network-ID", "")
    assert rules.index("del-header X-Forwarded-For") < rules.index("set-header X-Forwarded-For")
    assert f"set-header X-OVN-Network-ID {NET}\n" in fe
    assert f"del-header {probe.HEADER}\n" in rules  # only local processes may probe
    assert "timeout server 32s" in text
    assert "http_req_rate" not in text  # rate limiting is off by default, as upstream


def test_each_network_and_each_source_has_its_own_connection_limit(tmp_path):
    s = settings(
        tmp_path,
        {"edge_network_maxconn": 100, "edge_source_maxconn": 7, "edge_source_conn_rate": 90},
    )
    text = render([Frontend(NET, "ns1", "i1", True), Frontend(NET2, "ns2", "i2", False)], s, FDS)
    for net in (NET, NET2):
        fe = block(text, net)
        assert "    maxconn 100\n" in fe
        assert "    stick-table type ipv6 size 10k expire 30s store conn_cur,conn_rate(10s)\n" in fe
        assert "    tcp-request connection track-sc0 src\n" in fe
        # only the (unconditional) rule that makes haproxy 2.6 run the shared session rules
        assert [ln for ln in fe.splitlines() if "tcp-request session" in ln] == [
            "    tcp-request session accept"
        ]
    assert "    maxconn 1024\n" in text.split("defaults")[0]  # 2 x 100 + 32 < the floor
    # the table and its tracking are each network's own; the per-source checks, the same
    # for every network, are written once and read the counter the frontend tracked (sc0)
    rules = guest_rules(text)
    assert "stick-table" not in rules and "tcp-request connection" not in rules
    assert "    tcp-request session reject if { sc_conn_cur(0) gt 7 }\n" in rules
    assert "    tcp-request session silent-drop if { sc_conn_rate(0) gt 90 }\n" in rules
    health = text[text.index("frontend ovnmeta_health from edge") :]
    assert f"    maxconn {haproxy_conf.HEALTH_MAXCONN}\n" in health.split("\n\n")[0]


def test_incomplete_request_heads_are_closed_within_seconds(tmp_path):
    assert "timeout http-request 5s\n" in render([], settings(tmp_path), FDS)


@pytest.mark.parametrize(
    ("n", "network_maxconn", "floor", "fd_limit", "expected"),
    [
        pytest.param(0, 256, 1024, FDS, (1024, 256, False), id="no-network-floor"),
        pytest.param(3, 256, 1024, FDS, (1024, 256, False), id="few-networks-floor"),
        pytest.param(10, 256, 1024, FDS, (10 * 256 + 32, 256, False), id="sized-from-networks"),
        pytest.param(200, 256, 1024, FDS, (200 * 256 + 32, 256, False), id="200-networks"),
        pytest.param(200, 256, 1024, 20000, (200 * 48 + 32, 48, True), id="fd-limit-shares"),
        pytest.param(10, 256, 1024, 2 * 2592 + 80, (2592, 256, False), id="exactly-fits"),
    ],
)
def test_global_maxconn_is_never_reached_before_a_network_limit(
    tmp_path, n, network_maxconn, floor, fd_limit, expected
):
    s = settings(tmp_path, {"edge_network_maxconn": network_maxconn, "edge_maxconn": floor})
    lim = limits(networks(n), s, fd_limit)
    assert (lim.maxconn, lim.network_maxconn, lim.clamped) == expected
    # Every frontend full, the health one too: still below the global limit.
    assert n * lim.network_maxconn + haproxy_conf.HEALTH_MAXCONN < lim.maxconn
    assert lim.fds <= fd_limit


def test_default_limits_leave_a_boot_room(tmp_path):
    s = settings(tmp_path)
    assert s.source_maxconn >= 4 * BOOT_CONCURRENCY
    assert s.network_maxconn >= 4 * s.source_maxconn
    lim = limits(networks(200), s, 20000)  # this machine's hard limit, 200 networks
    assert lim.network_maxconn >= s.source_maxconn


def test_a_single_threaded_edge_keeps_its_connections_to_the_agent(tmp_path):
    """One thread (the default): guest requests share kept-alive agent connections (each
    guest request is on a new connection, so only `always` reuses). More threads: closed."""
    one = render(networks(1), settings(tmp_path), FDS)
    assert "nbthread 1\n" in one
    assert "http-server-close" not in one
    assert "backend agent from edge\n    http-reuse always\n    server agent unix@" in one
    assert "retry-on conn-failure empty-response" in one  # a connection closed under a request
    two = render(networks(1), settings(tmp_path, {"edge_nbthread": 2}), FDS)
    assert "    option http-server-close\n" in two
    assert "http-reuse" not in two


def test_render_is_deterministic(tmp_path):
    fes = [Frontend(NET, "ns1", "i1", False), Frontend(NET2, "ns2", "i2", True)]
    assert render(fes, settings(tmp_path), FDS) == render(reversed(fes), settings(tmp_path), FDS)


def test_rate_limit_both_families_by_default_with_retry_after(tmp_path):
    s = settings(
        tmp_path,
        rate_limit_enabled=True,
        base_query_rate_limit=30,
        burst_window_duration=2,
        burst_query_rate_limit=15,
    )
    fe = render([Frontend(NET, "ns1", "i1", True)], s, FDS)
    assert f"http-request track-sc1 src table rl_base_{NET}\n" in fe
    assert f"http-request track-sc2 src table rl_burst_{NET}\n" in fe
    assert "deny_status 429 hdr Retry-After 60 if { sc_http_req_rate(1) gt 30 }" in fe
    assert "deny_status 429 hdr Retry-After 2 if { sc_http_req_rate(2) gt 15 }" in fe
    assert f"backend rl_base_{NET} from edge\n    stick-table type ipv6 size 10k expire 60s " in fe
    assert "store http_req_rate(60s)" in fe and "store http_req_rate(2s)" in fe


@pytest.mark.parametrize(
    ("versions", "condition"),
    [(["4"], " if !{ src fe80::/10 }"), (["6"], " if { src fe80::/10 }"), (["4", "6"], "")],
    ids=["ipv4-only-as-upstream", "ipv6-only-as-upstream", "both"],
)
def test_rate_limit_ip_versions(tmp_path, versions, condition):
    s = settings(tmp_path, rate_limit_enabled=True, ip_versions=versions)
    text = render([Frontend(NET, "ns1", "i1", True)], s, FDS)
    assert f"track-sc1 src table rl_base_{NET}{condition}\n" in text
    assert f"track-sc2 src table rl_burst_{NET}{condition}\n" in text


def test_default_rate_limits_let_boots_through(tmp_path):
    rl = settings(tmp_path, rate_limit_enabled=True).rate_limit
    assert rl.ip_versions == frozenset({4, 6})
    # several boots from one address fit in each window
    assert rl.burst_query_rate_limit >= 10 * BOOT_BURST
    assert rl.base_query_rate_limit >= 20 * BOOT_BURST


VARIANTS = {
    "defaults": ({}, {}),
    "rate-limit-both": ({}, {"rate_limit_enabled": True}),
    "rate-limit-v4": ({}, {"rate_limit_enabled": True, "ip_versions": ["4"]}),
    "rate-limit-v6": ({}, {"rate_limit_enabled": True, "ip_versions": ["6"]}),
    "small-limits": ({"edge_network_maxconn": 1, "edge_source_maxconn": 1}, {}),
    "two-threads": ({"edge_nbthread": 2}, {}),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_haproxy_accepts_rendered_config(tmp_path, variant):
    ovnmeta, rate = VARIANTS[variant]
    s = settings(tmp_path, ovnmeta, **rate)
    # haproxy opens namespaces while parsing, and none exists here: check the rest.
    text = render(networks(3), s, FDS)
    text = re.sub(r" namespace ns\d+", "", text)
    path = tmp_path / "edge.cfg"
    path.write_text(text)
    proc = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_start_does_not_load_the_system_cas(tmp_path):
    """haproxy's own HTTP client (unused by the edge) verifies with every system CA unless
    told not to: loading them was most of a young reload's CPU (docs/agent.md)."""
    text = re.sub(r" namespace ns\d+", "", render(networks(1), settings(tmp_path), FDS))
    assert "    httpclient.ssl.verify none\n" in section(text, "global")
    path = tmp_path / "edge.cfg"
    path.write_text(text)
    argv = ["strace", "-f", "-e", "trace=openat", "haproxy", "-c", "-f", str(path)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not re.findall(r'openat\(.*"[^"]*/certs/[^"]*"', proc.stderr)


def _health_answers(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(path)
            return True
    except OSError:
        return False


@pytest.mark.parametrize(
    ("n", "fd_limit"), [(3, None), (20, 4000)], ids=["sized-from-networks", "fd-limit-shares"]
)
def test_haproxy_starts_with_the_descriptors_it_was_sized_for(tmp_path, n, fd_limit):
    """`haproxy -c` does not check descriptors; a start under exactly `fds` does."""
    s = settings(tmp_path, {"edge_maxconn": 256})  # below 3 x 256: sized from networks
    fes = networks(n)
    lim = limits(fes, s, fd_limit or FDS)
    assert lim.clamped == (fd_limit is not None)
    text = render(fes, s, lim.fds)
    # Listeners on UNIX sockets instead of 169.254.169.254 in namespaces (no root here).
    count = iter(range(1000))
    text = re.sub(
        r"    bind .* namespace ns\d+.*",
        lambda _: f"    bind unix@{tmp_path}/l{next(count)}.sock",
        text,
    )
    (tmp_path / "ovnmeta" / "edge").mkdir(parents=True)
    path = tmp_path / "edge.cfg"
    path.write_text(text)
    argv = ["prlimit", f"--nofile={lim.fds}:{lim.fds}", "haproxy", "-db", "-f", str(path)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        try:
            health = str(tmp_path / "ovnmeta" / "edge" / "health.sock")
            deadline = time.monotonic() + 10
            while proc.poll() is None and not _health_answers(health):
                assert time.monotonic() < deadline, "haproxy did not come up"
                time.sleep(0.02)
            assert proc.poll() is None, proc.stdout.read().decode()
        finally:
            proc.terminate()
            proc.wait(5)


def test_guest_forwarded_for_is_flagged_before_it_is_replaced(tmp_path):
    fe = guest_rules(render([Frontend(NET, "ns1", "i1", False)], settings(tmp_path), FDS))
    flag = "X-OVN-Guest-Forwarded"
    # a guest cannot set the flag itself, and it is computed from the guest's own copy
    assert fe.index(f"del-header {flag}") < fe.index(f"set-header {flag} 1")
    assert fe.index(f"set-header {flag} 1") < fe.index("del-header X-Forwarded-For")
    assert "if { req.hdr_cnt(X-Forwarded-For) gt 0 }" in fe


def test_token_answers_are_marked_for_the_hop_limit(tmp_path):
    fe = guest_rules(render([Frontend(NET, "ns1", "i1", False)], settings(tmp_path), FDS))
    assert "set-var(txn.imds_put) bool(true) if { method PUT } " in fe
    assert "{ path /latest/api/token /latest/api/token/ }" in fe
    assert "http-response set-mark 0xa9fea9f if { var(txn.imds_put) -m bool } { status 200 }" in fe


def test_a_shard_has_sockets_of_its_own(tmp_path):
    s = settings(tmp_path)
    main, young = render(networks(1), s, FDS), render(networks(1), s, FDS, "young-")
    assert f"stats socket {s.state_dir}/stats.sock " in main
    assert f"bind unix@{s.state_dir}/health.sock " in main
    assert f"stats socket {s.state_dir}/young-stats.sock " in young
    assert f"bind unix@{s.state_dir}/young-health.sock " in young
    assert block(main, networks(1)[0].network) == block(young, networks(1)[0].network)


def test_the_guest_rules_are_written_once_whatever_the_number_of_networks(tmp_path):
    """A rule in a frontend costs haproxy memory per frontend; in the named defaults section
    the frontends inherit from, once (docs/agent.md, "1,000 networks: memory")."""
    text = render(networks(50), settings(tmp_path), FDS)
    assert text.count("frontend net_") == text.count(" from guests\n") == 50
    assert text.count("http-request del-header X-Forwarded-For\n") == 1
    assert text.count("http-request set-header X-OVN-Network-ID ") == 50
    assert text.count("tcp-request connection track-sc0 src\n") == 50
    assert text.count("tcp-request session reject if ") == 1


class _Headers(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    seen: list[email.message.Message]


class _Record(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.seen.append(self.headers)  # names compared case-insensitively
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_haproxy_replaces_what_the_guest_sent_before_the_frontend_sets_its_network(tmp_path):
    """The rules inherited from the guests' defaults section run before the frontend's own:
    a guest's network id, forwarded-for, router id and health header never reach the agent,
    and the network id is its frontend's (real haproxy, the agent's socket recorded)."""
    s = settings(tmp_path)
    port = _free_port()
    text = render([Frontend(NET, "ns1", "i1", False)], s, FDS)
    text = re.sub(r"    bind .* namespace ns1", f"    bind 127.0.0.1:{port}", text)
    (tmp_path / "ovnmeta" / "edge").mkdir(parents=True)
    (tmp_path / "edge.cfg").write_text(text)
    server = _Headers(s.backend_socket, _Record)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    argv = ["haproxy", "-db", "-f", str(tmp_path / "edge.cfg")]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        try:
            spoofed = {
                "X-OVN-Network-ID": NET2,
                "X-Forwarded-For": "10.9.9.9",
                "X-Neutron-Router-ID": "r",
                probe.HEADER: "1",
            }
            assert _get(port, spoofed) == 200, proc.poll()
        finally:
            proc.terminate()
            proc.wait(5)
            server.shutdown()
            server.server_close()
    (got,) = server.seen
    assert got["X-OVN-Network-ID"] == NET
    assert got["X-Forwarded-For"] == "127.0.0.1"
    assert got["X-OVN-Guest-Forwarded"] == "1"
    assert "X-Neutron-Router-ID" not in got and probe.HEADER not in got


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, headers: dict[str, str]) -> int:
    deadline = time.monotonic() + 10
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/", headers=headers)
            status = conn.getresponse().status
            conn.close()
            return status
        except OSError:
            assert time.monotonic() < deadline, "haproxy did not come up"
            time.sleep(0.05)
