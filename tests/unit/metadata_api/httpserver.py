"""A real metadata API server on 127.0.0.1 (random port) in a background thread, for tests,
and a signing relay in front of it (a `tests.support.fake_http` server)."""

import asyncio
import http.client
import threading
from dataclasses import dataclass

from ovnmeta.core.signing import sign_instance_id
from ovnmeta.metadata_api import app, settings, store
from tests.support.fake_http import FakeHttp, relay


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str | None
    body: bytes


class ServerThread:
    def __init__(
        self, config: settings.ApiSettings, instances: store.InstanceStore, **app_kwargs: object
    ) -> None:
        self._config = config
        self._instances = instances
        self._app_kwargs = app_kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            app.start(self._config, self._instances, **self._app_kwargs), self._loop
        )
        self._runner, self.port = future.result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        await self._runner.cleanup()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """Sends `path` exactly as given (no client-side normalisation)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            reply = conn.getresponse()
            return Response(reply.status, reply.getheader("Content-Type"), reply.read())
        finally:
            conn.close()


def signing_relay(upstream_port: int, instance_id: str, tenant_id: str, secret: str) -> FakeHttp:
    """A fake metadata agent: adds the three signed headers for one instance and relays.

    cloud-init sends no headers of its own; in a real cloud the OVN metadata agent adds
    them. This relay plays that role on loopback, so cloud-init's readers can be pointed
    at the real API server.
    """
    headers = {
        "X-Instance-ID": instance_id,
        "X-Tenant-ID": tenant_id,
        "X-Instance-ID-Signature": sign_instance_id(secret, instance_id),
        "X-Forwarded-For": "127.0.0.1",
    }
    return FakeHttp(relay(upstream_port, headers))
