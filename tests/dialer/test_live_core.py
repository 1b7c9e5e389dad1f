"""What the live dialer shell needs of the core: campaigns added while running, contacts taken
back from the store after a restart, tasks dialled at once, attempt ids from the site's id
source, the answering-machine policy (drop, message after the beep, pass to an operator), and
tasks withdrawn wherever they are (waiting, previewed, ringing, in a conversation)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from parley.dialer import (
    Calendar,
    CampaignStatus,
    CarriedConversation,
    CloseReason,
    ContactStatus,
    DialMode,
    MachinePolicy,
    NumberType,
    Strategy,
)
from parley.dialer.strategy import ContactState
from parley.events import (
    AgentStateChanged,
    AttemptAnswered,
    AttemptFailed,
    AttemptHungUp,
    AttemptRecorded,
    CampaignStart,
    ConnectAgent,
    ContactClosed,
    Dial,
    DialerAgentJoined,
    DispositionDefaulted,
    DispositionSet,
    HangupAttempt,
    PlayAgentlessMessage,
    PlayComplianceMessage,
    ReleaseAgent,
    ShowPreview,
)

from .test_engine import ALWAYS, EPOCH, Desk, config, contact, of

NIGHT = {t: Calendar.of(["01:00-02:00"]) for t in NumberType}  # EPOCH is noon UTC


def agentless(**kwargs: object) -> object:
    return config(DialMode.AGENTLESS, agents=frozenset(), agentless_queue="support",
                  max_lines=1, **kwargs)


def test_a_campaign_added_while_running_dials_its_contacts() -> None:
    desk = Desk()
    desk.agent("a1", "ready")
    out = desk.dialer.set_campaign(config(DialMode.PROGRESSIVE), desk.now)
    assert not of(Dial, out)  # created, not started
    desk.dialer.add_contacts("camp", [contact(1)], desk.now)
    out = desk.feed(CampaignStart("camp"))
    assert [d.contact_id for d in of(Dial, out)] == ["k1"]


def test_changed_settings_keep_the_contacts_and_the_status() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    changed = dataclasses.replace(config(DialMode.PROGRESSIVE), caller_id="+12125559999")
    desk.dialer.set_campaign(changed, 0)
    assert desk.dialer.status("camp") is CampaignStatus.RUNNING
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    assert (dial.contact_id, dial.caller_id) == ("k1", "+12125559999")


def test_attempt_ids_come_from_the_given_source() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    ids = iter(["att-0001", "att-0002"])
    desk.dialer._new_id = lambda _campaign: next(ids)
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    assert of(Dial, desk.agent("a1", "ready"))[0].attempt_id == "att-0001"


def test_restored_contacts_keep_their_counts_and_due_times() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE,
                       strategy=Strategy(windows=ALWAYS, max_attempts_per_contact=3)))
    later = ContactState(contact(1), due=600.0, attempts=1,
                         attempts_by_number={contact(1).numbers[0].e164: 1})
    spent = ContactState(contact(2), attempts=3)
    done = ContactState(contact(3), status=ContactStatus.DONE)
    cut = ContactState(contact(4), status=ContactStatus.IN_PROGRESS)  # the restart cut it
    desk.dialer.restore_contacts("camp", [later, spent, done, cut], 0)
    desk.feed(CampaignStart("camp"))
    out = desk.agent("a1", "ready")
    assert [d.contact_id for d in of(Dial, out)] == ["k4"]
    assert ContactClosed("camp", "k2", "attempts_exhausted") in desk.log
    assert desk.dialer.book("camp").open_count() == 2  # k1 and k4
    assert not desk.dialer.audit()


def test_a_conversation_carried_over_is_not_dialled_again_and_takes_its_disposition(
        ) -> None:
    """The other node had connected k1 to a1 when it failed: this node restores the contact
    in its call, a1 talking; another operator gets k2, k1 closes by a1's disposition."""
    desk = Desk(config(DialMode.PROGRESSIVE))
    desk.now = 100.0
    number = contact(1).numbers[0].e164
    talking = CarriedConversation("att-9", "k1", number, "a1", talked=40.0)
    in_call = ContactState(contact(1), status=ContactStatus.IN_PROGRESS, attempts=1,
                           attempts_by_number={number: 1})
    out = desk.dialer.restore_contacts("camp", [in_call, ContactState(contact(2))], desk.now,
                                       talking=[talking])
    desk.log += out
    desk.feed(CampaignStart("camp"))
    # the shell then tells the dialer its operators as the ACD has them
    desk.feed(DialerAgentJoined("a1", ""))
    assert not of(Dial, desk.feed(AgentStateChanged("a1", "logged_out", "on_call",
                                                    "dialer start", desk.now,
                                                    call_id="att-9")))
    assert desk.dialer.engagement("camp", "k1") == ("talking", "a1")
    assert desk.dialer.pacing_input("camp", desk.now).talking == 1
    assert [d.contact_id for d in of(Dial, desk.agent("a2", "ready"))] == ["k2"]
    assert not desk.dialer.audit()
    # the conversation ends on this node: wrap-up, then a1's disposition closes k1
    desk.states["a1"] = "on_call"
    desk.now = 130.0
    desk.agent("a1", "wrap_up")
    desk.feed(DispositionSet("att-9", "a1", "success"))
    assert ContactClosed("camp", "k1", "success") in desk.log
    assert desk.dialer.book("camp").states["k1"].attempts == 1  # not counted again
    assert not desk.dialer.audit()


def test_a_carried_conversation_that_cannot_go_on_leaves_its_contact_to_dial_again() -> None:
    """A conversation whose number is not the contact's any more (its list was changed),
    or whose contact was closed meanwhile, is not resumed: its contact waits as after a
    restart, a closed one stays closed."""
    desk = Desk(config(DialMode.PROGRESSIVE))
    strange = CarriedConversation("att-1", "k1", "+19995550000", "a1", talked=5.0)
    closed = CarriedConversation("att-2", "k2", contact(2).numbers[0].e164, "a2")
    desk.log += desk.dialer.restore_contacts(
        "camp", [ContactState(contact(1), status=ContactStatus.IN_PROGRESS),
                 ContactState(contact(2), status=ContactStatus.DONE)], 0.0,
        talking=[strange, closed])
    assert desk.dialer.engagement("camp", "k1") == ("waiting", None)
    assert desk.dialer.engagement("camp", "k2") == ("closed", None)
    desk.feed(CampaignStart("camp"))
    assert [d.contact_id for d in of(Dial, desk.agent("a1", "ready"))] == ["k1"]
    assert not desk.dialer.audit()


def test_a_task_to_dial_now_skips_pacing_in_agentless_mode() -> None:
    desk = Desk(agentless())
    desk.dialer.add_contacts("camp", [contact(1), contact(2)], 0)
    first = of(Dial, desk.feed(CampaignStart("camp")))
    assert [d.contact_id for d in first] == ["k1"]  # one line
    out = desk.dialer.dial_now("camp", "k2", 1.0)
    assert [d.contact_id for d in of(Dial, out)] == ["k2"]  # over the line limit: at once
    assert not desk.dialer.audit()


def test_a_task_to_dial_now_still_waits_for_its_call_window() -> None:
    desk = Desk(agentless(strategy=Strategy(windows=NIGHT)))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    assert not of(Dial, desk.dialer.dial_now("camp", "k1", 1.0))
    state = desk.dialer.book("camp").states["k1"]
    assert state.status is ContactStatus.PENDING
    opens = datetime(2026, 1, 6, 1, 0, tzinfo=UTC)
    assert EPOCH + timedelta(seconds=state.due) == opens
    assert not desk.dialer.audit()


def test_a_task_to_dial_now_goes_first_to_the_next_operator() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    desk.dialer.add_contacts("camp", [contact(1), contact(2)], 0)
    desk.feed(CampaignStart("camp"))
    desk.dialer.dial_now("camp", "k2", 1.0)
    assert [d.contact_id for d in of(Dial, desk.agent("a1", "ready"))] == ["k2"]


def answered_machine(policy: MachinePolicy) -> tuple[Desk, Dial, list[object]]:
    desk = Desk(config(DialMode.PROGRESSIVE, machine_policy=policy))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    desk.agent("a1", "reserved")
    desk.now = 10
    return desk, dial, desk.feed(AttemptAnswered(dial.attempt_id, human=False))


def test_machine_policy_drop_hangs_up_and_frees_the_operator() -> None:
    _, dial, out = answered_machine(MachinePolicy.DROP)
    assert HangupAttempt(dial.attempt_id, "machine") in out
    assert ReleaseAgent("camp", "a1") in out
    assert of(AttemptRecorded, out)[0].outcome == "machine"


def test_machine_policy_message_frees_the_operator_and_retries_later() -> None:
    desk, dial, out = answered_machine(MachinePolicy.MESSAGE)
    assert of(PlayAgentlessMessage, out) == [PlayAgentlessMessage(dial.attempt_id, "message")]
    assert ReleaseAgent("camp", "a1") in out
    out = desk.feed(AttemptHungUp(dial.attempt_id))
    assert of(AttemptRecorded, out)[0].outcome == "machine"
    assert desk.dialer.book("camp").states["k1"].status is ContactStatus.PENDING


def test_machine_policy_operator_connects_the_reserved_operator() -> None:
    desk, dial, out = answered_machine(MachinePolicy.OPERATOR)
    assert of(ConnectAgent, out) == [ConnectAgent(dial.attempt_id, "a1", "camp")]
    assert desk.dialer.stats("camp", 10).machines == 1


def test_a_withdrawn_waiting_task_closes_at_once() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    desk.dialer.add_contacts("camp", [contact(1), contact(2)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    other = "k2" if dial.contact_id == "k1" else "k1"
    assert desk.dialer.engagement("camp", other) == ("waiting", None)
    assert desk.dialer.cancel_contact("camp", other, desk.now) == [
        ContactClosed("camp", other, "cancelled")]
    assert desk.dialer.engagement("camp", other) == ("closed", None)
    assert desk.dialer.cancel_contact("camp", other, desk.now) == []
    assert not desk.dialer.audit()


def test_a_withdrawn_task_that_is_ringing_is_hung_up_recorded_and_closed() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    desk.agent("a1", "reserved")
    assert desk.dialer.engagement("camp", "k1") == ("ringing", "a1")
    desk.now = 4
    assert desk.dialer.cancel_contact("camp", "k1", desk.now) == [
        HangupAttempt(dial.attempt_id, "cancelled")]
    # The shell hangs up (CANCEL); the call ends as the network reports it.
    out = desk.feed(AttemptFailed(dial.attempt_id, "no_answer"))
    assert of(AttemptRecorded, out)[0].outcome == "no_answer"
    assert ReleaseAgent("camp", "a1") in out
    assert ContactClosed("camp", "k1", "cancelled") in out
    desk.agent("a1", "ready")
    assert not of(Dial, desk.tick(3 * 3600.0))  # never dialled again
    assert desk.dialer.book("camp").states["k1"].status is ContactStatus.DONE
    assert not desk.dialer.audit()


def test_an_answer_that_crosses_the_cancel_hears_who_called_and_closes() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    desk.agent("a1", "reserved")
    desk.dialer.cancel_contact("camp", "k1", desk.now)
    out = desk.feed(AttemptAnswered(dial.attempt_id, human=True))
    assert not of(ConnectAgent, out)  # the operator is not given a withdrawn task
    assert ReleaseAgent("camp", "a1") in out
    assert of(PlayComplianceMessage, out)
    assert of(AttemptRecorded, out)[0].outcome == "abandoned"
    assert ContactClosed("camp", "k1", "cancelled") in out
    assert not desk.dialer.audit()


def test_a_withdrawn_task_in_conversation_goes_on_and_closes_after_the_call() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    desk.agent("a1", "reserved")
    desk.feed(AttemptAnswered(dial.attempt_id, human=True))
    desk.agent("a1", "on_call")
    assert desk.dialer.engagement("camp", "k1") == ("talking", "a1")
    assert desk.dialer.cancel_contact("camp", "k1", desk.now) == []  # nobody is cut off
    desk.feed(AttemptHungUp(dial.attempt_id))
    desk.agent("a1", "wrap_up")
    # The operator promised a callback, but the task is gone: closed, not called back.
    out = desk.feed(DispositionSet(dial.attempt_id, "a1", "callback",
                                   EPOCH + timedelta(hours=2)))
    assert ContactClosed("camp", "k1", "cancelled") in out
    assert not desk.dialer.audit()


def test_a_withdrawn_task_in_preview_releases_the_operator() -> None:
    desk = Desk(config(DialMode.PREVIEW))
    desk.dialer.add_contacts("camp", [contact(1)], 0)
    desk.feed(CampaignStart("camp"))
    assert of(ShowPreview, desk.agent("a1", "ready"))
    assert desk.dialer.engagement("camp", "k1") == ("preview", "a1")
    out = desk.dialer.cancel_contact("camp", "k1", desk.now)
    assert out == [ReleaseAgent("camp", "a1"), ContactClosed("camp", "k1", "cancelled")]
    assert desk.dialer.previewing("a1") is None
    assert not desk.dialer.audit()


def test_a_customer_who_called_in_closes_the_task_with_its_own_reason() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    desk.dialer.add_contacts("camp", [contact(1), contact(2)], 0)
    desk.feed(CampaignStart("camp"))
    dial = of(Dial, desk.agent("a1", "ready"))[0]
    inbound = CloseReason.ANSWERED_INBOUND
    assert desk.dialer.cancel_contact("camp", dial.contact_id, reason=inbound) == []
    other = "k2" if dial.contact_id == "k1" else "k1"
    assert desk.dialer.cancel_contact("camp", other, reason=inbound) == [
        ContactClosed("camp", other, "answered_inbound")]
    assert desk.dialer.cancel_contact("camp", other, reason=inbound) == []  # closed already
    assert not desk.dialer.audit()


def test_operators_ready_before_the_contacts_arrive_get_them() -> None:
    desk = Desk(config(DialMode.PROGRESSIVE))
    desk.feed(CampaignStart("camp"))
    desk.agent("a1", "ready")  # nothing to dial yet
    out = desk.dialer.restore_contacts("camp", [ContactState(contact(1))], desk.now)
    assert [d.contact_id for d in of(Dial, out)] == ["k1"]


def _talked(desk: Desk, agent: str) -> Dial:
    """``agent`` reserved, their contact dialled, answered by a person and connected."""
    dial = of(Dial, desk.agent(agent, "ready"))[0]
    assert of(ConnectAgent, desk.feed(AttemptAnswered(dial.attempt_id, True)))
    desk.agent(agent, "on_call")
    return dial


def test_a_conversation_left_without_a_disposition_closes_at_the_operators_next_call(
        ) -> None:
    """A queue with no after-call work makes the operator ready the moment the customer
    hangs up: one who gives no disposition before the next campaign call has that
    conversation closed as a success, not left open for ever (its contact dialled again
    after a restart)."""
    desk = Desk(config(DialMode.PROGRESSIVE, agents=frozenset({"a1"})))
    desk.dialer.add_contacts("camp", [contact(1), contact(2), contact(3)], 0)
    desk.feed(CampaignStart("camp"))
    first = _talked(desk, "a1")
    desk.feed(AttemptHungUp(first.attempt_id))
    second = _talked(desk, "a1")  # ready at once (no wrap-up), reserved, connected
    assert DispositionDefaulted(first.attempt_id, "camp", first.contact_id, "a1", "success",
                                "next call") in desk.log
    assert ContactClosed("camp", first.contact_id, "success") in desk.log
    desk.feed(AttemptHungUp(second.attempt_id))
    desk.feed(DispositionSet(second.attempt_id, "a1", "not_interested"))  # given: kept
    third = _talked(desk, "a1")
    assert [d.attempt_id for d in of(DispositionDefaulted, desk.log)] == [first.attempt_id]
    assert ContactClosed("camp", second.contact_id, "not_interested") in desk.log
    # logging out without a disposition closes the conversation too
    desk.feed(AttemptHungUp(third.attempt_id))
    desk.agent("a1", "logged_out")
    assert of(DispositionDefaulted, desk.log)[-1] == DispositionDefaulted(
        third.attempt_id, "camp", third.contact_id, "a1", "success", "logged out")
    assert desk.dialer.book("camp").open_count() == 0
    assert not desk.dialer.audit()
