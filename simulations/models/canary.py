"""Canary exposure: how many requests a defective release fails under four deploy strategies.

Model. Steady traffic of `rps` requests per second (deterministic counts: steady traffic,
no arrival noise). The current version fails a request with probability
`base_error_rate`; the new one fails it with that probability and, if it would have
succeeded, also with `defect_rate`; those extra failures are the users hurt. Counts per
interval are drawn from binomials, never per request. Four strategies deploy the same
release on the same traffic, each with its own random stream:

- big_bang: 100 % at once; on-call acts on the alert, the rollback takes `rollback_s`;
- blue_green: 100 % at once; on-call acts on the alert, switching back is instant;
- canary: traffic shares from `steps`, each held for `bake_s`; an automated analysis
  compares canary and baseline error rates (one-sided pooled two-proportion z-test at
  `alpha`) about every minute and at the end of each bake, once both arms have
  `min_samples` requests; failing it starts a rollback of `rollback_s`;
- flag: ramped through the same `steps`, but watched by humans only (no analysis);
  the kill switch turns it off in FLAG_OFF_S.

Every strategy is also watched by an alert on the overall error rate: it fires when the
error rate over the last ALERT_WINDOW_S is more than ALERT_FACTOR × `base_error_rate` and
the window holds at least ALERT_MIN_ERRORS errors; HUMAN_RESPONSE_S later someone rolls
back. A defect too small to double the overall error rate is never paged on. The share
of a rollout in progress is held until its rollback completes.

Time. SimPy keeps the clock: per strategy, a monitor process ticks every ~30 s (the
alert's evaluation interval), a ramp process holds each step and runs the analysis, and
responder and rollback processes take their time; traffic is drawn lazily for the
interval since the last event, so every change of share is exact. The false-rollback
rate repeats the same schedule, the same `analysis_fails` and `alert_fires` rules, on
TRIALS healthy releases drawn at once with NumPy (`repeat_trials`).

Multiple looks. Each analysis is a test at level `alpha`; a healthy rollout that looks
K times is wrongly rolled back if any look rejects, so by the union bound (Bonferroni)
the false-rollback rate is at most K × alpha, and at least about alpha (one look alone).
Looks on cumulative counts are strongly correlated, so the truth sits well below K × alpha.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import simpy

from ..engine import plotting, stats
from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param, ParamError
from ..engine.plotting import PALETTE
from ..engine.words import duration, pct

# -- model constants --------------------------------------------------------------------
TICK_S = 30.0  # longest clock tick: the alert's evaluation interval (a common Prometheus one)
LOOK_S = 60.0  # the canary analysis runs about this often within a step (Flagger's 1m)
ALERT_WINDOW_S = 300.0  # the alert looks at the error rate over the last 5 minutes
ALERT_FACTOR = 2.0  # ...and fires above twice the normal error rate
ALERT_MIN_ERRORS = 10  # ...with at least this many errors, so a blip on a quiet service can't
HUMAN_RESPONSE_S = 300.0  # page, acknowledge, look at the dashboard, decide to roll back
FLAG_OFF_S = 5.0  # flipping a feature flag off: seconds, no redeploy
OBSERVE_S = 3600.0  # every run watches one hour past the end of the planned ramp
TRIALS = 200  # healthy (and defective) rollouts repeated for the rates
POWER = 0.8  # the conventional power for the sample-size reference
MAX_POINTS = 200  # time-series points kept for the figure and the CSV (plenty for steps)

STRATEGIES = ("big_bang", "blue_green", "canary", "flag")
STRATEGY_LABELS = {"big_bang": "Big bang", "blue_green": "Blue-green",
                   "canary": "Canary + analysis", "flag": "Feature flag"}
COLOURS = {"big_bang": PALETTE["red"], "blue_green": PALETTE["orange"],
           "canary": PALETTE["blue"], "flag": PALETTE["purple"]}
DASHES = {"big_bang": "solid", "blue_green": "dash", "canary": "dot", "flag": "dashdot"}


# -- parameters -------------------------------------------------------------------------
PARAMS = (
    Param(name="strategy", kind="choice", default="canary", choices=STRATEGIES,
          choice_labels=STRATEGY_LABELS, label="Strategy",
          help="How the release reaches users; the chart compares all four on the same run."),
    Param(name="defect_rate", kind="float", default=0.01, min=0, max=0.5, step=0.0001,
          label="Defect size",
          help="Extra share of requests the new version fails; 0 = a healthy release."),
    Param(name="base_error_rate", kind="float", default=0.001, min=0, max=0.1, step=0.0001,
          label="Normal error rate",
          help="Share of requests that fail anyway, on either version."),
    Param(name="rps", kind="float", default=200, min=1, max=5000, step=1, unit="req/s",
          scale="log", label="Traffic", help="Steady requests per second to the service."),
    Param(name="steps", kind="int_list", default=(1, 5, 25, 50, 100), min=1, max=100,
          max_items=10, unit="%", label="Canary steps",
          help="Traffic shares for the canary and the flag, ascending, ending at 100."),
    Param(name="bake_s", kind="float", default=300, min=10, max=3600, step=10, unit="s",
          scale="log", label="Bake time", help="How long each step is held before the next."),
    Param(name="alpha", kind="float", default=0.01, min=0.0001, max=0.2, step=0.0001,
          scale="log", label="Analysis significance",
          help="Chance that one analysis fails a healthy canary: higher catches more, "
               "cries wolf more."),
    Param(name="min_samples", kind="int", default=1000, min=10, max=100000, step=10,
          scale="log", unit="requests", label="Minimum sample",
          help="Requests each arm needs before the analysis may judge the canary."),
    Param(name="rollback_s", kind="float", default=60, min=0, max=3600, step=5, unit="s",
          label="Rollback time",
          help="Time to roll a deployment back (big bang, canary); the new version "
               "keeps serving meanwhile."),
)


@dataclass(frozen=True)
class CanaryParams:
    """Canary exposure: one field per entry of PARAMS, in order."""

    strategy: Literal["big_bang", "blue_green", "canary", "flag"]
    defect_rate: float
    base_error_rate: float
    rps: float
    steps: tuple[int, ...]
    bake_s: float
    alpha: float
    min_samples: int
    rollback_s: float



def check_limits(p: CanaryParams) -> None:
    """Refuse step lists that are not a ramp: strictly ascending and ending at 100."""
    steps = list(p.steps)
    text = ",".join(str(s) for s in steps)
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ParamError("steps", f"steps must be strictly ascending percentages, "
                                  f"e.g. 1,5,25,50,100 (got {text})")
    if steps[-1] != 100:
        raise ParamError("steps", f"steps must end at 100, the full rollout, "
                                  f"e.g. {','.join(str(s) for s in [*steps, 100][-10:])} "
                                  f"(got {text})")


# -- the schedule, shared by the SimPy run and the repeated trials ----------------------
@dataclass(frozen=True)
class Plan:
    """The clock grid and the ramp every strategy follows until someone rolls back."""

    dt: float  # tick length (s); a bake is a whole number of ticks
    ticks_per_bake: int
    ticks: int  # ticks in the run; the horizon is ticks × dt
    look_every: int  # ticks between analysis looks within a step
    window: int  # ticks in the alert window
    steps: tuple[float, ...]  # canary/flag traffic shares, 0–1

    @property
    def horizon_s(self) -> float:
        return self.ticks * self.dt


def make_plan(p: CanaryParams) -> Plan:
    """Tick length, horizon and look cadence for these parameters."""
    per_bake = max(1, math.ceil(p.bake_s / TICK_S - 1e-9))
    dt = p.bake_s / per_bake
    ramp_ticks = (len(p.steps) - 1) * per_bake
    return Plan(dt=dt, ticks_per_bake=per_bake,
                ticks=ramp_ticks + math.ceil(OBSERVE_S / dt - 1e-9),
                look_every=max(1, round(LOOK_S / dt)),
                window=max(1, round(ALERT_WINDOW_S / dt)),
                steps=tuple(s / 100 for s in p.steps))


def strategy_steps(strategy: str, plan: Plan) -> tuple[float, ...]:
    """The traffic shares a strategy ramps through (all at once for big bang, blue-green)."""
    return plan.steps if strategy in ("canary", "flag") else (1.0,)


def share_per_tick(strategy: str, plan: Plan) -> np.ndarray:
    """Planned share on the new version during each tick, if nobody rolls back."""
    steps = strategy_steps(strategy, plan)
    step_of_tick = np.minimum(np.arange(plan.ticks) // plan.ticks_per_bake, len(steps) - 1)
    return np.asarray(steps)[step_of_tick]


def look_offsets(plan: Plan) -> list[int]:
    """Ticks into a step at which the analysis looks: about every minute and at the end."""
    k = plan.ticks_per_bake
    return sorted({*range(plan.look_every, k, plan.look_every), k})


def look_ticks(strategy: str, plan: Plan) -> np.ndarray:
    """Ticks (1-based end times) at which a strategy's analysis looks, if it has one."""
    if not uses_analysis(strategy):
        return np.zeros(0, dtype=int)
    steps = strategy_steps(strategy, plan)
    offsets = look_offsets(plan)
    # No look in the last step: at 100 % there is no baseline left to compare with.
    return np.array([s * plan.ticks_per_bake + o for s in range(len(steps) - 1)
                     for o in offsets], dtype=int)


def requests_by_time(rps: float, t: Any) -> Any:
    """Requests served from time 0 to t (negative: before the deploy) under steady traffic."""
    if isinstance(t, np.ndarray):
        return np.floor(rps * t + 1e-9).astype(np.int64)
    return math.floor(rps * t + 1e-9)


def history_requests(rps: float, plan: Plan) -> np.ndarray:
    """Requests per tick in the alert window before the deploy (all on the old version)."""
    return np.diff(requests_by_time(rps, np.arange(-plan.window, 1) * plan.dt))


def uses_analysis(strategy: str) -> bool:
    """Only the canary has an automated analysis; the others rely on the alert."""
    return strategy == "canary"


def rollback_duration(strategy: str, p: CanaryParams) -> float:
    """Seconds from the decision to roll back until no traffic reaches the new version."""
    return {"big_bang": p.rollback_s, "blue_green": 0.0, "canary": p.rollback_s,
            "flag": FLAG_OFF_S}[strategy]


def new_version_error_rate(base: float, defect: float) -> float:
    """Error probability of the new version: the normal failures plus the defect's."""
    return base + (1 - base) * defect


# -- decision rules, shared ------------------------------------------------------------
def z_critical(alpha: float) -> float:
    """One-sided critical value of the standard normal at significance alpha."""
    return NormalDist().inv_cdf(1 - alpha)


def analysis_fails(err_c: Any, n_c: Any, err_b: Any, n_b: Any, z_crit: float,
                   min_samples: int) -> Any:
    """Canary analysis: pooled two-proportion z-test, one-sided (canary worse), per look.

    Works elementwise on scalars or arrays. With fewer than min_samples requests in
    either arm the analysis abstains (never fails).
    """
    n_c = np.asarray(n_c, dtype=float)
    n_b = np.asarray(n_b, dtype=float)
    ready = (n_c >= min_samples) & (n_b >= min_samples)
    nc, nb = np.maximum(n_c, 1), np.maximum(n_b, 1)
    pooled = (np.asarray(err_c) + np.asarray(err_b)) / (nc + nb)
    se = np.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nb))
    diff = np.asarray(err_c) / nc - np.asarray(err_b) / nb
    return ready & (diff > z_crit * se) & (se > 0)


def alert_fires(window_errors: Any, window_requests: Any, threshold: float) -> Any:
    """The on-call alert: window error rate above threshold, with enough errors to mean it."""
    return (window_errors >= ALERT_MIN_ERRORS) & (window_errors > threshold * window_requests)


def samples_needed(base: float, defect: float, alpha: float, power: float = POWER
                   ) -> float | None:
    """Requests per arm for a one-sided two-proportion test to catch this defect.

    The textbook normal-approximation formula (e.g. Fleiss, *Statistical Methods for
    Rates and Proportions*, §4.2) with equal arms; None for a healthy release.
    """
    p1, p2 = base, new_version_error_rate(base, defect)
    if p2 <= p1:
        return None
    z_a, z_b = z_critical(alpha), NormalDist().inv_cdf(power)
    pbar = (p1 + p2) / 2
    root = z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * (1 - p1)
                                                                    + p2 * (1 - p2))
    return root * root / (p2 - p1) ** 2


# -- the SimPy run: one deploy per strategy on the same scenario -------------------------
class Deploy:
    """One strategy's deploy of the release, driven by SimPy processes."""

    def __init__(self, env: simpy.Environment, strategy: str, p: CanaryParams, plan: Plan,
                 rng: np.random.Generator):
        self.env, self.strategy, self.p, self.plan, self.rng = env, strategy, p, plan, rng
        self.p_new = new_version_error_rate(p.base_error_rate, p.defect_rate)
        self.hurt_given_error = ((1 - p.base_error_rate) * p.defect_rate / self.p_new
                                 if self.p_new > 0 else 0.0)
        self.threshold = ALERT_FACTOR * p.base_error_rate
        self.z_crit = z_critical(p.alpha)
        self.share = 0.0
        self.t_flushed = 0.0
        self.served = 0  # requests from time 0 to t_flushed
        self.n_new = self.n_old = self.err_new = self.err_old = self.hurt = 0
        # Totals at each tick for the alert's sliding window, which starts full: the old
        # version served traffic before the deploy, so the first windows are not tiny.
        before = history_requests(p.rps, plan)
        self.cum_requests = np.cumsum([0, *before]).tolist()
        self.cum_errors = np.cumsum([0, *rng.binomial(before, p.base_error_rate)]).tolist()
        self.alert_s: float | None = None
        self.detect_s: float | None = None
        self.decided_s: float | None = None
        self.decided_by = ""
        self.decided_share = 0.0
        self.restored_s: float | None = None
        self.full_s: float | None = None
        self.canary_requests = 0
        self.series_share: list[float] = []
        self.series_hurt: list[int] = []
        self.ramp = env.process(self._ramp())
        env.process(self._monitor())

    # Traffic is drawn lazily: every event first accounts for the time since the last.
    def flush(self) -> None:
        """Draw requests, errors and defect failures since the last event at the current share."""
        now = self.env.now
        if now > self.plan.horizon_s + 1e-6:
            return
        served = requests_by_time(self.p.rps, now)
        n, self.served, self.t_flushed = served - self.served, served, now
        if n <= 0:
            return
        rng = self.rng
        n_new = n if self.share >= 1 else int(rng.binomial(n, self.share)) if self.share else 0
        err_new = int(rng.binomial(n_new, self.p_new)) if n_new else 0
        err_old = int(rng.binomial(n - n_new, self.p.base_error_rate)) if n > n_new else 0
        self.hurt += int(rng.binomial(err_new, self.hurt_given_error)) if err_new else 0
        self.n_new += n_new
        self.n_old += n - n_new
        self.err_new += err_new
        self.err_old += err_old

    def _ramp(self) -> Any:
        """Hold each step for its bake; the canary's analysis looks and may fail it."""
        plan, offsets = self.plan, look_offsets(self.plan)
        steps = strategy_steps(self.strategy, plan)
        try:
            for index, share in enumerate(steps):
                self.flush()
                self.share = share
                if share >= 1:
                    self.full_s = self.env.now
                    self.canary_requests = self.n_new  # what the analysis had to go on
                    return
                start = index * plan.ticks_per_bake
                wake_at = offsets if uses_analysis(self.strategy) else [plan.ticks_per_bake]
                for offset in wake_at:
                    yield self.env.timeout(max(0.0, (start + offset) * plan.dt - self.env.now))
                    if uses_analysis(self.strategy):
                        self.flush()
                        if analysis_fails(self.err_new, self.n_new, self.err_old, self.n_old,
                                          self.z_crit, self.p.min_samples):
                            self.decide("analysis")
                            return
        except simpy.Interrupt:
            return  # a human decided to roll back: no more promotions

    def _monitor(self) -> Any:
        """Every tick: account traffic, evaluate the alert, record the series."""
        plan = self.plan
        for k in range(1, plan.ticks + 1):
            yield self.env.timeout(max(0.0, k * plan.dt - self.env.now))
            self.flush()
            self.cum_requests.append(self.cum_requests[plan.window] + self.n_new + self.n_old)
            self.cum_errors.append(self.cum_errors[plan.window] + self.err_new + self.err_old)
            if self.alert_s is None and self.decided_s is None:
                now_i, lo = k + plan.window, k
                if alert_fires(self.cum_errors[now_i] - self.cum_errors[lo],
                               self.cum_requests[now_i] - self.cum_requests[lo],
                               self.threshold):
                    self.alert_s = self.env.now
                    self.detect_s = self.env.now
                    self.env.process(self._respond())
            self.series_share.append(self.share)
            self.series_hurt.append(self.hurt)

    def _respond(self) -> Any:
        """On-call sees the page, looks, and rolls back."""
        yield self.env.timeout(HUMAN_RESPONSE_S)
        if self.decided_s is None and self.env.now <= self.plan.horizon_s + 1e-6:
            self.decide("alert")

    def decide(self, by: str) -> None:
        """Stop the ramp and start rolling back."""
        self.decided_s, self.decided_by = self.env.now, by
        self.decided_share = self.share
        if self.detect_s is None:
            self.detect_s = self.env.now
        if self.ramp.is_alive and self.ramp is not self.env.active_process:
            self.ramp.interrupt()
        self.env.process(self._rollback())

    def _rollback(self) -> Any:
        """The new version keeps its share until the rollback completes."""
        yield self.env.timeout(rollback_duration(self.strategy, self.p))
        if self.env.now <= self.plan.horizon_s + 1e-6:
            self.flush()
            self.share = 0.0
            self.restored_s = self.env.now


def run_scenario(p: CanaryParams, seed: int) -> dict[str, Deploy]:
    """Deploy the release with every strategy, each on its own random stream."""
    plan = make_plan(p)
    rngs = spawn_rngs(seed, *STRATEGIES)
    env = simpy.Environment()
    deploys = {s: Deploy(env, s, p, plan, rngs[s]) for s in STRATEGIES}
    env.run(until=plan.horizon_s + plan.dt / 2)
    return deploys


# -- repeated trials, vectorised ---------------------------------------------------------
def repeat_trials(p: CanaryParams, strategy: str, defect_rate: float, n_trials: int,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The same deploy, schedule and rules as Deploy, for many independent releases at once.

    Until the first rollback decision nothing depends on the outcome, so each trial's
    traffic follows the plan and all trials are drawn as one (ticks × trials) array.
    Returns per trial: detect_s and decided_s (inf if never), rolled_back, looks (analyses
    run with both arms at min_samples before the decision).
    """
    plan = make_plan(p)
    share = share_per_tick(strategy, plan)
    n = np.diff(requests_by_time(p.rps, np.arange(plan.ticks + 1) * plan.dt))
    # Requests on the new version: fixed where the share is 100 %, drawn where it is partial.
    n_new = np.repeat(np.where(share >= 1, n, 0)[:, None], n_trials, axis=1)
    partial = np.flatnonzero((share > 0) & (share < 1))
    if partial.size:
        n_new[partial] = rng.binomial(n[partial, None], share[partial, None],
                                      size=(partial.size, n_trials))
    err_new = rng.binomial(n_new, new_version_error_rate(p.base_error_rate, defect_rate))
    err_old = np.zeros_like(err_new)
    has_old = np.flatnonzero(share < 1)
    if has_old.size:
        err_old[has_old] = rng.binomial(n[has_old, None] - n_new[has_old], p.base_error_rate)
    before = history_requests(p.rps, plan)
    err_before = rng.binomial(before[:, None], p.base_error_rate, size=(before.size, n_trials))

    # The alert: the sliding window over all traffic, starting full of pre-deploy traffic.
    zero = np.zeros((1, n_trials), dtype=np.int64)
    c_err = np.cumsum(np.concatenate([zero, err_before, err_new + err_old]), axis=0)
    c_req = np.cumsum(np.concatenate([[0], before, n]))
    k = np.arange(1, plan.ticks + 1)
    fires = alert_fires(c_err[k + plan.window] - c_err[k],
                        (c_req[k + plan.window] - c_req[k])[:, None],
                        ALERT_FACTOR * p.base_error_rate)
    alert_s = np.where(fires.any(axis=0), (fires.argmax(axis=0) + 1) * plan.dt, np.inf)

    # The analysis: cumulative arms since the deploy, at the look ticks.
    fail_s = np.full(n_trials, np.inf)
    looks = np.zeros(n_trials, dtype=int)
    ticks = look_ticks(strategy, plan)
    if ticks.size:
        def cum_at(x: np.ndarray) -> np.ndarray:
            return np.cumsum(np.concatenate([zero, x[:ticks[-1]]]), axis=0)[ticks]

        n_c = cum_at(n_new)
        n_b = np.cumsum(np.concatenate([[0], n]))[ticks, None] - n_c
        fails = analysis_fails(cum_at(err_new), n_c, cum_at(err_old), n_b,
                               z_critical(p.alpha), p.min_samples)
        fail_s = np.where(fails.any(axis=0), ticks[fails.argmax(axis=0)] * plan.dt, np.inf)
        ready = (n_c >= p.min_samples) & (n_b >= p.min_samples)
        looks = (ready & (ticks[:, None] * plan.dt <= fail_s)).sum(axis=0)
    decided_s = np.minimum(fail_s, alert_s + HUMAN_RESPONSE_S)
    decided_s[decided_s > plan.horizon_s + 1e-6] = np.inf
    return {"detect_s": np.minimum(fail_s, alert_s), "decided_s": decided_s,
            "rolled_back": np.isfinite(decided_s), "looks": looks}


# -- run --------------------------------------------------------------------------------
def _wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95 % CI, with float noise at 0 and 1 rounded away."""
    return tuple(round(x, 9) for x in stats.proportion_ci(k, n))  # type: ignore[return-value]


def _downsample(n: int) -> np.ndarray:
    """Every k-th tick, so at most MAX_POINTS, always keeping the last."""
    stride = math.ceil(n / MAX_POINTS)
    idx = np.arange(stride - 1, n, stride)
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def run(p: CanaryParams, seed: int) -> Result[CanaryFigure]:
    """Deploy with every strategy, then repeat the chosen one for its error rates."""
    plan = make_plan(p)
    deploys = run_scenario(p, seed)
    mine = deploys[p.strategy]
    trials_rng = spawn_rngs(seed, *STRATEGIES, "trials")["trials"]
    healthy = repeat_trials(p, p.strategy, 0.0, TRIALS, trials_rng)
    false_rb = int(healthy["rolled_back"].sum())
    catch = None
    if p.defect_rate > 0:
        defective = repeat_trials(p, p.strategy, p.defect_rate, TRIALS, trials_rng)
        caught = int(defective["rolled_back"].sum())
        catch = (caught / TRIALS, _wilson(caught, TRIALS))
    needed = samples_needed(p.base_error_rate, p.defect_rate, p.alpha)
    rollout_s = (mine.full_s if mine.full_s is not None
                 else mine.restored_s if mine.restored_s is not None else plan.horizon_s)
    # Looks a healthy rollout gets to make when nothing stops it: K in the union bound.
    looks = int(healthy["looks"].max()) if uses_analysis(p.strategy) else 0

    metrics = {
        "users_hurt": Metric(mine.hurt, "requests", "Requests failed by the defect"),
        "detect_s": Metric(mine.detect_s, "s", "Time to detect (analysis or alert)"),
        "rolled_back": Metric(mine.decided_s is not None, "", "Rolled back"),
        "rollout_s": Metric(rollout_s, "s", "Time to 100 % (or until rolled back)"),
        "false_rollback_rate": Metric(
            false_rb / TRIALS, "", f"Healthy releases wrongly rolled back ({TRIALS} trials)",
            ci95=_wilson(false_rb, TRIALS)),
        "catch_rate": Metric(
            None if catch is None else catch[0], "",
            f"Releases with this defect rolled back ({TRIALS} trials)",
            ci95=None if catch is None else catch[1]),
        "restore_s": Metric(mine.restored_s, "s", "Time until no traffic hits the defect"),
        "samples_needed": Metric(
            None if needed is None else round(needed), "requests",
            f"Requests per arm a test needs to catch this defect ({100 * POWER:.0f} % power, "
            f"equal arms; formula)"),
    }

    figure_data = CanaryFigure(
        plan=plan, hurt_by_strategy={s: d.hurt for s, d in deploys.items()},
        detect_s=mine.detect_s, decided_s=mine.decided_s, restored_s=mine.restored_s,
        decided_by=mine.decided_by, decided_share=mine.decided_share, looks=looks,
        false_rollbacks=false_rb,
    )
    return Result(metrics=metrics, series=_series(p, plan, deploys),
                  summary=_summary(p, plan, deploys, false_rb, looks, needed),
                  figure_data=figure_data)


def _series(p: CanaryParams, plan: Plan, deploys: dict[str, Deploy]) -> dict[str, list[Any]]:
    """Time series at the monitor's ticks, thinned, starting from the deploy at t = 0."""
    idx = _downsample(plan.ticks)
    mine = deploys[p.strategy]
    first_share = strategy_steps(p.strategy, plan)[0]
    series: dict[str, list[Any]] = {
        "t_s": [0.0, *((idx + 1) * plan.dt).round(1).tolist()],
        "share_new_pct": [100 * first_share,
                          *(100 * np.asarray(mine.series_share)[idx]).round(2).tolist()],
    }
    for s in STRATEGIES:
        series[f"users_hurt_{s}"] = [0, *np.asarray(deploys[s].series_hurt)[idx].tolist()]
    return series


def _summary(p: CanaryParams, plan: Plan, deploys: dict[str, Deploy], false_rb: int, looks: int,
             needed: float | None) -> str:
    """One or two sentences from the numbers."""
    mine = deploys[p.strategy]
    name = STRATEGY_LABELS[p.strategy]
    other = "canary" if p.strategy == "big_bang" else "big_bang"
    other_name = STRATEGY_LABELS[other]
    if p.defect_rate == 0:
        first = (f"{name}: a healthy release, wrongly rolled back after "
                 f"{duration(mine.decided_s)} ({mine.decided_by})."
                 if mine.decided_s is not None else
                 f"{name}: a healthy release, fully live after {duration(mine.full_s or 0)}.")
    elif mine.decided_s is None:
        first = (f"{name}: nobody acted. The defect stayed live for the whole "
                 f"{duration(plan.horizon_s)} and failed {mine.hurt:,} requests; ")
        first += (f"the alert fired only at {duration(mine.alert_s)}." if mine.alert_s is not None
                  else "it never doubled the overall error rate, so the alert never fired.")
        if uses_analysis(p.strategy) and needed is not None and mine.full_s is not None:
            first += (f" A test needs about {needed:,.0f} requests per arm to catch it; "
                      f"the canary served {mine.canary_requests:,} before going to 100 %.")
    else:
        how = ("the analysis caught it" if mine.decided_by == "analysis"
               else f"the alert fired after {duration(mine.alert_s or 0)} and on-call acted")
        first = (f"{name}: {how} at {duration(mine.decided_s)} with "
                 f"{100 * mine.decided_share:.0f} % of traffic on the new version; "
                 f"{mine.hurt:,} requests failed because of the defect "
                 f"({other_name.lower()} on the same run: {deploys[other].hurt:,}).")
    rate = false_rb / TRIALS
    lo, hi = _wilson(false_rb, TRIALS)
    second = (f"On a healthy release this {'analysis' if uses_analysis(p.strategy) else 'setup'}"
              f" rolls back {pct(rate)} of deploys (95 % CI {pct(lo)}–{pct(hi)})")
    bound = min(1.0, p.alpha * looks)
    if looks and lo <= bound:
        second += f"; peeking {looks} times at α allows up to {pct(bound)} (α × looks)"
    elif looks:
        second += (f", more than α × {looks} looks = {pct(bound)}: with about "
                   f"{p.min_samples * p.base_error_rate:.2g} errors expected per arm at the "
                   f"first look, the z-test's normal approximation is too optimistic")
    return f"{first} {second}."


# -- figure -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CanaryFigure:
    """What the figure needs beyond the public series: the chosen deploy's timeline."""

    plan: Plan
    hurt_by_strategy: dict[str, int]  # strategy → requests the defect failed
    detect_s: float | None
    decided_s: float | None
    restored_s: float | None
    decided_by: str  # "analysis", "alert", or "" when nothing decided
    decided_share: float  # share of traffic on the new version when it was decided
    looks: int  # analysis looks a healthy rollout makes
    false_rollbacks: int  # healthy releases rolled back, of TRIALS


def build_figure(result: Result[CanaryFigure], p: CanaryParams) -> dict[str, Any]:
    """Share on the new version and harm over time, and harm per strategy side by side."""
    s, fd = result.series, result.figure_data
    assert fd is not None
    minutes = [t / 60 for t in s["t_s"]]
    data: list[dict[str, Any]] = [{
        "type": "scatter", "mode": "lines", "x": minutes, "y": s["share_new_pct"],
        "line": {"shape": "hv", "color": COLOURS[p.strategy], "width": 2},
        "fill": "tozeroy", "name": f"{STRATEGY_LABELS[p.strategy]}: traffic on new version",
        "hovertemplate": "%{x:.1f} min: %{y:.0f} %<extra></extra>",
    }]
    for strat in STRATEGIES:
        chosen = strat == p.strategy
        data.append({
            "type": "scatter", "mode": "lines", "x": minutes, "y": s[f"users_hurt_{strat}"],
            "xaxis": "x2", "yaxis": "y2", "name": STRATEGY_LABELS[strat],
            "line": {"color": COLOURS[strat], "dash": DASHES[strat],
                     "width": 3 if chosen else 1.5},
            "opacity": 1 if chosen else 0.7,
            "hovertemplate": f"{STRATEGY_LABELS[strat]}: "
                             "%{y:,} failed by %{x:.1f} min<extra></extra>",
        })
    hurt = fd.hurt_by_strategy
    labels = [("▶ " if strat == p.strategy else "") + STRATEGY_LABELS[strat]
              for strat in STRATEGIES]
    data.append({
        "type": "bar", "orientation": "h", "x": [hurt[strat] for strat in STRATEGIES],
        "y": labels, "xaxis": "x3", "yaxis": "y3", "showlegend": False,
        "marker": {"color": [COLOURS[strat] for strat in STRATEGIES]},
        "text": [f"{hurt[strat]:,}" for strat in STRATEGIES], "textposition": "auto",
        "hovertemplate": "%{y}: %{x:,} requests failed<extra></extra>",
    })

    shapes, notes = [], []
    for t, text, colour, y in ((fd.detect_s, "detected", PALETTE["grey"], 1.0),
                               (fd.restored_s, "rolled back", PALETTE["green"], 0.9)):
        if t is not None:
            shape, note = plotting.vline(t / 60, text, colour)
            shapes.append(shape)
            notes.append({**note, "y": y})  # staggered: the two are often close
    horizon_min = fd.plan.horizon_s / 60
    return plotting.figure(
        data,
        height=460,
        xaxis=plotting.axis("", domain=[0, 0.56], anchor="y", range=[0, horizon_min],
                            showticklabels=False),
        yaxis=plotting.axis("On new (%)", domain=[0.62, 1], rangemode="tozero",
                            anchor="x"),
        xaxis2=plotting.axis("Minutes since the deploy", domain=[0, 0.56], anchor="y2",
                             matches="x", range=[0, horizon_min]),
        yaxis2=plotting.axis("Failed by defect", domain=[0, 0.52], anchor="x2",
                             rangemode="tozero"),
        xaxis3=plotting.axis("Requests failed by the defect", domain=[0.8, 1],
                             anchor="y3", rangemode="tozero"),
        yaxis3=plotting.axis("", domain=[0, 1], anchor="x3", autorange="reversed"),
        shapes=shapes, annotations=notes,
    )


# -- declaration ------------------------------------------------------------------------
PRESETS = {
    "Big bang": {"strategy": "big_bang", "defect_rate": 0.01},
    "1 % canary with analysis": {"strategy": "canary", "defect_rate": 0.01, "rps": 1000},
    "Tiny defect slips through": {"strategy": "canary", "defect_rate": 0.0002},
    "Too-sensitive analysis": {"strategy": "canary", "defect_rate": 0, "alpha": 0.2,
                               "min_samples": 10},
}

SIMULATION = Simulation(
    slug="canary",
    title="Canary exposure",
    description="A defective release under big bang, blue-green, canary and feature flag: "
                "who gets hurt, and how often the analysis cries wolf.",
    params=PARAMS,
    params_type=CanaryParams,
    run=run,
    figure=build_figure,
    check=check_limits,
    main_param="defect_rate",
)
