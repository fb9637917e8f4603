"""A prototype, not shipped: the edge forwarding a known guest's plain GET straight to the
metadata API, the agent out of the per-request path (issue 10; docs/agent.md "The edge
straight to Nova").

On a 1+1 lab whose agent serves guest `vm` on network n0 as usual (edge on port 80), a second,
hand-written haproxy (this file's `proto_config`, not the agent's renderer) listens in the same
`ovnmeta-<net>` namespace on port 8081. Its frontend looks the guest's source address up in a
map (one per network) filled through the runtime API (`add map` on its stats socket, no
reload) with `instance id|project id|X-Instance-ID-Signature|token-state signature`. A GET or
HEAD from a known address, without a body, a token, a guest X-Forwarded-For, and not on the
token path, goes to the metadata API with the contract's headers; anything else to the
agent's socket, exactly as the edge does today.

Rounds alternate today's path and the prototype on the same guest; each measures sequential
p50/p99 (a new connection each), CPU per request of all the agent's processes (edge shards,
agent, holder) plus the prototype's haproxy, the metadata API's CPU per request, and 8/32
concurrent clients; once per round, the floors: a static server in the namespace and the API
called directly from the compute (8/32 clients: the ceiling of any path).

Usage: python bench/edge_direct_bench.py [--rounds R] [--requests N]   (root; a lab of its own)
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from agent_bench import (
    META,
    PY,
    THROUGHPUT,
    agent_status,
    api_pid,
    guest_served,
    samples,
    static_baseline,
)
from benchkit import Table, agent_processes, cpu_seconds, in_ns, lab_prefix
from request_path_bench import API, pct

from ovnmeta.core import procfs
from ovnmeta.core.errors import LabError
from ovnmeta.core.model import HOP_LIMIT_MARK, TOKEN_PATH
from ovnmeta.core.signing import TOKEN_ABSENT, sign_token_state
from ovnmeta.lab import compute, services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

PROTO_PORT = 8081
# forward.RELAYED: any other status from the API becomes 500, as the agent answers.
UNLESS_ALLOWED = "unless { status 200 400 401 403 404 409 500 502 503 504 }"


def proto_config(d: Path, ns: str, net: str, api: tuple[str, int], agent_socket: str) -> str:
    """The prototype edge for one network: today's frontend rules, plus the direct route."""
    m = d / f"net-{net}.map"
    return f"""global
    maxconn 4096
    nbthread 1
    stats socket {d}/stats.sock mode 600 level admin
defaults
    mode http
    timeout connect 30s
    timeout client 32s
    timeout server 32s
    timeout http-request 5s
    timeout http-keep-alive 30s
frontend net_{net}
    bind 169.254.169.254:{PROTO_PORT} namespace {ns}
    maxconn 256
    stick-table type ipv6 size 10k expire 30s store conn_cur,conn_rate(10s)
    tcp-request connection track-sc0 src
    tcp-request connection reject if {{ sc_conn_cur(0) gt 256 }}
    tcp-request connection silent-drop if {{ sc_conn_rate(0) gt 1000000 }}
    acl guest_xff req.hdr_cnt(X-Forwarded-For) gt 0
    acl token req.hdr_cnt(X-aws-ec2-metadata-token) gt 0
    acl body req.hdr_cnt(Content-Length) gt 0
    acl body req.hdr_cnt(Transfer-Encoding) gt 0
    acl read method GET HEAD
    acl token_path path_beg /latest/api/token
    http-request set-var(txn.inst) src,map_ip({m}) if read !token !guest_xff !body !token_path
    use_backend nova if {{ var(txn.inst) -m found }}
    http-request del-header X-OVN-Network-ID
    http-request del-header X-Neutron-Router-ID
    http-request del-header X-OVN-Guest-Forwarded
    http-request set-header X-OVN-Guest-Forwarded 1 if guest_xff
    http-request del-header X-Forwarded-For
    http-request del-header X-Ovnmeta-Health
    http-request set-header X-OVN-Network-ID {net}
    http-request set-header X-Forwarded-For %[src]
    http-request set-var(txn.imds_put) bool(true) if {{ method PUT }} {{ path {TOKEN_PATH} }}
    http-response set-mark {HOP_LIMIT_MARK:#x} if {{ var(txn.imds_put) -m bool }} {{ status 200 }}
    default_backend agent
backend nova
    http-reuse always
    # Exactly the contract's headers (and Host): no client header reaches Nova.
    http-request del-header .* -m reg
    http-request set-header Host {api[0]}:{api[1]}
    http-request set-header X-Forwarded-For %[src]
    http-request set-header X-Instance-ID %[var(txn.inst),field(1,|)]
    http-request set-header X-Tenant-ID %[var(txn.inst),field(2,|)]
    http-request set-header X-Instance-ID-Signature %[var(txn.inst),field(3,|)]
    http-request set-header X-Ovnmeta-Token-State {TOKEN_ABSENT}
    http-request set-header X-Ovnmeta-Token-State-Signature %[var(txn.inst),field(4,|)]
    http-response return status 500 content-type text/plain string "500" {UNLESS_ALLOWED}
    server nova {api[0]}:{api[1]} maxconn 100
backend agent
    option http-server-close
    server agent unix@{agent_socket}
"""


def runtime(sock: Path, command: str) -> str:
    """One command on the prototype's stats socket (a UNIX path: no namespace in the way)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


def agent_socket(lab: Lab) -> str:
    cfg = lab.dir / "cmp1" / "agent" / "ovnmeta" / "edge" / "haproxy.cfg"
    for line in cfg.read_text().splitlines():
        if line.strip().startswith("server agent unix@"):
            return line.split("unix@", 1)[1].strip()
    raise LabError(f"no agent server line in {cfg}")


def get(ns: str, port: int, path: str, method: str = "GET", headers=()) -> tuple[int, str]:
    hdr = ", ".join(f"{k!r}: {v!r}" for k, v in headers)
    code = (
        "import http.client; c = http.client.HTTPConnection('169.254.169.254', "
        f"{port}, timeout=5); c.request({method!r}, {path!r}, headers={{{hdr}}}); "
        "r = c.getresponse(); print(r.status); print(r.read().decode())"
    )
    status, _, body = in_ns(ns, PY, "-c", code).partition("\n")
    return int(status), body.strip()


def _doc(body: str) -> dict:
    """meta_data.json without its random_seed (new bytes on every request, as Nova's)."""
    doc = json.loads(body)
    doc.pop("random_seed", None)
    return doc


# THROUGHPUT's clients, each keeping one connection: what the prototype's pooled connections
# to the API cost it (a new connection per request costs the API an accept and a handshake).
KEEPALIVE = (
    THROUGHPUT.replace("c = http.client.HTTPConnection(host, port, timeout=5)\n", "c = conns[i]\n")
    .replace("r.read(); c.close()", "r.read()")
    .replace(
        "ts = [", "conns = [http.client.HTTPConnection(host, port) for _ in range(clients)]\nts = ["
    )
)


def clients(
    ns: str, host: str, port: int, n: int, secs: float, headers=(), script: str = THROUGHPUT
) -> tuple[float, int]:
    out = in_ns(ns, PY, "-c", script, host, str(port), META, str(n), str(secs), *headers)
    return float(out.split()[0]), int(out.split()[1])


def round_of(
    vm_ns: str, port: int, pids: list[int], api: int, ovs: int, n: int
) -> dict[str, float]:
    a0, b0, o0 = cpu_seconds(pids), cpu_seconds([api]), cpu_seconds([ovs])
    seq = samples(vm_ns, "169.254.169.254", port, META, (), n)
    a1, b1, o1 = cpu_seconds(pids), cpu_seconds([api]), cpu_seconds([ovs])
    got = {
        "p50": pct(seq, 0.5),
        "p99": pct(seq, 0.99),
        "cpu": (a1 - a0) / n * 1000,
        "api_cpu": (b1 - b0) / n * 1000,
        "ovs_cpu": (o1 - o0) / n * 1000,
    }
    for c in (8, 32):
        t0 = cpu_seconds(pids)
        rps, errors = clients(vm_ns, "169.254.169.254", port, c, 5.0)
        got[f"rps{c}"], got[f"err{c}"] = rps, errors
        if c == 8:
            got["cpu8"] = (cpu_seconds(pids) - t0) / (rps * 5.0) * 1000 if rps else float("nan")
    return got


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=500)
    args = ap.parse_args(argv)
    lab = Lab(lab_prefix("d"))
    proto: subprocess.Popen | None = None
    results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    floors: dict[str, list[float]] = defaultdict(list)
    table = Table()
    try:
        print(f"edge-direct prototype bench, lab {lab.prefix}", file=sys.stderr)
        vm, net, signed = guest_served(lab, computes=1)
        ns = f"ovnmeta-{net}"
        d = lab.dir / "cmp1" / "edge-direct"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"net-{net}.map").write_text("")
        cfg = d / "haproxy.cfg"
        cfg.write_text(proto_config(d, ns, net, API, agent_socket(lab)))
        proto = subprocess.Popen(
            lab.compute_argv(1, ["haproxy", "-f", str(cfg)]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until("the prototype's stats socket", (d / "stats.sock").exists, 10, 0.05)
        # Unknown source: the agent answers as today (through the prototype's agent route).
        before = get(vm.netns, PROTO_PORT, META)
        secret = services.secret_file(lab.dir).read_text().strip()
        sig = hmac.new(secret.encode(), vm.id.encode(), hashlib.sha256).hexdigest()
        value = "|".join((vm.id, vm.project, sig, sign_token_state(secret, vm.id, TOKEN_ABSENT)))
        t0 = time.perf_counter()
        added = runtime(d / "stats.sock", f"add map {d}/net-{net}.map {vm.addresses[0]} {value}")
        add_ms = (time.perf_counter() - t0) * 1000
        shown = runtime(d / "stats.sock", f"show map {d}/net-{net}.map")
        table.row("runtime API: add map (one guest), round trip", f"{add_ms:.2f} ms", "", added)
        today, direct = get(vm.netns, 80, META), get(vm.netns, PROTO_PORT, META)
        same = today[0] == direct[0] == 200 and _doc(today[1]) == _doc(direct[1])
        table.row("direct answer = today's answer (meta_data.json)", str(same), "True", shown)
        if not same:
            print(f"  today: {today}\n  direct: {direct}", file=sys.stderr)
        token = get(
            vm.netns,
            PROTO_PORT,
            "/latest/api/token",
            "PUT",
            [("X-aws-ec2-metadata-token-ttl-seconds", "60")],
        )
        with_token = get(
            vm.netns, PROTO_PORT, META, headers=[("X-aws-ec2-metadata-token", token[1])]
        )
        bad_token = get(
            vm.netns, PROTO_PORT, META, headers=[("X-aws-ec2-metadata-token", "x" * 60)]
        )
        table.row(
            "via the agent: unknown source / token PUT / GET with token / forged token",
            f"{before[0]} / {token[0]} / {with_token[0]} / {bad_token[0]}",
            "200 / 200 / 200 / 401",
        )
        pids = agent_processes(lab)
        everyone = [*pids, proto.pid]
        api = api_pid(lab)
        cmp = lab.topology().compute(1)
        ovs = dict(compute.daemons(lab.dir, cmp))["ovs-vswitchd"]
        vswitchd = procfs.read_pid(ovs)
        if vswitchd is None:
            raise LabError(f"no ovs-vswitchd pid in {ovs}")
        cmp_ns = cmp.netns
        for r in range(args.rounds):
            floors["static"].append(static_baseline(lab, net, vm.netns)[0])
            api_seq = samples(cmp_ns, *API, META, signed, max(args.requests // 3, 50))
            floors["api_p50"].append(pct(api_seq, 0.5))
            for c in (8, 32):
                floors[f"api{c}"].append(clients(cmp_ns, *API, c, 5.0, signed)[0])
                floors[f"api{c}ka"].append(clients(cmp_ns, *API, c, 5.0, signed, KEEPALIVE)[0])
            for name, port in (("today", 80), ("direct", PROTO_PORT)):
                got = round_of(vm.netns, port, everyone, api, vswitchd, args.requests)
                print(
                    f"  round {r + 1} {name}: " + ", ".join(f"{k} {v:.3g}" for k, v in got.items()),
                    file=sys.stderr,
                    flush=True,
                )
                for k, v in got.items():
                    results[name][k].append(v)
        status = agent_status(lab)
        table.row("agent still serving", str(status.get("agent_pid") is not None), "True")
    finally:
        if proto is not None:
            proto.terminate()
            proto.wait(10)
        lab.down()

    med = statistics.median
    figures = (
        ("p50", "GET meta_data.json p50 (sequential, new connection each)", "ms"),
        ("p99", "GET meta_data.json p99", "ms"),
        ("cpu", "CPU per request, edge + agent + holder + prototype (sequential)", "ms"),
        ("cpu8", "the same, 8 clients", "ms"),
        ("api_cpu", "CPU per request, metadata API (sequential)", "ms"),
        ("ovs_cpu", "CPU per request, the compute's ovs-vswitchd (sequential)", "ms"),
        ("rps8", "8 concurrent clients", "req/s"),
        ("rps32", "32 concurrent clients", "req/s"),
        ("err8", "errors, 8 clients", ""),
        ("err32", "errors, 32 clients", ""),
    )
    for key, figure, unit in figures:
        t, d_ = med(results["today"][key]), med(results["direct"][key])
        ratio = f"x{t / d_:.2f}" if key.startswith(("p", "cpu", "api", "ovs")) and d_ else ""
        if key.startswith("rps") and t:
            ratio = f"x{d_ / t:.2f}"
        table.row(figure, f"today {t:.2f} {unit} | direct {d_:.2f} {unit}", "", ratio)
    table.row("floor: static server in ovnmeta-<net>, p50", f"{med(floors['static']):.2f} ms")
    table.row(
        "floor: metadata API direct from the compute, p50", f"{med(floors['api_p50']):.2f} ms"
    )
    for c in (8, 32):
        table.row(
            f"ceiling: metadata API direct, {c} clients, new connection each / keep-alive",
            f"{med(floors[f'api{c}']):.0f} / {med(floors[f'api{c}ka']):.0f} req/s",
        )
    table.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
