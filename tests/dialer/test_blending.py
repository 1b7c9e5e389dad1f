"""The seam between the dialer and the ACD: operators who serve a campaign and an inbound queue.

A small shell wires the two pure cores as production does: the dialer's ``ReserveAgent``,
``ConnectAgent`` and ``ReleaseAgent`` go into ``Acd.handle`` as ``ReserveForOutbound``,
``OutboundConnected`` and ``OutboundReleased``; each batch of the ACD's ``AgentStateChanged``
notices goes back to the dialer as one net change per operator (``net_changes``).
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from parley import events as ev
from parley.acd import AcdError, Agent, QueueConfig
from parley.acd.core import Acd
from parley.acd.outbound import net_changes
from parley.dialer import (
    Calendar,
    CampaignConfig,
    Contact,
    Dialer,
    DialMode,
    NumberType,
    PhoneNumber,
    Strategy,
)

EPOCH = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ALWAYS = {t: Calendar.of(["00:00-23:59:59.999999"]) for t in NumberType}
OPERATORS = ("a1", "a2")


class Shell:
    """The ACD and the dialer on a hand-moved clock, fed to each other in order."""

    def __init__(self, *, inbound_first: bool = True, net: bool = True,
                 tolerant: bool = False) -> None:
        self.now = 0.0
        queue = QueueConfig("support", members=OPERATORS, wrap_up_s=0.0, ring_timeout_s=15.0)
        self.acd = Acd([queue], [Agent(a) for a in OPERATORS])
        campaign = CampaignConfig("camp", DialMode.PROGRESSIVE, "+12125550000",
                                  agents=frozenset(OPERATORS),
                                  strategy=Strategy(windows=ALWAYS),
                                  blend_queues=frozenset({"support"}),
                                  inbound_first=inbound_first, outbound_first_s=15.0)
        self.dialer = Dialer([campaign], wall_at=lambda t: EPOCH + timedelta(seconds=t))
        self.dialer.add_contacts("camp", [
            Contact(f"k{i}", (PhoneNumber(f"+1212555{i:04d}", NumberType.MOBILE, ("UTC",)),))
            for i in range(20)], 0.0)
        self.net = net
        self.tolerant = tolerant  # log refused reservations, as the production shell does
        self.refused: list[str] = []
        self.acd_out: list[object] = []
        self.dialer_out: list[object] = []
        self._pending: deque[object] = deque()
        self._draining = False
        for agent_id in OPERATORS:
            self.to_dialer(ev.DialerAgentJoined(agent_id))
        self.to_dialer(ev.CampaignStart("camp"))

    def to_acd(self, event: ev.AcdEvent) -> None:
        out = self.acd.handle(event, self.now)
        self.acd_out += out
        if self.net:
            changes = net_changes(out)
        else:
            changes = [c for c in out if isinstance(c, ev.AgentStateChanged)]
        for change in changes:
            self.to_dialer(change)

    def to_dialer(self, event: object) -> None:
        self._pending.append(event)
        if self._draining:
            return
        self._draining = True
        try:
            while self._pending:
                out = self.dialer.handle(self._pending.popleft(), self.now)
                self.dialer_out += out
                self.execute(out)
        finally:
            self._draining = False

    def execute(self, commands: list[object]) -> None:
        for command in commands:
            if isinstance(command, ev.ReserveAgent):
                try:
                    self.to_acd(ev.ReserveForOutbound(command.agent_id, command.campaign_id,
                                                      command.call_id,
                                                      command.outbound_first_s))
                except AcdError as exc:
                    if not self.tolerant:
                        raise
                    self.refused.append(str(exc))
            elif isinstance(command, ev.ConnectAgent):
                self.to_acd(ev.OutboundConnected(command.agent_id, command.attempt_id,
                                                 command.campaign_id,
                                                 outbound_first_s=command.outbound_first_s))
            elif isinstance(command, ev.ReleaseAgent):
                self.to_acd(ev.OutboundReleased(command.agent_id))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        if (deadline := self.acd.next_deadline()) is not None and deadline <= self.now:
            out = self.acd.on_time(self.now)
            self.acd_out += out
            for change in net_changes(out):
                self.to_dialer(change)

    def dial_for(self, agent_id: str) -> ev.Dial:
        return [d for d in self.dialer_out
                if isinstance(d, ev.Dial) and d.reserved_agent == agent_id][-1]

    def offers(self, call_id: str) -> list[str]:
        return [o.agent_id for o in self.acd_out
                if isinstance(o, ev.OfferCall) and o.call_id == call_id]

    def reservations(self, agent_id: str) -> int:
        return sum(1 for r in self.dialer_out
                   if isinstance(r, ev.ReserveAgent) and r.agent_id == agent_id)


def logged_in_and_dialling(shell: Shell) -> None:
    for agent_id in OPERATORS:
        shell.to_acd(ev.AgentLogin(agent_id, f"sip:{agent_id}"))
    assert {a.state.value for a in shell.acd.agents.values()} == {"reserved"}
    assert set(shell.acd.outbound) == set(OPERATORS)


def test_a_blended_operator_takes_waiting_inbound_before_the_next_outbound_dial() -> None:
    shell = Shell()
    logged_in_and_dialling(shell)
    # An inbound caller arrives while both operators are held for outbound dials: it waits.
    shell.to_acd(ev.RouteCall("in1", "support"))
    assert shell.offers("in1") == []
    # a2's dial is busy: the dialer releases a2, who takes the waiting caller at once.
    shell.advance(5)
    shell.to_dialer(ev.AttemptFailed(shell.dial_for("a2").attempt_id, "busy"))
    assert shell.offers("in1") == ["a2"]
    assert shell.reservations("a2") == 1  # the dialer never reached for a2 again
    # a1 talks to a customer; meanwhile a second caller waits.
    attempt = shell.dial_for("a1").attempt_id
    shell.to_dialer(ev.AttemptAnswered(attempt, human=True))
    assert shell.acd.agents["a1"].state.value == "on_call"
    shell.to_acd(ev.RouteCall("in2", "support"))
    shell.advance(60)
    shell.to_dialer(ev.AttemptHungUp(attempt))
    shell.to_acd(ev.AgentLegEnded(attempt, "a1"))
    assert shell.acd.agents["a1"].state.value == "wrap_up"
    shell.to_dialer(ev.DispositionSet(attempt, "a1", "not_interested"))
    shell.to_acd(ev.WrapUpDone("a1", "ready"))
    # Inbound first: the waiting caller gets a1; the dialer never tried to take a1.
    assert shell.offers("in2") == ["a1"]
    assert shell.reservations("a1") == 1
    assert shell.acd.agent_stats["a1"].outbound == 1


def test_fed_step_by_step_the_dialer_would_grab_an_operator_already_given_to_inbound() -> None:
    """Why the shell feeds net changes: wrap_up -> ready -> reserved (an inbound offer) is one
    ACD batch, and a dialer told "ready" alone reserves an operator the ACD just gave away."""
    shell = Shell(net=False)
    logged_in_and_dialling(shell)
    attempt = shell.dial_for("a1").attempt_id
    shell.to_dialer(ev.AttemptAnswered(attempt, human=True))
    shell.to_acd(ev.RouteCall("in1", "support"))
    shell.to_acd(ev.AgentLegEnded(attempt, "a1"))
    with pytest.raises(AcdError, match="being offered inbound call in1"):
        shell.to_acd(ev.WrapUpDone("a1", "ready"))


def test_a_refused_reservation_leaves_the_dialer_consistent() -> None:
    """If the dialer reserves from a stale view anyway, the ACD refuses, and the dialer drops
    its hold when it hears the operator took another call: the dial goes on without them."""
    shell = Shell(net=False, tolerant=True)
    logged_in_and_dialling(shell)
    attempt = shell.dial_for("a1").attempt_id
    shell.to_dialer(ev.AttemptAnswered(attempt, human=True))
    shell.to_acd(ev.RouteCall("in1", "support"))
    shell.to_acd(ev.AgentLegEnded(attempt, "a1"))
    shell.to_acd(ev.WrapUpDone("a1", "ready"))
    assert len(shell.refused) == 1
    assert "being offered inbound call in1" in shell.refused[0]
    assert shell.offers("in1") == ["a1"]
    stale = shell.dial_for("a1")  # dialled for a1, whom the ACD never reserved
    assert stale.attempt_id != attempt
    shell.advance(8)
    shell.to_dialer(ev.AttemptAnswered(stale.attempt_id, human=True))
    connects = [c for c in shell.dialer_out if isinstance(c, ev.ConnectAgent)]
    assert all(c.attempt_id != stale.attempt_id for c in connects)  # a1 is not grabbed
    shell.advance(2)
    out = shell.dialer.on_time(shell.now)  # nobody free within the grace: compliance message
    assert [c.attempt_id for c in out if isinstance(c, ev.PlayComplianceMessage)] == [
        stale.attempt_id]
    assert shell.dialer.audit() == []


def test_outbound_first_campaign_keeps_its_operator_and_inbound_waits_for_the_hold() -> None:
    shell = Shell(inbound_first=False)
    logged_in_and_dialling(shell)
    shell.to_acd(ev.RouteCall("in1", "support"))
    shell.advance(5)
    shell.to_dialer(ev.AttemptFailed(shell.dial_for("a2").attempt_id, "no_answer"))
    # Released with the campaign's outbound-first hold: the dialer reserves a2 again at once.
    assert shell.offers("in1") == []
    assert shell.reservations("a2") == 2
    assert shell.acd.agents["a2"].state.value == "reserved"
