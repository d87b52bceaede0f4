"""Training–serving skew: one trained model, served through a pipeline that disagrees with it.

The world. Card payments, each with an hour of day (UTC), a merchant category and the
customer's monthly income, of which a share `null_rate` is missing (at random). A payment
is fraud with probability sigmoid(logit): the night hours, risky categories (gift cards,
jewellery) and low incomes raise the logit. The world is the same in training and in
serving: this is skew, not drift.

The training pipeline. Hour from UTC timestamps; rows with missing income dropped
(`WHERE income IS NOT NULL`); merchant categories mapped to ids by a vocabulary frozen at
training (ordered by frequency, as most lookup layers do). A logistic regression (IRLS)
learns one weight per hour, one per category id and one for standardised income.
Offline evaluation scores a held-out set that went through the same pipeline.

The serving pipeline, with three switchable skews:
- time zone: the hour comes from the server's clock, `tz_offset_h` hours off UTC;
- nulls: a missing income is filled with 0 and the request scored (off: as in training,
  a request without income never reaches the model: rules answer it);
- vocabulary: ids are rebuilt from the day's traffic (from 00:00 UTC) in order of first
  arrival. Every category exists in training, so there are no unknown names, only ids
  that now mean another category.

Time. SimPy keeps the serving day's clock: one process ticks hourly and passes that
hour's requests, already drawn with NumPy and in arrival order, through the serving
pipeline; the on-the-fly vocabulary is the one piece of state that needs the order.
There are no queues or shared resources here, so a process per request would add cost
and nothing else. Each pipeline in the figure is scored on the same requests (paired),
and each accuracy also gets its exact expectation over unlimited traffic.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param
from ..engine.plotting import PALETTE, axis, figure
from ..engine.stats import Z95, proportion_ci

# -- the world ---------------------------------------------------------------------------
# Merchant categories, most frequent first: (name, share of payments, fraud logit effect).
CATEGORIES = (
    ("groceries", 0.22, -1.6),
    ("restaurants", 0.14, -0.8),
    ("fuel", 0.12, -1.0),
    ("clothing", 0.10, 0.0),
    ("pharmacy", 0.08, -1.3),
    ("home & garden", 0.07, -0.4),
    ("electronics", 0.06, 1.3),
    ("telecom", 0.06, 0.4),
    ("travel", 0.05, 0.8),
    ("gaming", 0.04, 1.6),
    ("gift cards", 0.03, 2.6),
    ("jewellery", 0.03, 2.1),
)
CATEGORY_NAMES = tuple(c[0] for c in CATEGORIES)
CATEGORY_SHARE = np.array([c[1] for c in CATEGORIES])
CATEGORY_LOGIT = np.array([c[2] for c in CATEGORIES])
N_CATEGORIES = len(CATEGORIES)

# Payments per UTC hour (relative): quiet nights, a lunch bump, an evening peak.
HOURLY_TRAFFIC = np.array([1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4.0, 4.2, 4.5,
                           5.0, 4.8, 4.4, 4.2, 4.4, 5.0, 5.8, 6.0, 5.5, 4.5, 3.0, 1.8])
HOUR_SHARE = HOURLY_TRAFFIC / HOURLY_TRAFFIC.sum()
# Fraud logit effect by UTC hour: risky from 20:00 to 05:00. The evening edge sits in the
# busiest hours, so a clock two hours fast raises false alarms at the peak.
HOUR_LOGIT = np.array([2.9, 2.9, 2.9, 2.9, 2.9, 1.3, 0, 0, 0, 0, 0, 0,
                       0, 0, 0, 0, 0, 0, 0, 0, 1.3, 2.6, 2.6, 2.6])

# Monthly income in k€: Gamma(shape 4, scale 0.75), mean 3, sd 1.5. Each k€ below the
# mean adds INCOME_LOGIT to the fraud logit, so an income of 0 reads as very risky.
INCOME_SHAPE, INCOME_SCALE = 4.0, 0.75
INCOME_MEAN = INCOME_SHAPE * INCOME_SCALE
INCOME_LOGIT = -1.0
BASE_LOGIT = -1.6  # sets the fraud share near a third, so accuracy is a fair measure

# -- the model ---------------------------------------------------------------------------
TRAIN_ROWS = 6000  # the training extract, before nulls are dropped
TEST_ROWS = 20000  # the held-out set behind the offline number, before nulls are dropped
IRLS_STEPS = 6  # Newton from zero: weights within 1e-9 of 25 steps by step 6 on this data
# Per row: enough to pin the one-hot weights (they sum to the intercept), too little to bias them.
RIDGE = 1e-5

# -- exact expectations ------------------------------------------------------------------
# Income grid for the exact accuracy over unlimited traffic; P(income > 15 k€) < 1e-5.
INCOME_GRID = np.linspace(0.0, 15.0, 601)

# -- the pipelines -----------------------------------------------------------------------
SKEWS = ("timezone", "nulls", "vocab")
SKEW_LABELS = {"timezone": "time zone", "nulls": "nulls", "vocab": "vocabulary"}
SKEW_ADJECTIVES = {"timezone": "time-zone", "nulls": "null", "vocab": "vocabulary"}
# Configurations drawn as bars, as (time zone, nulls, vocabulary) switches.
NO_SKEW = (False, False, False)
ALL_SKEWS = (True, True, True)
SINGLE = {"timezone": (True, False, False), "nulls": (False, True, False),
          "vocab": (False, False, True)}


# -- the world, sampled ------------------------------------------------------------------
def _true_logit(hour: np.ndarray, category: np.ndarray, income: np.ndarray) -> np.ndarray:
    """The fraud logit of the world, from the true hour (UTC), category and income."""
    return (BASE_LOGIT + HOUR_LOGIT[hour] + CATEGORY_LOGIT[category]
            + INCOME_LOGIT * (income - INCOME_MEAN))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function written with tanh, which cannot overflow."""
    return 0.5 + 0.5 * np.tanh(0.5 * z)


@dataclass
class _Payments:
    """Payments as raw events: true hour, category index, income, missing flag, label."""

    hour: np.ndarray
    category: np.ndarray
    income: np.ndarray
    missing: np.ndarray
    fraud: np.ndarray


def _draw_payments(rng: np.random.Generator, n: int, null_rate: float, *,
                   arrivals: bool = False) -> _Payments:
    """n payments from the world; for serving, one day's requests in order of arrival."""
    if arrivals:
        # A day with the hourly profile: the count per hour, hours in order. Within an
        # hour the rows' other draws are independent, so row order is arrival order.
        hour = np.repeat(np.arange(24), rng.multinomial(n, HOUR_SHARE))
    else:
        hour = rng.choice(24, size=n, p=HOUR_SHARE)
    category = rng.choice(N_CATEGORIES, size=n, p=CATEGORY_SHARE)
    income = rng.gamma(INCOME_SHAPE, INCOME_SCALE, size=n)
    # Compared with one uniform per row, so a higher null_rate only adds nulls.
    missing = rng.random(n) < null_rate
    fraud = rng.random(n) < _sigmoid(_true_logit(hour, category, income))
    return _Payments(hour, category, income, missing, fraud)


# -- the model -----------------------------------------------------------------------------
@dataclass
class _Model:
    """A fitted logistic regression and the preprocessing state it was trained with."""

    intercept: float
    hour_w: np.ndarray  # one weight per hour feature value
    category_w: np.ndarray  # one weight per vocabulary id
    income_w: float  # per standardised unit of income
    income_mean: float
    income_sd: float
    vocab: np.ndarray  # frozen vocabulary: category index → id

    def logit(self, hour: np.ndarray, category_id: np.ndarray,
              income: np.ndarray) -> np.ndarray:
        """Score features as the serving side hands them over."""
        z = (income - self.income_mean) / self.income_sd
        return self.intercept + self.hour_w[hour] + self.category_w[category_id] + self.income_w * z


# Weight layout: intercept, one per UTC hour, one per category id, standardised income.
N_WEIGHTS = 1 + 24 + N_CATEGORIES + 1
_HOURS = slice(1, 25)
_IDS = slice(25, 25 + N_CATEGORIES)


def _fit_logistic(hour: np.ndarray, category_id: np.ndarray, z: np.ndarray,
                  y: np.ndarray) -> np.ndarray:
    """Logistic regression on one-hot hour and category and a number, by IRLS, lightly ridged.

    The design matrix is one-hot but for two columns, so XᵀWX and Xᵀ(y − p) are sums per
    hour, per id and per (hour, id) cell: np.bincount, instead of a dense product whose
    multithreaded BLAS call costs ~10× more on a busy 2-core machine.
    """
    n, k, nh, nc = len(y), N_WEIGHTS, 24, N_CATEGORIES
    cell = hour * nc + category_id
    ridge = np.full(k, RIDGE * n)
    ridge[0] = 0.0  # the intercept is not shrunk
    target = y.astype(float)
    w = np.zeros(k)
    for _ in range(IRLS_STEPS):
        p = _sigmoid(w[0] + w[_HOURS][hour] + w[_IDS][category_id] + w[-1] * z)
        v = p * (1 - p)
        vz = v * z
        by_hour = np.bincount(hour, v, nh)
        by_id = np.bincount(category_id, v, nc)
        hess = np.zeros((k, k))
        hess[0, 0], hess[0, _HOURS], hess[0, _IDS], hess[0, -1] = v.sum(), by_hour, by_id, vz.sum()
        hess[_HOURS, _IDS] = np.bincount(cell, v, nh * nc).reshape(nh, nc)
        hess[_HOURS, -1] = np.bincount(hour, vz, nh)
        hess[_IDS, -1] = np.bincount(category_id, vz, nc)
        hess = hess + hess.T  # mirror the upper triangle; the diagonal is set after
        hess[np.diag_indices(k)] = np.concatenate([[v.sum()], by_hour, by_id, [vz @ z]]) + ridge
        r = target - p
        grad = np.concatenate([[r.sum()], np.bincount(hour, r, nh),
                               np.bincount(category_id, r, nc), [r @ z]])
        w = w + np.linalg.solve(hess, grad - ridge * w)
    return w


def _frozen_vocab(category: np.ndarray) -> np.ndarray:
    """Category index → id, most frequent in the training data first (ties by name order)."""
    counts = np.bincount(category, minlength=N_CATEGORIES)
    order = np.lexsort((np.arange(N_CATEGORIES), -counts))
    vocab = np.empty(N_CATEGORIES, dtype=np.int64)
    vocab[order] = np.arange(N_CATEGORIES)
    return vocab


def _train(train: _Payments) -> _Model:
    """The training pipeline end to end: UTC hour, drop nulls, frozen vocabulary, IRLS."""
    keep = ~train.missing  # WHERE income IS NOT NULL
    hour, category, income = train.hour[keep], train.category[keep], train.income[keep]
    vocab = _frozen_vocab(category)
    mean, sd = float(income.mean()), float(income.std())
    w = _fit_logistic(hour, vocab[category], (income - mean) / sd, train.fraud[keep])
    return _Model(float(w[0]), w[_HOURS], w[_IDS], float(w[-1]), mean, sd, vocab)


# -- serving ---------------------------------------------------------------------------------
@dataclass
class _Served:
    """Each serving request's features both ways: as training computes them, and skewed."""

    hour_utc: np.ndarray
    hour_local: np.ndarray
    id_frozen: np.ndarray
    id_on_the_fly: np.ndarray
    fly_vocab: np.ndarray  # category index → id in the day's on-the-fly vocabulary


def _serve_day(requests: _Payments, model: _Model, tz_offset_h: int) -> _Served:
    """Walk the serving day hour by hour, building the on-the-fly vocabulary as it goes."""
    n = len(requests.hour)
    served = _Served(requests.hour, (requests.hour + tz_offset_h) % 24,
                     model.vocab[requests.category], np.empty(n, dtype=np.int64),
                     np.full(N_CATEGORIES, -1, dtype=np.int64))
    bounds = np.searchsorted(requests.hour, np.arange(25))
    env = simpy.Environment()
    next_id = 0

    def day():
        nonlocal next_id
        for h in range(24):
            yield env.timeout(1)  # the hour's requests are in; serve them in arrival order
            lo, hi = bounds[h], bounds[h + 1]
            batch = requests.category[lo:hi]
            seen, first = np.unique(batch, return_index=True)
            for cat in seen[np.argsort(first)]:
                if served.fly_vocab[cat] < 0:
                    served.fly_vocab[cat] = next_id
                    next_id += 1
            served.id_on_the_fly[lo:hi] = served.fly_vocab[batch]

    env.process(day())
    env.run()
    # A category no request brought today has no id yet; it would get the next ones.
    for cat in np.flatnonzero(served.fly_vocab < 0):
        served.fly_vocab[cat] = next_id
        next_id += 1
    return served


def _config_key(cfg: tuple[bool, bool, bool]) -> str:
    """A configuration's name: 'none', or the skews it switches on joined by '+'."""
    names = [s for s, on in zip(SKEWS, cfg, strict=True) if on]
    return "+".join(names) if names else "none"


@dataclass
class _Scored:
    """One configuration's answers on the serving day."""

    scored: np.ndarray  # which requests reached the model
    correct: np.ndarray  # answered correctly (False where not scored)


def _score(requests: _Payments, served: _Served, model: _Model,
           cfg: tuple[bool, bool, bool]) -> _Scored:
    """Answer every request through a serving pipeline with the chosen skews."""
    tz, nulls, vocab = cfg
    hour = served.hour_local if tz else served.hour_utc
    ids = served.id_on_the_fly if vocab else served.id_frozen
    income = np.where(requests.missing, 0.0, requests.income)
    scored = np.ones_like(requests.missing) if nulls else ~requests.missing
    flagged = (model.logit(hour, ids, income) > 0) & scored
    correct = (flagged == requests.fraud) & scored
    return _Scored(scored, correct)


# -- exact expectations -------------------------------------------------------------------
@functools.cache
def _cells() -> tuple[np.ndarray, np.ndarray]:
    """Cumulative ∫ p·f and ∫ (1 − p)·f over income, per (hour, category) cell.

    f is the income density and p the true fraud probability; shapes (24, K, grid).
    They depend on no parameter, so they are computed once per process.
    """
    x = INCOME_GRID
    log_f = ((INCOME_SHAPE - 1) * np.log(np.maximum(x, 1e-300)) - x / INCOME_SCALE
             - math.lgamma(INCOME_SHAPE) - INCOME_SHAPE * math.log(INCOME_SCALE))
    f = np.where(x > 0, np.exp(log_f), 0.0)
    p = _sigmoid(_true_logit(np.arange(24)[:, None, None], np.arange(N_CATEGORIES)[None, :, None],
                             x[None, None, :]))
    dx = x[1] - x[0]

    def cumulative(g: np.ndarray) -> np.ndarray:
        out = np.zeros_like(g)
        out[..., 1:] = np.cumsum((g[..., 1:] + g[..., :-1]) * dx / 2, axis=-1)
        return out

    mass = cumulative(np.broadcast_to(f, p.shape))[..., -1:]  # ≈ 1; normalise the rest
    return cumulative(p * f) / mass, cumulative((1 - p) * f) / mass


def _expected(model: _Model, served: _Served, tz_offset_h: int, null_rate: float,
              cfg: tuple[bool, bool, bool]) -> tuple[float, np.ndarray]:
    """Exact accuracy over unlimited traffic through a pipeline, overall and by UTC hour.

    The vocabulary skew is taken as realised on the simulated day (its arrival order).
    """
    tz, nulls, vocab = cfg
    f1, f0 = _cells()
    hours = np.arange(24)
    seen_hour = (hours + tz_offset_h) % 24 if tz else hours
    ids = served.fly_vocab if vocab else model.vocab
    # The model's logit for each true (hour, category) cell at standardised income 0 …
    a = model.intercept + model.hour_w[seen_hour][:, None] + model.category_w[ids][None, :]
    # … flags an income x as fraud when a + w·(x − mean)/sd > 0: below the threshold t if w < 0.
    w = model.income_w if model.income_w != 0 else -1e-12
    t = model.income_mean - a * model.income_sd / w
    grid = INCOME_GRID
    idx = np.clip(np.searchsorted(grid, t) - 1, 0, len(grid) - 2)
    frac = np.clip((t - grid[idx]) / (grid[1] - grid[0]), 0.0, 1.0)

    def at_t(cum: np.ndarray) -> np.ndarray:
        lo = np.take_along_axis(cum, idx[..., None], axis=-1)[..., 0]
        hi = np.take_along_axis(cum, idx[..., None] + 1, axis=-1)[..., 0]
        return lo + frac * (hi - lo)

    p1, p0 = f1[..., -1], f0[..., -1]  # P(fraud) and P(legit) in each cell
    below_1, below_0 = at_t(f1), at_t(f0)
    # Right answers: fraud flagged plus legitimate passed, on each side of the threshold.
    right = below_1 + (p0 - below_0) if w < 0 else (p1 - below_1) + below_0
    weight = HOUR_SHARE[:, None] * CATEGORY_SHARE[None, :]
    known = (1 - null_rate) * right
    scored = np.full_like(right, 1 - null_rate)
    if nulls:
        # A missing income is served as 0: one answer per cell, whatever the true income.
        flag_zero = a + model.income_w * (0.0 - model.income_mean) / model.income_sd > 0
        known = known + null_rate * np.where(flag_zero, p1, p0)
        scored = scored + null_rate
    by_hour = (known * CATEGORY_SHARE).sum(axis=1) / (scored * CATEGORY_SHARE).sum(axis=1)
    total = float((known * weight).sum() / (scored * weight).sum())
    return total, by_hour


# -- statistics ----------------------------------------------------------------------------
def _accuracy(s: _Scored) -> tuple[float, tuple[float, float], int]:
    """Accuracy over the requests the model answered, with its Wilson interval."""
    n = int(s.scored.sum())
    k = int(s.correct.sum())
    return (k / n if n else math.nan), proportion_ci(k, n), n


def _loss_ci(base: _Scored, other: _Scored) -> tuple[float, tuple[float, float]]:
    """Accuracy lost from base to other on the same requests, in points, with a 95 % CI.

    The two accuracies are ratios over overlapping sets of requests (the null skew scores
    more of them), so the interval linearises each ratio per request (the delta method
    for a ratio estimator) and takes the variance of the paired difference.
    """
    n = len(base.scored)
    wb, wo = base.scored.astype(float), other.scored.astype(float)
    ab = base.correct.sum() / wb.sum()
    ao = other.correct.sum() / wo.sum()
    u = wb * (base.correct - ab) / wb.mean() - wo * (other.correct - ao) / wo.mean()
    half = Z95 * float(u.std(ddof=1)) / math.sqrt(n)
    loss = float(ab - ao)
    return loss * 100, ((loss - half) * 100, (loss + half) * 100)


# -- run -------------------------------------------------------------------------------------
def run(params: SkewParams, seed: int) -> Result[SkewFigure]:
    """Train once, serve one day through each pipeline in the figure, shape the result."""
    rngs = spawn_rngs(seed, "training", "evaluation", "serving")
    model = _train(_draw_payments(rngs["training"], TRAIN_ROWS, params.null_rate))
    test = _draw_payments(rngs["evaluation"], TEST_ROWS, params.null_rate)
    keep = ~test.missing
    offline_flag = model.logit(test.hour[keep], model.vocab[test.category[keep]],
                               test.income[keep]) > 0
    offline_right = int(np.count_nonzero(offline_flag == test.fraud[keep]))
    offline_n = int(keep.sum())

    requests = _draw_payments(rngs["serving"], params.requests, params.null_rate,
                              arrivals=True)
    served = _serve_day(requests, model, params.tz_offset_h)
    chosen = (bool(params.timezone_skew), bool(params.null_skew), bool(params.vocab_skew))
    configs = [NO_SKEW, SINGLE["timezone"], SINGLE["nulls"], SINGLE["vocab"], ALL_SKEWS]
    if chosen not in configs:
        configs.append(chosen)
    scored = {cfg: _score(requests, served, model, cfg) for cfg in configs}
    expected = {cfg: _expected(model, served, params.tz_offset_h, params.null_rate, cfg)
                for cfg in configs}
    return _shape(model, requests, served, chosen, configs, scored, expected,
                  (offline_right, offline_n))


def _shape(model: _Model, requests: _Payments, served: _Served,
           chosen: tuple[bool, bool, bool], configs: list, scored: dict, expected: dict,
           offline: tuple[int, int]) -> Result[SkewFigure]:
    """Metrics, series and summary from the scored configurations."""
    off_k, off_n = offline
    exact_clean = expected[NO_SKEW][0]
    acc = {cfg: _accuracy(scored[cfg]) for cfg in configs}
    loss = {cfg: _loss_ci(scored[NO_SKEW], scored[cfg]) for cfg in configs}
    exact_loss = {cfg: (exact_clean - expected[cfg][0]) * 100 for cfg in configs}

    # What a feature-by-feature comparison with the training path would catch.
    tz, nulls, vocab = chosen
    differs = np.zeros(len(requests.hour), dtype=bool)
    if tz:
        differs |= served.hour_local != served.hour_utc
    if vocab:
        differs |= served.id_on_the_fly != served.id_frozen
    if nulls:
        differs |= requests.missing  # training would never have scored these
    answered = scored[chosen].scored
    n_answered = int(answered.sum())
    n_differs = int((differs & answered).sum())

    metrics = {
        "offline_accuracy": Metric(off_k / off_n, "share", "Offline evaluation accuracy",
                                   ci95=proportion_ci(off_k, off_n), closed_form=exact_clean),
        "serving_accuracy": Metric(acc[chosen][0], "share", "Serving accuracy, this pipeline",
                                   ci95=acc[chosen][1], closed_form=expected[chosen][0]),
        "no_skew_accuracy": Metric(acc[NO_SKEW][0], "share", "Serving accuracy without skew",
                                   ci95=acc[NO_SKEW][1], closed_form=exact_clean),
        "accuracy_lost": Metric(loss[chosen][0], "points", "Accuracy lost to skew",
                                ci95=loss[chosen][1], closed_form=exact_loss[chosen]),
        "timezone_loss": _loss_metric(loss, exact_loss, SINGLE["timezone"],
                                      "Lost to the time-zone skew alone"),
        "null_loss": _loss_metric(loss, exact_loss, SINGLE["nulls"],
                                  "Lost to the null skew alone"),
        "vocab_loss": _loss_metric(loss, exact_loss, SINGLE["vocab"],
                                   "Lost to the vocabulary skew alone"),
        "all_skews_loss": _loss_metric(loss, exact_loss, ALL_SKEWS,
                                       "Lost to all three skews together"),
        "skewed_requests": Metric(n_differs / n_answered, "share",
                                  "Answered requests whose features differ from training's",
                                  ci95=proportion_ci(n_differs, n_answered)),
    }
    series = {
        "configuration": [_config_key(cfg) for cfg in configs],
        "accuracy": [round(acc[cfg][0], 4) for cfg in configs],
        "accuracy_ci_low": [round(acc[cfg][1][0], 4) for cfg in configs],
        "accuracy_ci_high": [round(acc[cfg][1][1], 4) for cfg in configs],
        "expected_accuracy": [round(expected[cfg][0], 4) for cfg in configs],
        "requests_answered": [acc[cfg][2] for cfg in configs],
        "hour_utc": list(range(24)),
        "requests_per_hour": np.bincount(requests.hour, minlength=24).tolist(),
        "expected_accuracy_by_hour_no_skew": [round(v, 4) for v in expected[NO_SKEW][1]],
        "expected_accuracy_by_hour_this_pipeline": [round(v, 4) for v in expected[chosen][1]],
    }
    # Accuracy of answering "legitimate" to every request: the floor a model must beat.
    majority = float(1 - requests.fraud.mean())
    figure_data = SkewFigure(chosen=_config_key(chosen),
                             offline=(off_k / off_n, *proportion_ci(off_k, off_n)),
                             offline_rows=off_n, majority=majority)
    return Result(metrics=metrics, series=series, summary=_summary(metrics, chosen, majority),
                  figure_data=figure_data)


def _loss_metric(loss: dict, exact: dict, cfg: tuple[bool, bool, bool], label: str) -> Metric:
    """A per-skew loss metric: sampled (paired) with its CI, beside its exact expectation."""
    return Metric(loss[cfg][0], "points", label, ci95=loss[cfg][1], closed_form=exact[cfg])


def _summary(m: dict[str, Metric], chosen: tuple[bool, bool, bool], majority: float) -> str:
    """One or two plain sentences from the numbers."""
    off = m["offline_accuracy"].value * 100
    served = m["serving_accuracy"].value * 100
    if not any(chosen):
        exact = m["no_skew_accuracy"].closed_form * 100
        text = (f"Offline evaluation reported {off:.1f} % and, with both pipelines computing "
                f"the same features, users got {served:.1f} %: two samples of the same "
                f"expected {exact:.1f} %. ")
    else:
        on = [SKEW_ADJECTIVES[s] for s, flag in zip(SKEWS, chosen, strict=True) if flag]
        names = on[0] if len(on) == 1 else ", ".join(on[:-1]) + " and " + on[-1]
        text = (f"Offline evaluation reported {off:.1f} %; with the {names} "
                f"skew{'s' if len(on) > 1 else ''}, users got {served:.1f} % "
                f"({m['accuracy_lost'].value:.1f} points lost")
        if served <= majority * 100 + 1:
            text += f"; always answering 'legitimate' would score {majority * 100:.1f} %"
        text += "). "
    text += (f"Alone, the time-zone skew costs {m['timezone_loss'].value:.1f} points, the "
             f"null skew {m['null_loss'].value:.1f} and the vocabulary skew "
             f"{m['vocab_loss'].value:.1f}; all three together "
             f"{m['all_skews_loss'].value:.1f}.")
    return text


# -- figure ------------------------------------------------------------------------------------
BAR_LABELS = {"none": "no skew", "timezone": "time zone", "nulls": "nulls",
              "vocab": "vocabulary", "timezone+nulls+vocab": "all three"}


def _bar_label(key: str) -> str:
    if key in BAR_LABELS:
        return BAR_LABELS[key]
    return " + ".join(SKEW_LABELS[k] for k in key.split("+"))


@dataclass(frozen=True)
class SkewFigure:
    """What the figure needs beyond the public series."""

    chosen: str  # the pipeline the switches select, as a series key
    offline: tuple[float, float, float]  # offline accuracy and its 95 % CI
    offline_rows: int  # rows in the offline evaluation
    majority: float  # accuracy of always answering "legitimate"


def build_figure(result: Result[SkewFigure], params: SkewParams) -> dict[str, Any]:
    """Accuracy per pipeline as bars with CIs, over expected accuracy by hour of day."""
    s, fd = result.series, result.figure_data
    assert fd is not None
    keys = s["configuration"]
    off, off_lo, off_hi = fd.offline
    names = ["offline evaluation"] + [("▶ " if k == fd.chosen else "") + _bar_label(k)
                                      for k in keys]
    values = [off, *s["accuracy"]]
    # Each value under its bar: the axis starts well above zero, so text inside a bar
    # would sit below the visible range, and above it would collide with the CI whisker.
    labels = [f"{n}<br>{v * 100:.1f} %" for n, v in zip(names, values, strict=True)]
    lows = [off_lo, *s["accuracy_ci_low"]]
    highs = [off_hi, *s["accuracy_ci_high"]]
    colours = [PALETTE["grey"]] + [
        PALETTE["blue"] if k == "none" else PALETTE["red"] if k.count("+") == 2
        else PALETTE["orange"] for k in keys]
    outline = [0] + [3 if k == fd.chosen else 0 for k in keys]
    data: list[dict[str, Any]] = [{
        "type": "bar", "x": labels, "y": [round(v, 4) for v in values], "showlegend": False,
        "marker": {"color": colours, "line": {"width": outline, "color": PALETTE["purple"]}},
        "error_y": {"type": "data", "symmetric": False,
                    "array": [round(h - v, 4) for h, v in zip(highs, values, strict=True)],
                    "arrayminus": [round(v - lo, 4) for v, lo in zip(values, lows, strict=True)],
                    "color": PALETTE["grey"], "thickness": 1.5, "width": 6},
        "hovertext": names, "hovertemplate": "%{hovertext}: %{y:.1%}<extra></extra>",
    }]
    lo_y = min([*lows, fd.majority]) - 0.04
    hi_y = min(1.0, max(highs) + 0.03)
    data.append({
        "type": "scatter", "mode": "lines", "name": "what offline evaluation reported",
        "x": [labels[0], labels[-1]], "y": [round(off, 4)] * 2, "hoverinfo": "skip",
        "line": {"color": PALETTE["grey"], "width": 1.5, "dash": "dash"}})
    data.append({
        "type": "scatter", "mode": "lines", "name": "always answer 'legitimate'",
        "x": [labels[0], labels[-1]], "y": [round(fd.majority, 4)] * 2, "hoverinfo": "skip",
        "line": {"color": PALETTE["red"], "width": 1, "dash": "dot"}})
    hours = s["hour_utc"]
    data += [
        {"type": "scatter", "mode": "lines", "name": "by hour: no skew (expected)",
         "x": hours, "y": s["expected_accuracy_by_hour_no_skew"], "xaxis": "x2", "yaxis": "y2",
         "line": {"color": PALETTE["blue"], "width": 2, "shape": "hvh"}},
        {"type": "scatter", "mode": "lines", "name": "by hour: this pipeline (expected)",
         "x": hours, "y": s["expected_accuracy_by_hour_this_pipeline"], "xaxis": "x2",
         "yaxis": "y2", "line": {"color": PALETTE["red"], "width": 2, "dash": "dash",
                                 "shape": "hvh"}},
    ]
    by_hour = s["expected_accuracy_by_hour_no_skew"] + s["expected_accuracy_by_hour_this_pipeline"]
    return figure(
        data,
        height=560,
        margin={"l": 64, "r": 24, "t": 24, "b": 110},
        xaxis=axis("", anchor="y", tickangle=0),
        yaxis=axis("accuracy", domain=[0.53, 1], tickformat=".0%", range=[lo_y, hi_y]),
        xaxis2=axis("hour of day (UTC)", anchor="y2", range=[-0.5, 23.5], dtick=3),
        yaxis2=axis("accuracy by hour", domain=[0, 0.34], tickformat=".0%",
                    range=[max(0.0, min(by_hour) - 0.05), min(1.0, max(by_hour) + 0.03)]),
        bargap=0.3,
    )


PARAMS = (
    Param("timezone_skew", "bool", True, "Serving uses local time",
          help="On: serving takes the hour from the server's local clock; training "
               "took it from UTC timestamps."),
    Param("null_skew", "bool", True, "Serving fills nulls with 0",
          help="On: a missing income is filled with 0 and scored. Off: as in training, "
               "where such rows were dropped, the request never reaches the model."),
    Param("vocab_skew", "bool", True, "Serving rebuilds the vocabulary",
          help="On: merchant category ids are rebuilt from the day's traffic in order "
               "of arrival; training used a vocabulary frozen with the model."),
    Param("tz_offset_h", "int", 2, "Server clock offset", min=-12, max=12, step=1,
          unit="h", help="How far the serving server's local time is from UTC "
                         "(Berlin in summer: +2)."),
    Param("null_rate", "float", 0.1, "Missing income", min=0, max=0.5, step=0.01,
          help="Share of payments, in training and serving alike, whose income is "
               "missing."),
    Param("requests", "int", 20000, "Serving requests", min=500, max=50000, step=100,
          scale="log", help="Requests served over the simulated day: more narrow the "
                            "confidence intervals (and make a different day)."),
)


@dataclass(frozen=True)
class SkewParams:
    """Training–serving skew: one field per entry of PARAMS, in order."""

    timezone_skew: bool
    null_skew: bool
    vocab_skew: bool
    tz_offset_h: int
    null_rate: float
    requests: int


# -- declaration ---------------------------------------------------------------------------
SIMULATION = Simulation(
    slug="skew",
    title="Training–serving skew",
    description="One fraud model, trained through one pipeline and served through another: "
                "time zone, null and vocabulary skews, alone and together.",
    params=PARAMS,
    params_type=SkewParams,
    run=run,
    figure=build_figure,
    main_param="null_rate",
)
