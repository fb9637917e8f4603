"""Request paths -> routes in the two metadata trees (pure).

Nova normalises like `posixpath.normpath` (trailing slash ignored, `.` dropped, `..` collapsed,
never above `/`) and prepends `/ec2` to anything that is not `/openstack...` or `/ec2...`
(nova-metadata-api.md section 3). Unlike `normpath`, a leading `//` is one slash here, so
`//latest` cannot reach a different tree than `/latest`.
"""

from dataclasses import dataclass

MAX_PATH_CHARS = 1024  # the longest real path is under 60 characters

# nova-metadata-api.md section 4, oldest first.
EC2_VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
)
EC2_LATEST = EC2_VERSIONS[-1]

FOLSOM = "2012-08-10"
GRIZZLY = "2013-04-04"
HAVANA = "2013-10-17"
LIBERTY = "2015-10-15"
NEWTON_ONE = "2016-06-30"
NEWTON_TWO = "2016-10-06"
OCATA = "2017-02-22"
ROCKY = "2018-08-27"
VICTORIA = "2020-10-14"
EPOXY = "2025-04-04"
OPENSTACK_VERSIONS = (
    FOLSOM,
    GRIZZLY,
    HAVANA,
    LIBERTY,
    NEWTON_ONE,
    NEWTON_TWO,
    OCATA,
    ROCKY,
    VICTORIA,
    EPOXY,
)
OPENSTACK_LATEST = OPENSTACK_VERSIONS[-1]


@dataclass(frozen=True, slots=True)
class Root:
    """`/`: the EC2 version list, served without any header check."""


@dataclass(frozen=True, slots=True)
class Password:
    """`/openstack/<version>/password` (2013-04-04 and later): GET and POST only."""

    version: str


@dataclass(frozen=True, slots=True)
class Document:
    """Anything else; `tokens` starts with "ec2" or "openstack". It may still be a 404."""

    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Dynamic:
    """`/<ec2 version>/dynamic/...`: the signed instance identity (metadata_api.identity).
    `rest`: the segments after `dynamic`."""

    rest: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NotFound:
    """A path that cannot be in either tree (too long); answered 404 after the header checks."""


Route = Root | Password | Dynamic | Document | NotFound


def openstack_version(name: str) -> str | None:
    """The dated version a request names (`latest` -> newest), or None if unknown."""
    if name == "latest":
        return OPENSTACK_LATEST
    return name if name in OPENSTACK_VERSIONS else None


def ec2_version(name: str) -> str | None:
    if name == "latest":
        return EC2_LATEST
    return name if name in EC2_VERSIONS else None


def normalize(raw: str) -> tuple[str, ...] | None:
    """Path segments after Nova's clean-up, or None for an absurdly long path."""
    if len(raw) > MAX_PATH_CHARS:
        return None
    parts: list[str] = []
    for segment in raw.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return tuple(parts)


def route(raw: str) -> Route:
    parts = normalize(raw)
    if parts is None:
        return NotFound()
    if not parts:
        return Root()
    if parts[0] not in ("ec2", "openstack"):
        parts = ("ec2", *parts)
    dynamic = len(parts) >= 3 and parts[0] == "ec2" and parts[2] == "dynamic"
    if dynamic and ec2_version(parts[1]) is not None:
        return Dynamic(parts[3:])
    if len(parts) == 3 and parts[0] == "openstack" and parts[2] == "password":
        version = openstack_version(parts[1])
        if version is not None and version >= GRIZZLY:
            return Password(version)
    return Document(parts)
