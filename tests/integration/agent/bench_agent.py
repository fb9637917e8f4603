"""Rough numbers for the agent on a private single-node host (not a test; needs root).

    .venv/bin/python tests/integration/bench_agent.py [NETWORKS]

Prints: start -> ready, bind -> the edge answering in the namespace (first network, then with
NETWORKS present), latency and throughput through OVS + edge + agent + a fake Nova, RSS of the
processes, and the restart's full-sync time.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.integration.agent import harness
from tests.integration.agent.conftest import Node

URL = "http://169.254.169.254/openstack/latest/meta_data.json"


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def latency(prefix: list[str], *extra: str) -> str:
    out = subprocess.run(
        [*prefix, "curl", "-s", *extra, "-w", "%{time_total}\n", *(["-o", "/dev/null", URL] * 300)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    lat = sorted(float(x) * 1000 for x in out)
    return f"p50 {lat[len(lat) // 2]:.2f} ms, p99 {lat[int(len(lat) * 0.99)]:.2f} ms"


def add_network(node: Node, key: int, meta_mac: str, cidr: str, vm_mac: str, vm_ip: str):
    net = str(uuid.uuid4())
    dp = node.sb.datapath(net, key)
    node.sb.metadata_port(dp, net, 1, meta_mac, cidr)
    return net, node.sb.vif(dp, 2, vm_mac, vm_ip, str(uuid.uuid4()), "p")


def time_to_answer(node: Node, net: str, vif: str, chassis: str) -> float:
    started = time.monotonic()
    node.sb.bind(vif, chassis)
    harness.wait_for(
        lambda: node.curl(f"ovnmeta-{net}", timeout=0.1)[0] == "404",
        interval=0.002,
        what="edge answering",
    )
    return (time.monotonic() - started) * 1000


def main(count: int) -> None:
    harness.isolate()
    root = Path(tempfile.mkdtemp(prefix="ovnmeta-agent-bench-"))
    daemons, nova = harness.Daemons(root, "benchch"), harness.FakeNova()
    agent = None
    try:
        daemons.start()
        nova.start()
        ini = harness.write_ini(root, daemons, nova.port)
        ini.write_text(ini.read_text().replace("debug = true", "debug = false"))
        agent = harness.AgentProcess(root, ini)
        node = Node(root, "benchch", daemons, harness.Sb(daemons), nova, agent)
        chassis = node.sb.chassis("benchch")
        node.sb.chassis_private("benchch", chassis, 1)

        started = time.monotonic()
        agent.start()
        harness.wait_for(lambda: agent.log.exists() and "agent ready" in agent.log.read_text())
        print(f"agent start -> ready: {time.monotonic() - started:.3f} s")

        net, vif = add_network(
            node, 1, "fa:16:3e:00:00:02", "10.0.0.2/24", "fa:16:3e:00:00:11", "10.0.0.11"
        )
        vm = node.plug_vm("vm1", "fa:16:3e:00:00:11", "10.0.0.11/24", "10.0.0.2")
        print(
            f"bind -> answering (first network, edge start): "
            f"{time_to_answer(node, net, vif, chassis):.0f} ms"
        )

        more = [
            add_network(
                node, i + 2, "fa:16:3e:00:00:02", "10.0.0.2/24", "fa:16:3e:00:00:11", "10.0.0.11"
            )
            for i in range(count - 1)
        ]
        started = time.monotonic()
        args: list[str] = []
        for _, v in more:
            args += ["--", "set", "Port_Binding", v, f"chassis={chassis}"]
        subprocess.run(["ovn-sbctl", f"--db=unix:{daemons.sb_sock}", *args[1:]], check=True)
        served = root / "state" / "ovnmeta" / "edge" / "networks.json"
        harness.wait_for(
            lambda: len(json.loads(served.read_text())) == count,
            timeout=300,
            interval=0.05,
            what="all networks served",
        )
        print(
            f"{count - 1} networks bound at once -> all served: {time.monotonic() - started:.2f} s"
        )

        net2, vif2 = add_network(
            node, count + 5, "fa:16:3e:00:00:03", "10.1.0.2/24", "fa:16:3e:00:00:12", "10.1.0.12"
        )
        print(
            f"bind -> answering with {count} networks present: "
            f"{time_to_answer(node, net2, vif2, chassis):.0f} ms"
        )

        time.sleep(2)  # let the last reload's old worker leave
        print(f"latency via OVS (new connection each): {latency(['ip', 'netns', 'exec', vm])}")
        # The same request without OVS: the guest address on the metadata namespace's lo.
        meta_ns = f"ovnmeta-{net}"
        subprocess.run(
            ["ip", "-n", meta_ns, "addr", "add", "10.0.0.11/32", "dev", "lo"], check=True
        )
        print(
            "latency without OVS (edge + agent + fake Nova): "
            f"{latency(['ip', 'netns', 'exec', meta_ns], '--interface', '10.0.0.11')}"
        )
        subprocess.run(
            ["ip", "-n", meta_ns, "addr", "del", "10.0.0.11/32", "dev", "lo"], check=True
        )

        started = time.monotonic()
        procs = [
            subprocess.Popen(
                ["ip", "netns", "exec", vm, "curl", "-s", *(["-o", "/dev/null", URL] * 250)]
            )
            for _ in range(8)
        ]
        for p in procs:
            p.wait()
        print(f"8 clients x 250 requests: {2000 / (time.monotonic() - started):.0f} req/s")

        pids = {
            "agent": agent.proc.pid,
            "holder": int((root / "state" / "ovnmeta" / "listener.pid").read_text()),
        }
        master = int((root / "state" / "ovnmeta" / "edge" / "haproxy.pid").read_text().split()[0])
        pids["haproxy-master"] = master
        children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
        for child in children.stdout.split():
            pids[f"haproxy-worker-{child}"] = int(child)
        sizes = {name: rss_mb(pid) for name, pid in pids.items()}
        print(f"RSS MB: {sizes}, total {sum(sizes.values())}")

        started = time.monotonic()
        agent.stop()
        agent.start()
        harness.wait_for(
            lambda: "full sync of" in agent.log.read_text().split("agent ready")[-1],
            timeout=120,
            what="full sync",
        )
        line = [x for x in agent.log.read_text().splitlines() if "full sync of" in x][-1]
        print(
            f"restart -> full sync done: {time.monotonic() - started:.2f} s "
            f"({line.split('INFO ovnmeta.agent.reconciler ')[-1]})"
        )
    finally:
        if agent is not None:
            agent.stop()
        harness.kill_pidfile(root / "state" / "ovnmeta" / "edge" / "haproxy.pid", str(root))
        harness.kill_pidfile(root / "state" / "ovnmeta" / "listener.pid", str(root))
        nova.stop()
        daemons.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
