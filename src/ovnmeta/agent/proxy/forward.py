"""Build the request to Nova and map Nova's answer to the guest's (agent-contract.md 9, 11)."""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

from ovnmeta.agent.proxy import reply
from ovnmeta.agent.proxy.lookup import Found
from ovnmeta.core.signing import (
    TOKEN_STATE_HEADER,
    TOKEN_STATE_SIGNATURE,
    sign_instance_id,
    sign_token_state,
)

# 401: the embedded API's answer for a token-less request to a token-required instance.
RELAYED = frozenset({200, 400, 401, 403, 404, 409, 500, 502, 503, 504})
_HOP_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
)
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def build(
    found: Found,
    guest_ip: str,
    method: str,
    path_qs: str,
    body: bytes,
    base_url: str,
    secret: str,
    token_state: str | None = None,
) -> UpstreamRequest:
    """Exactly the four headers; no client header is passed on. With `token_state` (only
    for the embedded metadata API, `imds_token_state`), two more: the signed token state."""
    headers: tuple[tuple[str, str], ...] = (
        ("X-Forwarded-For", guest_ip),
        ("X-Instance-ID", found.instance_id),
        ("X-Tenant-ID", found.tenant_id),
        ("X-Instance-ID-Signature", _signature(secret, found.instance_id)),
    )
    if token_state is not None:
        headers += (
            (TOKEN_STATE_HEADER, token_state),
            (TOKEN_STATE_SIGNATURE, sign_token_state(secret, found.instance_id, token_state)),
        )
    return UpstreamRequest(method, base_url + path_qs, headers, body)


@functools.lru_cache(maxsize=4096)
def _signature(secret: str, instance_id: str) -> str:
    """The signature is fixed per instance: an HMAC per request was a tenth of our own code's
    CPU. Bounded like the guest log's keys; a compute runs far fewer instances."""
    return sign_instance_id(secret, instance_id)


def relay(
    status: int, headers: tuple[tuple[str, str], ...], body: bytes, max_plain: int
) -> reply.Reply:
    """Nova's answer -> the guest's. Unexpected codes become 500; gzip bodies are relayed
    plain (upstream does this; cloud-init accepts either) within `max_plain` bytes."""
    if status not in RELAYED:
        return reply.internal_error()
    kept = tuple((k, v) for k, v in headers if k.lower() not in _HOP_HEADERS)
    if body.startswith(GZIP_MAGIC):
        plain = _gunzip(body, max_plain)
        if plain is not None:
            body = plain
        else:  # not really gzip (or too big): pass it on untouched, as declared
            kept += tuple((k, v) for k, v in headers if k.lower() == "content-encoding")
    else:
        kept += tuple((k, v) for k, v in headers if k.lower() == "content-encoding")
    return reply.Reply(status, kept, body)


def _gunzip(body: bytes, max_plain: int) -> bytes | None:
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        plain = d.decompress(body, max_plain)
    except zlib.error:
        return None
    if d.unconsumed_tail or not d.eof:
        return None
    return plain


def hint_for(status: int) -> str | None:
    """The log line an operator needs for the statuses the contract asks us to warn about."""
    if status == 403:
        return (
            "nova answered 403: the signature was refused; metadata_proxy_shared_secret most "
            "likely differs from nova's [neutron] metadata_proxy_shared_secret"
        )
    if status == 500:
        return "nova answered 500: see the nova-api-metadata log"
    return None
