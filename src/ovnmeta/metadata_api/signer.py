"""Signs instance identity documents with the operator's key, through Debian's `openssl`
(no Python crypto library is a dependency). Blocking: the app calls it in a worker thread.

Signatures are cached per document (a document only changes when its record does), so a
guest polling `/signature` costs one dictionary lookup, not a process, per request.
"""

from __future__ import annotations

import base64
import subprocess
import threading

from ovnmeta.core.errors import ConfigError
from ovnmeta.metadata_api import identity

MAX_CACHED = 4096  # documents; the oldest is dropped first
TIMEOUT_S = 10.0


class SigningError(Exception):
    pass


class Signer:
    def __init__(self, key_path: str, cert_path: str, openssl: str = "openssl") -> None:
        self._key = key_path
        self._cert = cert_path
        self._openssl = openssl
        self._lock = threading.Lock()
        self._cache: dict[bytes, dict[str, bytes]] = {}

    def check(self) -> None:
        """At start-up: both files readable, and the certificate is the key's."""
        cert_pub = self._run("identity_cert", "x509", "-in", self._cert, "-noout", "-pubkey")
        key_pub = self._run("identity_key", "pkey", "-in", self._key, "-pubout")
        if cert_pub.strip() != key_pub.strip():
            raise ConfigError(
                f"identity_cert: {self._cert} is not the certificate of identity_key {self._key}"
            )

    def _run(self, option: str, *args: str, data: bytes = b"") -> bytes:
        try:
            proc = subprocess.run(
                [self._openssl, *args], input=data, capture_output=True, timeout=TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"{option}: cannot run {self._openssl}: {exc}") from exc
        if proc.returncode != 0:
            reason = proc.stderr.decode(errors="replace").strip().splitlines()[:1]
            raise ConfigError(f"{option}: openssl {args[0]} failed: {' '.join(reason)}")
        return proc.stdout

    def sign(self, document: bytes) -> dict[str, bytes]:
        """{leaf: body} for identity.SIGNED; SigningError when openssl fails."""
        with self._lock:
            cached = self._cache.get(document)
        if cached is not None:
            return cached
        cms = ("cms", "-sign", "-binary", "-md", "sha256", "-signer", self._cert)
        try:
            raw = {
                "signature": self._run("identity_key", "dgst", "-sha256", "-sign", self._key,
                                       data=document),
                "pkcs7": self._run("identity_key", *cms, "-inkey", self._key, "-outform", "DER",
                                   data=document),
                "rsa2048": self._run("identity_key", *cms, "-inkey", self._key, "-outform", "DER",
                                     "-nodetach", data=document),
            }  # fmt: skip
        except ConfigError as exc:
            raise SigningError(str(exc)) from exc
        bodies = {leaf: _base64_lines(value) for leaf, value in raw.items()}
        assert set(bodies) == set(identity.SIGNED)
        with self._lock:
            while len(self._cache) >= MAX_CACHED:
                del self._cache[next(iter(self._cache))]
            self._cache[document] = bodies
        return bodies


def _base64_lines(data: bytes) -> bytes:
    """Base64 in 64-character lines, as PEM bodies (and AWS's answers) are."""
    text = base64.b64encode(data)
    return b"\n".join(text[i : i + 64] for i in range(0, len(text), 64))
