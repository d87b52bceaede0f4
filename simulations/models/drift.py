"""Drift decay: a classifier trained on day 0 meets a world that moves, with two monitors.

The world. Two input features, each day a fresh batch from a unit-variance Gaussian
cloud. The true label is "inside a U-shaped region" (a disc of radius R whose sides
continue straight up) with a little label noise. On day 0 the cloud sits on the bottom
of the U, where the boundary looks straight, so a logistic regression fits it well.
Covariate drift slides the cloud along the boundary (first round the curve, then up the
wall): the classes stay balanced, the boundary under the data turns, and the day-0
line is increasingly wrong, while a model retrained on recent data is as good as ever.
Concept drift turns the boundary about the cloud's centre on `shift_day` and leaves the
inputs alone, so a label-free input monitor cannot see it.

The monitors. PSI per feature compares each day's batch with the deployed model's
training inputs (deciles of the training data); accuracy is measured on cohorts whose
labels have arrived, `label_delay_days` late, over a rolling week.

The calendar is SimPy: one process walks the days, and each retrain is a process that
waits for its labelled data, trains, and swaps the model in overnight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import simpy

from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param, check_work
from ..engine.plotting import PALETTE, axis, figure, vline
from ..engine.stats import proportion_ci

# -- model constants ---------------------------------------------------------------------
# Radius of the U's bottom, in feature standard deviations. Smaller bends the boundary
# faster under the data (drift hurts sooner) but also makes the best straight line
# worse; 2.5 keeps a fresh model near 91 % while a 1.5 sd shift costs the old one ~12
# points.
BOUNDARY_RADIUS = 2.5
# Slope of the label noise: P(y = 1) = sigmoid(LABEL_SHARPNESS × signed distance).
LABEL_SHARPNESS = 16.0
# Days of labelled data each (re)training uses; the initial model uses days −6..0.
TRAIN_WINDOW_DAYS = 7
# Once its week of data has labels, a retrain takes this long (train, evaluate, ship).
RETRAIN_DAYS = 2
# The accuracy monitor averages this many matured daily cohorts and alerts only on a
# full window, so one noisy day cannot page anyone.
OBS_WINDOW_DAYS = 7
# PSI bins: deciles of the reference (training) data, the usual practice.
PSI_BINS = 10
# Shares are floored here before the logarithm, so an empty bin gives a large but
# finite PSI (the customary fix for log(0)).
PSI_EPS = 1e-4
# Rows used to fit a model and to bin its reference (500 a day, all of them at the
# default): 3 coefficients need far fewer, and the cap keeps a retrain near 1 ms even
# at 5,000 samples a day.
FIT_MAX_ROWS = 3500
# Newton from zero converges in 5–6 steps on these windows (checked against 25 steps:
# identical predictions); 6 leaves a margin.
IRLS_STEPS = 6
RIDGE = 1e-3  # keeps Newton steps finite if a window is (nearly) separable

# days × samples_per_day at the maxima (730 × 5,000) runs in well under 2 s, so this
# limit is the maximum itself; it is here so a future wider range fails loudly.
MAX_SAMPLES = 730 * 5000

FEATURES = ("x1", "x2")


# -- PSI -----------------------------------------------------------------------------------
def psi(expected_shares: Sequence[float], actual_shares: Sequence[float]) -> float:
    """Population stability index: Σ (actual − expected) · ln(actual / expected)."""
    e = np.asarray(expected_shares, dtype=float)
    a = np.asarray(actual_shares, dtype=float)
    if e.ndim != 1 or e.shape != a.shape or e.size < 2:
        raise ValueError("psi needs two equally long lists of at least two bin shares")
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(a))) or e.min() < 0 or a.min() < 0:
        raise ValueError("bin shares must be finite and non-negative")
    return float(_psi_rows(e[None, :], a[None, :])[0])


def _psi_rows(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """PSI of each row (one feature per row), with empty bins floored at PSI_EPS."""
    e = np.maximum(expected, PSI_EPS)
    a = np.maximum(actual, PSI_EPS)
    return np.sum((a - e) * np.log(a / e), axis=-1)


def psi_noise_floor(n_actual: int, n_expected: int, bins: int = PSI_BINS) -> float:
    """Expected PSI of two samples from one distribution: (bins − 1)(1/n_a + 1/n_e).

    For small differences (a − e)·ln(a/e) ≈ (a − e)²/p, so PSI is a two-sample
    chi-square statistic scaled by (1/n_a + 1/n_e), ~ χ²(bins − 1) (Yurdakul,
    "Statistical Properties of Population Stability Index", WMU dissertation, 2018).
    """
    return (bins - 1) * (1 / n_actual + 1 / n_expected)


# -- the world ---------------------------------------------------------------------------
def _signed_distance(x: np.ndarray) -> np.ndarray:
    """Signed distance to the U boundary (positive inside): disc at (0, R), sides up."""
    r = BOUNDARY_RADIUS
    return r - np.hypot(x[..., 0], np.minimum(x[..., 1] - r, 0.0))


def _centre(travel: np.ndarray) -> np.ndarray:
    """Centre of the input cloud after moving `travel` sd along the boundary from (0, 0)."""
    r = BOUNDARY_RADIUS
    angle = np.minimum(travel / r, math.pi / 2)
    up = np.maximum(travel - r * math.pi / 2, 0.0)  # past the bend: straight up the wall
    return np.stack([r * np.sin(angle), r - r * np.cos(angle) + up], axis=-1)


def _travel(params: DriftParams, day: np.ndarray) -> np.ndarray:
    """How far the inputs have moved by each day (days ≤ 0 are the training week)."""
    live = day >= 1
    gradual = params.drift_per_day * np.where(live, day, 0)
    jump = params.shift_size * (live & (day >= params.shift_day))
    return gradual + jump


def _draw_world(params: DriftParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (day, sample, feature) and labels (day, sample) for days −6..days."""
    rngs = spawn_rngs(seed, "inputs", "labels")
    n_days = TRAIN_WINDOW_DAYS + params.days
    day = np.arange(1 - TRAIN_WINDOW_DAYS, params.days + 1)
    centre = _centre(_travel(params, day)).astype(np.float32)
    # float32 halves the memory at the maxima (3.65 M samples) and is ample here.
    x = rngs["inputs"].standard_normal((n_days, params.samples_per_day, 2), dtype=np.float32)
    x += centre[:, None, :]
    seen = x
    if params.concept_drift > 0 and params.shift_day <= params.days:
        # Turn the boundary about the cloud's centre on shift_day: the same inputs now
        # mean something else. Rotating the inputs by −θ is turning the boundary by +θ.
        first = int(np.searchsorted(day, max(params.shift_day, 1)))
        pivot = centre[first]
        theta = params.concept_drift * math.pi / 2
        c, s = math.cos(theta), math.sin(theta)
        rot = np.array([[c, s], [-s, c]], dtype=np.float32)  # row-vector form of R(−θ)
        seen = x.copy()
        seen[first:] = (x[first:] - pivot) @ rot + pivot
    # The logistic function written with tanh, which cannot overflow far from the boundary.
    p_true = 0.5 + 0.5 * np.tanh(0.5 * LABEL_SHARPNESS * _signed_distance(seen))
    labels = rngs["labels"].random((n_days, params.samples_per_day), dtype=np.float32) < p_true
    return x, labels


# -- the model ---------------------------------------------------------------------------
@dataclass
class _Model:
    """A deployed classifier and the reference its input monitor compares against."""

    coef: np.ndarray  # intercept, x1, x2
    edges: np.ndarray  # (features, bins − 1) inner decile edges of the training inputs
    expected: np.ndarray  # (features, bins) training shares per bin
    n_reference: int
    serves_from: int
    version: int


def _bin_shares(x: np.ndarray, edges: np.ndarray, *, ordered: np.ndarray | None = None
                ) -> np.ndarray:
    """Share of rows in each bin, per feature: (features, bins) from inner edges."""
    # Sorting each column and locating the 9 edges in it is ~3× faster at 5,000 rows
    # than looking every row up among the edges. A value equal to an edge counts in the
    # bin above it, as with np.digitize.
    if ordered is None:
        ordered = np.sort(x, axis=0)
    n = len(ordered)
    cumulative = np.empty((2, PSI_BINS + 1))  # rows below each edge, 0 … n
    cumulative[:, 0], cumulative[:, -1] = 0, n
    for f in range(2):
        cumulative[f, 1:-1] = np.searchsorted(ordered[:, f], edges[f])
    return (cumulative[:, 1:] - cumulative[:, :-1]) / n


def _fit(x: np.ndarray, y: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Logistic regression by a fixed number of Newton (IRLS) steps."""
    z = np.column_stack([np.ones(len(x)), x.astype(float)])
    w = np.zeros(3) if start is None else start.copy()
    ridge = RIDGE * len(x) * np.diag([0.0, 1.0, 1.0])
    target = y.astype(float)
    for _ in range(IRLS_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        hess = (z * (p * (1 - p))[:, None]).T @ z + ridge + 1e-9 * np.eye(3)
        w = w + np.linalg.solve(hess, z.T @ (target - p) - ridge @ w)
    return w


def _train(x: np.ndarray, y: np.ndarray, first: int, last: int, serves_from: int,
           version: int) -> _Model:
    """Train on the labelled days [first, last] (array indices) and build its monitor."""
    per_day = max(1, FIT_MAX_ROWS // (last - first + 1))
    # Samples within a day are iid, so the first rows of each day are a fair subsample.
    xs = x[first:last + 1, :per_day].reshape(-1, 2)
    ys = y[first:last + 1, :per_day].reshape(-1)
    coef = _fit(xs, ys)
    # Decile edges as order statistics of the sorted reference (np.quantile is slower
    # and interpolation buys nothing for binning).
    ordered = np.sort(xs, axis=0)
    edges = ordered[np.arange(1, PSI_BINS) * len(xs) // PSI_BINS].T
    expected = _bin_shares(xs, edges, ordered=ordered)
    return _Model(coef, edges, expected, len(xs), serves_from, version)


# -- the calendar ------------------------------------------------------------------------
@dataclass
class _Run:
    """Everything the day loop and the retrain processes share."""

    model: _Model
    correct: np.ndarray  # correct predictions by day (index 0 unused)
    busy: bool = False
    true_acc: list[float] = field(default_factory=list)
    observed_acc: list[float | None] = field(default_factory=list)
    psi: list[list[float]] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    input_alerts: list[bool] = field(default_factory=list)
    output_alerts: list[bool] = field(default_factory=list)
    retrain_starts: list[int] = field(default_factory=list)
    retrain_deploys: list[int] = field(default_factory=list)


def _simulate(params: DriftParams, x: np.ndarray, y: np.ndarray) -> _Run:
    """Walk the days: predict, monitor, alert, and retrain according to the policy."""
    n = params.samples_per_day
    off = TRAIN_WINDOW_DAYS  # array index of day d is d − 1 + off
    delay = params.label_delay_days
    run = _Run(model=_train(x, y, 0, off - 1, serves_from=1, version=0),
               correct=np.zeros(params.days + 1, dtype=np.int64))
    env = simpy.Environment()

    def retrain(d: int, evidence: int | None):
        """Wait for a week of labelled data, train, and serve from the morning after."""
        last = d - delay
        if evidence is not None:
            # An input alert says the inputs changed on `evidence`: train on data from
            # then on, which means waiting until a week of it has its labels.
            last = max(last, evidence + TRAIN_WINDOW_DAYS - 1)
        last = max(last, 0)
        ready = max(d, last + delay)
        serves_from = ready + RETRAIN_DAYS
        # Half a day early: the swap lands overnight, before that day's traffic.
        yield env.timeout(serves_from - 0.5 - env.now)
        i_last = last - 1 + off
        run.model = _train(x, y, i_last - TRAIN_WINDOW_DAYS + 1, i_last, serves_from,
                           run.model.version + 1)
        run.retrain_deploys.append(serves_from)
        run.busy = False

    def start_retrain(d: int, evidence: int | None) -> None:
        run.busy = True
        run.retrain_starts.append(d)
        env.process(retrain(d, evidence))

    def days():
        for d in range(1, params.days + 1):
            yield env.timeout(1)
            m = run.model
            xd = x[d - 1 + off]
            pred = (m.coef[0] + xd @ m.coef[1:].astype(np.float32)) > 0
            run.correct[d] = np.count_nonzero(pred == y[d - 1 + off])
            run.true_acc.append(float(run.correct[d]) / n)
            day_psi = _psi_rows(m.expected, _bin_shares(xd, m.edges))
            run.psi.append(day_psi.tolist())
            run.versions.append(m.version)
            # Labels of cohort d − delay arrive today; only this model's cohorts count,
            # so a fresh model is unmeasured until its own labels mature.
            hi = d - delay
            lo = max(hi - OBS_WINDOW_DAYS + 1, m.serves_from, 1)
            observed = None
            if hi >= lo:
                observed = float(run.correct[lo:hi + 1].sum()) / ((hi - lo + 1) * n)
            run.observed_acc.append(observed)
            input_alert = bool(day_psi.max() > params.psi_threshold)
            output_alert = (observed is not None and hi - lo + 1 == OBS_WINDOW_DAYS
                            and observed < params.slo_accuracy)
            run.input_alerts.append(input_alert)
            run.output_alerts.append(output_alert)
            if run.busy:
                continue
            if params.policy == "scheduled" and d % params.retrain_every_days == 0:
                start_retrain(d, None)
            elif params.policy == "on_alert" and (input_alert or output_alert):
                start_retrain(d, d if input_alert else None)

    loop = env.process(days())
    env.run(until=loop)
    return run


# -- run -----------------------------------------------------------------------------------
def check_limits(params: DriftParams) -> None:
    """Refuse runs too large to finish in time."""
    check_work(params, ("days", "samples_per_day"), MAX_SAMPLES)


def _first(flags: list[bool]) -> int | None:
    """The day (1-based) of the first True, or None."""
    for i, flag in enumerate(flags):
        if flag:
            return i + 1
    return None


def run(params: DriftParams, seed: int) -> Result[DriftFigure]:
    """Simulate the days and shape metrics, series and the summary."""
    check_limits(params)
    x, y = _draw_world(params, seed)
    sim = _simulate(params, x, y)
    n = params.samples_per_day
    true_acc = np.asarray(sim.true_acc)
    total = params.days * n
    correct = int(sim.correct.sum())
    mean_acc = correct / total
    below = true_acc < params.slo_accuracy
    days_below = int(below.sum())
    first_below = int(np.argmax(below)) + 1 if days_below else None
    input_day = _first(sim.input_alerts)
    output_day = _first(sim.output_alerts)
    retrains = len(sim.retrain_deploys)
    floor = psi_noise_floor(n, _reference_size(params))

    metrics = {
        "mean_accuracy": Metric(mean_acc, "share", "Mean accuracy users got",
                                ci95=proportion_ci(correct, total)),
        "days_below_slo": Metric(days_below, "days", "Days below the accuracy SLO"),
        # Day numbers carry no unit so they read "42" (or "never"), not "42 day".
        "input_alert_day": Metric(input_day, "", "Day of the first input (PSI) alert"),
        "output_alert_day": Metric(output_day, "", "Day of the first accuracy alert"),
        "retrains": Metric(retrains, "retrains", "Retrained models deployed"),
        "first_day_below_slo": Metric(first_below, "", "First day below the SLO"),
    }
    series = {
        "day": list(range(1, params.days + 1)),
        "true_accuracy": [round(v, 4) for v in sim.true_acc],
        "observed_accuracy": [None if v is None else round(v, 4) for v in sim.observed_acc],
        "psi_x1": [round(v[0], 4) for v in sim.psi],
        "psi_x2": [round(v[1], 4) for v in sim.psi],
        "input_alert": [int(v) for v in sim.input_alerts],
        "output_alert": [int(v) for v in sim.output_alerts],
        "model_version": sim.versions,
    }
    figure_data = DriftFigure(retrain_deploys=tuple(sim.retrain_deploys),
                              input_alert_day=input_day, output_alert_day=output_day,
                              psi_floor=floor)
    return Result(metrics=metrics, series=series, summary=_summary(params, metrics),
                  figure_data=figure_data)


def _reference_size(params: DriftParams) -> int:
    """Rows in a model's PSI reference (the training window, capped)."""
    per_day = min(params.samples_per_day, max(1, FIT_MAX_ROWS // TRAIN_WINDOW_DAYS))
    return per_day * TRAIN_WINDOW_DAYS


def _summary(params: DriftParams, m: dict[str, Metric]) -> str:
    """One or two plain sentences from the numbers."""
    acc = m["mean_accuracy"].value
    below = m["days_below_slo"].value
    text = (f"Users got {acc * 100:.1f} % accuracy on average, below the "
            f"{params.slo_accuracy * 100:g} % "
            f"SLO on {below} of {params.days} days")
    first = m["first_day_below_slo"].value
    text += f" (first on day {first}). " if first is not None else ". "
    i_day, o_day = m["input_alert_day"].value, m["output_alert_day"].value
    if i_day is None and o_day is None:
        text += "Neither the input monitor (PSI) nor the accuracy monitor alerted"
    elif o_day is None:
        text += (f"The input monitor (PSI) first alerted on day {i_day}; the accuracy "
                 "monitor never did")
    elif i_day is None:
        text += ("The input monitor (PSI) never alerted; the accuracy monitor first did on "
                 f"day {o_day}")
    else:
        text += (f"The input monitor (PSI) first alerted on day {i_day}, the accuracy monitor "
                 f"on day {o_day}")
    r = m["retrains"].value
    if params.policy != "never" or r:
        text += f"; {r} retrained model{'s' if r != 1 else ''} deployed"
    return text + "."


# -- figure ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftFigure:
    """What the figure needs beyond the public series."""

    retrain_deploys: tuple[int, ...]  # days a retrained model went live
    input_alert_day: int | None  # first day the PSI monitor alerted
    output_alert_day: int | None  # first day the accuracy monitor alerted
    psi_floor: float  # the PSI a model shows with no drift at all (sampling noise)


def build_figure(result: Result[DriftFigure], params: DriftParams) -> dict[str, Any]:
    """Two stacked panels: accuracy (true vs observed, SLO) over PSI (per feature)."""
    s, fd = result.series, result.figure_data
    assert fd is not None
    days = s["day"]
    top = {"xaxis": "x2", "yaxis": "y2"}
    true_acc = s["true_accuracy"]
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "name": "true accuracy (what users get)",
         "x": days, "y": true_acc, "line": {"color": PALETTE["blue"], "width": 1.5}, **top},
        {"type": "scatter", "mode": "lines", "name": "observed accuracy (labels, late)",
         "x": days, "y": s["observed_accuracy"], "connectgaps": False,
         "line": {"color": PALETTE["orange"], "width": 2, "dash": "dash"}, **top},
        {"type": "scatter", "mode": "lines", "name": "accuracy SLO",
         "x": [days[0], days[-1]], "y": [params.slo_accuracy] * 2, "hoverinfo": "skip",
         "line": {"color": PALETTE["red"], "width": 1, "dash": "dot"}, **top},
    ]
    deploys = [d for d in fd.retrain_deploys if d <= params.days]
    if deploys:
        data.append({
            "type": "scatter", "mode": "markers", "name": "retrained model deployed",
            "x": deploys, "y": [true_acc[d - 1] for d in deploys],
            "marker": {"color": PALETTE["green"], "symbol": "triangle-up", "size": 10},
            **top})
    data += [
        {"type": "scatter", "mode": "lines", "name": "PSI x1", "x": days, "y": s["psi_x1"],
         "line": {"color": PALETTE["purple"], "width": 1.5}},
        {"type": "scatter", "mode": "lines", "name": "PSI x2", "x": days, "y": s["psi_x2"],
         "line": {"color": PALETTE["teal"], "width": 1.5, "dash": "dashdot"}},
        {"type": "scatter", "mode": "lines", "name": "PSI alert threshold",
         "x": [days[0], days[-1]], "y": [params.psi_threshold] * 2, "hoverinfo": "skip",
         "line": {"color": PALETTE["red"], "width": 1, "dash": "dot"}},
        {"type": "scatter", "mode": "lines", "name": "PSI from sampling noise alone",
         "x": [days[0], days[-1]], "y": [round(fd.psi_floor, 4)] * 2, "hoverinfo": "skip",
         "line": {"color": PALETTE["grey"], "width": 1, "dash": "longdash"}},
    ]
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    # The conventional reading of PSI: < 0.1 stable, 0.1–0.25 moderate, > 0.25 major.
    for level, text in ((0.1, "0.1 moderate"), (0.25, "0.25 major")):
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y",
                       "y0": level, "y1": level,
                       "line": {"color": PALETTE["grey"], "width": 1, "dash": "dot"}})
        notes.append({"xref": "paper", "x": 1, "yref": "y", "y": math.log10(level),
                      "text": text, "showarrow": False, "xanchor": "right",
                      "yanchor": "bottom", "font": {"size": 10, "color": PALETTE["grey"]}})
    if (params.shift_size > 0 or params.concept_drift > 0) and params.shift_day <= params.days:
        label = "shift" if params.concept_drift == 0 else "concept change"
        shape, note = vline(max(params.shift_day, 1), label, PALETTE["grey"])
        note["y"] = 0.88
        shapes.append(shape)
        notes.append(note)
    markers = ((fd.input_alert_day, "input alert", PALETTE["purple"], "dash", 1.0),
               (fd.output_alert_day, "accuracy alert", PALETTE["orange"], "dashdot", 0.94))
    for day, text, colour, dash, y in markers:
        if day is not None:
            shape, note = vline(day, text, colour, dash=dash)
            note["y"] = y
            shapes.append(shape)
            notes.append(note)
    psi_values = [v for v in s["psi_x1"] + s["psi_x2"] if v is not None]
    psi_top = max([params.psi_threshold * 2, 0.5, *psi_values])
    # Below a fifth of the noise floor is only noise: let those wiggles leave the axis.
    psi_bottom = fd.psi_floor / 5
    return figure(
        data,
        height=520,
        xaxis=axis("day", range=[0, params.days + 1]),
        yaxis=axis("PSI (log)", type="log", domain=[0, 0.36], dtick=1,
                   range=[math.log10(psi_bottom), math.log10(psi_top * 1.3)]),
        xaxis2=axis("", anchor="y2", matches="x", showticklabels=False),
        yaxis2=axis("accuracy", domain=[0.46, 1], tickformat=".0%",
                    range=[max(0.0, min([*true_acc, params.slo_accuracy]) - 0.05), 1.0]),
        shapes=shapes,
        annotations=notes,
    )


PARAMS = (
    Param("drift_per_day", "float", 0.01, "Gradual drift", min=0, max=0.2, step=0.001,
          unit="sd/day",
          help="How far the inputs move each day, in standard deviations of a feature."),
    Param("shift_day", "int", 60, "Shift day", min=0, max=730, step=1, unit="day",
          help="The day a sudden shift and any concept drift happen."),
    Param("shift_size", "float", 0.0, "Sudden shift", min=0, max=3, step=0.05, unit="sd",
          help="How far the inputs jump on the shift day, in standard deviations "
               "(0 = no jump)."),
    Param("concept_drift", "float", 0.0, "Concept drift", min=0, max=1, step=0.05,
          help="How far the input-to-label relation turns on the shift day while the "
               "inputs stay put (1 = a quarter turn: the old model is a coin flip)."),
    Param("label_delay_days", "int", 7, "Label delay", min=0, max=60, step=1,
          unit="days", help="How many days after a prediction its true label arrives."),
    Param("psi_threshold", "float", 0.2, "PSI alert threshold", min=0.05, max=1,
          step=0.01, scale="log",
          help="The input monitor alerts when any feature's daily PSI exceeds this "
               "(conventionally 0.1 = look, 0.25 = act)."),
    Param("policy", "choice", "never", "Retraining policy",
          choices=("never", "scheduled", "on_alert"),
          choice_labels={"never": "never", "scheduled": "every K days",
                         "on_alert": "on alert"},
          help="When to retrain on the latest week of labelled data; a retrain takes "
               f"{RETRAIN_DAYS} days and only one runs at a time."),
    Param("retrain_every_days", "int", 30, "Retrain every", min=1, max=180, step=1,
          unit="days", help="The schedule for the scheduled policy."),
    Param("days", "int", 180, "Days simulated", min=30, max=730, step=1, unit="days",
          help="How long the model stays deployed."),
    Param("samples_per_day", "int", 500, "Samples per day", min=50, max=5000, step=10,
          scale="log",
          help="Predictions made each day; fewer make both monitors noisier."),
    Param("slo_accuracy", "float", 0.85, "Accuracy SLO", min=0.5, max=0.99, step=0.01,
          help="The accuracy the model owes its users; the output monitor alerts "
               "below it."),
)


@dataclass(frozen=True)
class DriftParams:
    """Drift decay: one field per entry of PARAMS, in order."""

    drift_per_day: float
    shift_day: int
    shift_size: float
    concept_drift: float
    label_delay_days: int
    psi_threshold: float
    policy: Literal["never", "scheduled", "on_alert"]
    retrain_every_days: int
    days: int
    samples_per_day: int
    slo_accuracy: float


# -- declaration -------------------------------------------------------------------------
SIMULATION = Simulation(
    slug="drift",
    title="Drift decay",
    description="A day-0 classifier meets drifting data: input (PSI) and accuracy "
                "monitors, label delay, retraining policies.",
    params=PARAMS,
    params_type=DriftParams,
    run=run,
    figure=build_figure,
    check=check_limits,
    main_param="drift_per_day",
)
