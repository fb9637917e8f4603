import dataclasses
import shutil
import subprocess

import pytest

from ovnmeta.agent import config
from ovnmeta.agent.dataplane.haproxy_conf import Frontend, render
from ovnmeta.agent.proxy import probe

NET = "f3dc8112-273e-4653-af3c-6069330ad350"
NET2 = "0b1c2d3e-4f50-4617-8899-aabbccddeeff"


def settings(tmp_path, **rate):
    conf = config.new_conf()
    conf(args=[], default_config_files=[], default_config_dirs=[])
    conf.set_override("state_path", str(tmp_path))
    for k, v in rate.items():
        conf.set_override(k, v, group="metadata_rate_limiting")
    return config.from_conf(conf).edge


def test_one_frontend_per_network_sharing_one_backend(tmp_path):
    text = render(
        [
            Frontend(NET2, f"ovnmeta-{NET2}", "tap0b1c2d3e-41", True),
            Frontend(NET, f"ovnmeta-{NET}", "tapf3dc8112-21", False),
        ],
        settings(tmp_path),
    )
    assert text.count("frontend net_") == 2
    assert text.count("\nbackend agent\n") == 1
    assert f"server agent unix@{tmp_path}/metadata_proxy" in text
    assert f"bind 169.254.169.254:80 namespace ovnmeta-{NET}\n" in text
    assert f"bind ipv6@fe80::a9fe:a9fe:80 namespace ovnmeta-{NET2} interface tap0b1c2d3e-41" in text
    assert text.count("bind ipv6@") == 1
    # delete before set, for both spoofable headers
    block = text[text.index(f"frontend net_{NET}") :]
    assert block.index("del-header X-OVN-Network-ID") < block.index("set-header X-OVN-Network-ID")
    assert block.index("del-header X-Forwarded-For") < block.index("set-header X-Forwarded-For")
    assert f"set-header X-OVN-Network-ID {NET}\n" in block
    assert f"del-header {probe.HEADER}\n" in block  # only local processes may probe
    assert "timeout server 32s" in text
    assert "stick-table" not in text


def test_render_is_deterministic(tmp_path):
    fes = [Frontend(NET, "ns1", "i1", False), Frontend(NET2, "ns2", "i2", True)]
    assert render(fes, settings(tmp_path)) == render(reversed(fes), settings(tmp_path))


def test_rate_limit(tmp_path):
    s = settings(
        tmp_path,
        rate_limit_enabled=True,
        base_query_rate_limit=30,
        burst_window_duration=2,
        burst_query_rate_limit=15,
    )
    text = render([Frontend(NET, "ns1", "i1", True)], s)
    assert "store http_req_rate(10s)" in text and "store http_req_rate(2s)" in text
    assert "deny_status 429 if { sc_http_req_rate(0) gt 30 }" in text
    assert "deny_status 429 if { sc_http_req_rate(1) gt 15 }" in text
    assert "track-sc0 src if !{ src fe80::/10 }" in text  # default: IPv4 only
    both = dataclasses.replace(
        s, rate_limit=dataclasses.replace(s.rate_limit, ip_versions=frozenset({4, 6}))
    )
    assert "track-sc0 src\n" in render([Frontend(NET, "ns1", "i1", True)], both)


@pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy not installed")
def test_haproxy_accepts_rendered_config(tmp_path):
    s = settings(tmp_path, rate_limit_enabled=True)
    # haproxy opens namespaces while parsing, and none exists here: check the rest.
    text = render([Frontend(NET, "ns1", "i1", True), Frontend(NET2, "ns2", "i2", False)], s)
    text = text.replace(" namespace ns1", "").replace(" namespace ns2", "")
    path = tmp_path / "edge.cfg"
    path.write_text(text)
    proc = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
