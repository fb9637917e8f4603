"""The session-token gate in front of the backend (pure): mint, serve, or refuse.

Served by the agent itself and never forwarded, so it works with Nova as the backend too.
One function decides per request, after the instance lookup (a token is bound to the
instance found):

    PUT  /latest/api/token        -> Mint(ttl) | 400 (TTL) | 403 (guest-side proxy)
    other method on that path     -> 405
    any request with a token      -> Serve(valid) | 401 (invalid, expired, another's)
    no token, required here       -> 401
    no token                      -> Serve(absent)

"Required here" is the agent's own configuration (Nova backends); the embedded API also
enforces each instance's mode from the signed token state (core.signing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ovnmeta.agent.proxy import reply, tokens
from ovnmeta.agent.proxy.lookup import Found
from ovnmeta.agent.proxy.request import Guest
from ovnmeta.agent.settings import ProxySettings
from ovnmeta.core.signing import TOKEN_ABSENT, TOKEN_VALID


@dataclass(frozen=True, slots=True)
class Policy:
    default_required: bool
    required_projects: frozenset[str]
    key: bytes

    def __repr__(self) -> str:  # the key never reaches a log line
        n = len(self.required_projects)
        return f"Policy(default_required={self.default_required}, projects={n})"

    def required(self, project_id: str) -> bool:
        return self.default_required or project_id in self.required_projects


def policy_of(settings: ProxySettings) -> Policy:
    return Policy(
        default_required=settings.imds_tokens == "required",
        required_projects=settings.imds_tokens_required_projects,
        key=tokens.key_for(settings.metadata_proxy_shared_secret),
    )


@dataclass(frozen=True, slots=True)
class Headers:
    """The values (all copies) of the headers the gate reads."""

    token: Sequence[str] = ()
    ttl: Sequence[str] = ()
    guest_forwarded: Sequence[str] = ()  # the edge's flag: the guest sent X-Forwarded-For


@dataclass(frozen=True, slots=True)
class Mint:
    ttl_s: int


@dataclass(frozen=True, slots=True)
class Serve:
    token_state: str  # core.signing.TOKEN_VALID or TOKEN_ABSENT


@dataclass(frozen=True, slots=True)
class Refuse:
    reply: reply.Reply
    kind: str  # loglimit key and metric-ish name: "token-invalid", "token-missing", ...
    reason: str


Gate = Mint | Serve | Refuse


def is_token_path(path_qs: str) -> bool:
    path = path_qs.split("?", 1)[0]
    return path == tokens.TOKEN_PATH or path == tokens.TOKEN_PATH + "/"


def gate(
    policy: Policy,
    method: str,
    path_qs: str,
    headers: Headers,
    found: Found,
    guest: Guest,
    now: float,
) -> Gate:
    if is_token_path(path_qs):
        if method != "PUT":
            return Refuse(method_not_allowed(), "token-method", f"{method} on the token path")
        if headers.guest_forwarded:
            # X-Forwarded-For from the guest: a proxy inside it relayed the PUT (SSRF).
            return Refuse(
                reply.error(403, "Token requests relayed by a proxy are refused."),
                "token-forwarded",
                "token PUT carried X-Forwarded-For",
            )
        ttl = tokens.parse_ttl(headers.ttl)
        if isinstance(ttl, tokens.BadTtl):
            return Refuse(reply.bad_request(ttl.message), "token-ttl", ttl.message)
        return Mint(ttl)
    if headers.token:
        if len(headers.token) != 1:
            return Refuse(unauthorized(), "token-invalid", "several token headers")
        verdict = tokens.verify(policy.key, headers.token[0].strip(), binding(found, guest), now)
        if isinstance(verdict, tokens.Invalid):
            return Refuse(unauthorized(), "token-invalid", f"token refused: {verdict.reason}")
        return Serve(TOKEN_VALID)
    if policy.required(found.tenant_id):
        return Refuse(unauthorized(), "token-missing", "no session token (tokens are required)")
    return Serve(TOKEN_ABSENT)


def binding(found: Found, guest: Guest) -> tokens.Binding:
    return tokens.Binding(found.instance_id, guest.network, guest.ip)


def token_reply(token: str, ttl_s: int) -> reply.Reply:
    return reply.Reply(
        200,
        (("Content-Type", "text/plain"), (tokens.TTL_HEADER, str(ttl_s))),
        token.encode(),
    )


def unauthorized() -> reply.Reply:
    return reply.error(401, "A valid session token is required (PUT /latest/api/token).")


def method_not_allowed() -> reply.Reply:
    answer = reply.error(405, "Only PUT is allowed on /latest/api/token.")
    return reply.Reply(405, (*answer.headers, ("Allow", "PUT")), answer.body)
