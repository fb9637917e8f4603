"""The pooled client to the metadata backend, Nova or the embedded API (I/O shell).

Keep-alive connections (TLS from the config), HTTP/1.1 framed by `http1` (pure), answers read
within a size bound, one retry on a fresh connection when a pooled one was closed under us (a
Nova restart), and every failure turned into the Reply the guest gets plus one rate-limited
log line. Our own small client rather than aiohttp's: the general one was over half of the
agent's CPU time per request (docs/agent.md "Performance").
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from urllib.parse import urlsplit

from ovnmeta.agent.proxy import forward, guestlog, http1, lookup, probe, reply, request
from ovnmeta.agent.settings import ProxySettings

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # Nova's largest documents (user data) are far below
KEEPALIVE_S = 30.0  # an idle pooled connection older than this is closed, not reused
READ_CHUNK = 65536
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


def ssl_context(settings: ProxySettings) -> ssl.SSLContext | None:
    """`verify` per agent-contract.md section 9; a client cert only when both halves are set."""
    if settings.nova_metadata_protocol != "https":
        return None
    if settings.nova_metadata_insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=settings.auth_ca_cert)
    if settings.nova_client_cert and settings.nova_client_priv_key:
        ctx.load_cert_chain(settings.nova_client_cert, settings.nova_client_priv_key)
    return ctx


class ConnectFailed(OSError):
    """No connection to the backend: nothing was sent, a retry is always safe."""


class _Conn:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.idle_since = reader, writer, 0.0

    def usable(self, now: float) -> bool:
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and now - self.idle_since < KEEPALIVE_S
        )

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Idle keep-alive connections to one backend, most recently used first. Never more
    than `size` idle; the number in use is bounded by the agent's admission (one slot, one
    connection), so no request ever waits here."""

    def __init__(self, base_url: str, ctx: ssl.SSLContext | None, size: int) -> None:
        url = urlsplit(base_url)
        self.host = url.hostname or ""
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.host_header = url.netloc
        self._ssl = ctx
        self._size = size
        self._idle: list[_Conn] = []

    def take(self) -> _Conn | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.usable(now):
                return conn
            conn.close()
        return None

    async def connect(self) -> _Conn:
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self._ssl, limit=http1.MAX_HEAD
            )
        except OSError as exc:
            raise ConnectFailed(exc.errno, str(exc) or type(exc).__name__) from exc
        return _Conn(reader, writer)

    def put(self, conn: _Conn) -> None:
        if len(self._idle) >= self._size:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


class Upstream:
    def __init__(self, settings: ProxySettings, guest: guestlog.GuestLog) -> None:
        self._settings = settings
        self._guest = guest
        self._pool: Pool | None = None

    async def open(self) -> None:
        s = self._settings
        self._pool = Pool(s.nova_base_url, ssl_context(s), s.nova_pool_size)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    async def call(
        self, upstream: forward.UpstreamRequest, found: lookup.Found, guest: request.Guest
    ) -> reply.Reply:
        assert self._pool is not None
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(self._settings.nova_request_timeout_s):
                    status, headers, body = await self._send(
                        upstream.method, upstream.url, upstream.headers, upstream.body
                    )
                break
            except TimeoutError:
                self._guest.warn(
                    guest,
                    "nova-timeout",
                    "nova did not answer within %ss for instance %s",
                    self._settings.nova_request_timeout_s,
                    found.instance_id,
                )
                return reply.error(504, "The remote metadata server did not answer in time.")
            except (OSError, EOFError, http1.ProtocolError) as exc:
                # A kept-alive connection that Nova closed (a Nova restart) fails the first
                # request on it; one more try on a fresh connection is safe when the request
                # cannot have reached Nova, or is a read.
                if attempt == 1 and _retryable(upstream.method, exc):
                    logger.debug("retrying nova request after %s", _describe(exc))
                    self._pool.close()  # its other idle connections died the same way
                    continue
                self._guest.warn(
                    guest,
                    "nova-down",
                    "nova unreachable at %s: %s",
                    self._settings.nova_base_url,
                    _describe(exc),
                )
                return reply.unavailable()
        hint = forward.hint_for(status)
        if hint:
            self._guest.warn(guest, f"nova-{status}", "%s (instance %s)", hint, found.instance_id)
        return forward.relay(status, headers, body, MAX_RESPONSE_BYTES)

    async def probe(self) -> reply.Reply:
        """`ovnmeta healthcheck`: GET the backend's root `/` on the pooled connections."""
        assert self._pool is not None
        url = self._settings.nova_base_url
        status, error = None, None
        try:
            async with asyncio.timeout(probe.TIMEOUT_S):
                status, _, _ = await self._send("GET", url + "/", (), b"")
        except TimeoutError:
            error = f"no answer within {probe.TIMEOUT_S:g}s"
        except (OSError, EOFError, http1.ProtocolError) as exc:
            error = _describe(exc)
        answer = probe.answer(url, status, error)
        logger.debug("health probe: %s", answer.body.decode())
        return answer

    async def _send(
        self, method: str, url: str, headers: tuple[tuple[str, str], ...], body: bytes
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        """One exchange on a pooled connection (or a new one); the connection goes back to
        the pool only when the answer was read whole and the backend keeps it open."""
        assert self._pool is not None
        pool = self._pool
        target = url[len(self._settings.nova_base_url) :] or "/"
        data = http1.encode_request(method, target, pool.host_header, headers, body)
        conn = pool.take() or await pool.connect()
        try:
            conn.writer.write(data)
            while True:
                try:
                    raw = await conn.reader.readuntil(http1.HEAD_END)
                except asyncio.LimitOverrunError as exc:
                    raise http1.ProtocolError("nova response head too large") from exc
                head = http1.parse_head(raw, method)
                if not head.interim:
                    break
            answer = await _read_body(conn.reader, head, MAX_RESPONSE_BYTES)
        except BaseException:
            conn.close()  # half-read, timed out or cancelled: never reused
            raise
        if head.keep_alive:
            pool.put(conn)
        else:
            conn.close()
        return head.status, head.headers, answer


def _retryable(method: str, exc: BaseException) -> bool:
    if isinstance(exc, ConnectFailed):  # never connected: nothing was sent
        return True
    # A pooled connection the backend closed under us (reset, or the end of the stream
    # before an answer): a read can go again on a fresh connection.
    return method in IDEMPOTENT and isinstance(exc, (ConnectionError, EOFError))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed before a complete answer"
    return str(exc) or type(exc).__name__


async def _read_body(reader: asyncio.StreamReader, head: http1.Head, limit: int) -> bytes:
    if head.length is not None:
        if head.length > limit:
            raise http1.ProtocolError(f"nova response larger than {limit} bytes")
        return await reader.readexactly(head.length) if head.length else b""
    chunks: list[bytes] = []
    size = 0
    while True:
        if head.chunked:
            n = http1.chunk_size(await reader.readuntil(b"\r\n"))
            if n == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields
                    pass
                break
            chunk = await reader.readexactly(n)
            await reader.readexactly(2)  # the chunk's CRLF
        else:
            chunk = await reader.read(READ_CHUNK)
            if not chunk:
                break
        size += len(chunk)
        if size > limit:
            raise http1.ProtocolError(f"nova response larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
