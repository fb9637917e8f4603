"""neutron_ovn_metadata_agent.ini -> frozen per-component settings (`agent.settings`).

Upstream sections and option names are registered unchanged (`agent.options`), so an existing
ini loads as is; unknown options are tolerated, as oslo.config does. Options we add live in
`[ovnmeta]`. `load(argv)` reads the files; `from_conf(conf)` turns the parsed options into
settings and validates them, raising `ConfigError("<option>: <what is wrong>")`.

    settings = load(["--config-file", "/etc/neutron/neutron_ovn_metadata_agent.ini"])
    settings.proxy.nova_metadata_port  # 8775
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from oslo_config import cfg

from ovnmeta.agent.options import DEFAULT_CONFIG_DIRS, new_conf
from ovnmeta.agent.proxy import holder
from ovnmeta.agent.settings import (
    NEUTRON_METADATA_AGENT,
    NEUTRON_OVN_AGENT,
    OVN_AGENT_EXTENSIONS,
    AgentSettings,
    EdgeSettings,
    OvsSettings,
    ProxySettings,
    RateLimitSettings,
    SbSettings,
    Settings,
)
from ovnmeta.core.checks import (
    check_choice,
    check_host,
    check_non_negative,
    check_path,
    check_port,
    check_positive,
    ip_versions,
    parse_remotes,
)
from ovnmeta.core.errors import ConfigError


def load(
    argv: Sequence[str],
    default_config_dirs: Sequence[str] = DEFAULT_CONFIG_DIRS,
    *,
    read_files: bool = True,
) -> Settings:
    """Parse `--config-file`/`--config-dir` arguments and return validated settings.

    `read_files=False` skips opening the TLS files the options name (`config render`
    checks a file rendered for another host)."""
    conf = new_conf()
    dirs = [d for d in default_config_dirs if os.path.isdir(d)]
    try:
        conf(
            args=list(argv),
            project="neutron",
            prog="ovnmeta agent",
            default_config_files=[],
            default_config_dirs=dirs,
            use_env=False,
        )
    except cfg.Error as exc:
        raise ConfigError(_one_line(str(exc))) from exc
    except SystemExit as exc:  # argparse inside oslo.config on a bad argument
        raise ConfigError(f"bad command line: {' '.join(argv)}") from exc
    settings = from_conf(conf)
    if read_files:
        check_files(settings)
    return settings


def agent_role(extensions: Sequence[str]) -> str:
    """`[agent] extensions` -> the upstream agent ovnmeta stands in for. Empty: the metadata
    agent (its ini has no such option). `metadata`: neutron-ovn-agent with that extension.
    Anything else would be a promise ovnmeta cannot keep: refused, naming it."""
    names = [e.strip() for e in extensions if e.strip()]
    if not names:
        return NEUTRON_METADATA_AGENT
    missing = sorted(set(names) - set(OVN_AGENT_EXTENSIONS))
    if missing:
        raise ConfigError(
            f"extensions: ovnmeta implements only the {', '.join(OVN_AGENT_EXTENSIONS)} "
            f"extension of neutron-ovn-agent, not {', '.join(missing)}"
        )
    return NEUTRON_OVN_AGENT


def from_conf(conf: cfg.ConfigOpts) -> Settings:
    """Validate parsed options and build the settings; no file access."""
    try:
        return _build(conf)
    except (cfg.Error, ValueError) as exc:
        raise ConfigError(_one_line(str(exc))) from exc


def _build(conf: cfg.ConfigOpts) -> Settings:
    ovn, ovs = conf.ovn, conf.ovs
    sb_remotes = parse_remotes("ovn_sb_connection", ovn.ovn_sb_connection)
    if any(r.scheme == "ssl" for r in sb_remotes):
        for name in ("ovn_sb_private_key", "ovn_sb_certificate", "ovn_sb_ca_cert"):
            if not getattr(ovn, name):
                raise ConfigError(f"{name}: required for the ssl: remotes in ovn_sb_connection")
    ovs_remotes = parse_remotes("ovsdb_connection", ovs.ovsdb_connection)
    if len(ovs_remotes) != 1:
        raise ConfigError(f"ovsdb_connection: expected one remote, got {ovs.ovsdb_connection!r}")

    state_path = check_path("state_path", conf.state_path)
    proxy = ProxySettings(
        metadata_proxy_shared_secret=conf.metadata_proxy_shared_secret or "",
        nova_metadata_host=check_host("nova_metadata_host", conf.nova_metadata_host),
        nova_metadata_port=check_port("nova_metadata_port", conf.nova_metadata_port),
        nova_metadata_protocol=check_choice(
            "nova_metadata_protocol", conf.nova_metadata_protocol, ("http", "https")
        ),
        nova_metadata_insecure=conf.nova_metadata_insecure,
        auth_ca_cert=conf.auth_ca_cert or None,
        nova_client_cert=conf.nova_client_cert or "",
        nova_client_priv_key=conf.nova_client_priv_key or "",
        metadata_proxy_socket=check_path("metadata_proxy_socket", conf.metadata_proxy_socket),
        metadata_proxy_socket_mode=socket_mode(conf.metadata_proxy_socket_mode),
        metadata_backlog=check_positive("metadata_backlog", conf.metadata_backlog),
        nova_request_timeout_s=check_positive(
            "nova_request_timeout", conf.ovnmeta.nova_request_timeout
        ),
        nova_pool_size=check_positive("nova_pool_size", conf.ovnmeta.nova_pool_size),
        max_request_body=check_positive("max_request_body", conf.ovnmeta.max_request_body),
        **_fairness(conf.ovnmeta),
        imds_tokens=check_choice("imds_tokens", conf.ovnmeta.imds_tokens, ("optional", "required")),
        imds_tokens_required_projects=frozenset(
            p.strip() for p in conf.ovnmeta.imds_tokens_required_projects if p.strip()
        ),
        imds_token_state=conf.ovnmeta.imds_token_state,
    )
    rl = conf.metadata_rate_limiting
    rate = RateLimitSettings(
        rate_limit_enabled=rl.rate_limit_enabled,
        ip_versions=ip_versions(rl.ip_versions),
        base_window_duration=check_positive("base_window_duration", rl.base_window_duration),
        base_query_rate_limit=check_positive("base_query_rate_limit", rl.base_query_rate_limit),
        burst_window_duration=check_positive("burst_window_duration", rl.burst_window_duration),
        burst_query_rate_limit=check_positive("burst_query_rate_limit", rl.burst_query_rate_limit),
    )
    hp, om = conf.metadata_haproxy, conf.ovnmeta
    maxconn = check_positive("edge_maxconn", om.edge_maxconn)
    network_maxconn = _at_most(
        "edge_network_maxconn", om.edge_network_maxconn, "edge_maxconn", maxconn
    )
    source_maxconn = _at_most(
        "edge_source_maxconn", om.edge_source_maxconn, "edge_network_maxconn", network_maxconn
    )
    header_timeout = min(
        check_positive("timeout_http_request", hp.timeout_http_request),
        check_positive("edge_header_timeout", om.edge_header_timeout),
    )
    edge = EdgeSettings(
        haproxy_binary=om.haproxy_binary,
        state_dir=os.path.join(state_path, "ovnmeta", "edge"),
        upstream_pids=check_path("external_pids", conf.external_pids),
        backend_socket=holder.edge_alias(proxy.metadata_proxy_socket),
        user=conf.metadata_proxy_user or "",
        group=conf.metadata_proxy_group or "",
        debug=conf.debug,
        maxconn=maxconn,
        network_maxconn=network_maxconn,
        source_maxconn=source_maxconn,
        source_conn_rate=check_positive("edge_source_conn_rate", om.edge_source_conn_rate),
        nbthread=check_positive("edge_nbthread", om.edge_nbthread),
        retries=check_positive("edge_retries", om.edge_retries),
        timeout_connect=check_positive("timeout_connect", hp.timeout_connect),
        timeout_client=check_positive("timeout_client", hp.timeout_client),
        timeout_server=check_positive("timeout_server", hp.timeout_server),
        timeout_http_request=header_timeout,
        timeout_http_keep_alive=check_positive(
            "timeout_http_keep_alive", hp.timeout_http_keep_alive
        ),
        rate_limit=rate,
        imds_hop_limit=_hop_limit(om.imds_hop_limit),
    )
    _check_socket_paths(proxy.metadata_proxy_socket, edge.state_dir)
    agent = AgentSettings(
        state_path=state_path,
        agent_down_time=check_positive("agent_down_time", conf.agent_down_time),
        debug=conf.debug,
        log_file=conf.log_file,
        log_dir=conf.log_dir,
        use_syslog=conf.use_syslog,
        provision_concurrency=check_positive("provision_concurrency", om.provision_concurrency),
        resync_interval_s=check_non_negative("resync_interval", om.resync_interval),
        metrics_host=check_host("metrics_host", om.metrics_host),
        metrics_port=check_port("metrics_port", om.metrics_port, allow_zero=True),
        role=agent_role(conf.AGENT.extensions),
    )
    return Settings(
        agent=agent,
        ovs=OvsSettings(
            ovsdb_connection=ovs_remotes[0],
            ovsdb_connection_timeout=check_positive(
                "ovsdb_connection_timeout", ovs.ovsdb_connection_timeout
            ),
            ovsdb_probe_interval=check_non_negative(
                "ovsdb_probe_interval", ovn.ovsdb_probe_interval
            ),
        ),
        sb=SbSettings(
            ovn_sb_connection=sb_remotes,
            ovn_sb_private_key=ovn.ovn_sb_private_key or "",
            ovn_sb_certificate=ovn.ovn_sb_certificate or "",
            ovn_sb_ca_cert=ovn.ovn_sb_ca_cert or "",
            ovsdb_connection_timeout=check_positive(
                "ovsdb_connection_timeout", ovn.ovsdb_connection_timeout
            ),
            ovsdb_retry_max_interval=check_positive(
                "ovsdb_retry_max_interval", ovn.ovsdb_retry_max_interval
            ),
            ovsdb_probe_interval=check_non_negative(
                "ovsdb_probe_interval", ovn.ovsdb_probe_interval
            ),
        ),
        proxy=proxy,
        edge=edge,
    )


def _hop_limit(value: int) -> int:
    if not 1 <= value <= 64:
        raise ConfigError(f"imds_hop_limit: {value} is not within 1..64")
    return value


def _fairness(om: cfg.ConfigOpts.GroupAttr) -> dict[str, int | float]:
    per_network = check_positive("in_flight_per_network", om.in_flight_per_network)
    per_source = _at_most(
        "in_flight_per_source", om.in_flight_per_source, "in_flight_per_network", per_network
    )
    return {
        "in_flight_per_network": per_network,
        "in_flight_per_source": per_source,
        "queued_per_source": check_positive("queued_per_source", om.queued_per_source),
        "queue_timeout_s": check_positive("queue_timeout", om.queue_timeout),
        "guest_log_interval_s": check_positive("guest_log_interval", om.guest_log_interval),
    }


def _at_most(option: str, value: int, bound_option: str, bound: int) -> int:
    """A positive limit no larger than the broader one it sits inside."""
    check_positive(option, value)
    if value > bound:
        raise ConfigError(
            f"{option}: {value} is above {bound_option} ({bound}); a part cannot have more "
            "than the whole it belongs to"
        )
    return value


SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes, NUL included


def _check_socket_paths(proxy_socket: str, edge_dir: str) -> None:
    longest = os.path.join(edge_dir, "young-health.sock")  # edge_placement.YOUNG's, the longest
    if len(longest.encode()) > SUN_PATH_MAX:
        raise ConfigError(
            f"state_path: too long: {longest!r} would exceed the {SUN_PATH_MAX}-byte limit of "
            "a UNIX socket path"
        )
    if len(proxy_socket.encode()) > SUN_PATH_MAX:
        raise ConfigError(
            f"metadata_proxy_socket: {proxy_socket!r} is longer than {SUN_PATH_MAX} bytes, "
            "the limit of a UNIX socket path"
        )


def check_files(settings: Settings) -> None:
    """Every configured certificate or key must be readable now, not at the first request."""
    files = {
        "auth_ca_cert": settings.proxy.auth_ca_cert,
        "nova_client_cert": settings.proxy.nova_client_cert,
        "nova_client_priv_key": settings.proxy.nova_client_priv_key,
        "ovn_sb_private_key": settings.sb.ovn_sb_private_key,
        "ovn_sb_certificate": settings.sb.ovn_sb_certificate,
        "ovn_sb_ca_cert": settings.sb.ovn_sb_ca_cert,
    }
    for option, path in files.items():
        if not path:
            continue
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as exc:
            raise ConfigError(f"{option}: cannot read {path!r}: {exc.strerror}") from exc


_SOCKET_MODES = {"deduce": None, "user": 0o644, "group": 0o664, "all": 0o666}


def socket_mode(value: str) -> int | None:
    if value not in _SOCKET_MODES:
        raise ConfigError(
            f"metadata_proxy_socket_mode: {value!r} is not one of {', '.join(_SOCKET_MODES)}"
        )
    return _SOCKET_MODES[value]


def _one_line(text: str) -> str:
    return " ".join(text.split())
