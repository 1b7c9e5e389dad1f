"""Contact-center KPI definitions, each one named: service level, ASA, AHT, abandon rates,
occupancy and utilisation.

Sites and regulators define the same words differently (is an abandon after three seconds a
failure? is occupancy measured over ready time or over logged-in time?), so every figure here
is computed by one named definition, and every report says which one it shows (docs/kpi.md).
The functions are pure: counts and durations in, a ratio out; no clock, no I/O. The live ACD
statistics (``parley.acd.stats``), the simulator (``parley.sim``) and the dialer's abandon
accounting (``parley.dialer``) all compute through them.

Conventions: a ratio over an empty denominator is 1.0 for a service level (no caller was
failed) and 0.0 for every other figure. Counts that cannot be right (negative, or a part
larger than its whole) raise :class:`KpiError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from parley.errors import ParleyError


class KpiError(ParleyError, ValueError):
    """Counts or durations that cannot come from real calls; the message names the field."""


class ServiceLevel(StrEnum):
    """Service-level definitions. T is the service-level threshold (``sl_threshold_s``);
    "within T" means a wait of at most T seconds; short abandons are callers who hung up
    within the short-abandon threshold (``short_abandon_s``)."""

    #: answered within T / offered. Every abandon, however quick, counts as failed.
    OFFERED = "offered"
    #: answered within T / answered. Abandons do not count at all (ACD and simulator
    #: ``service_level``).
    ANSWERED = "answered"
    #: answered within T / (offered - short abandons). Quick hang-ups (wrong numbers,
    #: changed minds) are left out; other abandons count as failed.
    OFFERED_LESS_SHORT_ABANDONS = "offered_less_short_abandons"
    #: (answered within T + abandoned within T) / (answered + abandoned). A caller who gave up
    #: within T counts as served in time (ACD and simulator ``service_level_abandons``).
    ABANDONS_WITHIN_T_MET = "abandons_within_t_met"
    #: answered within T / (answered + abandoned - abandoned within T). A caller who gave up
    #: within T is left out; one who gave up later counts as failed.
    ABANDONS_WITHIN_T_EXCLUDED = "abandons_within_t_excluded"


class AbandonRate(StrEnum):
    """Abandon-rate definitions for callers waiting in a queue."""

    #: abandoned / offered (the simulator's ``abandon_rate``: Erlang A's P(abandon) is per
    #: offered call, so this is the figure it is compared with).
    OFFERED = "offered"
    #: abandoned / (answered + abandoned): per call that ended its wait (the ACD's live
    #: ``abandon_rate``; overflowed and still waiting calls are not in it).
    FINISHED = "finished"
    #: (abandoned - short abandons) / (offered - short abandons).
    OFFERED_LESS_SHORT_ABANDONS = "offered_less_short_abandons"
    #: (abandoned - short abandons) / (answered + abandoned - short abandons).
    FINISHED_LESS_SHORT_ABANDONS = "finished_less_short_abandons"


class OutboundAbandonRate(StrEnum):
    """Abandon-rate definitions for outbound calls (regulators differ). An outbound call is
    abandoned when a person answered and no operator took it in time."""

    #: abandoned / live (human) answers: US TSR, UK Ofcom.
    LIVE_ANSWERS = "live_answers"
    #: abandoned / (live answers + answering machines).
    ALL_ANSWERS = "all_answers"
    #: abandoned / calls dialled: the loosest, for internal targets.
    DIALS = "dials"


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """What a queue counted over a period, for its service level and abandon rate.

    ``answered_within`` and ``abandoned_within`` are the answered and abandoned calls whose
    wait was at most the service-level threshold T; ``short_abandons`` the abandoned calls
    whose wait was at most the short-abandon threshold.
    """

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within: int = 0
    abandoned_within: int = 0
    short_abandons: int = 0

    def __post_init__(self) -> None:
        for name in ("offered", "answered", "abandoned", "answered_within",
                     "abandoned_within", "short_abandons"):
            if getattr(self, name) < 0:
                raise KpiError(f"{name}: a count cannot be negative, got {getattr(self, name)}")
        _part("answered_within", self.answered_within, "answered", self.answered)
        _part("abandoned_within", self.abandoned_within, "abandoned", self.abandoned)
        _part("short_abandons", self.short_abandons, "abandoned", self.abandoned)

    def _check_offered(self) -> None:
        _part("answered + abandoned", self.answered + self.abandoned, "offered", self.offered)


def _part(part_name: str, part: float, whole_name: str, whole: float) -> None:
    if part > whole:
        raise KpiError(f"{part_name} ({part}) cannot exceed {whole_name} ({whole})")


def _ratio(numerator: float, denominator: float, empty: float) -> float:
    return numerator / denominator if denominator else empty


def service_level(counts: QueueCounts, definition: ServiceLevel) -> float:
    """The service level of ``counts`` by ``definition`` (see :class:`ServiceLevel`), in
    [0, 1]; 1.0 when nobody is in the denominator."""
    c = counts
    if definition is ServiceLevel.ANSWERED:
        return _ratio(c.answered_within, c.answered, 1.0)
    if definition is ServiceLevel.ABANDONS_WITHIN_T_MET:
        return _ratio(c.answered_within + c.abandoned_within, c.answered + c.abandoned, 1.0)
    if definition is ServiceLevel.ABANDONS_WITHIN_T_EXCLUDED:
        return _ratio(c.answered_within, c.answered + c.abandoned - c.abandoned_within, 1.0)
    c._check_offered()
    if definition is ServiceLevel.OFFERED:
        return _ratio(c.answered_within, c.offered, 1.0)
    return _ratio(c.answered_within, c.offered - c.short_abandons, 1.0)


def abandon_rate(counts: QueueCounts, definition: AbandonRate) -> float:
    """The share of queued callers who hung up before an answer, by ``definition`` (see
    :class:`AbandonRate`), in [0, 1]; 0.0 when nobody is in the denominator."""
    c = counts
    if definition is AbandonRate.FINISHED:
        return _ratio(c.abandoned, c.answered + c.abandoned, 0.0)
    if definition is AbandonRate.FINISHED_LESS_SHORT_ABANDONS:
        return _ratio(c.abandoned - c.short_abandons,
                      c.answered + c.abandoned - c.short_abandons, 0.0)
    c._check_offered()
    if definition is AbandonRate.OFFERED:
        return _ratio(c.abandoned, c.offered, 0.0)
    return _ratio(c.abandoned - c.short_abandons, c.offered - c.short_abandons, 0.0)


def outbound_abandon_denominator(definition: OutboundAbandonRate, *, dials: int,
                                 live_answers: int, machines: int) -> int:
    """What an outbound abandon rate divides by under ``definition``."""
    if definition is OutboundAbandonRate.LIVE_ANSWERS:
        return live_answers
    if definition is OutboundAbandonRate.ALL_ANSWERS:
        return live_answers + machines
    return dials


def outbound_abandon_rate(definition: OutboundAbandonRate, *, abandoned: int, dials: int = 0,
                          live_answers: int = 0, machines: int = 0) -> float:
    """Abandoned outbound calls over the denominator ``definition`` names (see
    :class:`OutboundAbandonRate`); 0.0 when it is empty. Only the counts the definition uses
    are needed.

    Abandons are not checked against the denominator: in a rolling window (the dialer's
    ``AbandonMeter``) an abandon can still be inside when its answer has just left it.
    """
    _non_negative(abandoned=abandoned, dials=dials, live_answers=live_answers,
                  machines=machines)
    denominator = outbound_abandon_denominator(definition, dials=dials,
                                               live_answers=live_answers, machines=machines)
    return _ratio(abandoned, denominator, 0.0)


def average_speed_of_answer(total_wait_s: float, answered: int) -> float:
    """ASA: the total wait of answered calls (arrival in the queue to answer) / answered
    calls; 0.0 with no answer. Abandoned calls' waits are not in it."""
    _non_negative(total_wait_s=total_wait_s, answered=answered)
    return _ratio(total_wait_s, answered, 0.0)


def handle_time(talk_s: float, hold_s: float = 0.0, wrap_up_s: float = 0.0) -> float:
    """One call's handle time: talk + hold + wrap-up."""
    _non_negative(talk_s=talk_s, hold_s=hold_s, wrap_up_s=wrap_up_s)
    return talk_s + hold_s + wrap_up_s


def average_handle_time(total_handle_s: float, handled: int) -> float:
    """AHT: the sum of :func:`handle_time` (talk + hold + wrap-up) over finished calls /
    finished calls; 0.0 with none."""
    _non_negative(total_handle_s=total_handle_s, handled=handled)
    return _ratio(total_handle_s, handled, 0.0)


def occupancy(busy_s: float, available_s: float) -> float:
    """Occupancy: busy time / (busy + available time), available meaning ready and waiting
    for a call. Busy is reserved, ringing, on call, on hold and wrap-up. Not-ready time is in
    neither, so a break does not change it. 0.0 with no time at all."""
    _non_negative(busy_s=busy_s, available_s=available_s)
    return _ratio(busy_s, busy_s + available_s, 0.0)


def utilisation(busy_s: float, logged_in_s: float) -> float:
    """Utilisation: busy time / logged-in time (not-ready time included), so breaks lower
    it; at most the occupancy of the same period. 0.0 with no logged-in time."""
    _non_negative(busy_s=busy_s, logged_in_s=logged_in_s)
    _part("busy_s", busy_s, "logged_in_s", logged_in_s * (1.0 + 1e-9))
    return _ratio(busy_s, logged_in_s, 0.0)


def _non_negative(**values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise KpiError(f"{name}: cannot be negative, got {value}")


def contact_rate(live_answers: int, attempts: int) -> float:
    """Contact rate: outbound attempts a person answered / attempts dialled; 0.0 with
    none."""
    _non_negative(live_answers=live_answers, attempts=attempts)
    _part("live_answers", live_answers, "attempts", attempts)
    return _ratio(live_answers, attempts, 0.0)


def average_concurrency(call_s: float, period_s: float) -> float:
    """Trunk usage in erlangs: the seconds of calls carried / the seconds of the period, the
    mean number of calls in progress at once; 0.0 over an empty period."""
    _non_negative(call_s=call_s, period_s=period_s)
    return _ratio(call_s, period_s, 0.0)


DEFINITIONS: dict[str, str] = {
    "offered": "Calls that waited in the queue (every call the queue was given, whatever "
               "became of it; a call overflowed or transferred from another queue is "
               "offered in each queue it entered). Campaigns: attempts a person answered.",
    "answered": "Calls an operator answered: a queue's, the calls whose wait ended there "
                "with an answer; an operator's, every answer of theirs (a call transferred "
                "from one operator to another counts once for each).",
    "abandoned": "Callers who hung up while waiting in the queue, however quickly: in the "
                 "queue where their wait ended. Calls sent on to voicemail, a callback, "
                 "another queue or elsewhere are offered but not abandoned. Campaigns: a "
                 "person answered and no operator took the call in time.",
    "overflowed": "Waits in the queue that an overflow rule ended, sending the call to "
                  "another queue or elsewhere (offered here, neither answered nor "
                  "abandoned here).",
    "abandoned_short": "Abandoned calls that waited at most the site's short-abandon "
                       "threshold (short_abandon_s).",
    "answered_within": "Answered calls that waited at most the queue's service-level "
                       "threshold T (service_level_s).",
    "abandoned_within": "Abandoned calls that waited at most T.",
    "service_level": "Answered within T / answered (service level definition 'answered', "
                     "as on the wallboards).",
    "service_level_offered": "Answered within T / offered (service level definition "
                             "'offered': every abandon counts as failed).",
    "abandon_rate": "Abandoned / offered (abandon rate definition 'offered').",
    "asa_s": "Average speed of answer: the total wait of answered calls (from when the "
             "caller began waiting in a queue to the answer; an overflow does not start it "
             "again) / answered calls, in seconds.",
    "aht_s": "Average handle time: (talk + hold + after-call work) / answered calls, in "
             "seconds. A queue's: the talk of the conversations its answers began and its "
             "operators' wrap-ups of them; an operator's or team's: their time on call, on "
             "hold and in wrap-up.",
    "talk_s": "Seconds from the answer to the hang-up (hold included) of answered calls; "
              "a call handed on counts each operator's own talk (to the transfer), and a "
              "queue the talk until the call entered another queue.",
    "transfers": "Transfers made during the calls (blind and attended): a queue's, made "
                 "from the conversations its answers began; an operator's, their own.",
    "callbacks_requested": "Callbacks requested in the period (by callers in the queue or "
                           "by staff).",
    "callbacks_completed": "Of those, callbacks that reached the customer and an operator.",
    "occupancy": "Busy time / (busy + ready time); busy is reserved, ringing, on call, on "
                 "hold and wrap-up. Not-ready time is in neither.",
    "utilisation": "Busy time / logged-in time (not-ready time included).",
    "state_s": "Seconds in each operator state (ready, not_ready, reserved, ringing, on_call, "
               "on_hold, wrap_up) within the period, a state still current counted to now.",
    "not_ready_s_by_reason": "Not-ready seconds per reason code.",
    "logged_in_s": "Seconds logged in: the sum of every state's seconds.",
    "attempts": "Campaign calls dialled (finished attempts).",
    "live_answers": "Attempts a person answered (connected or abandoned).",
    "machines": "Attempts an answering machine answered.",
    "contact_rate": "Live answers / attempts.",
    "outbound_abandon_rate": "Abandoned / live answers (outbound definition "
                             "'live_answers').",
    "amd": "Answering-machine detection verdicts: human, machine, unknown.",
    "calls": "Finished calls (a trunk's, a number's: every call that used it).",
    "inbound": "Of the calls, those that came in.",
    "outbound": "Of the calls, those that went out.",
    "duration_s": "Seconds from the first leg's start to the last leg's end, summed.",
    "erlangs": "Trunk usage: call seconds / seconds of the period (mean calls in progress).",
    "location": "Where the operator works: remote or a named site (the user's location; "
                "'-' when not set; '*' in a total line).",
    "ready_s": "Seconds ready and waiting for a call.",
    "on_calls_s": "Seconds on calls: reserved, ringing, on call and on hold.",
    "wrap_up_s": "Seconds of after-call work (wrap-up).",
    "not_ready_s": "Seconds not ready (breaks and other reason codes).",
}
"""Each report figure's definition, shown next to it (docs/reports.md; the API's
``/api/reports/definitions``)."""
