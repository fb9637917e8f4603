"""Lab numbers: bring-up and teardown times, data-path latency, SB failover recovery.

Each data-path figure is printed next to a baseline measured in the same run on the same
machine (two namespaces joined by a plain veth, no OVS), since these machines are shared
and noisy: the ratio is what to compare between runs.
"""

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid

from benchkit import Table, in_ns

from ovnmeta.lab import compute
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

SERVER = "/usr/bin/python3"  # Debian's interpreter: starts fast inside a namespace

# Sequential HTTP GETs, a new TCP connection each; prints p50 and p99 in ms.
CLIENT = r"""
import http.client, statistics, sys, time
host, n = sys.argv[1], int(sys.argv[2])
samples = []
for _ in range(n):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection(host, 8080, timeout=5)
    c.request("GET", "/")
    c.getresponse().read()
    c.close()
    samples.append((time.perf_counter() - t0) * 1000)
samples.sort()
print(statistics.median(samples), samples[int(len(samples) * 0.99) - 1])
"""

TABLE = Table()
row = TABLE.row


def prefix() -> str:
    return "b" + uuid.uuid4().hex[:7]


def timed_up(controllers: int, computes: int, runs: int = 3) -> tuple[float, float]:
    ups, downs = [], []
    for _ in range(runs):
        lab = Lab(prefix())
        t0 = time.monotonic()
        lab.up(controllers, computes)
        ups.append(time.monotonic() - t0)
        t0 = time.monotonic()
        lab.down()
        downs.append(time.monotonic() - t0)
    return statistics.median(ups), statistics.median(downs)


def ping_avg(ns: str, dst: str) -> float:
    out = in_ns(ns, "ping", "-q", "-c", "50", "-i", "0.02", dst)
    return float(out.rsplit("=", 1)[1].split("/")[1])


def http_p50_p99(client_ns: str, server_ns: str, server_ip: str) -> tuple[float, float]:
    server = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            server_ns,
            SERVER,
            "-m",
            "http.server",
            "8080",
            "--bind",
            server_ip,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until("the HTTP server", lambda: ":8080" in in_ns(server_ns, "ss", "-ltn"), 15)
        p50, p99 = in_ns(client_ns, SERVER, "-c", CLIENT, server_ip, "300").split()
        return float(p50), float(p99)
    finally:
        server.kill()
        server.wait()


def baseline_pair() -> tuple[str, str]:
    """Two namespaces joined by one veth: the floor for latency on this machine."""
    a, b = f"{prefix()}-a", f"{prefix()}-b"
    for ns in (a, b):
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    subprocess.run(
        ["ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b],
        check=True,
    )
    for ns, ip in ((a, "10.9.0.1/24"), (b, "10.9.0.2/24")):
        subprocess.run(["ip", "-n", ns, "addr", "add", ip, "dev", "eth0"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)
    return a, b


def failover(lab: Lab) -> tuple[float, float]:
    victim = lab.leader("sb")
    os.kill(lab.controller_db_pid(victim, "sb"), signal.SIGKILL)
    t0 = time.monotonic()
    wait_until("a new SB leader", lambda: lab.leader("sb") not in (None, victim), 30)
    elected = time.monotonic() - t0
    lab.boot("late", "net", 3)
    dst = lab.instance("late").addresses[0]
    wait_until(
        "the new instance",
        lambda: (
            subprocess.run(
                ["ip", "netns", "exec", lab.instance("a").netns, "ping", "-c1", "-W1", dst],
                capture_output=True,
            ).returncode
            == 0
        ),
        30,
    )
    return elected, time.monotonic() - t0


def main() -> int:
    print("lab benchmark (medians of 3 where repeated)", file=sys.stderr)
    up11, down11 = timed_up(1, 1)
    row("lab up 1+1", f"{up11:.2f} s")
    up33, down33 = timed_up(3, 3)
    row("lab up 3+3", f"{up33:.2f} s", "< 10 s")
    row("lab down 1+1 / 3+3", f"{down11:.2f} s / {down33:.2f} s")

    a, b = baseline_pair()
    lab = Lab(prefix())
    try:
        base_rtt = ping_avg(a, "10.9.0.2")
        base_p50, base_p99 = http_p50_p99(a, b, "10.9.0.2")
        lab.up(3, 3)
        lab.create_network("net", ["10.0.0.0/24"])
        lab.boot("a", "net", 1)
        lab.boot("b", "net", 2)
        va, vb = lab.instance("a"), lab.instance("b")
        rtt = ping_avg(va.netns, vb.addresses[0])
        row(
            "ping RTT across computes (Geneve)",
            f"{rtt:.3f} ms",
            "",
            f"{base_rtt:.3f} ms plain veth (x{rtt / base_rtt:.1f})",
        )
        p50, p99 = http_p50_p99(va.netns, vb.netns, vb.addresses[0])
        row(
            "HTTP GET across computes, new connection each, p50",
            f"{p50:.2f} ms",
            "",
            f"{base_p50:.2f} ms plain veth (x{p50 / base_p50:.1f})",
        )
        row("HTTP GET across computes, p99", f"{p99:.2f} ms", "", f"{base_p99:.2f} ms")
        elected, served = failover(lab)
        row("SB leader killed -> new leader", f"{elected:.2f} s")
        row("SB leader killed -> instance booted after it reachable", f"{served:.2f} s")
        connected = all(
            compute.controller_status(lab.dir, c) == "connected" for c in lab.topology().computes
        )
        row("ovn-controllers connected after failover", str(connected))
    finally:
        lab.down()
        for ns in (a, b):
            subprocess.run(["ip", "netns", "delete", ns], check=False)

    TABLE.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
