"""Deployment parameters (a YAML or JSON mapping) -> validated, frozen values (pure).

The names are those of puppet-neutron's `neutron::agents::ovn_metadata` class (deployment.md
section 2.1), so a TripleO or Packstack hiera dump translates key by key:

    shared_secret: 9f1c...              # one secret for both sides (nova [neutron] uses it too)
    metadata_enabled: true              # TripleO OVNMetadataEnabled; false: config drive instead
    debug: false
    agent:                              # role compute (and networkers serving external ports)
      controller_ips: [192.0.2.11, 192.0.2.12, 192.0.2.13]   # or ovn_sb_connection: ssl:...,...
      ovn_sb_private_key: /etc/pki/ovn/sb.key                # ssl: remotes need all three files
      ovn_sb_certificate: /etc/pki/ovn/sb.crt
      ovn_sb_ca_cert: /etc/pki/ovn/ca.crt
      metadata_host: 192.0.2.10         # the metadata API (or Nova) VIP: an address, not a URL
      metadata_port: 8775
      metadata_protocol: http
      metadata_workers: 2
      rate_limiting: {rate_limit_enabled: true, base_query_rate_limit: 60}
      imds_tokens: optional             # session tokens ([ovnmeta]; docs/agent.md): or required
      imds_tokens_required_projects: [p1]
      imds_token_state: true            # only with ovnmeta's metadata API as the backend
      imds_hop_limit: 1
    metadata_api:                       # role controller
      listen: 192.0.2.11
      port: 8775
      identity_key: /etc/ovnmeta/identity.key   # signs the instance identity document
      identity_cert: /etc/ovnmeta/identity.crt

An option left out is left out of the ini as well (puppet's `<SERVICE DEFAULT>`), so the
service default applies. `parse()` raises `ConfigError("<param>: <what is wrong>")` for the first
problem; checks that need the file system (TLS files exist) are `files_to_check()` for the shell.
Unknown keys are errors: a misspelt option silently ignored is what bites operators.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ovnmeta.agent.settings import BOOT_BURST, RATE_LIMIT_DEFAULTS
from ovnmeta.core import checks
from ovnmeta.core.checks import OvsdbRemote
from ovnmeta.core.errors import ConfigError
from ovnmeta.metadata_api import settings as api

ROLES = ("compute", "controller")

DEFAULT_SB_PORT = 6642
# No `ovs-vsctl set-manager` needed, and the socket is what containers mount.
DEFAULT_OVSDB_CONNECTION = "unix:/run/openvswitch/db.sock"

# Values seen left in place by installers, samples and guides (deployment.md section 8, item 6).
DEFAULT_SECRETS = frozenset(
    {
        "password",
        "secret",
        "changeme",
        "change_me",
        "change-me",
        "s3cr3t",
        "metadata_secret",
        "metadata-secret",
        "shared_secret",
        "neutron",
        "nova",
        "openstack",
        "admin",
        "<service default>",
    }
)


@dataclass(frozen=True, slots=True)
class RateLimits:
    rate_limit_enabled: bool | None = None
    ip_versions: tuple[int, ...] | None = None
    base_window_duration: int | None = None
    base_query_rate_limit: int | None = None
    burst_window_duration: int | None = None
    burst_query_rate_limit: int | None = None


@dataclass(frozen=True, slots=True)
class AgentParams:
    """What a compute's `neutron_ovn_metadata_agent.ini` needs; None means the service default."""

    shared_secret: str = field(repr=False)
    ovn_sb_connection: tuple[OvsdbRemote, ...]
    metadata_host: str
    ovsdb_connection: OvsdbRemote
    ovn_sb_private_key: str | None = None
    ovn_sb_certificate: str | None = None
    ovn_sb_ca_cert: str | None = None
    metadata_port: int | None = None
    metadata_protocol: str | None = None
    metadata_insecure: bool | None = None
    auth_ca_cert: str | None = None
    nova_client_cert: str | None = None
    nova_client_priv_key: str | None = None
    metadata_workers: int | None = None
    metadata_backlog: int | None = None
    state_path: str | None = None
    metadata_proxy_socket: str | None = None
    ovsdb_connection_timeout: int | None = None
    ovsdb_retry_max_interval: int | None = None
    ovsdb_probe_interval: int | None = None
    host: str | None = None
    debug: bool | None = None
    rate_limiting: RateLimits | None = None
    imds_tokens: str | None = None
    imds_tokens_required_projects: tuple[str, ...] | None = None
    imds_token_state: bool | None = None
    imds_hop_limit: int | None = None


@dataclass(frozen=True, slots=True)
class MetadataApiParams:
    """What a controller's metadata API config needs."""

    shared_secret: str = field(repr=False)
    listen: str
    port: int = api.DEFAULT_PORT
    db_path: str = api.DEFAULT_DB_PATH
    dhcp_domain: str | None = None
    vendordata_jsonfile_path: str | None = None
    debug: bool | None = None
    identity_key: str | None = None
    identity_cert: str | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class Deployment:
    metadata_enabled: bool
    agent: AgentParams | None
    metadata_api: MetadataApiParams | None
    warnings: tuple[str, ...] = ()


# -- reading typed values out of a mapping, naming the parameter on error ------------------------


class _Section:
    """Typed access to one mapping; every key must be read once, or it is reported as unknown."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path or 'parameters'}: expected a mapping, got {_kind(data)}")
        bad = [k for k in data if not isinstance(k, str)]
        if bad:
            raise ConfigError(f"{self._name(path, str(bad[0]))}: keys must be strings")
        self._data = data
        self._path = path
        self._read: set[str] = set()

    @staticmethod
    def _name(path: str, key: str) -> str:
        return f"{path}.{key}" if path else key

    def name(self, key: str) -> str:
        return self._name(self._path, key)

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def raw(self, key: str) -> Any:
        self._read.add(key)
        return self._data.get(key)

    def str_(self, key: str, *, required: bool = False) -> str | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise ConfigError(f"{self.name(key)}: required")
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{self.name(key)}: expected a string, got {_kind(value)}")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ConfigError(f"{self.name(key)}: contains a control character (a line break?)")
        return value

    def int_(self, key: str, *, low: int | None = None, high: int | None = None) -> int | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.name(key)}: expected an integer, got {_kind(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low}-{high}" if high is not None else f"{low} or more"
            raise ConfigError(f"{self.name(key)}: {value} is out of range ({bounds})")
        return value

    def bool_(self, key: str) -> bool | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise ConfigError(f"{self.name(key)}: expected true or false, got {_kind(value)}")
        return value

    def list_(self, key: str) -> tuple[str, ...] | None:
        """A list, or a comma-separated string (puppet joins arrays with `,`)."""
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, str):
            items: Sequence[Any] = [v for v in value.split(",") if v.strip()]
        elif isinstance(value, list):
            items = value
        else:
            raise ConfigError(f"{self.name(key)}: expected a list, got {_kind(value)}")
        out = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise ConfigError(f"{self.name(key)}: expected strings, got {_kind(item)}")
            out.append(str(item).strip())
        if not out:
            raise ConfigError(f"{self.name(key)}: empty list")
        return tuple(out)

    def path_(self, key: str) -> str | None:
        value = self.str_(key)
        if value is None:
            return None
        return checks.check_path(self.name(key), value)

    def section(self, key: str) -> _Section | None:
        value = self.raw(key)
        return None if value is None else _Section(value, self.name(key))

    def done(self) -> None:
        unknown = sorted(k for k in self._data if k not in self._read)
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(key, sorted(self._read), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{self.name(key)}: unknown parameter{hint}")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {value!r}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    return type(value).__name__


# -- parse ---------------------------------------------------------------------------------------


def parse(data: Any, role: str) -> Deployment:
    """Validate the whole description and keep what `role` needs (both sections are checked)."""
    if role not in ROLES:
        raise ConfigError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    top = _Section(data, "")
    secret = top.str_("shared_secret")
    debug = top.bool_("debug")
    enabled = top.bool_("metadata_enabled")
    enabled = True if enabled is None else enabled
    agent_sec = top.section("agent")
    api_sec = top.section("metadata_api")
    top.done()

    warnings: list[str] = []  # only about what this role renders
    agent_warnings: list[str] = []
    agent = _agent(agent_sec, secret, debug, agent_warnings) if agent_sec else None
    if role == "compute":
        warnings += agent_warnings
    api = _metadata_api(api_sec, secret, debug) if api_sec else None

    if agent and api and agent.shared_secret != api.shared_secret:
        # Never print either value.
        raise ConfigError(
            "shared_secret: the agent's and the metadata API's secrets differ, so every "
            "signed request would get 403 (set one top-level shared_secret)"
        )
    if enabled and role == "compute" and agent is None:
        raise ConfigError("agent: required for role compute")
    if enabled and role == "controller" and api is None:
        raise ConfigError("metadata_api: required for role controller")
    if not enabled:
        warnings.append(
            "metadata_enabled is false: no metadata service is rendered; instances need a "
            "config drive (nova [DEFAULT] force_config_drive = true)"
        )
    return Deployment(
        metadata_enabled=enabled,
        agent=agent if role == "compute" and enabled else None,
        metadata_api=api if role == "controller" and enabled else None,
        warnings=tuple(warnings),
    )


def check_secret(name: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise ConfigError(
            f"{name}: required and must not be empty (use the value of nova "
            "[neutron] metadata_proxy_shared_secret)"
        )
    if value.strip().lower() in DEFAULT_SECRETS:
        raise ConfigError(
            f"{name}: a well-known default value; generate a random secret "
            "(for example: openssl rand -hex 32)"
        )
    if value != value.strip():
        raise ConfigError(f"{name}: has leading or trailing white space")
    return value


def _secret(sec: _Section, top_secret: str | None) -> str:
    own = sec.str_("shared_secret")
    if own is not None:
        return check_secret(sec.name("shared_secret"), own)
    if top_secret is None:
        raise ConfigError(f"shared_secret: required (or {sec.name('shared_secret')})")
    return check_secret("shared_secret", top_secret)


def _agent(
    sec: _Section, top_secret: str | None, top_debug: bool | None, warnings: list[str]
) -> AgentParams:
    secret = _secret(sec, top_secret)
    tls = {
        name: sec.path_(name)
        for name in ("ovn_sb_private_key", "ovn_sb_certificate", "ovn_sb_ca_cert")
    }
    if any(tls.values()) and not all(tls.values()):
        missing = next(name for name, value in tls.items() if not value)
        raise ConfigError(
            f"{sec.name(missing)}: required with the other southbound TLS files (key, "
            "certificate and CA go together)"
        )
    remotes = _sb_remotes(sec, use_ssl=all(tls.values()))
    if any(r.scheme == "ssl" for r in remotes):
        for name, value in tls.items():
            if not value:
                raise ConfigError(
                    f"{sec.name(name)}: required for the ssl: remotes of the southbound DB"
                )

    metadata_host = checks.check_host(
        sec.name("metadata_host"), sec.str_("metadata_host", required=True) or ""
    )
    if _is_loopback(metadata_host):
        raise ConfigError(
            f"{sec.name('metadata_host')}: {metadata_host!r} is this compute itself; give the "
            "address the metadata API (or Nova metadata) listens on, usually the controllers' VIP"
        )
    protocol = sec.str_("metadata_protocol")
    if protocol is not None:
        checks.check_choice(sec.name("metadata_protocol"), protocol, ("http", "https"))
    insecure = sec.bool_("metadata_insecure")
    ca = sec.path_("auth_ca_cert")
    cert, key = sec.path_("nova_client_cert"), sec.path_("nova_client_priv_key")
    if bool(cert) != bool(key):
        have, missing = (
            ("nova_client_cert", "nova_client_priv_key")
            if cert
            else ("nova_client_priv_key", "nova_client_cert")
        )
        raise ConfigError(f"{sec.name(missing)}: required with {sec.name(have)}")
    if protocol != "https" and (ca or cert or insecure):
        raise ConfigError(
            f"{sec.name('metadata_protocol')}: TLS options are set but the protocol is "
            f"{protocol or 'http (default)'}; set metadata_protocol: https"
        )
    if insecure:
        warnings.append(f"{sec.name('metadata_insecure')}: the Nova certificate is not verified")

    ovsdb = _parse_remotes(
        sec.name("ovsdb_connection"), sec.str_("ovsdb_connection") or DEFAULT_OVSDB_CONNECTION
    )
    if len(ovsdb) != 1:
        raise ConfigError(f"{sec.name('ovsdb_connection')}: expected one remote (the local OVSDB)")
    host = sec.str_("host")
    debug = sec.bool_("debug")
    rate = sec.section("rate_limiting")
    params = AgentParams(
        shared_secret=secret,
        ovn_sb_connection=remotes,
        metadata_host=metadata_host,
        ovsdb_connection=ovsdb[0],
        ovn_sb_private_key=tls["ovn_sb_private_key"],
        ovn_sb_certificate=tls["ovn_sb_certificate"],
        ovn_sb_ca_cert=tls["ovn_sb_ca_cert"],
        metadata_port=sec.int_("metadata_port", low=1, high=65535),
        metadata_protocol=protocol,
        metadata_insecure=insecure,
        auth_ca_cert=ca,
        nova_client_cert=cert,
        nova_client_priv_key=key,
        metadata_workers=sec.int_("metadata_workers", low=0),
        metadata_backlog=sec.int_("metadata_backlog", low=1),
        state_path=sec.path_("state_path"),
        metadata_proxy_socket=sec.path_("metadata_proxy_socket"),
        ovsdb_connection_timeout=sec.int_("ovsdb_connection_timeout", low=1),
        ovsdb_retry_max_interval=sec.int_("ovsdb_retry_max_interval", low=1),
        ovsdb_probe_interval=sec.int_("ovsdb_probe_interval", low=0),
        host=checks.check_host(sec.name("host"), host) if host is not None else None,
        debug=debug if debug is not None else top_debug,
        rate_limiting=_rate_limits(rate, warnings) if rate else None,
        imds_tokens=_choice(sec, "imds_tokens", ("optional", "required")),
        imds_tokens_required_projects=sec.list_("imds_tokens_required_projects"),
        imds_token_state=sec.bool_("imds_token_state"),
        imds_hop_limit=sec.int_("imds_hop_limit", low=1, high=64),
    )
    sec.done()
    return params


def _sb_remotes(sec: _Section, use_ssl: bool) -> tuple[OvsdbRemote, ...]:
    conn_name, ips_name = sec.name("ovn_sb_connection"), sec.name("controller_ips")
    conn = sec.list_("ovn_sb_connection")
    ips = sec.list_("controller_ips")
    port = sec.int_("ovn_sb_port", low=1, high=65535)
    if conn and ips:
        raise ConfigError(f"{ips_name}: give either {conn_name} or {ips_name}, not both")
    if conn:
        if port is not None:
            raise ConfigError(f"{sec.name('ovn_sb_port')}: only used with {ips_name}")
        return _parse_remotes(conn_name, ",".join(conn))
    if not ips:
        raise ConfigError(f"{conn_name}: required (or {ips_name})")
    scheme = "ssl" if use_ssl else "tcp"
    out = []
    for ip in ips:
        host = checks.check_host(ips_name, ip)
        literal = f"[{host}]" if ":" in host else host
        out.append(f"{scheme}:{literal}:{port or DEFAULT_SB_PORT}")
    return _parse_remotes(ips_name, ",".join(out))


def _parse_remotes(name: str, value: str) -> tuple[OvsdbRemote, ...]:
    """checks.parse_remotes, plus a check of each host: it lets `tcp://host:6642` through."""
    remotes = checks.parse_remotes(name, value)
    for r in remotes:
        if r.scheme != "unix":
            host = r.target.rsplit(":", 1)[0]
            try:
                checks.check_host(name, host)
            except ConfigError:
                raise ConfigError(
                    f"{name}: {str(r)!r} is not a tcp:HOST:PORT, ssl:HOST:PORT or unix:PATH remote"
                ) from None
    return remotes


def _rate_limits(sec: _Section, warnings: list[str]) -> RateLimits:
    versions = sec.list_("ip_versions")
    if versions is not None:
        try:
            parsed = checks.ip_versions(versions)
        except ConfigError as exc:
            raise ConfigError(f"{sec.name('ip_versions')}: must list 4 and/or 6") from exc
        versions_t: tuple[int, ...] | None = tuple(sorted(parsed))
    else:
        versions_t = None
    limits = RateLimits(
        rate_limit_enabled=sec.bool_("rate_limit_enabled"),
        ip_versions=versions_t,
        base_window_duration=sec.int_("base_window_duration", low=1),
        base_query_rate_limit=sec.int_("base_query_rate_limit", low=1),
        burst_window_duration=sec.int_("burst_window_duration", low=1),
        burst_query_rate_limit=sec.int_("burst_query_rate_limit", low=1),
    )
    sec.done()
    if limits.rate_limit_enabled:
        low = [
            name
            for name in ("base_query_rate_limit", "burst_query_rate_limit")
            if (getattr(limits, name) or getattr(RATE_LIMIT_DEFAULTS, name)) < BOOT_BURST
        ]
        if low:
            warnings.append(
                f"{sec.name(low[0])}: below the ~{BOOT_BURST} requests of one cloud-init boot; "
                "booting guests will see 429"
            )
    return limits


def _metadata_api(
    sec: _Section, top_secret: str | None, top_debug: bool | None
) -> MetadataApiParams:
    secret = _secret(sec, top_secret)
    listen = checks.check_host(sec.name("listen"), sec.str_("listen", required=True) or "")
    try:
        ipaddress.ip_address(listen)
    except ValueError:
        raise ConfigError(
            f"{sec.name('listen')}: {listen!r} is not an IP address to bind"
        ) from None
    debug = sec.bool_("debug")
    params = MetadataApiParams(
        shared_secret=secret,
        listen=listen,
        port=sec.int_("port", low=1, high=65535) or api.DEFAULT_PORT,
        db_path=sec.path_("db_path") or api.DEFAULT_DB_PATH,
        dhcp_domain=sec.str_("dhcp_domain"),
        vendordata_jsonfile_path=sec.path_("vendordata_jsonfile_path"),
        debug=debug if debug is not None else top_debug,
        identity_key=sec.path_("identity_key"),
        identity_cert=sec.path_("identity_cert"),
        region=sec.str_("region"),
    )
    if (params.identity_key is None) != (params.identity_cert is None):
        raise ConfigError(
            f"{sec.name('identity_key')}: give identity_key and identity_cert together"
        )
    sec.done()
    return params


def _choice(sec: _Section, key: str, choices: tuple[str, ...]) -> str | None:
    value = sec.str_(key)
    if value is not None and value not in choices:
        raise ConfigError(f"{sec.name(key)}: {value!r} is not one of {', '.join(choices)}")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.startswith("localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def files_to_check(deployment: Deployment) -> tuple[tuple[str, str], ...]:
    """(parameter, path) of every file the rendered config names that must exist on this host."""
    out: list[tuple[str, str]] = []
    if deployment.agent:
        a = deployment.agent
        for name in (
            "ovn_sb_private_key",
            "ovn_sb_certificate",
            "ovn_sb_ca_cert",
            "auth_ca_cert",
            "nova_client_cert",
            "nova_client_priv_key",
        ):
            path = getattr(a, name)
            if path:
                out.append((f"agent.{name}", path))
    m = deployment.metadata_api
    for name in ("identity_key", "identity_cert"):
        if m is not None and getattr(m, name):
            out.append((f"metadata_api.{name}", getattr(m, name)))
    if deployment.metadata_api and deployment.metadata_api.vendordata_jsonfile_path:
        out.append(
            (
                "metadata_api.vendordata_jsonfile_path",
                deployment.metadata_api.vendordata_jsonfile_path,
            )
        )
    return tuple(out)
