"""`ovnmeta lab status`: what runs where, with pids and health, as a dict or a table."""

import json
from typing import Any

from ovnmeta.core import tables
from ovnmeta.core.errors import LabError
from ovnmeta.core.procfs import alive, owned_pid
from ovnmeta.lab import central, compute, mariadb, neutron_server, relay, services
from ovnmeta.lab.lab import Lab


def collect(lab: Lab) -> dict[str, Any]:
    st = lab.state()
    topo = lab.topology(st)
    marker = str(lab.dir)
    nodes = []
    for ctl in topo.controllers:
        daemons = []
        for name, pidfile in central.daemons(lab.dir, ctl):
            pid = owned_pid(pidfile, marker)
            if pid is None:
                health = "down"
            elif name == "ovn-northd":
                health = central.northd_status(lab.dir, ctl) or "unknown"
            else:
                db = central.NB if name.endswith("nb") else central.SB
                out = central.cluster_status(lab.dir, ctl, db)
                role = next(
                    (ln.split(": ", 1)[1] for ln in out.splitlines() if ln.startswith("Role: ")),
                    "unknown",
                )
                ok = central.member_healthy(out, len(topo.controllers))
                health = role if ok else f"{role} (not a healthy member)"
            daemons.append({"name": name, "pid": pid, "health": health})
        api_pid = owned_pid(services.api_pidfile(lab.dir, ctl), marker)
        api_health = f"listening {ctl.ip}:{services.API_PORT}" if api_pid else "down"
        daemons.append({"name": "metadata-api", "pid": api_pid, "health": api_health})
        daemons += _relay_daemons(lab, [r for r in topo.relays if r.host == ctl])
        nodes.append(
            {
                "name": ctl.name,
                "role": "controller",
                "netns": ctl.netns,
                "ip": ctl.ip,
                "daemons": daemons,
            }
        )
    for cmp in topo.computes:
        daemons = []
        for name, pidfile in compute.daemons(lab.dir, cmp):
            pid = owned_pid(pidfile, marker)
            health = "down" if pid is None else "running"
            if pid and name == "ovn-controller":
                health = compute.controller_status(lab.dir, cmp) or "unknown"
            daemons.append({"name": name, "pid": pid, "health": health})
        daemons += _agent_daemons(lab, cmp)
        nodes.append(
            {
                "name": cmp.name,
                "role": "compute",
                "netns": cmp.netns,
                "ip": cmp.ip,
                "chassis": cmp.chassis,
                "daemons": daemons,
            }
        )
    return {
        "name": st.prefix,
        "neutron": _neutron(lab) if st.neutron else None,
        "dir": str(lab.dir),
        "nb": central.unix_remotes(lab.dir, topo, central.NB),
        "sb": central.unix_remotes(lab.dir, topo, central.SB),
        # what ovn-controller and the agents use, when it is not the members: the relays
        "sb_clients": topo.sb_client_remotes() if topo.relays else None,
        "timings": st.timings,
        "nodes": nodes,
        "networks": [
            {
                "name": n.name,
                "id": n.id,
                "switch": n.switch,
                "cidrs": n.cidrs,
                "metadata_port": n.metadata_port,
                "project": n.project,
            }
            for n in st.networks.values()
        ],
        "instances": [
            {
                "name": v.name,
                "id": v.id,
                "network": v.network,
                "compute": v.compute,
                "netns": v.netns,
                "addresses": v.addresses,
                "mac": v.mac,
                "port": v.port,
                "dhcp": v.dhcp,
            }
            for v in st.instances.values()
        ],
    }


def _neutron(lab: Lab) -> dict[str, Any]:
    """The neutron API and its database, and the agents neutron lists (`GET /v2.0/agents`)."""
    base = neutron_server.base(lab.dir)
    api = neutron_server.api_pid(lab.dir)
    daemons = [
        {"name": "mariadbd", "pid": mariadb.pid(base), "health": "running"},
        {"name": "neutron-api", "pid": api, "health": "down"},
    ]
    if not daemons[0]["pid"]:
        daemons[0]["health"] = "down"
    agents: list[dict[str, Any]] = []
    error = None
    if api:
        port = neutron_server.api_port(lab.dir)
        daemons[1]["health"] = f"listening 127.0.0.1:{port}"
        try:
            agents = [
                {k: a.get(k) for k in ("agent_type", "binary", "host", "alive", "id")}
                for a in lab.neutron().agents()
            ]
        except LabError as exc:
            error = str(exc)
    return {"daemons": daemons, "agents": agents, "error": error}


def _relay_daemons(lab: Lab, relays: list) -> list[dict[str, Any]]:
    out = []
    for r in relays:
        pid = relay.pid(lab.dir, r)
        health = "down"
        if pid is not None:
            state = "serving" if relay.serving(lab.dir, r) else "not synced"
            health = f"SB relay, {state}, {r.remote()}"
        out.append({"name": f"ovsdb-server-{r.name}", "pid": pid, "health": health})
    return out


def _agent_daemons(lab: Lab, cmp: compute.Compute) -> list[dict[str, Any]]:
    """The agent and its edge, as the agent's own status file reports them."""
    pid = services.agent_pid(lab.dir, cmp)
    try:
        report = json.loads(services.agent_status_file(lab.dir, cmp).read_text())
    except (OSError, ValueError):
        report = {}
    nets = report.get("networks", [])
    served = sum(1 for n in nets if n.get("served"))
    health = "down"
    if pid is not None:
        health = (
            f"sb {report.get('sb', '?')}, registered {report.get('registered', '?')}, "
            f"{served}/{len(nets)} networks served"
        )
    edge = report.get("edge_pid")
    return [
        {"name": "ovnmeta-agent", "pid": pid, "health": health},
        {
            "name": "edge haproxy",
            "pid": edge,
            "health": "running" if edge and alive(edge) else "down",
        },
    ]


def render(report: dict[str, Any]) -> str:
    out = [f"lab {report['name']}  ({report['dir']})", ""]
    rows: list[list[str]] = []
    for node in report["nodes"]:
        for d in node["daemons"]:
            rows.append(
                [
                    node["name"],
                    node["role"],
                    node["ip"],
                    d["name"],
                    str(d["pid"] or "-"),
                    d["health"],
                ]
            )
    neutron = report.get("neutron")
    if neutron:
        for d in neutron["daemons"]:
            rows.append(["host", "neutron", "-", d["name"], str(d["pid"] or "-"), d["health"]])
    out += [tables.render(["NODE", "ROLE", "IP", "DAEMON", "PID", "HEALTH"], rows), ""]
    if neutron:
        agents = sorted(neutron["agents"], key=lambda a: (a["host"] or "", a["agent_type"] or ""))
        rows = [
            [a["host"] or "-", a["agent_type"], a["binary"], "alive" if a["alive"] else "DEAD"]
            for a in agents
        ]
        out += [tables.render(["HOST", "AGENT TYPE (neutron)", "BINARY", "ALIVE"], rows), ""]
        if neutron["error"]:
            out += [f"neutron agents: {neutron['error']}", ""]
    if report["networks"]:
        rows = [
            [n["name"], n["switch"], " ".join(n["cidrs"]), n["metadata_port"] or "-"]
            for n in report["networks"]
        ]
        out += [tables.render(["NETWORK", "SWITCH", "CIDRS", "METADATA PORT"], rows), ""]
    if report["instances"]:
        rows = [
            [v["name"], v["network"], v["compute"], " ".join(v["addresses"]), v["netns"]]
            for v in report["instances"]
        ]
        head = ["INSTANCE", "NETWORK", "COMPUTE", "ADDRESSES", "NAMESPACE"]
        out += [tables.render(head, rows), ""]
    out.append(f"export OVN_NB_DB={report['nb']}")
    out.append(f"export OVN_SB_DB={report['sb']}")
    if report.get("sb_clients"):
        out.append(f"# ovn-controller and agents: {report['sb_clients']}")
    return "\n".join(out)
