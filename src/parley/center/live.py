"""The web layer's live seams (:mod:`parley.center.ports`) over a running contact center.

:class:`LiveCalls` answers click-to-call, hang-up, transfer and the list of live calls from
the node's telephony and contact center; :class:`LiveCenter` applies operators' state
requests to the ACD and reads live queue figures from it.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from parley import events as ev
from parley.acd.agent import AcdError, AgentState
from parley.center.calls import InboundCall, TakeOver
from parley.center.consult import Consultations
from parley.center.ports import (
    InvalidRequest,
    LiveCall,
    LiveCallNotFound,
    OperationRefused,
    OperatorEvent,
    OperatorNow,
    QueueFigures,
    RecordingGap,
    RecordingPauseState,
)
from parley.routes import OutboundPlan, OutboundRefused
from parley.telephony.channel import Bridge, BridgeError, BridgeRole, Channel, until
from parley.telephony.engine import OriginateError

if TYPE_CHECKING:
    from parley.center.shell import ContactCenter

log = structlog.get_logger("parley.center.live")

CLICK_TO_CALL_RING_S = 30.0

#: What ``LiveCall.state`` says: a phone of the call rings and nobody talks yet; the caller
#: is in a flow (IVR); the caller waits in a queue; two parties talk.
RINGING, IVR, QUEUED, TALKING = "ringing", "ivr", "queued", "talking"

#: Operator states in which the ACD has given the operator a call.
BUSY = frozenset({AgentState.RESERVED, AgentState.RINGING, AgentState.ON_CALL,
                  AgentState.ON_HOLD})


@dataclass(slots=True)
class ClickToCall:
    """A click-to-call in progress: who asked, from which device, to which number."""

    interaction_id: str
    device: str
    number: str
    operator: str
    started_at: datetime
    answered_at: datetime | None = None
    reserved: bool = False  # the ACD holds the operator for this call (no queue offers)


@dataclass(slots=True)
class Monitor:
    """A supervisor in (or being called into) an operator's conversation."""

    call_id: str
    supervisor: str
    device: str
    mode: BridgeRole
    leg: Channel | None = None
    joined: bool = False
    #: the supervisor asked to take the call over: once answered, their leg is the customer's
    take_over: bool = False
    #: the leg now belongs to the call (taken over): leaving the monitor must not end it
    taken: bool = False


MONITOR_MODES = {"listen": BridgeRole.LISTEN, "whisper": BridgeRole.WHISPER,
                 "barge": BridgeRole.BARGE}


class LiveCalls:
    """Click-to-call, hang-up, transfer and live calls (``parley.center.ports.CallControl``).

    A live call is every leg sharing an interaction id: a contact-center call (the caller,
    its operator legs), a click-to-call (the operator's device, then the number), or a plain
    call between two phones. Its ``operator`` is who may hang it up or transfer it without
    being a supervisor: the answering operator, or the owner of the device that clicked.
    """

    def __init__(self, center: ContactCenter) -> None:
        self.center = center
        self.telephony = center.telephony
        self.clicks: dict[str, ClickToCall] = {}  # by interaction id
        self.monitors: dict[tuple[str, str], Monitor] = {}  # by (call, supervisor)
        self.consultations = Consultations(center)
        self._started: dict[str, datetime] = {}  # channel id -> when it appeared
        self._answered: dict[str, datetime] = {}
        self.telephony.subscribe(self._note)

    def _note(self, event: object) -> None:
        if isinstance(event, ev.ChannelCreated):
            self._started[event.channel_id] = self.center.shell.wall()
        elif isinstance(event, ev.Answered):
            self._answered.setdefault(event.channel_id, self.center.shell.wall())
        elif isinstance(event, ev.Hangup):
            self._started.pop(event.channel_id, None)
            self._answered.pop(event.channel_id, None)

    def _groups(self) -> dict[str, list[Channel]]:
        groups: dict[str, list[Channel]] = defaultdict(list)
        for channel in self.telephony.channels():
            if not channel.ended:
                groups[channel.interaction_id or channel.id].append(channel)
        return groups

    def live_calls(self) -> list[LiveCall]:
        calls: list[LiveCall] = []
        for interaction, legs in sorted(self._groups().items()):
            handled = self.center.shell.live.get(interaction)
            click = self.clicks.get(interaction)
            if handled is not None:
                calls.append(self._contact_center_call(handled, legs))
            elif click is not None:
                calls.append(LiveCall(
                    id=interaction, direction="outbound", caller=click.device,
                    called=click.number, state=self._state_of(legs),
                    started_at=click.started_at, operator=click.operator,
                    answered_at=click.answered_at))
            else:
                calls.append(self._plain_call(interaction, legs))
        return calls

    @staticmethod
    def _state_of(legs: list[Channel]) -> str:
        return TALKING if len(legs) > 1 and all(leg.is_up for leg in legs) else RINGING

    def _contact_center_call(self, call: InboundCall, legs: list[Channel]) -> LiveCall:
        caller = call.caller
        if call.operator_leg is not None and call.operator_leg.is_up:
            state = TALKING
        elif caller is None or not caller.is_up or call.offers:
            state = RINGING
        elif call.acd_id in self.center.shell.calls and call.queue:
            state = QUEUED
        else:
            state = IVR
        return LiveCall(
            id=call.interaction_id, direction=str(legs[0].direction), caller=call.ani,
            called=call.dnis, state=state, started_at=call.started_at,
            queue=call.queue or None,
            operator=(call.operator or None) if call.operator_leg is not None else None,
            answered_at=call.answered_at,
            recording_id=call.recording.id if call.recording is not None else None,
            recording_paused=call.recording is not None and call.recording.paused)

    def _plain_call(self, interaction: str, legs: list[Channel]) -> LiveCall:
        """A call between two phones (or to a number's own handler, like the echo test)."""
        first = legs[0]
        # a leg carried over from another node was never created here: its own times
        answered = [at for leg in legs[1:]
                    if (at := self._answered.get(leg.id, leg.answered_at)) is not None]
        callee = legs[1].called if len(legs) > 1 else None
        return LiveCall(
            id=interaction, direction=str(first.direction), caller=first.caller,
            called=first.called, state=self._state_of(legs),
            started_at=min(self._started.get(leg.id, leg.created_at) for leg in legs),
            operator=self.center.shell.owners.get(callee, callee) if callee else None,
            answered_at=min(answered) if answered else None)

    async def hang_up(self, call_id: str, *, requested_by: str) -> None:
        legs = self._groups().get(call_id)
        if not legs:
            raise LiveCallNotFound(f"no live call {call_id!r}")
        log.info("hang_up_requested", interaction_id=call_id, by=requested_by)
        for leg in legs:
            leg.hangup(ev.HangupCause.NORMAL_CLEARING)

    async def transfer(self, call_id: str, *, target: str, requested_by: str) -> None:
        call = self.center.shell.live.get(call_id)
        if call is None:
            if call_id in self._groups():
                raise OperationRefused(f"call {call_id!r} is not a contact-center call; only "
                                       "calls to the site's numbers can be transferred")
            raise LiveCallNotFound(f"no live call {call_id!r}")
        if self.center.target_step(target) is None:
            raise InvalidRequest(f"target: {target!r} is no queue, flow, number, operator "
                                 "or extension of this site, and no outbound route "
                                 "matches it")
        if not self.center.transfer(call, target, by=requested_by):
            raise OperationRefused(f"call {call_id!r} is not in a conversation with an "
                                   "operator (a waiting call cannot be transferred)")

    def _handled(self, call_id: str) -> InboundCall:
        call = self.center.shell.live.get(call_id)
        if call is None:
            if call_id in self._groups():
                raise OperationRefused(f"call {call_id!r} is not a contact-center call; only "
                                       "calls to the site's numbers can be transferred")
            raise LiveCallNotFound(f"no live call {call_id!r}")
        return call

    async def consult(self, call_id: str, *, target: str, requested_by: str) -> None:
        call = self._handled(call_id)
        await self.consultations.start(call, target, by=requested_by)

    async def consult_action(self, call_id: str, *, action: str, requested_by: str) -> None:
        call = self._handled(call_id)
        if action == "complete":
            self.consultations.complete(call, by=requested_by)
        elif action == "conference":
            self.consultations.conference(call, by=requested_by)
        elif action == "cancel":
            self.consultations.cancel(call, by=requested_by)
        else:
            raise InvalidRequest(f"action: {action!r} is not one of complete, conference, "
                                 "cancel")

    async def record(self, call_id: str, *, on: bool, requested_by: str) -> str | None:
        call = self.center.shell.live.get(call_id)
        if call is None:
            raise LiveCallNotFound(f"no contact-center call {call_id!r} in progress")
        try:
            return self.center.shell.record(call, on)
        except ValueError as exc:
            raise OperationRefused(str(exc)) from exc

    async def pause_recording(self, call_id: str, *, paused: bool,
                              requested_by: str) -> RecordingPauseState:
        call = self.center.shell.live.get(call_id)
        if call is None:
            raise LiveCallNotFound(f"no contact-center call {call_id!r} in progress")
        try:
            recording = self.center.shell.pause_recording(call, paused, requested_by)
        except ValueError as exc:
            raise OperationRefused(str(exc)) from exc
        gaps = tuple(RecordingGap(round(gap.start_s, 3),
                                  None if gap.end_s is None else round(gap.end_s, 3))
                     for gap in recording.pauses)
        last = gaps[-1]
        offset = last.start_s if paused or last.end_s is None else last.end_s
        return RecordingPauseState(recording.id, recording.paused, offset, gaps)

    # --- supervisors in a conversation ------------------------------------------------------

    async def monitor(self, call_id: str, *, mode: str, device: str,
                      requested_by: str) -> str:
        """Call the supervisor's ``device`` into the conversation as ``mode``; a supervisor
        already in it changes mode at once (no second call)."""
        role = MONITOR_MODES.get(mode)
        if role is None:
            raise InvalidRequest(f"mode: {mode!r} is not one of listen, whisper, barge")
        call = self.center.shell.live.get(call_id)
        if call is None:
            raise LiveCallNotFound(f"no contact-center call {call_id!r} in progress")
        present = self.monitors.get((call_id, requested_by))
        if present is not None:
            present.mode = role
            if present.joined and present.leg is not None:
                self._place(call, present)
            return "changed"
        if call.bridge is None or call.operator_leg is None or not call.operator_leg.is_up:
            raise OperationRefused(f"call {call_id!r} is not in a conversation with an "
                                   "operator (a supervisor joins once the operator answers)")
        if any(other.device == device for other in self.monitors.values()):
            raise OperationRefused(f"device: {device!r} is already in a call being monitored")
        monitor = Monitor(call_id, requested_by, device, role)
        try:
            monitor.leg = self.telephony.originate(
                device, caller_id=call.ani or "monitor", timeout=CLICK_TO_CALL_RING_S,
                variables={"monitoring": call_id}, interaction_id=self.center.ids.new("mon"),
                headers={"X-Parley-Monitor": call_id})
        except (OriginateError, ValueError) as exc:
            raise OperationRefused(f"device: {device!r} cannot be called now ({exc})") \
                from exc
        self.monitors[(call_id, requested_by)] = monitor
        self.center.shell.spawn(self._monitoring(call, monitor), f"monitor-{call_id}")
        return "ringing"

    async def take_over(self, call_id: str, *, device: str, requested_by: str) -> str:
        """The supervisor takes the customer over from the operator: a supervisor already
        in the conversation keeps their leg ("taken"); otherwise ``device`` rings first and
        the takeover happens when it answers ("ringing")."""
        call = self.center.shell.live.get(call_id)
        if call is None:
            raise LiveCallNotFound(f"no contact-center call {call_id!r} in progress")
        if call.consult is not None:
            raise OperationRefused(f"call {call_id!r} is in a consultation; take it over "
                                   "once that has ended")
        present = self.monitors.get((call_id, requested_by))
        if present is not None:
            present.take_over = True
            if present.joined and present.leg is not None:
                self._take(call, present)
                return "taken"
            return "ringing"
        await self.monitor(call_id, mode="listen", device=device, requested_by=requested_by)
        self.monitors[(call_id, requested_by)].take_over = True
        return "ringing"

    def _take(self, call: InboundCall, monitor: Monitor) -> None:
        """Hand the customer to the supervisor's answered leg (the call's coroutine does
        the rest: :meth:`parley.center.shell.ContactCenter._taken_over`)."""
        if monitor.leg is None or call.operator_leg is None or not call.operator_leg.is_up \
                or call.outcome is None or call.outcome.done():
            raise OperationRefused(f"call {call.interaction_id!r} is not in a conversation "
                                   "with an operator now")
        monitor.taken = True
        self.monitors.pop((call.interaction_id, monitor.supervisor), None)
        log.info("call_taken_over", interaction_id=call.interaction_id,
                 supervisor=monitor.supervisor, operator=call.operator)
        call.resolve(TakeOver(monitor.leg, monitor.supervisor))

    async def end_monitor(self, call_id: str, *, requested_by: str) -> None:
        monitor = self.monitors.get((call_id, requested_by))
        if monitor is None or monitor.leg is None:
            raise LiveCallNotFound(f"{requested_by} is not in call {call_id!r}")
        monitor.leg.hangup(ev.HangupCause.NORMAL_CLEARING)

    def _place(self, call: InboundCall, monitor: Monitor) -> None:
        """Put the supervisor's leg into the conversation's bridge in their mode (a whisper
        reaches the operator's leg)."""
        if call.bridge is None or monitor.leg is None or call.operator_leg is None:
            raise OperationRefused(f"call {call.interaction_id!r} has no conversation now")
        try:
            call.bridge.add(monitor.leg, monitor.mode,
                            whisper_to=call.operator_leg
                            if monitor.mode is BridgeRole.WHISPER else None)
        except BridgeError as exc:
            raise OperationRefused(str(exc)) from exc
        monitor.joined = True
        self._tell(call, monitor, monitor.mode.value)

    def _tell(self, call: InboundCall, monitor: Monitor, mode: str) -> None:
        shell = self.center.shell
        shell.publish(ev.SupervisorMonitoring(call.interaction_id, call.operator,
                                              monitor.supervisor, mode, shell.wall()))
        shell.publish(ev.CallProgress(call.interaction_id, f"supervisor {mode}", {
            "supervisor": monitor.supervisor, "device": monitor.device}))

    async def _monitoring(self, call: InboundCall, monitor: Monitor) -> None:
        """Ring the supervisor; once answered, join them to the bridge until they, the
        caller or the operator leave."""
        leg = monitor.leg
        operator_leg = call.operator_leg
        if leg is None or operator_leg is None:
            return
        caller = call.caller

        gone = (leg.ended_signal, operator_leg.ended_signal,
                *([caller.ended_signal] if caller else []))
        try:
            await until(None, (leg.answered_signal, *gone), None)
            if not leg.is_up or call.operator_leg is not operator_leg \
                    or not operator_leg.is_up:
                return
            try:
                if monitor.take_over:
                    self._take(call, monitor)
                    return
                self._place(call, monitor)
            except OperationRefused:
                log.warning("monitor_not_joined", interaction_id=call.interaction_id,
                            supervisor=monitor.supervisor, exc_info=True)
                return
            log.info("monitor_joined", interaction_id=call.interaction_id,
                     supervisor=monitor.supervisor, mode=monitor.mode.value)
            await until(None, gone, None)
        finally:
            if not monitor.taken:  # a leg taken over is the customer's party, not a monitor
                self.monitors.pop((call.interaction_id, monitor.supervisor), None)
                if leg.bridge is not None:
                    with contextlib.suppress(BridgeError):
                        leg.bridge.remove(leg)
                if not leg.ended:
                    leg.hangup(ev.HangupCause.NORMAL_CLEARING)
                if monitor.joined:
                    self._tell(call, monitor, "left")

    async def originate(self, *, device: str, number: str, caller_id: str | None,
                        requested_by: str) -> LiveCall:
        """Ring the operator's ``device``; when they answer, call ``number`` and connect.

        An extension is called directly (showing ``caller_id``, else the device); an outside
        number goes through the routes with the requester's outside-line right and the
        caller ID of the operator, the route or the trunk (``caller_id`` does not apply)."""
        endpoint = self.center.shell.dialable(number)
        operator = self.center.shell.owners.get(device, requested_by)
        plan: OutboundPlan | None = None
        if endpoint is None:
            outside = self.telephony.outside
            if not outside.routable(number):
                raise InvalidRequest(f"number: {number!r} cannot be reached (no extension of "
                                     "this site, and no outbound route matches it)")
            try:
                plan = outside.plan(number, user=operator,
                                    right=outside.right_of(requested_by))
            except OutboundRefused as exc:
                raise OperationRefused(f"number: {exc}") from exc
        elif endpoint == device:
            raise InvalidRequest(f"number: {number!r} is the device that rings first")
        interaction = self.center.ids.new("ctc")
        self._check_free(device, operator)
        try:
            first = self.telephony.originate(
                device, caller_id=number, timeout=CLICK_TO_CALL_RING_S,
                variables={"click_to_call": requested_by}, interaction_id=interaction,
                headers={"X-Parley-Interaction": interaction, "X-Parley-Dialling": number})
        except (OriginateError, ValueError) as exc:
            raise OperationRefused(f"device: {device!r} cannot be called now ({exc})") \
                from exc
        click = ClickToCall(interaction, device, number, operator, self.center.shell.wall())
        self.clicks[interaction] = click
        click.reserved = self._reserve(click)
        self.center.shell.publish(ev.CallProgress(interaction, "click to call", {
            "by": requested_by, "device": device, "number": number}))
        self.center.shell.spawn(self._connect(click, first, endpoint or plan,
                                              caller_id or device),
                                f"click-to-call-{interaction}")
        return LiveCall(id=interaction, direction="outbound", caller=device, called=number,
                        state=RINGING, started_at=click.started_at, operator=operator)

    async def _connect(self, click: ClickToCall, first: Channel,
                       endpoint: str | OutboundPlan | None, caller_id: str) -> None:
        """The operator's leg answered: dial the number (an extension, or an outside number
        through its route's trunks), bridge, and end both together."""
        try:
            if not await first.wait_answered():
                return
            try:
                if isinstance(endpoint, OutboundPlan):
                    second = await self.telephony.outside.call(
                        endpoint, ring_s=CLICK_TO_CALL_RING_S,
                        interaction_id=click.interaction_id,
                        variables={"click_to_call": click.operator})
                    self.center.shell.note_outside(click.interaction_id, second)
                else:
                    second = self.telephony.originate(str(endpoint), caller_id=caller_id,
                                                      timeout=CLICK_TO_CALL_RING_S,
                                                      interaction_id=click.interaction_id)
            except (OriginateError, ValueError) as exc:
                log.warning("click_to_call_failed", interaction_id=click.interaction_id,
                            reason=str(exc))
                first.hangup()
                return
            await until(None, (second.answered_signal, second.ended_signal,
                               first.ended_signal), None)
            if first.ended or not second.is_up:
                second.hangup()
                first.hangup()
                return
            bridge: Bridge = self.telephony.bridge(first, second)
            click.answered_at = self.center.shell.wall()
            if click.reserved:
                self.center.shell.feed(ev.OutboundConnected(click.operator, click.interaction_id))
            self.center.shell.publish(ev.CallProgress(
                click.interaction_id, "answered", {"number": click.number},
                operator=click.operator))
            await until(None, (first.ended_signal, second.ended_signal), None)
            bridge.destroy()
            first.hangup()
            second.hangup()
        finally:
            self.clicks.pop(click.interaction_id, None)
            if click.reserved:  # after-call work if they talked, else ready again
                self.center.shell.feed(
                    ev.AgentLegEnded(click.interaction_id, click.operator)
                    if click.answered_at is not None
                    else ev.OutboundReleased(click.operator, click.interaction_id))

    def _check_free(self, device: str, operator: str) -> None:
        """Refuse to ring a device already in a click-to-call, or an operator the ACD has
        given a call (a second call would ring on top of it)."""
        if any(click.device == device for click in self.clicks.values()):
            raise OperationRefused(f"device: {device!r} is already in a click-to-call")
        agent = self.center.shell.acd.agents.get(operator)
        if agent is not None and agent.state in BUSY:
            raise OperationRefused(f"device: operator {operator!r} is busy ({agent.state}); "
                                   "call when the current call has ended")

    def _reserve(self, click: ClickToCall) -> bool:
        """Hold a ready operator for their click-to-call, so that no queue offers them a
        call while their phone rings or they talk (an operator not ready stays so)."""
        agent = self.center.shell.acd.agents.get(click.operator)
        if agent is None or agent.state is not AgentState.READY:
            return False
        try:
            self.center.shell.feed(ev.ReserveForOutbound(click.operator, "", click.interaction_id),
                             raise_errors=True)
        except AcdError:
            log.warning("click_to_call_not_reserved", interaction_id=click.interaction_id,
                        operator=click.operator, exc_info=True)
            return False
        return True


class LiveCenter:
    """Operator state requests and live queue figures (``parley.center.ports.ContactCenter``)."""

    def __init__(self, center: ContactCenter) -> None:
        self.center = center

    async def operator_event(self, event: OperatorEvent) -> None:
        acd = self.center.shell.acd
        agent = acd.agents.get(event.agent_id)
        if isinstance(event, ev.AgentAtDesk):
            if event.at_desk:
                self.center.shell.at_desk.add(event.agent_id)
            else:
                self.center.shell.at_desk.discard(event.agent_id)
            return
        if agent is None:
            raise OperationRefused(f"{event.agent_id!r} is not an operator of any queue "
                                   "(a user with the agent role)")
        if isinstance(event, ev.AgentLogin) and agent.state is not AgentState.LOGGED_OUT:
            return  # logging in twice changes nothing
        if isinstance(event, ev.AgentLogout) and agent.state is AgentState.LOGGED_OUT:
            return
        if isinstance(event, ev.AgentNotReady):
            site = acd.site
            if event.reason not in site.reason_codes and event.reason != site.missed_call_reason:
                raise InvalidRequest(f"reason: unknown not-ready reason {event.reason!r} (site "
                                     f"reasons: {', '.join(site.reason_codes)})")
        if isinstance(event, ev.AgentReady | ev.AgentNotReady) \
                and agent.state is AgentState.LOGGED_OUT:
            raise OperationRefused(f"operator {event.agent_id!r} is not logged in")
        try:
            self.center.shell.feed(event, raise_errors=True)
        except AcdError as exc:
            raise OperationRefused(str(exc)) from exc

    def operator_now(self, operator: str) -> OperatorNow | None:
        agent = self.center.shell.acd.agents.get(operator)
        if agent is None:
            return None
        in_state = max(0.0, self.center.clock.monotonic() - agent.since)
        return OperatorNow(operator, str(agent.state), agent.reason, round(in_state, 1),
                           agent.since)

    def operators_now(self) -> list[OperatorNow]:
        now = self.center.clock.monotonic()
        return [OperatorNow(name, str(agent.state), agent.reason,
                            round(max(0.0, now - agent.since), 1), agent.since)
                for name, agent in self.center.shell.acd.agents.items()]

    def queue_figures(self) -> list[QueueFigures]:
        acd = self.center.shell.acd
        now = self.center.clock.monotonic()
        figures: list[QueueFigures] = []
        for name in sorted(acd.queues):
            snapshot = acd.queue_snapshot(name, now)
            runtime = acd.queues[name]
            busy = sum(1 for agent_id in runtime.members
                       if acd.agents[agent_id].state in (
                           AgentState.RESERVED, AgentState.RINGING, AgentState.ON_CALL,
                           AgentState.ON_HOLD, AgentState.WRAP_UP))
            states = [acd.agents[agent_id].state for agent_id in runtime.members]
            answered_or_abandoned = snapshot.answered + snapshot.abandoned
            figures.append(QueueFigures(
                queue=name, waiting=snapshot.waiting,
                longest_wait_s=round(snapshot.longest_wait, 1),
                expected_wait_s=round(acd.expected_wait_on_arrival(name, now), 1),
                operators_logged_in=snapshot.logged_in, operators_ready=snapshot.ready,
                operators_busy=busy, offered=snapshot.offered, answered=snapshot.answered,
                abandoned=snapshot.abandoned,
                service_level=snapshot.service_level if answered_or_abandoned else None,
                operators_wrap_up=states.count(AgentState.WRAP_UP),
                operators_not_ready=states.count(AgentState.NOT_READY),
                asa_s=round(snapshot.asa, 1),
                abandon_rate=runtime.stats.abandon_rate if answered_or_abandoned else None))
        return figures
