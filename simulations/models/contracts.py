"""Silent unit change: an upstream feed changes meaning, with and without a data contract.

The feed. A warehouse producer emits one batch of shipment records an hour (Poisson
counts around `records_per_hour`), each with a parcel weight in grams drawn from a
lognormal (median WEIGHT_MEDIAN_G, log-sd WEIGHT_SIGMA). Hour 0 is Friday 00:00. At
`change_hour` the producer ships a change: either weights arrive in kilograms (÷ 1000:
same column, same type, still non-null) or a share `null_share` of them arrive empty.

The consumer. A pricing job turns each weight into a quote from PRICE_TIERS and
publishes it; the downstream metric is the average quote per parcel, hour by hour.
Without a contract it is forgiving: a null becomes 0 g (the quiet coercion) and every
row is published. With a contract it validates every batch on read, like a pandera
schema: type (a number), nullability (never null) and range (RANGE_G). A row that
fails is quarantined (held back); when more than BATCH_TOLERANCE of a batch fails, the
whole batch is held and the producer's owner is paged. Real parcels outside the range
(a 30 g letter, 80 kg of freight) are the contract's false positives.

People. Without a page, a human notices `detect_hours` after the change; the team then
stops publishing. Either way the owner fixes the feed `fix_hours` after detection and
the held rows are backfilled.

Time is SimPy: a producer process puts each hour's batch in a Store at half past the
hour, the consumer process validates and publishes it, and a human and a responder
process act on whole hours (so no event ever ties with a batch). Every row is drawn,
validated and priced up front with NumPy, both as sent healthy and as sent broken, and
reduced to per-hour totals: the consumer only decides, per batch, which totals count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import simpy

from ..engine import plotting, stats
from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param, check_work
from ..engine.plotting import PALETTE
from ..engine.words import pct

# -- model constants ---------------------------------------------------------------------
# Parcel weights: lognormal with a 1.5 kg median and a wide spread (letters to freight),
# so about 0.04 % of real parcels fall outside the contract's range.
WEIGHT_MEDIAN_G = 1500.0
WEIGHT_SIGMA = 1.0
# The contract's range clause, as in the chapter's schema: 50 g ≤ weight_g ≤ 70 kg.
RANGE_G = (50.0, 70_000.0)
# A batch with more failing rows than this is held whole and pages the owner; below it
# the failing rows are quarantined one by one and nobody is paged (a natural outlier or
# two must not wake anyone).
BATCH_TOLERANCE = 0.05
# Price per parcel by weight tier (upper bound in grams, price in euros); invented but
# shaped like a parcel carrier's list. Heavier than the last bound: FREIGHT_EUR.
PRICE_TIERS = ((1000.0, 4.50), (2000.0, 5.90), (5000.0, 7.50), (10_000.0, 10.50),
               (31_500.0, 16.90))
FREIGHT_EUR = 39.00
# Every run's limit on rows (the maxima: 336 hours × 10,000 records an hour).
MAX_ROWS = 336 * 10_000

DAYS = ("Fri", "Sat", "Sun", "Mon", "Tue", "Wed", "Thu")
CHANGE_LABELS = {"units": "grams → kilograms (÷ 1000)", "nulls": "weights arrive empty"}

_BOUNDS = np.array([b for b, _ in PRICE_TIERS])
_PRICES = np.array([p for _, p in PRICE_TIERS] + [FREIGHT_EUR])
LIGHTEST_EUR = PRICE_TIERS[0][1]


# -- parameters --------------------------------------------------------------------------
PARAMS = (
    Param(name="change_type", kind="choice", default="units", choices=("units", "nulls"),
          choice_labels=CHANGE_LABELS, label="Upstream change",
          help="What the producer changes: weights sent in kilograms instead of grams, "
               "or some weights sent empty."),
    Param(name="change_hour", kind="int", default=18, min=0, max=336, step=1, unit="h",
          label="Change lands at hour",
          help="Hours after Friday 00:00 when the producer ships the change "
               "(18 = Friday 18:00; past the end of the run = no change)."),
    Param(name="detect_hours", kind="int", default=63, min=1, max=168, step=1, unit="h",
          label="Hours until a human notices",
          help="Without a page, how long until someone looks at the numbers and "
               "sees the problem (63 h = Friday 18:00 to Monday 09:00)."),
    Param(name="contract", kind="bool", default=False, label="Data contract",
          help="Validate type, nullability and range (50 g to 70 kg) on every read; hold "
               "back failing rows, and page the owner when more than 5 % of a batch fails."),
    Param(name="null_share", kind="float", default=0.3, min=0.01, max=1, step=0.01,
          label="Share of weights empty",
          help="For the nulls change: the share of records that arrive with no weight."),
    Param(name="fix_hours", kind="int", default=4, min=1, max=48, step=1, unit="h",
          label="Hours to fix the feed",
          help="From detection (page or human) until the producer is fixed and held rows "
               "are backfilled."),
    Param(name="records_per_hour", kind="int", default=1000, min=100, max=10_000, step=100,
          scale="log", label="Records per hour",
          help="Shipments the producer emits in an average hourly batch."),
    Param(name="hours", kind="int", default=192, min=24, max=336, step=1, unit="h",
          label="Hours simulated",
          help="How long the run lasts, from Friday 00:00 (192 h = to the next Saturday)."),
)


@dataclass(frozen=True)
class ContractsParams:
    """Silent unit change: one field per entry of PARAMS, in order."""

    change_type: Literal["units", "nulls"]
    change_hour: int
    detect_hours: int
    contract: bool
    null_share: float
    fix_hours: int
    records_per_hour: int
    hours: int



def check_limits(p: ContractsParams) -> None:
    """Refuse runs too large to finish in time, naming the limit."""
    # At the maxima this is the maximum itself; it is here so a wider range fails loudly.
    check_work(p, ("hours", "records_per_hour"), MAX_ROWS)


# -- closed forms ------------------------------------------------------------------------
def _weight_cdf(grams: float) -> float:
    """P(weight ≤ grams) for the lognormal parcel weights."""
    if grams <= 0:
        return 0.0
    return NormalDist().cdf(math.log(grams / WEIGHT_MEDIAN_G) / WEIGHT_SIGMA)


def expected_price() -> float:
    """Mean quote for a correctly weighed parcel: Σ tier price × P(weight in tier)."""
    cdf = [0.0, *(_weight_cdf(b) for b in _BOUNDS), 1.0]
    return float(sum(price * (hi - lo) for price, lo, hi in zip(_PRICES, cdf, cdf[1:],
                                                                strict=False)))


def outside_range_share() -> float:
    """Share of real parcels outside the contract's range: its false-positive rate."""
    return _weight_cdf(RANGE_G[0]) + 1.0 - _weight_cdf(RANGE_G[1])


def price_eur(grams: np.ndarray) -> np.ndarray:
    """The pricing job's quote for each weight (a tier lookup)."""
    # Counting the bounds below each weight is searchsorted(side="left") for five bounds,
    # about 20× faster than a binary search per row.
    grams = np.asarray(grams)
    tier = np.zeros(grams.shape, dtype=np.uint8)
    for bound in _BOUNDS:
        tier += grams > bound
    return _PRICES[tier]


# -- the pipeline ------------------------------------------------------------------------
@dataclass
class _Totals:
    """Per-hour totals of one version of the feed (healthy, or as sent once broken)."""

    fails: np.ndarray  # rows failing the contract (type, nullability, range)
    quote: np.ndarray  # sum of the pricing job's quotes, every row
    quote_pass: np.ndarray  # ... rows passing the contract only
    wrong: np.ndarray  # rows whose value differs from the truth
    wrong_pass: np.ndarray
    loss: np.ndarray  # correct quote − quote, summed
    loss_pass: np.ndarray


@dataclass
class _Feed:
    """Every row of the run, pre-drawn, reduced to per-hour totals the consumer reads."""

    rows: np.ndarray  # rows in each hour's batch
    true_quote: np.ndarray  # sum of correct quotes per hour
    healthy: _Totals
    broken: _Totals  # as if the batch were sent after the change (zeros before it)


@dataclass
class _Hour:
    """What happened to one hour's batch."""

    rows: int
    true_sum: float
    published: int = 0
    published_sum: float = 0.0
    wrong: int = 0
    held: int = 0
    underquoted: float = 0.0


@dataclass
class _State:
    """The pipeline's shared state, changed by the processes."""

    hours: list[_Hour] = field(default_factory=list)
    detected_at: int | None = None  # whole hour of detection
    detected_by: str = ""
    fixed_at: int | None = None
    paused: bool = False
    alert_fail_share: float = 0.0
    healthy_rows: int = 0
    healthy_outside: int = 0


def _totals(true_w: np.ndarray, sent: np.ndarray, price: np.ndarray,
            per_hour: Any) -> _Totals:
    """Validate and price every row as sent, then total per hour."""
    # Type: the array is numeric by construction (neither change alters the type, which
    # is the point). Nullability and range: NaN fails both comparisons.
    fails = ~((sent >= RANGE_G[0]) & (sent <= RANGE_G[1]))
    passes = ~fails
    quote = price_eur(np.nan_to_num(sent, nan=0.0))  # null → 0 g, quietly
    wrong = sent != true_w  # NaN differs from everything
    loss = price - quote
    return _Totals(fails=per_hour(fails), quote=per_hour(quote),
                   quote_pass=per_hour(np.where(passes, quote, 0.0)), wrong=per_hour(wrong),
                   wrong_pass=per_hour(wrong & passes), loss=per_hour(loss),
                   loss_pass=per_hour(np.where(passes, loss, 0.0)))


def _draw_feed(p: ContractsParams, seed: int) -> _Feed:
    """Counts, weights and null draws for every row from named streams, totalled per hour."""
    rngs = spawn_rngs(seed, "rows", "weights", "nulls")
    counts = rngs["rows"].poisson(p.records_per_hour, size=p.hours)
    starts = np.concatenate([[0], np.cumsum(counts)])
    n = int(starts[-1])
    # float32 normals and exp: half the time of rng.lognormal, and ample for grams.
    weight = rngs["weights"].standard_normal(n, dtype=np.float32)
    weight = np.exp(weight * np.float32(WEIGHT_SIGMA) + np.float32(math.log(WEIGHT_MEDIAN_G)))
    null_draw = rngs["nulls"].random(n, dtype=np.float32)
    price = price_eur(weight)

    def per_hour(x: np.ndarray, first: int = 0) -> np.ndarray:
        """Totals per hourly batch from hour `first` on (zeros before it)."""
        out = np.zeros(p.hours)
        edges = starts[first:-1] - starts[first]
        if x.size:
            # reduceat is ~5× faster than differencing a cumulative sum; it returns
            # x[i] for an empty batch (and cannot index past the end), so mask those.
            sums = np.add.reduceat(x, np.minimum(edges, x.size - 1), dtype=np.float64)
            out[first:] = np.where(counts[first:] > 0, sums, 0.0)
        return out

    healthy = _totals(weight, weight, price, per_hour)
    # Rows before the change hour are never sent broken: skip them (most of a long run).
    first = min(p.change_hour, p.hours)
    lo = starts[first]
    w = weight[lo:]
    sent = w / np.float32(1000) if p.change_type == "units" else np.where(
        null_draw[lo:] < p.null_share, np.float32(np.nan), w)
    broken = _totals(w, sent, price[lo:], lambda x: per_hour(x, first))
    return _Feed(rows=counts, true_quote=per_hour(price), healthy=healthy, broken=broken)


def _simulate(p: ContractsParams, feed: _Feed) -> _State:
    """Run the producer, the consumer, the human and the responder on one SimPy clock."""
    env = simpy.Environment()
    store = simpy.Store(env)
    state = _State()

    def broken(h: int) -> bool:
        return p.change_hour <= h and (state.fixed_at is None or h < state.fixed_at)

    def detect(by: str, hour: int) -> None:
        if state.detected_at is not None:
            return
        state.detected_at, state.detected_by = hour, by
        if not p.contract:
            state.paused = True  # the team stops publishing what it now knows is wrong
        env.process(respond(hour))

    def respond(hour: int):
        yield env.timeout(hour + p.fix_hours - env.now)
        state.fixed_at = hour + p.fix_hours
        state.paused = False

    def human():
        yield env.timeout(p.change_hour + p.detect_hours)
        detect("human", p.change_hour + p.detect_hours)

    def producer():
        for h in range(p.hours):
            yield env.timeout(h + 0.5 - env.now)  # the hourly batch job runs at half past
            yield store.put((h, broken(h)))

    def consumer():
        while True:
            h, is_broken = yield store.get()
            consume(h, feed.broken if is_broken else feed.healthy, is_broken)

    def consume(h: int, t: _Totals, is_broken: bool) -> None:
        """Validate (with a contract), then publish, quarantine or hold the batch."""
        rows = int(feed.rows[h])
        hour = _Hour(rows=rows, true_sum=float(feed.true_quote[h]))
        state.hours.append(hour)
        fails = int(t.fails[h])
        if not is_broken:
            state.healthy_rows += rows
            state.healthy_outside += fails
        if p.contract:
            share = fails / rows if rows else 0.0
            if share > BATCH_TOLERANCE:
                if state.detected_at is None:
                    state.alert_fail_share = share
                    detect("contract", h)
            else:  # failing rows quarantined; on healthy data, the false positives
                hour.published = rows - fails
                hour.published_sum = float(t.quote_pass[h])
                hour.wrong = int(t.wrong_pass[h])
                hour.underquoted = float(t.loss_pass[h])
        elif not state.paused:
            hour.published, hour.published_sum = rows, float(t.quote[h])
            hour.wrong, hour.underquoted = int(t.wrong[h]), float(t.loss[h])
        hour.held = rows - hour.published

    if p.change_hour < p.hours:
        env.process(human())
    env.process(producer())
    env.process(consumer())
    env.run(until=p.hours)
    return state


# -- run ---------------------------------------------------------------------------------
def hour_label(h: float) -> str:
    """Hour since Friday 00:00 as 'Mon 09:00' (or 'next Fri 18:00' in the second week)."""
    h = int(h)
    week = ("", "next ", "two weeks on, ")[min(h // 168, 2)]
    return f"{week}{DAYS[(h // 24) % 7]} {h % 24:02d}:00"




def run(p: ContractsParams, seed: int) -> Result[ContractsFigure]:
    """Simulate the feed hour by hour and shape metrics, series and the summary."""
    check_limits(p)
    feed = _draw_feed(p, seed)
    st = _simulate(p, feed)
    hours = st.hours
    rows = np.array([h.rows for h in hours])
    true_mean = np.array([h.true_sum for h in hours]) / np.maximum(rows, 1)
    published = np.array([h.published for h in hours])
    pub_mean = np.where(published > 0,
                        np.array([h.published_sum for h in hours]) / np.maximum(published, 1),
                        np.nan)
    error = np.abs(pub_mean - true_mean) / true_mean
    wrong = np.array([h.wrong for h in hours])
    held = np.array([h.held for h in hours])
    changed = p.change_hour < p.hours
    detect_h = (st.detected_at - p.change_hour) if st.detected_at is not None else None
    gap_hours = int((published == 0).sum())
    error_peak = float(np.nanmax(error)) if np.isfinite(error).any() else 0.0
    lost = sum(h.underquoted for h in hours)
    outside, healthy = st.healthy_outside, st.healthy_rows

    expected_wrong = None
    if not p.contract and changed:
        wrong_hours = min(p.detect_hours, p.hours - p.change_hour)
        per_row = 1.0 if p.change_type == "units" else p.null_share
        expected_wrong = p.records_per_hour * wrong_hours * per_row
    elif p.contract:
        expected_wrong = 0.0

    metrics = {
        "wrong_rows_published": Metric(int(wrong.sum()), "rows",
                                       "Wrong rows published", closed_form=expected_wrong),
        "rows_held_back": Metric(int(held.sum()), "rows", "Rows held back (not published "
                                 "on time)"),
        # Hours carry the unit "h"; null when nobody detected the change within the run.
        "hours_to_detect": Metric(detect_h, "h", "Hours from the change to detection"),
        "metric_error_peak": Metric(error_peak, "share",
                                    "Worst hour's error in the published average quote"),
        "underquoted_eur": Metric(round(lost, 2), "EUR",
                                  "Shipping underquoted on wrong rows"),
        "gap_hours": Metric(gap_hours, "h", "Hours with no published metric"),
        "false_hold_rate": Metric(
            outside / healthy if healthy else None, "share",
            "Healthy rows outside the contract's range (its false positives)",
            ci95=stats.proportion_ci(outside, healthy) if healthy else None,
            closed_form=outside_range_share()),
    }
    series = {
        "hour": list(range(p.hours)),
        "rows": rows.tolist(),
        "true_mean_price_eur": np.round(true_mean, 3).tolist(),
        "published_mean_price_eur": [None if math.isnan(v) else round(float(v), 3)
                                     for v in pub_mean],
        "wrong_rows_published": wrong.tolist(),
        "rows_held_back": held.tolist(),
    }
    figure_data = ContractsFigure(detected_at=st.detected_at, detected_by=st.detected_by,
                                  fixed_at=st.fixed_at, lost=lost)
    return Result(metrics=metrics, series=series,
                  summary=_summary(p, st, metrics, lost), figure_data=figure_data)


def _rows(n: int) -> str:
    """'no wrong row was', '1 wrong row was', '62,988 wrong rows were'."""
    if n == 0:
        return "no wrong row was"
    return "1 wrong row was" if n == 1 else f"{n:,} wrong rows were"


def _summary(p: ContractsParams, st: _State, m: dict[str, Metric], lost: float) -> str:
    """One or two plain sentences from the numbers."""
    wrong = m["wrong_rows_published"].value
    held = m["rows_held_back"].value
    peak = m["metric_error_peak"].value
    if p.change_hour >= p.hours:
        text = f"No change landed in the {p.hours} hours simulated"
        if p.contract:
            return (f"{text}; the contract held back {held:,} healthy rows as range outliers "
                    f"({pct(m['false_hold_rate'].value or 0)} of rows), and nobody was paged.")
        return f"{text}, so every row was published and right."
    what = "Grams became kilograms" if p.change_type == "units" else (
        f"{pct(p.null_share)} of weights started arriving empty")
    start = f"{what} at {hour_label(p.change_hour)}"
    fixed = (f"the feed was fixed and the held rows backfilled at {hour_label(st.fixed_at)}"
             if st.fixed_at is not None else "the feed was still broken when the run ended")
    if st.detected_by == "contract":
        clause = "range" if p.change_type == "units" else "not-null"
        return (f"{start}; the contract's {clause} check failed "
                f"{pct(st.alert_fail_share)} of that batch, so it held the batch back and "
                f"paged the owner at once. {_rows(wrong).capitalize()} published; "
                f"{held:,} rows were held back (a {m['gap_hours'].value}-hour gap in the "
                f"metric), and {fixed}.")
    noticed = (f"someone noticed at {hour_label(st.detected_at)}, {p.detect_hours} hours later"
               if st.detected_at is not None
               else f"the run ended at {hour_label(p.hours)} before anyone noticed")
    if p.contract:
        return (f"{start}, under the contract's {pct(BATCH_TOLERANCE)} batch limit: it "
                f"quarantined {held:,} rows one by one and paged nobody, so {_rows(wrong)} "
                f"published while the quarantine grew until {noticed}.")
    return (f"{start} and nothing failed: {_rows(wrong)} published, "
            f"€{lost:,.0f} of shipping underquoted and the average quote {pct(peak)} off "
            f"at worst, until {noticed}.")


# -- figure ------------------------------------------------------------------------------
def _ticks(hours: int) -> tuple[list[int], list[str]]:
    """Day names at midnight, or every six hours on short runs."""
    step = 24 if hours > 72 else 6
    vals = list(range(0, hours + 1, step))
    text = [DAYS[(h // 24) % 7] if step == 24 else hour_label(h) for h in vals]
    return vals, text


@dataclass(frozen=True)
class ContractsFigure:
    """What the figure needs beyond the public series: when the change was caught and fixed."""

    detected_at: int | None  # whole hour of detection, if any
    detected_by: str  # "contract", "human" or ""
    fixed_at: int | None  # hour the fix landed, if any
    lost: float  # shipping underquoted on wrong rows (EUR)


def build_figure(result: Result[ContractsFigure], p: ContractsParams) -> dict[str, Any]:
    """The metric hour by hour over cumulative wrong and held rows, with totals beside."""
    s, fd = result.series, result.figure_data
    assert fd is not None
    # Hour h's batch covers [h, h + 1): draw the metric as steps and the running totals
    # at the end of each hour, so the change line falls exactly on the first bad hour.
    edges = list(range(p.hours + 1))
    labels = [hour_label(h) for h in edges]
    true_y = [*s["true_mean_price_eur"], s["true_mean_price_eur"][-1]]
    pub_y = [*s["published_mean_price_eur"], s["published_mean_price_eur"][-1]]
    wrong_cum = [0, *np.cumsum(s["wrong_rows_published"]).tolist()]
    held_cum = [0, *np.cumsum(s["rows_held_back"]).tolist()]
    total_wrong, total_held = wrong_cum[-1], held_cum[-1]
    step = {"shape": "hv"}
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "name": "true average quote", "x": edges,
         "y": true_y, "xaxis": "x2", "yaxis": "y2", "customdata": labels,
         "line": {"color": PALETTE["grey"], "width": 1.5, "dash": "dash", **step},
         "hovertemplate": "%{customdata}: true €%{y:.2f}<extra></extra>"},
        {"type": "scatter", "mode": "lines", "name": "published average quote", "x": edges,
         "y": pub_y, "xaxis": "x2", "yaxis": "y2", "customdata": labels,
         "connectgaps": False, "line": {"color": PALETTE["blue"], "width": 2, **step},
         "hovertemplate": "%{customdata}: published €%{y:.2f}<extra></extra>"},
        {"type": "scatter", "mode": "lines", "name": "wrong rows published (cumulative)",
         "x": edges, "y": wrong_cum, "fill": "tozeroy",
         "line": {"color": PALETTE["red"], "width": 2},
         "hovertemplate": "by hour %{x}: %{y:,} wrong rows<extra></extra>"},
        {"type": "scatter", "mode": "lines", "name": "rows held back (cumulative)",
         "x": edges, "y": held_cum,
         "line": {"color": PALETTE["teal"], "width": 2, "dash": "dot"},
         "hovertemplate": "by hour %{x}: %{y:,} rows held<extra></extra>"},
        {"type": "bar", "orientation": "h", "x": [total_wrong, total_held],
         "y": ["wrong, published", "held back"], "xaxis": "x3", "yaxis": "y3",
         "showlegend": False, "marker": {"color": [PALETTE["red"], PALETTE["teal"]]},
         "text": [f"{total_wrong:,}", f"{total_held:,}"], "textposition": "outside",
         "cliponaxis": False, "hovertemplate": "%{y}: %{x:,} rows<extra></extra>"},
    ]
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    detected, fixed = fd.detected_at, fd.fixed_at
    if p.change_hour < p.hours:
        end_wrong = detected if detected is not None else p.hours
        if not p.contract and end_wrong > p.change_hour:
            shapes.append(plotting.shade(p.change_hour, end_wrong, "wrong output"))
        if detected is not None:
            # Rows held back while the feed is fixed: a neutral band, not an alarm colour.
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": detected,
                           "x1": fixed if fixed is not None else p.hours, "y0": 0, "y1": 1,
                           "fillcolor": "rgba(20,184,166,0.15)", "line": {"width": 0},
                           "layer": "below"})
        marks = [(p.change_hour, "change", PALETTE["red"], "dot", 1.0)]
        if detected is not None:
            label = "paged" if fd.detected_by == "contract" else "noticed"
            marks.append((detected, label, PALETTE["orange"], "dash", 0.9))
        if fixed is not None:
            marks.append((fixed, "fixed", PALETTE["green"], "dashdot", 0.8))
        for x, text, colour, dash, y in marks:
            shape, note = plotting.vline(x, text, colour, dash=dash)
            shapes.append(shape)
            notes.append({**note, "y": y})  # staggered: the marks are often an hour apart
    vals, text = _ticks(p.hours)
    true_prices = [v for v in s["true_mean_price_eur"] if v is not None]
    top = max(true_prices, default=10.0) * 1.15
    return plotting.figure(
        data,
        height=480,
        xaxis=plotting.axis("", domain=[0, 0.72], anchor="y", range=[0, p.hours],
                            tickvals=vals, ticktext=text),
        yaxis=plotting.axis("rows (cumulative)", domain=[0, 0.36], anchor="x",
                            rangemode="tozero", tickformat="~s"),
        xaxis2=plotting.axis("", domain=[0, 0.72], anchor="y2", matches="x",
                             showticklabels=False),
        yaxis2=plotting.axis("average quote (€)", domain=[0.46, 1], anchor="x2",
                             range=[0, top]),
        # Room on the right for the totals written outside the bars.
        xaxis3=plotting.axis("rows in total", domain=[0.82, 1], anchor="y3",
                             range=[0, 1.6 * max(total_wrong, total_held, 10)],
                             tickformat="~s", nticks=3),
        yaxis3=plotting.axis("", domain=[0, 1], anchor="x3", autorange="reversed"),
        shapes=shapes, annotations=notes,
    )


# -- declaration -------------------------------------------------------------------------
SIMULATION = Simulation(
    slug="contracts",
    title="Silent unit change",
    description="An upstream feed switches grams to kilograms or starts sending nulls: "
                "wrong rows published without a contract, a short held-back gap with one.",
    params=PARAMS,
    params_type=ContractsParams,
    run=run,
    figure=build_figure,
    check=check_limits,
    main_param="detect_hours",
)
