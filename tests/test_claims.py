"""Claims the prose makes as relations, not numbers, checked against the simulations.

Each test names the chapter and the sentence it guards, runs the settings through the same
expression language the chapters use for live numbers (so a renamed preset or metric
fails here too), and asserts the relation. `covers(chapter, n)` records that the test
checks the answer to exercise n of that chapter; the last test walks every chapter and
fails if an exercise answer has neither a live number nor a claim test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from monograph import livenumbers
from monograph.content import load_book, preset_queries

CONTENT = Path(settings.BASE_DIR) / "content"
BOOK = load_book(CONTENT)
COVERED: set[tuple[str, int]] = set()


def covers(chapter: str, exercise: int):
    """Mark a test as the check on a chapter's exercise answer."""
    COVERED.add((chapter, exercise))
    return lambda fn: fn


def value(chapter: str, expression: str):
    """The value a live number with this expression would show on that chapter's page."""
    page = BOOK.by_slug[chapter]
    number = livenumbers.parse_expression(expression, 0, preset_queries(page.figures))
    return livenumbers.values([number])[0]


# -- resilience -------------------------------------------------------------------------------
JITTERS = ("none", "full", "equal", "decorrelated")
SEEDS = range(1, 7)


@covers("resilience", 2)
def test_resilience_only_a_retry_budget_reliably_ends_the_storm_jitter_alone_is_a_coin_toss():
    """'Change the seed and full jitter fails too … With a 10 % budget every jitter recovers.'"""
    base = 'recovery_s preset="Backoff without jitter"'
    recovered = {j: [value("resilience", f"{base} jitter={j} seed={s}") is not None
                     for s in SEEDS] for j in JITTERS}
    budget = {j: [value("resilience", f"{base} jitter={j} retry_budget=0.1 seed={s}")
                  is not None for s in SEEDS] for j in JITTERS}
    assert all(all(ok) for ok in budget.values()), budget
    for j in ("none", "equal", "decorrelated"):
        assert not any(recovered[j]), (j, recovered[j])
    assert any(recovered["full"]) and not all(recovered["full"]), recovered["full"]


@covers("resilience", 1)
def test_resilience_less_load_does_not_drain_the_backlog_until_the_trigger_stops_overloading():
    """'There is no gentle slope where slack drains the backlog.'"""
    base = 'recovery_s preset="Blip becomes outage"'
    for load in (0.55, 0.6, 0.7, 0.8):
        assert value("resilience", f"{base} load={load}") is None, load
    assert value("resilience", f"{base} load=0.5") is not None
    assert value("resilience", f"{base} max_retries=0") is not None


@covers("resilience", 3)
def test_resilience_a_budget_caps_three_layer_amplification_but_only_a_breaker_recovers():
    preset = 'preset="Three layers retrying"'
    assert value("resilience", f"amplification {preset}") > 10 * value(
        "resilience", f"amplification {preset} retry_budget=0.1")
    assert value("resilience", f"recovery_s {preset}") is None
    assert value("resilience", f"recovery_s {preset} retry_budget=0.1") is None
    assert value("resilience", f"recovery_s {preset} breaker=1") is not None


# -- tail latency -----------------------------------------------------------------------------
@covers("tail-latency", 3)
def test_tail_latency_hedging_cuts_the_far_tail_at_half_load_and_worsens_it_at_09():
    """'The median still improves … but P99.9 gets worse' at load 0.9."""
    calm_plain = value("tail-latency", 'p999_ms preset="The Tail at Scale: 100 backends"')
    calm_hedged = value("tail-latency", 'p999_ms preset="Hedge at P95"')
    busy_plain = value("tail-latency", 'p999_ms preset="Hedging a busy fleet" hedge_ms=0')
    busy_hedged = value("tail-latency", 'p999_ms preset="Hedging a busy fleet"')
    assert calm_hedged < calm_plain / 5
    assert busy_hedged > busy_plain
    assert value("tail-latency", 'p50_ms preset="Hedging a busy fleet"') < value(
        "tail-latency", 'p50_ms preset="Hedging a busy fleet" hedge_ms=0')
    assert value("tail-latency", 'extra_load preset="Hedging a busy fleet"') > value(
        "tail-latency", 'extra_load preset="Hedge at P95"')


# -- deployment -------------------------------------------------------------------------------
def test_deployment_peeking_inflates_false_rollbacks_and_spending_alpha_undoes_it():
    """'With α = 0.01 … rolls back 10 % of healthy releases, not 1 %.' The model's own 95 %
    interval (Wilson, 200 healthy releases) must exclude the nominal α when every look
    tests at α, and include it when α is divided among the looks."""
    preset = 'preset="1 % canary with analysis"'
    assert value("deployment", f"false_rollback_rate.ci_low {preset}") > 0.01
    assert value("deployment", f"false_rollback_rate.ci_low {preset} alpha=0.0006") <= 0.01
    # More looks (longer bakes, looked at every minute), more false rollbacks.
    tiny = 'preset="Tiny defect slips through"'
    assert value("deployment", f"false_rollback_rate {tiny} bake_s=3600") > value(
        "deployment", f"false_rollback_rate {tiny}")


# -- drift ------------------------------------------------------------------------------------
@covers("drift", 2)
def test_drift_a_low_psi_threshold_fires_on_noise_as_early_without_concept_drift():
    preset = 'preset="Concept drift: inputs look fine"'
    with_drift = value("drift", f"input_alert_day {preset} psi_threshold=0.05")
    without = value("drift", f"input_alert_day {preset} psi_threshold=0.05 concept_drift=0")
    assert with_drift is not None and without is not None and without <= with_drift
    assert value("drift", f"input_alert_day {preset}") is None  # at 0.2 it never fires


# -- skew -------------------------------------------------------------------------------------
@covers("skew", 2)
@pytest.mark.parametrize("seed", [42, 1, 2])
def test_skew_the_three_skews_add_up_instead_of_cancelling(seed):
    """'The combined loss is roughly the sum of the parts': within 3 points (the single
    losses' 95 % intervals are about ±0.5 points wide each at 20,000 requests)."""
    preset = f'preset="All three: launch week" seed={seed}'
    parts = sum(value("skew", f"{m} {preset}") for m in ("timezone_loss", "null_loss",
                                                         "vocab_loss"))
    assert abs(value("skew", f"all_skews_loss {preset}") - parts) < 3


# -- reproducibility --------------------------------------------------------------------------
@covers("reproducibility", 2)
def test_reproducibility_a_pinned_seed_is_repeatable_and_as_often_wrong():
    """Pinned: every re-run agrees (flip rate 0 or 1). Over 40 seeds the share that crowns
    the worse variant is near the closed form 36 %: binomial(40, 0.36) has a standard
    deviation of 7.6 points, so 15–60 % is about ±3 standard deviations."""
    preset = 'preset="Pinned seed: repeatable, not right"'
    rates = [value("reproducibility", f"flip_rate {preset} seed={s}") for s in range(1, 41)]
    assert set(rates) <= {0.0, 1.0}
    assert 0.15 <= sum(rates) / len(rates) <= 0.60


# -- data contracts ---------------------------------------------------------------------------
@covers("data-contracts", 3)
def test_data_contracts_exposure_follows_detection_without_a_contract_and_not_with_one():
    """About 1,000 wrong rows per hour nobody looks (the preset's records_per_hour), within
    5 %; none with the contract, whatever detect_hours is; a trickle of nulls under the
    batch limit pages nobody (no gap) while rows pile up in quarantine."""
    off = 'preset="Friday 18:00: grams become kilograms, no contract"'
    on = 'preset="Same change, contract on"'
    for hours in (2, 24, 168):
        wrong = value("data-contracts", f"wrong_rows_published {off} detect_hours={hours}")
        assert abs(wrong - 1000 * hours) <= 0.05 * 1000 * hours, (hours, wrong)
        assert value("data-contracts", f"wrong_rows_published {on} detect_hours={hours}") == 0
    trickle = 'preset="A trickle of nulls, contract on"'
    assert value("data-contracts", f"gap_hours {trickle}") == 0
    assert value("data-contracts", f"rows_held_back {trickle}") > 0


# -- launch gates ------------------------------------------------------------------------------
def test_launch_gates_skipping_gates_leads_at_first_and_falls_behind_for_good():
    """'Seeds 1 to 10 put the day between 6 and 23; the ending holds.'"""
    preset = 'preset="Every gate, small batches"'
    for seed in range(1, 11):
        day = value("launch-gates", f"crossover_day {preset} seed={seed}")
        assert day is not None and 6 <= day <= 23, (seed, day)
        assert value("launch-gates", f"delivered_changes {preset} seed={seed}") > value(
            "launch-gates", f"delivered_no_gates {preset} seed={seed}")


# -- every exercise answer is checked -----------------------------------------------------------
_ANSWER = re.compile(r'^\?\?\? answer.*\n((?:(?: {4}.*)?\n)+)', re.M)


def _answers(page) -> list[str]:
    text = page.path.read_text(encoding="utf-8")
    section = text.split("## Try it together", 1)
    if len(section) < 2:
        return []
    body = re.split(r"^## ", section[1], maxsplit=1, flags=re.M)[0]
    return [m.group(1) for m in _ANSWER.finditer(body)]


@pytest.mark.parametrize("page", [p for p in BOOK.pages if p.kind == "chapter"],
                         ids=lambda p: p.slug)
def test_every_exercise_answer_has_a_live_number_or_a_claim_test(page):
    answers = _answers(page)
    if page.simulation:
        assert answers, f"{page.slug}: no exercise answers found under 'Try it together'"
    unchecked = [i for i, text in enumerate(answers, 1)
                 if not livenumbers.EXPRESSION.search(text) and (page.slug, i) not in COVERED]
    assert not unchecked, (f"{page.path.name}: exercise answer(s) {unchecked} quote no live "
                           "number and no test in tests/test_claims.py checks them")
