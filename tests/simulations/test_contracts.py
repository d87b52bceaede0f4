"""The contracts simulation: a silent upstream change, with and without a data contract."""

from __future__ import annotations

import itertools
import json
import math
from statistics import NormalDist
from types import SimpleNamespace

import pytest

from simulations import ParamError, execute, get
from simulations.models.contracts import (
    BATCH_TOLERANCE,
    FREIGHT_EUR,
    LIGHTEST_EUR,
    MAX_ROWS,
    PRICE_TIERS,
    RANGE_G,
    WEIGHT_MEDIAN_G,
    WEIGHT_SIGMA,
    check_limits,
    expected_price,
    hour_label,
    outside_range_share,
)

SIM = get("contracts")

# The chapter's presets, as in content/data-contracts.md (front matter `presets`).
FRIDAY = dict(change_type="units", change_hour=18, detect_hours=63, contract=0,
              null_share=0.3, fix_hours=4, records_per_hour=1000, hours=192)
FRIDAY_CONTRACT = {**FRIDAY, "contract": 1}
NULLS = {**FRIDAY, "change_type": "nulls"}
QUIET_NULLS = {**FRIDAY, "change_type": "nulls", "null_share": 0.02, "contract": 1}


def _run(seed: int = 42, **overrides):
    """Parse like a URL would, then run; returns (params, Result)."""
    params, _ = SIM.parse({k: str(v) for k, v in overrides.items()})
    return params, SIM.run(params, seed)


def _value(result, name):
    return result.metrics[name].value


def _tier_moments() -> tuple[float, float]:
    """Mean and variance of a correct quote, from the lognormal tiers (independent of sim)."""
    z = NormalDist()
    bounds = [b for b, _ in PRICE_TIERS]
    prices = [p for _, p in PRICE_TIERS] + [FREIGHT_EUR]
    cdf = [0.0, *(z.cdf(math.log(b / WEIGHT_MEDIAN_G) / WEIGHT_SIGMA) for b in bounds), 1.0]
    probs = [hi - lo for lo, hi in itertools.pairwise(cdf)]
    mean = sum(p * q for p, q in zip(prices, probs, strict=True))
    second = sum(p * p * q for p, q in zip(prices, probs, strict=True))
    return mean, second - mean * mean


# -- the claim: silent wrong output vs a loud, short delay -----------------------------------
def test_without_a_contract_wrong_rows_match_records_per_hour_times_detect_hours():
    # Closed form from the model: every row from change_hour until the human notices is
    # wrong; hourly counts are Poisson(records_per_hour), so the total is
    # Poisson(rph × detect_hours) with sd √(63,000) ≈ 251. Tolerance: 4 sd.
    _, r = _run(**FRIDAY)
    expected = 1000 * 63
    assert r.metrics["wrong_rows_published"].closed_form == expected
    assert abs(_value(r, "wrong_rows_published") - expected) <= 4 * math.sqrt(expected)
    assert _value(r, "hours_to_detect") == 63


def test_wrong_rows_are_exactly_the_rows_produced_before_someone_noticed():
    # Exact bookkeeping: batches for hours 18..80 are published wrong, none other.
    _, r = _run(**FRIDAY)
    rows = r.series["rows"]
    assert _value(r, "wrong_rows_published") == sum(rows[18:18 + 63])
    assert r.series["wrong_rows_published"][17] == 0
    assert r.series["wrong_rows_published"][81] == 0


def test_after_noticing_the_team_holds_fix_hours_of_rows_without_a_contract():
    # The team stops publishing at the notice (hour 81) until the fix 4 hours later.
    _, r = _run(**FRIDAY)
    assert _value(r, "rows_held_back") == sum(r.series["rows"][81:85])
    assert _value(r, "gap_hours") == 4


def test_nulls_without_a_contract_publish_the_null_share_of_rows_wrong():
    # Poisson thinning: null rows ~ Poisson(rph × detect_hours × null_share) =
    # Poisson(18,900), sd ≈ 137. Tolerance: 4 sd.
    _, r = _run(**NULLS)
    expected = 1000 * 63 * 0.3
    assert r.metrics["wrong_rows_published"].closed_form == pytest.approx(expected)
    assert abs(_value(r, "wrong_rows_published") - expected) <= 4 * math.sqrt(expected)


@pytest.mark.parametrize("change_type", ["units", "nulls"])
@pytest.mark.parametrize("detect_hours", [1, 24, 168])
def test_a_contract_publishes_no_wrong_row_whatever_detect_hours(change_type, detect_hours):
    # The data-contracts chapter: a contract converts silent wrong output into a loud, short delay; the
    # first bad batch pages the owner at the change hour.
    _, r = _run(**{**FRIDAY_CONTRACT, "change_type": change_type,
                   "detect_hours": detect_hours})
    assert _value(r, "wrong_rows_published") == 0
    assert r.metrics["wrong_rows_published"].closed_form == 0
    assert _value(r, "hours_to_detect") == 0
    assert _value(r, "gap_hours") == 4  # fix_hours: the loud, short delay
    assert _value(r, "underquoted_eur") == 0


def test_a_contract_holds_back_the_fix_window_plus_its_false_positives():
    # Held = every row of hours 18..21 + healthy rows outside the range (≈ 0.04 % of
    # the other ~188,000 rows, i.e. about 74; allow up to 160).
    _, r = _run(**FRIDAY_CONTRACT)
    window = sum(r.series["rows"][18:22])
    assert window <= _value(r, "rows_held_back") <= window + 160


def test_wrong_rows_grow_with_detect_hours_and_stay_zero_with_a_contract():
    # Monotone: the same seed, a later human, more wrong rows; the contract ignores it.
    plain = [_value(_run(**{**FRIDAY, "detect_hours": d})[1], "wrong_rows_published")
             for d in (1, 12, 24, 63, 96)]
    assert plain == sorted(plain) and len(set(plain)) == len(plain)
    guarded = [_value(_run(**{**FRIDAY_CONTRACT, "detect_hours": d})[1],
                      "wrong_rows_published") for d in (1, 63, 168)]
    assert guarded == [0, 0, 0]


def test_a_small_null_share_is_quarantined_row_by_row_without_a_page():
    # 2 % nulls is under the 5 % batch limit: no page, nulls quarantined, output right.
    # Quarantined ≈ Poisson(1000 × 0.02 × (63 + 4)) = 1,340 (sd ≈ 37) plus ~74 outliers
    # (0.04 % of ~188,000 healthy rows, sd ≈ 9).
    assert BATCH_TOLERANCE == 0.05
    _, r = _run(**QUIET_NULLS)
    assert _value(r, "wrong_rows_published") == 0
    assert _value(r, "hours_to_detect") == 63  # a human, not the contract
    assert _value(r, "gap_hours") == 0
    assert abs(_value(r, "rows_held_back") - (1340 + 74)) <= 4 * (37 + 9)


# -- the metric --------------------------------------------------------------------------
def test_after_the_unit_change_every_parcel_gets_the_lightest_tier():
    # The chapter: a 2,400 g parcel read as 2.4 g; every weight under 70 kg becomes
    # under 70 "g", below the first tier bound, so the published average is exactly €4.50.
    _, r = _run(**FRIDAY)
    published = r.series["published_mean_price_eur"]
    assert set(published[18:81]) == {LIGHTEST_EUR}
    assert all(v is not None and v > LIGHTEST_EUR for v in published[:18])


def test_mean_quote_matches_the_tier_closed_form():
    # Closed form: Σ price × P(weight in tier) for the lognormal weights. 3.36 M healthy
    # rows; SE = sd / √n. Tolerance: 4 SE.
    mean, var = _tier_moments()
    assert expected_price() == pytest.approx(mean, rel=1e-12)
    _, r = _run(change_hour=336, hours=336, records_per_hour=10_000)
    rows = r.series["rows"]
    total = sum(m * n for m, n in zip(r.series["true_mean_price_eur"], rows, strict=True))
    n = sum(rows)
    # Hourly means are rounded to 0.001 €, so allow that too.
    assert abs(total / n - mean) <= 4 * math.sqrt(var / n) + 0.0005


def test_metric_error_peak_for_units_is_about_one_minus_lightest_over_mean():
    # While wrong, the published quote is €4.50 and the true hourly mean is ≈ E[price]
    # (sd of an hourly mean ≈ 3.1/√1000 ≈ €0.1, so ≈ 1.5 points of error). The worst
    # of 63 hours sits a few sd above the expected error: allow −0.01 to +0.06.
    mean, _ = _tier_moments()
    _, r = _run(**FRIDAY)
    expected = 1 - LIGHTEST_EUR / mean
    assert expected - 0.01 <= _value(r, "metric_error_peak") <= expected + 0.06


def test_false_hold_rate_matches_the_lognormal_tails():
    # Closed form: P(W < 50 g) + P(W > 70 kg) for lognormal(ln 1500, 1). With 3.36 M
    # healthy rows the binomial sd is ≈ 1.1e-5. Tolerance: 4 sd; the CI must be sane.
    z = NormalDist()
    tails = (z.cdf(math.log(RANGE_G[0] / WEIGHT_MEDIAN_G) / WEIGHT_SIGMA)
             + 1 - z.cdf(math.log(RANGE_G[1] / WEIGHT_MEDIAN_G) / WEIGHT_SIGMA))
    assert outside_range_share() == pytest.approx(tails, rel=1e-12)
    _, r = _run(change_hour=336, hours=336, records_per_hour=10_000, contract=1)
    m = r.metrics["false_hold_rate"]
    n = sum(r.series["rows"])
    assert m.closed_form == pytest.approx(tails)
    assert abs(m.value - tails) <= 4 * math.sqrt(tails * (1 - tails) / n)
    assert m.ci95[0] <= m.value <= m.ci95[1]
    # With a contract and no change, the only rows held back are those false positives.
    assert _value(r, "rows_held_back") == round(m.value * n)


# -- edges -------------------------------------------------------------------------------
def test_no_change_in_the_run_means_nothing_wrong_and_nothing_detected():
    _, r = _run(change_hour=200, hours=120, contract=0)
    assert _value(r, "wrong_rows_published") == 0
    assert _value(r, "rows_held_back") == 0
    assert _value(r, "hours_to_detect") is None
    assert "No change" in r.summary


def test_a_human_who_notices_after_the_run_leaves_every_later_row_wrong():
    _, r = _run(**{**FRIDAY, "detect_hours": 168, "hours": 120})
    assert _value(r, "hours_to_detect") is None
    assert _value(r, "wrong_rows_published") == sum(r.series["rows"][18:])
    assert "before anyone noticed" in r.summary


def test_hour_labels_start_on_friday_midnight():
    assert hour_label(0) == "Fri 00:00"
    assert hour_label(18) == "Fri 18:00"
    assert hour_label(81) == "Mon 09:00"  # the chapter's Monday morning
    assert hour_label(168) == "next Fri 00:00"


def test_summary_quotes_the_numbers():
    _, r = _run(**FRIDAY)
    assert f"{_value(r, 'wrong_rows_published'):,} wrong rows" in r.summary
    assert "Mon 09:00" in r.summary
    _, r = _run(**FRIDAY_CONTRACT)
    assert "No wrong row was published" in r.summary
    assert "paged the owner" in r.summary


# -- contract of the module --------------------------------------------------------------
def test_same_seed_gives_identical_json():
    params, _ = SIM.parse({k: str(v) for k, v in NULLS.items()})
    a, b = execute(SIM, params, 9), execute(SIM, params, 9)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_figure_is_small_and_steps_by_hour():
    params, seed = SIM.parse({"hours": "336"})
    fig = execute(SIM, params, seed)["figure"]
    assert len(fig["data"]) <= 8
    for trace in fig["data"]:
        assert len(trace.get("x", [])) <= 1500
    assert fig["data"][1]["line"]["shape"] == "hv"


@pytest.mark.parametrize(("name", "value"), [
    ("detect_hours", "0"), ("change_type", "kilograms"), ("null_share", "0"),
    ("records_per_hour", "20000"), ("hours", "1000"), ("contract", "maybe"),
])
def test_bad_input_is_refused_naming_the_parameter(name, value):
    with pytest.raises(ParamError) as err:
        SIM.parse({name: value})
    assert err.value.name == name


def test_the_row_limit_names_records_per_hour():
    too_big = SimpleNamespace(hours=400, records_per_hour=10_000)
    with pytest.raises(ParamError) as err:
        check_limits(too_big)
    assert err.value.name == "records_per_hour"
    assert f"{MAX_ROWS:,}" in err.value.message
