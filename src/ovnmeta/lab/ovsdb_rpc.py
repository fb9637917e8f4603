"""A bare OVSDB JSON-RPC client (RFC 7047) on a UNIX socket, for the lab's bulk writes.

ovn-sbctl builds a whole transaction in memory and checks every reference as it goes; tens of
thousands of rows (bench/synthetic_cloud_bench.py) are much faster as raw `transact` calls.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from pathlib import Path

from ovnmeta.core.errors import LabError

_CHUNK = 1 << 20


class OvsdbRpc:
    def __init__(self, path: Path, timeout: float = 300) -> None:
        self._path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(path))
        except OSError as exc:
            self._sock.close()
            raise LabError(f"OVSDB at {path}: {exc}") from exc
        self._buf = b""
        self._decoder = json.JSONDecoder()
        self._next_id = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> OvsdbRpc:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def transact(self, db: str, ops: Sequence[dict]) -> list[dict]:
        """The results of one transaction; any failed operation fails it as one LabError."""
        results = self._call("transact", [db, *ops])
        for i, res in enumerate(results):
            if isinstance(res, dict) and "error" in res:
                what = (
                    f"operation {i} ({ops[i]['op']} {ops[i].get('table', '')})"
                    if i < len(ops)
                    else "commit"
                )
                raise LabError(
                    f"OVSDB {self._path}: {what}: {res['error']}: {res.get('details', '')}"
                )
        return results

    def monitor_cond(self, db: str, requests: dict[str, dict]) -> dict:
        """The initial rows of a `monitor_cond` (table -> uuid -> update); the monitor lives
        as long as this connection."""
        return self._call("monitor_cond", [db, None, requests])

    def _call(self, method: str, params: list) -> list:
        self._next_id += 1
        rid = self._next_id
        self._send({"method": method, "params": params, "id": rid})
        while True:
            msg = self._receive()
            if msg.get("method") == "echo":  # the server's inactivity probe
                self._send({"result": msg.get("params", []), "error": None, "id": msg["id"]})
            elif msg.get("id") == rid:
                if msg.get("error"):
                    raise LabError(f"OVSDB {self._path}: {method}: {msg['error']}")
                return msg["result"]

    def _send(self, msg: dict) -> None:
        self._sock.sendall(json.dumps(msg, separators=(",", ":")).encode())

    def _receive(self) -> dict:
        while True:
            text = self._buf.decode().lstrip()
            if text:
                try:
                    msg, end = self._decoder.raw_decode(text)
                except json.JSONDecodeError:
                    pass  # incomplete: read more
                else:
                    self._buf = text[end:].encode()
                    return msg
            try:
                data = self._sock.recv(_CHUNK)
            except OSError as exc:
                raise LabError(f"OVSDB {self._path}: {exc}") from exc
            if not data:
                raise LabError(f"OVSDB {self._path}: connection closed")
            self._buf += data
