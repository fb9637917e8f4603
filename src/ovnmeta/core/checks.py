"""Validators shared by every config loader: one `ConfigError` naming the option (pure);
`key_value` for the `NAME=VALUE` command-line options (a `UsageError`).

check_port("nova_metadata_port", 0)
# ConfigError("nova_metadata_port: 0 is not a TCP port (1-65535)")
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ovnmeta.core.errors import ConfigError, UsageError


@dataclass(frozen=True, slots=True)
class OvsdbRemote:
    """One `tcp:`, `ssl:` or `unix:` remote, as ovsdbapp and the ovs library take it."""

    scheme: str
    target: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"


_REMOTE = re.compile(r"^(tcp|ssl):(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):(\d{1,5})$")


def parse_remotes(option: str, value: str) -> tuple[OvsdbRemote, ...]:
    """`tcp:h:p,ssl:h:p,unix:/path` -> remotes; anything else names the option."""
    remotes = []
    for item in (value or "").split(","):
        item = item.strip()
        if item.startswith("unix:") and len(item) > len("unix:"):
            remotes.append(OvsdbRemote("unix", item[len("unix:") :]))
            continue
        m = _REMOTE.match(item)
        if not m or not 0 < int(m.group(3)) < 65536:
            raise ConfigError(
                f"{option}: {item!r} is not a tcp:HOST:PORT, ssl:HOST:PORT or unix:PATH remote"
            )
        remotes.append(OvsdbRemote(m.group(1), f"{m.group(2)}:{m.group(3)}"))
    return tuple(remotes)


_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*\.?$")


def check_host(option: str, value: str) -> str:
    """An IP address or a DNS name; a URL is the classic mistake, so say so."""
    value = (value or "").strip()
    if "://" in value or "/" in value:
        raise ConfigError(f"{option}: {value!r} looks like a URL; give only the host name or IP")
    literal = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(literal))
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        raise ConfigError(f"{option}: {value!r} is not an IP address or a host name")
    return value


def check_port(option: str, value: int, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if not low <= value <= 65535:
        raise ConfigError(f"{option}: {value} is not a TCP port ({low}-65535)")
    return value


def check_positive(option: str, value: float) -> float:
    if value is None or value <= 0:
        raise ConfigError(f"{option}: must be greater than 0, got {value!r}")
    return value


def check_non_negative(option: str, value: int) -> int:
    if value is None or value < 0:
        raise ConfigError(f"{option}: must be 0 or more, got {value!r}")
    return value


def check_choice(option: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(f"{option}: {value!r} is not one of {', '.join(choices)}")
    return value


def check_path(option: str, value: str) -> str:
    if not value or not posixpath.isabs(value):
        raise ConfigError(f"{option}: {value!r} is not an absolute path")
    return posixpath.normpath(value)


def ip_versions(values: Sequence[str]) -> frozenset[int]:
    try:
        versions = frozenset(int(v) for v in values)
    except ValueError:
        versions = frozenset({0})
    if not versions or not versions <= {4, 6}:
        raise ConfigError(f"ip_versions: {','.join(values)!r} must list 4 and/or 6")
    return versions


def key_value(option: str, text: str) -> tuple[str, str]:
    """`KEY=VALUE` of a repeatable command-line option (`--meta role=web`); the value may be
    empty or hold more `=`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"{option} {text[:60]!r}: expected KEY=VALUE")
    return key, value
