"""`ovnmeta config render`: files in, all files or none out, one line per error."""

import json
import os
import stat
import textwrap

import pytest

from ovnmeta import cli
from ovnmeta.deploy import render

PARAMS = """\
shared_secret: 7d1e0b0c4f5a9e2b
agent:
  ovn_sb_connection: tcp:192.0.2.11:6642
  metadata_host: 192.0.2.10
metadata_api:
  listen: 192.0.2.11
"""


def write(tmp_path, text, name="params.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def run(*argv):
    return cli.main(["config", "render", *argv])


def test_writes_agent_ini_with_secret_mode(tmp_path, capsys):
    out = tmp_path / "out"
    assert run("--role", "compute", "--params", write(tmp_path, PARAMS), "--out", str(out)) == 0
    ini = out / render.AGENT_INI
    assert stat.S_IMODE(ini.stat().st_mode) == 0o640
    assert "nova_metadata_host = 192.0.2.10" in ini.read_text()
    assert capsys.readouterr().out.strip() == str(ini)
    assert sorted(os.listdir(out)) == [render.AGENT_INI]  # no temporary files left


def test_controller_writes_both_files(tmp_path):
    out = tmp_path / "out"
    assert run("--role", "controller", "--params", write(tmp_path, PARAMS), "--out", str(out)) == 0
    assert sorted(os.listdir(out)) == [render.ML2_INI, render.METADATA_API_INI]


def test_stdout_without_out(tmp_path, capsys):
    assert run("--role", "compute", "--params", write(tmp_path, PARAMS)) == 0
    assert capsys.readouterr().out.startswith(f"# ==> {render.AGENT_INI} <==\n")


def test_json_params(tmp_path, capsys):
    import yaml

    path = write(tmp_path, json.dumps(yaml.safe_load(PARAMS)), "params.json")
    assert run("--role", "compute", "--params", path) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            PARAMS.replace("192.0.2.10", "http://192.0.2.10/"),
            "agent.metadata_host: 'http://192.0.2.10/' looks like a URL",
            id="url",
        ),
        pytest.param(PARAMS.replace("7d1e0b0c4f5a9e2b", "password"), "well-known", id="default"),
        pytest.param(
            "shared_secret: a\nshared_secret: b\n",
            "shared_secret: given twice (line 2)",
            id="duplicate-key",
        ),
        pytest.param("agent: [", "not valid YAML", id="bad-yaml"),
    ],
)
def test_error_is_one_line_and_nothing_is_written(tmp_path, capsys, text, expected):
    out = tmp_path / "out"
    path = write(tmp_path, text)
    assert run("--role", "compute", "--params", path, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ovnmeta: {path}: ") and expected in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_missing_tls_file_is_an_error(tmp_path, capsys):
    key, crt = tmp_path / "sb.key", tmp_path / "sb.crt"
    key.write_text("k")
    crt.write_text("c")
    text = PARAMS.replace(
        "  ovn_sb_connection: tcp:192.0.2.11:6642\n",
        f"  ovn_sb_connection: ssl:192.0.2.11:6642\n  ovn_sb_private_key: {key}\n"
        f"  ovn_sb_certificate: {crt}\n  ovn_sb_ca_cert: {tmp_path}/ca.crt\n",
    )
    out = tmp_path / "out"
    path = write(tmp_path, text)
    assert run("--role", "compute", "--params", path, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert f"agent.ovn_sb_ca_cert: cannot read '{tmp_path}/ca.crt': No such file" in err
    assert not out.exists()
    # Rendering for another host: the check can be skipped.
    assert run("--role", "compute", "--params", path, "--out", str(out), "--skip-file-checks") == 0


def test_existing_files_untouched_on_error(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / render.AGENT_INI).write_text("old")
    bad = write(tmp_path, PARAMS.replace("192.0.2.10", "127.0.0.1"))
    assert run("--role", "compute", "--params", bad, "--out", str(out)) == 2
    assert (out / render.AGENT_INI).read_text() == "old"


def test_missing_params_file(tmp_path, capsys):
    assert run("--role", "compute", "--params", str(tmp_path / "nope.yaml")) == 2
    assert "cannot read the parameters: No such file" in capsys.readouterr().err


def test_warnings_go_to_stderr(tmp_path, capsys):
    text = PARAMS + "  \n"
    text = text.replace(
        "  metadata_host: 192.0.2.10\n",
        "  metadata_host: 192.0.2.10\n"
        "  rate_limiting: {rate_limit_enabled: true, base_query_rate_limit: 10}\n",
    )
    assert run("--role", "compute", "--params", write(tmp_path, text)) == 0
    assert "ovnmeta: warning: agent.rate_limiting.base_query_rate_limit" in capsys.readouterr().err


def test_conf_d_names_for_a_config_dir(tmp_path):
    out = tmp_path / "neutron.conf.d"
    path = write(tmp_path, PARAMS)
    assert run("--role", "compute", "--params", path, "--out", str(out), "--conf-d") == 0
    assert os.listdir(out) == ["01-neutron-ovn-metadata-agent.conf"]
    assert run("--role", "controller", "--params", path, "--out", str(out), "--conf-d") == 0
    assert sorted(os.listdir(out)) == [
        "01-neutron-ovn-metadata-agent.conf",
        "01-ovnmeta-metadata-api.conf",
        "50-ml2-ovn-metadata.conf",
    ]


@pytest.mark.parametrize("role", ["compute", "controller"])
def test_example_params_render(role, capsys):
    example = os.path.join(os.path.dirname(__file__), "../../../deploy/params.example.yaml")
    assert run("--role", role, "--params", example, "--skip-file-checks") == 0
    assert capsys.readouterr().err == ""
