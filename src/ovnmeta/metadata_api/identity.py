"""The instance identity document and the `/dynamic/` tree around it (pure).

AWS's shape (`/latest/dynamic/instance-identity/document`): camelCase JSON, pretty-printed,
with the same ids as the EC2 meta-data tree (`render.ec2_ids`), so a relying party can match
what a guest reads there. `accountId` is the project. The signatures over these exact bytes
are made by `metadata_api.signer` with the operator's key and certificate:

    document   the JSON below
    signature  base64 RSA/ECDSA-SHA256 signature of the document (openssl dgst -sign)
    pkcs7      base64 DER PKCS#7 (CMS) signature, detached: verify with -content document
    rsa2048    base64 DER PKCS#7 with the document inside: verify alone, it prints it
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

from ovnmeta.metadata_api import model, render

VERSION = "2017-09-30"  # the document format version AWS still reports
LEAVES = ("document", "pkcs7", "rsa2048", "signature")
SIGNED = ("pkcs7", "rsa2048", "signature")


@dataclass(frozen=True, slots=True)
class Listing:
    body: str


@dataclass(frozen=True, slots=True)
class Leaf:
    name: str  # one of LEAVES


Answer = Listing | Leaf | None  # None: 404


def resolve(rest: tuple[str, ...], enabled: bool) -> Answer:
    """What `/dynamic/<rest>` is; nothing exists without a signing key and certificate."""
    if not enabled:
        return None
    match rest:
        case ():
            return Listing("instance-identity/")
        case ("instance-identity",):
            return Listing("\n".join(LEAVES))
        case ("instance-identity", leaf) if leaf in LEAVES:
            return Leaf(leaf)
    return None


def document(record: model.InstanceRecord, region: str, pending_time: str) -> bytes:
    """The document's bytes: deterministic for one record, so signatures can be cached."""
    instance_id, image_id, _ = render.ec2_ids(record)
    v4 = [ip.address for vif in record.vifs for ip in vif.fixed_ips if ip.version == 4]
    doc = {
        "accountId": record.project_id,
        "architecture": "x86_64",
        "availabilityZone": record.availability_zone or "",
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": image_id,
        "instanceId": instance_id,
        "instanceType": record.flavor,
        "kernelId": None,
        "pendingTime": pending_time,
        "privateIp": v4[0] if v4 else None,
        "ramdiskId": None,
        "region": region,
        "version": VERSION,
    }
    return json.dumps(doc, indent=2).encode()


def pending_time(created_at_unix_s: float) -> str:
    """ISO 8601 UTC to the second, as AWS writes it: 2026-12-01T22:01:37Z."""
    moment = datetime.datetime.fromtimestamp(int(created_at_unix_s), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
