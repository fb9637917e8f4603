"""The aiohttp shell of the metadata API: request in, pure decisions, reply out.

Per request: `paths.route` -> (`/` answered at once) -> `validate.check_headers` (400/403)
-> instance lookup through a small per-instance TTL cache (Nova's metadata_cache_expiration)
-> `validate.check_owner` (404) -> `password` handled here against the store, anything else
by `render.render`. Only this module and `serve()` touch aiohttp; only the store touches
SQLite. Store calls run in a worker thread so a busy database never stalls the loop.

Bounds against hostile clients: request line and headers 8190 bytes (aiohttp's parser, 400
beyond), paths over 1024 characters are 404, bodies are only read for a password POST and
then at most 1021 bytes within `request_body_timeout_s`.
"""

import asyncio
import datetime
import logging
import os
import signal
import time
from collections.abc import Callable

from aiohttp import web

from ovnmeta.core.errors import OvnmetaError, StoreError
from ovnmeta.metadata_api import identity, paths, render, settings, signer, store, validate
from ovnmeta.metadata_api.model import InstanceRecord

logger = logging.getLogger(__name__)

MAX_PASSWORD_BYTES = 1020
SEED_BYTES = 512
MAX_WARNED = 1024  # distinct (status, instance) pairs remembered for _warn_once
APP_KEY = web.AppKey("metadata_api", object)


class _InstanceCache:
    """uuid -> record for `ttl_s` seconds; bounded, oldest entry evicted first."""

    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float]) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, InstanceRecord]] = {}

    def get(self, key: str) -> InstanceRecord | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: str, record: InstanceRecord) -> None:
        if self._ttl_s <= 0:
            return
        self._entries.pop(key, None)
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (self._clock() + self._ttl_s, record)


class MetadataApi:
    def __init__(
        self,
        config: settings.ApiSettings,
        instances: store.InstanceStore,
        *,
        clock: Callable[[], float] = time.monotonic,
        entropy: Callable[[int], bytes] = os.urandom,
        today: Callable[[], str] = lambda: datetime.date.today().isoformat(),
    ) -> None:
        self.config = config
        self.store = instances
        self._entropy = entropy
        self._today = today
        self._cache = _InstanceCache(
            config.metadata_cache_expiration, config.cache_max_entries_n, clock
        )
        self._warned: set[tuple[int, str]] = set()
        self._store_failing = False
        self._signer: signer.Signer | None = None
        if config.identity_key and config.identity_cert:
            self._signer = signer.Signer(config.identity_key, config.identity_cert)

    def _warn_once(self, status: int, instance_id: str | None, message: str) -> None:
        """First rejection per (status, instance) at WARNING, repeats at DEBUG: a guest with
        a bad secret retries ~28 times per boot, and hostile ones retry forever."""
        key = (status, (instance_id or "")[:80])
        if key in self._warned:
            logger.debug("%s", message)
            return
        if len(self._warned) >= MAX_WARNED:
            self._warned.clear()
        self._warned.add(key)
        logger.warning("%s (further ones at debug level)", message)

    async def handle(self, request: web.Request) -> web.Response:
        response = await self._handle(request)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %r from %r -> %d",
                request.method,
                request.path[:200],
                request.headers.get(validate.FORWARDED_FOR, ""),
                response.status,
            )
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        route = paths.route(request.path)
        if isinstance(route, paths.Root):
            return _respond(render.root_listing())
        headers = request.headers
        instance_id = headers.get(validate.INSTANCE_ID)
        tenant_id = headers.get(validate.TENANT_ID)
        forwarded_for = headers.get(validate.FORWARDED_FOR, "")
        rejected = validate.check_headers(
            instance_id,
            headers.get(validate.SIGNATURE),
            tenant_id,
            secret=self.config.metadata_proxy_shared_secret,
            forwarded_for=forwarded_for,
        )
        if rejected is not None:
            if rejected.log:
                self._warn_once(rejected.status, instance_id, rejected.log)
            return _respond(render.error(rejected.status, rejected.explanation))
        assert instance_id is not None and tenant_id is not None  # check_headers saw to it
        try:
            record = await self._lookup(instance_id)
        except StoreError as exc:
            # Log the transition, not every request: a broken store fails them all.
            if not self._store_failing:
                logger.error("instance lookups fail, answering 500: %s", exc)
                self._store_failing = True
            else:
                logger.debug("instance lookup failed: %s", exc)
            return _respond(render.error(500))
        if self._store_failing:
            logger.info("instance store readable again")
            self._store_failing = False
        rejected = validate.check_owner(record, instance_id, tenant_id)
        if rejected is not None:
            self._warn_once(rejected.status, instance_id, rejected.log)
            return _respond(render.error(rejected.status, rejected.explanation))
        assert record is not None
        rejected = validate.check_token(
            record,
            instance_id,
            headers.get(validate.TOKEN_STATE),
            headers.get(validate.TOKEN_STATE_SIGNATURE),
            secret=self.config.metadata_proxy_shared_secret,
        )
        if rejected is not None:
            logger.debug("%s", rejected.log)  # a guest's every request in required mode
            return _respond(render.error(rejected.status, rejected.explanation))
        if isinstance(route, paths.NotFound):
            return _respond(render.NOT_FOUND)
        if isinstance(route, paths.Password):
            return _respond(await self._password(request, record))
        if isinstance(route, paths.Dynamic):
            return _respond(await self._dynamic(route, record))
        ctx = render.Context(
            dhcp_domain=self.config.dhcp_domain,
            vendor_data=self.config.vendor_data,
            today=self._today(),
            random_seed=self._entropy(SEED_BYTES),
            remote_address=forwarded_for,
        )
        return _respond(render.render(route.tokens, record, ctx))

    async def _dynamic(self, route: paths.Dynamic, record: InstanceRecord) -> render.Reply:
        answer = identity.resolve(route.rest, self._signer is not None)
        if answer is None:
            return render.NOT_FOUND
        if isinstance(answer, identity.Listing):
            return render.text(answer.body)
        try:
            created = await asyncio.to_thread(self.store.created_at, record.uuid)
        except StoreError as exc:
            logger.error("identity of %s: %s", record.uuid, exc)
            return render.error(500)
        if created is None:
            return render.NOT_FOUND  # removed since the lookup
        doc = identity.document(record, self.config.region, identity.pending_time(created))
        if answer.name == "document":
            return render.Reply(200, "application/json", doc)
        assert self._signer is not None
        try:
            signed = await asyncio.to_thread(self._signer.sign, doc)
        except signer.SigningError as exc:
            logger.error("identity of %s: %s", record.uuid, exc)
            return render.error(500)
        return render.text(signed[answer.name])

    async def _lookup(self, instance_id: str) -> InstanceRecord | None:
        key = validate.lookup_key(instance_id)
        if key is None:
            return None
        record = self._cache.get(key)
        if record is None:
            record = await asyncio.to_thread(self.store.get, key)
            if record is not None:
                self._cache.put(key, record)
        return record

    async def _password(self, request: web.Request, record: InstanceRecord) -> render.Reply:
        """nova-metadata-api.md section 5.5; the store makes check-and-set atomic."""
        try:
            if request.method == "GET":
                value = await asyncio.to_thread(self.store.get_password, record.uuid)
                if value is None:
                    return render.error(400)  # removed since the lookup
                return render.Reply(200, render.HTML, value.encode())
            if request.method != "POST":
                return render.error(400, "GET and POST only are supported.")
            body = await self._bounded_body(request, MAX_PASSWORD_BYTES)
            if body is None:
                return render.error(400, "Request is too large.")
            try:
                password = body.decode("utf-8")
            except UnicodeDecodeError:
                return render.error(400, "Password is not valid UTF-8.")
            result = await asyncio.to_thread(self.store.set_password, record.uuid, password)
        except StoreError as exc:
            logger.error("password of %s: %s", record.uuid, exc)
            return render.error(500)
        except TimeoutError:
            return render.error(400, "Request body was not received in time.")
        if result is store.PasswordResult.CONFLICT:
            return render.error(409)
        if result is store.PasswordResult.GONE:
            return render.error(400)
        logger.info("password stored for instance %s", record.uuid)
        return render.Reply(200, render.HTML, b"")

    async def _bounded_body(self, request: web.Request, limit: int) -> bytes | None:
        """The body if it has at most `limit` bytes, else None; never reads more than limit+1."""
        if request.content_length is not None and request.content_length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self.config.request_body_timeout_s):
            while chunk := await request.content.read(limit + 1 - size):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    return None
        return b"".join(chunks)


def _respond(reply: render.Reply) -> web.Response:
    return web.Response(
        status=reply.status, body=reply.body, headers={"Content-Type": reply.content_type}
    )


def build_app(
    config: settings.ApiSettings, instances: store.InstanceStore, **kwargs: object
) -> web.Application:
    """The aiohttp application; `kwargs` (clock, entropy, today) are for tests."""
    api = MetadataApi(config, instances, **kwargs)  # type: ignore[arg-type]
    app = web.Application(client_max_size=64 * 1024)
    app[APP_KEY] = api
    # Any method on any path: Nova serves data for all of them (password decides itself).
    app.router.add_route("*", "/{tail:.*}", api.handle)
    return app


async def start(
    config: settings.ApiSettings, instances: store.InstanceStore, **app_kwargs: object
) -> tuple[web.AppRunner, int]:
    """Bind and start serving; returns the runner and the bound port (useful with port 0)."""
    runner = web.AppRunner(
        build_app(config, instances, **app_kwargs),
        access_log=None,  # one boot is ~28 requests; no INFO line per request
        handle_signals=False,
        shutdown_timeout=config.shutdown_timeout_s,
        max_line_size=8190,
        max_field_size=8190,
    )
    await runner.setup()
    site = web.TCPSite(runner, config.metadata_listen, config.metadata_listen_port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise OvnmetaError(
            f"metadata API: cannot listen on {config.metadata_listen}:"
            f"{config.metadata_listen_port}: {exc.strerror} (port in use or address not local?)"
        ) from exc
    port = runner.addresses[0][1]
    return runner, port


async def serve(config: settings.ApiSettings) -> None:
    """Run until SIGTERM or SIGINT, then let in-flight requests finish and exit."""
    if config.identity_key and config.identity_cert:
        # A wrong key/certificate pair stops start-up with one line, not every request.
        signer.Signer(config.identity_key, config.identity_cert).check()
    instances = store.InstanceStore(config.db_path)
    try:
        runner, port = await start(config, instances)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        logger.info(
            "listening on http://%s:%d (instances in %s, cache %ds)",
            config.metadata_listen,
            port,
            config.db_path,
            config.metadata_cache_expiration,
        )
        await stop.wait()
        logger.info("stopping: finishing in-flight requests")
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
        logger.info("stopped")
    finally:
        instances.close()
