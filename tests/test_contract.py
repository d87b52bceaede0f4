"""docs/contract.md walked against the code, both ways (the habit of datasette's docs tests).

Every URL, query parameter, JSON field, CLI option, metric and environment variable the
app has must be written down, and everything written down must exist.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from django.conf import settings
from django.urls import resolve

import simulations
from devtools import contract
from monograph import sims, urls, views
from monograph.management.commands.simulate import Command as Simulate
from simulations.engine.sweep import SWEEP_NAMES

DOC = contract.DOC.read_text(encoding="utf-8")
README = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return DOC.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _first_column(title: str, table: int = 0) -> list[str]:
    """The `code` in the first cell of each row of a section's table-th table."""
    tables = re.findall(r"(?:^\|.*\n)+", _section(title), re.M)
    rows = tables[table].splitlines()[2:]
    return [re.match(r"\| `([^`]+)`", r).group(1) for r in rows if r.startswith("| `")]


def test_every_url_is_documented_and_every_documented_url_exists():
    routes = {"/" + str(p.pattern) for p in urls.urlpatterns}
    documented = {u.replace("<sim>", "<slug:sim>").replace("<slug>", "<slug:slug>")
                  for u in _first_column("URLs")}
    assert documented == routes, (f"undocumented: {sorted(routes - documented)}; "
                                  f"documented but gone: {sorted(documented - routes)}")
    for url in _first_column("URLs"):
        resolve(url.replace("<sim>", "fanout").replace("<slug>", "cost"))


def test_every_extra_query_parameter_is_documented_and_accepted():
    accepted = {simulations.SEED.name, sims.MODEL_VERSION.name, *sims.PAGE_EXTRAS,
                *views.IMAGE_EXTRAS, *SWEEP_NAMES}
    assert set(_first_column("Query parameters")) == accepted


def test_the_json_fields_are_the_documented_ones():
    result_fields = {f.name for f in dataclasses.fields(sims.Run)} - {"figure_json"}
    assert set(_first_column("The JSON result", 0)) == result_fields
    metric_fields = {f.name for f in dataclasses.fields(simulations.Metric)}
    assert set(_first_column("The JSON result", 1)) == metric_fields


def test_the_cli_options_are_the_documented_ones():
    parser = argparse.ArgumentParser()
    Simulate().add_arguments(parser)
    options = {s for a in parser._actions for s in a.option_strings if s.startswith("--")}
    documented = {o.split()[0] for o in _first_column("Command line")}
    assert documented == options - {"--help"}


def test_every_simulations_parameters_and_metrics_are_documented():
    assert contract.documented() == contract.reference(), (
        f"docs/contract.md's simulation reference is out of date: run `{contract.COMMAND}`")


def test_every_environment_variable_the_app_reads_is_in_the_readme():
    sources = [*Path(settings.BASE_DIR, "monograph").glob("*.py"),
               Path(settings.BASE_DIR, "gunicorn.conf.py")]
    read = {name for path in sources for name in re.findall(
        r"""(?:env|env_bool|env_list|environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]+)["']""",
        path.read_text(encoding="utf-8"))}
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    assert read, "found no environment variables: has the way settings read them changed?"
    assert read <= documented, f"not in the README: {sorted(read - documented)}"
    monograph_vars = {n for n in documented if n.startswith("MONOGRAPH_")}
    assert monograph_vars <= read, f"documented but never read: {sorted(monograph_vars - read)}"
