"""HTTP/1.1 on the agent's connections to the metadata backend: request bytes out, response
head in (pure; RFC 9112). The pooled I/O around it is `upstream.Pool`.

Only what a Nova-compatible backend needs: a request with our own headers and an optional
body; a response framed by Content-Length, chunked transfer coding or the connection's end.
A general HTTP client (aiohttp's) was most of the agent's CPU time per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HEAD_END = b"\r\n\r\n"
MAX_HEAD = 64 * 1024  # a response head larger than this is refused
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NO_BODY_STATUS = frozenset({204, 304})
_CONTROL = frozenset(map(chr, [*range(32), 127]))


class ProtocolError(ValueError):
    """The backend's answer is not HTTP/1.x we can frame (or too large): the request fails."""


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    headers: tuple[tuple[str, str], ...]
    length: int | None  # body bytes; None: chunked, or until the connection closes
    chunked: bool
    keep_alive: bool  # the connection can carry the next request once the body is read

    @property
    def interim(self) -> bool:
        """1xx: another head follows (101 is never asked for)."""
        return 100 <= self.status < 200


def encode_request(
    method: str, target: str, host: str, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    """The request as bytes. `target` is origin-form (proxy.target) and was parsed by the
    server already; a control character or space in any field is refused anyway, so a guest
    can never split our request to the backend."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method in _BODY_METHODS:
        lines.append(f"Content-Length: {len(body)}")
    if any(_CONTROL.intersection(line) for line in lines) or " " in target + method:
        raise ValueError("control character or space in a request to the backend")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(data: bytes, method: str) -> Head:
    """A response head (status line and header fields, the final CRLF CRLF included)."""
    text = data.decode("latin-1")
    status_line, *fields = text.rstrip("\r\n").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers = []
    for line in fields:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise ProtocolError(f"malformed header line: {line[:80]!r}")
        headers.append((name, value.strip()))
    status = int(code)
    lower: dict[str, list[str]] = {}
    for name, value in headers:
        lower.setdefault(name.lower(), []).append(value)
    tokens = {t.strip().lower() for v in lower.get("connection", []) for t in v.split(",")}
    keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
    if method == "HEAD" or status in _NO_BODY_STATUS or 100 <= status < 200:
        return Head(status, tuple(headers), 0, False, keep_alive)
    codings = [t.strip().lower() for v in lower.get("transfer-encoding", []) for t in v.split(",")]
    if codings:  # RFC 9112 6.3: chunked last frames the body; anything else: until close
        chunked = codings[-1] == "chunked"
        return Head(status, tuple(headers), None, chunked, keep_alive and chunked)
    lengths = {v.strip() for v in lower.get("content-length", [])}
    if not lengths:
        return Head(status, tuple(headers), None, False, False)
    if len(lengths) != 1 or not next(iter(lengths)).isdigit():
        raise ProtocolError(f"bad Content-Length: {sorted(lengths)!r}")
    return Head(status, tuple(headers), int(lengths.pop()), False, keep_alive)


def chunk_size(line: bytes) -> int:
    """The size of a chunk from its size line (extensions ignored)."""
    digits = line.split(b";", 1)[0].strip()
    if not digits or any(c not in b"0123456789abcdefABCDEF" for c in digits):
        raise ProtocolError(f"bad chunk size line: {line[:40]!r}")
    return int(digits, 16)
