"""Pacing maths: abandon accounting over the regulatory window, measured rates, and the
predictive decision of how many numbers to dial now.

Everything here is O(1) per event and per decision (no loop over operators), so a decision for a
1,400-operator campaign stays far under a millisecond (bench/dialer_decision.py).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from parley import kpi
from parley.dialer.model import AbandonDefinition, DialerError

US_WINDOW_S = 30 * 86400.0  # US TSR: 30 days, or the campaign's life when shorter
UK_WINDOW_S = 86400.0  # UK Ofcom: 24 hours
COMPLIANCE_GRACE_S = 2.0  # an answered person must reach an operator within 2 seconds
_BUCKETS = 720


class AbandonMeter:
    """Abandoned calls over live answers (or another named definition,
    :class:`parley.kpi.OutboundAbandonRate`) in a rolling window.

    The window is ``window_s`` long (30 days by default: the US rule, which is also "the
    campaign's life" while the campaign is younger; 24 hours for the UK rule). Counts are kept
    in 720 buckets, so adding and reading are O(1).
    """

    def __init__(self, window_s: float = US_WINDOW_S,
                 definition: AbandonDefinition = AbandonDefinition.LIVE_ANSWERS) -> None:
        if window_s <= 0:
            raise DialerError("abandon window must be a positive number of seconds")
        self.window_s = window_s
        self.definition = definition
        self._bucket_s = max(1.0, window_s / _BUCKETS)
        self._buckets: deque[list[float]] = deque()  # [index, dials, live, machines, abandons]
        self._totals = [0, 0, 0, 0]

    def _bucket(self, now: float) -> list[float]:
        index = math.floor(now / self._bucket_s)
        self._expire(index)
        if not self._buckets or self._buckets[-1][0] != index:
            self._buckets.append([index, 0, 0, 0, 0])
        return self._buckets[-1]

    def _expire(self, index: int) -> None:
        oldest = index - math.ceil(self.window_s / self._bucket_s)
        while self._buckets and self._buckets[0][0] <= oldest:
            old = self._buckets.popleft()
            for i in range(4):
                self._totals[i] -= int(old[i + 1])

    def _add(self, now: float, column: int) -> None:
        self._bucket(now)[column + 1] += 1
        self._totals[column] += 1

    def dialled(self, now: float) -> None:
        self._add(now, 0)

    def live_answer(self, now: float) -> None:
        """A person answered (connected or not: an abandoned call is a live answer too)."""
        self._add(now, 1)

    def machine_answer(self, now: float) -> None:
        self._add(now, 2)

    def abandoned(self, now: float) -> None:
        self._add(now, 3)

    def counts(self, now: float) -> tuple[int, int]:
        """(abandons, denominator) in the window ending at ``now``."""
        self._expire(math.floor(now / self._bucket_s))
        dials, live, machines, abandons = self._totals
        return abandons, kpi.outbound_abandon_denominator(self.definition, dials=dials,
                                                          live_answers=live, machines=machines)

    def live_target(self, target: float, now: float, *, cap: float | None = None,
                    confidence: float = 0.0) -> tuple[float, int, int]:
        """``target`` restated per live answer, with (abandons, live answers) in the window:
        pacing reasons in live answers whatever the definition.

        With ``cap`` and ``confidence`` (z), the target is also kept ``z`` standard errors
        below the cap for the answers the window holds, so that a young or small campaign,
        whose rate swings more, stays under the cap at every check and not only on average.
        """
        abandons, denominator = self.counts(now)
        live = self._totals[1]
        scale = denominator / live if live else 1.0
        per_live = target * scale
        if cap is not None and confidence > 0.0:
            cap_live = min(0.999, cap * scale)
            guarded = cap_live - confidence * math.sqrt(cap_live * (1.0 - cap_live)
                                                        / max(live, 1))
            per_live = max(0.25 * per_live, min(per_live, guarded))
        return per_live, abandons, live

    def rate(self, now: float) -> float:
        """The window's rate by its definition (:func:`parley.kpi.outbound_abandon_rate`)."""
        self._expire(math.floor(now / self._bucket_s))
        dials, live, machines, abandons = self._totals
        return kpi.outbound_abandon_rate(self.definition, abandoned=abandons, dials=dials,
                                         live_answers=live, machines=machines)


class RunningMean:
    """An exponentially weighted mean that starts from a prior worth ``weight`` samples."""

    def __init__(self, prior: float, weight: float = 20.0, horizon: float = 500.0) -> None:
        self.value = prior
        self._n = weight
        self._horizon = horizon

    def add(self, sample: float) -> None:
        self._n = min(self._n + 1.0, self._horizon)
        self.value += (sample - self.value) / self._n


@dataclass(frozen=True, slots=True)
class PacingInput:
    """What the predictive decision needs, all counts and means (no per-operator data)."""

    ready: int  # operators free for this campaign now, not reserved
    talking: int  # operators on a call of this campaign
    wrapping: int  # operators in wrap-up after a call of this campaign
    in_flight: int  # calls dialled and not yet answered or failed
    waiting: int  # answered persons waiting for an operator right now
    contact_rate: float  # live answers per dial
    answer_delay_s: float  # mean time from dial to a live answer
    talk_s: float  # mean talk time
    wrap_s: float  # mean wrap-up time
    allowed_abandon_ratio: float  # expected abandons per expected live answer, for this decision
    max_dials: int  # lines free on the trunk
    free_factor: float = 1.0  # learned trust in "about to be free" operators (see FreeFactor)


def _normal_excess(mean: float, sd: float, threshold: float) -> float:
    """E[(Z - threshold)^+] for Z normal(mean, sd)."""
    if sd <= 1e-9:
        return max(0.0, mean - threshold)
    z = (threshold - mean) / sd
    pdf = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))
    return sd * pdf + (mean - threshold) * tail


def _free_probability(horizon: float, talk_s: float, wrap_s: float) -> tuple[float, float]:
    """(P talking operator is free within horizon, P wrapping operator is free within it).

    Remaining talk and wrap-up are taken as exponential with the measured means; an operator
    on a call must finish both (a hypoexponential), one in wrap-up only the wrap-up.
    """
    a = 1.0 / max(talk_s, 1.0)
    b = 1.0 / max(wrap_s, 1.0)
    wrap_free = 1.0 - math.exp(-b * horizon)
    if abs(a - b) < 1e-9:
        talk_free = 1.0 - math.exp(-a * horizon) * (1.0 + a * horizon)
    else:
        talk_free = 1.0 - (b * math.exp(-a * horizon) - a * math.exp(-b * horizon)) / (b - a)
    return max(0.0, talk_free), max(0.0, wrap_free)


def predictive_dials(data: PacingInput) -> int:
    """How many numbers to dial now so that expected abandons stay within the allowed ratio.

    Live answers X among the calls in flight plus ``n`` new ones are binomial (normal
    approximation); operators free by the time they answer plus the 2-second grace are R plus
    those finishing within that horizon. The answer is the largest n with
    E[(X + waiting - free)^+] <= allowed_ratio * E[X], found by bisection.
    """
    p = min(max(data.contact_rate, 0.005), 1.0)
    horizon = data.answer_delay_s + COMPLIANCE_GRACE_S
    q_talk, q_wrap = _free_probability(horizon, data.talk_s, data.wrap_s)
    k = data.free_factor
    q_talk, q_wrap = min(1.0, k * q_talk), min(1.0, k * q_wrap)
    free_mean = data.ready + data.talking * q_talk + data.wrapping * q_wrap
    free_var = data.talking * q_talk * (1 - q_talk) + data.wrapping * q_wrap * (1 - q_wrap)
    demand_base = data.waiting

    def excess_ok(n: int) -> bool:
        calls = data.in_flight + n
        mean = calls * p + demand_base - free_mean
        sd = math.sqrt(calls * p * (1 - p) + free_var)
        expected_abandons = _normal_excess(mean, sd, 0.0)
        return expected_abandons <= data.allowed_abandon_ratio * calls * p + 1e-6

    staffed = data.ready + data.talking + data.wrapping
    upper = min(data.max_dials, int((free_mean + 4.0 * math.sqrt(free_var + staffed + 1)) / p) + 1)
    # Calls that each have a free operator already can never be abandoned.
    safe = max(0, min(data.max_dials, data.ready - data.waiting - data.in_flight))
    if upper <= safe or not excess_ok(safe + 1):
        return safe
    low, high = safe + 1, upper  # excess_ok(low) holds
    if excess_ok(high):
        return high
    while high - low > 1:
        middle = (low + high) // 2
        if excess_ok(middle):
            low = middle
        else:
            high = middle
    return low


class FreeFactor:
    """Learns how far to trust the operators the model expects to be free in time.

    The normal model ignores when in the horizon answers and frees fall, how patient people
    are, and how talk times are really spread; rather than model all that, the factor ``k``
    scaling the expected frees follows a stochastic approximation: each live answer of a
    predictive call moves it by ``step * (target - abandoned)``, so it settles where the
    measured abandon rate equals the target. It starts cautious.
    """

    def __init__(self, target: float, start: float = 0.4, step: float = 0.02,
                 low: float = 0.0, high: float = 1.5) -> None:
        self.target = target
        self.value = start
        self.step = step
        self.low = low
        self.high = high

    def answered(self, abandoned: bool, over_target: bool) -> None:
        """One live answer of a call dialled ahead of operators; ``over_target``: the
        window's rate is above target, so learn twice as fast downwards."""
        error = self.target - (1.0 if abandoned else 0.0)
        if over_target and error < 0:
            error *= 2.0
        self.value = min(self.high, max(self.low, self.value + self.step * error))


def allowed_abandon_ratio(target: float, abandons: int, denominator: int,
                          expected_answers: float) -> float:
    """The abandon ratio this decision may risk so the window's rate stays at ``target``.

    Abandons still affordable now are ``target * denominator - abandons``; the decision may
    spend them on top of ``target`` on its own answers, up to three times ``target``, and must
    dial with (almost) no risk when the window is over its target.
    """
    answers = max(expected_answers, 1.0)
    slack = target * (denominator + answers) - abandons
    return min(3.0 * target, max(0.0, slack / answers))
