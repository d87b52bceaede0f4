"""Launch gates: a release pipeline over weeks, with and without the gates, on the DORA keys.

Model. A team writes changes at `changes_per_day` when nobody is firefighting (its planned
capacity, in changes; DEV_H work-hours each). Each change may carry one defect, of one kind:
a logic bug, config drift between environments, a missing or expiring secret or
certificate, or a migration the previous version cannot run against (DEFECT_RATE). Every
change runs CI when it is written; the oldest ready changes leave on a deploy train every
`deploy_every_h` hours, at most `batch` at a time, through staging, the go-live check
(runbook and sign-offs) and a canary, then to everyone. A gate either can see a defect
or cannot: whether it can is drawn once per change and gate (probability CATCH[gate][kind],
staging's scaled by `staging_parity`), so a defect escapes with probability
Π(1 − catch) over the gates that are on, however often it is retried. A caught change goes
back for rework (REWORK_H) and returns after REWORK_DELAY_H; a canary catch aborts the
whole deploy and the rest of the batch waits for the next train.

An escaped defect surfaces in production after an exponential delay (MANIFEST_MEAN_H per
kind: logic bugs in about a day, drift and expiring credentials over days to weeks). Restoring takes
DETECT_H, then: a flagged logic bug is switched off (FLAG_OFF_H); a rollback-able defect is
rolled back, at once if the rollback was practised (ROLLBACK_PRACTISED_H, no diagnosis
first: mitigate, then debug), otherwise after diagnosing which change in the batch did it
(DIAGNOSE_H × (1 + log2 batch), halved by a runbook) and an unrehearsed rollback
(ROLLBACK_UNPRACTISED_H); a bad secret is rotated and a one-way migration fixed forward,
both after diagnosis. Each incident costs the team RESPONDERS × restore time plus FIX_H
and POSTMORTEM_H, and that unplanned work comes out of the capacity for new changes.
Gates cost work too: setting them up at the start (SETUP_H, as for a new project), tests
and flags per change, sign-off per deploy, and keeping staging at parity, the runbook
current and the rollback rehearsed per week (GATE_WORK_H). Trains overlap, but each
environment (staging, production) takes one deploy at a time.

Closed forms. A defect of kind k escapes with Π_i (1 − c_ik) and is caught at gate i with
c_ik Π_{j<i} (1 − c_jk) (reported beside the simulated escape share); a deploy of n
changes fails with 1 − (1 − e′)^n, e′ the share of deployed changes that carry an escaped
defect (see failure_probability). Restore times are formulas of the kind, the batch and
the settings (restore_hours); what varies is which defects occur, when, and in which batch.

Every run simulates three pipelines on the same random draws (the same changes, defects
and gate verdicts, by change number): yours, the same team with no gates and an
unrehearsed rollback, and with every gate and a rehearsed rollback.

What is sourced and what is assumed. The directions are from the DORA research
(Forsgren, Humble and Kim, *Accelerate*, 2018, and the State of DevOps reports): teams
with automated tests, small batches and fast restores deploy more often *and* fail less,
and spend less time on unplanned work and rework. Every number in the constants below
(defect rates, catch probabilities, hours) is an assumption of this model, chosen to be
plausible, not measured: the figure shows the shape of the trade-off, not your team's
numbers. Time runs around the clock (no nights or weekends) and a fix is always clean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from ..engine import plotting, stats
from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param, check_work
from ..engine.plotting import PALETTE
from ..engine.words import pct

# -- model constants: all assumptions of this model, in hours unless named otherwise -----
KINDS = ("logic", "config", "secret", "migration")
KIND_LABELS = {"logic": "logic bug", "config": "config drift",
               "secret": "secret or certificate", "migration": "one-way migration"}
DEFECT_RATE = {"logic": 0.06, "config": 0.03, "secret": 0.01, "migration": 0.01}
GATES = ("ci", "staging", "runbook", "canary")  # in the order a change meets them
GATE_LABELS = {"ci": "CI tests", "staging": "Staging", "runbook": "Go-live check",
               "canary": "Canary", "escaped": "Escaped to users"}
# Chance that a gate can see a defect of each kind (staging's is scaled by parity).
CATCH = {
    "ci": {"logic": 0.70, "config": 0.10, "secret": 0.05, "migration": 0.30},
    "staging": {"logic": 0.30, "config": 0.90, "secret": 0.60, "migration": 0.80},
    "runbook": {"logic": 0.00, "config": 0.30, "secret": 0.70, "migration": 0.30},
    "canary": {"logic": 0.60, "config": 0.50, "secret": 0.50, "migration": 0.00},
}
MANIFEST_MEAN_H = {"logic": 24.0, "config": 120.0, "secret": 240.0, "migration": 72.0}
DEV_H = 6.0  # work-hours to write one change
CI_H = 0.5  # pipeline time per change
STAGING_H = 2.0  # soak in staging per deploy
SIGNOFF_H = 1.0  # waiting for the go-live ticket's sign-offs per deploy
CANARY_H = 1.0  # canary bake per deploy
DEPLOY_H = 0.25  # the deploy itself
GATE_WORK_H = {  # what the gates cost in team work
    "ci_per_change": 0.5, "flags_per_change": 0.25, "signoff_per_deploy": 0.5,
    "staging_per_week_at_full_parity": 8.0, "runbook_per_week": 2.0,
    "rehearsal_per_week": 2.0,
}
# One-off work to set each gate up at the start of the run (a new project's pipeline).
SETUP_H = {"ci": 8.0, "staging_at_full_parity": 16.0, "runbook": 4.0, "canary": 4.0,
           "flags": 2.0, "rollback_practised": 2.0}
REWORK_H = {"ci": 1.0, "staging": 3.0, "runbook": 2.0, "canary": 4.0}
REWORK_DELAY_H = 6.0  # a caught change is ready again this long after the catch
DETECT_H = 0.25  # from impact to someone looking (alerts exist)
FLAGGED_SHARE = 0.8  # share of logic changes behind a flag when flags are used
FLAG_OFF_H = 0.1
ROLLBACK_PRACTISED_H = 0.25
ROLLBACK_UNPRACTISED_H = 4.0  # find the procedure, the permissions, the old artifact
DIAGNOSE_H = 2.0  # per bisection step without a runbook (runbook: half)
ROTATE_H = 2.0  # issue and roll out a new secret or certificate
FIX_FORWARD_H = 8.0  # a migration the old version cannot run against: write the fix
RESPONDERS = 3
FIX_H = 4.0
POSTMORTEM_H = 2.0
HOURS_PER_WEEK = 168.0
MAX_CHANGE_WEEKS = 428  # changes_per_day × weeks, ≈ 3,000 changes a run: the time budget

SCENARIOS = ("yours", "no_gates", "all_gates")
SCENARIO_LABELS = {"yours": "Your pipeline", "no_gates": "No gates, unrehearsed rollback",
                   "all_gates": "Every gate, rehearsed rollback"}
COLOURS = {"yours": PALETTE["blue"], "no_gates": PALETTE["red"],
           "all_gates": PALETTE["green"]}
DASHES = {"yours": "solid", "no_gates": "dash", "all_gates": "dot"}


# -- parameters -------------------------------------------------------------------------
def _gate(name: str, label: str, help_: str) -> Param:
    return Param(name=name, kind="bool", default=True, label=label, help=help_)


PARAMS = (
    _gate("ci", "CI tests block the deploy",
          "Unit and integration tests run on every change; a red build cannot ship."),
    _gate("staging", "Staging gate",
          "Each batch is promoted to staging and soaks there before production."),
    Param(name="staging_parity", kind="float", default=0.9, min=0, max=1, step=0.05,
          unit="share", label="Staging parity",
          help="How closely staging mirrors production (config, secrets, data shape); "
               "scales what staging can catch and what keeping it in step costs."),
    _gate("runbook", "Runbook and go-live sign-off",
          "A go-live check (environment map, config diff, secret expiry, sign-offs) per "
          "deploy; a runbook also halves diagnosis."),
    _gate("canary", "Canary", "Each deploy goes to a small slice of traffic first."),
    _gate("flags", "Feature flags",
          "Logic changes ship behind a flag that on-call can switch off without a deploy."),
    _gate("rollback_practised", "Rollback rehearsed",
          "A written, permitted, rehearsed rollback: roll back first, diagnose after."),
    Param(name="batch", kind="int", default=4, min=1, max=100, step=1, unit="changes",
          label="Batch size",
          help="Most changes per deploy; if fewer than are written per interval, a queue "
               "builds."),
    Param(name="deploy_every_h", kind="float", default=6, min=1, max=336, step=1,
          unit="h", scale="log", label="Deploy interval",
          help="How often a deploy train may leave (168 = weekly)."),
    Param(name="changes_per_day", kind="int", default=8, min=1, max=40, step=1,
          unit="changes/day", label="Team capacity",
          help="Changes the team writes per day when nobody is firefighting."),
    Param(name="weeks", kind="int", default=8, min=1, max=52, step=1, unit="weeks",
          label="Weeks simulated", help="Length of the run."),
)


@dataclass(frozen=True)
class GatesParams:
    ci: bool
    staging: bool
    staging_parity: float
    runbook: bool
    canary: bool
    flags: bool
    rollback_practised: bool
    batch: int
    deploy_every_h: float
    changes_per_day: int
    weeks: int


def check_limits(p: GatesParams) -> None:
    """Refuse runs longer than the time budget: changes_per_day × weeks ≤ MAX_CHANGE_WEEKS."""
    check_work(p, ("changes_per_day", "weeks"), MAX_CHANGE_WEEKS)


# -- closed forms ------------------------------------------------------------------------
def catch_probability(gate: str, kind: str, p: GatesParams) -> float:
    """Chance that this gate can see a defect of this kind, with these settings."""
    if not getattr(p, gate):
        return 0.0
    c = CATCH[gate][kind]
    return c * p.staging_parity if gate == "staging" else c


def escape_probability(kind: str, p: GatesParams) -> float:
    """Π(1 − catch) over the gates: the share of this kind's defects that reach users."""
    return math.prod(1 - catch_probability(g, kind, p) for g in GATES)


def escape_share(p: GatesParams) -> float:
    """Expected share of all defects that reach users, weighted by how common each kind is."""
    total = sum(DEFECT_RATE.values())
    return sum(DEFECT_RATE[k] * escape_probability(k, p) for k in KINDS) / total


def change_escape_probability(p: GatesParams) -> float:
    """Chance that one change carries a defect that reaches users."""
    return sum(DEFECT_RATE[k] * escape_probability(k, p) for k in KINDS)


def failure_probability(p: GatesParams, batch: Any) -> Any:
    """Chance that a deploy of `batch` changes carries at least one escaped defect.

    1 − (1 − e′)^batch, with e′ the chance that a deployed change carries an escaped
    defect. A written change escapes with e = change_escape_probability; each escape is
    fixed and deployed again, defect-free, so there are about 1 + e deployed changes per
    written one and e′ = e / (1 + e) (exact in the long run, close over weeks).
    """
    e = change_escape_probability(p)
    return 1 - (1 - e / (1 + e)) ** batch


def remedy(kind: str, flagged: bool, p: GatesParams) -> str:
    """How service is restored: flag off, rollback, rotate a secret or fix forward."""
    if kind == "logic" and flagged and p.flags:
        return "flag"
    if kind in ("logic", "config"):
        return "rollback"
    return "rotate" if kind == "secret" else "fix_forward"


def diagnose_hours(batch: int, runbook: bool) -> float:
    """Finding the culprit: about one step per halving of the batch (bisection)."""
    return DIAGNOSE_H * (0.5 if runbook else 1.0) * (1 + math.log2(max(1, batch)))


def restore_hours(kind: str, flagged: bool, batch: int, p: GatesParams) -> float:
    """Impact to restored service for one incident (DORA's time to restore)."""
    how = remedy(kind, flagged, p)
    if how == "flag":
        return DETECT_H + FLAG_OFF_H
    if how == "rollback" and p.rollback_practised:
        return DETECT_H + ROLLBACK_PRACTISED_H
    step = {"rollback": ROLLBACK_UNPRACTISED_H, "rotate": ROTATE_H,
            "fix_forward": FIX_FORWARD_H}[how]
    return DETECT_H + diagnose_hours(batch, p.runbook) + step


def weekly_overhead_h(p: GatesParams) -> float:
    """Planned work-hours per week the gates take whatever happens."""
    w = GATE_WORK_H
    return ((w["staging_per_week_at_full_parity"] * p.staging_parity if p.staging else 0.0)
            + (w["runbook_per_week"] if p.runbook else 0.0)
            + (w["rehearsal_per_week"] if p.rollback_practised else 0.0))


def setup_h(p: GatesParams) -> float:
    """Work-hours to set the gates up before the first change (paid at the start)."""
    total = SETUP_H["staging_at_full_parity"] * p.staging_parity if p.staging else 0.0
    return total + sum(SETUP_H[g] for g in ("ci", "runbook", "canary", "flags",
                                             "rollback_practised") if getattr(p, g))


def work_per_change_h(p: GatesParams) -> float:
    """Work-hours to write one change, with the tests and flags it needs."""
    w = GATE_WORK_H
    return (DEV_H + (w["ci_per_change"] if p.ci else 0.0)
            + (w["flags_per_change"] if p.flags else 0.0))


# -- the SimPy run -----------------------------------------------------------------------
@dataclass
class Change:
    """One change: its defect (if any) and which gates can see it, drawn once."""

    index: int
    created: float
    kind: str | None
    visible: dict[str, bool]
    flagged: bool
    manifest_h: float
    delivered: float | None = None
    batch: int = 0


@dataclass
class Incident:
    start: float
    restore_h: float
    kind: str
    how: str
    batch: int  # changes in the deploy that shipped the defect


@dataclass
class Pipeline:
    """One team and its release pipeline over the run, driven by SimPy processes."""

    p: GatesParams
    draws: dict[str, np.ndarray]
    env: simpy.Environment = field(default_factory=simpy.Environment)
    ready: list[Change] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    debt_h: float = 0.0  # work waiting to be done before new changes
    unplanned_h: float = 0.0
    deploys: int = 0
    failed_deploys: int = 0
    aborted_deploys: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    caught: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GATES, 0))
    escaped: int = 0
    incidents: list[Incident] = field(default_factory=list)
    live: int = 0  # changes in production and working
    live_by_day: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        p = self.p
        self.horizon_h = p.weeks * HOURS_PER_WEEK
        # Team work rate (work-hours per hour), less the gates' weekly upkeep.
        rate = p.changes_per_day * DEV_H / 24
        self.rate = max(1e-9, rate - weekly_overhead_h(p) / HOURS_PER_WEEK)
        self.debt_h = setup_h(p)
        self.staging_env = simpy.Resource(self.env, capacity=1)
        self.production = simpy.Resource(self.env, capacity=1)
        self.env.process(self._team())
        self.env.process(self._train())
        self.env.process(self._days())

    # -- the team writes changes when it is not paying off unplanned work --------------
    def _team(self) -> Any:
        d = self.draws
        per_change = work_per_change_h(self.p)
        for i in range(len(d["work"])):
            # Owed work first (rework, incidents, sign-offs), then the change itself.
            owed, self.debt_h = self.debt_h, 0.0
            yield self.env.timeout((owed + per_change * d["work"][i]) / self.rate)
            kind = KINDS[int(d["kind"][i])] if d["kind"][i] >= 0 else None
            visible = {g: bool(kind is not None and d["gate"][i, j]
                               < catch_probability(g, kind, self.p))
                       for j, g in enumerate(GATES)}
            change = Change(i, self.env.now, kind, visible, bool(d["flag"][i] < FLAGGED_SHARE),
                            float(d["manifest"][i]) * MANIFEST_MEAN_H.get(kind or "", 0.0))
            self.changes.append(change)
            self._ci(change)

    def _ci(self, change: Change) -> None:
        """CI runs on the change; if it sees the defect, the change goes back for a fix."""
        wait = CI_H if self.p.ci else 0.0
        if change.visible["ci"]:
            wait += self._rework(change, "ci")
        self._ready_after(change, wait)

    def _ready_after(self, change: Change, hours: float) -> None:
        """The change joins the ready queue after `hours` (a callback, not a process)."""
        if hours <= 0:
            self.ready.append(change)
            return
        self.env.timeout(hours).callbacks.append(lambda _event: self.ready.append(change))

    def _rework(self, change: Change, gate: str) -> float:
        """A gate caught the defect: it is fixed (cleanly); returns the delay until ready."""
        self.caught[gate] += 1
        self.debt_h += REWORK_H[gate]
        self.unplanned_h += REWORK_H[gate]
        change.kind = None
        change.visible = dict.fromkeys(GATES, False)
        return REWORK_DELAY_H

    # -- the deploy train ---------------------------------------------------------------
    def _train(self) -> Any:
        """A train leaves every interval with the oldest ready changes; trains overlap."""
        p, env = self.p, self.env
        for k in range(1, math.ceil(self.horizon_h / p.deploy_every_h) + 1):
            yield env.timeout(max(0.0, k * p.deploy_every_h - env.now))
            if self.ready:
                batch, self.ready = self.ready[:p.batch], self.ready[p.batch:]
                env.process(self._deploy(batch))

    def _deploy(self, batch: list[Change]) -> Any:
        """Staging, go-live check, canary, everyone: one environment (stage) at a time."""
        p, env = self.p, self.env
        if p.staging:
            with self.staging_env.request() as turn:
                yield turn
                yield env.timeout(STAGING_H)
            self._catch(batch, "staging")
        if p.runbook and batch:
            self.debt_h += GATE_WORK_H["signoff_per_deploy"]
            yield env.timeout(SIGNOFF_H)
            self._catch(batch, "runbook")
        if not batch:
            return
        with self.production.request() as turn:
            yield turn
            if p.canary:
                yield env.timeout(CANARY_H)
                culprits = [c for c in batch if c.visible["canary"]]
                if culprits:
                    self.aborted_deploys += 1
                    for c in culprits:
                        batch.remove(c)
                        self._ready_after(c, self._rework(c, "canary"))
                    self.ready[:0] = batch  # the rest wait for the next train
                    return
            yield env.timeout(DEPLOY_H)
        self.deploys += 1
        self.batch_sizes.append(len(batch))
        failed = False
        for c in batch:
            c.delivered, c.batch = env.now, len(batch)
            self.live += 1
            if c.kind is not None:
                failed = True
                self.escaped += 1
                env.process(self._incident(c))
        self.failed_deploys += failed

    def _catch(self, batch: list[Change], gate: str) -> None:
        """Take the changes this gate can see out of the batch, back to their authors."""
        for c in [c for c in batch if c.visible[gate]]:
            batch.remove(c)
            self._ready_after(c, self._rework(c, gate))

    def _incident(self, change: Change) -> Any:
        """The defect surfaces, someone restores service, the change goes back for a fix."""
        env, p = self.env, self.p
        yield env.timeout(change.manifest_h)
        assert change.kind is not None
        start = env.now
        hours = restore_hours(change.kind, change.flagged, change.batch, p)
        self.incidents.append(Incident(start, hours, change.kind,
                                       remedy(change.kind, change.flagged, p), change.batch))
        yield env.timeout(hours)
        work = RESPONDERS * hours + FIX_H + POSTMORTEM_H
        self.debt_h += work
        self.unplanned_h += work
        self.live -= 1
        change.delivered = None
        change.kind = None
        self._ready_after(change, REWORK_DELAY_H)

    def _days(self) -> Any:
        for day in range(1, self.p.weeks * 7 + 1):
            yield self.env.timeout(max(0.0, day * 24 - self.env.now))
            self.live_by_day.append(self.live)

    def run(self) -> Pipeline:
        self.env.run(until=self.horizon_h + 1e-6)
        return self


def draw_changes(p: GatesParams, seed: int) -> dict[str, np.ndarray]:
    """Every random number a run needs, per change number, shared by the three pipelines."""
    rng = spawn_rngs(seed, "work", "defects", "gates", "manifest", "flags")
    # No pipeline writes more changes than the team's whole capacity allows; the
    # exponential work times make a few more possible, hence the margin.
    mean = p.changes_per_day * p.weeks * 7
    n = int(mean + 8 * math.sqrt(mean) + 20)
    rates = np.array([DEFECT_RATE[k] for k in KINDS])
    u = rng["defects"].random(n)
    edges = np.cumsum(rates)
    kind = np.searchsorted(edges, u, side="right")
    kind[kind >= len(KINDS)] = -1  # no defect
    return {"work": rng["work"].exponential(1.0, n), "kind": kind,
            "gate": rng["gates"].random((n, len(GATES))),
            "manifest": rng["manifest"].exponential(1.0, n), "flag": rng["flags"].random(n)}


def scenario_params(p: GatesParams, scenario: str) -> GatesParams:
    """Your settings, or the same team and train with no gates or with every gate."""
    if scenario == "yours":
        return p
    on = scenario == "all_gates"
    return GatesParams(ci=on, staging=on, staging_parity=p.staging_parity, runbook=on,
                       canary=on, flags=on, rollback_practised=on, batch=p.batch,
                       deploy_every_h=p.deploy_every_h, changes_per_day=p.changes_per_day,
                       weeks=p.weeks)


def run_pipelines(p: GatesParams, seed: int) -> dict[str, Pipeline]:
    """Yours and the two reference pipelines on the same draws (reusing identical ones)."""
    draws = draw_changes(p, seed)
    out: dict[str, Pipeline] = {}
    done: dict[GatesParams, Pipeline] = {}
    for s in SCENARIOS:
        sp = scenario_params(p, s)
        if sp not in done:
            done[sp] = Pipeline(sp, draws).run()
        out[s] = done[sp]
    return out


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class IncidentPoints:
    """Incidents of one pipeline, for the figure: when, how long to restore, how."""

    day: tuple[float, ...]
    restore_h: tuple[float, ...]
    how: tuple[str, ...]


@dataclass(frozen=True)
class GatesFigure:
    """What the figure needs beyond the series: incidents and where defects were caught."""

    incidents: tuple[tuple[str, IncidentPoints], ...]  # (scenario, points), yours first
    same_as_yours: tuple[str, ...]  # reference pipelines identical to yours (not redrawn)
    caught: tuple[tuple[str, int], ...]  # (gate or "escaped", count), yours
    crossover_day: int | None


def incident_points(pl: Pipeline) -> IncidentPoints:
    return IncidentPoints(day=tuple(round(i.start / 24, 3) for i in pl.incidents),
                          restore_h=tuple(round(i.restore_h, 3) for i in pl.incidents),
                          how=tuple(i.how for i in pl.incidents))


def _lead_times(pl: Pipeline) -> np.ndarray:
    return np.array([c.delivered - c.created for c in pl.changes if c.delivered is not None])


def crossover_day(mine: list[int], other: list[int]) -> int | None:
    """First day from which `mine` has delivered at least as much as `other` to the end."""
    behind = [d for d, (a, b) in enumerate(zip(mine, other, strict=True), start=1) if a < b]
    if not behind:
        return None if not mine else 0
    last = behind[-1]
    return None if last == len(mine) else last + 1


def _ci(values: np.ndarray, q: float | None) -> tuple[float | None, tuple[float, float] | None]:
    """Median (q) or mean with its 95 % CI; None without data."""
    if values.size == 0:
        return None, None
    if q is None:
        m, lo, hi = stats.mean_ci(values, floor=0.0)
    else:
        m, lo, hi = stats.quantile_ci(values, q)
    return round(m, 4), (round(lo, 4), round(hi, 4))


def run(p: GatesParams, seed: int) -> Result[GatesFigure]:
    pipes = run_pipelines(p, seed)
    mine = pipes["yours"]
    weeks = p.weeks
    lead = _lead_times(mine)
    restore = np.array([i.restore_h for i in mine.incidents])
    lead_med, lead_med_ci = _ci(lead, 0.5)
    lead_mean, lead_mean_ci = _ci(lead, None)
    ttr_med, ttr_med_ci = _ci(restore, 0.5)
    ttr_mean, ttr_mean_ci = _ci(restore, None)
    cfr_closed = (float(np.mean(failure_probability(p, np.asarray(mine.batch_sizes))))
                  if mine.batch_sizes else None)
    finished = sum(mine.caught.values()) + mine.escaped
    cross = (crossover_day(mine.live_by_day, pipes["no_gates"].live_by_day)
             if pipes["no_gates"] is not mine else None)
    capacity_h = mine.rate * mine.horizon_h
    metrics = {
        "deploys_per_week": Metric(round(mine.deploys / weeks, 3), "/week",
                                   "Deployment frequency (deploys per week)"),
        "lead_time_median_h": Metric(lead_med, "h", "Lead time for changes, median",
                                     ci95=lead_med_ci),
        "lead_time_mean_h": Metric(lead_mean, "h", "Lead time for changes, mean",
                                   ci95=lead_mean_ci),
        "change_failure_rate": Metric(
            round(mine.failed_deploys / mine.deploys, 4) if mine.deploys else None, "share",
            "Change failure rate (deploys that caused an incident)",
            ci95=(tuple(round(x, 4) for x in stats.proportion_ci(mine.failed_deploys,  # type: ignore[arg-type]
                                                                 mine.deploys))
                  if mine.deploys else None),
            closed_form=None if cfr_closed is None else round(cfr_closed, 4)),
        "restore_median_h": Metric(ttr_med, "h", "Time to restore, median", ci95=ttr_med_ci),
        "restore_mean_h": Metric(ttr_mean, "h", "Time to restore, mean", ci95=ttr_mean_ci),
        "delivered_changes": Metric(mine.live, "changes", "Changes live and working at the end"),
        "delivered_no_gates": Metric(pipes["no_gates"].live, "changes",
                                     "The same team with no gates: changes live at the end"),
        "crossover_day": Metric(cross, "",
                                "Day from which you stay ahead of the no-gates team"),
        "aborted_deploys": Metric(mine.aborted_deploys, "deploys",
                                  "Deploys the canary stopped (batch back to the queue)"),
        "incidents": Metric(len(mine.incidents), "incidents", "Incidents in production"),
        "impact_h": Metric(round(float(restore.sum()), 3), "h",
                           "Hours users spent on a broken release (sum of restores)"),
        "unplanned_work_share": Metric(
            round(min(1.0, mine.unplanned_h / capacity_h), 4) if capacity_h else None,
            "share", "Team time spent on rework and incidents"),
        "escaped_share": Metric(
            round(mine.escaped / finished, 4) if finished else None, "share",
            "Defects that reached users (of those that finished the pipeline)",
            ci95=(tuple(round(x, 4) for x in stats.proportion_ci(mine.escaped, finished))  # type: ignore[arg-type]
                  if finished else None),
            closed_form=round(escape_share(p), 4)),
        **{f"caught_{g}": Metric(mine.caught[g], "defects", f"Defects caught by {GATE_LABELS[g]}")
           for g in GATES},
        "escaped_defects": Metric(mine.escaped, "defects", "Defects that reached users"),
    }
    days = list(range(weeks * 7 + 1))
    series: dict[str, list[Any]] = {
        "day": days,
        **{f"live_{s}": [0, *pipes[s].live_by_day] for s in SCENARIOS},
    }
    fig = GatesFigure(
        incidents=tuple((sc, incident_points(pipes[sc])) for sc in ("yours", "no_gates")
                        if sc == "yours" or pipes[sc] is not mine),
        same_as_yours=tuple(sc for sc in SCENARIOS[1:] if pipes[sc] is mine),
        caught=(*((g, mine.caught[g]) for g in GATES), ("escaped", mine.escaped)),
        crossover_day=cross,
    )
    return Result(metrics=metrics, series=series, summary=_summary(p, pipes, cross),
                  figure_data=fig)


def _summary(p: GatesParams, pipes: dict[str, Pipeline], cross: int | None) -> str:
    mine, none = pipes["yours"], pipes["no_gates"]
    cfr = mine.failed_deploys / mine.deploys if mine.deploys else 0.0
    ttr = (float(np.median([i.restore_h for i in mine.incidents]))
           if mine.incidents else None)
    first = (f"Your pipeline deployed {mine.deploys / p.weeks:.1f} times a week; "
             f"{pct(cfr)} of deploys caused an incident"
             + (f", restored in {ttr:.1f} h (median)" if ttr is not None else "")
             + f", and {mine.live:,} changes were live after {p.weeks} weeks.")
    if none is mine:
        return first + " With no gates this is also the reference pipeline."
    if cross is None:
        second = (f" The same team with no gates ended with {none.live:,}, "
                  f"still ahead at the end of the run.")
    elif cross == 0:
        second = f" The same team with no gates never caught up ({none.live:,} live)."
    else:
        second = (f" The same team with no gates was ahead until day {cross}, "
                  f"and ended with {none.live:,}.")
    return first + second


# -- figure -------------------------------------------------------------------------------
def build_figure(result: Result[GatesFigure], p: GatesParams) -> dict[str, Any]:
    """Changes live over time per pipeline; restore time per incident; where defects stop."""
    s, fig = result.series, result.figure_data
    assert fig is not None
    data: list[dict[str, Any]] = []
    for sc in SCENARIOS:
        if sc in fig.same_as_yours:
            continue
        data.append({
            "type": "scatter", "mode": "lines", "x": s["day"], "y": s[f"live_{sc}"],
            "name": SCENARIO_LABELS[sc],
            "line": {"color": COLOURS[sc], "dash": DASHES[sc],
                     "width": 3 if sc == "yours" else 2},
            "hovertemplate": f"{SCENARIO_LABELS[sc]}: %{{y:,}} live on day %{{x}}<extra></extra>",
        })
    for sc, pts in fig.incidents:
        mine = sc == "yours"
        data.append({
            "type": "scatter", "mode": "markers", "x": list(pts.day), "y": list(pts.restore_h),
            "xaxis": "x2", "yaxis": "y2", "text": list(pts.how),
            "name": "Incidents, yours" if mine else "Incidents, no gates",
            "marker": {"color": COLOURS[sc], "size": 8 if mine else 6,
                       "symbol": "circle" if mine else "x", "opacity": 0.9 if mine else 0.5},
            "hovertemplate": ("day %{x:.1f}: restored in %{y:.2f} h (%{text})"
                              f"{'' if mine else ', no gates'}<extra></extra>"),
        })
    names = [GATE_LABELS[g] for g, _ in fig.caught]
    counts = [n for _, n in fig.caught]
    colours = [PALETTE["grey"] if g != "escaped" else PALETTE["red"] for g, _ in fig.caught]
    data.append({
        "type": "bar", "orientation": "h", "x": counts, "y": names, "xaxis": "x3",
        "yaxis": "y3", "showlegend": False, "marker": {"color": colours},
        "text": [f"{n:,}" for n in counts], "textposition": "auto",
        "hovertemplate": "%{y}: %{x:,} defects<extra></extra>",
    })
    shapes, notes = [], []
    if fig.crossover_day:
        shape, note = plotting.vline(fig.crossover_day, "gates pull ahead", PALETTE["grey"])
        shapes.append({**shape, "yref": "y domain"})
        notes.append({**note, "yref": "y domain"})
    days = p.weeks * 7
    return plotting.figure(
        data,
        height=480,
        xaxis=plotting.axis("", domain=[0, 0.6], anchor="y", range=[0, days],
                            showticklabels=False),
        yaxis=plotting.axis("Changes live", domain=[0.42, 1], anchor="x",
                            rangemode="tozero"),
        xaxis2=plotting.axis("Day", domain=[0, 0.6], anchor="y2", matches="x",
                             range=[0, days]),
        yaxis2=plotting.axis("Restore (h)", domain=[0, 0.32], anchor="x2", type="log",
                             range=[-1.3, 1.5], tickvals=[0.1, 1, 10],
                             ticktext=["0.1", "1", "10"]),
        xaxis3=plotting.axis("Defects, by where they stopped", domain=[0.75, 1],
                             anchor="y3", rangemode="tozero"),
        yaxis3=plotting.axis("", domain=[0.1, 1], anchor="x3", autorange="reversed"),
        shapes=shapes, annotations=notes,
    )


SIMULATION = Simulation(
    slug="gates",
    title="Launch gates",
    description="A release pipeline over weeks, with and without CI, staging, a go-live "
                "check, a canary, flags and a rehearsed rollback: the four DORA keys, and "
                "where defects are caught.",
    params=PARAMS,
    params_type=GatesParams,
    run=run,
    figure=build_figure,
    check=check_limits,
    main_param="batch",
    model_version=1,
)
