"""`ovnmeta status`: what this chassis serves, from the status file the agent keeps current."""

from __future__ import annotations

import json
import os

from ovnmeta.core import tables
from ovnmeta.core.errors import UsageError
from ovnmeta.core.procfs import alive


def load(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no status file (has the agent run with this config?)") from exc
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable status file: {exc}") from exc


def enrich(status: dict) -> dict:
    """Liveness is checked now, not taken from the file."""
    return {
        **status,
        "agent_running": alive(status.get("agent_pid")),
        "edge_running": alive(status.get("edge_pid")),
        "namespaces_present": {
            n["network"]: os.path.exists(os.path.join("/run/netns", n["namespace"]))
            for n in status.get("networks", [])
        },
    }


def render_table(s: dict) -> str:
    lines = [
        f"chassis     {s.get('chassis')}  (bridge {s.get('bridge')}, agent id {s.get('agent_id')})",
        f"agent       pid {s.get('agent_pid')} "
        f"{'running' if s['agent_running'] else 'NOT RUNNING'}",
        f"edge        haproxy pid {s.get('edge_pid')} "
        f"{'running' if s['edge_running'] else 'NOT RUNNING'}",
        f"southbound  {s.get('sb')}, registered {s.get('registered')}, sb-cfg {s.get('sb_cfg')}",
        f"socket      {s.get('socket')}",
        "",
    ]
    header = ("NETWORK", "NAMESPACE", "PORTS", "IFACE-ID", "ADDRESSES", "STATE")
    rows: list[tuple[str, ...]] = []
    for n in s.get("networks", []):
        state = "served" if n["served"] else "pending"
        if n.get("failing"):
            state = f"failing x{n['failing']}"
        if not s["namespaces_present"].get(n["network"], False):
            state += " (namespace missing)"
        rows.append(
            (
                n["network"],
                "yes" if s["namespaces_present"].get(n["network"]) else "no",
                "/".join(n["veth"]),
                n["iface_id"],
                " ".join(n["addresses"]),
                state,
            )
        )
    lines.append(tables.render(header, rows))
    lines.append(f"{len(rows)} networks served")
    return "\n".join(lines)
