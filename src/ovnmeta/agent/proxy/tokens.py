"""IMDSv2-style session tokens: mint, verify, and the TTL header (pure; time passed in).

A token is stateless: the agent stores nothing per token, so a guest cannot grow its state,
and any compute of the cloud verifies what another minted (restarts, live migration). It is
bound to (instance, network, guest address) without carrying them; verification recomputes
the MAC over the request's own values.

    token = base64url(version:1 | expiry:4 (unix s, big-endian) | nonce:10 | mac:30), 60 chars
    mac   = HMAC-SHA256(key, version|expiry|nonce|len-prefixed instance, network, address)[:30]
    key   = HMAC-SHA256(metadata_proxy_shared_secret, KEY_LABEL)

The label separates this key from the X-Instance-ID-Signature, which uses the secret itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from ovnmeta.core import model

TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_PATH = model.TOKEN_PATH
MIN_TTL_S = 1
MAX_TTL_S = 21600  # six hours, as AWS
KEY_LABEL = b"ovnmeta imds session token key v1"
VERSION = 1
NONCE_BYTES = 10
_MAC_BYTES = 30
_RAW_BYTES = 1 + 4 + NONCE_BYTES + _MAC_BYTES  # 45: base64 without padding
TOKEN_CHARS = 60
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True, slots=True)
class Binding:
    """What a token is valid for: one instance, at one address, on one network."""

    instance_id: str
    network: str
    address: str


@dataclass(frozen=True, slots=True)
class Valid:
    expires_at: int


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str  # for the log: "size", "garbage", "version", "signature", "expired"


Verdict = Valid | Invalid


def key_for(secret: str) -> bytes:
    """The token key, derived from the secret every compute (and Nova) shares."""
    return hmac.new(secret.encode(), KEY_LABEL, hashlib.sha256).digest()


def _mac(key: bytes, head: bytes, binding: Binding) -> bytes:
    parts = [head]
    for value in (binding.instance_id, binding.network, binding.address):
        data = value.encode()
        parts += [len(data).to_bytes(2, "big"), data]  # length-prefixed: no ambiguity
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()[:_MAC_BYTES]


def mint(key: bytes, binding: Binding, now: float, ttl_s: int, nonce: bytes) -> str:
    """A token valid from `now` for `ttl_s` seconds; `nonce` (10 random bytes) only makes
    two tokens of the same second differ."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    head = bytes([VERSION]) + (int(now) + ttl_s).to_bytes(4, "big") + nonce
    raw = head + _mac(key, head, binding)
    return base64.urlsafe_b64encode(raw).decode()


def verify(key: bytes, token: str, binding: Binding, now: float) -> Verdict:
    """Cheap checks first (size, alphabet), then the MAC, then the expiry."""
    if len(token) != TOKEN_CHARS:
        return Invalid("size")
    if not _ALPHABET.issuperset(token):
        return Invalid("garbage")
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return Invalid("garbage")
    if len(raw) != _RAW_BYTES:
        return Invalid("garbage")
    if raw[0] != VERSION:
        return Invalid("version")
    head, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, head, binding)):
        return Invalid("signature")  # forged, or another instance's/address's/network's
    expires_at = int.from_bytes(raw[1:5], "big")
    if now >= expires_at:
        return Invalid("expired")
    return Valid(expires_at)


@dataclass(frozen=True, slots=True)
class BadTtl:
    message: str


def parse_ttl(values: Sequence[str]) -> int | BadTtl:
    """The TTL header of a token PUT: exactly one, decimal digits only, within 1..21600."""
    if not values:
        return BadTtl(f"{TTL_HEADER} is missing.")
    if len(values) > 1:
        return BadTtl(f"{TTL_HEADER} is set more than once.")
    text = values[0].strip()
    # isdecimal() also accepts other scripts' digits; int() would take "+5" and "1_0"
    if not text or len(text) > 5 or not text.isascii() or not text.isdigit():
        return BadTtl(f"{TTL_HEADER} must be an integer from {MIN_TTL_S} to {MAX_TTL_S}.")
    ttl = int(text)
    if not MIN_TTL_S <= ttl <= MAX_TTL_S:
        return BadTtl(f"{TTL_HEADER} must be an integer from {MIN_TTL_S} to {MAX_TTL_S}.")
    return ttl
