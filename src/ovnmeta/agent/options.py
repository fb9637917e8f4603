"""The agent's ini as oslo.config sees it: upstream's sections and options, registered
unchanged (agent-contract.md section 12), and ours in `[ovnmeta]`. `agent.config` reads and
validates them; this module only declares them, so their names and defaults stay in one place.
"""

from __future__ import annotations

import dataclasses

from oslo_config import cfg

from ovnmeta.agent.settings import RATE_LIMIT_DEFAULTS, ProxySettings

DEFAULT_CONFIG_DIRS = ("/etc/neutron.conf.d",)
# One place for the fairness defaults: ProxySettings' own (see its comment).
_PROXY_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ProxySettings)}

_DEFAULT_OPTS = [
    cfg.StrOpt("metadata_proxy_shared_secret", default="", secret=True),
    cfg.StrOpt(
        "nova_metadata_host",
        default="127.0.0.1",
        deprecated_name="nova_metadata_ip",
    ),
    cfg.IntOpt("nova_metadata_port", default=8775),
    cfg.StrOpt("nova_metadata_protocol", default="http"),
    cfg.BoolOpt("nova_metadata_insecure", default=False),
    cfg.StrOpt("auth_ca_cert"),
    cfg.StrOpt("nova_client_cert", default=""),
    cfg.StrOpt("nova_client_priv_key", default=""),
    cfg.StrOpt("metadata_proxy_socket", default="$state_path/metadata_proxy"),
    cfg.StrOpt("metadata_proxy_user", default=""),
    cfg.StrOpt("metadata_proxy_group", default=""),
    cfg.StrOpt("metadata_proxy_socket_mode", default="deduce"),
    cfg.IntOpt("metadata_workers"),
    cfg.IntOpt("metadata_backlog", default=4096),
    cfg.StrOpt("state_path", default="/var/lib/neutron"),
    cfg.StrOpt("external_pids", default="$state_path/external/pids"),
    cfg.BoolOpt("debug", default=False),
    cfg.IntOpt("agent_down_time", default=75),
    cfg.StrOpt("host", default=""),
    # The oslo.log options we honour (oslo.log itself is not a dependency).
    cfg.StrOpt("log_file"),
    cfg.StrOpt("log_dir"),
    cfg.BoolOpt("use_syslog", default=False),
]

_AGENT_OPTS = [
    cfg.StrOpt("root_helper", default="sudo"),
    cfg.StrOpt("root_helper_daemon"),
    cfg.StrOpt("check_child_processes_action", default="respawn"),
    cfg.IntOpt("check_child_processes_interval", default=60),
    cfg.StrOpt("kill_scripts_path", default="/etc/neutron/kill_scripts/"),
    # neutron-ovn-agent's ovn_agent.ini: `[agent] extensions` (oslo.config reads [agent] and
    # [AGENT] as one group). `metadata` makes ovnmeta that agent; empty, the metadata agent.
    cfg.ListOpt("extensions", default=[]),
]

_OVS_OPTS = [
    cfg.StrOpt("ovsdb_connection", default="unix:/usr/local/var/run/openvswitch/db.sock"),
    cfg.IntOpt("ovsdb_connection_timeout", default=180),
]

_OVN_OPTS = [
    cfg.StrOpt("ovn_sb_connection", default="tcp:127.0.0.1:6642"),
    cfg.StrOpt("ovn_sb_private_key", default=""),
    cfg.StrOpt("ovn_sb_certificate", default=""),
    cfg.StrOpt("ovn_sb_ca_cert", default=""),
    cfg.IntOpt("ovsdb_connection_timeout", default=180),
    cfg.IntOpt("ovsdb_retry_max_interval", default=180),
    cfg.IntOpt("ovsdb_probe_interval", default=60000),
    cfg.StrOpt("ovsdb_log_level", default="INFO"),
]

# Upstream's names and meaning; the defaults of the values differ (upstream: IPv4 only, 10
# requests per 10 s, which refuses a boot): settings.RATE_LIMIT_DEFAULTS says why.
_RL = RATE_LIMIT_DEFAULTS
_RATE_OPTS = [
    cfg.BoolOpt("rate_limit_enabled", default=_RL.rate_limit_enabled),
    cfg.ListOpt("ip_versions", default=[str(v) for v in sorted(_RL.ip_versions)]),
    cfg.IntOpt("base_window_duration", default=_RL.base_window_duration),
    cfg.IntOpt("base_query_rate_limit", default=_RL.base_query_rate_limit),
    cfg.IntOpt("burst_window_duration", default=_RL.burst_window_duration),
    cfg.IntOpt("burst_query_rate_limit", default=_RL.burst_query_rate_limit),
]

_HAPROXY_OPTS = [
    cfg.IntOpt("timeout_connect", default=30),
    cfg.IntOpt("timeout_client", default=32),
    cfg.IntOpt("timeout_server", default=32),
    cfg.IntOpt("timeout_http_request", default=30),
    cfg.IntOpt("timeout_http_keep_alive", default=30),
]

_OVNMETA_OPTS = [
    cfg.StrOpt("metrics_host", default="127.0.0.1", help="Prometheus listen address"),
    cfg.IntOpt("metrics_port", default=0, help="Prometheus port; 0 disables metrics"),
    cfg.StrOpt("haproxy_binary", default="haproxy"),
    cfg.IntOpt(
        "edge_maxconn",
        default=1024,
        help="floor of haproxy's global maxconn; raised to networks x edge_network_maxconn "
        "plus headroom, so each network's limit is reached first",
    ),
    cfg.IntOpt(
        "edge_network_maxconn",
        default=256,
        help="concurrent guest connections per network: a hostile network fills only its "
        "own frontend",
    ),
    cfg.IntOpt(
        "edge_source_maxconn",
        default=32,
        help="concurrent connections per source address within a network; more are closed "
        "at accept",
    ),
    cfg.IntOpt(
        "edge_source_conn_rate",
        default=1000,
        help="new connections per source address within a network per 10 s; more are "
        "dropped silently (a cloud-init boot opens about 30)",
    ),
    cfg.IntOpt(
        "edge_header_timeout",
        default=5,
        help="seconds to receive a complete request head; the edge uses the smaller of this "
        "and [metadata_haproxy] timeout_http_request",
    ),
    cfg.IntOpt(
        "edge_nbthread",
        default=1,
        help="haproxy threads (one process for all networks); 1 keeps the edge's connections "
        "to the agent alive, more close each after its request",
    ),
    cfg.IntOpt(
        "edge_retries",
        default=10,
        help="haproxy connect retries to the agent socket, about one per second: a request "
        "that arrives while the agent restarts waits instead of failing",
    ),
    cfg.IntOpt("provision_concurrency", default=8, help="networks provisioned in parallel"),
    cfg.IntOpt("resync_interval", default=300, help="periodic full resync (s); 0 disables"),
    cfg.FloatOpt(
        "nova_request_timeout",
        default=30.0,
        help="total timeout of one Nova call (s); below the listener's timeout_server",
    ),
    cfg.IntOpt("nova_pool_size", default=100, help="keep-alive connections to Nova"),
    cfg.IntOpt("max_request_body", default=65536, help="largest request body accepted (bytes)"),
    # Fairness (docs/agent.md "Fairness"): a cloud-init boot makes about 30 requests, one or
    # two at a time, so none of these is ever reached by a normal guest, even with dozens of
    # instances of one network booting together (they queue for milliseconds, not fail).
    cfg.IntOpt(
        "in_flight_per_network",
        default=_PROXY_DEFAULTS["in_flight_per_network"],
        help="requests of one network at Nova at once (of nova_pool_size); more wait",
    ),
    cfg.IntOpt(
        "in_flight_per_source",
        default=_PROXY_DEFAULTS["in_flight_per_source"],
        help="requests of one guest address at Nova at once; at most in_flight_per_network",
    ),
    cfg.IntOpt(
        "queued_per_source",
        default=_PROXY_DEFAULTS["queued_per_source"],
        help="requests of one guest address waiting for a slot; more get 429 at once",
    ),
    cfg.FloatOpt(
        "queue_timeout",
        default=_PROXY_DEFAULTS["queue_timeout_s"],
        help="longest wait for a slot (s), then 429 (own share full) or 503 (agent busy)",
    ),
    cfg.StrOpt(
        "imds_tokens",
        default="optional",
        help="session tokens (PUT /latest/api/token): optional, or required (token-less "
        "requests get 401 and never reach the backend)",
    ),
    cfg.ListOpt(
        "imds_tokens_required_projects",
        default=[],
        help="project ids whose instances need a token even when imds_tokens = optional",
    ),
    cfg.BoolOpt(
        "imds_token_state",
        default=False,
        help="send the backend a signed X-Ovnmeta-Token-State header (only for ovnmeta's "
        "embedded metadata API, which then enforces each instance's imds_tokens mode)",
    ),
    cfg.IntOpt(
        "imds_hop_limit",
        default=1,
        help="IP TTL / hop limit of the token PUT's answer (1..64)",
    ),
    cfg.FloatOpt(
        "guest_log_interval",
        default=_PROXY_DEFAULTS["guest_log_interval_s"],
        help="guest-triggered warnings: one per (network, address) per interval (s), "
        "with the count of those suppressed",
    ),
]

_SECTIONS: tuple[tuple[str | None, list[cfg.Opt]], ...] = (
    (None, _DEFAULT_OPTS),
    ("AGENT", _AGENT_OPTS),
    ("ovs", _OVS_OPTS),
    ("ovn", _OVN_OPTS),
    ("metadata_rate_limiting", _RATE_OPTS),
    ("metadata_haproxy", _HAPROXY_OPTS),
    ("ovnmeta", _OVNMETA_OPTS),
)


def new_conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    for group, opts in _SECTIONS:
        conf.register_opts(opts, group=group)
    return conf
