"""Render the config of one edge haproxy (a shard) for the networks it serves (pure).

One frontend per network, bound inside its namespace (`bind ... namespace ovnmeta-<net>`), all
forwarding to the agent's UNIX socket. Each frontend deletes any client copy of the network,
forwarded-for, router and health-probe headers, then sets its own: a guest cannot pick another
network, spoof its address, trigger the two-header 400 or send a health probe. Those rules are
the same for every network and are written once, in the `guests` defaults section each
network's frontend inherits (`_guest_rules`); what is one network's own stays in its frontend.

Isolation (issue 8): each frontend has its own `maxconn`, each source address within it a
concurrent-connection cap (stick table `conn_cur`, refused before a byte is read), and a
request head must arrive within `timeout http-request`. The global maxconn is sized from the
number of networks (`limits`), so a hostile network fills its own frontend and never the whole
edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ovnmeta.agent.settings import SOURCE_CONN_RATE_WINDOW_S, EdgeSettings
from ovnmeta.core.model import (
    HOP_LIMIT_MARK,
    METADATA_IPV4,
    METADATA_IPV6,
    METADATA_PORT,
    TOKEN_PATH,
    NetworkId,
)


@dataclass(frozen=True, slots=True, order=True)
class Frontend:
    network: NetworkId
    namespace: str
    interface: str  # the namespace end of the veth (the IPv6 bind is scoped to it)
    ipv6: bool


GUEST_FORWARDED = "X-OVN-Guest-Forwarded"  # proxy.request.GUEST_FORWARDED
HEALTH_MAXCONN = 16  # the health frontend: probes from `ovnmeta status`/healthcheck only
HEADROOM = 16  # global connections beyond the sum of the frontends' limits
# Descriptors haproxy needs besides two per connection (guest side, agent side) and one per
# listener: pollers, thread pipes, stats/health sockets, log socket. haproxy 2.6
# asked for 2 x maxconn + 28..41 here; this is an upper bound.
FD_RESERVE = 64
# Per-source entries of one network's tables; the oldest idle entry goes when it is full.
TABLE_SIZE = "10k"
CONN_TABLE_EXPIRE_S = 30


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """Connection limits of one rendering, and the descriptors haproxy will ask for."""

    maxconn: int  # global
    network_maxconn: int  # per frontend
    fds: int
    clamped: bool  # network_maxconn lowered below the configured one to fit the fd limit


def limits(frontends: Sequence[Frontend], s: EdgeSettings, fd_limit: int) -> EdgeLimits:
    """Global maxconn = networks x per-network + health + headroom (at least `edge_maxconn`),
    so every network reaches its own limit before the edge reaches the global one.

    haproxy refuses to start when it cannot get 2 descriptors per connection (`Cannot raise
    FD limit`), so when `fd_limit` (the hard RLIMIT_NOFILE it inherits) is too small the
    per-network limit is lowered to share what there is, rather than failing every network.
    """
    n = len(frontends)
    binds = sum(2 if fe.ipv6 else 1 for fe in frontends)

    def fds(maxconn: int) -> int:
        return 2 * maxconn + binds + 1 + FD_RESERVE  # +1: the health listener

    wanted = max(s.maxconn, n * s.network_maxconn + HEALTH_MAXCONN + HEADROOM)
    if fds(wanted) <= fd_limit:
        return EdgeLimits(wanted, s.network_maxconn, fds(wanted), clamped=False)
    spare = (fd_limit - binds - 1 - FD_RESERVE) // 2 - HEALTH_MAXCONN - HEADROOM
    per_network = max(1, spare // max(n, 1))
    maxconn = n * per_network + HEALTH_MAXCONN + HEADROOM
    return EdgeLimits(maxconn, per_network, fds(maxconn), clamped=True)


def render(
    frontends: Iterable[Frontend], settings: EdgeSettings, fd_limit: int, shard: str = ""
) -> str:
    """`shard`: the prefix of this haproxy's socket names in state_dir ("" for the main one,
    dataplane/edge_shards.py)."""
    frontends = sorted(frontends)
    lim = limits(frontends, settings, fd_limit)
    lines = _global(settings, lim, shard) + _defaults(settings) + _guest_rules(settings)
    lines += _health(settings, shard)
    for fe in frontends:
        lines += _frontend(fe, settings, lim)
    lines += [
        f"backend agent from {EDGE_DEFAULTS}",
        *(["    http-reuse always"] if keeps_alive(settings) else []),
        f"    server agent unix@{settings.backend_socket}",
        "",
    ]
    return "\n".join(lines)


def keeps_alive(s: EdgeSettings) -> bool:
    """Connections to the agent's socket are kept and shared by every guest request (each
    guest request comes on a new connection, so only `http-reuse always` reuses them), with a
    single-threaded edge only: with two threads the idle connection a request found often
    belonged to the other thread, and the sequential path got slower than closing each one
    (docs/agent.md "Performance: the request path"). A connection the agent closes under a
    request (its restart, its idle timeout) is retried by `retry-on`, as a refused connect is."""
    return s.nbthread == 1


def stats_socket_name(shard: str) -> str:
    """A shard's stats socket in state_dir: a reload's new process takes the listeners over
    through it (dataplane/haproxy.py)."""
    return f"{shard}stats.sock"


def _global(s: EdgeSettings, lim: EdgeLimits, shard: str) -> list[str]:
    lines = [
        "# Generated by ovnmeta agent; rewritten on every change.",
        "global",
        f"    maxconn {lim.maxconn}",
        f"    nbthread {s.nbthread}",
        f"    log /dev/log local0 {'debug' if s.debug else 'info'}",
        # A replaced process keeps serving its open connections after a reload, then leaves.
        "    hard-stop-after 60s",
        # haproxy's own HTTP client (Lua, the CLI's `httpclient`; the edge uses neither)
        # loads every system CA at each start unless told not to verify: ~25 of a start's
        # ~35 ms of CPU and ~0.9 MB per process (docs/agent.md, "young's start").
        "    httpclient.ssl.verify none",
        # Lets a reload's new process take the listening sockets over from the running one
        # (-x), so no connection is refused while networks come and go.
        f"    stats socket {s.state_dir}/{stats_socket_name(shard)} mode 600 "
        "level admin expose-fd listeners",
    ]
    if s.user:
        lines.append(f"    user {s.user}")
    if s.group:
        lines.append(f"    group {s.group}")
    return [*lines, ""]


# Named defaults sections: every section names the one it inherits from (`from`), since
# haproxy refuses a backend that inherits rules meant for frontends.
EDGE_DEFAULTS = "edge"
GUEST_DEFAULTS = "guests"


def _defaults(s: EdgeSettings) -> list[str]:
    return [
        f"defaults {EDGE_DEFAULTS}",
        "    log global",
        "    mode http",
        "    option httplog",
        "    option dontlognull",
        *([] if keeps_alive(s) else ["    option http-server-close"]),
        # A UNIX connect fails at once while the agent restarts; every retry waits
        # min(timeout connect, 1 s), so a request waits up to `retries` seconds, then proceeds.
        f"    retries {s.retries}",
        "    retry-on conn-failure empty-response",
        f"    timeout connect {s.timeout_connect}s",
        f"    timeout client {s.timeout_client}s",
        f"    timeout server {s.timeout_server}s",
        f"    timeout http-request {s.timeout_http_request}s",
        f"    timeout http-keep-alive {s.timeout_http_keep_alive}s",
        "",
    ]


def _health(s: EdgeSettings, shard: str) -> list[str]:
    """Always one listener, so the edge runs (and reloads) whatever the number of networks;
    `ovnmeta status` probes it."""
    return [
        f"frontend ovnmeta_health from {EDGE_DEFAULTS}",
        f"    bind unix@{s.state_dir}/{shard}health.sock mode 600",
        f"    maxconn {HEALTH_MAXCONN}",
        "    http-request return status 200 content-type text/plain string ok",
        "",
    ]


def frontend_name(network: NetworkId) -> str:
    return f"net_{network}"


def _guest_rules(s: EdgeSettings) -> list[str]:
    """The rules every network's frontend runs, written once: haproxy keeps the rules of a
    defaults section in that section and runs them before the frontend's own, so they cost
    nothing per frontend (31.3 -> 24.0 MB RSS at 1,000 frontends standalone, docs/agent.md).
    What differs per network stays in its frontend: the listener, limits, table and network
    id, set after these rules have deleted the guest's copy."""
    return [
        f"defaults {GUEST_DEFAULTS} from {EDGE_DEFAULTS}",
        # The per-source limits, checked on the counter each frontend's own connection rule
        # tracks in its own table (sc0): session rules run after every connection rule, the
        # frontend's included, before any byte is read, and log nothing, as a connection
        # rule's reject. Two ACL rules per frontend were 2.3 MB of 22 at 1,000 frontends.
        f"    tcp-request session reject if {{ sc_conn_cur(0) gt {s.source_maxconn} }}",
        # A reset costs a flooding guest nothing: it reconnects at once and keeps OVS, the edge
        # and the agent busy for everyone. A silent drop leaves it waiting on its own timeout.
        f"    tcp-request session silent-drop if {{ sc_conn_rate(0) gt {s.source_conn_rate} }}",
        "    http-request del-header X-OVN-Network-ID",
        "    http-request del-header X-Neutron-Router-ID",
        # The guest's own X-Forwarded-For is replaced below; the agent still needs to know
        # one was sent (a proxy in the guest: its token PUT gets 403), so flag it first.
        f"    http-request del-header {GUEST_FORWARDED}",
        f"    http-request set-header {GUEST_FORWARDED} 1 "
        "if { req.hdr_cnt(X-Forwarded-For) gt 0 }",
        "    http-request del-header X-Forwarded-For",
        "    http-request del-header X-Ovnmeta-Health",  # proxy.probe.HEADER: socket only
        "    http-request set-header X-Forwarded-For %[src]",
        # Hop limit (docs/agent.md): mark the client socket when a token is handed out; the
        # namespace's nftables rule (dataplane/hoplimit.py) rewrites the TTL of marked packets.
        f"    http-request set-var(txn.imds_put) bool(true) if {{ method PUT }} "
        f"{{ path {TOKEN_PATH} {TOKEN_PATH}/ }}",
        f"    http-response set-mark {HOP_LIMIT_MARK:#x} if {{ var(txn.imds_put) -m bool }} "
        "{ status 200 }",
        "",
    ]


def _frontend(fe: Frontend, s: EdgeSettings, lim: EdgeLimits) -> list[str]:
    ns = fe.namespace
    lines = [
        f"frontend {frontend_name(fe.network)} from {GUEST_DEFAULTS}",
        f"    bind {METADATA_IPV4}:{METADATA_PORT} namespace {ns}",
    ]
    if fe.ipv6:
        lines.append(
            f"    bind ipv6@{METADATA_IPV6}:{METADATA_PORT} namespace {ns} interface {fe.interface}"
        )
    lines += [
        # Past this the frontend stops accepting: its guests wait in the kernel backlog,
        # other networks' frontends are unaffected (the global limit is above their sum).
        f"    maxconn {lim.network_maxconn}",
        # One table per frontend: guest addresses overlap between networks. IPv4 sources are
        # stored IPv4-mapped. An extra connection is closed at accept, so it holds no slot.
        f"    stick-table type ipv6 size {TABLE_SIZE} expire {CONN_TABLE_EXPIRE_S}s "
        f"store conn_cur,conn_rate({SOURCE_CONN_RATE_WINDOW_S}s)",
        # Tracked here, in this frontend's table; the limits are checked in _guest_rules.
        "    tcp-request connection track-sc0 src",
        # haproxy 2.6 runs a defaults section's session rules only for a frontend that has
        # session rules of its own: this one (no condition, nothing to evaluate) is that.
        "    tcp-request session accept",
        # after _guest_rules' del-header X-OVN-Network-ID (a defaults section's rules run first)
        f"    http-request set-header X-OVN-Network-ID {fe.network}",
    ]
    if s.rate_limit.rate_limit_enabled:
        lines += _rate_limit(fe, s)
    lines += ["    default_backend agent", ""]
    if s.rate_limit.rate_limit_enabled:
        lines += _rate_tables(fe, s)
    return lines


def _rate_limit(fe: Frontend, s: EdgeSettings) -> list[str]:
    """Upstream's two windows (base, burst) per source address, per network. Both families
    share one ipv6 table; `ip_versions` picks which are tracked. Our IPv6 listener only ever
    sees link-local sources. A 429 says when to come back: after the window it exceeded."""
    rl = s.rate_limit
    cond = {
        frozenset({4}): " if !{ src fe80::/10 }",
        frozenset({6}): " if { src fe80::/10 }",
    }.get(rl.ip_versions, "")
    return [
        f"    http-request track-sc1 src table {_table_name('base', fe.network)}{cond}",
        f"    http-request track-sc2 src table {_table_name('burst', fe.network)}{cond}",
        f"    http-request deny deny_status 429 hdr Retry-After {rl.base_window_duration} "
        f"if {{ sc_http_req_rate(1) gt {rl.base_query_rate_limit} }}",
        f"    http-request deny deny_status 429 hdr Retry-After {rl.burst_window_duration} "
        f"if {{ sc_http_req_rate(2) gt {rl.burst_query_rate_limit} }}",
    ]


def _table_name(window: str, network: NetworkId) -> str:
    return f"rl_{window}_{network}"


def _rate_tables(fe: Frontend, s: EdgeSettings) -> list[str]:
    rl = s.rate_limit
    expire = max(rl.base_window_duration, rl.burst_window_duration)  # as upstream
    lines = []
    for window, seconds in (
        ("base", rl.base_window_duration),
        ("burst", rl.burst_window_duration),
    ):
        lines += [
            f"backend {_table_name(window, fe.network)} from {EDGE_DEFAULTS}",
            f"    stick-table type ipv6 size {TABLE_SIZE} expire {expire}s "
            f"store http_req_rate({seconds}s)",
            "",
        ]
    return lines
