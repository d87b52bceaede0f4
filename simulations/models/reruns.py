"""Rerun roulette: two variants, noisy training runs, and how often the worse one "wins".

Model. Variant B is truly better than variant A by `delta` points. One training run of
either variant scores its true mean plus Gaussian run-to-run noise with standard
deviation `sigma` (seed, data order, nondeterministic kernels, all lumped together). One
comparison trains `runs_per_variant` runs of each variant and declares the variant with
the higher mean score the winner; the worse variant winning is a flip. The comparison is
re-run `reruns` times. Unpinned, each re-run draws fresh noise; with `pinned_seed`, every
re-run replays the same seeds (and deterministic kernels), so it reproduces re-run #1
exactly: the same point every time, right or wrong.

Closed forms. The measured difference of the two means is Normal(delta, 2·sigma²/n), so
P(flip) = Φ(−delta / (sigma·√(2/n))) and the runs needed for P(flip) ≤ 5 % are
n ≥ 2·(z₀.₉₅·sigma/delta)², z₀.₉₅ = 1.645. Pinning changes neither; it only stops the
re-runs from showing them.

Time. SimPy keeps the clock of one comparison: its 2n training jobs (A1, B1, A2, B2, …)
queue for GPUS GPUs and take log-normal run times, so results arrive over hours. That
gives the wall-clock price of more seeds and the order in which a reader watching the
dashboard would have seen the scores (the `run_*` series). The re-runs themselves are
independent repetitions, drawn at once with NumPy: there is no queueing in them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import simpy

from ..engine import plotting, stats
from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param
from ..engine.plotting import PALETTE
from ..engine.words import duration, pct

# -- model constants --------------------------------------------------------------------
SCORE_A = 70.0  # variant A's true score (points, e.g. NDCG × 100); only the scale of the axes
GPUS = 4  # GPUs the team's comparison can use at once
RUN_HOURS = 2.0  # median wall-clock hours of one training run
RUN_SHAPE = 0.25  # log-normal shape of run times (P90 ≈ 1.4 × median)
TARGET_FLIP = 0.05  # the wrong-winner rate the sample-size metric aims for
MAX_DOTS = 600  # re-runs drawn as dots and kept in the per-re-run series
BINS = 40  # histogram bins across ±4.5 standard deviations of the measured difference
SPAN_SD = 4.5

NORMAL = NormalDist()


# -- parameters -------------------------------------------------------------------------
PARAMS = (
    Param(name="delta", kind="float", default=0.5, min=0, max=3, step=0.05, unit="points",
          label="True difference Δ",
          help="How much better variant B truly is than A; 0 = no real difference."),
    Param(name="sigma", kind="float", default=1.0, min=0.1, max=5, step=0.05, unit="points",
          label="Run-to-run noise σ",
          help="Standard deviation of one run's score from seed, data order and kernels."),
    Param(name="runs_per_variant", kind="int", default=1, min=1, max=100, step=1,
          unit="runs", label="Runs per variant",
          help="Training runs (seeds) of each variant; the higher mean wins."),
    Param(name="pinned_seed", kind="bool", default=False, label="Pin the seeds",
          help="Every re-run replays the same seeds and deterministic kernels, so it "
               "reproduces the first re-run exactly."),
    Param(name="reruns", kind="int", default=2000, min=100, max=10000, step=100,
          scale="log", unit="re-runs", label="Re-runs of the comparison",
          help="How often the whole comparison is repeated."),
)


@dataclass(frozen=True)
class RerunsParams:
    """Rerun roulette: one field per entry of PARAMS, in order."""

    delta: float
    sigma: float
    runs_per_variant: int
    pinned_seed: bool
    reruns: int



# -- closed forms -------------------------------------------------------------------------
def sd_of_difference(sigma: float, n: int) -> float:
    """Standard deviation of mean(B) − mean(A) with n runs each: σ·√(2/n)."""
    return sigma * math.sqrt(2 / n)


def flip_probability(delta: float, sigma: float, n: int) -> float:
    """P(the worse variant measures better) = Φ(−Δ / (σ·√(2/n))), normal noise."""
    return NORMAL.cdf(-delta / sd_of_difference(sigma, n))


def runs_needed(delta: float, sigma: float, target: float = TARGET_FLIP) -> int | None:
    """Smallest n with P(flip) ≤ target: n ≥ 2·(z·σ/Δ)²; None when Δ = 0 (never)."""
    if delta <= 0:
        return None
    z = NORMAL.inv_cdf(1 - target)
    # The tiny slack keeps float dust from adding a run when 2·(zσ/Δ)² is a whole number.
    return max(1, math.ceil(2 * (z * sigma / delta) ** 2 - 1e-9))


def chi2_cdf_even(x: float, df: int) -> tuple[float, float]:
    """CDF and density of chi-square with even df at x, exactly: a Poisson tail.

    P(χ²_2k ≤ x) = P(Poisson(x/2) ≥ k) (Abramowitz & Stegun 26.4.21); the density is
    half the Poisson probability of k − 1.
    """
    k, lam = df // 2, x / 2
    term = math.exp(-lam)
    below = term
    for j in range(1, k):
        term *= lam / j
        below += term
    return 1 - below, term / 2


def chi2_quantile(q: float, df: int) -> float:
    """Chi-square quantile for even df (2·(n − 1) here is always even).

    Starts from the Wilson–Hilferty cube-root approximation (1931) and polishes it with
    safeguarded Newton steps on the exact CDF.
    """
    z = NORMAL.inv_cdf(q)
    c = 2 / (9 * df)
    x = max(df * (1 - c + z * math.sqrt(c)) ** 3, 1e-6)
    lo, hi = 0.0, math.inf
    for _ in range(60):
        cdf, pdf = chi2_cdf_even(x, df)
        if abs(cdf - q) < 1e-12:
            break
        if cdf < q:
            lo = x
        else:
            hi = x
        step = x - (cdf - q) / pdf if pdf > 0 else math.nan
        # Newton unless it leaves the bracket; then halve the bracket (or double up).
        x = step if lo < step < hi else (lo + hi) / 2 if hi < math.inf else 2 * x
    return x


def sigma_ci(s: float, df: int) -> tuple[float, float]:
    """95 % CI for a normal standard deviation from a sample sd with df degrees of freedom."""
    return (s * math.sqrt(df / chi2_quantile(0.975, df)),
            s * math.sqrt(df / chi2_quantile(0.025, df)))


# -- the GPU queue: one comparison's runs arriving over time -----------------------------
def schedule_runs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Queue 2n training jobs (A1, B1, A2, …) on GPUS GPUs; return finish hours and job order.

    Jobs start first come, first served as GPUs free up. Returns each job's finish time
    (indexed like the submission order) and the job indices sorted by finish time.
    """
    hours = rng.lognormal(math.log(RUN_HOURS), RUN_SHAPE, 2 * n)
    env = simpy.Environment()
    gpus = simpy.Resource(env, capacity=GPUS)
    finish = np.empty(2 * n)

    def job(i: int) -> Any:
        with gpus.request() as slot:
            yield slot
            yield env.timeout(hours[i])
            finish[i] = env.now

    for i in range(2 * n):
        env.process(job(i))
    env.run()
    return finish, np.argsort(finish, kind="stable")


# -- the re-runs ------------------------------------------------------------------------
def draw_reruns(p: RerunsParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every re-run's runs: (reruns × n) scores for A and for B.

    Re-run #1 comes first in the stream, so pinning (which replays it) shows the very
    point the unpinned first re-run would have measured with the same seed.
    """
    n, k = p.runs_per_variant, p.reruns
    noise = rng.normal(0.0, p.sigma, (k, 2, n))
    a = SCORE_A + noise[:, 0, :]
    b = SCORE_A + p.delta + noise[:, 1, :]
    if p.pinned_seed:
        a = np.broadcast_to(a[0], (k, n))
        b = np.broadcast_to(b[0], (k, n))
    return a, b




def run(p: RerunsParams, seed: int) -> Result[RerunsFigure]:
    """Re-run the comparison many times, schedule one on the GPUs, and report."""
    rng = spawn_rngs(seed, "scores", "gpu_hours")
    n, k = p.runs_per_variant, p.reruns
    a, b = draw_reruns(p, rng["scores"])
    mean_a, mean_b = a.mean(axis=1), b.mean(axis=1)
    diff = mean_b - mean_a
    flips = int((diff < 0).sum())
    sd_cf = sd_of_difference(p.sigma, n)
    flip_cf = flip_probability(p.delta, p.sigma, n)
    need = runs_needed(p.delta, p.sigma)

    m, lo, hi = stats.mean_ci(diff)
    spread = float(diff.std(ddof=1))
    spread_half = stats.Z95 / math.sqrt(2 * (k - 1))  # large-sample SE of an sd: s/√(2(k−1))
    identical = int(((mean_a[1:] == mean_a[0]) & (mean_b[1:] == mean_b[0])).sum())

    # What one comparison can say about its own noise: the pooled within-variant sd.
    df = 2 * (n - 1)
    if df:
        pooled = math.sqrt((a[0].var(ddof=1) + b[0].var(ddof=1)) / 2)
        sigma_metric = Metric(pooled, "points",
                              "Noise σ estimated from one comparison's own runs",
                              ci95=sigma_ci(pooled, df), closed_form=p.sigma)
    else:
        pooled = None
        sigma_metric = Metric(None, "points",
                              "Noise σ estimated from one comparison's own runs "
                              "(one run per variant: cannot tell)", closed_form=p.sigma)

    finish, order = schedule_runs(n, rng["gpu_hours"])
    mean_run_h = RUN_HOURS * math.exp(RUN_SHAPE**2 / 2)
    hours_5 = None if need is None else 2 * need * mean_run_h / GPUS

    metrics = {
        "flip_rate": Metric(flips / k, "share",
                            "Re-runs in which A, the worse variant, measured better"
                            if p.delta > 0 else
                            "Re-runs in which A measured better (no real difference)",
                            ci95=stats.proportion_ci(flips, k), closed_form=flip_cf),
        "mean_measured_delta": Metric(m, "points", "Measured difference B − A, mean over "
                                      "re-runs", ci95=(lo, hi), closed_form=p.delta),
        "spread_measured_delta": Metric(
            spread, "points", "Measured difference B − A, standard deviation over re-runs",
            ci95=(spread * (1 - spread_half), spread * (1 + spread_half)),
            closed_form=sd_cf),
        "sigma_estimate": sigma_metric,
        "repeatability": Metric(identical / (k - 1), "share",
                                "Re-runs that reproduce the first one exactly"),
        "runs_needed_for_5pct": Metric(need, "runs",
                                       "Runs per variant for under 5 % wrong winners "
                                       "(formula; none when Δ = 0)"),
        "hours_to_answer": Metric(float(finish.max()), "h",
                                  f"Wall-clock hours until this comparison's runs finish "
                                  f"({GPUS} GPUs, about {RUN_HOURS:g} h a run)"),
        "hours_for_5pct": Metric(hours_5, "h",
                                 f"Wall-clock hours for the 5 % answer on {GPUS} GPUs, "
                                 f"at least (GPU-hours ÷ {GPUS}; formula)"),
    }

    # Per-re-run data for the dots, a histogram for the bars, one comparison over time.
    dots = min(k, MAX_DOTS)
    width = 2 * SPAN_SD * sd_cf / BINS
    # Bin edges on multiples of the width, so 0 is always an edge: no bar straddles a tie.
    lo_edge = math.floor((p.delta - SPAN_SD * sd_cf) / width) * width
    centres, _, share = stats.histogram(diff, BINS + 1, lo=lo_edge,
                                        hi=lo_edge + (BINS + 1) * width)
    digits = max(4, 3 - math.floor(math.log10(width)))  # rounding far below a bin's width
    labels = np.where(order % 2 == 0, "A", "B")
    run_scores = np.where(order % 2 == 0, a[0][order // 2], b[0][order // 2])
    running = _running_difference(labels, run_scores)
    series = {
        "rerun_a_score": mean_a[:dots].round(4).tolist(),
        "rerun_b_score": mean_b[:dots].round(4).tolist(),
        "rerun_delta": diff[:dots].round(4).tolist(),
        "delta_bin_centre": np.round(centres, digits).tolist(),
        "delta_bin_share": np.round(share, 5).tolist(),
        "run_finish_hours": finish[order].round(3).tolist(),
        "run_variant": labels.tolist(),
        "run_score": run_scores.round(4).tolist(),
        "running_delta": running,
    }
    figure_data = RerunsFigure(width=width, sd_cf=sd_cf, flips=flips, dots=dots)
    summary = _summary(p, flips, m, spread, pooled, need, hours_5, float(finish.max()))
    return Result(metrics=metrics, series=series, summary=summary, figure_data=figure_data)


def _running_difference(labels: np.ndarray, scores: np.ndarray) -> list[float | None]:
    """mean(B so far) − mean(A so far) as results arrive; None until both have one."""
    is_b = labels == "B"
    count_b, count_a = np.cumsum(is_b), np.cumsum(~is_b)
    sum_b, sum_a = np.cumsum(np.where(is_b, scores, 0)), np.cumsum(np.where(is_b, 0, scores))
    out: list[float | None] = []
    for cb, ca, sb, sa in zip(count_b, count_a, sum_b, sum_a, strict=True):
        out.append(round(float(sb / cb - sa / ca), 4) if cb and ca else None)
    return out


def _summary(p: RerunsParams, flips: int, mean_diff: float, spread: float, pooled: float | None,
             need: int | None, hours_5: float | None, hours: float) -> str:
    """Two sentences from the numbers."""
    n, k = p.runs_per_variant, p.reruns
    cf = flip_probability(p.delta, p.sigma, n)
    each = f"{n} run{'s' if n > 1 else ''} per variant"
    if p.pinned_seed:
        if mean_diff > 0:
            result = f"B ahead by {mean_diff:.2f} points"
        else:
            worse = ", the worse variant," if p.delta > 0 else ""
            result = f"A{worse} ahead by {-mean_diff:.2f} points"
        truth = f"B ahead by {p.delta:g}" if p.delta > 0 else "no difference"
        first = (f"Pinned: all {k:,} re-runs reproduced one result exactly, {result} "
                 f"(truth: {truth}), and a spread of zero.")
        second = (f"Across seeds this comparison picks the wrong winner {pct(cf)} of the "
                  f"time (closed form): pinning made it repeatable, not right."
                  if p.delta > 0 else
                  "Across seeds either variant wins half the time; pinning only chose which.")
        return f"{first} {second}"
    if p.delta > 0:
        first = (f"With {each}, A, the worse variant, measured better in {pct(flips / k)} "
                 f"of {k:,} re-runs (closed form {pct(cf)}); the measured difference "
                 f"wobbled by ±{spread:.2f} points (one sd) around the true {p.delta:g}.")
    else:
        first = (f"There is no real difference, yet every re-run crowned a winner: A in "
                 f"{pct(flips / k)} of {k:,}, B in the rest, with a measured gap of "
                 f"±{spread:.2f} points (one sd).")
    if pooled is None:
        noise = "One run per variant cannot measure its own noise"
    else:
        noise = (f"One comparison's own runs put the noise at σ ≈ {pooled:.2f} "
                 f"(truth {p.sigma:g})")
    if need is None:
        cost = f"; it took {duration(3600 * hours)} on {GPUS} GPUs."
    elif need <= n:
        cost = (f"; {need} run{'s' if need > 1 else ''} per variant already keep wrong "
                f"winners under 5 %, and this comparison took {duration(3600 * hours)} on {GPUS} GPUs.")
    else:
        cost = (f"; under 5 % wrong winners needs {need:,} runs per variant, at least "
                f"{duration(3600 * (hours_5 or 0))} on {GPUS} GPUs (this one took {duration(3600 * hours)}).")
    return f"{first} {noise}{cost}"


# -- figure -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RerunsFigure:
    """What the figure needs beyond the public series."""

    width: float  # histogram bin width (points)
    sd_cf: float  # closed-form standard deviation of the measured difference
    flips: int  # re-runs the worse variant won
    dots: int  # re-runs drawn as dots


def build_figure(result: Result[RerunsFigure], p: RerunsParams) -> dict[str, Any]:
    """Left: each re-run as a dot (A's score, B's score); right: the measured difference."""
    s, fd = result.series, result.figure_data
    assert fd is not None
    n = p.runs_per_variant
    blue, red, grey, green = PALETTE["blue"], PALETTE["red"], PALETTE["grey"], PALETTE["green"]
    a, b = np.asarray(s["rerun_a_score"]), np.asarray(s["rerun_b_score"])
    b_better = b > a
    dot_size = 11 if p.pinned_seed else 6
    opacity = 1.0 if p.pinned_seed else 0.45
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "markers", "x": a[b_better].round(3).tolist(),
         "y": b[b_better].round(3).tolist(), "name": "B measured better",
         "marker": {"color": blue, "size": dot_size, "symbol": "circle", "opacity": opacity},
         "hovertemplate": "A %{x:.2f}, B %{y:.2f}<extra>B better</extra>"},
        {"type": "scatter", "mode": "markers", "x": a[~b_better].round(3).tolist(),
         "y": b[~b_better].round(3).tolist(),
         "name": "A measured better" + (" (flip)" if p.delta > 0 else ""),
         "marker": {"color": red, "size": dot_size + 1, "symbol": "x", "opacity": opacity},
         "hovertemplate": "A %{x:.2f}, B %{y:.2f}<extra>A better</extra>"},
        {"type": "scatter", "mode": "markers", "x": [SCORE_A], "y": [SCORE_A + p.delta],
         "name": "true scores", "marker": {"color": green, "size": 12, "symbol": "diamond",
                                           "line": {"width": 1, "color": "#ffffff"}},
         "hovertemplate": "truth: A %{x:.2f}, B %{y:.2f}<extra></extra>"},
    ]

    # Right panel: the measured difference, flips (left of 0) in red.
    centres = np.asarray(s["delta_bin_centre"])
    share = 100 * np.asarray(s["delta_bin_share"])
    left = centres < 0
    for mask, colour, name in ((~left, blue, "difference: B ahead"),
                               (left, red, "difference: A ahead")):
        if mask.any():
            data.append({
                "type": "bar", "x": centres[mask].tolist(),
                "y": share[mask].round(3).tolist(), "width": fd.width,
                "xaxis": "x2", "yaxis": "y2", "name": name, "showlegend": False,
                "marker": {"color": colour, "opacity": 0.75, "line": {"width": 0}},
                "hovertemplate": "B − A ≈ %{x:.2f}: %{y:.1f} % of re-runs<extra></extra>"})
    sd = fd.sd_cf
    grid = np.linspace(p.delta - SPAN_SD * sd, p.delta + SPAN_SD * sd, 91)
    density = np.exp(-0.5 * ((grid - p.delta) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    data.append({
        "type": "scatter", "mode": "lines", "x": grid.round(4).tolist(),
        "y": (100 * density * fd.width).round(3).tolist(), "xaxis": "x2", "yaxis": "y2",
        "name": "across seeds (closed form)", "line": {"color": grey, "width": 2, "dash": "dash"},
        "hoverinfo": "skip"})

    # Equal, square-ish ranges on the left so the tie line is the diagonal.
    half = max(4 * p.sigma / math.sqrt(n), 0.25 * p.delta)
    lo, hi = SCORE_A - half, SCORE_A + p.delta + half
    shapes: list[dict[str, Any]] = [
        {"type": "line", "xref": "x", "yref": "y", "x0": lo, "y0": lo, "x1": hi, "y1": hi,
         "line": {"color": grey, "width": 1.5, "dash": "dot"}},
    ]
    notes = [
        plotting.panel_title("Each re-run: A's score vs B's score", x=0),
        plotting.panel_title("Measured difference B − A over re-runs", x=0.56),
        {"x": hi, "y": lo, "xref": "x", "yref": "y", "text": "below the dotted tie line: A wins",
         "showarrow": False, "xanchor": "right", "yanchor": "bottom",
         "font": {"size": 11, "color": grey}},
    ]
    lines = [(0.0, "tie", grey, "dot"), (p.delta, f"true Δ {p.delta:g}", green, "dash")]
    if p.delta == 0:
        lines = [(0.0, "tie = true Δ 0", green, "dash")]
    for x, text, colour, dash in lines:
        shape, note = plotting.vline(x, text, colour, yref="y2 domain", dash=dash)
        shapes.append({**shape, "xref": "x2"})
        tie_only = x == 0 and p.delta > 0  # the tie's label goes left of its line
        notes.append({**note, "xref": "x2", "xanchor": "right" if tie_only else "left"})
    if p.pinned_seed:
        notes.append({"x": float(a[0]), "y": float(b[0]), "xref": "x", "yref": "y", "ax": 30, "ay": -36,
                      "text": f"all {p.reruns:,} re-runs", "showarrow": True,
                      "arrowcolor": grey, "font": {"size": 11}})
    x2_lo, x2_hi = p.delta - SPAN_SD * sd, p.delta + SPAN_SD * sd
    if p.delta <= 8 * sd:  # keep the tie in view unless it is hopelessly far away
        x2_lo = min(x2_lo, -0.5 * sd)
    return plotting.figure(
        data,
        height=440,
        xaxis=plotting.axis("A's mean score (points)", domain=[0, 0.44], range=[lo, hi],
                            anchor="y"),
        yaxis=plotting.axis("B's mean score (points)", range=[lo, hi], anchor="x"),
        xaxis2=plotting.axis("B − A (points)", domain=[0.56, 1], anchor="y2",
                             range=[x2_lo, x2_hi]),
        yaxis2=plotting.axis("Share of re-runs (%)", anchor="x2", rangemode="tozero"),
        shapes=shapes, annotations=notes, bargap=0,
    )


# -- declaration ------------------------------------------------------------------------
SIMULATION = Simulation(
    slug="reruns",
    title="Rerun roulette",
    description="Two variants, noisy training runs: how often the worse one wins, and what "
                "pinning a seed does (and doesn't) fix.",
    params=PARAMS,
    params_type=RerunsParams,
    run=run,
    figure=build_figure,
    main_param="runs_per_variant",
)
