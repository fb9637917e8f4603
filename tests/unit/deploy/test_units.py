"""deploy/systemd and deploy/container: the properties the data plane depends on."""

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from ovnmeta.agent.main import EXIT_RELEASED

ROOT = pathlib.Path(__file__).resolve().parents[3]
SYSTEMD = ROOT / "deploy" / "systemd"
CONTAINER = ROOT / "deploy" / "container"
UNITS = sorted(SYSTEMD.glob("*.service"))
INSTALLED = "/opt/ovnmeta/bin/ovnmeta"


def directives(path):
    """{key: [values]} over all sections; comments and blank lines skipped."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_units_exist():
    assert [u.name for u in UNITS] == ["ovnmeta-agent.service", "ovnmeta-metadata-api.service"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path):
    # verify checks that ExecStart= exists: point it at this checkout's ovnmeta.
    ovnmeta = pathlib.Path(sys.executable).with_name("ovnmeta")
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(ovnmeta)))
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_agent_unit_keeps_the_edge_and_is_not_stopped_by_ovn_controller():
    d = directives(SYSTEMD / "ovnmeta-agent.service")
    assert d["KillMode"] == ["process"]
    assert d["Restart"] == ["always"]
    # ...but not after `ovnmeta agent --release` (agent/main.py EXIT_RELEASED)
    assert d["RestartPreventExitStatus"] == d["SuccessExitStatus"] == [str(EXIT_RELEASED)]
    after = " ".join(d["After"]).split()
    wants = " ".join(d["Wants"]).split()
    for unit in ("ovn-controller.service", "openvswitch-switch.service"):
        assert unit in after and unit in wants
    for binding in ("Requires", "BindsTo", "PartOf", "Requisite"):
        assert binding not in d


@pytest.mark.parametrize(
    "option",
    [
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "PrivateMounts",
        "PrivateNetwork",
        "ReadOnlyPaths",
        "ProtectKernelTunables",
        "ProtectControlGroups",
    ],
)
def test_agent_unit_has_no_private_mount_namespace(option):
    # Namespaces bind-mounted under /run/netns must be visible on the host and outlive the agent.
    assert option not in directives(SYSTEMD / "ovnmeta-agent.service")


def test_agent_unit_allows_network_namespaces():
    d = directives(SYSTEMD / "ovnmeta-agent.service")
    assert d["RestrictNamespaces"] == ["net"]
    caps = d["CapabilityBoundingSet"][0].split()
    assert {"CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_NET_BIND_SERVICE"} <= set(caps)


def test_quadlet_and_run_line_agree_on_the_mounts():
    quadlet = directives(CONTAINER / "ovnmeta-agent.container")
    # The run line takes the host side of some mounts from the environment: use the defaults.
    text = (CONTAINER / "podman-run-agent.sh").read_text()
    run = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text).replace('"', "")
    for volume in quadlet["Volume"]:
        assert f"--volume {volume}" in run, volume
    assert quadlet["Network"] == ["host"]
    assert "--pid=host" in quadlet["PodmanArgs"][0] and "--pid=host" in run
    assert "--cgroupns=host" in quadlet["PodmanArgs"][0] and "--cgroupns=host" in run
    assert "/run/netns:/run/netns:shared" in quadlet["Volume"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
@pytest.mark.skipif(not pathlib.Path("/usr/bin/podman").exists(), reason="podman not installed")
def test_container_unit_passes_systemd_analyze_verify():
    unit = CONTAINER / "ovnmeta-agent-container.service"
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_container_unit_runs_the_same_container_as_the_quadlet():
    quadlet = directives(CONTAINER / "ovnmeta-agent.container")
    text = (CONTAINER / "ovnmeta-agent-container.service").read_text()
    volumes = re.findall(r"--volume (\S+)", text)
    assert volumes == quadlet["Volume"]
    for flag in ("--network=host", "--pid=host", "--cgroupns=host", "--privileged"):
        assert flag in text
    d = directives(CONTAINER / "ovnmeta-agent-container.service")
    assert "ovn-controller.service" in d["After"][0] and "ovn-controller.service" in d["Wants"][0]
    assert "Requires" not in d and "BindsTo" not in d


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed")
def test_shell_scripts_pass_shellcheck():
    scripts = sorted(str(p) for p in (ROOT / "deploy").rglob("*.sh"))
    result = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_containerfile_runs_the_legacy_name_and_the_healthcheck():
    text = (CONTAINER / "Containerfile").read_text()
    assert 'CMD ["neutron-ovn-metadata-agent"]' in text
    assert 'CMD ["ovnmeta", "healthcheck"]' in text
    assert "COPY deploy/container/edge-detach.sh /usr/local/bin/haproxy" in text
    quadlet = directives(CONTAINER / "ovnmeta-agent.container")
    assert quadlet["HealthCmd"] == ["ovnmeta healthcheck"]
    assert quadlet["Exec"] == ["neutron-ovn-metadata-agent"]


def test_socket_holder_leaves_the_container_cgroup_too():
    # Without it, `podman stop` kills the holder and guests get 503 until the next agent.
    text = (CONTAINER / "Containerfile").read_text()
    assert "COPY deploy/container/edge-detach.sh /usr/local/bin/ovnmeta-detach" in text
    assert "OVNMETA_DETACH=/usr/local/bin/ovnmeta-detach" in text
    assert 'exec "$@"' in (CONTAINER / "edge-detach.sh").read_text()


def test_edge_detach_execs_the_real_haproxy():
    script = CONTAINER / "edge-detach.sh"
    assert script.stat().st_mode & 0o111
    assert script.read_text().rstrip().endswith('exec /usr/sbin/haproxy "$@"')
