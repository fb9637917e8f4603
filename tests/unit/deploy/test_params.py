"""Each validation rule of the deployment parameters: one clear error naming the parameter."""

import copy

import pytest

from ovnmeta.core.errors import ConfigError
from ovnmeta.deploy import params

SECRET = "7d1e0b0c4f5a9e2b"

BASE = {
    "shared_secret": SECRET,
    "agent": {"ovn_sb_connection": "tcp:192.0.2.11:6642", "metadata_host": "192.0.2.10"},
    "metadata_api": {"listen": "192.0.2.11"},
}


def with_(**changes):
    """BASE with dotted keys changed; a value of ... removes the key."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        target = data
        for p in parents:
            target = target.setdefault(p, {})
        if value is ...:
            target.pop(key, None)
        else:
            target[key] = value
    return data


def error(data, role="compute"):
    with pytest.raises(ConfigError) as exc:
        params.parse(data, role)
    return str(exc.value)


def test_base_parses_for_both_roles():
    compute = params.parse(BASE, "compute")
    assert compute.agent and compute.agent.metadata_host == "192.0.2.10"
    assert compute.metadata_api is None
    controller = params.parse(BASE, "controller")
    assert controller.metadata_api and controller.metadata_api.listen == "192.0.2.11"
    assert controller.agent is None


def test_secret_never_in_repr():
    d = params.parse(BASE, "compute")
    assert SECRET not in repr(d)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"agent__metadata_host": "http://192.0.2.10:8775"},
            "agent.metadata_host: 'http://192.0.2.10:8775' looks like a URL",
            id="url-in-host-field",
        ),
        pytest.param(
            {"agent__metadata_host": "127.0.0.1"},
            "agent.metadata_host: '127.0.0.1' is this compute itself",
            id="loopback-nova-host",
        ),
        pytest.param(
            {"agent__metadata_host": "localhost"},
            "agent.metadata_host: 'localhost' is this compute itself",
            id="localhost-nova-host",
        ),
        pytest.param(
            {"agent__metadata_host": ...},
            "agent.metadata_host: required",
            id="missing-nova-host",
        ),
        pytest.param({"shared_secret": ""}, "shared_secret: required", id="empty-secret"),
        pytest.param({"shared_secret": "   "}, "shared_secret: required", id="blank-secret"),
        pytest.param({"shared_secret": ...}, "shared_secret: required", id="missing-secret"),
        pytest.param(
            {"shared_secret": "password"}, "shared_secret: a well-known default", id="default"
        ),
        pytest.param(
            {"shared_secret": "ChangeMe"}, "shared_secret: a well-known default", id="changeme"
        ),
        pytest.param(
            {"agent__shared_secret": "password"},
            "agent.shared_secret: a well-known default",
            id="default-in-section",
        ),
        pytest.param(
            {"shared_secret": SECRET + " "}, "leading or trailing white space", id="spaces"
        ),
        pytest.param(
            {"shared_secret": "abc\ndef0123456"}, "shared_secret: contains a control", id="newline"
        ),
        pytest.param(
            {
                "shared_secret": ...,
                "agent__shared_secret": SECRET,
                "metadata_api__shared_secret": SECRET + "x",
            },
            "shared_secret: the agent's and the metadata API's secrets differ",
            id="secrets-differ",
        ),
        pytest.param(
            {"agent__shared_secret": SECRET + "x"},
            "secrets differ",
            id="agent-override-differs-from-top",
        ),
        pytest.param(
            {"agent__ovn_sb_connection": "192.0.2.11:6642"},
            "agent.ovn_sb_connection: '192.0.2.11:6642' is not a tcp:HOST:PORT",
            id="sb-remote-without-scheme",
        ),
        pytest.param(
            {"agent__ovn_sb_connection": "tcp:192.0.2.11:66420"},
            "is not a tcp:HOST:PORT",
            id="sb-remote-bad-port",
        ),
        pytest.param(
            {"agent__ovn_sb_connection": ["tcp:192.0.2.11:6642", "tcp://192.0.2.12:6642"]},
            "agent.ovn_sb_connection: 'tcp://192.0.2.12:6642' is not",
            id="sb-remote-url-in-list",
        ),
        pytest.param(
            {"agent__ovn_sb_connection": "ssl:192.0.2.11:6642"},
            "agent.ovn_sb_private_key: required for the ssl: remotes",
            id="ssl-without-tls-files",
        ),
        pytest.param(
            {"agent__ovn_sb_certificate": "/etc/pki/sb.crt"},
            "agent.ovn_sb_private_key: required with the other southbound TLS files",
            id="partial-tls-files",
        ),
        pytest.param(
            {
                "agent__ovn_sb_connection": ...,
                "agent__controller_ips": ["192.0.2.11"],
                "agent__ovn_sb_private_key": "key.pem",
                "agent__ovn_sb_certificate": "/c",
                "agent__ovn_sb_ca_cert": "/ca",
            },
            "agent.ovn_sb_private_key: 'key.pem' is not an absolute path",
            id="relative-tls-path",
        ),
        pytest.param(
            {"agent__controller_ips": ["192.0.2.11"]},
            "agent.controller_ips: give either agent.ovn_sb_connection or agent.controller_ips",
            id="both-remotes-and-ips",
        ),
        pytest.param(
            {"agent__ovn_sb_connection": ...},
            "agent.ovn_sb_connection: required (or agent.controller_ips)",
            id="no-sb",
        ),
        pytest.param(
            {"agent__ovn_sb_connection": ..., "agent__controller_ips": ["https://ctl-0"]},
            "agent.controller_ips: 'https://ctl-0' looks like a URL",
            id="url-in-controller-ips",
        ),
        pytest.param(
            {"agent__ovn_sb_port": 6642},
            "agent.ovn_sb_port: only used with agent.controller_ips",
            id="sb-port-without-ips",
        ),
        pytest.param(
            {"agent__metadata_protocol": "HTTPS"},
            "metadata_protocol: 'HTTPS' is not one of http, https",
            id="bad-protocol",
        ),
        pytest.param(
            {"agent__metadata_port": "8775"},
            "agent.metadata_port: expected an integer, got string '8775'",
            id="port-as-string",
        ),
        pytest.param(
            {"agent__metadata_port": 0}, "agent.metadata_port: 0 is out of range", id="port-0"
        ),
        pytest.param(
            {"agent__metadata_workers": -1},
            "agent.metadata_workers: -1 is out of range",
            id="negative-workers",
        ),
        pytest.param(
            {"agent__auth_ca_cert": "/etc/ca.pem"},
            "agent.metadata_protocol: TLS options are set but the protocol is http",
            id="tls-options-with-http",
        ),
        pytest.param(
            {"agent__metadata_protocol": "https", "agent__nova_client_cert": "/c.pem"},
            "agent.nova_client_priv_key: required with agent.nova_client_cert",
            id="client-cert-without-key",
        ),
        pytest.param(
            {"agent__ovsdb_connection": "tcp:127.0.0.1:6640,tcp:127.0.0.1:6641"},
            "agent.ovsdb_connection: expected one remote",
            id="two-ovsdb-remotes",
        ),
        pytest.param(
            {"agent__metdata_host": "192.0.2.10"},
            "agent.metdata_host: unknown parameter (did you mean 'metadata_host'?)",
            id="typo",
        ),
        pytest.param({"sharedsecret": SECRET}, "sharedsecret: unknown parameter", id="typo-top"),
        pytest.param(
            {"agent__debug": "yes"}, "agent.debug: expected true or false", id="bool-as-string"
        ),
        pytest.param(
            {"agent__rate_limiting": {"ip_versions": [5]}},
            "agent.rate_limiting.ip_versions: must list 4 and/or 6",
            id="bad-ip-version",
        ),
        pytest.param(
            {"agent__rate_limiting": {"base_query_rate_limit": 0}},
            "agent.rate_limiting.base_query_rate_limit: 0 is out of range",
            id="zero-rate",
        ),
        pytest.param(
            {"agent__host": "compute-0 .example.org"},
            "agent.host: 'compute-0 .example.org' is not an IP address or a host name",
            id="bad-host",
        ),
        pytest.param({"agent": ["x"]}, "agent: expected a mapping", id="agent-not-mapping"),
        pytest.param(
            {"metadata_api__listen": "api.example.org"},
            "metadata_api.listen: 'api.example.org' is not an IP address to bind",
            id="listen-not-ip",
        ),
        pytest.param(
            {"agent__imds_tokens": "always"},
            "agent.imds_tokens: 'always' is not one of optional, required",
            id="imds-tokens-choice",
        ),
        pytest.param(
            {"agent__imds_hop_limit": 65},
            "agent.imds_hop_limit: 65 is out of range (1-64)",
            id="hop-limit-range",
        ),
        pytest.param(
            {"metadata_api__identity_key": "/k.pem"},
            "metadata_api.identity_key: give identity_key and identity_cert together",
            id="identity-half",
        ),
        pytest.param(
            {"metadata_api__db_path": "instances.sqlite3"},
            "metadata_api.db_path: 'instances.sqlite3' is not an absolute path",
            id="relative-db-path",
        ),
    ],
)
def test_validation_error(changes, expected):
    assert expected in error(with_(**changes))


def test_error_never_shows_the_secret():
    message = error(with_(agent__shared_secret=SECRET + "x"))
    assert SECRET not in message


def test_role_needs_its_section():
    assert error(with_(agent=...), "compute") == "agent: required for role compute"
    assert error(with_(metadata_api=...), "controller") == (
        "metadata_api: required for role controller"
    )


def test_section_of_other_role_is_validated_too():
    assert "metadata_api.listen" in error(with_(metadata_api__listen="http://x"), "compute")


def test_parameters_not_a_mapping():
    assert error(["x"]) == "parameters: expected a mapping, got list"


def test_unknown_role():
    assert "role: 'network'" in error(BASE, "network")


def test_controller_ips_become_remotes_ssl_when_tls_files_given():
    d = params.parse(
        with_(
            agent__ovn_sb_connection=...,
            agent__controller_ips="192.0.2.11, 2001:db8::12",
            agent__ovn_sb_port=16642,
            agent__ovn_sb_private_key="/k",
            agent__ovn_sb_certificate="/c",
            agent__ovn_sb_ca_cert="/ca",
        ),
        "compute",
    )
    assert d.agent
    assert [str(r) for r in d.agent.ovn_sb_connection] == [
        "ssl:192.0.2.11:16642",
        "ssl:[2001:db8::12]:16642",
    ]


def test_controller_ips_tcp_without_tls():
    d = params.parse(
        with_(agent__ovn_sb_connection=..., agent__controller_ips=["ctl-0"]), "compute"
    )
    assert d.agent and [str(r) for r in d.agent.ovn_sb_connection] == ["tcp:ctl-0:6642"]


def test_low_rate_limits_warn():
    # unset values are the agent's boot-safe defaults (agent.settings.RATE_LIMIT_DEFAULTS)
    d = params.parse(with_(agent__rate_limiting={"rate_limit_enabled": True}), "compute")
    assert not any("cloud-init boot" in w for w in d.warnings)
    d = params.parse(
        with_(agent__rate_limiting={"rate_limit_enabled": True, "base_query_rate_limit": 10}),
        "compute",
    )
    assert any("cloud-init boot" in w for w in d.warnings)
    d = params.parse(
        with_(
            agent__rate_limiting={
                "rate_limit_enabled": True,
                "base_query_rate_limit": 60,
                "burst_query_rate_limit": 60,
            }
        ),
        "compute",
    )
    assert d.warnings == ()


def test_metadata_disabled_renders_nothing_for_compute_and_warns():
    d = params.parse({"metadata_enabled": False}, "compute")
    assert d.agent is None and not d.metadata_enabled
    assert "config drive" in d.warnings[0]


def test_section_debug_overrides_top_level():
    d = params.parse(with_(debug=True, agent__debug=False), "compute")
    assert d.agent and d.agent.debug is False
    d = params.parse(with_(debug=True), "compute")
    assert d.agent and d.agent.debug is True


def test_files_to_check_lists_role_files():
    d = params.parse(
        with_(agent__metadata_protocol="https", agent__auth_ca_cert="/etc/ca.pem"), "compute"
    )
    assert params.files_to_check(d) == (("agent.auth_ca_cert", "/etc/ca.pem"),)


def test_agent_warnings_only_when_rendering_the_agent():
    data = with_(agent__rate_limiting={"rate_limit_enabled": True})
    assert params.parse(data, "controller").warnings == ()
