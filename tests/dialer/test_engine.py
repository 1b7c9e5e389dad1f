"""The dialer core, scenario by scenario: events in, commands out, time passed in."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from parley.dialer import (
    Calendar,
    CampaignConfig,
    CampaignStatus,
    Contact,
    Dialer,
    DialerError,
    DialMode,
    NumberRanges,
    NumberType,
    Outcome,
    PhoneNumber,
    Schedule,
    Strategy,
)
from parley.events import (
    AgentlessDigit,
    AgentStateChanged,
    AttemptAnswered,
    AttemptFailed,
    AttemptHungUp,
    AttemptRecorded,
    CampaignPause,
    CampaignStart,
    CampaignStop,
    ConnectAgent,
    ConnectFailed,
    ContactClosed,
    Dial,
    DialerAgentJoined,
    DispositionSet,
    DoNotCallAdded,
    HangupAttempt,
    InboundWaiting,
    PlayAgentlessMessage,
    PlayComplianceMessage,
    PreviewDecision,
    ReleaseAgent,
    ReserveAgent,
    ShowPreview,
    TransferToQueue,
)

EPOCH = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # Monday noon UTC
ALWAYS = {t: Calendar.of(["00:00-23:59:59.999999"]) for t in NumberType}
HOUR = 3600.0


def contact(i: int, zone: str = "UTC", numbers: int = 1) -> Contact:
    types = list(NumberType)
    return Contact(f"k{i}", tuple(PhoneNumber(f"+1212555{i:02d}{n:02d}", types[n], (zone,))
                                  for n in range(numbers)))


class Desk:
    """A dialer with a hand-moved clock; remembers every command it returned."""

    def __init__(self, *configs: CampaignConfig) -> None:
        self.now = 0.0
        self.dialer = Dialer(configs, wall_at=lambda t: EPOCH + timedelta(seconds=t))
        self.log: list[object] = []
        self.states: dict[str, str] = {}

    def feed(self, event: object) -> list[object]:
        out = self.dialer.handle(event, self.now)
        self.log += out
        return out

    def tick(self, to: float) -> list[object]:
        self.now = to
        out = self.dialer.on_time(to)
        self.log += out
        return out

    def agent(self, agent_id: str, new: str, team: str = "") -> list[object]:
        if agent_id not in self.states:
            self.feed(DialerAgentJoined(agent_id, team))
        old = self.states.get(agent_id, "logged_out")
        self.states[agent_id] = new
        return self.feed(AgentStateChanged(agent_id, old, new, "test", self.now))


def of(kind: type, commands: list[object]) -> list:  # type: ignore[type-arg]
    return [c for c in commands if isinstance(c, kind)]


def config(mode: DialMode, **kwargs: object) -> CampaignConfig:
    settings: dict[str, object] = {"strategy": Strategy(windows=ALWAYS),
                                   "agents": frozenset({"a1", "a2"})}
    settings.update(kwargs)
    return CampaignConfig("camp", mode, "+12125550000", **settings)  # type: ignore[arg-type]


def test_progressive_reserves_an_operator_before_each_dial() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    desk.dialer.add_contacts("camp", [contact(1), contact(2)], 0)
    desk.feed(CampaignStart("camp"))
    out = desk.agent("a1", "ready")
    reserve, dial = of(ReserveAgent, out)[0], of(Dial, out)[0]
    assert out.index(reserve) < out.index(dial)
    assert dial.reserved_agent == "a1"
    assert dial.caller_id == "+12125550000"
    assert reserve.call_id == dial.attempt_id
    desk.agent("a1", "reserved")
    desk.now = 5
    out = desk.feed(AttemptFailed(dial.attempt_id, "busy"))
    assert [type(c) for c in out] == [AttemptRecorded, ReleaseAgent]
    assert of(AttemptRecorded, out)[0].outcome == "busy"
    out = desk.agent("a1", "ready")
    second = of(Dial, out)[0]
    assert second.contact_id == "k2"  # k1 waits out its busy delay
    desk.now = 12
    out = desk.feed(AttemptAnswered(second.attempt_id, human=True))
    assert of(ConnectAgent, out) == [ConnectAgent(second.attempt_id, "a1", "camp")]


LOOSE = {"abandon_cap": 0.5, "abandon_margin": 0.0, "initial_contact_rate": 0.1}


def test_predictive_answer_without_operator_gets_compliance_message_after_2_seconds() -> None:
    desk = Desk(config(DialMode.PREDICTIVE, agents=frozenset({"a1"}), **LOOSE))
    desk.dialer.add_contacts("camp", [contact(i) for i in range(30)], 0)
    desk.feed(CampaignStart("camp"))
    out = desk.agent("a1", "ready")
    dials = of(Dial, out)
    assert len(dials) >= 2  # dials ahead of the one free operator
    assert all(d.reserved_agent is None for d in dials)
    desk.now = 10
    out = desk.feed(AttemptAnswered(dials[0].attempt_id, human=True))
    assert of(ConnectAgent, out) == [ConnectAgent(dials[0].attempt_id, "a1", "camp")]
    desk.agent("a1", "on_call")
    desk.now = 11
    out = desk.feed(AttemptAnswered(dials[1].attempt_id, human=True))
    assert not of(ConnectAgent, out)
    deadline = desk.dialer.next_deadline()
    assert deadline is not None
    assert deadline <= 13.0
    assert not of(PlayComplianceMessage, desk.tick(12.9))
    out = desk.tick(13.0)
    assert of(PlayComplianceMessage, out)[0].attempt_id == dials[1].attempt_id
    assert of(AttemptRecorded, out)[0].outcome == "abandoned"
    stats = desk.dialer.stats("camp", 13)
    assert (stats.abandoned, stats.live_answers) == (1, 2)
    assert stats.abandon_rate_window == pytest.approx(0.5)


def test_an_operator_freed_within_the_grace_takes_the_waiting_call() -> None:
    desk = Desk(config(DialMode.PREDICTIVE, agents=frozenset({"a1"}), **LOOSE))
    desk.dialer.add_contacts("camp", [contact(i) for i in range(30)], 0)
    desk.feed(CampaignStart("camp"))
    dials = of(Dial, desk.agent("a1", "ready"))
    desk.agent("a1", "not_ready")
    desk.now = 10
    desk.feed(AttemptAnswered(dials[0].attempt_id, human=True))
    desk.now = 11.5
    out = desk.agent("a1", "ready")
    assert of(ConnectAgent, out) == [ConnectAgent(dials[0].attempt_id, "a1", "camp")]
    assert not of(PlayComplianceMessage, desk.tick(20))


def test_a_call_answered_after_a_pause_reaches_a_ready_operator() -> None:
    """Pausing stops new dials only: the calls still ringing are answered by the operators
    who are ready (found by the live predictive benchmark: they got the compliance message
    while operators sat idle)."""
    desk = Desk(config(DialMode.PREDICTIVE, agents=frozenset({"a1"}), **LOOSE))
    desk.dialer.add_contacts("camp", [contact(i) for i in range(30)], 0)
    desk.feed(CampaignStart("camp"))
    dials = of(Dial, desk.agent("a1", "ready"))
    desk.now = 5
    assert not of(Dial, desk.feed(CampaignPause("camp")))
    desk.now = 10
    out = desk.feed(AttemptAnswered(dials[0].attempt_id, human=True))
    assert of(ConnectAgent, out) == [ConnectAgent(dials[0].attempt_id, "a1", "camp")]
    desk.agent("a1", "on_call")
    for dial in dials[1:]:
        desk.feed(AttemptFailed(dial.attempt_id, "no_answer"))
    desk.agent("a1", "ready")
    assert desk.dialer.pacing_input("camp", desk.now).ready == 0  # nothing left to answer
    assert not of(Dial, desk.tick(30))


def test_abandoned_number_comes_back_only_with_a_reserved_operator_within_72_hours() -> None:
    strategy = Strategy(windows=ALWAYS, retry_delays={Outcome.ABANDONED: 600.0})
    desk = Desk(config(DialMode.PREDICTIVE, agents=frozenset({"a1"}), strategy=strategy))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    desk.agent("a1", "not_ready")
    desk.now = 10
    desk.feed(AttemptAnswered(dial.attempt_id, human=True))
    desk.now = 11
    out = desk.feed(AttemptHungUp(dial.attempt_id))  # gave up before the 2 seconds
    assert of(AttemptRecorded, out)[0].outcome == "abandoned"
    assert not of(PlayComplianceMessage, out)
    # Past the retry delay, operators busy elsewhere: no predictive re-dial of that number.
    assert not of(Dial, desk.tick(2 * HOUR))
    out = desk.agent("a1", "ready")
    again = of(Dial, out)
    assert len(again) == 1
    assert again[0].number == dial.number
    assert again[0].reserved_agent == "a1"
    assert of(ReserveAgent, out)[0].agent_id == "a1"


def test_callback_at_a_time_in_the_customers_zone() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE, agents=frozenset({"a1"})))
    desk.dialer.add_contacts("camp", [contact(1, zone="Asia/Tokyo")], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    desk.agent("a1", "reserved")
    desk.now = 8
    desk.feed(AttemptAnswered(dial.attempt_id, human=True))
    desk.agent("a1", "on_call")
    desk.now = 100
    desk.feed(AttemptHungUp(dial.attempt_id))
    desk.agent("a1", "wrap_up")
    tokyo = ZoneInfo("Asia/Tokyo")
    at = datetime(2026, 1, 6, 10, 0, tzinfo=tokyo)  # 01:00 UTC on the 6th: 13 h after start
    desk.now = 110
    desk.feed(DispositionSet(dial.attempt_id, "a1", "callback", at))
    assert not of(Dial, desk.agent("a1", "ready"))
    due = (at - EPOCH).total_seconds()
    assert desk.dialer.next_deadline() == pytest.approx(due)
    desk.agent("a1", "not_ready")
    assert not of(Dial, desk.tick(due))  # the callback needs an operator
    out = desk.agent("a1", "ready")
    callback = of(Dial, out)[0]
    assert callback.contact_id == "k1"
    assert callback.reserved_agent == "a1"


def test_do_not_call_disposition_lists_every_number_and_closes_the_contact() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE, agents=frozenset({"a1"})))
    desk.dialer.add_contacts("camp", [contact(1, numbers=3)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    desk.feed(AttemptAnswered(dial.attempt_id, human=True))
    desk.agent("a1", "on_call")
    desk.feed(AttemptHungUp(dial.attempt_id))
    desk.agent("a1", "wrap_up")
    out = desk.feed(DispositionSet(dial.attempt_id, "a1", "do_not_call"))
    assert ContactClosed("camp", "k1", "do_not_call") in out
    book = desk.dialer.book("camp")
    numbers = tuple(n.e164 for n in book.states["k1"].contact.numbers)
    # The site's list (the customer asked it of the company), told to the shell to store.
    assert DoNotCallAdded("camp", "k1", dial.attempt_id, "a1", "global", numbers) in out
    assert all(n in desk.dialer.global_dnc for n in numbers)
    assert all(book.is_dnc(n) for n in numbers)


def test_a_do_not_call_disposition_bars_the_numbers_in_every_campaign() -> None:
    first = config(DialMode.PROGRESSIVE, agents=frozenset({"a1"}))
    other = dataclasses.replace(first, campaign_id="other")
    desk = Desk(first, other)
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.dialer.add_contacts("other", [Contact("o1", contact(1).numbers)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    desk.feed(AttemptAnswered(dial.attempt_id, human=True))
    desk.agent("a1", "on_call")
    desk.feed(AttemptHungUp(dial.attempt_id))
    desk.agent("a1", "wrap_up")
    desk.feed(DispositionSet(dial.attempt_id, "a1", "do_not_call"))
    desk.agent("a1", "ready")
    out = desk.feed(CampaignStart("other"))
    assert not of(Dial, out)  # the same number in another campaign is not dialled
    assert not of(Dial, desk.tick(60.0))
    assert ContactClosed("other", "o1", "no_valid_number") in desk.log


def test_wrong_number_drops_that_number_and_tries_the_next() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE, agents=frozenset({"a1"})))
    desk.dialer.add_contacts("camp", [contact(1, numbers=2)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    assert dial.number_type == "mobile"  # the strategy's first type
    desk.feed(AttemptAnswered(dial.attempt_id, human=True))
    desk.agent("a1", "on_call")
    desk.feed(AttemptHungUp(dial.attempt_id))
    desk.agent("a1", "wrap_up")
    desk.feed(DispositionSet(dial.attempt_id, "a1", "wrong_number"))
    nxt = of(Dial, desk.agent("a1", "ready"))[0]
    assert nxt.contact_id == "k1"
    assert nxt.number_type == "home"


def test_preview_shows_the_contact_then_dials_or_skips() -> None:
    desk = Desk(config(DialMode.PREVIEW, agents=frozenset({"a1"})))
    desk.dialer.add_contacts("camp", [contact(1, numbers=2), contact(2)], 0)
    desk.feed(CampaignStart("camp"))
    out = desk.agent("a1", "ready")
    shown = of(ShowPreview, out)[0]
    assert of(ReserveAgent, out)
    assert not of(Dial, out)
    assert shown.contact_id == "k1"
    assert len(shown.numbers) == 2
    desk.agent("a1", "reserved")
    out = desk.feed(PreviewDecision("a1", "k1", dial=False))
    assert of(ReleaseAgent, out)
    out = desk.agent("a1", "ready")
    assert of(ShowPreview, out)[0].contact_id == "k2"
    desk.agent("a1", "reserved")
    with pytest.raises(DialerError, match="may not be dialled"):
        desk.feed(PreviewDecision("a1", "k2", dial=True, number="+19999999999"))
    dial = of(Dial, desk.feed(PreviewDecision("a1", "k2", dial=True)))[0]
    assert dial.reserved_agent == "a1"
    with pytest.raises(DialerError, match="no preview"):
        desk.feed(PreviewDecision("a1", "k2", dial=True))


def test_a_preview_that_outlasts_the_call_window_is_not_dialled() -> None:
    """The operator takes their time: the window closes while the contact is on screen. The
    decision to dial comes too late, so nothing is dialled, the operator is freed, and the
    contact comes back when its window opens again."""
    morning = {t: Calendar.of(["09:00-12:30"]) for t in NumberType}
    desk = Desk(config(DialMode.PREVIEW, agents=frozenset({"a1"}),
                       strategy=Strategy(windows=morning)))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    assert of(ShowPreview, desk.agent("a1", "ready"))[0].contact_id == "k1"  # 12:00, open
    desk.agent("a1", "reserved")
    desk.now = HOUR  # 13:00: the window closed at 12:30
    out = desk.feed(PreviewDecision("a1", "k1", dial=True))
    assert not of(Dial, out)
    assert of(ReleaseAgent, out)
    assert not of(ShowPreview, desk.agent("a1", "ready"))  # nothing may be dialled now
    out = desk.tick(21 * HOUR + 60)  # 09:01 the next morning
    assert of(ShowPreview, out)[0].contact_id == "k1"


def test_agentless_uses_trunk_lines_plays_the_message_and_press_1_reaches_the_queue() -> None:
    desk = Desk(config(DialMode.AGENTLESS, agents=frozenset(), max_lines=3,
                       agentless_queue="sales"))
    desk.dialer.add_contacts("camp", [contact(i) for i in range(10)], 0)
    dials = of(Dial, desk.feed(CampaignStart("camp")))
    assert len(dials) == 3
    out = desk.feed(AttemptAnswered(dials[0].attempt_id, human=True))
    assert of(PlayAgentlessMessage, out)
    assert not of(Dial, out)  # the line is still busy with the message
    out = desk.feed(AgentlessDigit(dials[0].attempt_id, "1"))
    assert of(TransferToQueue, out) == [TransferToQueue(dials[0].attempt_id, "sales")]
    assert ContactClosed("camp", "k0", "success") in out
    assert len(of(Dial, out)) == 1  # the freed line dials the next contact
    out = desk.feed(AttemptAnswered(dials[1].attempt_id, human=False))
    assert of(HangupAttempt, out)
    assert of(AttemptRecorded, out)[0].outcome == "machine"


def test_priority_decides_which_campaign_a_shared_operator_serves() -> None:
    high = config(DialMode.PROGRESSIVE, priority=5, agents=frozenset({"a1"}))
    low = CampaignConfig("low", DialMode.PROGRESSIVE, "+12125550001",
                         strategy=Strategy(windows=ALWAYS), teams=frozenset({"blue"}))
    desk = Desk(low, high)
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.dialer.add_contacts("low", [contact(2)], 0)
    desk.feed(CampaignStart("camp"))
    desk.feed(CampaignStart("low"))
    out = desk.agent("a1", "ready", team="blue")
    assert of(Dial, out)[0].campaign_id == "camp"
    desk.agent("a1", "reserved")
    desk.feed(AttemptFailed(of(Dial, out)[0].attempt_id, "no_answer"))
    desk.feed(CampaignPause("camp"))
    out = desk.agent("a1", "ready")
    assert of(Dial, out)[0].campaign_id == "low"
    assert desk.dialer.status("camp") is CampaignStatus.PAUSED


def test_inbound_first_holds_blended_operators_back() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE, blend_queues=frozenset({"support"})))
    desk.dialer.add_contacts("camp", [contact(i) for i in range(5)], 0)
    desk.feed(CampaignStart("camp"))
    desk.feed(InboundWaiting("support", 1))
    assert not of(Dial, desk.agent("a1", "ready"))  # the ACD takes a1 for the waiting call
    out = desk.agent("a2", "ready")
    assert len(of(Dial, out)) == 1  # one waiting call holds one operator back, not two
    desk.feed(InboundWaiting("support", 0))
    assert len(of(Dial, desk.tick(1))) == 0  # both operators are now reserved for dials
    outbound_first = Desk(config(DialMode.PROGRESSIVE, blend_queues=frozenset({"support"}),
                                 inbound_first=False))
    outbound_first.dialer.add_contacts("camp", [contact(1)], 0)
    outbound_first.feed(CampaignStart("camp"))
    outbound_first.feed(InboundWaiting("support", 3))
    assert of(Dial, outbound_first.agent("a1", "ready"))


def test_schedule_and_stop() -> None:
    night = Schedule(Calendar.of(["20:00-22:00"]), "Europe/Paris")
    desk = Desk(config(DialMode.PROGRESSIVE, schedule=night))
    desk.dialer.add_contacts("camp", [contact(i) for i in range(3)], 0)
    desk.feed(CampaignStart("camp"))
    assert not of(Dial, desk.agent("a1", "ready"))  # 13:00 in Paris
    assert of(Dial, desk.tick(7 * HOUR))  # 20:00 in Paris
    out = desk.feed(CampaignStop("camp"))
    closed = of(ContactClosed, out)
    assert {c.reason for c in closed} == {"campaign_stopped"}
    assert len(closed) == 2  # k0 is being dialled for a1; k1 and k2 were waiting
    assert desk.dialer.status("camp") is CampaignStatus.STOPPED
    dial = of(Dial, desk.log)[0]
    out = desk.feed(AttemptFailed(dial.attempt_id, "busy"))
    assert ContactClosed("camp", dial.contact_id, "campaign_stopped") in out
    with pytest.raises(DialerError, match="is stopped"):
        desk.feed(CampaignStart("camp"))


def test_bad_events_are_refused_clearly() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    with pytest.raises(DialerError, match="does not take str events"):
        desk.feed("hello")
    with pytest.raises(DialerError, match="no campaign 'nope'"):
        desk.feed(CampaignStart("nope"))
    with pytest.raises(DialerError, match="no conversation"):
        desk.feed(DispositionSet("camp-99", "a1", "success"))
    with pytest.raises(DialerError, match="agentless mode needs"):
        config(DialMode.AGENTLESS)
    with pytest.raises(DialerError, match="abandon_cap"):
        config(DialMode.PREDICTIVE, abandon_cap=3.0)


def test_campaign_loader_uses_its_region_zone_dnc_lists_and_existing_contacts() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE, default_region="GB",
                       default_time_zone="Europe/London"))
    desk.dialer.global_dnc.add("+442079460001")
    loader = desk.dialer.loader("camp")
    first = loader.load_csv("contact_id,mobile\nx,020 7946 0000\ny,020 7946 0001\n")
    assert [c.id for c in first.accepted] == ["x"]
    assert "do-not-call list global" in first.rejected[0].reasons[0]
    desk.dialer.add_contacts("camp", first.accepted, 0)
    again = desk.dialer.loader("camp").load_csv("contact_id,mobile\nz,020 7946 0000\n")
    assert "already belongs to an earlier load" in again.rejected[0].reasons[0]


def test_campaign_loader_places_numbers_with_the_sites_range_table() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE, default_region="RU",
                       default_time_zone="Europe/Moscow"))
    table = NumberRanges.from_csv("prefix,region,zone\n7913,Novosibirsk Oblast,"
                                  "Asia/Novosibirsk\n")
    report = desk.dialer.loader("camp", ranges=table).load_csv(
        "contact_id,mobile\nn,8 913 123 45 67\nm,8 916 123 45 67\n")
    zones = {c.id: c.numbers[0].time_zones for c in report.accepted}
    assert zones == {"n": ("Asia/Novosibirsk",), "m": ("Europe/Moscow",)}


def test_a_rescheduled_preview_comes_back_at_the_customers_time_without_an_attempt() -> None:
    """The operator moves the contact to 15:00 in the customer's zone: the operator is freed,
    the next contact is shown, and the first comes back (not counted as an attempt) at that
    instant and not before."""
    desk = Desk(config(DialMode.PREVIEW, agents=frozenset({"a1"}),
                       strategy=Strategy(windows=ALWAYS, skip_delay_s=10 * HOUR)))
    desk.dialer.add_contacts("camp", [contact(1, "Europe/Moscow"), contact(2)], 0)
    desk.feed(CampaignStart("camp"))
    assert of(ShowPreview, desk.agent("a1", "ready"))[0].contact_id == "k1"
    desk.agent("a1", "reserved")
    moscow = ZoneInfo("Europe/Moscow")
    with pytest.raises(DialerError, match="time zone"):
        desk.feed(PreviewDecision("a1", "k1", dial=False,
                                  reschedule_at=datetime(2026, 1, 5, 18, 0)))
    with pytest.raises(DialerError, match="in the past"):
        desk.feed(PreviewDecision("a1", "k1", dial=False,
                                  reschedule_at=datetime(2026, 1, 5, 14, 59, tzinfo=moscow)))
    with pytest.raises(DialerError, match="not both"):
        desk.feed(PreviewDecision("a1", "k1", dial=True,
                                  reschedule_at=datetime(2026, 1, 5, 18, 0, tzinfo=moscow)))
    assert desk.dialer.previewing("a1") == "k1"  # a refused decision keeps the preview
    # 18:00 in Moscow is 15:00 UTC, three hours after the test's noon.
    out = desk.feed(PreviewDecision("a1", "k1", dial=False,
                                    reschedule_at=datetime(2026, 1, 5, 18, 0, tzinfo=moscow)))
    assert of(ReleaseAgent, out)
    assert not of(Dial, out)
    state = desk.dialer.book("camp").states["k1"]
    assert state.attempts == 0
    assert state.due == pytest.approx(3 * HOUR)
    assert desk.dialer.preview("a1") is None
    assert of(ShowPreview, desk.agent("a1", "ready"))[0].contact_id == "k2"
    desk.agent("a1", "reserved")
    desk.feed(PreviewDecision("a1", "k2", dial=False))
    desk.agent("a1", "ready")
    assert not of(ShowPreview, desk.tick(3 * HOUR - 60))  # k2 skipped for long; k1 waits
    out = desk.tick(3 * HOUR)
    assert of(ShowPreview, out)[0].contact_id == "k1"
    campaign, pick = desk.dialer.preview("a1") or ("", None)
    assert campaign == "camp"
    assert pick is not None
    assert pick.state.contact.id == "k1"
    assert desk.dialer.audit() == []


def test_an_operator_who_does_not_take_the_answered_call_passes_it_on_never_connected() -> None:
    """The operator's phone rang out (or refused): the customer goes to the next free
    operator, never back to one who missed it; with nobody left they hear the compliance
    message and count as abandoned, not connected."""
    desk = Desk(config(DialMode.PROGRESSIVE, agents=frozenset({"a1", "a2"})))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    desk.agent("a1", "reserved")
    desk.agent("a2", "ready")
    desk.now = 10
    out = desk.feed(AttemptAnswered(dial.attempt_id, human=True))
    assert of(ConnectAgent, out) == [ConnectAgent(dial.attempt_id, "a1", "camp")]
    desk.agent("a1", "on_call")
    assert desk.feed(ConnectFailed(dial.attempt_id, "a2")) == []  # not a2's call: nothing
    desk.now = 30
    out = desk.feed(ConnectFailed(dial.attempt_id, "a1"))
    assert of(ConnectAgent, out) == [ConnectAgent(dial.attempt_id, "a2", "camp")]
    desk.agent("a2", "on_call")
    desk.agent("a1", "ready")  # freed by the ACD: the call a1 missed is a2's now
    assert desk.dialer.stats("camp", 30).connected == 1
    desk.now = 50
    out = desk.feed(ConnectFailed(dial.attempt_id, "a2"))
    assert not of(ConnectAgent, out)  # a1 is ready, but missed it already
    out = desk.tick(50)
    assert of(PlayComplianceMessage, out)[0].attempt_id == dial.attempt_id
    assert of(AttemptRecorded, out)[-1].outcome == "abandoned"
    stats = desk.dialer.stats("camp", 50)
    assert (stats.connected, stats.abandoned, stats.live_answers) == (0, 1, 1)
    assert desk.dialer.pacing_input("camp", 50).talking == 0
    with pytest.raises(DialerError, match="no conversation to disposition"):
        desk.feed(DispositionSet(dial.attempt_id, "a1", "success"))


def test_a_customer_who_hangs_up_while_the_operator_rings_is_abandoned() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE, agents=frozenset({"a1"})))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    desk.agent("a1", "reserved")
    desk.now = 10
    desk.feed(AttemptAnswered(dial.attempt_id, human=True))
    desk.agent("a1", "on_call")
    desk.now = 14
    out = desk.feed(ConnectFailed(dial.attempt_id, "a1", customer_gone=True))
    assert not of(PlayComplianceMessage, out)  # nobody left to hear it
    assert of(AttemptRecorded, out)[-1].outcome == "abandoned"
    assert desk.feed(AttemptHungUp(dial.attempt_id)) == []
    stats = desk.dialer.stats("camp", 14)
    assert (stats.connected, stats.abandoned) == (0, 1)
