"""One fake HTTP server for every test: a threaded `http.server` on 127.0.0.1 or a UNIX socket.

It records each request as a `Seen` and answers with what a handler function returns, so a
fake Nova, a fake agent socket, an edge health socket and a signing relay are each one small
function, not one more server class:

    with FakeHttp(nova) as upstream:                 # a fake Nova on a free port
        ...  upstream.url, upstream.seen[0].headers["X-Instance-ID"]
    with FakeHttp(fixed(200, "ok"), unix_path=sock):  # an edge health socket
        ...
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import http.server
import json
import os
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple


class Seen(NamedTuple):
    """One request as received (a tuple, so `method, path, headers, body = seen[0]`)."""

    method: str
    path: str  # as sent, query string included
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Seen], Answer]


def nova(request: Seen) -> Answer:
    """Nova's stand-in: the JSON `{"uuid": <X-Instance-ID>}`; `/status/<code>` answers that
    code, `/slow` answers 0.3 s late, `/gzip` with a gzip-encoded body, `/empty` with none."""
    path = request.path.split("?", 1)[0]
    if path.startswith("/status/"):
        return Answer(int(path.rsplit("/", 1)[1]), b"x")
    if path == "/slow":
        time.sleep(0.3)
    if path == "/gzip":
        return Answer(
            body=gzip.compress(b"#cloud-config\n"),
            content_type="application/octet-stream",
            headers=(("Content-Encoding", "gzip"),),
        )
    if path == "/empty":
        return Answer(content_type="application/octet-stream")
    body = json.dumps({"uuid": request.headers.get("X-Instance-ID")}).encode()
    return Answer(body=body, content_type="application/json; charset=utf-8")


class Gate:
    """`nova`, except that `/hold` stays at the fake until `open()`; `holding` counts those
    waiting, so a test watches who is queued where instead of timing anything."""

    def __init__(self, inner: Handler = nova, guard_s: float = 10.0) -> None:
        self.inner = inner
        self.holding = 0
        self._open = threading.Event()
        self._lock = threading.Lock()
        self._guard_s = guard_s  # never hold a handler thread forever in a broken test

    def __call__(self, request: Seen) -> Answer:
        if request.path.split("?", 1)[0] == "/hold":
            with self._lock:
                self.holding += 1
            try:
                self._open.wait(self._guard_s)
            finally:
                with self._lock:
                    self.holding -= 1
        return self.inner(request)

    def open(self) -> None:
        self._open.set()


def fixed(status: int, body: str) -> Handler:
    """The same answer to every request."""
    return lambda _request: Answer(status, body.encode())


def relay(upstream_port: int, headers: Mapping[str, str]) -> Handler:
    """GET the same path from 127.0.0.1:`upstream_port` with `headers` added; relay the answer."""

    def handle(request: Seen) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=10)
        try:
            conn.request("GET", request.path, headers=dict(headers))
            reply = conn.getresponse()
            content_type = reply.getheader("Content-Type") or "text/plain"
            return Answer(reply.status, reply.read(), content_type)
        finally:
            conn.close()

    return handle


class _Tcp(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restart on the same port, as Nova restarting

    def handle_error(self, request, client_address) -> None:
        _quiet_disconnects(lambda: super(_Tcp, self).handle_error(request, client_address))


class _Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        _quiet_disconnects(lambda: super(_Unix, self).handle_error(request, client_address))


def _quiet_disconnects(report: Callable[[], None]) -> None:
    # A client that gave up (a proxy timeout) is part of the test; anything else is a bug.
    if not isinstance(sys.exc_info()[1], ConnectionError):
        report()


class FakeHttp:
    def __init__(self, handler: Handler = nova, unix_path: str | os.PathLike | None = None):
        self.handler = handler
        self.unix_path = os.fspath(unix_path) if unix_path is not None else None
        self.seen: list[Seen] = []
        self.port = 0
        self._server: socketserver.BaseServer | None = None
        self._connections: set[socket.socket] = set()
        fake = self

        class Request(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Nova behind the agent's pool
            # One write per response and no Nagle: otherwise headers and body go in two
            # segments and delayed ACKs add 40 ms to every request.
            wbufsize = 65536
            disable_nagle_algorithm = unix_path is None

            def setup(self) -> None:
                super().setup()
                fake._connections.add(self.connection)

            def finish(self) -> None:
                fake._connections.discard(self.connection)
                super().finish()

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers), body)
                fake.seen.append(seen)
                answer = fake.handler(seen)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        self._request_class = Request

    def start(self, port: int = 0) -> FakeHttp:
        if self.unix_path is not None:
            self._server = _Unix(self.unix_path, self._request_class)
        else:
            self._server = _Tcp(("127.0.0.1", port), self._request_class)
            self.port = self._server.server_address[1]
        server = self._server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Like a dead Nova: the listener and every kept-alive connection go away."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._connections.clear()

    def __enter__(self) -> FakeHttp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
