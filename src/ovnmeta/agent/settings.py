"""The agent's settings: frozen values, one dataclass per component (pure).

`ovnmeta.agent.config` builds them from the upstream ini; everything else of the agent is
handed only the section it needs (`ProxyServer(settings.proxy, ...)`).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ovnmeta.core.checks import OvsdbRemote

# One boot of cloud-init's DataSourceOpenStack (cloud-init 22.4, measured through the edge on
# the lab, docs/agent.md): 28 requests, one at a time, in about 0.2 s. Every default limit
# of the edge is sized from it; `boot_warnings` flags configured limits below it.
BOOT_BURST = 28
# Newer cloud-init probes the IPv4 and IPv6 metadata addresses in parallel; other guest tools
# may overlap with it: "a few" connections at once from one address.
BOOT_CONCURRENCY = 4
# The window of `edge_source_conn_rate`: long enough that a boot (28 connections in under a
# second) is a small part of it, short enough that a flood is cut within seconds.
SOURCE_CONN_RATE_WINDOW_S = 10


@dataclass(frozen=True, slots=True)
class OvsSettings:
    ovsdb_connection: OvsdbRemote
    ovsdb_connection_timeout: int
    ovsdb_probe_interval: int


@dataclass(frozen=True, slots=True)
class SbSettings:
    ovn_sb_connection: tuple[OvsdbRemote, ...]
    ovn_sb_private_key: str
    ovn_sb_certificate: str
    ovn_sb_ca_cert: str
    ovsdb_connection_timeout: int
    ovsdb_retry_max_interval: int
    ovsdb_probe_interval: int

    @property
    def connection_string(self) -> str:
        return ",".join(str(r) for r in self.ovn_sb_connection)


@dataclass(frozen=True, slots=True)
class ProxySettings:
    metadata_proxy_shared_secret: str
    nova_metadata_host: str
    nova_metadata_port: int
    nova_metadata_protocol: str
    nova_metadata_insecure: bool
    auth_ca_cert: str | None
    nova_client_cert: str
    nova_client_priv_key: str
    metadata_proxy_socket: str
    metadata_proxy_socket_mode: int | None  # None: leave the umask default
    metadata_backlog: int
    nova_request_timeout_s: float
    nova_pool_size: int  # also the agent's budget of requests in flight at Nova
    max_request_body: int
    # Fairness between networks and guests (proxy/admission.py). Defaults here so that code
    # building ProxySettings by hand keeps working; agent.config uses the same values.
    in_flight_per_network: int = 25
    in_flight_per_source: int = 4
    queued_per_source: int = 64
    queue_timeout_s: float = 10.0
    guest_log_interval_s: float = 60.0  # one guest-triggered WARNING per source per interval
    # IMDSv2-style session tokens (proxy/tokens.py, docs/agent.md "Session tokens").
    imds_tokens: str = "optional"
    """This chassis's default: "optional" (token-less requests served) or "required"."""
    imds_tokens_required_projects: frozenset[str] = frozenset()
    """Projects whose instances need a token whatever the default."""
    imds_token_state: bool = False
    """Tell the backend, by a signed header, whether the request carried a valid token, so the
    embedded metadata API enforces its per-instance mode. Only for the embedded API: Nova gets
    exactly the four headers of agent-contract.md."""

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"ProxySettings(nova={self.nova_base_url!r}, socket={self.metadata_proxy_socket!r})"

    @property
    def nova_base_url(self) -> str:
        host = self.nova_metadata_host
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        return f"{self.nova_metadata_protocol}://{host}:{self.nova_metadata_port}"


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """Upstream's `[metadata_rate_limiting]`: two sliding windows per (network, source address).

    A request is answered 429 (with `Retry-After`) when either window holds more than its
    limit. Unlike upstream, both address families can be limited at once (`ip_versions = 4,6`,
    our default); each source address has its own budget.
    """

    rate_limit_enabled: bool
    ip_versions: frozenset[int]
    base_window_duration: int
    base_query_rate_limit: int
    burst_window_duration: int
    burst_query_rate_limit: int


# Used for the values an operator leaves unset once `rate_limit_enabled` is on. Upstream's
# 10 requests per 10 s would refuse every boot; these let 10 boots per 10 s and 20 per minute
# through from one address (about 9 requests/s sustained), and still stop a crawl loop
# (hundreds of requests/s) within a second or two.
RATE_LIMIT_DEFAULTS = RateLimitSettings(
    rate_limit_enabled=False,  # upstream's default: a drop-in must not start answering 429
    ip_versions=frozenset({4, 6}),
    base_window_duration=60,
    base_query_rate_limit=20 * BOOT_BURST,
    burst_window_duration=10,
    burst_query_rate_limit=10 * BOOT_BURST,
)


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    haproxy_binary: str
    state_dir: str  # configs, pid files and stats sockets of the edge shards
    backend_socket: str  # the second name of the agent's metadata_proxy_socket (proxy.holder)
    user: str
    group: str
    debug: bool
    maxconn: int
    """Floor of haproxy's global maxconn (`edge_maxconn`); the edge raises it to
    networks x `network_maxconn` plus headroom, so a per-network limit always binds first."""
    network_maxconn: int
    """Concurrent connections of one network's frontend (`edge_network_maxconn`): one hostile
    network cannot exhaust the edge for the others."""
    source_maxconn: int
    """Concurrent connections of one source address within a network (`edge_source_maxconn`);
    more are closed at accept, so they hold no slot."""
    source_conn_rate: int
    """New connections one source address may open per `SOURCE_CONN_RATE_WINDOW_S` within a
    network (`edge_source_conn_rate`); past it the edge drops them silently, so a flooding
    guest waits out its own timeouts instead of making the whole compute busy."""
    nbthread: int
    retries: int
    timeout_connect: int
    timeout_client: int
    timeout_server: int
    timeout_http_request: int
    """Time to receive a complete request head, s: the smaller of upstream's
    `[metadata_haproxy] timeout_http_request` and our `edge_header_timeout`, so an idle
    half-request is closed within seconds even with upstream's 30 s written in the ini."""
    timeout_http_keep_alive: int
    rate_limit: RateLimitSettings
    imds_hop_limit: int = 1
    """IP TTL / hop limit of a token PUT's answer (`imds_hop_limit`, 1..64): with 1, a client
    behind a guest's NAT or routing never receives a token (the edge marks the answer, an
    nftables rule in the namespace rewrites its TTL)."""
    upstream_pids: str = ""
    """Upstream's `external_pids` directory: the pid files of the per-network haproxies an
    upstream agent left running, retired once the edge serves their network (migration)."""


# The upstream agent ovnmeta stands in for, by its binary name (as neutron lists it):
# neutron-ovn-agent when the ini enables its metadata extension (`[agent] extensions`).
NEUTRON_METADATA_AGENT = "neutron-ovn-metadata-agent"
NEUTRON_OVN_AGENT = "neutron-ovn-agent"
OVN_AGENT_EXTENSIONS = ("metadata",)  # the neutron-ovn-agent extensions ovnmeta implements


@dataclass(frozen=True, slots=True)
class AgentSettings:
    state_path: str
    agent_down_time: int
    debug: bool
    log_file: str | None
    log_dir: str | None
    use_syslog: bool
    provision_concurrency: int
    resync_interval_s: int
    metrics_host: str
    metrics_port: int
    role: str = NEUTRON_METADATA_AGENT  # NEUTRON_METADATA_AGENT or NEUTRON_OVN_AGENT

    @property
    def status_file(self) -> str:
        return posixpath.join(self.state_path, "ovnmeta", "status.json")

    @property
    def sb_hint_file(self) -> str:
        """The last run's SB conditions (`sb.hint`): what a restart asks for first."""
        return posixpath.join(self.state_path, "ovnmeta", "sb-conditions.json")


@dataclass(frozen=True, slots=True)
class Settings:
    agent: AgentSettings
    ovs: OvsSettings
    sb: SbSettings
    proxy: ProxySettings
    edge: EdgeSettings


def boot_warnings(edge: EdgeSettings) -> tuple[str, ...]:
    """Configured limits that a single cloud-init boot would hit (logged at start-up)."""
    warnings = []
    rl = edge.rate_limit
    if rl.rate_limit_enabled:
        for option in ("base_query_rate_limit", "burst_query_rate_limit"):
            if getattr(rl, option) < BOOT_BURST:
                warnings.append(
                    f"[metadata_rate_limiting] {option} = {getattr(rl, option)}: below the "
                    f"{BOOT_BURST} requests of one cloud-init boot; booting guests will see 429"
                )
    if edge.source_conn_rate < 2 * BOOT_BURST:
        warnings.append(
            f"[ovnmeta] edge_source_conn_rate = {edge.source_conn_rate}: fewer new connections "
            f"per {SOURCE_CONN_RATE_WINDOW_S} s than two cloud-init boots open "
            f"({2 * BOOT_BURST}); a rebooting guest will see its connections dropped"
        )
    if edge.source_maxconn < BOOT_CONCURRENCY:
        warnings.append(
            f"[ovnmeta] edge_source_maxconn = {edge.source_maxconn}: below the "
            f"{BOOT_CONCURRENCY} parallel connections a booting guest may open; some of "
            "them will be refused"
        )
    return tuple(warnings)
