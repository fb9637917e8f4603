"""The healthcheck verdict (pure): observations in, one line and an exit code out."""

import pytest

from ovnmeta.agent import health
from ovnmeta.agent.health import Failed, Ok

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
PATH = "/var/lib/neutron/ovnmeta/status.json"
STATUS = {
    "agent_pid": 42,
    "updated_at": NOW - 3,
    "chassis": "cmp1",
    "sb": "connected",
    "sb_since": NOW - 600,
    "registered": True,
    "networks": [{"network": "n1"}, {"network": "n2"}],
    "failing": [],
}


def test_all_ok_is_one_healthy_line_and_exit_0():
    v = health.verdict([lambda: Ok("a"), lambda: Ok(""), lambda: Ok("b")])
    assert v == health.Verdict(0, "healthy: a, b")


def test_first_failure_wins_and_later_checks_do_not_run():
    ran = []

    def later():
        ran.append("later")
        return Failed("later")

    v = health.verdict([lambda: Ok("a"), lambda: Failed("first\nreason"), later])
    assert v == health.Verdict(1, "unhealthy: first reason")
    assert ran == []


@pytest.mark.parametrize(
    ("status", "error", "alive", "expected"),
    [
        (STATUS, None, True, Ok("agent pid 42")),
        (None, "missing", False, Failed(f"agent status file {PATH}: missing")),
        (STATUS, None, False, Failed(f"agent pid 42 not running (status file {PATH})")),
        (
            {**STATUS, "updated_at": NOW - 31},
            None,
            True,
            Failed(f"agent pid 42 has not updated {PATH} for 31 s (hung? limit 30 s)"),
        ),
        (
            {k: v for k, v in STATUS.items() if k != "updated_at"},
            None,
            True,
            Failed(f"agent status file {PATH} has no updated_at (agent too old?)"),
        ),
    ],
    ids=["fresh", "no-file", "pid-dead", "stale", "no-stamp"],
)
def test_agent(status, error, alive, expected):
    assert health.agent(PATH, status, error, alive, NOW) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (STATUS, Ok("chassis cmp1 registered, southbound connected, 2 networks (0 failing)")),
        (
            {**STATUS, "sb": "disconnected", "sb_since": NOW - 12},
            Failed("southbound disconnected since 2027-01-15T07:59:48Z (12 s ago)"),
        ),
        (
            {**STATUS, "sb": "connecting", "sb_since": None},
            Failed("southbound connecting since an unknown time"),
        ),
        (
            {**STATUS, "registered": False},
            Failed("chassis cmp1 not registered in Chassis_Private yet"),
        ),
    ],
    ids=["connected", "disconnected", "connecting", "unregistered"],
)
def test_southbound(status, expected):
    assert health.southbound(status, NOW) == expected


def test_ovsdb():
    assert health.ovsdb("unix:/run/db.sock", None, 0.0012) == Ok("OVS DB answered in 1 ms")
    assert health.ovsdb("unix:/run/db.sock", "no answer within 2 s", 2.0) == Failed(
        "OVS DB unix:/run/db.sock not answering: no answer within 2 s"
    )


@pytest.mark.parametrize(
    ("pid", "alive", "code", "error", "expected"),
    [
        (7, True, 200, None, Ok("edge haproxy pid 7")),
        (None, False, None, None, Failed("edge haproxy not running (no pid in /e/haproxy.pid)")),
        (7, False, None, None, Failed("edge haproxy pid 7 not running")),
        (
            7,
            True,
            None,
            "[Errno 111] Connection refused",
            Failed(
                "edge haproxy pid 7 not answering on its health socket: "
                "[Errno 111] Connection refused"
            ),
        ),
    ],
    ids=["alive", "no-pid", "dead", "not-answering"],
)
def test_edge(pid, alive, code, error, expected):
    assert health.edge("/e/haproxy.pid", pid, alive, code, error) == expected


@pytest.mark.parametrize(
    ("status", "body", "error", "expected"),
    [
        (
            200,
            "metadata backend http://n:8775 answered 200",
            None,
            Ok("metadata backend http://n:8775 answered 200"),
        ),
        (
            503,
            "metadata backend http://n:8775 answered 503",
            None,
            Failed("metadata backend http://n:8775 answered 503"),
        ),
        (
            503,
            "metadata backend http://n:8775 unreachable: refused",
            None,
            Failed("metadata backend http://n:8775 unreachable: refused"),
        ),
        (500, "<html>boom</html>", None, Failed("metadata proxy socket /s answered 500")),
        (
            None,
            "",
            "no answer within 5 s",
            Failed("metadata proxy socket /s: no answer within 5 s"),
        ),
        (
            404,
            "<html>Instance was not found</html>",
            None,
            Failed("metadata proxy socket /s: no backend probe (answered 404)"),
        ),
    ],
    ids=["ok", "backend-5xx", "backend-unreachable", "proxy-500", "socket-dead", "old-agent"],
)
def test_backend(status, body, error, expected):
    assert health.backend("/s", status, body, error) == expected
