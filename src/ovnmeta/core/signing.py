"""The instance-id signature shared by the proxy (signs) and the metadata API (verifies).

HMAC-SHA256 keyed with the UTF-8 shared secret over the UTF-8 instance id, as lowercase hex:
Nova compares exact strings, so the case matters (agent-contract.md section 9).
"""

import hashlib
import hmac


def sign_instance_id(secret: str, instance_id: str) -> str:
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def signature_matches(secret: str, instance_id: str, signature: str) -> bool:
    """Constant-time check of a received signature (exact string compare, as Nova does)."""
    expected = sign_instance_id(secret, instance_id)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape"))


# The agent tells the embedded metadata API whether a request carried a valid session token
# (docs/agent.md "Session tokens"); the API then enforces an instance's `imds_tokens` mode
# without the agent ever reading instance records. Signed like the instance id, with a
# domain-separation label so neither signature can stand in for the other.
TOKEN_STATE_HEADER = "X-Ovnmeta-Token-State"
TOKEN_STATE_SIGNATURE = "X-Ovnmeta-Token-State-Signature"
TOKEN_VALID = "valid"
TOKEN_ABSENT = "absent"
_STATE_LABEL = "ovnmeta token state v1"


def sign_token_state(secret: str, instance_id: str, state: str) -> str:
    message = f"{_STATE_LABEL}\0{instance_id}\0{state}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def token_state_valid(secret: str, instance_id: str, state: str, signature: str) -> bool:
    """True only for a correctly signed `valid`: anything else counts as no token."""
    if state != TOKEN_VALID:
        return False
    expected = sign_token_state(secret, instance_id, state)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape"))
