"""`ovnmeta healthcheck`: what each probe saw -> one verdict line and an exit code (pure).

The shell (healthcheck_cli) observes, this module decides. Checks run in a fixed order and
stop at the first failure, so a dead agent is not reported as "backend unreachable":

1. agent       the status file the agent rewrites every few seconds exists, its pid is alive
               and it is fresh (a hung event loop stops rewriting it)
2. southbound  the agent's SB connection is up and this chassis is registered, as recorded by
               the agent: the check itself never talks to the SB (0 SB requests per run)
3. ovsdb       the local OVS DB answers a JSON-RPC echo
4. edge        the main edge haproxy is alive (not a zombie) and answers on its health socket
5. backend     a probe through the agent's UNIX socket, which calls the metadata backend's
               root `/`, gets a non-5xx answer (proxy.probe)

Each check returns `Ok(detail)` or `Failed(reason)`; `verdict` joins them into
"healthy: ..." (exit 0) or "unhealthy: <first reason>" (exit 1).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
MAX_STATUS_AGE_S = 30.0  # the agent rewrites the file every 5 s (agent.status.HEARTBEAT_S)


@dataclass(frozen=True, slots=True)
class Ok:
    detail: str


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


Result = Ok | Failed


@dataclass(frozen=True, slots=True)
class Verdict:
    exit_code: int
    line: str


def verdict(checks: Iterable[Callable[[], Result]]) -> Verdict:
    """Run the checks in order (each one a thunk: the shell's probe plus a decision below)
    and stop at the first failure."""
    details = []
    for check in checks:
        result = check()
        if isinstance(result, Failed):
            return Verdict(EXIT_UNHEALTHY, f"unhealthy: {_one_line(result.reason)}")
        if result.detail:
            details.append(result.detail)
    return Verdict(EXIT_HEALTHY, _one_line("healthy: " + ", ".join(details)))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]


def _when(timestamp: Any, now: float) -> str:
    try:
        ts = float(timestamp)
    except (TypeError, ValueError):
        return "an unknown time"
    at = datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{at} ({max(0, now - ts):.0f} s ago)"


def agent(
    path: str,
    status: Mapping[str, Any] | None,
    error: str | None,
    agent_alive: bool,
    now: float,
    max_age_s: float = MAX_STATUS_AGE_S,
) -> Result:
    """The agent runs and keeps its status file current."""
    if status is None:
        return Failed(f"agent status file {path}: {error or 'missing'}")
    pid = status.get("agent_pid")
    if not agent_alive:
        return Failed(f"agent pid {pid} not running (status file {path})")
    updated = status.get("updated_at")
    if not isinstance(updated, int | float):
        return Failed(f"agent status file {path} has no updated_at (agent too old?)")
    age = now - updated
    if age > max_age_s:
        return Failed(
            f"agent pid {pid} has not updated {path} for {age:.0f} s (hung? limit {max_age_s:g} s)"
        )
    return Ok(f"agent pid {pid}")


def southbound(status: Mapping[str, Any], now: float) -> Result:
    """SB connection state and Chassis_Private registration, as the agent last wrote them."""
    state = status.get("sb")
    chassis = status.get("chassis")
    if state != "connected":
        return Failed(f"southbound {state or 'unknown'} since {_when(status.get('sb_since'), now)}")
    if not status.get("registered"):
        return Failed(f"chassis {chassis} not registered in Chassis_Private yet")
    networks = status.get("networks") or []
    failing = status.get("failing") or []
    return Ok(
        f"chassis {chassis} registered, southbound connected, "
        f"{len(networks)} networks ({len(failing)} failing)"
    )


def ovsdb(remote: str, error: str | None, elapsed_s: float) -> Result:
    if error is not None:
        return Failed(f"OVS DB {remote} not answering: {error}")
    return Ok(f"OVS DB answered in {elapsed_s * 1000:.0f} ms")


def edge(
    pid_file: str, pid: int | None, alive: bool, health_status: int | None, error: str | None
) -> Result:
    """`health_status`/`error`: the edge's own health socket (None when not asked)."""
    if pid is None:
        return Failed(f"edge haproxy not running (no pid in {pid_file})")
    if not alive:
        return Failed(f"edge haproxy pid {pid} not running")
    if health_status != 200:
        why = error or f"answered {health_status}"
        return Failed(f"edge haproxy pid {pid} not answering on its health socket: {why}")
    return Ok(f"edge haproxy pid {pid}")


def backend(socket_path: str, status: int | None, body: str, error: str | None) -> Result:
    """The probe's answer through the agent socket (proxy.probe: 200 or 503 with one line)."""
    if status is None:
        return Failed(f"metadata proxy socket {socket_path}: {error or 'no answer'}")
    line = _one_line(body)
    if status >= 500:
        if line.startswith("metadata backend"):
            return Failed(line)
        return Failed(f"metadata proxy socket {socket_path} answered {status}")
    if not line.startswith("metadata backend"):
        # An agent without the probe: it answered like a guest request without network.
        return Failed(f"metadata proxy socket {socket_path}: no backend probe (answered {status})")
    return Ok(line)
