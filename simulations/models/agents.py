"""An operations agent with and without guardrails: damage done, incidents helped, human minutes.

Model. Over `days` days an AI operations agent proposes actions on a service: routine
ones (`proposals_per_day`, a Poisson stream: tuning, scaling, clean-up) and, for each
real incident (INCIDENTS_PER_DAY, also Poisson), a mitigation AGENT_DETECT_MIN after it
starts. Each proposal is harmful with probability `harmful_share`; a harmful one has one
of three shapes, equally likely, taken from real reports of agents in production:

- pool_flood: raise the database connection pool from POOL_NOW to POOL_ASKED (1,500).
  Above DB_MAX_CONNECTIONS the database refuses new connections for every service on
  it, so 100 % of requests fail until a human notices and reverts it;
- restart_loop: restart the service, then again every LOOP_EVERY_MIN (11) minutes until
  someone stops it. Each restart takes the replicas it touches down for RESTART_DOWN_MIN;
  the fleet runs at LOAD_SHARE of its capacity, so losing less than the headroom hurts no one;
- bad_config: push a wrong production setting; every request on a host it reaches fails
  until a human reverts it.

Humans notice a harmful action after an exponential time (HUMAN_NOTICE_MEAN_MIN; a loop,
whose restarts look like self-healing, LOOP_NOTICE_MEAN_MIN) and revert it.

Confidence. The agent scores each proposal: logit ~ Normal(MU_GOOD, 1) when good and
Normal(MU_GOOD − d, 1) when harmful, with d = √2·Φ⁻¹(`confidence_auc`), so the score
ranks a random good proposal above a random harmful one with probability
`confidence_auc` (the binormal ROC). It is a score, not a calibrated probability.

Policies, each run on the same stream of proposals (common random numbers):

- autonomous: every proposal acts at once, at full size;
- bounded: every proposal acts at once, but one action may touch at most `bound_pct` %
  of the replicas or hosts, or move a setting by at most `bound_pct` %; and at most
  `rate_limit_per_hour` actions per target in any hour: the next one is refused and pages
  a human (PAGE_MIN of their time), which also ends a loop. A mitigation that needs
  MITIGATION_REACH_PCT % takes several bounded steps, STEP_MIN apart;
- approve: every proposal waits for one of `reviewers` humans (one FIFO queue).
  A real review takes an exponential time of mean `review_min` and catches a harmful
  proposal with probability REVIEW_CATCH; but a reviewer who starts with q proposals
  still waiting rubber-stamps with probability q / (q + STAMP_HALF_QUEUE): STAMP_MIN,
  approved unread. Approved actions act at full size;
- fail_closed: bounded as above, and a proposal scored below `threshold` does nothing:
  it is handed to a human as a suggestion (ESCALATE_MIN of their time).

A real incident's mitigation saves time when the agent's fix lands before the human's
(lognormal, median HUMAN_MITIGATE_MEDIAN_MIN from the incident's start). An executed
harmful action is an incident when it fails at least INCIDENT_PCT % of requests.

Every constant below is an assumption of this model, not a measurement: the reported
anecdotes (1,500 connections, a restart every 11 minutes) set the shapes, the rest sets
the scale. The tests check the directions the chapter relies on (bounds shrink the worst
action, swamped reviewers stamp more); the exact numbers move with the constants.

Speed. SimPy keeps the clock for what must wait on it (bounded steps, a loop's next
restart); a routine proposal is decided when play() hands it over, and one that changes
nothing measured (autonomous, or below the fail-closed threshold) is only counted. The
approval queue is computed when a review is asked for (the earliest free reviewer,
Kiefer–Wolfowitz, and who will be waiting when it starts): the same starts, stamps and
verdicts as a simpy.Resource (the tests check it) without its events. Each proposal's
review draws (stamp, review time, catch) are its own, in a fixed order.

Theory. Without rubber stamps and without harmful loops the approval queue is M/M/c
(Poisson proposals, exponential reviews, FIFO): its mean wait is Erlang C's, reported
as the closed form of `approval_wait_min` and checked by the tests. Under fail_closed
the share of harmful proposals stopped is Φ(logit(threshold) − (MU_GOOD − d)).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import simpy

from ..engine import plotting, stats
from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param, check_work
from ..engine.plotting import PALETTE
from ..engine.words import pct

# -- model constants (assumptions; see the module docstring) ----------------------------
MIN_PER_DAY = 1440.0
INCIDENTS_PER_DAY = 1.0  # real incidents the agent is asked to help with
AGENT_DETECT_MIN = 3.0  # the agent spots the incident's pattern and proposes a fix
HUMAN_MITIGATE_MEDIAN_MIN = 45.0  # on-call alone: paged, diagnoses, acts (lognormal)
HUMAN_MITIGATE_SIGMA = 0.5
MITIGATION_REACH_PCT = 50.0  # a mitigation changes this much (e.g. scale out by half)
STEP_MIN = 5.0  # between bounded steps of one mitigation
N_TARGETS = 20  # services and settings the agent acts on (the rate limit is per target)

POOL_NOW = 200  # connections the services hold today
POOL_ASKED = 1500  # what the agent asked for, in the reported case
DB_MAX_CONNECTIONS = 300  # above this the database refuses everyone
LOOP_EVERY_MIN = 11.0  # the reported restart loop
RESTART_DOWN_MIN = 3.0  # replicas restarting are out of service this long
LOAD_SHARE = 0.7  # the fleet runs at 70 % of capacity: 30 % headroom
HUMAN_NOTICE_MEAN_MIN = 30.0  # until a human notices and reverts a harmful action
LOOP_NOTICE_MEAN_MIN = 120.0  # a loop looks like self-healing, so it lasts longer
INCIDENT_PCT = 5.0  # failing this share of requests or more is an incident

REVIEW_CATCH = 0.9  # a real review catches a harmful proposal this often
STAMP_HALF_QUEUE = 2.0  # with this many waiting, half the reviews are rubber stamps
STAMP_MIN = 1.0  # a rubber stamp: glance, approve
ESCALATE_MIN = 5.0  # a human reads a suggestion the agent would not act on
PAGE_MIN = 10.0  # a human answers a rate-limit page

MU_GOOD = 2.0  # mean logit of a good proposal's score (≈ 0.88)
MAX_PROPOSALS = 4200  # proposals_per_day × days accepted: the top rate for the default fortnight
EXTRA_BLOCK = 64  # re-reviews' draws are drawn this many at a time
QUEUE_SAMPLE_MIN = 30.0  # the approval queue is sampled this often for the figure
MAX_POINTS = 150

Policy = Literal["autonomous", "bounded", "approve", "fail_closed"]
POLICIES: tuple[Policy, ...] = ("autonomous", "bounded", "approve", "fail_closed")
POLICY_LABELS = {"autonomous": "Autonomous", "bounded": "Bounded + rate limit",
                 "approve": "Propose and approve", "fail_closed": "Bounded, fail closed"}
COLOURS = {"autonomous": PALETTE["red"], "bounded": PALETTE["blue"],
           "approve": PALETTE["orange"], "fail_closed": PALETTE["green"]}
DASHES = {"autonomous": "solid", "bounded": "dash", "approve": "dot", "fail_closed": "dashdot"}
KINDS = ("pool_flood", "restart_loop", "bad_config")
PHI = NormalDist()


# -- parameters -------------------------------------------------------------------------
PARAMS = (
    Param(name="policy", kind="choice", default="autonomous", choices=POLICIES,
          choice_labels=POLICY_LABELS, label="Policy",
          help="What stands between a proposal and production; the chart runs all four "
               "on the same proposals."),
    Param(name="proposals_per_day", kind="int", default=20, min=1, max=300, step=1,
          scale="log", unit="per day", label="Proposals",
          help="Routine actions the agent proposes each day (incident fixes come on top)."),
    Param(name="harmful_share", kind="float", default=0.05, min=0, max=0.3, step=0.01,
          label="Harmful share", help="Share of proposals that would hurt the service."),
    Param(name="confidence_auc", kind="float", default=0.8, min=0.5, max=0.99, step=0.01,
          label="Confidence quality (AUC)",
          help="Chance the agent scores a good proposal above a harmful one: "
               "0.5 = the score means nothing."),
    Param(name="reviewers", kind="int", default=2, min=1, max=20, step=1, unit="people",
          label="Reviewers", help="Humans who can review proposals at the same time."),
    Param(name="review_min", kind="float", default=10, min=1, max=60, step=1, unit="min",
          label="Review time", help="Mean minutes a real review of one proposal takes."),
    Param(name="bound_pct", kind="int", default=25, min=5, max=100, step=5, unit="%",
          label="Bound per action",
          help="Most of the fleet (or of a setting's value) one bounded action may change."),
    Param(name="rate_limit_per_hour", kind="int", default=3, min=1, max=30, step=1,
          unit="per hour", label="Rate limit",
          help="Most actions on one target in an hour; the next is refused and pages a human."),
    Param(name="threshold", kind="float", default=0.8, min=0.5, max=0.99, step=0.01,
          label="Confidence threshold",
          help="Fail closed: below this score the agent does nothing and asks a human."),
    Param(name="days", kind="int", default=14, min=1, max=90, step=1, unit="days",
          label="Days", help="How long the agent runs."),
)


@dataclass(frozen=True)
class AgentsParams:
    """The parameters, typed; same names and order as PARAMS."""

    policy: Policy
    proposals_per_day: int
    harmful_share: float
    confidence_auc: float
    reviewers: int
    review_min: float
    bound_pct: int
    rate_limit_per_hour: int
    threshold: float
    days: int


def check_limits(p: AgentsParams) -> None:
    """Refuse runs with more proposals than one request may simulate."""
    check_work(p, ("days", "proposals_per_day"), MAX_PROPOSALS)


# -- confidence: the binormal score and its closed forms --------------------------------
def separation(auc: float) -> float:
    """Gap between good and harmful mean logits for a binormal ROC with this AUC."""
    return math.sqrt(2) * PHI.inv_cdf(auc)


def logit(x: float) -> float:
    return math.log(x / (1 - x))


def pass_share(harmful: bool, auc: float, threshold: float) -> float:
    """Share of proposals scoring at or above the threshold (closed form, binormal)."""
    mu = MU_GOOD - (separation(auc) if harmful else 0.0)
    return PHI.cdf(mu - logit(threshold))


# -- harm: what an executed action does to requests --------------------------------------
def restart_harm(reach_pct: float) -> float:
    """Share of requests failed while reach_pct % of replicas restart (headroom absorbs some)."""
    return max(0.0, 1.0 - (1.0 - reach_pct / 100) / LOAD_SHARE)


def action_harm(kind: str, bound_pct: float | None) -> float:
    """Share of requests one executed harmful action fails; bound_pct None = unbounded."""
    if kind == "pool_flood":
        asked = POOL_ASKED if bound_pct is None else min(POOL_ASKED,
                                                         POOL_NOW * (1 + bound_pct / 100))
        return 1.0 if asked > DB_MAX_CONNECTIONS else 0.0
    reach = 100.0 if bound_pct is None else float(bound_pct)
    return restart_harm(reach) if kind == "restart_loop" else reach / 100


def erlang_c_wait(arrivals_per_min: float, service_min: float, servers: int) -> float | None:
    """Mean wait in queue of an M/M/c queue (Erlang C); None when it is unstable.

    Wq = C(c, a) · s / (c − a), with a = λ·s the offered load (e.g. Kleinrock,
    *Queueing Systems* vol. 1, §3.5; Gross & Harris, *Fundamentals of Queueing Theory*).
    """
    a = arrivals_per_min * service_min
    if a >= servers:
        return None
    term, total = 1.0, 1.0  # a^k / k!, summed for k < c
    for k in range(1, servers):
        term *= a / k
        total += term
    last = term * a / servers  # a^c / c!
    c_prob = last * servers / (servers - a) / (total + last * servers / (servers - a))
    return c_prob * service_min / (servers - a)


# -- the stream of proposals, shared by every policy ------------------------------------
@dataclass(frozen=True)
class Stream:
    """Every proposal of the run, sorted by time, as plain lists."""

    t: list[float]  # minute proposed
    incident: list[bool]  # a mitigation of a real incident
    incident_start: list[float]
    human_fix_min: list[float]  # when on-call alone would mitigate (from incident start)
    harmful: list[bool]
    kind: list[str]
    target: list[int]
    score_logit: list[float]
    notice_min: list[float]  # until a human notices this action, if harmful
    special: np.ndarray  # harmful or a real incident's fix: handed over one by one


def make_stream(p: AgentsParams, rng: np.random.Generator) -> Stream:
    """Draw the proposals: routine Poisson stream plus one fix per real incident."""
    horizon = p.days * MIN_PER_DAY
    routine = np.sort(rng.uniform(0, horizon, rng.poisson(p.proposals_per_day * p.days)))
    starts = np.sort(rng.uniform(0, horizon, rng.poisson(INCIDENTS_PER_DAY * p.days)))
    t = np.concatenate([routine, starts + AGENT_DETECT_MIN])
    incident = np.concatenate([np.zeros(routine.size, bool), np.ones(starts.size, bool)])
    start = np.concatenate([np.full(routine.size, np.nan), starts])
    order = np.argsort(t, kind="stable")
    n = t.size
    # Fixed-size draws in a fixed order, so raising harmful_share only turns more of the
    # same proposals harmful (a monotone coupling the tests rely on).
    u_harm, kind_i = rng.random(n), rng.integers(0, len(KINDS), n)
    target, z = rng.integers(0, N_TARGETS, n), rng.standard_normal(n)
    notice_u = rng.exponential(1.0, n)
    human_fix = HUMAN_MITIGATE_MEDIAN_MIN * np.exp(HUMAN_MITIGATE_SIGMA * rng.standard_normal(n))
    harmful = u_harm < p.harmful_share
    kinds = np.asarray(KINDS)[kind_i]
    logits = MU_GOOD - np.where(harmful, separation(p.confidence_auc), 0.0) + z
    notice = notice_u * np.where(kinds == "restart_loop", LOOP_NOTICE_MEAN_MIN,
                                 HUMAN_NOTICE_MEAN_MIN)
    # The per-proposal draws are i.i.d., so only the times need sorting.
    return Stream(t=t[order].tolist(), incident=incident[order].tolist(),
                  incident_start=start[order].tolist(), human_fix_min=human_fix.tolist(),
                  harmful=harmful.tolist(), kind=kinds.tolist(), target=target.tolist(),
                  score_logit=logits.tolist(), notice_min=notice.tolist(),
                  special=harmful | incident[order])


# -- one policy on the stream: the SimPy clock ------------------------------------------
class Operator:
    """The agent under one policy, acting on the shared stream of proposals."""

    def __init__(self, env: simpy.Environment, policy: Policy, p: AgentsParams,
                 stream: Stream, rng: np.random.Generator, *, stamping: bool = True):
        self.env, self.policy, self.p, self.s, self.rng = env, policy, p, stream, rng
        self.stamping = stamping
        self.bounded = policy in ("bounded", "fail_closed")
        self.bound: float | None = float(p.bound_pct) if self.bounded else None
        self.logit_threshold = logit(p.threshold)
        self.reviewing = policy == "approve"
        self.until = math.inf  # the end of the run (play sets it)
        # Actions per target in the last hour, for the rate limit.
        self.recent: list[deque[float]] = [deque() for _ in range(N_TARGETS)]
        self.actions: list[tuple[float, int]] = []  # every rate-limited action: (minute, target)
        # Outcomes.
        self.impacts: list[tuple[float, float, float, int]] = []  # start, minutes, share, id
        self.good_done = self.good_total = 0
        self.harm_total = self.harm_stopped = 0  # harmful proposals (episodes), stopped at once
        self.human_min = 0.0
        self.reviews = self.stamps = self.harm_reviews = self.harm_caught = 0
        self.waits: list[float] = []
        self.saved: list[float] = []
        self.incidents_seen = 0
        self.pages = self.escalations = 0
        # The approval queue (propose and approve): when each reviewer is next free (a
        # heap), the re-reviews of restart loops already scheduled (sorted), and when each
        # review was asked for and started (both sorted: FIFO).
        self.free = [0.0] * p.reviewers
        self.again: list[float] = []
        self.asked: list[float] = []
        self.started: list[float] = []
        if self.reviewing:
            # One draw of each kind per proposal, in a fixed order: a proposal's review
            # does not depend on how the queue happened to interleave the draws.
            n = len(stream.t)
            self.stamp_u = rng.random(n).tolist()
            self.review_e = rng.standard_exponential(n).tolist()
            self.catch_u = rng.random(n).tolist()
        self.extra: list[tuple[float, float, float]] = []  # the same, for re-reviews
        self.extra_used = 0

    # -- the clock ----------------------------------------------------------------------
    # The proposals are known in advance (the stream), so they are not SimPy events: play()
    # hands each one over at its own time `now`, after every event before it and before
    # any later one, so env.now (the last event's time) may lag behind `now`. A proposal
    # decided at once (most of them) never touches the clock; one that must wait (between
    # bounded steps, until a loop's next restart) is resumed by the SimPy event it waits
    # for, scheduled from `now`. Routine good proposals that only count (autonomous) or
    # only meet the threshold (fail closed) are tallied without being handed over.
    def play(self, until: float) -> None:
        """Hand every proposal over at its time, then run the clock to `until`."""
        self.until = until
        env, s = self.env, self.s
        peek, step = env.peek, env.step
        special, ts, targets = s.special, s.t, s.target
        handle, approval, limited = self._handle, self._approval, self._limited
        recent, actions = self.recent, self.actions
        n = len(ts)
        routine = n - int(np.count_nonzero(special))
        self.good_total += routine
        hand: Any = range(n)
        if self.policy == "autonomous":  # a routine good action changes nothing we measure
            self.good_done += routine
            hand = np.flatnonzero(special).tolist()
        elif self.policy == "fail_closed":  # below the threshold: a suggestion to a human
            below = ~special & (np.asarray(s.score_logit) < self.logit_threshold)
            escalated = int(np.count_nonzero(below))
            self.escalations += escalated
            self.human_min += ESCALATE_MIN * escalated
            hand = np.flatnonzero(~below).tolist()
        done = 0
        is_special = special.tolist()
        upcoming = peek()
        for i in hand:
            t = ts[i]
            if upcoming <= t:
                while peek() <= t:
                    step()
                upcoming = peek()
            if is_special[i]:
                handle(i, t)
                upcoming = peek()
            elif self.reviewing:  # a good proposal is always approved, if in time
                done += approval(i, t) is not None
            else:  # bounded: one action unless the rate limit refuses it
                target = targets[i]
                if not limited(target, t):
                    recent[target].append(t)
                    actions.append((t, target))
                    done += 1
        self.good_done += done
        env.run(until=until)

    def _delay(self, now: float, minutes: float) -> float:
        """The delay, from env.now, of the minute `minutes` after `now` (which may be ahead
        of env.now: see play)."""
        env_now = self.env.now
        return minutes if now == env_now else now + minutes - env_now

    def _after(self, now: float, minutes: float) -> simpy.Timeout:
        """The event `minutes` after `now`."""
        return self.env.timeout(self._delay(now, minutes))

    @staticmethod
    def _start(gen: Generator[Any, Any]) -> None:
        """Run a proposal's generator until it waits; each event it waits for resumes it."""
        def wake(fired: simpy.Event) -> None:
            try:
                following = gen.send(fired.value)
            except StopIteration:
                return
            following.callbacks.append(wake)

        try:
            event = next(gen)
        except StopIteration:
            return
        event.callbacks.append(wake)

    def queue_samples(self, every_min: float, horizon_min: float) -> list[int]:
        """Proposals waiting for a reviewer, read every every_min minutes."""
        grid = np.arange(0, horizon_min + 1e-9, every_min)
        asked = np.searchsorted(np.asarray(self.asked), grid, side="right")
        started = np.searchsorted(np.asarray(self.started), grid, side="right")
        return (asked - started).tolist()

    # -- gates --------------------------------------------------------------------------
    def _limited(self, target: int, now: float) -> bool:
        """The rate limit: target had its actions this past hour; refuse and page a human."""
        window = self.recent[target]
        cutoff = now - 60.0
        while window and window[0] <= cutoff:
            window.popleft()
        if len(window) >= self.p.rate_limit_per_hour:
            self.pages += 1
            self.human_min += PAGE_MIN
            return True
        return False

    def _gate(self, i: int, now: float) -> bool:
        """Policies without humans in the loop: the threshold, then the rate limit."""
        if self.policy == "autonomous":
            return True
        if self.policy == "fail_closed" and self.s.score_logit[i] < self.logit_threshold:
            self.escalations += 1
            self.human_min += ESCALATE_MIN
            return False
        return not self._limited(self.s.target[i], now)

    # -- review (propose and approve) ---------------------------------------------------
    # The queue is FIFO, so a review's start is known when it is asked for: the earliest
    # a reviewer is free (Kiefer–Wolfowitz), as simpy.Resource would grant it. What the
    # reviewer finds waiting then is known too: every later request up to that minute is
    # either in the stream or a loop's re-review, scheduled when its previous review was
    # decided, which was before this one started. So the verdict and its minute are
    # computed at once, and a proposal only touches the clock to act on it later (a loop).
    def _approval(self, i: int, asked: float, again: bool = False) -> tuple[bool, float] | None:
        """Proposal i asks for review at `asked`: (approved, minute decided), or None when
        the run ends first. A reviewer who starts with q proposals still waiting
        rubber-stamps with probability q / (q + STAMP_HALF_QUEUE)."""
        free = self.free
        start = free[0]
        if start < asked:
            start = asked
        waiting = 0
        if again:  # a loop's re-review: the earliest one scheduled
            self.again.pop(0)
            stamp_u, review_e, catch_u = self._extra_draws()
        else:
            stamp_u, review_e, catch_u = self.stamp_u[i], self.review_e[i], self.catch_u[i]
        if start > asked:  # it waits: who else asks before a reviewer takes it
            ts, later = self.s.t, self.again
            waiting = (bisect_right(ts, start) - bisect_right(ts, asked)
                       + bisect_right(later, start))
        stamp = self.stamping and stamp_u < waiting / (waiting + STAMP_HALF_QUEUE)
        minutes = STAMP_MIN if stamp else self.p.review_min * review_e
        decided = start + minutes
        heapq.heapreplace(free, decided)
        self.asked.append(asked)
        if start >= self.until:
            return None
        self.started.append(start)
        self.waits.append(start - asked)
        if decided >= self.until:
            return None
        self.reviews += 1
        self.stamps += stamp
        self.human_min += minutes
        caught = False
        if self.s.harmful[i]:
            self.harm_reviews += 1
            caught = not stamp and catch_u < REVIEW_CATCH
            self.harm_caught += caught
        return not caught, decided

    def _extra_draws(self) -> tuple[float, float, float]:
        """The next re-review's draws (stamp, review time, catch), drawn in blocks."""
        if self.extra_used == len(self.extra):
            rng = self.rng
            self.extra = list(zip(rng.random(EXTRA_BLOCK).tolist(),
                                  rng.standard_exponential(EXTRA_BLOCK).tolist(),
                                  rng.random(EXTRA_BLOCK).tolist(), strict=True))
            self.extra_used = 0
        self.extra_used += 1
        return self.extra[self.extra_used - 1]

    def _decide(self, i: int, now: float, again: bool = False) -> tuple[bool, float] | None:
        """Whether proposal i may act, and the minute that is known (None: never, in time)."""
        if self.reviewing:
            return self._approval(i, now, again)
        return self._gate(i, now), now

    def _act(self, i: int, now: float) -> None:
        if self.bounded:  # the rate limit's window
            target = self.s.target[i]
            self.recent[target].append(now)
            self.actions.append((now, target))

    # -- one proposal -------------------------------------------------------------------
    def _handle(self, i: int, now: float) -> None:
        """A harmful proposal or a real incident's fix (routine ones stay in play)."""
        self._start(self._harmful(i, now) if self.s.harmful[i] else self._fix(i, now))

    def _fix(self, i: int, now: float) -> Generator[Any, Any]:
        """A good mitigation of a real incident: bounded, it takes several steps."""
        self.good_total += 1
        self.incidents_seen += 1
        steps = 1 if self.bound is None else math.ceil(MITIGATION_REACH_PCT / self.bound - 1e-9)
        for step in range(steps):
            if step:
                yield self._after(now, STEP_MIN)
                now = self.env.now
            decided = self._decide(i, now)
            if decided is None or not decided[0]:
                return
            now = decided[1]
            self._act(i, now)
        self.good_done += 1
        landed = now - self.s.incident_start[i]
        if landed < self.s.human_fix_min[i]:
            self.saved.append(self.s.human_fix_min[i] - landed)

    def _harmful(self, i: int, now: float) -> Generator[Any, Any]:
        s = self.s
        self.harm_total += 1
        if s.incident[i]:
            self.incidents_seen += 1  # a wrong fix: on-call mitigates the incident alone
        share = action_harm(s.kind[i], self.bound)
        decided = self._decide(i, now)
        if decided is None:
            return
        ok, now = decided
        if not ok:
            self.harm_stopped += 1
            return
        self._act(i, now)
        if s.kind[i] != "restart_loop":
            self.impacts.append((now, s.notice_min[i], share, i))
            return
        stop_at = now + s.notice_min[i]  # a human notices the loop
        while True:
            self.impacts.append((now, RESTART_DOWN_MIN, share, i))
            if now + LOOP_EVERY_MIN >= stop_at:
                return
            delay = self._delay(now, LOOP_EVERY_MIN)
            if self.reviewing:  # the queue must know of this re-review from now on
                insort(self.again, self.env.now + delay)  # the minute SimPy will fire it
            yield self.env.timeout(delay)
            now = self.env.now
            if self.reviewing:
                decided = self._decide(i, now, again=True)
                if decided is None:
                    return
                ok, now = decided
            else:
                ok = self._gate(i, now)
            if not ok or now >= stop_at:  # stopped, or approved too late
                return
            self._act(i, now)

    # -- summaries ----------------------------------------------------------------------
    def incident_ids(self) -> set[int]:
        """Harmful proposals whose worst action failed at least INCIDENT_PCT of requests."""
        return {i for _, _, share, i in self.impacts if 100 * share >= INCIDENT_PCT}

    def outage_minutes(self) -> float:
        return sum(m * share for _, m, share, _ in self.impacts)

    def worst_share(self) -> float:
        return max((share for _, _, share, _ in self.impacts), default=0.0)


def run_policy(p: AgentsParams, policy: Policy, stream: Stream, rng: np.random.Generator,
               *, stamping: bool = True) -> Operator:
    """Play the stream under one policy until the last action has settled."""
    env = simpy.Environment()
    op = Operator(env, policy, p, stream, rng, stamping=stamping)
    # Past the horizon, let approvals and loops in flight finish (bounded: a day).
    op.play(until=(p.days + 1) * MIN_PER_DAY)
    return op


# -- run --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyTotals:
    """One policy's headline numbers, for the bar panels."""

    incidents: int
    outage_min: float
    human_min_per_day: float


@dataclass(frozen=True)
class AgentsFigure:
    """What the figure needs beyond the public series."""

    totals: tuple[PolicyTotals, ...]  # in POLICIES order
    queue_t_day: tuple[float, ...]
    queue_len: tuple[int, ...]


def _stride(n: int) -> int:
    return max(1, math.ceil(n / MAX_POINTS))


def _cumulative_outage(op: Operator, grid: np.ndarray) -> np.ndarray:
    """Full-outage-equivalent minutes caused by each time on the grid (minutes).

    The failing share is piecewise constant (each impact adds its share from its start
    to its end), so its integral is piecewise linear: exact at the change points,
    interpolated in between.
    """
    if not op.impacts:
        return np.zeros(grid.size)
    start, minutes, share = (np.array([x[k] for x in op.impacts], dtype=float)
                             for k in range(3))
    times = np.concatenate([start, start + minutes])
    delta = np.concatenate([share, -share])
    order = np.argsort(times, kind="stable")
    times, rate = times[order], np.cumsum(delta[order])
    integral = np.concatenate([[0.0], np.cumsum(rate[:-1] * np.diff(times))])
    return np.interp(grid, times, integral, left=0.0)


def run(p: AgentsParams, seed: int) -> Result[AgentsFigure]:
    """Play one stream of proposals under every policy; report the chosen one."""
    rngs = spawn_rngs(seed, "proposals", "reviews")
    stream = make_stream(p, rngs["proposals"])
    ops = {policy: run_policy(p, policy, stream, rngs["reviews"]) for policy in POLICIES}
    mine = ops[p.policy]
    metrics = _metrics(p, mine, stream)

    horizon = (p.days + 1) * MIN_PER_DAY
    grid = np.linspace(0, horizon, min(MAX_POINTS, int(horizon / 60)) + 1)
    series: dict[str, list[Any]] = {"t_day": (grid / MIN_PER_DAY).round(3).tolist()}
    for policy, op in ops.items():
        series[f"outage_min_{policy}"] = _cumulative_outage(op, grid).round(2).tolist()
    samples = ops["approve"].queue_samples(QUEUE_SAMPLE_MIN, horizon)
    k = _stride(len(samples))
    q_t = tuple(round(j * QUEUE_SAMPLE_MIN / MIN_PER_DAY, 3) for j in range(0, len(samples), k))
    q_len = tuple(max(samples[j:j + k]) for j in range(0, len(samples), k))
    totals = tuple(PolicyTotals(incidents=len(op.incident_ids()),
                                outage_min=round(op.outage_minutes(), 1),
                                human_min_per_day=round(op.human_min / p.days, 1))
                   for op in ops.values())
    return Result(metrics=metrics, series=series, summary=_summary(p, ops),
                  figure_data=AgentsFigure(totals=totals, queue_t_day=q_t, queue_len=q_len))


def _metrics(p: AgentsParams, op: Operator, stream: Stream) -> dict[str, Metric]:
    """The chosen policy's numbers, with intervals where they are sampled."""
    caused = len(op.incident_ids())
    saved = stats.mean_ci(op.saved, floor=0.0) if op.saved else None
    good_ci = stats.proportion_ci(op.good_done, op.good_total)
    stopped_ci = stats.proportion_ci(op.harm_stopped, op.harm_total)
    stopped_cf = None
    if p.policy == "fail_closed":
        stopped_cf = round(1 - pass_share(True, p.confidence_auc, p.threshold), 4)
    reviewing = op.policy == "approve"
    wait = stats.mean_ci(op.waits, floor=0.0) if op.waits else None
    lam = (p.proposals_per_day + INCIDENTS_PER_DAY) / MIN_PER_DAY
    wait_cf = erlang_c_wait(lam, p.review_min, p.reviewers) if reviewing else None
    return {
        "incidents_caused": Metric(caused, "incidents",
                                   "Incidents caused by the agent",
                                   ci95=stats.poisson_ci(caused, 1.0)),
        "outage_minutes": Metric(round(op.outage_minutes(), 1), "min",
                                 "Damage: minutes of full outage equivalent"),
        "worst_blast_pct": Metric(round(100 * op.worst_share(), 1), "%",
                                  "Blast radius of the worst action (requests failed)"),
        "incidents_mitigated": Metric(len(op.saved), "incidents",
                                      f"Real incidents the agent fixed first "
                                      f"(of {op.incidents_seen})"),
        "minutes_saved": Metric(None if saved is None else round(saved[0], 1), "min",
                                "Minutes sooner than on-call alone, per fixed incident",
                                ci95=None if saved is None else (round(saved[1], 1),
                                                                  round(saved[2], 1))),
        "good_done_share": Metric(round(op.good_done / op.good_total, 4)
                                  if op.good_total else None, "",
                                  "Good proposals carried out", ci95=good_ci),
        "harmful_stopped_share": Metric(round(op.harm_stopped / op.harm_total, 4)
                                        if op.harm_total else None, "",
                                        "Harmful proposals stopped before acting",
                                        ci95=stopped_ci if op.harm_total else None,
                                        closed_form=stopped_cf),
        "human_min_per_day": Metric(round(op.human_min / p.days, 1), "min/day",
                                    "Human minutes on the agent's proposals"),
        "rubber_stamp_share": Metric(round(op.stamps / op.reviews, 4)
                                     if reviewing and op.reviews else None, "",
                                     "Reviews that were rubber stamps",
                                     ci95=stats.proportion_ci(op.stamps, op.reviews)
                                     if reviewing and op.reviews else None),
        "approval_wait_min": Metric(None if wait is None else round(wait[0], 2), "min",
                                    "Mean wait for a reviewer (closed form: M/M/c, "
                                    "every review real)",
                                    ci95=None if wait is None else (round(wait[1], 2),
                                                                     round(wait[2], 2)),
                                    closed_form=None if wait_cf is None else round(wait_cf, 2)),
    }


def _summary(p: AgentsParams, ops: dict[Policy, Operator]) -> str:
    """Two sentences from the numbers: the chosen policy, then the comparison."""
    mine = ops[p.policy]
    name = POLICY_LABELS[p.policy]
    caused = len(mine.incident_ids())
    first = (f"{name}: over {p.days} days the agent caused {caused} "
             f"incident{'' if caused == 1 else 's'} (worst action failed "
             f"{pct(mine.worst_share())} of requests) "
             f"and fixed {len(mine.saved)} of {mine.incidents_seen} real incidents before "
             f"on-call would have")
    if p.policy == "approve" and mine.reviews:
        first += (f"; reviewers spent {mine.human_min / p.days:.0f} minutes a day and "
                  f"rubber-stamped {pct(mine.stamps / mine.reviews)} of reviews")
    elif mine.human_min:
        first += f", for {mine.human_min / p.days:.0f} human minutes a day"
    auto = ops["autonomous"]
    others = ", ".join(f"{POLICY_LABELS[q].lower()} {ops[q].outage_minutes():,.0f}"
                       for q in POLICIES if q != "autonomous")
    second = (f"On the same proposals, damage in minutes of full outage: autonomous "
              f"{auto.outage_minutes():,.0f}, {others}.")
    return f"{first}. {second}"


# -- figure -----------------------------------------------------------------------------
def build_figure(result: Result[AgentsFigure], p: AgentsParams) -> dict[str, Any]:
    """Damage over time per policy, the approval queue, and human minutes per policy.

    Three panels, no annotations: each panel with its axes costs a redraw about 4 ms of
    Chromium's main thread. A fourth (the total damage as bars) repeated what the lines
    end at and the summary says; dropping it and the two panel-title annotations took
    Plotly.react from about 25 to 19 ms of CPU at 720 px. The two left panels share one
    day axis, its range set here (two axes tied by `matches` cost another millisecond).
    """
    s = result.series
    fig = result.figure_data
    assert fig is not None
    days = s["t_day"][-1]
    data: list[dict[str, Any]] = []
    for policy in POLICIES:
        chosen = policy == p.policy
        data.append({
            "type": "scatter", "mode": "lines", "x": s["t_day"], "y": s[f"outage_min_{policy}"],
            "name": POLICY_LABELS[policy],
            "line": {"color": COLOURS[policy], "dash": DASHES[policy],
                     "width": 3 if chosen else 1.5},
            "opacity": 1 if chosen else 0.7,
            "hovertemplate": f"{POLICY_LABELS[policy]}: "
                             "%{y:,.0f} outage min by day %{x:.1f}<extra></extra>",
        })
    data.append({
        "type": "scatter", "mode": "lines", "x": list(fig.queue_t_day), "y": list(fig.queue_len),
        "yaxis": "y2", "name": "Approval queue (propose and approve)",
        "line": {"color": COLOURS["approve"], "shape": "hv", "width": 1.5},
        "fill": "tozeroy", "showlegend": False,
        "hovertemplate": "day %{x:.1f}: %{y} waiting<extra></extra>",
    })
    human = [t.human_min_per_day for t in fig.totals]
    data.append({
        "type": "bar", "orientation": "h", "x": human,
        "y": [("▶ " if q == p.policy else "") + POLICY_LABELS[q] for q in POLICIES],
        "xaxis": "x3", "yaxis": "y3", "showlegend": False,
        "marker": {"color": [COLOURS[q] for q in POLICIES]},
        "text": [f"{v:,.0f}" for v in human], "textposition": "outside", "cliponaxis": False,
        "hovertemplate": "%{y}: %{x:,.0f} human min/day<extra></extra>",
    })
    return plotting.figure(
        data,
        height=480,
        # One day axis under both left panels (drawn at the queue's foot).
        xaxis=plotting.axis("Day", domain=[0, 0.52], anchor="y2", range=[0, days]),
        yaxis=plotting.axis("Outage minutes caused", domain=[0.38, 1], anchor="x",
                            rangemode="tozero"),
        yaxis2=plotting.axis("Waiting review", domain=[0, 0.26], anchor="x",
                             rangemode="tozero"),
        xaxis3=plotting.axis("Human minutes per day", domain=[0.8, 1], anchor="y3",
                             rangemode="tozero", nticks=3),
        yaxis3=plotting.axis("", domain=[0.38, 1], anchor="x3", autorange="reversed"),
    )


# -- declaration ------------------------------------------------------------------------
SIMULATION = Simulation(
    slug="agents",
    title="An operations agent with guardrails",
    description="An AI agent proposes actions on a service for days: what autonomy, "
                "bounds, human approval and failing closed do to damage, fixes and "
                "human minutes.",
    params=PARAMS,
    params_type=AgentsParams,
    run=run,
    figure=build_figure,
    check=check_limits,
    limits=(f"days × proposals_per_day must be at most {MAX_PROPOSALS:,}.",),
    main_param="proposals_per_day",
    model_version=2,
)
