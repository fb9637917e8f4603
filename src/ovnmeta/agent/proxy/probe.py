"""The backend probe of `ovnmeta healthcheck`, answered on the UNIX socket only (pure).

A probe is a request that carries `X-Ovnmeta-Health: backend` and no `X-OVN-Network-ID`. The
edge sets `X-OVN-Network-ID` on every request it forwards (and deletes any client copy of
`X-Ovnmeta-Health`), so only a local process talking to the socket directly can send one;
from an instance the header is gone and the request is an ordinary metadata request.

The agent answers it by calling the metadata backend's root `/` (no signed headers needed;
Nova and `ovnmeta metadata-api` answer 200), so a probe follows the real path socket -> agent
-> Nova, and it is logged at DEBUG only.
"""

from __future__ import annotations

from collections.abc import Sequence

from ovnmeta.agent.proxy import reply

HEADER = "X-Ovnmeta-Health"
VALUE = "backend"
TIMEOUT_S = 3.0  # well below a container healthcheck's 10 s


def is_probe(probe_values: Sequence[str], network_values: Sequence[str]) -> bool:
    return not network_values and [v.strip().lower() for v in probe_values] == [VALUE]


def answer(base_url: str, status: int | None, error: str | None = None) -> reply.Reply:
    """Backend status (None: unreachable, `error` says why) -> the probe's answer: 200 when
    the backend answered below 500, else 503. The body is one line for the operator."""
    if status is None:
        return _text(503, f"metadata backend {base_url} unreachable: {error or 'no answer'}")
    if status >= 500:
        return _text(503, f"metadata backend {base_url} answered {status}")
    return _text(200, f"metadata backend {base_url} answered {status}")


def _text(status: int, line: str) -> reply.Reply:
    return reply.Reply(
        status,
        (("Content-Type", "text/plain; charset=UTF-8"), ("Connection", "close")),
        line.encode(),
    )
