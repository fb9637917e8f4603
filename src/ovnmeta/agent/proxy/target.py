"""The request target as the guest sent it -> the origin-form path Nova gets (RFC 9112 3.2).

A guest with `http_proxy` set (and no `no_proxy` for 169.254.169.254) sends the absolute-form,
`GET http://169.254.169.254/openstack/latest/meta_data.json HTTP/1.1`; the edge passes it on
unchanged. We serve it like the origin-form when it names the metadata service, and refuse any
other host with 400: we are not an open proxy, and a guest asking for another host through us
has a broken proxy configuration that an answer from Nova would only hide.

Works on the raw target (aiohttp's `raw_path`): `path`/`url` are decoded and normalised, and
Nova must see path and query exactly as the guest sent them.
"""

from __future__ import annotations

import ipaddress

from ovnmeta.agent.proxy import reply

METADATA_V4 = ipaddress.IPv4Address("169.254.169.254")
METADATA_V6 = ipaddress.IPv6Address("fe80::a9fe:a9fe")


def origin_form(raw_target: str) -> str | reply.Reply:
    """`/p?q` stays as is; `http://<metadata host>[:80]/p?q` -> `/p?q`; the rest -> 400.
    A `#fragment` (never part of a request target, RFC 9112 3.2) is dropped."""
    raw_target = raw_target.split("#", 1)[0]
    if raw_target.startswith("/"):
        return raw_target
    scheme, sep, rest = raw_target.partition("://")
    if not sep or scheme.lower() != "http":
        # https:// cannot reach a plain-HTTP listener; authority-form (CONNECT) and `*` are
        # not metadata requests.
        return reply.bad_request("Only origin-form or http:// request targets are served.")
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path_qs = rest[:cut], rest[cut:]
    if not is_metadata_authority(authority):
        return reply.bad_request(f"This is the metadata service, not a proxy for {authority!r}.")
    if not path_qs.startswith("/"):  # "http://169.254.169.254" or "...?q": the path is "/"
        path_qs = "/" + path_qs
    return path_qs


def is_metadata_authority(authority: str) -> bool:
    """`169.254.169.254` or `[fe80::a9fe:a9fe]` (any spelling, zone id allowed), port 80."""
    if "@" in authority:  # userinfo: never sent by a sane client to a metadata service
        return False
    if authority.startswith("["):
        host, bracket, port = authority[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return False
        port = port[1:]
        host = host.split("%", 1)[0]  # RFC 6874 zone id: "%25eth0" (or a bare "%eth0")
    else:
        host, _, port = authority.partition(":")
    if port not in ("", "80"):
        return False
    try:
        if authority.startswith("["):
            return ipaddress.IPv6Address(host) == METADATA_V6
        return ipaddress.IPv4Address(host) == METADATA_V4
    except ValueError:  # a name, or not an address of that family
        return False
