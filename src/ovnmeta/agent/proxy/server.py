"""The metadata proxy on the UNIX socket: edge -> lookup -> Nova -> guest (I/O shell).

Requests are served concurrently on one event loop; the Nova client is one pooled keep-alive
session with the TLS options from the config. Every decision is made by the pure modules
(request, target, lookup, admission, forward, reply, loglimit); this file only moves bytes,
waits and logs outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Hashable

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy

from ovnmeta.agent.proxy import (
    admission,
    forward,
    imds,
    loglimit,
    lookup,
    probe,
    reply,
    request,
    target,
    tokens,
)
from ovnmeta.agent.settings import ProxySettings

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # Nova's largest documents (user data) are far below

Observer = Callable[[int, float], None]  # (status, seconds) for metrics


def ssl_context(settings: ProxySettings) -> ssl.SSLContext | bool:
    """`verify` per agent-contract.md section 9; a client cert only when both halves are set."""
    if settings.nova_metadata_protocol != "https":
        return False
    if settings.nova_metadata_insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=settings.auth_ca_cert)
    if settings.nova_client_cert and settings.nova_client_priv_key:
        ctx.load_cert_chain(settings.nova_client_cert, settings.nova_client_priv_key)
    return ctx


class ProxyServer:
    def __init__(
        self,
        settings: ProxySettings,
        index: lookup.PortIndex,
        observe: Observer | None = None,
        listener: socket.socket | None = None,
    ) -> None:
        """`listener`: an already listening socket (from proxy.holder); else bind our own."""
        self._listener = listener
        self._settings = settings
        self._index = index
        self._observe = observe or (lambda status, seconds: None)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._admission = admission.Admission(
            admission.Limits(
                in_flight=settings.nova_pool_size,  # a slot is a pooled Nova connection
                in_flight_per_network=settings.in_flight_per_network,
                in_flight_per_source=settings.in_flight_per_source,
                queued_per_source=settings.queued_per_source,
                queue_timeout_s=settings.queue_timeout_s,
            )
        )
        self._waiters: dict[admission.Ticket, asyncio.Future[None]] = {}
        self._guest_log = loglimit.LogLimiter(settings.guest_log_interval_s)
        self._tokens = imds.policy_of(settings)

    @property
    def fairness(self) -> admission.Admission:
        """The slot ledger (read-only use: tests, status)."""
        return self._admission

    async def start(self) -> None:
        s = self._settings
        connector = aiohttp.TCPConnector(
            limit=s.nova_pool_size, ssl=ssl_context(s), keepalive_timeout=30
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # gzip is handled by forward.relay, within a size bound
            skip_auto_headers=("User-Agent",),
            timeout=aiohttp.ClientTimeout(total=s.nova_request_timeout_s),
        )
        # A middleware, not a route: an absolute-form target without a path
        # ("GET http://169.254.169.254 HTTP/1.1") has path "" and matches no route.
        app = web.Application(client_max_size=s.max_request_body, middlewares=[self._every])
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, logger=self._parser_logger()
        )
        await self._runner.setup()
        os.makedirs(os.path.dirname(s.metadata_proxy_socket), exist_ok=True)
        if self._listener is not None:
            site: web.BaseSite = web.SockSite(self._runner, self._listener)
        else:
            site = web.UnixSite(self._runner, s.metadata_proxy_socket, backlog=s.metadata_backlog)
        await site.start()
        if self._listener is None and s.metadata_proxy_socket_mode is not None:
            os.chmod(s.metadata_proxy_socket, s.metadata_proxy_socket_mode)
        logger.info("metadata proxy listening on %s", s.metadata_proxy_socket)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @web.middleware
    async def _every(self, http: web.Request, handler: Callable[..., object]) -> web.StreamResponse:
        return await self._handle(http)  # `handler`: the router's match, unused

    async def _handle(self, http: web.Request) -> web.StreamResponse:
        if probe.is_probe(
            http.headers.getall(probe.HEADER, []), http.headers.getall(request.NETWORK_HEADER, [])
        ):
            answer = await self._probe_backend()  # not a guest request: no metrics, DEBUG log
            return web.Response(status=answer.status, headers=answer.headers, body=answer.body)
        started = time.monotonic()
        try:
            answer = await self._answer(http)
        except web.HTTPException:
            raise  # aiohttp's own answers (413 request too large, ...)
        except Exception:
            # The one broad catch of the proxy: a bug must cost one request a 500, not the
            # server; the traceback goes to the log.
            logger.exception("internal error serving %s %s", http.method, http.path)
            answer = reply.internal_error()
        self._observe(answer.status, time.monotonic() - started)
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)

    async def _answer(self, http: web.Request) -> reply.Reply:
        h = http.headers
        guest = request.parse(
            h.getall(request.NETWORK_HEADER, []),
            h.getall(request.FORWARDED_FOR, []),
            h.getall(request.ROUTER_HEADER, []),
        )
        if isinstance(guest, reply.Reply):
            return guest
        # raw_path is the target as sent: the absolute-form stays absolute in it (path and
        # url are decoded, normalised and, for absolute-form, stripped of the host).
        path_qs = target.origin_form(http.raw_path)
        if isinstance(path_qs, reply.Reply):
            self._warn(
                guest,
                "target",
                "refused request target %r from %s on network %s",
                http.raw_path,
                guest.address,
                guest.network,
            )
            return path_qs
        outcome = lookup.find(self._index, guest)
        match outcome:
            case lookup.NotFound(reason=reason):
                self._warn(
                    guest,
                    "no-instance",
                    "no instance for %s on network %s: %s",
                    guest.address,
                    guest.network,
                    reason,
                )
                return reply.not_found(guest.network)
            case lookup.Ambiguous(ports=ports):
                self._warn(
                    guest,
                    "ambiguous",
                    "several ports match %s on network %s: %s (run neutron-ovn-db-sync-util)",
                    guest.address,
                    guest.network,
                    ", ".join(ports),
                    level=logging.ERROR,
                )
                return reply.not_found(guest.network)
        assert isinstance(outcome, lookup.Found)
        # Wall-clock time: tokens outlive this process and cross computes (docs/agent.md).
        gate = imds.gate(
            self._tokens, http.method, path_qs, _gate_headers(h), outcome, guest, time.time()
        )
        if isinstance(gate, imds.Refuse):
            self._warn(
                guest,
                gate.kind,
                "%d for %s on network %s: %s",
                gate.reply.status,
                guest.address,
                guest.network,
                gate.reason,
                level=logging.INFO,
            )
            return gate.reply
        if isinstance(gate, imds.Mint):
            async with self._slot(guest) as refusal:  # bounded like any other request
                if refusal is not None:
                    return refusal
                token = tokens.mint(
                    self._tokens.key,
                    imds.binding(outcome, guest),
                    time.time(),
                    gate.ttl_s,
                    os.urandom(tokens.NONCE_BYTES),
                )
                return imds.token_reply(token, gate.ttl_s)
        body = await http.read()  # bounded by client_max_size; read before taking a slot
        upstream = forward.build(
            outcome,
            str(guest.address),
            http.method,
            path_qs,
            body,
            self._settings.nova_base_url,
            self._settings.metadata_proxy_shared_secret,
            token_state=gate.token_state if self._settings.imds_token_state else None,
        )
        async with self._slot(guest) as refusal:
            if refusal is not None:
                return refusal
            return await self._call_nova(upstream, outcome, guest)

    @contextlib.asynccontextmanager
    async def _slot(self, guest: request.Guest) -> AsyncIterator[reply.Reply | None]:
        """Hold one of the Nova slots for the block (yields None), or yield the refusal.
        The waiting is here; who waits and who goes next is admission's decision."""
        decision = self._admission.arrive(guest.network, str(guest.address), time.monotonic())
        if isinstance(decision, admission.Queued):
            decision = await self._wait(decision)
        if isinstance(decision, admission.Rejected):
            yield self._refuse(guest, decision)
            return
        try:
            yield None
        finally:
            self._release(decision.ticket)

    def _release(self, ticket: admission.Ticket) -> None:
        for granted in self._admission.release(ticket):
            self._waiters.pop(granted).set_result(None)  # the ledger already counts it in

    async def _wait(self, queued: admission.Queued) -> admission.Decision:
        """Until a slot is granted (Admitted) or the deadline passes (give_up's answer).
        The ledger, not the future, says who holds a slot: a grant and the timeout can
        happen in the same loop iteration, and then the slot is ours. (asyncio.wait, not
        wait_for: on 3.11 wait_for drops a cancellation that meets a completed future.)"""
        ticket = queued.ticket
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[ticket] = waiter
        try:
            await asyncio.wait((waiter,), timeout=queued.deadline - time.monotonic())
        except asyncio.CancelledError:  # the handler is cancelled (shutdown)
            self._waiters.pop(ticket, None)
            if isinstance(self._admission.give_up(ticket), admission.Admitted):
                self._release(ticket)  # granted meanwhile: hand it to the next waiter
            raise
        self._waiters.pop(ticket, None)  # popped already if it was granted
        return self._admission.give_up(ticket)

    def _refuse(self, guest: request.Guest, rejected: admission.Rejected) -> reply.Reply:
        s, net, ip = self._settings, guest.network, str(guest.address)
        option, limit, held = {
            "source": ("in_flight_per_source", s.in_flight_per_source, (net, ip)),
            "network": ("in_flight_per_network", s.in_flight_per_network, (net,)),
            "agent": ("nova_pool_size", s.nova_pool_size, ()),
        }[rejected.reason]
        self._warn(
            guest,
            f"refused-{rejected.reason}",
            "%d for %s on network %s: %s share full (%s = %d, %d at nova; %d of its waiting)",
            rejected.status,
            ip,
            net,
            rejected.reason,
            option,
            limit,
            self._admission.in_flight(*held),
            self._admission.queued(net, ip),
        )
        if rejected.status == 429:
            return reply.too_many_requests(rejected.retry_after_s)
        return reply.unavailable(rejected.retry_after_s)

    def _parser_logger(self) -> logging.Logger:
        """aiohttp's own logger for requests it cannot parse (a line or header over its
        limits, which the edge lets through below its 16 kB buffer): it logs a traceback per
        request, and a guest decides how often. One line per interval instead, no traceback."""
        parser_logger = logging.getLogger(f"{__name__}.parser")
        for old in [f for f in parser_logger.filters if isinstance(f, _OnePerInterval)]:
            parser_logger.removeFilter(old)  # a previous server's, in the same process
        parser_logger.addFilter(_OnePerInterval(self._guest_log))
        return parser_logger

    def _warn(
        self, guest: request.Guest, kind: str, msg: str, *args: object, level: int = logging.WARNING
    ) -> None:
        """A line a guest can trigger: at most one per guest_log_interval per (kind, network,
        source), the next one saying how many were suppressed in between."""
        key: Hashable = (kind, guest.network, str(guest.address))
        suppressed = self._guest_log.check(key, time.monotonic())
        if suppressed is None:
            return
        logger.log(level, msg + "%s", *args, loglimit.suffix(suppressed))

    async def _send(
        self, upstream: forward.UpstreamRequest
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        assert self._session is not None
        async with self._session.request(
            upstream.method,
            upstream.url,
            headers=upstream.headers,
            data=upstream.body or None,
            allow_redirects=False,
        ) as resp:
            body = await _read_bounded(resp.content, MAX_RESPONSE_BYTES)
            return resp.status, tuple(resp.headers.items()), body

    async def _call_nova(
        self, upstream: forward.UpstreamRequest, found: lookup.Found, guest: request.Guest
    ) -> reply.Reply:
        assert self._session is not None
        for attempt in (1, 2):
            try:
                status, headers, body = await self._send(upstream)
                break
            except TimeoutError:
                self._warn(
                    guest,
                    "nova-timeout",
                    "nova did not answer within %ss for instance %s",
                    self._settings.nova_request_timeout_s,
                    found.instance_id,
                )
                return reply.error(504, "The remote metadata server did not answer in time.")
            except aiohttp.ClientError as exc:
                # A kept-alive connection that Nova closed (a Nova restart) fails the first
                # request on it; one more try on a fresh connection is safe when the request
                # cannot have reached Nova, or is a read.
                if attempt == 1 and _retryable(upstream.method, exc):
                    logger.debug("retrying nova request after %s", exc)
                    continue
                self._warn(
                    guest,
                    "nova-down",
                    "nova unreachable at %s: %s",
                    self._settings.nova_base_url,
                    exc,
                )
                return reply.unavailable()
        hint = forward.hint_for(status)
        if hint:
            self._warn(guest, f"nova-{status}", "%s (instance %s)", hint, found.instance_id)
        return forward.relay(status, headers, body, MAX_RESPONSE_BYTES)

    async def _probe_backend(self) -> reply.Reply:
        """`ovnmeta healthcheck`: GET the backend's root `/` on the pooled session."""
        assert self._session is not None
        url = self._settings.nova_base_url
        status, error = None, None
        try:
            async with self._session.get(
                url + "/",
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=probe.TIMEOUT_S),
            ) as resp:
                status = resp.status
                await resp.read()
        except TimeoutError:
            error = f"no answer within {probe.TIMEOUT_S:g}s"
        except aiohttp.ClientConnectorError as exc:
            error = str(exc.os_error) or type(exc.os_error).__name__  # without "ssl:default"
        except aiohttp.ClientError as exc:
            error = str(exc) or type(exc).__name__
        answer = probe.answer(url, status, error)
        logger.debug("health probe: %s", answer.body.decode())
        return answer


def _gate_headers(h: CIMultiDictProxy[str]) -> imds.Headers:
    return imds.Headers(
        token=h.getall(tokens.TOKEN_HEADER, []),
        ttl=h.getall(tokens.TTL_HEADER, []),
        guest_forwarded=h.getall(request.GUEST_FORWARDED, []),
    )


def _retryable(method: str, exc: aiohttp.ClientError) -> bool:
    if isinstance(exc, aiohttp.ClientConnectorError):  # never connected: nothing was sent
        return True
    return method in ("GET", "HEAD", "OPTIONS") and isinstance(exc, aiohttp.ClientConnectionError)


async def _read_bounded(stream: aiohttp.StreamReader, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in stream.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise aiohttp.ClientPayloadError(f"nova response larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _OnePerInterval(logging.Filter):
    """Turns aiohttp's "Error handling request" tracebacks into one WARNING per interval."""

    def __init__(self, limiter: loglimit.LogLimiter) -> None:
        super().__init__()
        self._limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        suppressed = self._limiter.check(("unparsable",), time.monotonic())
        if suppressed is None:
            return False
        error = record.exc_info[1] if record.exc_info else None
        detail = error if error is not None else record.getMessage()
        record.msg = "refused a request the HTTP parser could not read: %s%s"
        record.args = (detail, loglimit.suffix(suppressed))
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
