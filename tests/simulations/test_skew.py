"""The skew simulation: one model, a training pipeline and a serving pipeline with three skews."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from simulations import ParamError, execute, get, spawn_rngs
from simulations.engine.stats import mean_ci
from simulations.models.skew import (
    CATEGORY_NAMES,
    CATEGORY_SHARE,
    HOUR_SHARE,
    N_CATEGORIES,
    RIDGE,
    _cells,
    _draw_payments,
    _fit_logistic,
    _frozen_vocab,
    _loss_ci,
    _Payments,
    _Scored,
    _serve_day,
    _train,
)

SIM = get("skew")

# The chapter's presets, as in content/skew.md (front matter `presets`).
SAME_CODE = dict(timezone_skew=0, null_skew=0, vocab_skew=0, tz_offset_h=2, null_rate=0.1,
                 requests=20000)
LOCAL_TIME = {**SAME_CODE, "timezone_skew": 1}
ZERO_FILL = {**SAME_CODE, "null_skew": 1}
LAUNCH_WEEK = {**SAME_CODE, "timezone_skew": 1, "null_skew": 1, "vocab_skew": 1}
SWITCHES = [dict(timezone_skew=t, null_skew=n, vocab_skew=v)
            for t in (0, 1) for n in (0, 1) for v in (0, 1)]


def _run(seed: int = 42, **overrides):
    """Parse like a URL would, then run; returns the Result."""
    params, _ = SIM.parse({k: str(v) for k, v in overrides.items()})
    return SIM.run(params, seed)


def _se(p: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on n requests."""
    return math.sqrt(p * (1 - p) / n)


# -- offline evaluation and the no-skew pipeline -----------------------------------------------
def test_offline_accuracy_and_serving_without_skew_measure_the_same_number():
    # Chapter: the test set went through the training pipeline, so with the same code on
    # both sides serving must agree with it. Both are samples of one exact expectation
    # (identical closed forms); each sampled value within 4 binomial SE of it.
    r = _run(**SAME_CODE)
    offline, clean = r.metrics["offline_accuracy"], r.metrics["no_skew_accuracy"]
    assert offline.closed_form == clean.closed_form
    answered = r.series["requests_answered"][0]
    assert abs(clean.value - clean.closed_form) <= 4 * _se(clean.closed_form, answered)
    rows = r.figure_data.offline_rows
    assert abs(offline.value - offline.closed_form) <= 4 * _se(offline.closed_form, rows)
    assert r.metrics["serving_accuracy"].value == clean.value
    assert r.metrics["accuracy_lost"].value == 0


def test_no_switch_moves_the_offline_number_or_the_no_skew_bar():
    # Chapter exercise 3: the offline number cannot see a difference that lives only in
    # serving. Exact equality: the switches change no random draw and no training row.
    seen = set()
    for switches in SWITCHES:
        m = _run(**{**SAME_CODE, **switches}).metrics
        seen.add((m["offline_accuracy"].value, m["offline_accuracy"].closed_form,
                  m["no_skew_accuracy"].value, m["timezone_loss"].value,
                  m["vocab_loss"].value, m["all_skews_loss"].value))
    assert len(seen) == 1


def test_sampled_accuracies_match_their_exact_expectation():
    # The exact expectation integrates the world's density over hour × category × income
    # for the fitted model (quadrature, no sampling). 50,000 requests: every bar within
    # 4 binomial SE (conservative: arrivals are stratified by hour, which lowers the SE).
    for seed in (3, 42):
        s = _run(seed, requests=50000, null_rate=0.3, tz_offset_h=-5).series
        for acc, exact, n in zip(s["accuracy"], s["expected_accuracy"], s["requests_answered"],
                                 strict=True):
            assert abs(acc - exact) <= 4 * _se(exact, n) + 1e-4  # + series rounding


def test_exact_cell_integrals_reproduce_the_worlds_fraud_share():
    # Independent check of the quadrature: 400,000 payments drawn from the world; the
    # sampled fraud share within 4 SE (≈ 0.003) of the integrated one.
    f1, f0 = _cells()
    weight = HOUR_SHARE[:, None] * CATEGORY_SHARE[None, :]
    exact = float((f1[..., -1] * weight).sum())
    assert float((f0[..., -1] * weight).sum()) == pytest.approx(1 - exact, abs=1e-9)
    sample = _draw_payments(np.random.default_rng(0), 400_000, 0.0)
    assert abs(sample.fraud.mean() - exact) <= 4 * _se(exact, 400_000)


# -- the three skews ---------------------------------------------------------------------------
def test_a_server_clock_on_utc_makes_the_time_zone_skew_free():
    # Closed form: with tz_offset_h = 0 local time is UTC, so nothing differs.
    r = _run(**{**LOCAL_TIME, "tz_offset_h": 0})
    assert r.metrics["timezone_loss"].value == 0
    assert r.metrics["timezone_loss"].closed_form == 0
    assert r.metrics["skewed_requests"].value == 0


def test_without_missing_incomes_the_null_skew_is_free():
    # Closed form: with null_rate = 0 there is nothing to fill.
    r = _run(**{**ZERO_FILL, "null_rate": 0})
    assert r.metrics["null_loss"].value == 0
    assert r.metrics["null_loss"].closed_form == 0


def test_the_time_zone_skew_costs_more_the_further_the_clock_is_off():
    # Exact expectations, so strict monotonicity holds without tolerance up to 8 hours
    # either way (near 12 hours day and night swap and the curve flattens).
    for sign in (1, -1):
        losses = [_run(**{**LOCAL_TIME, "tz_offset_h": sign * h}).metrics["timezone_loss"]
                  .closed_form for h in (0, 1, 2, 4, 8)]
        assert losses == sorted(losses) and len(set(losses)) == len(losses)


def test_the_null_skew_costs_in_proportion_to_the_missing_share():
    # Closed form: loss = r × (accuracy on known incomes − accuracy on zero-filled rows),
    # linear in r apart from the model refitting on fewer rows: strictly increasing, and
    # the loss at r = 0.5 between 3.5 and 6.5 times the loss at r = 0.1 (5 if exact).
    losses = [_run(**{**ZERO_FILL, "null_rate": r}).metrics["null_loss"].closed_form
              for r in (0, 0.1, 0.2, 0.3, 0.4, 0.5)]
    assert losses == sorted(losses) and len(set(losses)) == len(losses)
    assert 3.5 <= losses[-1] / losses[1] <= 6.5


def test_each_skew_alone_costs_a_few_points_and_together_about_their_sum():
    # The skew chapter: each skew costs a few points; together they make a different model. Exact
    # expectations over ten days (seeds): each single loss has its median between 1 and 10
    # points; all three cost at least the largest single one and within 2.5 points of
    # the sum of the three (the skews neither cancel nor multiply).
    singles = {"timezone_loss": [], "null_loss": [], "vocab_loss": []}
    for seed in range(10):
        m = _run(seed, **LAUNCH_WEEK).metrics
        parts = [m[k].closed_form for k in singles]
        for k, v in zip(singles, parts, strict=True):
            singles[k].append(v)
        together = m["all_skews_loss"].closed_form
        assert together >= max(parts)
        assert abs(together - sum(parts)) <= 2.5
    for values in singles.values():
        assert 1 <= float(np.median(values)) <= 10


def test_all_three_skews_leave_a_model_no_better_than_always_answering_legitimate():
    # "Together they make a different model": over ten days the median accuracy through
    # the launch-week pipeline is below the share of legitimate payments (≈ 70 %, the
    # accuracy of a model that flags nothing), while offline evaluation reports ≈ 82 %.
    served, floor = [], []
    for seed in range(10):
        r = _run(seed, **LAUNCH_WEEK)
        served.append(r.metrics["serving_accuracy"].closed_form)
        floor.append(r.figure_data.majority)
        assert r.metrics["offline_accuracy"].closed_form > 0.8
    assert float(np.median(served)) < float(np.mean(floor))


def test_a_feature_comparison_flags_every_request_when_the_clock_is_off():
    # Rules of ML #37 (measure training–serving skew): the hour differs on every request
    # when the clock is off, although accuracy drops only a few points.
    m = _run(**LOCAL_TIME).metrics
    assert m["skewed_requests"].value == 1.0
    assert m["accuracy_lost"].value < 8


# -- the pipelines' parts ----------------------------------------------------------------------
def test_frozen_vocabulary_numbers_categories_by_training_frequency():
    category = np.array([3, 3, 3, 0, 0, 7])
    vocab = _frozen_vocab(category)
    assert vocab[3] == 0 and vocab[0] == 1 and vocab[7] == 2
    # Unseen categories follow in name order: ids stay a permutation of 0..K−1.
    assert sorted(vocab.tolist()) == list(range(N_CATEGORIES))


def test_on_the_fly_vocabulary_numbers_categories_in_order_of_first_arrival():
    # Serving rebuilds ids from the day's traffic: first to arrive gets id 0.
    category = np.array([5, 5, 2, 9, 2, 0, 5])
    hour = np.array([0, 0, 0, 3, 3, 13, 20])
    requests = _Payments(hour, category, np.ones(7), np.zeros(7, bool), np.zeros(7, bool))
    model = SimpleNamespace(vocab=np.arange(N_CATEGORIES))
    served = _serve_day(requests, model, tz_offset_h=2)
    assert served.id_on_the_fly.tolist() == [0, 0, 1, 2, 1, 3, 0]
    assert served.hour_local.tolist() == [2, 2, 2, 5, 5, 15, 22]
    assert sorted(served.fly_vocab.tolist()) == list(range(N_CATEGORIES))


def test_logistic_regression_recovers_the_worlds_coefficients():
    # The model is correctly specified (the world's logit is linear in exactly these
    # features), so IRLS should find its coefficients: income −1.0 per k€ (sampling SD
    # ≈ 0.05 at this size: tolerance 0.2) and gift cards − groceries = 2.6 − (−1.6) = 4.2
    # (SD ≈ 0.2: tolerance 0.8).
    train = _draw_payments(spawn_rngs(42, "training")["training"], 6000, 0.1)
    model = _train(train)
    assert model.income_w / model.income_sd == pytest.approx(-1.0, abs=0.2)
    by_category = model.category_w[model.vocab]
    gift, groceries = CATEGORY_NAMES.index("gift cards"), CATEGORY_NAMES.index("groceries")
    assert by_category[gift] - by_category[groceries] == pytest.approx(4.2, abs=0.8)


def test_one_hot_irls_equals_the_textbook_dense_newton_fit():
    # Textbook IRLS (e.g. Hastie, Tibshirani & Friedman, ESL §4.4.1) on the explicit
    # design matrix, same ridge, 25 steps: the per-cell sums must give the same weights.
    rng = np.random.default_rng(5)
    n = 3000
    hour, cat = rng.integers(0, 24, n), rng.integers(0, N_CATEGORIES, n)
    z = rng.standard_normal(n)
    y = rng.random(n) < 1 / (1 + np.exp(-(0.5 * z - 0.3 + 0.1 * (hour % 5) - 0.2 * (cat % 3))))
    x = np.zeros((n, 1 + 24 + N_CATEGORIES + 1))
    x[:, 0], x[np.arange(n), 1 + hour], x[np.arange(n), 25 + cat], x[:, -1] = 1, 1, 1, z
    ridge = np.diag(np.r_[0.0, np.full(x.shape[1] - 1, RIDGE * n)])
    w = np.zeros(x.shape[1])
    for _ in range(25):
        p = 1 / (1 + np.exp(-(x @ w)))
        w = w + np.linalg.solve((x * (p * (1 - p))[:, None]).T @ x + ridge,
                                x.T @ (y - p) - ridge @ w)
    assert _fit_logistic(hour, cat, z, y) == pytest.approx(w, abs=1e-6)


def test_loss_interval_is_the_paired_mean_interval_when_both_pipelines_score_the_same_requests():
    # With equal denominators the ratio linearisation reduces to the plain paired
    # difference, whose normal interval stats.mean_ci gives.
    rng = np.random.default_rng(1)
    base = rng.random(2000) < 0.8
    other = base & (rng.random(2000) < 0.95)
    everyone = np.ones(2000, dtype=bool)
    loss, (lo, hi) = _loss_ci(_Scored(everyone, base), _Scored(everyone, other))
    mean, m_lo, m_hi = mean_ci(base.astype(float) - other)
    assert loss == pytest.approx(mean * 100)
    assert (lo, hi) == pytest.approx((m_lo * 100, m_hi * 100))


# -- the contract ------------------------------------------------------------------------------
def test_same_seed_gives_identical_json_and_another_seed_does_not():
    params, _ = SIM.parse({k: str(v) for k, v in LAUNCH_WEEK.items()})
    a, b, c = execute(SIM, params, 7), execute(SIM, params, 7), execute(SIM, params, 8)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["metrics"] != c["metrics"]


@pytest.mark.parametrize(("name", "value"), [
    ("tz_offset_h", "13"), ("tz_offset_h", "1.5"), ("null_rate", "0.6"), ("null_rate", "-0.1"),
    ("requests", "100"), ("requests", "60000"), ("vocab_skew", "2"), ("timezone_skew", "maybe"),
])
def test_bad_input_is_refused_naming_the_parameter(name, value):
    with pytest.raises(ParamError) as err:
        SIM.parse({name: value})
    assert err.value.name == name
    assert name in err.value.message


def test_the_summary_reads_the_numbers_back():
    r = _run(**LAUNCH_WEEK)
    m = r.metrics
    assert f"{m['offline_accuracy'].value * 100:.1f} %" in r.summary
    assert f"{m['serving_accuracy'].value * 100:.1f} %" in r.summary
    assert "time-zone, null and vocabulary skews" in r.summary
