"""Instance record + path -> reply, for both trees (pure; nova-metadata-api.md sections 3-6).

Listings are newline-separated without a trailing newline; sub-directories end in `/`; EC2
dictionaries are sorted, the OpenStack listings have Nova's fixed order. A path under a leaf
is a 404 (Nova answers 500 there). Randomness, the date and settings come in through
`Context`, so the same inputs always give the same bytes.
"""

import base64
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from ovnmeta.metadata_api import model, paths

TEXT = "text/plain; charset=UTF-8"
JSON = "application/json"
HTML = "text/html; charset=UTF-8"

_TITLES = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
}
_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed or "
    "otherwise incorrect.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    409: "There was a conflict when trying to complete your request.",
    500: "An unknown error has occurred. Please try your request again.",
}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    content_type: str
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a document depends on besides the record."""

    dhcp_domain: str = "novalocal"
    vendor_data: str | None = None  # global StaticJSON (JSON text), used when the record has none
    today: str = "9999-12-31"  # ISO date; OpenStack versions after it are not listed
    random_seed: bytes = b""  # 512 fresh bytes per request, from the shell
    remote_address: str = ""  # X-Forwarded-For: the EC2 local-ipv4 fallback


def error(status: int, explanation: str | None = None) -> Reply:
    """Nova's (webob's) plain-text error page; clients only look at the status."""
    text = explanation or _EXPLANATIONS.get(status, "")
    body = f"{status} {_TITLES.get(status, '')}\n\n{text}\n\n   "
    return Reply(status, TEXT, body.encode())


NOT_FOUND = error(404)


def text(value: str | bytes) -> Reply:
    return Reply(200, TEXT, value if isinstance(value, bytes) else value.encode())


def root_listing() -> Reply:
    return text("\n".join((*paths.EC2_VERSIONS, "latest")))


def render(tokens: tuple[str, ...], record: model.InstanceRecord, ctx: Context) -> Reply:
    """The reply for a Document route (tokens start with "ec2" or "openstack")."""
    if tokens[0] == "openstack":
        return _openstack(tokens[1:], record, ctx)
    return _ec2(tokens[1:], record, ctx)


# --- OpenStack tree -------------------------------------------------------------------------


def _openstack(tokens: tuple[str, ...], record: model.InstanceRecord, ctx: Context) -> Reply:
    if not tokens:
        listed = [v for v in paths.OPENSTACK_VERSIONS if v <= ctx.today]
        return text("\n".join((*listed, "latest")))
    version = paths.openstack_version(tokens[0])
    if version is None:
        return NOT_FOUND
    files = openstack_files(version, record)
    if len(tokens) == 1:
        return text("\n".join(files))
    if len(tokens) > 2 or tokens[1] not in files:
        return NOT_FOUND
    name = tokens[1]
    if name == "meta_data.json":
        return _json(meta_data(record, version, ctx))
    if name == "user_data":
        return text(record.user_data or b"")
    if name == "vendor_data.json":
        return Reply(200, JSON, _vendor_json(record, ctx).encode())
    if name == "vendor_data2.json":
        return Reply(200, JSON, f'{{"static": {_vendor_json(record, ctx)}}}'.encode())
    if name == "network_data.json":
        return Reply(200, TEXT, json.dumps(network_data(record)).encode())
    return NOT_FOUND  # `password` never gets here: paths.route() sends it to the shell


def openstack_files(version: str, record: model.InstanceRecord) -> tuple[str, ...]:
    """A version's listing, in Nova's fixed order."""
    files = ["meta_data.json"]
    if record.user_data is not None:
        files.append("user_data")
    if version >= paths.GRIZZLY:
        files.append("password")
    if version >= paths.HAVANA:
        files.append("vendor_data.json")
    if version >= paths.LIBERTY:
        files.append("network_data.json")
    if version >= paths.NEWTON_TWO:
        files.append("vendor_data2.json")
    return tuple(files)


def _json(value: object) -> Reply:
    return Reply(200, JSON, json.dumps(value).encode())


def _vendor_json(record: model.InstanceRecord, ctx: Context) -> str:
    return record.vendor_data or ctx.vendor_data or "{}"


def hostname(record: model.InstanceRecord, dhcp_domain: str) -> str:
    return f"{record.hostname}.{dhcp_domain}" if dhcp_domain else record.hostname


def meta_data(record: model.InstanceRecord, version: str, ctx: Context) -> dict[str, Any]:
    """meta_data.json in Nova's key order (sorted keys for 2012-08-10, as Nova emits them)."""
    doc: dict[str, Any] = {"uuid": record.uuid}
    if record.metadata:
        doc["meta"] = dict(record.metadata)
    if record.key_pairs:
        ssh = [k for k in record.key_pairs if k.type == "ssh"]
        if ssh:
            doc["public_keys"] = {k.name: k.public_key for k in ssh}
        doc["keys"] = [
            {"name": k.name, "type": k.type, "data": k.public_key} for k in record.key_pairs
        ]
    doc["hostname"] = hostname(record, ctx.dhcp_domain)
    doc["name"] = record.name
    doc["launch_index"] = record.launch_index
    doc["availability_zone"] = record.availability_zone
    if version >= paths.GRIZZLY:
        doc["random_seed"] = base64.b64encode(ctx.random_seed).decode()
    if version >= paths.LIBERTY:
        doc["project_id"] = record.project_id
    if version >= paths.NEWTON_ONE:
        doc["devices"] = []  # no device tagging in this backend
    if version >= paths.VICTORIA:
        doc["dedicated_cpus"] = []
    if version == paths.FOLSOM:
        doc = dict(sorted(doc.items()))
    return doc


def network_data(record: model.InstanceRecord) -> dict[str, Any]:
    """network_data.json: one link per vif, one network per fixed IP, DNS services deduplicated."""
    if not record.vifs:
        return {}
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for index, vif in enumerate(record.vifs):
        link_id = vif.devname or (f"tap{vif.port_id[:11]}" if vif.port_id else f"interface{index}")
        links.append(
            {
                "id": link_id,
                "vif_id": vif.port_id,
                "type": vif.type,
                "mtu": vif.mtu,
                "ethernet_mac_address": vif.mac,
            }
        )
        for ip in vif.fixed_ips:
            networks.append(_network(f"network{len(networks)}", link_id, vif, ip))
            for server in ip.dns:
                service = {"type": "dns", "address": server}
                if service not in services:
                    services.append(service)
    return {"links": links, "networks": networks, "services": services}


def _network(net_id: str, link_id: str, vif: model.Vif, ip: model.FixedIp) -> dict[str, Any]:
    version = ip.version
    if ip.mode == "dhcp":
        return {
            "id": net_id,
            "type": f"ipv{version}_dhcp",
            "link": link_id,
            "network_id": vif.network_id,
        }
    iface = ipaddress.ip_interface(f"{ip.address}/{ip.prefixlen}")
    any_net = "0.0.0.0" if version == 4 else "::"
    routes = []
    if ip.gateway:
        routes.append({"network": any_net, "netmask": any_net, "gateway": ip.gateway})
    for route in ip.routes:
        net = ipaddress.ip_network(route.network, strict=False)
        routes.append(
            {
                "network": str(net.network_address),
                "netmask": str(net.netmask),
                "gateway": route.gateway,
            }
        )
    kind = f"ipv{version}" if ip.mode == "static" else f"ipv6_{ip.mode}"
    return {
        "id": net_id,
        "type": kind,
        "link": link_id,
        "ip_address": ip.address,
        "netmask": str(iface.netmask),
        "routes": routes,
        "network_id": vif.network_id,
        "services": [{"type": "dns", "address": server} for server in ip.dns],
    }


# --- EC2 tree -------------------------------------------------------------------------------


class _Named(dict):
    """A directory that its parent lists under a label (`0=keyname`, with no slash)."""

    def __init__(self, label: str, children: dict[str, Any]) -> None:
        super().__init__(children)
        self.label = label


def _ec2(tokens: tuple[str, ...], record: model.InstanceRecord, ctx: Context) -> Reply:
    if not tokens:
        return root_listing()
    version = paths.ec2_version(tokens[0])
    if version is None:
        return NOT_FOUND  # cloud-init relies on this to fall back to 2009-04-04
    node: Any = ec2_tree(record, version, ctx)
    for token in tokens[1:]:
        if not isinstance(node, dict) or token not in node:
            return NOT_FOUND
        node = node[token]
    if isinstance(node, dict):
        return text("\n".join(_list_entry(key, node[key]) for key in sorted(node)))
    if isinstance(node, tuple):
        return text("\n".join(node))
    return text(node if isinstance(node, bytes) else str(node))


def _list_entry(key: str, child: Any) -> str:
    if isinstance(child, _Named):
        return child.label
    return f"{key}/" if isinstance(child, dict) else key


def _ec2_at_least(required: str, version: str) -> bool:
    return paths.EC2_VERSIONS.index(required) <= paths.EC2_VERSIONS.index(version)


def ec2_ids(record: model.InstanceRecord) -> tuple[str, str, str]:
    """(instance-id, ami-id, reservation-id), stable per UUID (Nova uses database ids)."""
    digits = record.uuid.replace("-", "")
    return f"i-{digits[:8]}", "ami-00000001", f"r-{digits[8:16]}"


def ec2_tree(record: model.InstanceRecord, version: str, ctx: Context) -> dict[str, Any]:
    name = hostname(record, ctx.dhcp_domain)
    fixed_v4 = [ip for vif in record.vifs for ip in vif.fixed_ips if ip.version == 4]
    floating = [ip.floating_ip for vif in record.vifs for ip in vif.fixed_ips if ip.floating_ip]
    instance_id, ami_id, reservation_id = ec2_ids(record)
    md: dict[str, Any] = {
        "ami-id": ami_id,
        "ami-launch-index": str(record.launch_index),
        "ami-manifest-path": "FIXME",
        "instance-id": instance_id,
        "hostname": name,
        "local-ipv4": fixed_v4[0].address if fixed_v4 else ctx.remote_address,
        "reservation-id": reservation_id,
        "security-groups": record.security_groups,
    }
    ssh = [k for k in record.key_pairs if k.type == "ssh"]
    if ssh:
        md["public-keys"] = {
            str(i): _Named(f"{i}={k.name}", {"openssh-key": k.public_key})
            for i, k in enumerate(ssh)
        }
    if _ec2_at_least("2007-01-19", version):
        md["local-hostname"] = name
        md["public-hostname"] = name
        md["public-ipv4"] = floating[0] if floating else ""
    if _ec2_at_least("2007-08-29", version):
        md["instance-type"] = record.flavor
    if _ec2_at_least("2007-12-15", version):
        md["block-device-mapping"] = {"ami": "vda", "root": "/dev/vda"}
    if _ec2_at_least("2008-02-01", version):
        md["placement"] = {"availability-zone": record.availability_zone or ""}
    if _ec2_at_least("2008-09-01", version):
        md["instance-action"] = "none"
    tree: dict[str, Any] = {"meta-data": md}
    if record.user_data is not None:
        tree["user-data"] = record.user_data
    return tree
