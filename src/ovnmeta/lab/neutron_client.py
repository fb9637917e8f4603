"""A small client of neutron's REST API as the lab runs it (noauth, loopback).

With `auth_strategy = noauth` neutron acts as admin for every request; a request that names a
project in `X-Project-Id` is not admin and then fails its own policy checks on create, so none
is sent: the project goes in the request bodies (`project_id`), as an admin would write it.
"""

import json
import urllib.error
import urllib.request
from typing import Any

from ovnmeta.core.errors import LabError


class Neutron:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 60) -> None:
        self.base = f"http://{host}:{port}/v2.0"
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise LabError(f"neutron {method} {path}: {exc.code} {_fault(exc.read())}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LabError(f"neutron {method} {path}: {reason}") from None
        return json.loads(raw) if raw else {}

    # --- resources -------------------------------------------------------------------------

    def create(self, kind: str, **fields: Any) -> dict[str, Any]:
        return self.request("POST", f"/{kind}s", {kind: fields})[kind]

    def delete(self, kind: str, uuid: str, missing_ok: bool = False) -> None:
        try:
            self.request("DELETE", f"/{kind}s/{uuid}")
        except LabError as exc:
            if not (missing_ok and ": 404 " in str(exc)):
                raise

    def find(self, kind: str, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        return self.request("GET", f"/{kind}s" + (f"?{query}" if query else ""))[f"{kind}s"]

    def agents(self) -> list[dict[str, Any]]:
        return self.find("agent")


def _fault(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()[:200]
    fault = body.get("NeutronError", body)
    if isinstance(fault, dict):
        return str(fault.get("message", fault))[:300]
    return str(fault)[:300]
