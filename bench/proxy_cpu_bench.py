"""The agent's request path alone: CPU time per request of ProxyServer, no lab, no root.

ProxyServer listens on a UNIX socket as in the agent; a client process sends what the edge
sends (the network and forwarded-for headers), either a new connection per request or one
keep-alive connection; the backend is a constant answer from a raw asyncio server in a process
of its own, so nearly all the CPU measured is the agent's (time.process_time of the process
running ProxyServer). Variants (NAME=SRC_DIR, run with PYTHONPATH=SRC_DIR) and both connection
modes alternate, so a busy machine moves them alike; the table gives medians.

Usage: python bench/proxy_cpu_bench.py [--rounds R] [--requests N] [NAME=SRC_DIR ...]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

NET = "f3dc8112-273e-4653-af3c-6069330ad350"
INSTANCE = "b65cee2f-8c69-4aeb-be2f-f79742548fc2"
BODY = b'{"uuid": "%s", "name": "vm", "hostname": "vm", "launch_index": 0}' % INSTANCE.encode()
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
WARMUP = 200

BACKEND = r"""
import asyncio, sys
ANSWER = sys.stdin.buffer.read()
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, d):
        self.buf += d
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1); self.t.write(ANSWER)
async def main():
    s = await asyncio.get_running_loop().create_server(P, "127.0.0.1", 0)
    print(s.sockets[0].getsockname()[1], flush=True); await asyncio.Future()
asyncio.run(main())
"""


def edge_client(path: str, n: int, keepalive: bool) -> None:
    """What the edge sends the agent for a guest's GET (haproxy adds `connection: close` in
    server-close mode)."""
    req = (
        b"GET /openstack/latest/meta_data.json HTTP/1.1\r\nhost: 169.254.169.254\r\n"
        b"user-agent: Cloud-Init/22.4\r\naccept-encoding: identity\r\n"
        b"x-forwarded-for: 10.0.0.11\r\nx-ovn-network-id: "
        + NET.encode()
        + b"\r\n"
        + (b"" if keepalive else b"connection: close\r\n")
        + b"\r\n"
    )
    s = None
    for _ in range(n):
        if s is None:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, body = buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        while len(body) < length:
            body += s.recv(65536)
        if not keepalive:
            s.close()
            s = None


def one(mode: str, n: int) -> float:
    """Agent CPU microseconds per request, this interpreter's ovnmeta, one mode."""
    from ovnmeta.agent import config
    from ovnmeta.agent.proxy.server import ProxyServer
    from ovnmeta.core.model import Vif

    class Index:
        vif = Vif(
            "p1",
            "lp1",
            "dp",
            "fa:16:3e:00:00:11",
            ("10.0.0.11",),
            ("ch",),
            frozenset(),
            INSTANCE,
            "proj1",
        )

        def ports_by_ip(self, network, ip):
            return (self.vif,) if (network, ip) == (NET, "10.0.0.11") else ()

        def ports_by_mac(self, network, mac):
            return ()

    backend = subprocess.Popen(
        [sys.executable, "-c", BACKEND], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    state = tempfile.mkdtemp(prefix="proxy-cpu-bench-")
    try:
        backend.stdin.write(ANSWER)
        backend.stdin.close()
        port = int(backend.stdout.readline())
        conf = config.new_conf()
        conf(args=[], default_config_files=[], default_config_dirs=[])
        conf.set_override("state_path", state)
        conf.set_override("nova_metadata_port", port)
        conf.set_override("metadata_proxy_shared_secret", "s3cr3t")
        # One client drives every request: lift its per-guest share, as agent_bench does.
        settings = dataclasses.replace(config.from_conf(conf).proxy, in_flight_per_source=25)
        try:
            from ovnmeta.core.eventloop import loop_factory
        except ImportError:  # a tree from before uvloop: asyncio's loop
            factory = None
        else:
            factory = loop_factory()
        loop = (factory or asyncio.new_event_loop)()
        server = ProxyServer(settings, Index())
        loop.run_until_complete(server.start())
        child = os.fork()
        if child == 0:
            edge_client(settings.metadata_proxy_socket, WARMUP + n, mode == "keep-alive")
            os._exit(0)

        async def wait_child() -> None:
            while not os.waitpid(child, os.WNOHANG)[0]:
                await asyncio.sleep(0.005)

        started = time.process_time()
        loop.run_until_complete(wait_child())
        used = time.process_time() - started
        loop.run_until_complete(server.stop())
        return used / (WARMUP + n) * 1e6
    finally:
        backend.kill()
        backend.wait()
        shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--one", choices=("new connection", "keep-alive"), help=argparse.SUPPRESS)
    ap.add_argument("variants", nargs="*", metavar="NAME=SRC_DIR")
    args = ap.parse_args(argv)
    if args.one:
        print(one(args.one, args.requests))
        return 0
    variants = [v.partition("=")[::2] for v in args.variants] or [("this tree", "")]
    for name, src in variants:
        if src and not os.path.isdir(src):
            ap.error(f"variant {name!r}: no directory {src!r}")
    got: dict[tuple[str, str], list[float]] = defaultdict(list)
    for _ in range(args.rounds):
        for name, src in variants:
            for mode in ("new connection", "keep-alive"):
                env = {**os.environ, "PYTHONPATH": os.path.abspath(src)} if src else None
                out = subprocess.run(
                    [sys.executable, __file__, "--one", mode, "--requests", str(args.requests)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                got[(name, mode)].append(float(out))
                print(f"  {name}, {mode}: {float(out):.0f} us", file=sys.stderr, flush=True)
    print(f"agent CPU per request (us), median of {args.rounds} rounds x {args.requests}")
    for (name, mode), values in got.items():
        each = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name:12} {mode:15} {statistics.median(values):6.0f}  ({each})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
