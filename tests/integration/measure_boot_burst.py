"""Measure cloud-init's boot burst through the real edge (not a test; needs root).

    .venv/bin/python tests/integration/measure_boot_burst.py [RUNS]

Brings up a 1-compute lab with one instance, points the edge's log at a datagram socket of
ours (accept time, total time, status, request line of every request), and runs cloud-init's
reader in the instance RUNS times: first with rate limiting off, then enabled with every value
left unset (our defaults). For each run it prints the requests, status codes, peak concurrent
connections and duration, split into the reader's own crawl (`read_v2` + the EC2 tree, 49
requests) and the full `DataSourceOpenStack` a booting guest runs (the boot burst).
"""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ovnmeta.lab import cloudinit, services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until
from tests.integration.labkit import unique_prefix, wait_metadata

READER_REQUESTS = 49  # read_v2 + ec2 2009-04-04, which the reader runs before the datasource
LOG = re.compile(r'(\d{13}) (-?\d+) (\d+) "([^"]*)"')
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f me@lab"


def edge_file(lab: Lab, name: str) -> Path:
    return services.agent_dir(lab.dir, lab.topology().compute(1)) / "ovnmeta" / "edge" / name


def log_to(lab: Lab, sock_path: str) -> None:
    """Rewrite the running edge's log target and format, then reload it (until the agent
    renders the config again)."""
    cfg = edge_file(lab, "haproxy.cfg")
    text = re.sub(
        r"    log /dev/log local0 \w+", f"    log unix@{sock_path} local0 info", cfg.read_text()
    )
    text = text.replace("    option httplog", '    log-format "%Ts%ms %Tt %ST %{+Q}r"')
    cfg.write_text(text)
    pidfile = edge_file(lab, "haproxy.pid")
    old = pidfile.read_text().split()[0]
    stats = edge_file(lab, "stats.sock")
    # The edge's own reload (dataplane/haproxy.py): a new process takes the listeners over
    argv = ["haproxy", "-D", "-f", str(cfg), "-p", str(pidfile), "-x", str(stats), "-sf", old]
    subprocess.run(argv, check=True, start_new_session=True)
    time.sleep(2)


def summary(records: list[tuple[int, int, int, str]]) -> dict:
    events = sorted([(a, 1) for a, _, _, _ in records] + [(a + t, -1) for a, t, _, _ in records])
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    codes: dict[int, int] = {}
    for _, _, status, _ in records:
        codes[status] = codes.get(status, 0) + 1
    start, end = min(r[0] for r in records), max(r[0] + r[1] for r in records)
    return {"requests": len(records), "codes": codes, "peak": peak, "ms": end - start}


def main(runs: int) -> None:
    lab = Lab(unique_prefix())
    sock_path = f"/tmp/ovnmeta-burst-{lab.prefix}.sock"
    lines: list[str] = []
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(sock_path)

    def receive() -> None:
        while True:
            lines.append(receiver.recv(65536).decode(errors="replace"))

    threading.Thread(target=receive, daemon=True).start()
    try:
        lab.up(controllers=1, computes=1)
        lab.create_network("n1", ["10.0.0.0/24", "fd00:a::/64"])
        lab.boot("vm1", "n1", 1, user_data=b"#cloud-config\n", keys=[("k", KEY)])
        wait_metadata(lab, "vm1")
        cmp = lab.topology().compute(1)
        vm = lab.instance("vm1")
        for phase in ("rate limiting off", "rate limiting on, defaults"):
            if phase != "rate limiting off":
                fragment = services.config_dir(lab.dir, cmp.name) / "50-measure.conf"
                fragment.write_text("[metadata_rate_limiting]\nrate_limit_enabled = true\n")
                lab.stop_agent(1)
                lab.start_agent(1)
                services.wait_agent_registered(lab.dir, lab.northbound(), cmp)
                cfg = edge_file(lab, "haproxy.cfg")
                wait_until("the edge config", lambda c=cfg: "rl_burst" in c.read_text(), 60)
                time.sleep(2)  # the agent may apply it more than once: edit after it settles
            log_to(lab, sock_path)
            for _ in range(runs):
                lines.clear()
                cloudinit.read("http://169.254.169.254", netns=vm.netns, datasource=True)
                time.sleep(1)
                records = sorted(
                    (int(m[1]), int(m[2]), int(m[3]), m[4])
                    for m in (LOG.search(line) for line in lines)
                    if m
                )
                reader, boot = records[:READER_REQUESTS], records[READER_REQUESTS:]
                print(
                    f"{phase}: boot",
                    json.dumps(summary(boot)),
                    "reader",
                    json.dumps(summary(reader)),
                )
                time.sleep(2)  # one reader run is 77 requests: stay at a boot-like rate
    finally:
        lab.down()
        os.unlink(sock_path)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
