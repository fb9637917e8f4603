"""What one edge haproxy costs per reload, against the number of frontends it serves.

The agent's own `dataplane.haproxy.Edge` (the shard class of dataplane/edge_shards.py) on
namespaces of its own (`<prefix>-<i>`, loopback only, removed at the end): start it with N
frontends, then time `apply` of N+1 (a new haproxy taking the listeners over, until it has
bound them) and until a client in the new namespace connects. No OVN lab: this is the figure the
young shard's size (edge_placement.YOUNG_MAX) is chosen from. Baseline: N = 1, same run.
Usage: python bench/edge_bench.py [N...]   (default 1 16 64 200 1000)
"""

import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid

import benchkit
from benchkit import Table

from ovnmeta.agent.dataplane import haproxy, netns
from ovnmeta.agent.dataplane.haproxy_conf import Frontend
from ovnmeta.agent.settings import RATE_LIMIT_DEFAULTS, EdgeSettings
from ovnmeta.core.model import METADATA_IPV4, METADATA_PORT

TABLE = Table()
CONNECT = (
    "import socket, sys, time\n"
    "end = time.time() + 30\n"
    "while time.time() < end:\n"
    "    try:\n"
    "        socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.1); print(time.time())\n"
    "        break\n"
    "    except OSError: time.sleep(0.002)\n"
)


def settings(state_dir: str) -> EdgeSettings:
    return EdgeSettings(
        haproxy_binary="haproxy",
        state_dir=state_dir,
        backend_socket=os.path.join(state_dir, "backend.sock"),
        user="",
        group="",
        debug=False,
        maxconn=1024,
        network_maxconn=256,
        source_maxconn=32,
        source_conn_rate=1000,
        nbthread=1,
        retries=3,
        timeout_connect=1,
        timeout_client=30,
        timeout_server=32,
        timeout_http_request=5,
        timeout_http_keep_alive=5,
        rate_limit=RATE_LIMIT_DEFAULTS,
    )


def make_namespace(name: str) -> None:
    """Without forking `ip` three times per namespace (1,000 of them)."""
    netns.create(name)

    def setup(ipr) -> None:
        lo = ipr.link_lookup(ifname="lo")[0]
        ipr.link("set", index=lo, state="up")
        ipr.addr("add", index=lo, address=METADATA_IPV4, prefixlen=32)

    netns.run_in(name, setup)


def rss_mb(master: int) -> float:
    children = subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True
    ).stdout.split()
    return benchkit.rss_mb([master, *map(int, children)])


def one(n: int, names: list[str], root: str) -> tuple[float, float, float]:
    """(apply ms, bind -> connect ms, RSS MB) for a reload from n to n+1 frontends."""
    edge = haproxy.Edge(settings(tempfile.mkdtemp(dir=root)))
    frontends = [Frontend(f"net{i:05d}", names[i], "lo", False) for i in range(n + 1)]
    edge.apply(frontends[:n])
    try:
        argv = [sys.executable, "-c", CONNECT, METADATA_IPV4, str(METADATA_PORT)]
        poller = subprocess.Popen(
            ["ip", "netns", "exec", names[n], *argv],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.3)  # the poller's start-up is not the edge's
        t0 = time.time()
        edge.apply(frontends)
        applied = time.time() - t0
        listening = float(poller.communicate(timeout=60)[0]) - t0
        return applied * 1000, listening * 1000, rss_mb(edge.pid)
    finally:
        if edge.pid:
            os.kill(edge.pid, 15)


def main(sizes: list[int]) -> int:
    prefix = os.environ.get("OVNMETA_BENCH_PREFIX", "b") + uuid.uuid4().hex[:6] + "-e"
    names = [f"{prefix}{i}" for i in range(max(sizes) + 1)]
    print(f"edge benchmark, namespaces {prefix}*, sizes {sizes}", file=sys.stderr)
    print(f"open files limit {resource.getrlimit(resource.RLIMIT_NOFILE)}", file=sys.stderr)
    root = tempfile.mkdtemp(prefix="ovnmeta-edge-bench-")
    try:
        for name in names:
            make_namespace(name)
        base = None
        for n in sizes:
            applied, listening, rss = one(n, names, root)
            base = base or (applied, listening)
            TABLE.row(
                f"edge of {n} frontends: one more network, apply / -> connect",
                f"{applied:.0f} / {listening:.0f} ms",
                "young shard: about the 1-frontend figure",
                f"x{applied / base[0]:.2f} / x{listening / base[1]:.2f} of {sizes[0]}; "
                f"RSS of its processes {rss:.1f} MB",
            )
    finally:
        for name in names:
            if netns.exists(name):
                netns.remove(name)
        subprocess.run(["rm", "-rf", root], check=False)
    TABLE.print()
    return 0


if __name__ == "__main__":
    try:
        sizes = sorted(int(a) for a in sys.argv[1:]) or [1, 16, 64, 200, 1000]
    except ValueError:
        raise SystemExit(f"usage: edge_bench.py [N...], not {sys.argv[1:]}") from None
    raise SystemExit(main(sizes))
