"""Instance records as the metadata API sees them (pure).

An `InstanceRecord` checks itself when it is built, so an invalid record cannot reach the
store: everything in it comes from an instance owner and is treated as hostile. Limits follow
Nova where Nova has one (user data: 65535 characters of base64; metadata: 128 items with keys
and values of at most 255 characters; key pair names of at most 255 characters).

Example (what the lab registers):

    InstanceRecord(
        uuid="b65cee2f-8c69-4aeb-be2f-f79742548fc2", name="vm1", hostname="vm1",
        project_id="demo", availability_zone="nova",
        key_pairs=(KeyPair("k1", "ssh-ed25519 AAAAC3Nza... me@host"),),
        user_data=b"#cloud-config\\n", metadata=(("role", "web"),),
        vifs=(Vif(mac="fa:16:3e:00:00:01", port_id="...", network_id="...", mtu=1442,
                  fixed_ips=(FixedIp("10.0.0.11", 24, gateway="10.0.0.1", dns=("10.0.0.2",)),)),),
    )
"""

import base64
import binascii
import ipaddress
import json
import re
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import NewType

from ovnmeta.core.errors import UsageError

InstanceId = NewType("InstanceId", str)

MAX_USER_DATA_B64 = 65535  # Nova's API schema limit on the base64 text
MAX_USER_DATA_BYTES = MAX_USER_DATA_B64 // 4 * 3  # 49149 raw bytes fit in that
MAX_METADATA_ITEMS = 128  # Nova's default metadata_items quota
MAX_FIELD = 255  # Nova's column width for names, metadata keys and values
MAX_KEY_PAIRS = 16
MAX_PUBLIC_KEY = 16384  # an 16384-bit RSA key is about 2.8 KiB; leave room for comments
MAX_VENDOR_DATA = 65536
MAX_VIFS = 16
MAX_FIXED_IPS = 16
MAX_DNS = 8
MAX_ROUTES = 32
MAX_SECURITY_GROUPS = 32

# Link types Nova reports in network_data.json; `ovs` is what OVN ports are.
VIF_TYPES = frozenset({"ovs", "bridge", "vhostuser", "phy", "tap", "other"})
# `dhcp`: DHCP-managed (ipv4_dhcp/ipv6_dhcp, no address in the document); `static`: ipv4/ipv6.
IP_MODES = frozenset({"static", "dhcp", "slaac", "dhcpv6-stateful", "dhcpv6-stateless"})
_V6_ONLY_MODES = frozenset({"slaac", "dhcpv6-stateful", "dhcpv6-stateless"})

_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_KEY_NAME = re.compile(r"[A-Za-z0-9 _.@-]+\Z")  # Nova's key pair name pattern
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidRecord(UsageError):
    """An instance record that must not be stored; the message names the field."""


def _fail(what: str, why: str) -> InvalidRecord:
    return InvalidRecord(f"{what}: {why}")


def _text(what: str, value: object, *, max_len: int = MAX_FIELD, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _fail(what, f"must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(what, "is not valid UTF-8") from None
    if not value and not empty:
        raise _fail(what, "must not be empty")
    if len(value) > max_len:
        raise _fail(what, f"is {len(value)} characters long (limit {max_len})")
    if _CONTROL.search(value):
        raise _fail(what, f"contains control characters: {value[:40]!r}")
    return value


def canonical_uuid(value: str) -> InstanceId:
    """The lowercase 8-4-4-4-12 form, or InvalidRecord."""
    text = _text("uuid", value, max_len=36)
    try:
        parsed = uuidlib.UUID(text)
    except ValueError:
        raise _fail("uuid", f"{text!r} is not a UUID") from None
    if str(parsed) != text.lower():  # refuse the urn:/braced/hex-only spellings
        raise _fail("uuid", f"{text!r} is not in the 8-4-4-4-12 form")
    return InstanceId(str(parsed))


def check_user_data(data: bytes | None) -> bytes | None:
    """Raw user data (any bytes: gzip and MIME are legal), bounded like Nova; b'' means none."""
    if data is None or data == b"":
        return None
    if not isinstance(data, bytes):
        raise _fail("user_data", f"must be bytes, got {type(data).__name__}")
    if len(data) > MAX_USER_DATA_BYTES:
        raise _fail(
            "user_data",
            f"is {len(data)} bytes, over Nova's limit of {MAX_USER_DATA_BYTES} bytes "
            f"({MAX_USER_DATA_B64} characters of base64)",
        )
    return data


def check_vendor_data(text: str | None) -> str | None:
    """Static vendor data as canonical JSON text (an object, a list or a string)."""
    if text is None:
        return None
    _text("vendor_data", text, max_len=MAX_VENDOR_DATA, empty=True)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _fail("vendor_data", f"is not valid JSON ({exc})") from None
    if not isinstance(value, dict | list | str):
        raise _fail("vendor_data", f"must be a JSON object, list or string, not {text[:40]!r}")
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True, slots=True)
class KeyPair:
    name: str
    public_key: str
    type: str = "ssh"

    def __post_init__(self) -> None:
        _text("key pair name", self.name)
        if not _KEY_NAME.match(self.name):
            raise _fail(f"key pair {self.name!r}", "name may only use letters, digits, ' _.@-'")
        if self.type not in ("ssh", "x509"):
            raise _fail(f"key pair {self.name!r}", f"type {self.type!r} is not ssh or x509")
        if not isinstance(self.public_key, str) or not self.public_key.strip():
            raise _fail(f"key pair {self.name!r}", "public key is empty")
        if len(self.public_key) > MAX_PUBLIC_KEY:
            raise _fail(f"key pair {self.name!r}", f"public key is over {MAX_PUBLIC_KEY} chars")
        if self.type == "ssh":
            _check_openssh_key(self.name, self.public_key)
        else:
            _text(
                f"key pair {self.name!r} certificate",
                self.public_key.replace("\n", ""),
                max_len=MAX_PUBLIC_KEY,
            )


def _check_openssh_key(name: str, key: str) -> None:
    _text(f"key pair {name!r} public key", key, max_len=MAX_PUBLIC_KEY)
    parts = key.split()
    if len(parts) < 2 or not re.match(r"(ssh|ecdsa|sk)-[A-Za-z0-9@.-]+\Z", parts[0]):
        raise _fail(f"key pair {name!r}", "public key is not 'TYPE BASE64 [COMMENT]' (OpenSSH)")
    try:
        base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise _fail(f"key pair {name!r}", "public key blob is not base64") from None


def _address(what: str, value: str, version: int | None = None) -> str:
    try:
        addr = ipaddress.ip_address(value)
    except (ValueError, TypeError):
        raise _fail(what, f"{value!r} is not an IP address") from None
    if version is not None and addr.version != version:
        raise _fail(what, f"{value!r} is not an IPv{version} address")
    return str(addr)


@dataclass(frozen=True, slots=True)
class Route:
    network: str  # destination prefix, e.g. "192.168.0.0/16"
    gateway: str

    def __post_init__(self) -> None:
        try:
            net = ipaddress.ip_network(self.network, strict=False)
        except (ValueError, TypeError):
            raise _fail("route", f"{self.network!r} is not a network") from None
        _address("route gateway", self.gateway, net.version)


@dataclass(frozen=True, slots=True)
class FixedIp:
    address: str
    prefixlen: int
    gateway: str | None = None
    dns: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    mode: str = "static"
    floating_ip: str | None = None

    def __post_init__(self) -> None:
        _address("fixed ip", self.address)
        version = self.version
        if not isinstance(self.prefixlen, int) or not 0 <= self.prefixlen <= (
            32 if version == 4 else 128
        ):
            raise _fail(f"fixed ip {self.address}", f"bad prefix length {self.prefixlen!r}")
        if self.gateway is not None:
            _address(f"fixed ip {self.address} gateway", self.gateway, version)
        if len(self.dns) > MAX_DNS or len(self.routes) > MAX_ROUTES:
            raise _fail(f"fixed ip {self.address}", "too many dns servers or routes")
        for server in self.dns:
            _address(f"fixed ip {self.address} dns", server)
        if self.mode not in IP_MODES or (version == 4 and self.mode in _V6_ONLY_MODES):
            raise _fail(f"fixed ip {self.address}", f"mode {self.mode!r} is not valid here")
        if self.floating_ip is not None:
            _address(f"fixed ip {self.address} floating ip", self.floating_ip)

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.address).version


@dataclass(frozen=True, slots=True)
class Vif:
    """One port of the instance; links in network_data.json are matched to NICs by MAC."""

    mac: str
    network_id: str = ""
    port_id: str = ""
    mtu: int | None = None
    type: str = "ovs"
    devname: str = ""  # Nova's `tap` + port id[:11] when empty and a port id is known
    fixed_ips: tuple[FixedIp, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.mac, str) or not _MAC.match(self.mac):
            raise _fail("vif", f"{self.mac!r} is not a lowercase MAC address")
        _text(f"vif {self.mac} network_id", self.network_id, empty=True)
        _text(f"vif {self.mac} port_id", self.port_id, empty=True)
        _text(f"vif {self.mac} devname", self.devname, max_len=15, empty=True)
        if self.mtu is not None and (not isinstance(self.mtu, int) or not 68 <= self.mtu <= 65535):
            raise _fail(f"vif {self.mac}", f"mtu {self.mtu!r} is outside 68..65535")
        if self.type not in VIF_TYPES:
            raise _fail(f"vif {self.mac}", f"type {self.type!r} is not one of {sorted(VIF_TYPES)}")
        if len(self.fixed_ips) > MAX_FIXED_IPS:
            raise _fail(f"vif {self.mac}", f"more than {MAX_FIXED_IPS} fixed ips")


# Session tokens: "required" answers token-less requests 401 (the agent says, by a signed
# header, whether a request carried a valid token: core.signing.TOKEN_STATE_HEADER).
IMDS_TOKEN_MODES = ("optional", "required")


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    uuid: str
    name: str
    hostname: str
    project_id: str
    availability_zone: str | None = None
    key_pairs: tuple[KeyPair, ...] = ()
    user_data: bytes | None = field(default=None, repr=False)
    metadata: tuple[tuple[str, str], ...] = ()  # sorted (key, value) pairs
    vendor_data: str | None = None  # canonical JSON text of this instance's static vendor data
    vifs: tuple[Vif, ...] = ()
    launch_index: int = 0
    flavor: str = "m1.small"
    security_groups: tuple[str, ...] = ("default",)
    imds_tokens: str = "optional"  # session tokens: "optional" or "required" (IMDS_TOKEN_MODES)

    def __post_init__(self) -> None:
        # Normalising setters: the record stays frozen to everyone else.
        object.__setattr__(self, "uuid", canonical_uuid(self.uuid))
        _text("name", self.name)
        _check_hostname(self.hostname)
        _text("project_id", self.project_id)
        if self.availability_zone is not None:
            _text("availability_zone", self.availability_zone)
        if len(self.key_pairs) > MAX_KEY_PAIRS:
            raise _fail("key_pairs", f"{len(self.key_pairs)} key pairs (limit {MAX_KEY_PAIRS})")
        names = [k.name for k in self.key_pairs]
        if len(set(names)) != len(names):
            raise _fail("key_pairs", f"duplicate key pair names in {names!r}")
        object.__setattr__(self, "user_data", check_user_data(self.user_data))
        object.__setattr__(self, "metadata", _check_metadata(self.metadata))
        object.__setattr__(self, "vendor_data", check_vendor_data(self.vendor_data))
        if len(self.vifs) > MAX_VIFS:
            raise _fail("vifs", f"{len(self.vifs)} interfaces (limit {MAX_VIFS})")
        macs = [v.mac for v in self.vifs]
        if len(set(macs)) != len(macs):
            raise _fail("vifs", f"duplicate MAC addresses in {macs!r}")
        if not isinstance(self.launch_index, int) or not 0 <= self.launch_index < 2**31:
            raise _fail("launch_index", f"{self.launch_index!r} is not a small integer")
        _text("flavor", self.flavor)
        if len(self.security_groups) > MAX_SECURITY_GROUPS:
            raise _fail("security_groups", f"more than {MAX_SECURITY_GROUPS} groups")
        for group in self.security_groups:
            _text("security group", group)
        if self.imds_tokens not in IMDS_TOKEN_MODES:
            raise _fail("imds_tokens", f"{self.imds_tokens!r} is not one of {IMDS_TOKEN_MODES}")

    @property
    def meta(self) -> dict[str, str]:
        return dict(self.metadata)


def _check_hostname(hostname: str) -> None:
    _text("hostname", hostname, max_len=253)
    for label in hostname.split("."):
        if not _HOST_LABEL.match(label):
            raise _fail("hostname", f"{hostname!r} is not a valid host name (RFC 1123 labels)")


def _check_metadata(items: object) -> tuple[tuple[str, str], ...]:
    pairs = tuple(items.items()) if isinstance(items, dict) else tuple(items)  # type: ignore[arg-type]
    if len(pairs) > MAX_METADATA_ITEMS:
        raise _fail("metadata", f"{len(pairs)} items (Nova's limit is {MAX_METADATA_ITEMS})")
    seen: dict[str, str] = {}
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise _fail("metadata", f"{pair!r} is not a (key, value) pair")
        key, value = pair
        _text("metadata key", key)
        _text(f"metadata {key!r} value", value, empty=True)
        if key in seen:
            raise _fail("metadata", f"duplicate key {key!r}")
        seen[key] = value
    return tuple(sorted(seen.items()))


def hostname_from_name(name: str) -> str:
    """A host name derived from a display name, the way Nova sanitises it."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower().replace("_", "-").replace(" ", "-"))
    text = text.strip("-.")[:63].strip("-")
    return text or "instance"
