"""The agent's settings: frozen values, one dataclass per component (pure).

`ovnmeta.agent.config` builds them from the upstream ini; everything else of the agent is
handed only the section it needs (`ProxyServer(settings.proxy, ...)`).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ovnmeta.core.checks import OvsdbRemote


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
    in_flight_per_network: int = 32
    in_flight_per_source: int = 8
    queued_per_source: int = 64
    queue_timeout_s: float = 10.0
    guest_log_interval_s: float = 60.0  # one guest-triggered WARNING per source per interval

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
    rate_limit_enabled: bool
    ip_versions: frozenset[int]
    base_window_duration: int
    base_query_rate_limit: int
    burst_window_duration: int
    burst_query_rate_limit: int


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    haproxy_binary: str
    state_dir: str  # config, pid file and master socket of the one haproxy
    backend_socket: str  # the agent's metadata_proxy_socket
    user: str
    group: str
    debug: bool
    maxconn: int
    nbthread: int
    retries: int
    timeout_connect: int
    timeout_client: int
    timeout_server: int
    timeout_http_request: int
    timeout_http_keep_alive: int
    rate_limit: RateLimitSettings


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

    @property
    def status_file(self) -> str:
        return posixpath.join(self.state_path, "ovnmeta", "status.json")


@dataclass(frozen=True, slots=True)
class Settings:
    agent: AgentSettings
    ovs: OvsSettings
    sb: SbSettings
    proxy: ProxySettings
    edge: EdgeSettings
