"""The metadata proxy on the UNIX socket: edge -> lookup -> Nova -> guest (I/O shell).

Requests are served concurrently on one event loop; the backend is reached through
`upstream.Upstream` (one pooled keep-alive session), and every line a guest can trigger goes
through `guestlog.GuestLog`. Every decision is made by the pure modules (request, target,
imds, lookup, admission, forward, reply); this file only moves bytes, waits and logs outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDictProxy

from ovnmeta.agent.proxy import (
    admission,
    forward,
    guestlog,
    imds,
    lookup,
    probe,
    reply,
    request,
    target,
    tokens,
)
from ovnmeta.agent.proxy.upstream import Upstream
from ovnmeta.agent.settings import ProxySettings

logger = logging.getLogger(__name__)

Observer = Callable[[int, float], None]  # (status, seconds) for metrics


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
        self._runner: web.ServerRunner | None = None
        self._guest = guestlog.GuestLog(settings.guest_log_interval_s, logger)
        self._upstream = Upstream(settings, self._guest)
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
        self._tokens = imds.policy_of(settings)

    @property
    def fairness(self) -> admission.Admission:
        """The slot ledger (read-only use: tests, status)."""
        return self._admission

    async def start(self) -> None:
        s = self._settings
        await self._upstream.open()
        # aiohttp's low-level server, not an Application: every request gets the same
        # handler, so a router (which, matching nothing, built an HTTPNotFound per request)
        # and middlewares were pure cost. It also takes an absolute-form target without a
        # path ("GET http://169.254.169.254 HTTP/1.1", path "") like any other.
        loop = asyncio.get_running_loop()

        def make_request(
            message: RawRequestMessage,
            payload: StreamReader,
            protocol: RequestHandler,
            writer: AbstractStreamWriter,
            task: asyncio.Task[None],
        ) -> web.BaseRequest:
            return web.BaseRequest(
                message, payload, protocol, writer, task, loop, client_max_size=s.max_request_body
            )

        server = web.Server(
            self._handle,
            request_factory=make_request,
            access_log=None,
            logger=self._guest.parser_logger(),
            # SO_KEEPALIVE means nothing on a UNIX socket; aiohttp would set it on every
            # connection the edge opens (one per guest request).
            tcp_keepalive=False,
        )
        self._runner = web.ServerRunner(server, handle_signals=False)
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
        await self._upstream.close()

    async def _handle(self, http: web.BaseRequest) -> web.StreamResponse:
        if probe.is_probe(
            http.headers.getall(probe.HEADER, []), http.headers.getall(request.NETWORK_HEADER, [])
        ):
            answer = await self._upstream.probe()  # not a guest request: no metrics, DEBUG log
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

    async def _answer(self, http: web.BaseRequest) -> reply.Reply:
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
            self._guest.warn(
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
                self._guest.warn(
                    guest,
                    "no-instance",
                    "no instance for %s on network %s: %s",
                    guest.address,
                    guest.network,
                    reason,
                )
                return reply.not_found(guest.network)
            case lookup.Ambiguous(ports=ports):
                self._guest.warn(
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
            self._guest.warn(
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
            guest.ip,
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
            return await self._upstream.call(upstream, outcome, guest)

    @contextlib.asynccontextmanager
    async def _slot(self, guest: request.Guest) -> AsyncIterator[reply.Reply | None]:
        """Hold one of the Nova slots for the block (yields None), or yield the refusal.
        The waiting is here; who waits and who goes next is admission's decision."""
        decision = self._admission.arrive(guest.network, guest.ip, time.monotonic())
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
        s, net, ip = self._settings, guest.network, guest.ip
        option, limit, held = {
            "source": ("in_flight_per_source", s.in_flight_per_source, (net, ip)),
            "network": ("in_flight_per_network", s.in_flight_per_network, (net,)),
            "agent": ("nova_pool_size", s.nova_pool_size, ()),
        }[rejected.reason]
        self._guest.warn(
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


def _gate_headers(h: CIMultiDictProxy[str]) -> imds.Headers:
    return imds.Headers(
        token=h.getall(tokens.TOKEN_HEADER, []),
        ttl=h.getall(tokens.TTL_HEADER, []),
        guest_forwarded=h.getall(request.GUEST_FORWARDED, []),
    )
