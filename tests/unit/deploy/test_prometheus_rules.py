"""deploy/prometheus: the rules load in Prometheus and fire as their unit tests say."""

import pathlib
import re
import subprocess

import pytest
import yaml

from ovnmeta.agent.metrics import Metrics
from ovnmeta.lab import promtool

ROOT = pathlib.Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "ovnmeta.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "ovnmeta.rules.test.yml"


def run_promtool(*argv):
    proc = subprocess.run(
        [str(promtool.path()), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=RULES.parent,
    )
    return proc.returncode, proc.stdout + proc.stderr


def rules():
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_promtool_check_rules():
    code, out = run_promtool("check", "rules", RULES.name)
    assert code == 0, out
    assert f"SUCCESS: {len(rules())} rules found" in out


def test_promtool_test_rules():
    code, out = run_promtool("test", "rules", RULE_TESTS.name)
    assert code == 0, out


def test_every_alert_has_a_unit_test_that_fires_it():
    alerts = {r["alert"] for r in rules() if "alert" in r}
    fired = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == fired


@pytest.mark.parametrize("rule", [r for r in rules() if "alert" in r], ids=lambda r: r["alert"])
def test_alerts_have_severity_summary_and_description(rule):
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_name_only_metrics_the_agent_exports():
    metrics = Metrics()
    metrics.observe_request(200, 0.01)  # a labelled counter has no sample before its first use
    exported = set()
    for metric in metrics.registry.collect():
        exported |= {s.name for s in metric.samples}
    used = set()
    for rule in rules():
        used |= set(re.findall(r"(?<![:\w])(ovnmeta_[a-z_]+)(?![:\w])", rule["expr"]))
    assert used, "no ovnmeta metric in the rules"
    assert used <= exported, used - exported
