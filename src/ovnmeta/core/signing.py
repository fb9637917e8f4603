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
