"""The dialer's calls, one coroutine each: dial out, detect a machine, then talk.

:class:`OutboundCalls` carries out the dialer's per-call commands for
:class:`~parley.center.dialer_shell.DialerShell`: a ``Dial`` goes out through the outbound
routes and trunks with the campaign's caller ID and ring timeout; the final SIP status tells
the outcome (:func:`outcome_of`); an answer is checked for an answering machine when the
campaign asks; the answered customer is bridged to the operator's phone with the contact's
card, hears the agentless message (its ``${...}`` fields filled from the contact), the
compliance message, or is taken into an ACD queue after "press 1". Every step updates the
attempt's stored facts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import structlog

from parley import events as ev
from parley.center.calls import InboundCall, ToQueue
from parley.center.ivr_shell import play_and_wait
from parley.center.ports import AttemptFacts, StoredCampaign
from parley.events import HangupCause
from parley.ivr.environment import IvrEnvironment
from parley.ivr.errors import ExpressionError
from parley.ivr.expr import ListLookup, QueueFigures, Template
from parley.numbering import LineRight
from parley.routes import OutboundRefused
from parley.telephony.channel import Channel, ChannelError, until
from parley.telephony.engine import OriginateError
from parley.telephony.media import Speech

if TYPE_CHECKING:
    from parley.center.acd_shell import AcdShell
    from parley.center.dialer_shell import DialerShell

log = structlog.get_logger("parley.center.dialer")

OPERATOR_RING_S = 20.0  # the operator's phone rings this long before the call counts lost
AMD_LIMIT_S = 8.0  # no verdict this long after the answer: "unknown" (a person, by policy)
GREETING_LIMIT_S = 30.0  # a machine's greeting longer than this: leave the message anyway
DIGIT_AFTER_MESSAGE_S = 5.0  # "press 1" is still heard this long after the message
COMPLIANCE_DEFAULT = "This call was made on behalf of the company. We will call you later."

#: Final SIP statuses of the call out and the dialer's outcome for each (others: failed).
BUSY_STATUSES = frozenset({486, 600})
NO_ANSWER_STATUSES = frozenset({408, 480, 487})
INVALID_STATUSES = frozenset({404, 484, 604})
#: What the network's early media says (``EarlyMediaResult.cause``) and the outcome it gives.
EARLY_MEDIA_OUTCOMES = {"busy": "busy", "congestion": "failed", "unavailable": "no_answer",
                        "invalid": "invalid"}


def outcome_of(status: int | None, *, timed_out: bool = False,
               cause: HangupCause | None = None) -> str:
    """The dialer's outcome of an unanswered call from its final SIP status: 486/600 busy;
    408/480/487 or the ring timeout no answer; 404/484/604 invalid; anything else failed."""
    if timed_out:
        return "no_answer"
    if status in BUSY_STATUSES:
        return "busy"
    if status in NO_ANSWER_STATUSES:
        return "no_answer"
    if status in INVALID_STATUSES:
        return "invalid"
    if status is None and cause in (HangupCause.NO_ANSWER, HangupCause.NO_USER_RESPONSE,
                                    HangupCause.ORIGINATOR_CANCEL):
        return "no_answer"
    if status is None and cause is HangupCause.USER_BUSY:
        return "busy"
    return "failed"


class _Fields:
    """The expression context of a campaign message: the contact's fields by name."""

    def __init__(self, fields: dict[str, str], now: datetime) -> None:
        self._fields = fields
        self._now = now
        self._env = IvrEnvironment()

    def variable(self, name: str) -> str:
        return self._fields.get(name, "")

    def local_now(self) -> datetime:
        return self._now

    def is_holiday(self, day: date, calendar: str | None) -> bool:
        return False

    @property
    def lists(self) -> ListLookup:
        return self._env.lists

    @property
    def queues(self) -> QueueFigures:
        return self._env.queues


def render_message(template: str, fields: dict[str, str], now: datetime) -> str:
    """The campaign's message with the task's fields (the IVR's ``${...}`` templates); a
    field the contact lacks is said as nothing. Raises :class:`ExpressionError` for a
    malformed template."""
    return Template.compile(template).render(_Fields(fields, now))


async def talk_to_the_end(acd: AcdShell, call: InboundCall, customer: Channel,
                          operator: Channel, agent_id: str) -> None:
    """A campaign's customer and operator talk until one hangs up: then the other is hung
    up and the operator's after-call work begins."""
    await until(None, (customer.ended_signal, operator.ended_signal), None)
    call.final = "answered"
    acd.mark_hung_up(call, "caller" if customer.ended else agent_id)
    acd.end_conversation(call)
    acd.hangup(call, HangupCause.NORMAL_CLEARING)
    acd.feed(ev.AgentLegEnded(call.acd_id, agent_id))


@dataclass(eq=False)
class LiveAttempt:
    """One dialled attempt while its call lasts."""

    command: ev.Dial
    campaign: StoredCampaign
    facts: AttemptFacts
    fields: dict[str, str]
    leg: Channel | None = None
    call: InboundCall | None = None
    amd: asyncio.Future[tuple[str, str]] | None = None
    early: asyncio.Future[tuple[str, str, str]] | None = None  # kind, cause, detail
    answered_at: float = 0.0
    talk_from: float | None = None
    disposed: bool = False
    tasks: list[str] = field(default_factory=list)
    withdrawn: bool = False  # the task was cancelled before the call was placed

    @property
    def attempt_id(self) -> str:
        return self.command.attempt_id

    def card(self) -> dict[str, Any]:
        """What travels with the call to the operator: the contact's fields, the campaign,
        its dialog script and the ids to disposition it with."""
        data: dict[str, Any] = dict(self.fields)
        data.update(campaign=self.command.campaign_id, contact_id=self.command.contact_id,
                    attempt_id=self.attempt_id)
        if self.campaign.script:
            data["script"] = self.campaign.script
        return data


class OutboundCalls:
    """The dialer's calls on telephony (see the module docstring)."""

    def __init__(self, shell: DialerShell) -> None:
        self.shell = shell
        self.attempts: dict[str, LiveAttempt] = {}
        self._by_channel: dict[str, LiveAttempt] = {}

    # --- facts ------------------------------------------------------------------------------

    def update(self, live: LiveAttempt, **changes: Any) -> None:
        """Change the attempt's facts and write them (the same id updates the row)."""
        live.facts = dataclasses.replace(live.facts, **changes)
        self.shell.save_attempt(live.facts)

    def _progress(self, live: LiveAttempt, kind: str, detail: dict[str, object]) -> None:
        self.shell.publish(ev.CallProgress(live.attempt_id, kind, {
            "campaign": live.command.campaign_id, **detail}))

    def telephony_event(self, event: object) -> None:
        if isinstance(event, ev.EarlyMediaResult):
            live = self._by_channel.get(event.channel_id)
            if live is not None and live.early is not None and not live.early.done():
                live.early.set_result((event.kind, event.cause, event.detail))
        elif isinstance(event, ev.AmdResult):
            live = self._by_channel.get(event.channel_id)
            if live is not None and live.amd is not None and not live.amd.done():
                live.amd.set_result((event.result, event.detail))

    # --- dialling ---------------------------------------------------------------------------

    def dial(self, command: ev.Dial, campaign: StoredCampaign) -> None:
        contact = self.shell.dialer.book(command.campaign_id).states.get(command.contact_id)
        fields = dict(contact.contact.attributes) if contact is not None else {}
        fields.setdefault("number", command.number)
        facts = AttemptFacts(command.attempt_id, command.campaign_id, command.contact_id,
                             command.number, command.number_type, self.shell.clock.utcnow())
        live = LiveAttempt(command, campaign, facts, fields)
        self.attempts[command.attempt_id] = live
        self.shell.save_attempt(facts)
        self.shell.spawn(self._call(live), f"dial-{command.attempt_id}")

    async def _call(self, live: LiveAttempt) -> None:
        try:
            await self._follow(live)
        finally:
            if live.leg is not None:
                self._by_channel.pop(live.leg.id, None)
            self.attempts.pop(live.attempt_id, None)

    async def _follow(self, live: LiveAttempt) -> None:
        command = live.command
        shell = self.shell
        outside = shell.telephony.outside
        started = shell.clock.monotonic()
        try:
            plan = outside.plan(command.number, user="", right=LineRight.ALL,
                                campaign_caller_id=command.caller_id or None)
            leg = await outside.call(plan, ring_s=command.ring_timeout_s,
                                     variables={"campaign": command.campaign_id,
                                                "attempt": command.attempt_id},
                                     interaction_id=command.attempt_id)
        except (OutboundRefused, OriginateError, ValueError) as exc:
            log.warning("campaign_call_not_placed", attempt=command.attempt_id,
                        number=command.number, reason=str(exc))
            self.update(live, ended_at=shell.clock.utcnow(), outcome="failed")
            self._progress(live, "campaign call not placed", {"reason": str(exc)})
            shell.feed(ev.AttemptFailed(command.attempt_id, "failed"))
            return
        live.leg = leg
        self._by_channel[leg.id] = live
        if live.withdrawn:  # cancelled while the call was being placed
            leg.hangup(HangupCause.ORIGINATOR_CANCEL)
        shell.acd.note_outside(command.attempt_id, leg)
        self._progress(live, "campaign call", {"contact_id": command.contact_id,
                                               "number": command.number,
                                               "script": live.campaign.script})
        # the call record keeps the card, so the desk finds the campaign's script and
        # result codes for the wrap-up as it does for a task's customer who calls in
        shell.publish(ev.CallProgress(command.attempt_id, ev.DATA_ATTACHED, live.card()))
        self.update(live, trunk=leg.trunk or None, call_id=command.attempt_id)
        live.early = asyncio.get_running_loop().create_future()
        with contextlib.suppress(ChannelError):  # not an outbound leg: nothing to hear
            leg.detect_early_media()
        carry, ringing = shell.acd.carry, f"offer:{leg.id}"
        if carry is not None:  # cancelled by the other node should this one fail meanwhile
            carry.keep_offer(ringing, leg)
        try:
            await until(leg.engine.clock, (leg.answered_signal, leg.ended_signal),
                        command.ring_timeout_s + 2.0, (live.early,))
        finally:
            if carry is not None:
                carry.forget(ringing)
        if not leg.is_up:
            heard = live.early.result() if live.early.done() else None
            timed_out = not leg.ended and heard is None
            if not leg.ended:
                leg.hangup(HangupCause.ORIGINATOR_CANCEL)
                await leg.wait_ended(within=5.0)
            if heard is not None:  # the network said why before the ring timeout
                outcome = EARLY_MEDIA_OUTCOMES.get(heard[1], "failed")
                self.update(live, early_media=f"{heard[0]}:{heard[1]}"
                            + (f":{heard[2]}" if heard[2] else ""))
            else:
                outcome = outcome_of(leg.sip_status, timed_out=timed_out,
                                     cause=leg.hangup_cause)
            self.update(live, ended_at=shell.clock.utcnow(), sip_status=leg.sip_status,
                        outcome=outcome)
            self._progress(live, "campaign call not answered", {
                "sip_status": leg.sip_status, "outcome": outcome,
                "early_media": live.facts.early_media,
                "ring_s": round(shell.clock.monotonic() - started, 1)})
            shell.feed(ev.AttemptFailed(command.attempt_id, outcome))
            return
        live.answered_at = shell.clock.monotonic()
        self.update(live, answered_at=shell.clock.utcnow(), sip_status=leg.sip_status or 200)
        human = True
        if command.detect_machine:
            verdict, cause = await self._detect(live, leg)
            human = verdict != "machine"  # "unknown" goes on as a person
            self.update(live, amd=verdict, amd_cause=cause)
            self._progress(live, "answering machine detection", {"result": verdict,
                                                                 "cause": cause})
        shell.feed(ev.AttemptAnswered(command.attempt_id, human))
        await leg.wait_ended()
        ended = shell.clock.monotonic()
        talk = None if live.talk_from is None else round(ended - live.talk_from, 3)
        operator = live.facts.operator
        call = live.call
        if call is not None and call.operator and call.answered_at is not None:
            operator = operator or call.operator  # "press 1": the queue's operator
            if talk is None:
                talk = round((shell.clock.utcnow() - call.answered_at).total_seconds(), 3)
        self.update(live, ended_at=shell.clock.utcnow(), talk_s=talk, operator=operator)
        shell.attempt_ended(live)

    async def _detect(self, live: LiveAttempt, leg: Channel) -> tuple[str, str]:
        live.amd = asyncio.get_running_loop().create_future()
        try:
            leg.detect_machine()
        except ChannelError:
            return "unknown", "no media"
        await until(self.shell.clock, (leg.ended_signal,), AMD_LIMIT_S, (live.amd,))
        if live.amd.done():
            return live.amd.result()
        return "unknown", "hangup" if leg.ended else f"TOOLONG-{int(AMD_LIMIT_S * 1000)}"

    # --- the answered call ------------------------------------------------------------------

    def _answered_leg(self, attempt_id: str) -> tuple[LiveAttempt, Channel] | None:
        live = self.attempts.get(attempt_id)
        if live is None or live.leg is None:
            return None
        return live, live.leg

    def connect(self, attempt_id: str, agent_id: str) -> None:
        """Ring the operator's phone with the card, then bridge it to the customer."""
        found = self._answered_leg(attempt_id)
        if found is None:
            self.shell.acd.feed(ev.AgentLegEnded(attempt_id, agent_id))
            return
        live, leg = found
        self.update(live, operator=agent_id)
        self.shell.spawn(self._converse(live, leg, agent_id), f"connect-{attempt_id}")

    async def _converse(self, live: LiveAttempt, customer: Channel, agent_id: str) -> None:
        shell = self.shell
        acd = shell.acd
        agent = acd.acd.agents.get(agent_id)
        device = agent.device if agent is not None and agent.device else agent_id
        command = live.command
        call = InboundCall(command.attempt_id, command.attempt_id, command.number,
                           command.caller_id, customer, shell.clock.utcnow(),
                           variables=live.card(), queue=live.campaign.queue)
        live.call = call
        acd.live[call.interaction_id] = call
        try:
            try:
                operator = shell.telephony.originate(
                    device, caller_id=command.number, timeout=OPERATOR_RING_S,
                    variables={"campaign": command.campaign_id, "operator": agent_id},
                    headers={**call.headers(), "X-Parley-Campaign": command.campaign_id},
                    interaction_id=call.interaction_id)
            except (OriginateError, ValueError) as exc:
                acd.progress(call, "not reachable", {"operator": agent_id, "reason": str(exc)})
                self._not_taken(live, agent_id, "not reachable", customer_gone=customer.ended)
                return
            acd.progress(call, "offered", {"operator": agent_id, "device": device})
            await until(None, (operator.answered_signal, operator.ended_signal,
                               customer.ended_signal), None)
            if not operator.is_up or customer.ended:
                operator.hangup()
                gone = customer.ended
                cause = "customer hung up" if gone else (
                    operator.hangup_cause.name.lower() if operator.hangup_cause
                    else "ring timeout")
                acd.progress(call, "not answered", {"operator": agent_id, "cause": cause})
                self._not_taken(live, agent_id, "not answered", customer_gone=gone)
                return
            live.talk_from = shell.clock.monotonic()
            acd.join(call, operator, agent_id)
            await talk_to_the_end(acd, call, customer, operator, agent_id)
        finally:
            acd.live.pop(call.interaction_id, None)

    def _not_taken(self, live: LiveAttempt, agent_id: str, cause: str, *,
                   customer_gone: bool) -> None:
        """The operator did not take the answered call: never a conversation. The dialer
        gives the customer the next free operator, or the compliance message once the grace
        time is over; the ACD frees the operator, counting the miss."""
        if live.facts.operator == agent_id:
            self.update(live, operator=None)
        self.shell.not_connected(live, agent_id, cause, customer_gone=customer_gone)

    def hang_up(self, attempt_id: str, reason: str) -> None:
        """Hang up the attempt's call; one still ringing is cancelled (SIP CANCEL), one not
        yet placed is cancelled as soon as it is."""
        live = self.attempts.get(attempt_id)
        if live is not None and live.leg is None:
            live.withdrawn = True
            self._progress(live, "campaign call hung up", {"reason": reason})
            return
        found = self._answered_leg(attempt_id)
        if found is not None:
            live, leg = found
            self._progress(live, "campaign call hung up", {"reason": reason})
            leg.hangup(HangupCause.ORIGINATOR_CANCEL if not leg.is_up
                       else HangupCause.NORMAL_CLEARING)

    def compliance(self, attempt_id: str) -> None:
        """No operator in time: the short message saying who called, then hang up."""
        found = self._answered_leg(attempt_id)
        if found is None:
            return
        live, leg = found
        text = live.campaign.compliance_message or COMPLIANCE_DEFAULT

        async def say() -> None:
            self._progress(live, "compliance message", {})
            await play_and_wait(leg, [Speech(text)])
            leg.hangup()

        self.shell.spawn(say(), f"compliance-{attempt_id}")

    def message(self, attempt_id: str) -> None:
        """The campaign's message with the task's fields; "press 1" comes back as
        ``AgentlessDigit``. On a machine it waits for the greeting's end (the beep)."""
        found = self._answered_leg(attempt_id)
        if found is None:
            return
        live, leg = found
        self.shell.spawn(self._speak(live, leg), f"message-{attempt_id}")

    async def _speak(self, live: LiveAttempt, leg: Channel) -> None:
        shell = self.shell
        machine = live.facts.amd == "machine"
        template = live.campaign.message
        if machine and live.campaign.machine_message:
            template = live.campaign.machine_message
        try:
            text = render_message(template, live.fields, shell.clock.utcnow())
        except ExpressionError as exc:
            log.error("campaign_message_invalid", campaign=live.command.campaign_id,
                      error=str(exc))
            leg.hangup()
            return
        if machine:
            await self._after_greeting(live, leg)
        self._progress(live, "campaign message", {"text": text})
        if leg.ended:
            return
        try:
            playback = leg.play([Speech(text)])
        except ChannelError:
            return
        pressing = asyncio.ensure_future(leg.collect(1, timeout=3600.0,
                                                     inter_digit_timeout=3600.0,
                                                     terminators=""))
        try:
            await until(None, (playback.done_signal, leg.ended_signal), None, (pressing,))
            if not pressing.done() and not leg.ended and not machine:
                await until(shell.clock, (leg.ended_signal,), DIGIT_AFTER_MESSAGE_S,
                            (pressing,))
        finally:
            if not pressing.done():
                pressing.cancel()
        digit = pressing.result() if pressing.done() and not pressing.cancelled() else ""
        if digit and not leg.ended:
            playback.stop()
            self._progress(live, "key pressed", {"digit": digit})
            shell.feed(ev.AgentlessDigit(live.attempt_id, digit))
            if live.call is not None:  # taken into a queue: the call goes on there
                return
        if not leg.ended:
            leg.hangup()

    async def _after_greeting(self, live: LiveAttempt, leg: Channel) -> None:
        """Wait for a machine's beep (or the silence after its greeting)."""
        waiting = asyncio.get_running_loop().create_future()
        live.amd = waiting
        try:
            leg.detect_greeting_end()
        except ChannelError:
            return
        await until(self.shell.clock, (leg.ended_signal,), GREETING_LIMIT_S, (waiting,))
        result = waiting.result() if waiting.done() else ("timeout", "")
        self._progress(live, "greeting ended", {"by": result[0], "detail": result[1]})

    def to_queue(self, attempt_id: str, queue: str) -> None:
        """"Press 1": the customer waits in ``queue`` like any caller, the task attached."""
        found = self._answered_leg(attempt_id)
        if found is None:
            return
        live, leg = found
        command = live.command
        call = InboundCall(self.shell.ids.new("call"), command.attempt_id, command.number,
                           command.caller_id, leg, self.shell.clock.utcnow(),
                           variables=live.card())
        live.call = call
        self._progress(live, "to queue", {"queue": queue})
        self.shell.spawn(self.shell.center.serve_call(call, ToQueue(queue)),
                         f"press-one-{attempt_id}")
