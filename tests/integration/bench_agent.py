import sys, time, uuid, subprocess, tempfile, shutil, os, json, statistics
sys.path.insert(0, "/work/wt-agent")
from pathlib import Path
from tests.integration import harness
from tests.integration.conftest import Node
harness.isolate()
N = int(sys.argv[1]) if len(sys.argv) > 1 else 50
root = Path(tempfile.mkdtemp(prefix="ovnmeta-agent-bench-"))
d = harness.Daemons(root, "benchch"); nova = harness.FakeNova()
agent = None
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) // 1024
try:
    d.start(); nova.start()
    ini = harness.write_ini(root, d, nova.port)
    ini.write_text(ini.read_text().replace("debug = true", "debug = false"))
    agent = harness.AgentProcess(root, ini)
    node = Node(root, "benchch", d, harness.Sb(d), nova, agent)
    ch = node.sb.chassis("benchch"); node.sb.chassis_private("benchch", ch, 1)
    t0 = time.monotonic(); agent.start()
    harness.wait_for(lambda: agent.log.exists() and "agent ready" in agent.log.read_text(), what="ready")
    print("agent start -> ready", round(time.monotonic() - t0, 3), "s")
    # first network, measure bind -> first 200
    net = str(uuid.uuid4()); dp = node.sb.datapath(net, 1)
    node.sb.metadata_port(dp, net, 1, "fa:16:3e:00:00:02", "10.0.0.2/24")
    vif = node.sb.vif(dp, 2, "fa:16:3e:00:00:11", "10.0.0.11", str(uuid.uuid4()), "p")
    vm = node.plug_vm("vm1", "fa:16:3e:00:00:11", "10.0.0.11/24", "10.0.0.2")
    # warm: make edge exist with another net first
    t = time.monotonic(); node.sb.bind(vif, ch)
    harness.wait_for(lambda: node.curl(f"ovnmeta-{net}", timeout=0.1)[0] == "404", interval=0.002, what="first")
    print("bind -> edge answers in the namespace (first network, edge start)", round((time.monotonic() - t) * 1000), "ms")
    nets = []
    t = time.monotonic()
    for i in range(N - 1):
        n = str(uuid.uuid4()); dpi = node.sb.datapath(n, i + 2)
        node.sb.metadata_port(dpi, n, 1, "fa:16:3e:00:00:02", "10.0.0.2/24")
        v = node.sb.vif(dpi, 2, "fa:16:3e:00:00:11", "10.0.0.11", str(uuid.uuid4()), "p")
        nets.append((n, v))
    subprocess.run(["ovn-sbctl", f"--db=unix:{d.sb_sock}", *sum((["--", "set", "Port_Binding", v, f"chassis={ch}"] for _, v in nets), [])[1:]], check=True)
    cfg = root / "state" / "ovnmeta" / "edge" / "networks.json"
    harness.wait_for(lambda: len(json.loads(cfg.read_text())) == N, timeout=120, interval=0.05, what="all")
    print(f"{N - 1} networks bound at once -> all in edge", round(time.monotonic() - t, 2), "s")
    # a new network while N exist: bind -> first 200
    n = str(uuid.uuid4()); dpn = node.sb.datapath(n, N + 5)
    node.sb.metadata_port(dpn, n, 1, "fa:16:3e:00:00:03", "10.1.0.2/24")
    v = node.sb.vif(dpn, 2, "fa:16:3e:00:00:12", "10.1.0.12", str(uuid.uuid4()), "p")
    vm2 = node.plug_vm("vm2", "fa:16:3e:00:00:12", "10.1.0.12/24", "10.1.0.2")
    time.sleep(0.5)
    t = time.monotonic(); node.sb.bind(v, ch)
    harness.wait_for(lambda: node.curl(f"ovnmeta-{n}", timeout=0.1)[0] == "404", interval=0.002, what="first2")
    print(f"bind -> edge answers in the namespace with {N} networks present", round((time.monotonic() - t) * 1000), "ms")
    # latency: 300 sequential requests, new connection each
    url = "http://169.254.169.254/openstack/latest/meta_data.json"
    out = subprocess.run(["ip", "netns", "exec", vm, "curl", "-s", "-w", "%{time_total}\n", *(["-o", "/dev/null", url] * 300)], capture_output=True, text=True).stdout.split()
    lat = sorted(float(x) * 1000 for x in out)
    print("latency ms p50", round(lat[len(lat)//2], 2), "p99", round(lat[int(len(lat)*0.99)], 2))
    # throughput: 8 concurrent curl processes x 250 requests
    t = time.monotonic()
    procs = [subprocess.Popen(["ip", "netns", "exec", vm, "curl", "-s", *(["-o", "/dev/null", url] * 250)]) for _ in range(8)]
    for p in procs: p.wait()
    print("8 clients x 250 req:", round(2000 / (time.monotonic() - t)), "req/s")
    pids = {"agent": agent.proc.pid}
    pids["holder"] = int((root / "state" / "ovnmeta" / "listener.pid").read_text())
    hp = int((root / "state" / "ovnmeta" / "edge" / "haproxy.pid").read_text().split()[0])
    pids["haproxy-master"] = hp
    for c in subprocess.run(["pgrep", "-P", str(hp)], capture_output=True, text=True).stdout.split():
        pids[f"haproxy-worker-{c}"] = int(c)
    print("RSS MB", {k: rss(p) for k, p in pids.items()}, "total", sum(rss(p) for p in pids.values()))
    # restart with N networks: time until full sync done; failed requests during it
    t = time.monotonic(); agent.stop(); agent.start()
    harness.wait_for(lambda: "full sync of" in agent.log.read_text().split("agent ready")[-1], timeout=60, what="sync")
    print("restart -> full sync done", round(time.monotonic() - t, 2), "s;", [l for l in agent.log.read_text().splitlines() if "full sync of" in l][-1][-60:])
finally:
    if agent: agent.stop()
    harness.kill_pidfile(root / "state" / "ovnmeta" / "edge" / "haproxy.pid", str(root))
    harness.kill_pidfile(root / "state" / "ovnmeta" / "listener.pid", str(root))
    nova.stop(); d.stop()
    shutil.rmtree(root, ignore_errors=True)
