"""Checks on a proxied request, in Nova's order (pure; nova-metadata-api.md section 2).

    1. X-Instance-ID present            -> 400
    2. X-Instance-ID-Signature present  -> 400
    3. X-Tenant-ID present              -> 400
    4. signature matches (constant time) -> 403
    5. instance exists                   -> 404   (check_owner)
    6. instance.project_id == tenant     -> 404   (check_owner, indistinguishable from 5)
    7. imds_tokens "required" and no signed "valid" token state -> 401   (check_token)

The outcome is a value: `Rejected(status, explanation, log)` or None. `log` is for the shell's
warning and never holds the expected signature or the secret.
"""

from dataclasses import dataclass

from ovnmeta.core import signing
from ovnmeta.metadata_api import model

INSTANCE_ID = "X-Instance-ID"
SIGNATURE = "X-Instance-ID-Signature"
TENANT_ID = "X-Tenant-ID"
FORWARDED_FOR = "X-Forwarded-For"
TOKEN_STATE = signing.TOKEN_STATE_HEADER
TOKEN_STATE_SIGNATURE = signing.TOKEN_STATE_SIGNATURE


@dataclass(frozen=True, slots=True)
class Rejected:
    status: int
    explanation: str | None  # None: the status's default text
    log: str = ""


def check_headers(
    instance_id: str | None,
    signature: str | None,
    tenant_id: str | None,
    *,
    secret: str,
    forwarded_for: str | None = None,
) -> Rejected | None:
    """Steps 1-4. An empty header value counts as present, as in Nova."""
    if instance_id is None:
        return Rejected(400, "X-Instance-ID header is missing from request.")
    if signature is None:
        return Rejected(400, "X-Instance-ID-Signature header is missing from request.")
    if tenant_id is None:
        return Rejected(400, "X-Tenant-ID header is missing from request.")
    if not _signature_ok(secret, instance_id, signature):
        return Rejected(
            403,
            "Invalid proxy request signature.",
            log=f"signature {signature[:80]!r} for instance {instance_id[:80]!r} from "
            f"{(forwarded_for or '')[:80]!r} does not match (is the shared secret the same "
            "on the agent?)",
        )
    return None


def _signature_ok(secret: str, instance_id: str, signature: str) -> bool:
    try:
        instance_id.encode("utf-8")
    except UnicodeEncodeError:  # undecodable header bytes: nobody could have signed them
        return False
    return signing.signature_matches(secret, instance_id, signature)


def check_owner(
    record: model.InstanceRecord | None, instance_id: str, tenant_id: str
) -> Rejected | None:
    """Steps 5-6: unknown instance and foreign tenant look the same to the caller."""
    if record is None:
        return Rejected(404, None, log=f"instance {instance_id[:80]!r} is not registered")
    if record.project_id != tenant_id:
        return Rejected(
            404,
            None,
            log=f"tenant_id {tenant_id[:80]!r} does not match project_id "
            f"{record.project_id!r} of instance {record.uuid}",
        )
    return None


def lookup_key(instance_id: str) -> str | None:
    """The store key for a header value, or None when it cannot name any record."""
    try:
        return model.canonical_uuid(instance_id)
    except model.InvalidRecord:
        return None


def check_token(
    record: model.InstanceRecord,
    instance_id: str,
    state: str | None,
    signature: str | None,
    *,
    secret: str,
) -> Rejected | None:
    """Step 7. Only the agent can sign the token state (it verified the guest's token); a
    missing, unsigned or "absent" state is a token-less request. An agent without
    `imds_token_state` sends none, so a required instance behind it gets 401: fail closed."""
    if record.imds_tokens != "required":
        return None
    # instance_id as the agent signed it (X-Instance-ID), not the canonical uuid
    if (
        state is not None
        and signature is not None
        and signing.token_state_valid(secret, instance_id, state, signature)
    ):
        return None
    return Rejected(
        401,
        "A valid session token is required (PUT /latest/api/token).",
        log=f"instance {record.uuid} requires session tokens; request had "
        f"{'no token' if state == signing.TOKEN_ABSENT else 'no signed token state'}",
    )
