"""Cost curves: a step timed on small inputs, extrapolated to production, and a per-call bill.

The step. A batch step over `records` records does work proportional to n, n log n or
n² (`complexity`), normalised so that 1,000 records take `measured_ms` on average. Its
benchmark is a SimPy model: the job is cut into CHUNKS equal chunks on a work queue,
and WORKERS worker processes each take the next chunk when free. Every chunk's time
carries log-normal noise (cache misses, a noisy neighbour) and every run a common
factor (CPU frequency, what else the laptop was doing); a job is as slow as its last
worker, and that straggler cost is calibrated out so 1,000 records average
`measured_ms`.
The benchmark runs each complexity REPEATS times at each of SIZES (1,000–20,000
records: what you can afford to time on a laptop); a least-squares line through
log(time) against log(n) then extrapolates to `records`, with a 95 % interval that
widens with the distance from the measured range. The closed form is the ideal curve
measured_ms × f(n) / f(1,000). Nothing is simulated record by record, so a run costs
the same at 100 records as at 100 million.

The bill. A paid API is called `calls_per_day` times a day on average, at
`price_per_call`, with a share `cache_hit_rate` answered from a cache for free. A week
of DAYS days is drawn minute by minute with NumPy: each day's volume varies (a
campaign, a weekday), traffic follows a daily curve, arrivals per minute are Poisson
and cache hits binomial. The bill is compared with `budget_per_day`: the daily cost,
the days over budget, and the time of day the budget runs out.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import simpy

from ..engine import plotting, stats
from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param
from ..engine.plotting import PALETTE
from ..engine.words import duration

# -- model constants --------------------------------------------------------------------
BASE_RECORDS = 1000  # `measured_ms` is the time at this many records
SIZES = (1000, 2000, 5000, 10_000, 20_000)  # benchmark sizes: a laptop's afternoon
REPEATS = 5  # timed runs per size and complexity
WORKERS = 4  # the pool the step runs on (a laptop's cores)
CHUNKS = 8  # equal pieces of work per job, taken first come, first served
CHUNK_SIGMA = 0.2  # log-normal spread of one chunk's time around its share of the work
RUN_SIGMA = 0.05  # log-normal spread of a whole run (frequency scaling, background load)
# Student t quantiles (97.5 %) for the interval sizes used below; no SciPy here.
T_REPEATS = 2.776  # df = REPEATS − 1 = 4
T_FIT = 2.069  # df = len(SIZES) × REPEATS − 2 = 23
T_DAYS = 2.447  # df = DAYS − 1 = 6
CALIBRATION_JOBS = 100_000  # Monte Carlo jobs for the straggler factor (error < 0.05 %)

DAYS = 7  # one simulated week of calls
DAY_SIGMA = 0.1  # day-to-day spread of call volume (log-normal)
DIURNAL = 0.6  # daily traffic curve: ±60 % around the mean, quietest at 02:00
MINUTES = 24 * 60

GRID_POINTS = 49  # points per closed-form curve (8 per decade)
RECORDS_RANGE = (100, 100_000_000)
CALLS_RANGE = (100, 10_000_000_000)

COMPLEXITIES = ("n", "n_log_n", "n2")
COMPLEXITY_LABELS = {"n": "O(n): hash", "n_log_n": "O(n log n): sort",
                     "n2": "O(n²): all pairs"}
SHORT = {"n": "O(n)", "n_log_n": "O(n log n)", "n2": "O(n²)"}
COLOURS = {"n": PALETTE["green"], "n_log_n": PALETTE["blue"], "n2": PALETTE["red"]}
DASHES = {"n": "dot", "n_log_n": "dash", "n2": "solid"}
SYMBOLS = {"n": "circle", "n_log_n": "square", "n2": "diamond"}
DODGE = {"n": 0.9, "n_log_n": 1.0, "n2": 1.1}  # measured points drawn a little apart in x


# -- parameters -------------------------------------------------------------------------
PARAMS = (
    Param(name="records", kind="int", default=1_000_000, min=RECORDS_RANGE[0],
          max=RECORDS_RANGE[1], step=1, scale="log", unit="records", label="Records",
          help="How many records the step processes in production."),
    Param(name="complexity", kind="choice", default="n2", choices=COMPLEXITIES,
          choice_labels=COMPLEXITY_LABELS, label="Complexity",
          help="How the step's work grows with the records: hash them, sort them, or "
               "compare every pair."),
    Param(name="measured_ms", kind="float", default=10, min=0.1, max=60_000, step=0.1,
          scale="log", unit="ms", label="Time at 1,000 records",
          help="How long the step takes on 1,000 records: the number you timed on a laptop."),
    Param(name="time_budget_s", kind="float", default=3600, min=1, max=86_400, step=1,
          scale="log", unit="s", label="Time budget",
          help="The window the step must finish in, e.g. a one-hour nightly batch slot."),
    Param(name="price_per_call", kind="float", default=0.002, min=0.00001, max=1,
          step=0.00001, scale="log", unit="USD", label="Price per call",
          help="What the paid API charges for one call."),
    Param(name="calls_per_day", kind="int", default=50_000_000, min=CALLS_RANGE[0],
          max=CALLS_RANGE[1], step=1, scale="log", unit="calls", label="Calls per day",
          help="Average calls a day to the paid API; real days vary around it."),
    Param(name="budget_per_day", kind="float", default=1000, min=1, max=10_000_000, step=1,
          scale="log", unit="USD", label="Budget per day",
          help="What the business has agreed to spend on the API each day."),
    Param(name="cache_hit_rate", kind="float", default=0, min=0, max=0.99, step=0.01,
          label="Cache hit rate",
          help="Share of calls answered from a cache, which the API never sees or bills."),
)


@dataclass(frozen=True)
class CostParams:
    """Cost curves: one field per entry of PARAMS, in order."""

    records: int
    complexity: Literal["n", "n_log_n", "n2"]
    measured_ms: float
    time_budget_s: float
    price_per_call: float
    calls_per_day: int
    budget_per_day: float
    cache_hit_rate: float



# -- the step: closed forms -------------------------------------------------------------
def growth(complexity: str, n: Any) -> Any:
    """Work at n records relative to BASE_RECORDS: n/1000, n log n/(1000 log 1000), (n/1000)²."""
    n = np.asarray(n, dtype=float)
    match complexity:
        case "n":
            return n / BASE_RECORDS
        case "n_log_n":
            return n * np.log(n) / (BASE_RECORDS * math.log(BASE_RECORDS))
        case "n2":
            return (n / BASE_RECORDS) ** 2
    raise ValueError(complexity)


def run_time_closed_form_s(complexity: str, measured_ms: float, n: Any) -> Any:
    """The ideal extrapolation: measured_ms × f(n) / f(1,000), in seconds."""
    return measured_ms / 1000 * growth(complexity, n)


def max_records_closed_form(complexity: str, measured_ms: float, budget_s: float) -> float:
    """The largest n whose ideal run time fits the budget (solving f(n) = budget / k)."""
    ratio = budget_s * 1000 / measured_ms  # f(n) / f(1,000) at the budget
    match complexity:
        case "n":
            return BASE_RECORDS * ratio
        case "n2":
            return BASE_RECORDS * math.sqrt(ratio)
        case "n_log_n":
            # n ln n = C: with x = ln n, x + ln x = ln C; Newton from x = ln C.
            log_c = math.log(ratio * BASE_RECORDS * math.log(BASE_RECORDS))
            x = max(log_c, 1.0)
            for _ in range(50):
                step = (x + math.log(x) - log_c) / (1 + 1 / x)
                x -= step
                if abs(step) < 1e-12:
                    break
            return math.exp(x)
    raise ValueError(complexity)


def expected_exponent(complexity: str) -> float:
    """The slope a noiseless log-log fit over SIZES would find (1 and 2 exactly; n log n ≈ 1.1)."""
    x = np.log(np.asarray(SIZES, dtype=float))
    y = np.log(growth(complexity, np.asarray(SIZES, dtype=float)))
    return float(np.polyfit(x, y, 1)[0])


# -- the step: the benchmark ------------------------------------------------------------
def makespan(durations: np.ndarray) -> np.ndarray:
    """Job times when WORKERS workers take chunks (last axis) in order, first free first.

    This is list scheduling, what the SimPy pool does with a job's queue of chunks;
    the tests check the two agree.
    """
    lead = durations.shape[:-1]
    free = np.zeros((*lead, WORKERS))
    for i in range(durations.shape[-1]):
        worker = free.argmin(axis=-1)[..., None]
        np.put_along_axis(free, worker,
                          np.take_along_axis(free, worker, -1) + durations[..., i:i + 1], -1)
    return free.max(axis=-1)


def chunk_noise(gen: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Log-normal factors with mean 1 for every chunk of every job."""
    return gen.lognormal(-CHUNK_SIGMA**2 / 2, CHUNK_SIGMA, (*shape, CHUNKS))


@functools.cache
def straggler() -> float:
    """Mean job time over the perfectly balanced time: a job waits for its slowest worker.

    Computed by Monte Carlo on a fixed stream, so that the simulated mean at 1,000
    records is `measured_ms` and not a few percent above it: once, on the first run
    (not at import), then cached.
    """
    gen = spawn_rngs(20_240_601, "calibration")["calibration"]
    share = WORKERS / CHUNKS  # a chunk's nominal time, in units of the balanced job time
    return float(makespan(share * chunk_noise(gen, (CALIBRATION_JOBS,))).mean())



def job_durations(p: CostParams, rng: dict[str, np.random.Generator]) -> np.ndarray:
    """Every chunk's time (ms) in every timed run: [complexity, size, repeat, chunk]."""
    shape = (len(COMPLEXITIES), len(SIZES), REPEATS)
    noise = chunk_noise(rng["chunks"], shape)
    noise *= rng["runs"].lognormal(-RUN_SIGMA**2 / 2, RUN_SIGMA, shape)[..., None]
    # A chunk's nominal time: its share of the balanced job, scaled so the mean job
    # (stragglers included) takes measured_ms × f(n) / f(1,000).
    balanced = np.stack([p.measured_ms * growth(c, np.asarray(SIZES, dtype=float))
                         for c in COMPLEXITIES])
    return (balanced / straggler() * WORKERS / CHUNKS)[..., None, None] * noise


def time_on_pool(durations: np.ndarray) -> np.ndarray:
    """Run every job (last axis: its chunks) on a SimPy pool of WORKERS; each job's time."""
    shape = durations.shape[:-1]
    timed = np.empty(shape)
    env = simpy.Environment()

    def worker(queue: list[float]) -> Any:
        # A free worker takes the next chunk off the job's queue until none are left.
        while queue:
            yield env.timeout(queue.pop())

    def harness() -> Any:
        # Jobs run one after another on the same pool, as a benchmark script would.
        for idx in itertools.product(*(range(k) for k in shape)):
            start = env.now
            queue = durations[idx].tolist()[::-1]  # pop() from the end: chunks in order
            yield env.all_of([env.process(worker(queue)) for _ in range(WORKERS)])
            timed[idx] = env.now - start

    env.process(harness())
    env.run()
    return timed


def benchmark(p: CostParams, rng: dict[str, np.random.Generator]) -> np.ndarray:
    """Time every complexity REPEATS times at every size: ms, [complexity, size, repeat]."""
    return time_on_pool(job_durations(p, rng))


@dataclass
class Fit:
    """Least-squares line through (log n, log time) and what it needs for intervals."""

    slope: float
    intercept: float
    resid_sd: float
    x_mean: float
    sxx: float
    count: int

    def log_mean_at(self, n: Any) -> Any:
        """Predicted log of the mean time (log-normal: the median plus s²/2)."""
        return self.intercept + self.slope * np.log(n) + self.resid_sd**2 / 2

    def predict(self, n: Any) -> Any:
        return np.exp(self.log_mean_at(n))

    def interval(self, n: float) -> tuple[float, float]:
        """95 % interval for the mean time at n: the line's own uncertainty there."""
        x = math.log(n)
        se = self.resid_sd * math.sqrt(1 / self.count + (x - self.x_mean) ** 2 / self.sxx)
        centre = float(self.log_mean_at(n))
        return (math.exp(centre - T_FIT * se), math.exp(centre + T_FIT * se))

    def slope_interval(self) -> tuple[float, float]:
        half = T_FIT * self.resid_sd / math.sqrt(self.sxx)
        return (self.slope - half, self.slope + half)

    def records_at(self, time: float) -> float:
        """Records at which the fitted mean time reaches `time` (inverting the line)."""
        return math.exp((math.log(time) - self.intercept - self.resid_sd**2 / 2) / self.slope)


def fit_power_law(timed: np.ndarray) -> Fit:
    """Fit log(time) = a + b log(n) over every timed run ([size, rep] array)."""
    x = np.repeat(np.log(np.asarray(SIZES, dtype=float)), timed.shape[1])
    y = np.log(timed.ravel())
    x_mean = float(x.mean())
    sxx = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y.mean())).sum() / sxx)
    intercept = float(y.mean() - slope * x_mean)
    resid = y - intercept - slope * x
    resid_sd = float(math.sqrt((resid**2).sum() / (x.size - 2)))
    return Fit(slope, intercept, resid_sd, x_mean, sxx, int(x.size))


# -- the bill ---------------------------------------------------------------------------
def traffic_profile() -> np.ndarray:
    """Share of a day's calls in each minute: quietest at 02:00, busiest at 14:00."""
    hours = (np.arange(MINUTES) + 0.5) / 60
    weight = 1 + DIURNAL * np.sin(2 * np.pi * (hours - 8) / 24)
    return weight / weight.sum()


PROFILE = traffic_profile()
PROFILE_CUM = np.cumsum(PROFILE)


def daily_cost_closed_form(p: CostParams) -> float:
    """Expected daily bill: price × calls × (1 − cache hit rate)."""
    return p.price_per_call * p.calls_per_day * (1 - p.cache_hit_rate)


def max_calls_in_budget(p: CostParams) -> float:
    """Calls a day the budget pays for: budget / (price × (1 − cache hit rate))."""
    return p.budget_per_day / (p.price_per_call * (1 - p.cache_hit_rate))


def over_money_budget(cost_usd: float, budget_usd: float) -> bool:
    """Over budget, ignoring float dust (0.002 × 50,000,000 × 0.01 is not over $1,000)."""
    return cost_usd > budget_usd * (1 + 1e-9)


def budget_gone_closed_form_h(p: CostParams) -> float | None:
    """Hour of an average day at which the expected spend reaches the budget."""
    expected = daily_cost_closed_form(p)
    if not over_money_budget(expected, p.budget_per_day):
        return None
    minute = int(np.searchsorted(PROFILE_CUM * expected, p.budget_per_day))
    return (minute + 1) / 60


@dataclass
class Week:
    """DAYS simulated days of calls: per day, calls made, calls billed, when money ran out."""

    calls: np.ndarray
    billed: np.ndarray
    cost_usd: np.ndarray
    gone_at_h: np.ndarray  # hour of day the budget was spent; inf if it lasted


def simulate_week(p: CostParams, rng: dict[str, np.random.Generator]) -> Week:
    """DAYS days of calls, minute by minute: Poisson arrivals, cache hits, a running bill."""
    volume = p.calls_per_day * rng["days"].lognormal(-DAY_SIGMA**2 / 2, DAY_SIGMA, DAYS)
    arrivals = rng["arrivals"].poisson(volume[:, None] * PROFILE[None, :])
    hits = rng["cache"].binomial(arrivals, p.cache_hit_rate)
    billed = arrivals - hits
    spend = np.cumsum(billed, axis=1) * p.price_per_call  # running USD within each day
    # The minute each day's running bill first passes the budget (MINUTES if it never does).
    crossed = spend > p.budget_per_day * (1 + 1e-9)
    minute = np.where(crossed.any(axis=1), crossed.argmax(axis=1), MINUTES)
    gone_at_h = np.where(minute < MINUTES, (minute + 1) / 60, np.inf)
    return Week(arrivals.sum(axis=1), billed.sum(axis=1), spend[:, -1], gone_at_h)


# -- results ----------------------------------------------------------------------------
def _count(x: float) -> str:
    """A count with its size in words: 600,000, 3.6 billion."""
    if x >= 1e9:
        return f"{x / 1e9:,.3g} billion"
    if x >= 1e6:
        return f"{x / 1e6:,.3g} million"
    return f"{x:,.0f}"


def _price(x: float) -> str:
    """A price per call in plain decimals: $0.002, $0.00001."""
    return "$" + f"{x:.6f}".rstrip("0").rstrip(".")


def _usd(x: float) -> str:
    """Dollars: $100,000, $4.20, $0.0031."""
    if x >= 10:
        return f"${x:,.0f}"
    return f"${x:.2f}" if x >= 0.1 else f"${x:.2g}"


def _clock(h: float) -> str:
    minutes = round(h * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def run(p: CostParams, seed: int) -> Result[CostFigure]:
    """Benchmark the three steps, fit and extrapolate; simulate a week of paid calls."""
    rng = spawn_rngs(seed, "chunks", "runs", "days", "arrivals", "cache")
    timed = benchmark(p, rng) / 1000  # seconds
    fits = {c: fit_power_law(timed[i]) for i, c in enumerate(COMPLEXITIES)}
    chosen = COMPLEXITIES.index(p.complexity)
    fit = fits[p.complexity]
    n = p.records

    run_closed = float(run_time_closed_form_s(p.complexity, p.measured_ms, n))
    run_fit = float(fit.predict(n))
    base_mean, base_lo, base_hi = stats.mean_ci(timed[chosen, 0] * 1000, z=T_REPEATS)
    max_closed = max_records_closed_form(p.complexity, p.measured_ms, p.time_budget_s)
    max_fit = fit.records_at(p.time_budget_s)

    week = simulate_week(p, rng)
    cost_mean, cost_lo, cost_hi = stats.mean_ci(week.cost_usd, z=T_DAYS, floor=0.0)
    cost_closed = daily_cost_closed_form(p)
    days_over = int(sum(over_money_budget(c, p.budget_per_day) for c in week.cost_usd))
    gone = np.sort(week.gone_at_h)[DAYS // 2]  # the median day
    gone_h = float(gone) if math.isfinite(gone) else None

    label = SHORT[p.complexity]
    metrics = {
        "run_time_s": Metric(run_fit, "s",
                             f"{label} step at {n:,} records: fit of the measured times",
                             ci95=fit.interval(n), closed_form=run_closed),
        "over_time_budget": Metric(run_closed > p.time_budget_s, "",
                                   "Misses the time budget (formula)"),
        "max_records_in_budget": Metric(
            max_fit, "records", "Most records that fit the time budget (from the fit)",
            closed_form=max_closed),
        "work_factor": Metric(float(growth(p.complexity, n)), "×",
                              "Work relative to 1,000 records (formula)"),
        "fitted_exponent": Metric(fit.slope, "", "Growth exponent fitted to the measured times",
                                  ci95=fit.slope_interval(),
                                  closed_form=expected_exponent(p.complexity)),
        "measured_at_1000_ms": Metric(base_mean, "ms",
                                      f"Measured at 1,000 records (mean of {REPEATS} runs)",
                                      ci95=(base_lo, base_hi), closed_form=p.measured_ms),
        "daily_cost_usd": Metric(cost_mean, "USD",
                                 f"API bill per day (mean of {DAYS} simulated days)",
                                 ci95=(cost_lo, cost_hi), closed_form=cost_closed),
        "over_budget": Metric(over_money_budget(cost_mean, p.budget_per_day), "",
                              "Mean daily bill over the budget"),
        "days_over_budget": Metric(days_over, "days",
                                   f"Days over budget out of {DAYS} simulated"),
        "max_calls_in_budget": Metric(max_calls_in_budget(p), "calls",
                                      "Calls a day the budget pays for (formula)"),
        "budget_gone_at_h": Metric(gone_h, "h",
                                   "Hour of day the budget is spent (median day; null if it lasts)",
                                   closed_form=budget_gone_closed_form_h(p)),
    }

    grid = np.geomspace(*RECORDS_RANGE, GRID_POINTS)
    means = timed.mean(axis=2)
    series: dict[str, list[Any]] = {"records": grid.round().tolist()}
    for c in COMPLEXITIES:
        series[f"time_s_{c}"] = run_time_closed_form_s(c, p.measured_ms, grid).tolist()
    series["time_s_fit"] = fit.predict(grid).tolist()
    band = np.array([fit.interval(x) for x in grid])
    series["time_s_fit_lo"] = band[:, 0].tolist()
    series["time_s_fit_hi"] = band[:, 1].tolist()
    series["measured_records"] = list(SIZES)
    for i, c in enumerate(COMPLEXITIES):
        series[f"measured_s_{c}"] = means[i].tolist()
    series["day"] = list(range(1, DAYS + 1))
    series["day_calls"] = week.calls.tolist()
    series["day_billed_calls"] = week.billed.tolist()
    series["day_cost_usd"] = week.cost_usd.tolist()

    figure_data = CostFigure(
        timed=timed, run_closed=run_closed,
        crossings={c: max_records_closed_form(c, p.measured_ms, p.time_budget_s)
                   for c in COMPLEXITIES},
        week=week, max_calls=max_calls_in_budget(p),
    )
    summary = _summary(p, run_fit, fit.interval(n), run_closed, max_closed, cost_mean,
                       cost_closed, days_over, gone_h)
    return Result(metrics=metrics, series=series, summary=summary, figure_data=figure_data)


def _summary(p: CostParams, run_fit: float, run_ci: tuple[float, float], run_closed: float,
             max_closed: float, cost: float, cost_closed: float, days_over: int,
             gone_h: float | None) -> str:
    """Two sentences from the numbers: the step against its window, the bill against its budget."""
    label = SHORT[p.complexity]
    first = (f"The {label} step at {p.records:,} records takes about {duration(run_closed)} "
             f"(fit of the measured times: {duration(run_fit)}, 95 % CI "
             f"{duration(run_ci[0])}–{duration(run_ci[1])})")
    if run_closed > p.time_budget_s:
        first += (f", past the {duration(p.time_budget_s)} time budget, which it meets only up to "
                  f"{_count(max_closed)} records.")
    else:
        first += (f", inside the {duration(p.time_budget_s)} time budget, which holds up to "
                  f"{_count(max_closed)} records.")
    calls = f"{p.calls_per_day:,} calls a day at {_price(p.price_per_call)}"
    if p.cache_hit_rate > 0:
        calls += f" with {100 * p.cache_hit_rate:.0f} % cache hits"
    second = f"{calls} cost about {_usd(cost_closed)} a day (simulated week: {_usd(cost)})"
    if over_money_budget(cost_closed, p.budget_per_day):
        second += f", {cost_closed / p.budget_per_day:,.3g}× the {_usd(p.budget_per_day)} budget"
        if gone_h is not None:
            second += f", which runs out by {_clock(gone_h)} on a typical day."
        else:
            second += f"; {days_over} of {DAYS} days went over."
    else:
        share = 100 * cost_closed / p.budget_per_day
        share_text = (f"{share:.0f} %" if share >= 10 else f"{share:.2g} %" if share >= 0.01
                      else "under 0.01 %")
        second += f", {share_text} of the "
        second += f"{_usd(p.budget_per_day)} budget"
        second += f"; {days_over} of {DAYS} days went over." if days_over else "."
    return f"{first} {second}"


# -- figure -----------------------------------------------------------------------------
TIME_TICKS = ((1e-6, "1 µs"), (1e-3, "1 ms"), (1.0, "1 s"), (60.0, "1 min"), (3600.0, "1 h"),
              (86_400.0, "1 day"), (31_557_600.0, "1 year"), (3_155_760_000.0, "100 years"),
              (315_576_000_000.0, "10,000 years"))


@dataclass(frozen=True)
class CostFigure:
    """What the figure needs beyond the public series."""

    timed: np.ndarray  # seconds: complexity × size × repeat, every timed run
    run_closed: float  # the chosen step's closed-form run time at `records` (s)
    crossings: dict[str, float]  # complexity → most records that fit the time budget
    week: Week  # the simulated week of paid calls
    max_calls: float  # calls a day the budget pays for


def build_figure(result: Result[CostFigure], p: CostParams) -> dict[str, Any]:
    """Top: time against records for the three steps; bottom: the daily bill against calls."""
    s, fd = result.series, result.figure_data
    assert fd is not None
    grid = s["records"]
    # The extrapolation as a band: the fitted line's 95 % interval, widening away from
    # the measured sizes (a polygon: upper edge left to right, lower edge back).
    band_x = grid + grid[::-1]
    band_y = s["time_s_fit_hi"] + s["time_s_fit_lo"][::-1]
    data: list[dict[str, Any]] = [{
        "type": "scatter", "mode": "lines", "x": band_x, "y": band_y, "fill": "toself",
        "fillcolor": "rgba(148,163,184,0.35)", "line": {"color": PALETTE["grey"], "width": 1},
        "name": f"{SHORT[p.complexity]}: fit of the measured times, extrapolated (95 % CI)",
        "hoverinfo": "skip",
    }]
    for c in COMPLEXITIES:
        chosen = c == p.complexity
        data.append({
            "type": "scatter", "mode": "lines", "x": grid, "y": s[f"time_s_{c}"],
            "name": f"{COMPLEXITY_LABELS[c]}: closed form",
            "line": {"color": COLOURS[c], "dash": DASHES[c], "width": 3 if chosen else 1.5},
            "opacity": 1 if chosen else 0.55,
            "hovertemplate": f"{SHORT[c]}: %{{x:,.0f}} records, %{{y:.3g}} s<extra></extra>",
        })
    # Measured points, all three steps in one trace: mean of the runs at each size,
    # error bars the 95 % interval of that mean.
    mx, my, lo, hi, colours, symbols, sizes = [], [], [], [], [], [], []
    order = sorted(range(len(COMPLEXITIES)), key=lambda i: COMPLEXITIES[i] != p.complexity)
    for i in order:
        c = COMPLEXITIES[i]
        for j, size in enumerate(SIZES):
            mean, low, high = stats.mean_ci(fd.timed[i, j], z=T_REPEATS)
            mx.append(round(size * DODGE[c]))  # side by side, not on top of each other
            sizes.append(size)
            my.append(mean)
            lo.append(mean - max(low, 1e-12))
            hi.append(high - mean)
            colours.append(COLOURS[c])
            symbols.append(SYMBOLS[c])
    data.append({
        "type": "scatter", "mode": "markers", "x": mx, "y": my,
        "name": f"measured, {REPEATS} runs a size (95 % CI)",
        "marker": {"color": colours, "symbol": symbols, "size": 7},
        "error_y": {"type": "data", "symmetric": False, "array": hi, "arrayminus": lo,
                    "color": PALETTE["grey"], "thickness": 1, "width": 3},
        "customdata": sizes,
        "hovertemplate": "%{customdata:,} records: %{y:.3g} s measured<extra></extra>",
    })
    crossings = fd.crossings
    inside = [c for c in COMPLEXITIES if RECORDS_RANGE[0] <= crossings[c] <= RECORDS_RANGE[1]]
    data.append({
        "type": "scatter", "mode": "markers", "x": [crossings[c] for c in inside],
        "y": [p.time_budget_s] * len(inside), "name": "where each step hits the time budget",
        "marker": {"color": [COLOURS[c] for c in inside], "symbol": "x-thin-open", "size": 12,
                   "line": {"width": 2, "color": [COLOURS[c] for c in inside]}},
        "customdata": [SHORT[c] for c in inside],
        "hovertemplate": "%{customdata} fits the budget up to %{x:,.0f} records<extra></extra>",
    })

    # The bill: the closed-form line, and each simulated day as a point.
    week, max_calls = fd.week, fd.max_calls
    calls_grid = np.geomspace(*CALLS_RANGE, 33)
    rate = p.price_per_call * (1 - p.cache_hit_rate)
    data.append({
        "type": "scatter", "mode": "lines", "x": calls_grid.round().tolist(),
        "y": (calls_grid * rate).tolist(), "xaxis": "x2", "yaxis": "y2",
        "name": f"bill = {_price(p.price_per_call)} × calls"
                + (f" × {1 - p.cache_hit_rate:.2g} (cache misses)" if p.cache_hit_rate else ""),
        "line": {"color": PALETTE["purple"], "width": 2},
        "hovertemplate": "%{x:,.0f} calls/day: $%{y:,.2f}<extra></extra>",
    })
    data.append({
        "type": "scatter", "mode": "markers", "x": week.calls.tolist(),
        "y": week.cost_usd.tolist(), "xaxis": "x2", "yaxis": "y2",
        "name": f"simulated days ({DAYS})",
        "marker": {"color": PALETTE["orange"], "symbol": "diamond", "size": 8},
        "hovertemplate": "%{x:,} calls: $%{y:,.0f}<extra></extra>",
    })

    grey = PALETTE["grey"]
    shapes: list[dict[str, Any]] = [
        {"type": "line", "xref": "x domain", "yref": "y", "x0": 0, "x1": 1,
         "y0": p.time_budget_s, "y1": p.time_budget_s, "line": {"color": grey, "dash": "dash"}},
        {"type": "line", "xref": "x", "yref": "y domain", "x0": p.records, "x1": p.records,
         "y0": 0, "y1": 1, "line": {"color": COLOURS[p.complexity], "width": 1.5,
                                    "dash": "dot"}},
        {"type": "line", "xref": "x2 domain", "yref": "y2", "x0": 0, "x1": 1,
         "y0": p.budget_per_day, "y1": p.budget_per_day, "line": {"color": grey,
                                                                  "dash": "dash"}},
    ]
    notes = [
        plotting.panel_title("Run time against records: closed form, measured, fitted", y=1.0),
        plotting.panel_title("Daily bill against calls per day", y=0.37),
        {"x": 0.01, "xref": "x domain", "y": math.log10(p.time_budget_s), "yref": "y",
         "text": f"time budget {duration(p.time_budget_s)}", "showarrow": False,
         "xanchor": "left", "yanchor": "bottom", "font": {"size": 11, "color": grey}},
        {"x": math.log10(p.records), "y": math.log10(fd.run_closed), "xref": "x",
         "yref": "y", "text": f"{_count(p.records)} records: {duration(fd.run_closed)}",
         "showarrow": True, "arrowhead": 0, "arrowcolor": COLOURS[p.complexity],
         "ax": -40 if p.records > 1e6 else 40, "ay": -28,
         "font": {"size": 11, "color": COLOURS[p.complexity]}},
        {"x": 0.01, "xref": "x2 domain", "y": math.log10(p.budget_per_day), "yref": "y2",
         "text": f"budget {_usd(p.budget_per_day)}/day", "showarrow": False,
         "xanchor": "left", "yanchor": "bottom", "font": {"size": 11, "color": grey}},
    ]
    if CALLS_RANGE[0] <= max_calls <= CALLS_RANGE[1]:
        shape, note = plotting.vline(max_calls, f"budget spent at {_count(max_calls)} calls",
                                     grey, yref="y2 domain")
        note["x"] = math.log10(max_calls)  # annotations on a log axis take log10(x)
        if note["x"] > 8:
            note["xanchor"] = "right"
        shapes.append(shape | {"xref": "x2"})
        notes.append(note | {"xref": "x2"})

    # Human tick labels on the time axis, limited to the span drawn.
    times = [v for c in COMPLEXITIES for v in s[f"time_s_{c}"]] + band_y
    lo_t, hi_t = min(times), max(times)
    ticks = [(v, t) for v, t in TIME_TICKS if lo_t / 10 <= v <= hi_t * 10]
    return plotting.figure(
        data,
        height=680,
        margin={"l": 80, "r": 24, "t": 28, "b": 110},
        legend={"orientation": "h", "y": -0.1, "yanchor": "top", "x": 0},
        xaxis=plotting.axis("records (log scale)", type="log", dtick=1, anchor="y",
                            range=[math.log10(RECORDS_RANGE[0]), math.log10(RECORDS_RANGE[1])]),
        yaxis=plotting.axis("run time (log scale)", type="log", domain=[0.5, 0.97],
                            anchor="x", tickmode="array", tickvals=[v for v, _ in ticks],
                            ticktext=[t for _, t in ticks]),
        xaxis2=plotting.axis("calls per day (log scale)", type="log", dtick=1, anchor="y2",
                             range=[math.log10(CALLS_RANGE[0]), math.log10(CALLS_RANGE[1])]),
        yaxis2=plotting.axis("USD per day (log scale)", type="log", dtick=1, anchor="x2",
                             tickprefix="$",
                             domain=[0, 0.33]),
        shapes=shapes,
        annotations=notes,
    )


# -- declaration ------------------------------------------------------------------------
SIMULATION = Simulation(
    slug="cost",
    title="Cost curves",
    description="A step timed on 1,000 records, extrapolated to a million; a per-call price "
                "multiplied by real traffic, against a budget.",
    params=PARAMS,
    params_type=CostParams,
    run=run,
    figure=build_figure,
    main_param="records",
)
