"""InstanceRecord <-> plain JSON-able dicts (pure).

Used for the store's JSON columns and for `ovnmeta instance show --json`. User data travels
as base64 (`user_data_b64`) because it is binary. `from_dict` treats its input as hostile:
any shape error becomes InvalidRecord naming the field.
"""

import base64
import binascii
import json
from typing import Any

from ovnmeta.metadata_api import model


def key_pair_to_dict(key: model.KeyPair) -> dict[str, Any]:
    return {"name": key.name, "type": key.type, "public_key": key.public_key}


def vif_to_dict(vif: model.Vif) -> dict[str, Any]:
    return {
        "mac": vif.mac,
        "network_id": vif.network_id,
        "port_id": vif.port_id,
        "mtu": vif.mtu,
        "type": vif.type,
        "devname": vif.devname,
        "fixed_ips": [
            {
                "address": ip.address,
                "prefixlen": ip.prefixlen,
                "gateway": ip.gateway,
                "dns": list(ip.dns),
                "routes": [{"network": r.network, "gateway": r.gateway} for r in ip.routes],
                "mode": ip.mode,
                "floating_ip": ip.floating_ip,
            }
            for ip in vif.fixed_ips
        ],
    }


def to_dict(record: model.InstanceRecord, *, user_data: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "uuid": record.uuid,
        "name": record.name,
        "hostname": record.hostname,
        "project_id": record.project_id,
        "availability_zone": record.availability_zone,
        "launch_index": record.launch_index,
        "flavor": record.flavor,
        "key_pairs": [key_pair_to_dict(k) for k in record.key_pairs],
        "metadata": dict(record.metadata),
        "vendor_data": None if record.vendor_data is None else json.loads(record.vendor_data),
        "vifs": [vif_to_dict(v) for v in record.vifs],
        "security_groups": list(record.security_groups),
        "imds_tokens": record.imds_tokens,
        "user_data_bytes": len(record.user_data or b""),
    }
    if user_data:
        raw = record.user_data
        doc["user_data_b64"] = None if raw is None else base64.b64encode(raw).decode()
    return doc


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        raise model.InvalidRecord(f"{key}: must be a list")
    return value


def key_pair_from_dict(doc: Any) -> model.KeyPair:
    if not isinstance(doc, dict):
        raise model.InvalidRecord(f"key pair: {doc!r:.60} is not an object")
    return model.KeyPair(doc.get("name"), doc.get("public_key"), doc.get("type", "ssh"))


def vif_from_dict(doc: Any) -> model.Vif:
    if not isinstance(doc, dict):
        raise model.InvalidRecord(f"vif: {doc!r:.60} is not an object")
    fixed = []
    for ip in _list(doc, "fixed_ips"):
        if not isinstance(ip, dict):
            raise model.InvalidRecord(f"fixed ip: {ip!r:.60} is not an object")
        routes = tuple(_route_from_dict(r) for r in _list(ip, "routes"))
        fixed.append(
            model.FixedIp(
                address=ip.get("address"),
                prefixlen=ip.get("prefixlen"),
                gateway=ip.get("gateway"),
                dns=tuple(_list(ip, "dns")),
                routes=routes,
                mode=ip.get("mode", "static"),
                floating_ip=ip.get("floating_ip"),
            )
        )
    return model.Vif(
        mac=doc.get("mac"),
        network_id=doc.get("network_id", ""),
        port_id=doc.get("port_id", ""),
        mtu=doc.get("mtu"),
        type=doc.get("type", "ovs"),
        devname=doc.get("devname", ""),
        fixed_ips=tuple(fixed),
    )


def _route_from_dict(doc: Any) -> model.Route:
    if not isinstance(doc, dict):
        raise model.InvalidRecord(f"route: {doc!r:.60} is not an object")
    return model.Route(doc.get("network"), doc.get("gateway"))


def from_dict(doc: Any) -> model.InstanceRecord:
    if not isinstance(doc, dict):
        raise model.InvalidRecord("instance: must be a JSON object")
    raw_b64 = doc.get("user_data_b64")
    user_data = None
    if raw_b64 is not None:
        if not isinstance(raw_b64, str) or len(raw_b64) > model.MAX_USER_DATA_B64 + 4:
            raise model.InvalidRecord("user_data_b64: must be base64 text within Nova's limit")
        try:
            user_data = base64.b64decode(raw_b64, validate=True)
        except binascii.Error:
            raise model.InvalidRecord("user_data_b64: is not valid base64") from None
    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise model.InvalidRecord("metadata: must be an object of strings")
    vendor = doc.get("vendor_data")
    try:
        return model.InstanceRecord(
            uuid=doc.get("uuid"),
            name=doc.get("name"),
            hostname=doc.get("hostname"),
            project_id=doc.get("project_id"),
            availability_zone=doc.get("availability_zone"),
            launch_index=doc.get("launch_index", 0),
            flavor=doc.get("flavor", "m1.small"),
            key_pairs=tuple(key_pair_from_dict(k) for k in _list(doc, "key_pairs")),
            user_data=user_data,
            metadata=tuple(metadata.items()),
            vendor_data=None if vendor is None else json.dumps(vendor),
            vifs=tuple(vif_from_dict(v) for v in _list(doc, "vifs")),
            security_groups=tuple(_list(doc, "security_groups"))
            if "security_groups" in doc
            else ("default",),
            imds_tokens=doc.get("imds_tokens", "optional"),
        )
    except (TypeError, ValueError, AttributeError) as exc:  # wrong JSON types in hostile input
        raise model.InvalidRecord(f"instance: malformed field ({exc})") from None
