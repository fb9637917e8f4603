"""Process liveness from /proc, shared by the agent's status, the healthcheck and the lab.

A process counts as alive only if /proc/<pid>/stat shows a state other than Z or X: where
PID 1 reaps late, a dead daemon stays a zombie that still passes `kill -0`.
"""


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False
