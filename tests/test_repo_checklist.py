"""The repository passes its own checklist: a pull-request template generated from the
book's "Do this" items and kept in sync, and the documents a reviewer and an on-call
engineer need."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from monograph import content
from monograph.checklist_markdown import markdown_line
from monograph.management.commands.pr_template import TEMPLATE, render

ROOT = Path(settings.BASE_DIR)


def test_the_committed_pull_request_template_is_what_the_chapters_generate():
    assert (ROOT / TEMPLATE).read_text() == render(), \
        "run `python manage.py pr_template` and commit .github/pull_request_template.md"


def test_the_template_has_one_box_per_do_this_item_with_its_must():
    groups = content.book().checklist()
    text = render()
    assert text.count("- [ ] ") == sum(len(items) for _, items in groups) > 0
    assert text.count("- [ ] **must** ") == sum(i.must for _, items in groups for i in items)
    for page, _ in groups:
        assert f"### {page.title}\n" in text


def test_the_check_mode_fails_when_the_template_is_stale(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    with pytest.raises(CommandError, match="out of date with the chapters"):
        call_command("pr_template", "--check")
    call_command("pr_template")
    call_command("pr_template", "--check")  # written, so now in sync


def test_checklist_html_becomes_one_line_of_markdown():
    html = ('Pin <code>uv.lock</code>, read <a href="/chapters/cost/">the cost chapter</a>\n'
            'and <a href="https://sre.google/workbook/">the workbook</a> &amp; <em>act</em>.')
    assert markdown_line(html) == ("Pin `uv.lock`, read the cost chapter and "
                                   "[the workbook](https://sre.google/workbook/) & _act_.")


@pytest.mark.parametrize("path", ["RUNBOOK.md", "SECURITY.md", "docs/rollback.md", "docs/slo.md",
                                  ".github/CODEOWNERS"])
def test_the_operations_documents_exist(path):
    assert (ROOT / path).read_text().strip()


def test_the_runbook_covers_every_alert_it_is_linked_from():
    runbook = (ROOT / "RUNBOOK.md").read_text().lower()
    groups = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    anchors = {r["annotations"]["runbook"].split("#")[1]
               for g in groups for r in g["rules"] if "alert" in r}
    headings = {"-".join("".join(c for c in line.lstrip("#").strip() if c.isalnum() or c in " -")
                         .split())
                for line in runbook.splitlines() if line.startswith("## ")}
    assert anchors <= headings, f"RUNBOOK.md lacks sections for {sorted(anchors - headings)}"


def test_dependency_updates_are_scheduled_for_python_actions_and_the_image():
    config = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"uv", "github-actions", "docker"} <= set(ecosystems)
    assert all(u["schedule"]["interval"] in ("daily", "weekly", "monthly") for u in config["updates"])
