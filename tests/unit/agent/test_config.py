import textwrap

import pytest

from ovnmeta import cli
from ovnmeta.agent import config, settings
from ovnmeta.core.errors import ConfigError


def write(tmp_path, text, name="agent.ini"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def load(*paths, dirs=()):
    argv = []
    for p in paths:
        argv += ["--config-file", p]
    for d in dirs:
        argv += ["--config-dir", d]
    return config.load(argv, default_config_dirs=())


def test_defaults_match_upstream(tmp_path):
    s = load(write(tmp_path, "[DEFAULT]\n"))
    assert s.proxy.nova_metadata_host == "127.0.0.1"
    assert s.proxy.nova_metadata_port == 8775
    assert s.proxy.nova_base_url == "http://127.0.0.1:8775"
    assert s.proxy.metadata_proxy_socket == "/var/lib/neutron/metadata_proxy"
    assert s.proxy.metadata_backlog == 4096
    assert s.sb.connection_string == "tcp:127.0.0.1:6642"
    assert s.sb.ovsdb_probe_interval == 60000
    assert s.edge.timeout_server == 32
    assert s.edge.rate_limit.rate_limit_enabled is False
    assert s.agent.agent_down_time == 75
    assert s.agent.metrics_port == 0


def test_upstream_ini_loads_unchanged_with_unknown_options(tmp_path):
    ini = write(
        tmp_path,
        f"""
        [DEFAULT]
        state_path = {tmp_path}/state
        metadata_proxy_shared_secret = s3cr3t
        nova_metadata_ip = 192.0.2.10
        nova_metadata_port = 9775
        debug = true
        some_unknown_option = whatever
        [ovs]
        ovsdb_connection = tcp:127.0.0.1:6640
        [ovn]
        ovn_sb_connection = tcp:10.0.0.1:6642,tcp:[fd00::2]:6642,unix:/run/ovn/sb.sock
        ovn_metadata_enabled = true
        [metadata_rate_limiting]
        rate_limit_enabled = true
        ip_versions = 4,6
        [ovnmeta]
        metrics_port = 9105
        """,
    )
    s = load(ini)
    assert s.proxy.metadata_proxy_shared_secret == "s3cr3t"
    assert s.proxy.nova_metadata_host == "192.0.2.10"  # deprecated alias still works
    assert s.proxy.nova_base_url == "http://192.0.2.10:9775"
    assert s.proxy.metadata_proxy_socket == f"{tmp_path}/state/metadata_proxy"
    assert [str(r) for r in s.sb.ovn_sb_connection] == [
        "tcp:10.0.0.1:6642",
        "tcp:[fd00::2]:6642",
        "unix:/run/ovn/sb.sock",
    ]
    assert str(s.ovs.ovsdb_connection) == "tcp:127.0.0.1:6640"
    assert s.edge.rate_limit.ip_versions == frozenset({4, 6})
    assert s.agent.metrics_port == 9105
    assert s.edge.debug is True
    assert "s3cr3t" not in repr(s)


def test_later_files_and_config_dir_override(tmp_path):
    a = write(tmp_path, "[DEFAULT]\nnova_metadata_port = 1000\n", "a.ini")
    b = write(tmp_path, "[DEFAULT]\nnova_metadata_port = 2000\n", "b.ini")
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "10-nova.conf").write_text("[DEFAULT]\nnova_metadata_host = nova.example.org\n")
    s = load(a, b, dirs=[str(d)])
    assert s.proxy.nova_metadata_port == 2000
    assert s.proxy.nova_metadata_host == "nova.example.org"


def test_ipv6_nova_host_is_bracketed(tmp_path):
    s = load(write(tmp_path, "[DEFAULT]\nnova_metadata_host = fd00::5\n"))
    assert s.proxy.nova_base_url == "http://[fd00::5]:8775"


@pytest.mark.parametrize(
    ("ini", "option"),
    [
        ("[DEFAULT]\nnova_metadata_host = http://nova:8775\n", "nova_metadata_host"),
        ("[DEFAULT]\nnova_metadata_host = bad host\n", "nova_metadata_host"),
        ("[DEFAULT]\nnova_metadata_port = 70000\n", "nova_metadata_port"),
        ("[DEFAULT]\nnova_metadata_port = abc\n", "nova_metadata_port"),
        ("[DEFAULT]\nnova_metadata_protocol = ftp\n", "nova_metadata_protocol"),
        ("[DEFAULT]\nmetadata_proxy_socket_mode = world\n", "metadata_proxy_socket_mode"),
        ("[DEFAULT]\nstate_path = relative/dir\n", "state_path"),
        ("[ovn]\novn_sb_connection = 10.0.0.1:6642\n", "ovn_sb_connection"),
        ("[ovn]\novn_sb_connection = tcp:10.0.0.1\n", "ovn_sb_connection"),
        ("[ovn]\novn_sb_connection = tcp:10.0.0.1:6642,\n", "ovn_sb_connection"),
        ("[ovn]\novn_sb_connection = ssl:10.0.0.1:6642\n", "ovn_sb_private_key"),
        ("[ovs]\novsdb_connection = bogus\n", "ovsdb_connection"),
        ("[metadata_rate_limiting]\nip_versions = 5\n", "ip_versions"),
        ("[metadata_haproxy]\ntimeout_server = 0\n", "timeout_server"),
        ("[ovnmeta]\nimds_tokens = always\n", "imds_tokens"),
        ("[ovnmeta]\nimds_hop_limit = 0\n", "imds_hop_limit"),
        ("[ovnmeta]\nimds_hop_limit = 65\n", "imds_hop_limit"),
        ("[DEFAULT]\nstate_path = /" + "x" * 100 + "\n", "state_path"),
        ("[DEFAULT]\nmetadata_proxy_socket = /" + "s" * 120 + "\n", "metadata_proxy_socket"),
    ],
    ids=lambda v: v if "\n" not in v else None,
)
def test_bad_values_name_the_option(tmp_path, ini, option):
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, ini))
    message = str(err.value)
    assert option in message
    assert "\n" not in message


def test_unreadable_cert_stops_startup(tmp_path):
    ini = write(tmp_path, f"[DEFAULT]\nauth_ca_cert = {tmp_path}/missing.pem\n")
    with pytest.raises(ConfigError, match=r"^auth_ca_cert: cannot read .*missing\.pem"):
        load(ini)


def test_readable_certs_are_accepted(tmp_path):
    for name in ("ca.pem", "key.pem", "cert.pem"):
        (tmp_path / name).write_text("x")
    ini = write(
        tmp_path,
        f"""
        [DEFAULT]
        nova_metadata_protocol = https
        auth_ca_cert = {tmp_path}/ca.pem
        [ovn]
        ovn_sb_connection = ssl:10.0.0.1:6642
        ovn_sb_private_key = {tmp_path}/key.pem
        ovn_sb_certificate = {tmp_path}/cert.pem
        ovn_sb_ca_cert = {tmp_path}/ca.pem
        """,
    )
    s = load(ini)
    assert s.proxy.auth_ca_cert == f"{tmp_path}/ca.pem"
    assert s.sb.ovn_sb_connection[0].scheme == "ssl"


def test_missing_config_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError):
        load(str(tmp_path / "nope.ini"))


def test_fairness_defaults_leave_room_for_a_boot(tmp_path):
    p = load(write(tmp_path, "[DEFAULT]\n")).proxy
    # A cloud-init boot: ~30 requests, one or two at a time; dozens of them on one network.
    assert (p.in_flight_per_network, p.in_flight_per_source) == (25, 4)
    assert (p.queued_per_source, p.queue_timeout_s, p.guest_log_interval_s) == (64, 10.0, 60.0)
    assert p.in_flight_per_source <= p.in_flight_per_network <= p.nova_pool_size


def test_fairness_options_are_read(tmp_path):
    ini = """
        [ovnmeta]
        in_flight_per_network = 10
        in_flight_per_source = 10
        queued_per_source = 3
        queue_timeout = 0.5
        guest_log_interval = 5
        """
    p = load(write(tmp_path, ini)).proxy
    assert (p.in_flight_per_network, p.in_flight_per_source, p.queued_per_source) == (10, 10, 3)
    assert (p.queue_timeout_s, p.guest_log_interval_s) == (0.5, 5.0)


@pytest.mark.parametrize(
    ("line", "option"),
    [
        ("in_flight_per_network = 0", "in_flight_per_network"),
        ("in_flight_per_network = -4", "in_flight_per_network"),
        ("in_flight_per_source = 0", "in_flight_per_source"),
        ("in_flight_per_source = 26", "in_flight_per_source"),  # above the network's 25
        ("queued_per_source = 0", "queued_per_source"),
        ("queue_timeout = 0", "queue_timeout"),
        ("queue_timeout = -1.5", "queue_timeout"),
        ("guest_log_interval = 0", "guest_log_interval"),
    ],
    ids=lambda v: v.replace(" ", ""),
)
def test_bad_fairness_values_stop_startup_with_exit_2(tmp_path, capsys, line, option):
    ini = write(tmp_path, f"[ovnmeta]\n{line}\n")
    with pytest.raises(ConfigError, match=rf"^{option}: "):
        load(ini)
    from ovnmeta import cli

    assert cli.main(["agent", "--config-file", ini]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ovnmeta: {option}: ") and err.count("\n") == 1


def test_edge_isolation_defaults(tmp_path):
    edge = load(write(tmp_path, "[DEFAULT]\n")).edge
    assert (edge.maxconn, edge.network_maxconn, edge.source_maxconn) == (1024, 256, 32)
    assert edge.source_conn_rate == 1000  # 35 boots' connections per 10 s
    assert edge.timeout_http_request == 5  # not upstream's 30 s
    assert edge.rate_limit.ip_versions == frozenset({4, 6})  # once enabled: both families
    assert settings.boot_warnings(edge) == ()


@pytest.mark.parametrize(
    ("upstream", "ours", "effective"),
    [(None, None, 5), (30, None, 5), (2, None, 2), (30, 12, 12), (None, 1, 1)],
    ids=["defaults", "upstream-30-capped", "upstream-shorter-wins", "ours-raised", "ours-lower"],
)
def test_header_timeout_is_the_smaller_of_upstream_and_ours(tmp_path, upstream, ours, effective):
    ini = "[metadata_haproxy]\n"
    if upstream is not None:
        ini += f"timeout_http_request = {upstream}\n"
    ini += "[ovnmeta]\n"
    if ours is not None:
        ini += f"edge_header_timeout = {ours}\n"
    assert load(write(tmp_path, ini)).edge.timeout_http_request == effective


def test_upstream_rate_limit_values_are_honoured(tmp_path):
    ini = """
        [metadata_rate_limiting]
        rate_limit_enabled = true
        ip_versions = 4
        base_window_duration = 10
        base_query_rate_limit = 10
        burst_window_duration = 10
        burst_query_rate_limit = 10
        """
    edge = load(write(tmp_path, ini)).edge
    rl = edge.rate_limit
    assert rl.ip_versions == frozenset({4})
    assert (rl.base_window_duration, rl.base_query_rate_limit) == (10, 10)
    warnings = settings.boot_warnings(edge)
    assert len(warnings) == 2 and "base_query_rate_limit = 10" in warnings[0]


@pytest.mark.parametrize(
    ("ini", "option"),
    [
        ("[ovnmeta]\nedge_network_maxconn = 0\n", "edge_network_maxconn"),
        ("[ovnmeta]\nedge_network_maxconn = -5\n", "edge_network_maxconn"),
        ("[ovnmeta]\nedge_source_maxconn = 0\n", "edge_source_maxconn"),
        ("[ovnmeta]\nedge_source_maxconn = -1\n", "edge_source_maxconn"),
        ("[ovnmeta]\nedge_maxconn = 0\n", "edge_maxconn"),
        ("[ovnmeta]\nedge_header_timeout = 0\n", "edge_header_timeout"),
        ("[ovnmeta]\nedge_source_conn_rate = 0\n", "edge_source_conn_rate"),
        ("[ovnmeta]\nedge_header_timeout = -3\n", "edge_header_timeout"),
        ("[metadata_haproxy]\ntimeout_http_request = 0\n", "timeout_http_request"),
        ("[ovnmeta]\nedge_network_maxconn = 2000\n", "edge_network_maxconn"),  # > 1024
        ("[ovnmeta]\nedge_source_maxconn = 300\n", "edge_source_maxconn"),  # > 256
        ("[metadata_rate_limiting]\nbase_query_rate_limit = 0\n", "base_query_rate_limit"),
        ("[metadata_rate_limiting]\nburst_query_rate_limit = -1\n", "burst_query_rate_limit"),
        ("[metadata_rate_limiting]\nburst_window_duration = 0\n", "burst_window_duration"),
    ],
    ids=lambda v: v if "\n" not in v else None,
)
def test_bad_edge_limits_name_the_option(tmp_path, ini, option):
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, ini))
    message = str(err.value)
    assert message.startswith(f"{option}: ")
    assert "\n" not in message


def test_bad_edge_limit_exits_2_with_one_line_and_starts_nothing(tmp_path, capsys):
    state = tmp_path / "state"
    ini = write(tmp_path, f"[DEFAULT]\nstate_path = {state}\n[ovnmeta]\nedge_network_maxconn = 0\n")
    assert cli.main(["agent", "--config-file", ini]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "edge_network_maxconn" in err
    assert not state.exists()  # no edge config, pid file or socket was written


def test_token_options_default_to_optional_and_are_read(tmp_path):
    s = load(write(tmp_path, "[DEFAULT]\n"))
    assert (s.proxy.imds_tokens, s.proxy.imds_tokens_required_projects) == ("optional", frozenset())
    assert (s.proxy.imds_token_state, s.edge.imds_hop_limit) == (False, 1)
    ini = """
        [ovnmeta]
        imds_tokens = required
        imds_tokens_required_projects = p1, p2
        imds_token_state = true
        imds_hop_limit = 3
    """
    s = load(write(tmp_path, ini))
    assert (s.proxy.imds_tokens, s.proxy.imds_tokens_required_projects) == (
        "required",
        frozenset({"p1", "p2"}),
    )
    assert (s.proxy.imds_token_state, s.edge.imds_hop_limit) == (True, 3)


def test_without_extensions_the_agent_is_the_metadata_agent(tmp_path):
    assert load(write(tmp_path, "[DEFAULT]\n")).agent.role == settings.NEUTRON_METADATA_AGENT


@pytest.mark.parametrize("section", ["agent", "AGENT"])
def test_ovn_agent_ini_with_the_metadata_extension_is_neutron_ovn_agent(tmp_path, section):
    ini = write(
        tmp_path,
        f"""
        [DEFAULT]
        metadata_proxy_shared_secret = s
        [{section}]
        extensions = metadata
        [ovn]
        ovn_sb_connection = tcp:192.0.2.1:6642
        """,
        name="ovn_agent.ini",
    )
    s = load(ini)
    assert s.agent.role == settings.NEUTRON_OVN_AGENT
    assert s.proxy.metadata_proxy_shared_secret == "s"  # the same options as the metadata agent


def test_other_extensions_exit_2_naming_what_is_not_implemented(tmp_path, capsys):
    state = tmp_path / "state"
    ini = write(
        tmp_path,
        f"[DEFAULT]\nstate_path = {state}\n[agent]\nextensions = metadata, qos_hwol,ovn-bgp\n",
        name="ovn_agent.ini",
    )
    assert cli.main(["agent", "--config-file", ini]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "extensions" in err and "not ovn-bgp, qos_hwol" in err and "metadata" in err
    assert not state.exists()
