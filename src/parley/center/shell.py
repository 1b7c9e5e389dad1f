"""The callers' side of the contact-center shell (DESIGN.md §4): one coroutine per call.

A call to a number bound to a flow runs the flow (:mod:`parley.center.ivr_shell`); a queue
hand-off waits in the ACD (:mod:`parley.center.acd_shell`) with music, announcements and the
callback offer; transfers (REFER from a phone, or the API) take the caller to a queue, a flow
number or a person with the same interaction id and attached data; voicemail records a message
in the mailbox of a flow, a queue or an operator who did not answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog

from parley import events as ev
from parley.acd.agent import AcdError
from parley.center.acd_shell import AcdShell
from parley.center.calls import (
    AttendedTransfer,
    Conference,
    InboundCall,
    Step,
    TakeOver,
    ToFlow,
    ToOperator,
    ToOutside,
    ToQueue,
    ToVoicemail,
    Transfer,
)
from parley.center.consult import tell
from parley.center.ivr_shell import FlowSession, hung_up, play_and_wait
from parley.center.waiting import (
    CALLBACK_CONFIRMED,
    VOICEMAIL_GOODBYE,
    VOICEMAIL_GREETING,
    leave_voicemail,
)
from parley.config import LANGUAGES
from parley.events import HangupCause
from parley.ivr.commands import (
    EnqueueCall,
    QueueResult,
    RegisterCallback,
    SendToVoicemail,
    TransferCall,
    TransferResult,
)
from parley.ivr.environment import IvrEnvironment, SiteListsView
from parley.telephony.carry import CarryError
from parley.telephony.channel import Bridge, BridgeError, Channel, until
from parley.telephony.engine import OriginateError
from parley.telephony.media import LANGUAGE_VARIABLE
from parley.telephony.recording import CutRecording, RecordingError, cut_recording

if TYPE_CHECKING:
    from collections.abc import Callable

    from parley.center.config import CenterConfig
    from parley.clock import Clock
    from parley.ids import IdSource
    from parley.telephony.refer import ReferRequest
    from parley.telephony.server import Telephony

log = structlog.get_logger("parley.center")

DIRECT_RING_S = 25.0  # ringing an operator directly (transfer to a person) before voicemail



def set_language(call: InboundCall, language: str) -> None:
    """The caller's language from now on: its prompts, the flow's ``language`` variable, the
    queue's announcements and the operator's card (``X-Parley-Language``)."""
    call.variables[LANGUAGE_VARIABLE] = language
    if call.caller is not None:
        call.caller.variables[LANGUAGE_VARIABLE] = language

class AcdFigures:
    """Live queue figures for flows (``expected_wait("support") > 120``)."""

    def __init__(self, center: AcdShell) -> None:
        self._center = center

    def expected_wait(self, queue: str) -> float | None:
        return self._center.expected_wait_for_new(queue)

    def agents_ready(self, queue: str) -> int:
        runtime = self._center.acd.queues.get(queue)
        return 0 if runtime is None else len(runtime.ready)

    def calls_waiting(self, queue: str) -> int:
        runtime = self._center.acd.queues.get(queue)
        return 0 if runtime is None else len(runtime.waiting)



class ContactCenter:
    """Inbound calls, queues, operators and transfers over one node's telephony.

    It holds the ACD side (:attr:`shell`, an :class:`AcdShell`) and runs the callers' side:
    calls to numbers bound to flows, and transfers phones ask for by REFER.
    """

    def __init__(self, telephony: Telephony, clock: Clock, config: CenterConfig, *,
                 publish: Callable[[object], object], data_dir: Path, ids: IdSource,
                 audit_s: float = 15.0) -> None:
        self.telephony = telephony
        self.clock = clock
        self.ids = ids
        self.shell = AcdShell(telephony, clock, config, publish=publish, data_dir=data_dir,
                              ids=ids, on_inbound=self.handle_inbound, audit_s=audit_s)
        telephony.handle_refers(self.on_refer)
        #: Told of each new inbound call and where it is going (its number's flow, or None);
        #: may attach data and answer another step (the dialer's campaigns use it).
        self.on_arrival: Callable[[InboundCall, Step | None],
                                  Awaitable[Step | None]] | None = None

    async def run(self) -> None:
        """Serve the ACD side until cancelled (the callers' side runs per call)."""
        await self.shell.run()

    def apply_config(self, config: CenterConfig) -> None:
        """Take a changed configuration (see :meth:`AcdShell.apply_config`)."""
        self.shell.apply_config(config)

    # --- one inbound call, from the INVITE to the end --------------------------------------

    def environment(self) -> IvrEnvironment:
        return IvrEnvironment(lists=SiteListsView(self.shell.lists), queues=AcdFigures(self.shell))

    def new_call(self, channel: Channel) -> InboundCall:
        """The contact center's record of a call arriving on ``channel``."""
        interaction = getattr(channel, "interaction_id", "") or channel.id
        return InboundCall(self.ids.new("call"), interaction, channel.caller, channel.called,
                           channel, self.shell.wall())

    async def handle_inbound(self, channel: Channel) -> None:
        """The dial-plan handler of every number bound to a flow."""
        call = self.new_call(channel)
        match = self.shell.lists.match(channel.caller)
        if match.blocked:
            self.shell.progress(call, "rejected", {"reason": "blacklist"})
            self.shell.progress(call, "outcome", {"outcome": "rejected"})
            self.shell.mark_hung_up(call, "parley")
            channel.hangup(HangupCause.USER_BUSY if match.treatment == "busy"
                           else HangupCause.CALL_REJECTED)
            return
        route = self.shell.registry.route(channel.called)
        if route is not None and route.language:
            set_language(call, route.language)
        step: Step | None = ToFlow(route.flow, channel.called) if route is not None else None
        if self.on_arrival is not None:  # a campaign's customer: its data, its queue
            step = await self.on_arrival(call, step)
        await self.serve_call(call, step)

    async def serve_call(self, call: InboundCall, step: Step | None) -> None:
        """Take ``call`` to ``step`` (a queue, a flow or a person, with its attached data;
        None: no route) until it ends: an inbound call, or one Parley placed itself (an
        agentless campaign's "press 1") as if it had come in."""
        self.shell.live[call.interaction_id] = call
        try:
            await self._drive(call, step)
        finally:
            self._finish(call)
            self.shell.live.pop(call.interaction_id, None)

    async def _drive(self, call: InboundCall, step: Step | None) -> None:
        session: FlowSession | None = None
        pending_failure: QueueResult | TransferResult | None = None
        while not call.caller_gone:
            if pending_failure is not None and session is not None:
                handoff = await self._advance(call, session, pending_failure)
                pending_failure = None
                step, request = self._handoff_step(handoff)
            elif isinstance(step, ToFlow):
                session = self._start_flow(call, step)
                if session is None:
                    self.shell.hangup(call, HangupCause.UNALLOCATED_NUMBER)
                    return
                handoff = await self._advance(call, session, None, keep=step.draft is None)
                step, request = self._handoff_step(handoff)
            else:
                request = ""
            if step is None:
                return
            if isinstance(step, ToQueue):
                if step.queue not in self.shell.acd.queues:
                    if session is not None and request:
                        pending_failure = QueueResult(call.acd_id, request, False,
                                                      f"no queue {step.queue!r}")
                        continue
                    self.shell.hangup(call, HangupCause.UNALLOCATED_NUMBER)
                    return
                step = await self._queue(call, step)
            elif isinstance(step, ToOperator):
                result = await self._direct(call, step.user)
                if result is False:
                    if session is not None and request:
                        pending_failure = TransferResult(call.acd_id, request, False,
                                                         "no answer")
                        continue
                    step = ToVoicemail(step.user)
                else:
                    step = result
            elif isinstance(step, ToVoicemail):
                await self._voicemail(call, step.mailbox, greet=step.greet)
                return
            elif isinstance(step, ToOutside):
                step = await self._outside(call, step)
            if isinstance(step, ToFlow | ToQueue | ToOperator | ToVoicemail | ToOutside):
                session = None
                continue
            return

    async def _advance(self, call: InboundCall, session: FlowSession,
                       event: QueueResult | TransferResult | None, *,
                       keep: bool = True) -> object:
        """Run the flow until it hands the call off or ends; meanwhile a hot-standby node
        keeps where the caller is in it (not for a draft tried from the editor)."""
        if keep:
            session.on_node = lambda: self.shell.keep_in_flow(call, session)
            self.shell.keep_in_flow(call, session)
        try:
            return await session.advance(event)
        finally:
            session.on_node = None
            self.shell.forget_in_flow(call)

    def _start_flow(self, call: InboundCall, step: ToFlow) -> FlowSession | None:
        caller = call.caller
        if caller is None:
            return None
        flow = step.draft or self.shell.registry.active(step.flow)
        if flow is None:
            log.warning("flow_missing", flow=step.flow, number=step.dnis)
            return None
        from parley.ivr.interpreter import FlowRun

        current = call.variables.get(LANGUAGE_VARIABLE)
        if flow.languages and current not in flow.languages:
            current = flow.languages[0]  # the flow speaks only its own languages
        if isinstance(current, str) and current in LANGUAGES:
            set_language(call, current)
        run = FlowRun(flow, call_id=call.acd_id, ani=call.ani, dnis=step.dnis or call.dnis,
                      variables=call.variables, env=IvrEnvironment(
                          self.environment().lists, AcdFigures(self.shell),
                          flows=self.shell.registry.active),
                      screening=None)
        return FlowSession(call, run, caller, publish=self.shell.publish, wall=self.shell.wall,
                           on_callback=lambda command: self._register_callback(call, command),
                           recordings_dir=self.shell.recordings_dir,
                           default_language=self.telephony.prompts.default_language,
                           resume_at=step.at)

    def _handoff_step(self, handoff: object) -> tuple[Step | None, str]:
        if isinstance(handoff, EnqueueCall):
            return ToQueue(handoff.queue, handoff.priority, handoff.skills), handoff.request_id
        if isinstance(handoff, TransferCall):
            if handoff.kind == "operator":
                return ToOperator(handoff.target), handoff.request_id
            step = self.target_step(handoff.target)
            return step, handoff.request_id
        if isinstance(handoff, SendToVoicemail):
            return ToVoicemail(handoff.mailbox, greet=False), handoff.request_id
        return None, ""

    def target_step(self, target: str, *, by: str = "") -> Step | None:
        """Where a transfer target leads: ``queue:NAME``, ``flow:NAME``, a queue's name, a
        number bound to a flow, an operator or a SIP user, or an outside number an outbound
        route matches (called with the outside-line right of ``by``); None when nothing
        matches."""
        text = target.strip()
        kind, _, name = text.partition(":")
        if name and kind == "queue":
            return ToQueue(name) if name in self.shell.acd.queues else None
        if name and kind == "flow":
            return ToFlow(name) if self.shell.registry.active(name) is not None else None
        if text in self.shell.acd.queues:
            return ToQueue(text)
        route = self.shell.registry.route(text)
        if route is not None:
            return ToFlow(route.flow, text)
        if self.telephony.users.lookup(text) is not None or text in self.shell.acd.agents:
            return ToOperator(text)
        if self.telephony.outside.routable(text):
            return ToOutside(text, by)
        return None

    def _register_callback(self, call: InboundCall, command: RegisterCallback) -> None:
        callback_id = self.ids.new("cb")
        self.shell.feed(ev.ScheduleCallback(callback_id, command.queue, command.number,
                                      self.shell.wall()))
        self.shell.publish(ev.CallbackRequested(callback_id, command.queue, command.number,
                                          self.shell.wall(), "flow"))
        self.shell.progress(call, "callback requested", {"queue": command.queue,
                                                    "number": command.number,
                                                    "callback_id": callback_id})

    async def _queue(self, call: InboundCall, step: ToQueue) -> Step | None:
        caller = call.caller
        if caller is None:
            return None
        if not caller.is_up:  # straight to a queue, no flow answered it: hold music needs it
            caller.answer()
        loop = asyncio.get_running_loop()
        call.queue = step.queue
        call.priority = step.priority
        call.queued_at = step.since or self.shell.wall()
        call.outcome = loop.create_future()
        self.shell.calls[call.acd_id] = call
        waited: float | None = None
        if step.since is None:
            self.shell.progress(call, "queued", {"priority": step.priority}, queue=step.queue)
        else:  # carried over: queued on the other node, back in line here in its place
            waited = max(0.0, (self.shell.wall() - step.since).total_seconds())
        self.shell.feed(ev.RouteCall(call.acd_id, step.queue, caller=call.ani,
                                     priority=step.priority, waited=waited))
        if not call.outcome.done():
            self.shell.keep_waiting(call)
        return await self._outcome(call, caller, call.outcome)

    async def _outcome(self, call: InboundCall, caller: Channel,
                       outcome: asyncio.Future[object]) -> Step | None:
        """Wait for what happens to a queued call (answered and ended, transferred, a
        callback, an overflow) or its caller's hang-up, and go on from there."""
        try:
            await until(None, (caller.ended_signal,), None, (outcome,))
        finally:
            self.shell.forget_waiting(call)
        result = outcome.result() if outcome.done() else None
        if call.waiting is not None:
            call.waiting.cancel()
            call.waiting = None
        if caller.ended:
            if call.operator_leg is not None:
                call.final = "answered"
            self.shell.mark_hung_up(call, "caller")
            # the operator's phone is hung up first: with no wrap-up the ACD makes the
            # operator ready at once and offers the next call, which must find the phone free
            self.shell.end_conversation(call)
            self.shell.feed(ev.CallerHangup(call.acd_id))
            if not call.callback:
                self.shell.calls.pop(call.acd_id, None)
            return None
        return await self._after(call, result)

    def resume_waiting(self, channel: Channel, details: Mapping[str, Any], node: str) -> None:
        """A caller who waited in a queue on ``node`` before the takeover (its leg carried
        over on ``channel``, ``details`` as :meth:`AcdShell.keep_waiting` kept them): back
        in line in its place, with hold music. Raises :class:`CarryError`, ValueError,
        KeyError or TypeError when it cannot."""
        call = self._carried_in_queue(channel, details)
        if call.acd_id in self.shell.acd.calls:
            raise CarryError(f"call {call.acd_id} is already here")
        self.shell.keep_waiting(call)  # kept as this node's from its first write on
        talking_to = details.get("talking_to")
        if talking_to:  # its operator's leg (a browser's, ...) could not be carried
            log.warning("caller_back_in_line_after_takeover", interaction=call.interaction_id,
                        queue=call.queue, operator=str(talking_to), from_node=node)
            self.shell.progress(call, "back in line", {"operator": str(talking_to),
                                                        "reason": "takeover"})
        log.info("waiting_caller_carried_over", interaction=call.interaction_id,
                 queue=call.queue, from_node=node)
        self.shell.spawn(self.serve_call(call, ToQueue(call.queue, call.priority,
                                                       since=call.queued_at)),
                         f"carried-{call.acd_id}")

    def resume_flow(self, channel: Channel, details: Mapping[str, Any], node: str) -> None:
        """A caller who was in a flow on ``node`` before the takeover (its leg carried over
        on ``channel``, ``details`` as :meth:`AcdShell.keep_in_flow` kept them): the flow
        goes on from the start of the node the caller was at, with the variables it had.
        Raises :class:`CarryError`, ValueError, KeyError or TypeError when it cannot."""
        name, at = str(details["flow"]), str(details["node"])
        flow = self.shell.registry.active(name)
        if flow is None:
            raise CarryError(f"no active flow {name!r} on this node")
        if at not in flow.nodes:
            raise CarryError(f"flow {name!r} has no node {at!r} on this node")
        call = self._carried_call(channel, details)
        step = ToFlow(name, str(details["flow_dnis"]), at=at)
        log.info("flow_caller_carried_over", interaction=call.interaction_id, flow=name,
                 node=at, from_node=node)
        self.shell.spawn(self.serve_call(call, step), f"carried-{call.acd_id}")

    def _carried_call(self, channel: Channel, details: Mapping[str, Any]) -> InboundCall:
        """The contact center's call of a caller carried over on ``channel``."""
        acd_id = str(details["acd_id"])
        if acd_id in self.shell.calls or channel.interaction_id in self.shell.live:
            raise CarryError(f"call {acd_id} is already here")
        variables = details["variables"]
        if not isinstance(variables, Mapping):
            raise TypeError("the call's variables are not a mapping")
        return InboundCall(acd_id, channel.interaction_id, str(details["ani"]),
                           str(details["dnis"]), channel,
                           datetime.fromisoformat(str(details["started_at"])),
                           variables=dict(variables))

    def _carried_in_queue(self, channel: Channel, details: Mapping[str, Any]) -> InboundCall:
        """:meth:`_carried_call` of a caller who came through a queue here: its queue,
        priority and when it began waiting there."""
        queue = str(details["queue"])
        if queue not in self.shell.acd.queues:
            raise CarryError(f"no queue {queue!r} on this node")
        call = self._carried_call(channel, details)
        call.queue, call.priority = queue, int(details["priority"])
        call.queued_at = datetime.fromisoformat(str(details["queued_at"]))
        return call

    def resume_conversation(self, bridge: Bridge, first: Channel, second: Channel,
                            details: Mapping[str, Any], node: str) -> Awaitable[None]:
        """A caller talking to an operator on ``node`` before the takeover (the call in
        ``bridge``, carried over; ``details`` as :meth:`AcdShell.conversation_details`
        kept them): the operator is on that call in the ACD here at once (offered nothing
        else), and its end is the usual one (wrap-up, transfers, the record's outcome).
        Returns the coroutine that follows the call. Raises :class:`CarryError`,
        ValueError, KeyError or TypeError when it cannot."""
        legs = {first.id: first, second.id: second}
        caller, leg = legs[str(details["caller_leg"])], legs[str(details["operator_leg"])]
        if caller is leg:
            raise CarryError("the caller's leg is the operator's")
        call = self._carried_in_queue(caller, details)
        answered_at = datetime.fromisoformat(str(details["answered_at"]))
        queued_at = call.queued_at or answered_at
        call.operator, call.operator_leg, call.bridge = str(details["operator"]), leg, bridge
        call.answered_at = answered_at
        try:
            self.shell.feed(ev.ConversationCarried(
                call.acd_id, call.queue, call.operator, str(details["device"]),
                caller=call.ani, priority=call.priority,
                waited=max(0.0, (answered_at - queued_at).total_seconds()),
                talked=max(0.0, (self.shell.wall() - answered_at).total_seconds())),
                raise_errors=True)
        except AcdError as exc:
            raise CarryError(str(exc)) from exc
        call.outcome = asyncio.get_running_loop().create_future()
        self.shell.calls[call.acd_id] = call
        self.shell.conversations[bridge.id] = call
        self.shell.answered_from(call)
        self.shell.keep_waiting(call)  # on its own should the call no longer be carriable
        recorded = details.get("recording")
        if isinstance(recorded, Mapping):  # recorded there: the recording goes on here
            self.record_carried(call, bridge, recorded)
        log.info("conversation_carried_over", interaction=call.interaction_id,
                 queue=call.queue, operator=call.operator, from_node=node,
                 recording=call.recording.id if call.recording is not None else None)
        return self._carried_conversation(call, caller, leg, call.outcome)

    def record_carried(self, call: InboundCall, bridge: Bridge,
                        recorded: Mapping[str, Any]) -> None:
        """Go on recording a carried conversation: in the same file when recordings are on
        storage both nodes share (the takeover's gap a pause by ``takeover``), else in a
        file of its own on this node (the part before is the other node's file); paused
        if it was."""
        by = [str(name) for name in recorded.get("paused_by") or []]
        cut = self._cut_recording(call, recorded)
        try:
            call.recording = self.shell.start_recording(call, bridge, cut)
        except (BridgeError, RecordingError) as exc:
            if cut is None:  # the call goes on unrecorded
                log.error("carried_recording_not_started", interaction=call.interaction_id,
                          error=str(exc))
                return
            log.error("carried_recording_not_continued", interaction=call.interaction_id,
                      path=str(cut.path), error=str(exc), instead="a file of its own")
            self.record_carried(call, bridge, {**recorded, "path": None})
            return
        if cut is not None:  # who made each pause, the takeover's gap the last one
            gap = call.recording.file.gap_s > 0
            before = len(call.recording.pauses) - gap
            call.paused_by[:] = (by + [""] * before)[:before] + ["takeover"] * gap
            log.info("carried_recording_continued", interaction=call.interaction_id,
                     recording=call.recording.id, gap_s=call.recording.file.gap_s)
        elif recorded.get("paused"):
            call.recording.pause()
            call.paused_by.extend(by[-1:] or ["parley"])

    def _cut_recording(self, call: InboundCall, recorded: Mapping[str, Any]
                       ) -> CutRecording | None:
        """The carried call's recording to go on with in its own file: on shared storage
        only, and only a file inside this node's recordings folder (None otherwise, or
        when it cannot be: logged)."""
        path = recorded.get("path")
        if not self.shell.telephony.shared_recordings or not isinstance(path, str):
            return None
        folder = self.shell.recordings_dir.resolve()
        if not Path(path).resolve().is_relative_to(folder):
            log.error("carried_recording_not_continued", interaction=call.interaction_id,
                      path=path, error=f"not inside the shared recordings folder {folder}",
                      instead="a file of its own")
            return None
        try:
            return cut_recording(Path(path), str(recorded["id"]))
        except RecordingError as exc:
            log.error("carried_recording_not_continued", interaction=call.interaction_id,
                      path=path, error=str(exc), instead="a file of its own")
            return None

    async def _carried_conversation(self, call: InboundCall, caller: Channel, leg: Channel,
                                    outcome: asyncio.Future[object]) -> None:
        self.shell.live[call.interaction_id] = call
        self.shell.spawn(self.shell.follow_operator(call, call.operator, leg),
                         f"operator-{leg.id}")
        try:
            await self._drive(call, await self._outcome(call, caller, outcome))
        finally:
            self._finish(call)
            self.shell.live.pop(call.interaction_id, None)

    async def _after(self, call: InboundCall, result: object) -> Step | None:
        """What follows a conversation or a wait: a transfer's target, voicemail, or the
        end of the call."""
        caller = call.caller
        if isinstance(result, Conference):
            return await self._conference(call, result)
        if isinstance(result, AttendedTransfer):
            target = result.target
            self.shell.progress(call, "transferred", {"by": result.by, "to": target.called,
                                                 "attended": True})
            call.consult = None
            target.interaction_id = call.interaction_id  # one live call from now on
            # the consulted person's desk takes the call's card and script (a phone's
            # REFER with Replaces, as a transfer completed at the desk)
            tell(self.shell, call, operator=result.by, party=self.shell.owners.get(
                target.called, target.called), state="transferred")
            self.shell.end_conversation(call, transfer=True)
            self.shell.calls.pop(call.acd_id, None)
            call.transfers += 1
            call.acd_id = f"{call.acd_id.split('~')[0]}~{call.transfers}"
            if target.bridge is not None:
                target.bridge.remove(target)  # out of the consultation, which now ends
            result.consultation.hangup()
            if target.ended:
                self.shell.hangup(call, HangupCause.NORMAL_CLEARING)
                return None
            return await self._converse(call, target, self.shell.owners.get(target.called,
                                                                      target.called))
        if isinstance(result, TakeOver):
            return await self._taken_over(call, result)
        if isinstance(result, Transfer):
            step = self.target_step(result.target, by=result.by)
            self.shell.progress(call, "transferred", {"by": result.by, "to": result.target})
            self.shell.end_conversation(call, transfer=True)
            self.shell.calls.pop(call.acd_id, None)
            call.transfers += 1
            call.acd_id = f"{call.acd_id.split('~')[0]}~{call.transfers}"
            if step is None:
                self.shell.hangup(call, HangupCause.UNALLOCATED_NUMBER)
            return step
        if not call.callback:
            self.shell.calls.pop(call.acd_id, None)
        if isinstance(result, tuple) and result:
            kind = result[0]
            if kind == "ended":
                call.final = "answered"
                self.shell.mark_hung_up(call, call.operator or "operator")
                self.shell.end_conversation(call)
                self.shell.hangup(call, HangupCause.NORMAL_CLEARING)
                return None
            if kind == "callback":
                call.final = "callback"
                self.shell.progress(call, "callback requested", {"number": call.ani,
                                                            "queue": call.queue})
                if caller is not None and not caller.ended:
                    await play_and_wait(caller, [CALLBACK_CONFIRMED])
                self.shell.hangup(call, HangupCause.NORMAL_CLEARING)
                return None
            if kind == "rejected":
                call.final = "rejected"
                self.shell.hangup(call, HangupCause.CALL_REJECTED)
                return None
            if kind == "overflow":
                target_kind, name = str(result[1]), str(result[2])
                if target_kind == "voicemail":
                    return ToVoicemail(name or call.queue)
                if target_kind == "flow":
                    return ToFlow(name)
                self.shell.hangup(call, HangupCause.NORMAL_CLEARING)
                return None
        self.shell.hangup(call, HangupCause.NORMAL_CLEARING)
        return None

    async def _taken_over(self, call: InboundCall, result: TakeOver) -> Step | None:
        """A supervisor took the customer over: the operator's leg is released (wrap-up as
        after a transfer, their desk told why) and the supervisor's leg, already answered,
        talks with the customer from now on under the same call record."""
        leg, operator = result.leg, call.operator
        self.shell.progress(call, "taken over", {"by": result.by, "from": operator})
        self.shell.publish(ev.SupervisorMonitoring(call.interaction_id, operator, result.by,
                                                   "takeover", self.shell.wall()))
        leg.interaction_id = call.interaction_id  # one live call from now on
        if leg.bridge is not None:
            leg.bridge.remove(leg)  # out of the conversation's mix
        self.shell.end_conversation(call, transfer=True)
        self.shell.calls.pop(call.acd_id, None)
        call.transfers += 1
        call.acd_id = f"{call.acd_id.split('~')[0]}~{call.transfers}"
        if leg.ended:
            self.shell.hangup(call, HangupCause.NORMAL_CLEARING)
            return None
        # the supervisor's desk (if any) takes the call's card and script, as on a transfer
        self.shell.publish(ev.ConsultationChanged(call.interaction_id, result.by, operator,
                                                  result.by, "transferred", call.ani,
                                                  self.shell.wall()))
        return await self._converse(call, leg, result.by)

    async def _direct(self, call: InboundCall, user: str) -> Step | Literal[False] | None:
        """Ring one person (a transfer to an operator); False when they do not answer."""
        caller = call.caller
        if caller is None:
            return None
        device = self.device_of(user)
        try:
            leg = self.telephony.originate(
                device, caller_id=call.ani, timeout=DIRECT_RING_S,
                variables={"operator": user}, headers=call.headers(),
                interaction_id=call.interaction_id)
        except (OriginateError, ValueError) as exc:
            self.shell.progress(call, "not reachable", {"operator": user, "reason": str(exc)})
            return False
        self.shell.progress(call, "offered", {"operator": user, "device": device})
        if caller.is_up:
            policy = self.shell.policies.get(call.queue)
            caller.start_moh(policy.music if policy is not None else "default")
        await until(None, (leg.answered_signal, leg.ended_signal, caller.ended_signal), None)
        if caller.ended:
            leg.hangup()
            return None
        if not leg.is_up:
            self.shell.progress(call, "not answered", {"operator": user})
            caller.stop_moh()
            return False
        if not caller.is_up:
            caller.answer(codec=leg.codec)
        return await self._converse(call, leg, self.shell.owners.get(device, user))

    async def _converse(self, call: InboundCall, leg: Channel, operator: str) -> Step | None:
        """Bridge the caller with ``leg`` (outside the ACD: a person rung directly, or the
        target of an attended transfer) until one hangs up or a transfer follows."""
        caller = call.caller
        if caller is None:
            leg.hangup()
            return None
        self.shell.join(call, leg, operator)
        return await self._talk(call, leg)

    async def _talk(self, call: InboundCall, leg: Channel) -> Step | None:
        """The caller and the operator on ``leg`` talk until one hangs up or a transfer or
        a conference follows."""
        caller = call.caller
        if caller is None:
            leg.hangup()
            return None
        call.outcome = asyncio.get_running_loop().create_future()
        await until(None, (caller.ended_signal, leg.ended_signal), None, (call.outcome,))
        result = call.outcome.result() if call.outcome.done() else None
        if hung_up(caller):
            call.final = "answered"
            self.shell.mark_hung_up(call, "caller")
            self.shell.end_conversation(call)
            self.shell.feed(ev.CallerHangup(call.acd_id))  # a queue's call after a conference
            self.shell.calls.pop(call.acd_id, None)
            return None
        if result is None:
            result = ("ended", "operator")
        return await self._after(call, result)

    async def _conference(self, call: InboundCall, result: Conference) -> Step | None:
        """The customer, the operator and the person they consulted talk in one mix. The
        customer hanging up ends it; the operator leaving hands the customer over (as a
        completed transfer); the consulted person leaving leaves the first two talking."""
        caller, operator_leg, target = call.caller, result.operator_leg, result.target
        party = self.shell.owners.get(target.called, target.called)
        if caller is None:
            return None
        await until(None, (caller.ended_signal, operator_leg.ended_signal, target.ended_signal),
                    None)
        call.consult = None
        if caller.ended:
            call.final = "answered"
            self.shell.mark_hung_up(call, "caller")
            target.hangup()
            self.shell.end_conversation(call)
            self.shell.feed(ev.CallerHangup(call.acd_id))
            self.shell.calls.pop(call.acd_id, None)
            tell(self.shell, call, operator=result.by, party=party, state="ended")
            return None
        if operator_leg.ended:  # the operator left: the consulted person keeps the customer
            return await self._after(call, AttendedTransfer(target, operator_leg, result.by))
        if target.bridge is not None:
            target.bridge.remove(target)  # back to two: relayed again
        tell(self.shell, call, operator=result.by, party=party, state="ended")
        return await self._talk(call, operator_leg)

    async def _outside(self, call: InboundCall, step: ToOutside) -> Step | None:
        """Transfer the caller to an outside number through the routes: the caller hears
        music while it rings, then talks with it; a refused or failed call ends the call."""
        caller = call.caller
        if caller is None:
            return None

        def refused(reason: str) -> None:
            self.shell.progress(call, "transfer refused", {"to": step.number, "by": step.by,
                                                           "reason": reason})

        leg = await self.shell.call_customer(
            step.number, operator=step.by, interaction_id=call.interaction_id,
            caller_id=call.ani, queue=call.queue, variables={"transferred_by": step.by},
            on_refused=refused)
        if leg is None:
            self.shell.hangup(call, HangupCause.CALL_REJECTED)
            return None
        self.shell.progress(call, "dialling outside", {"number": step.number})
        await until(None, (leg.answered_signal, leg.ended_signal, caller.ended_signal), None)
        if caller.ended:
            leg.hangup()
            return None
        if not leg.is_up:
            self.shell.progress(call, "not answered", {"number": step.number})
            self.shell.hangup(call, leg.hangup_cause or HangupCause.NO_ANSWER)
            return None
        return await self._converse(call, leg, step.number)

    def device_of(self, user: str) -> str:
        """The phone that rings for ``user``: their own SIP user, else a device they own."""
        if self.telephony.users.lookup(user) is not None:
            return user
        for device, owner in self.shell.owners.items():
            if owner == user:
                return device
        return user

    async def _voicemail(self, call: InboundCall, mailbox: str, *, greet: bool = True) -> None:
        caller = call.caller
        if caller is None:
            return
        self.shell.progress(call, "voicemail", {"mailbox": mailbox})
        voicemail_id = self.ids.new("vm")
        def recording() -> None:  # the outcome is known before the caller hangs up
            call.final = "voicemail"
            self.shell.progress(call, "outcome", {"outcome": "voicemail"})

        recorded = await leave_voicemail(caller, greeting=[VOICEMAIL_GREETING] if greet else [],
                                         name=voicemail_id, on_recording=recording)
        if recorded is None:
            return
        path, duration = recorded
        target = self.shell.voicemail_dir / mailbox / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        sidecar = path.with_suffix(".json")
        if sidecar.exists():
            sidecar.replace(target.with_suffix(".json"))
        call.final = "voicemail"
        self.shell.publish(ev.VoicemailLeft(voicemail_id, mailbox, call.ani, str(target), duration,
                                      self.shell.wall(), call.interaction_id))
        if not caller.ended:
            await play_and_wait(caller, [VOICEMAIL_GOODBYE])
        self.shell.hangup(call, HangupCause.NORMAL_CLEARING)

    def _finish(self, call: InboundCall) -> None:
        if call.caller is not None and call.caller.ended:
            self.shell.mark_hung_up(call, "caller")
            if call.final:
                return
        self.shell.hangup(call, HangupCause.NORMAL_CLEARING)

    # --- transfers -----------------------------------------------------------------------

    async def on_refer(self, channel: Channel, refer: ReferRequest) -> bool:
        """A phone in a conversation asks (REFER) to transfer the customer to ``target``, or,
        with Replaces, to the person it has just consulted on a second call. Telephony lets
        only the site's own phones get here (``telephony.refer.may_transfer``)."""
        call = self.call_of_leg(channel)
        if call is None:
            return False
        by = call.operator or channel.called
        if refer.replaces is not None:
            return self.attended_transfer(call, refer.replaces.call_id,
                                          refer.replaces.to_tag, refer.replaces.from_tag, by=by)
        return self.transfer(call, refer.target, by=by)

    def attended_transfer(self, call: InboundCall, call_id: str, to_tag: str | None,
                          from_tag: str | None, *, by: str) -> bool:
        """Join the customer to the other party of the operator's consultation call (the
        dialog named by Replaces); False when there is no such answered call."""
        consultation = self.telephony.find_dialog(call_id, to_tag, from_tag)
        if consultation is None or consultation.bridge is None or call.operator_leg is None \
                or consultation is call.operator_leg:
            return False
        others = [member for member in consultation.bridge.members if member is not consultation]
        if len(others) != 1 or not others[0].is_up:
            return False
        if call.outcome is None or call.outcome.done():
            return False
        call.resolve(AttendedTransfer(others[0], consultation, by))
        return True

    def transfer(self, call: InboundCall, target: str, *, by: str) -> bool:
        """Blind-transfer a connected call; False when the target is unknown or the call is
        not in a conversation."""
        if call.operator_leg is None or self.target_step(target) is None:
            return False
        if call.outcome is None or call.outcome.done():
            return False
        call.resolve(Transfer(target, by))
        return True

    def call_of_leg(self, channel: Channel) -> InboundCall | None:
        for call in self.shell.live.values():
            if call.operator_leg is channel or call.caller is channel:
                return call
        return None
