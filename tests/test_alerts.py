"""The Prometheus rules in deploy/prometheus: valid, unit-tested with promtool, and written
against metric and route names the app really exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.urls import reverse
from opstools import require

RULES = Path(settings.BASE_DIR) / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = RULES.with_name("alerts.test.yml")


def _exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require("promtool"), *args], cwd=RULES.parent, capture_output=True,
                          text=True, timeout=120)


def test_promtool_accepts_the_rules():
    proc = _promtool("check", "rules", RULES.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_alerts_fire_on_the_series_they_are_meant_for_and_not_otherwise():
    proc = _promtool("test", "rules", RULE_TESTS.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_rules_use_only_metrics_the_app_exports():
    from prometheus_client import REGISTRY

    import monograph.metrics  # noqa: F401 - registers the app's metrics

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    exported = {f.name + end for f in REGISTRY.collect() for end in suffixes.get(f.type, ())}
    used = {name for e in _exprs() for name in re.findall(r"\bmonograph_\w+", e)}
    assert used, "the rules should read the app's metrics"
    assert used <= exported, f"not exported: {sorted(used - exported)}"


def test_the_rules_name_only_routes_the_app_has():
    from django.urls import get_resolver

    names = {n for n in get_resolver().reverse_dict if isinstance(n, str)}
    used = {r for e in _exprs() for alt in re.findall(r'route[!=]~"([^"]+)"', e)
            for r in alt.split("|")}
    assert used and used <= names, f"unknown routes: {sorted(used - names)}"
    assert reverse("figure", args=["fanout"])  # the figure route the SLOs centre on


@pytest.mark.parametrize(("factor", "window"), [(14.4, "1h"), (14.4, "5m"), (6, "6h"), (6, "30m"),
                                                (1, "3d")])
def test_the_burn_rate_pairs_are_the_workbooks(factor, window):
    text = RULES.read_text()
    assert f"slo:sli_error:ratio_rate{window} > ({factor} * slo:error_budget:ratio)" in text
