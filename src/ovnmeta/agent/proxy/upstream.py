"""The pooled client to the metadata backend, Nova or the embedded API (I/O shell).

One keep-alive session with the TLS options from the config, answers read within a size bound,
one retry on a fresh connection when a pooled one was closed under us (a Nova restart), and
every failure turned into the Reply the guest gets plus one rate-limited log line.
"""

from __future__ import annotations

import logging
import ssl

import aiohttp

from ovnmeta.agent.proxy import forward, guestlog, lookup, probe, reply, request
from ovnmeta.agent.settings import ProxySettings

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # Nova's largest documents (user data) are far below


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


class Upstream:
    def __init__(self, settings: ProxySettings, guest: guestlog.GuestLog) -> None:
        self._settings = settings
        self._guest = guest
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        s = self._settings
        connector = aiohttp.TCPConnector(
            limit=s.nova_pool_size, ssl=ssl_context(s), keepalive_timeout=30
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # Nova sets no cookies, and none may pass between guests: a jar would only filter
            # (and store) per request.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # gzip is handled by forward.relay, within a size bound
            skip_auto_headers=("User-Agent",),
            timeout=aiohttp.ClientTimeout(total=s.nova_request_timeout_s),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self, upstream: forward.UpstreamRequest, found: lookup.Found, guest: request.Guest
    ) -> reply.Reply:
        assert self._session is not None
        for attempt in (1, 2):
            try:
                status, headers, body = await self._send(upstream)
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
            except aiohttp.ClientError as exc:
                # A kept-alive connection that Nova closed (a Nova restart) fails the first
                # request on it; one more try on a fresh connection is safe when the request
                # cannot have reached Nova, or is a read.
                if attempt == 1 and _retryable(upstream.method, exc):
                    logger.debug("retrying nova request after %s", exc)
                    continue
                self._guest.warn(
                    guest,
                    "nova-down",
                    "nova unreachable at %s: %s",
                    self._settings.nova_base_url,
                    exc,
                )
                return reply.unavailable()
        hint = forward.hint_for(status)
        if hint:
            self._guest.warn(guest, f"nova-{status}", "%s (instance %s)", hint, found.instance_id)
        return forward.relay(status, headers, body, MAX_RESPONSE_BYTES)

    async def probe(self) -> reply.Reply:
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
            length = resp.content_length
            if length is not None and length <= MAX_RESPONSE_BYTES:
                body = await resp.read()  # the parser stops at Content-Length: bounded
            else:  # chunked, or announced too large
                body = await _read_bounded(resp.content, MAX_RESPONSE_BYTES)
            return resp.status, tuple(resp.headers.items()), body


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
