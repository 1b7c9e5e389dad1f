"""The ACD side of the contact-center shell: the pure ACD driven over real calls.

The ACD's commands are executed on telephony: ``OfferCall`` rings the operator's device (with
``X-Parley-*`` headers: caller, queue, flow data), ``CancelOffer`` stops it (no answer: the ACD
moves the call on), an answer bridges operator and caller and records per queue policy,
``DialCallback`` calls the operator first and then the customer. Operators log in when their
phone registers (``site.ready_on_register``), unless they work at the desk in the browser,
where only their own clicks change their state. Every step is published as a notice for the call
record and the live events.

The ACD is fed through :meth:`AcdShell.feed` only, one event at a time (events caused by its
own commands queue behind); its timers are served by :meth:`AcdShell.run`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import structlog

from parley import events as ev
from parley.acd import Acd
from parley.acd.agent import AcdError, AgentState
from parley.acd.lists import NumberLists
from parley.center.calls import (
    InboundCall,
)
from parley.center.config import CenterConfig, QueuePolicy
from parley.center.ivr_shell import hung_up
from parley.center.personal import PersonalCalls
from parley.center.waiting import (
    WaitingFigures,
    wait_in_queue,
)
from parley.clock import Clock, serve_deadlines
from parley.config import LANGUAGES, voicemail_dir
from parley.events import HangupCause
from parley.ids import IdSource
from parley.telephony.channel import Bridge, Channel, ChannelError, ChannelState, until
from parley.telephony.dialplan import NumberHandler
from parley.telephony.engine import OriginateError
from parley.telephony.media import LANGUAGE_VARIABLE, Speech, Tone
from parley.telephony.outside import OutboundRefused, TrunkLine

if TYPE_CHECKING:
    from parley.center.ivr_shell import FlowSession
    from parley.ivr.registry import FlowRegistry
    from parley.telephony.carry import CallKeeper
    from parley.telephony.media import CallRecording
    from parley.telephony.recording import CutRecording
    from parley.telephony.server import Telephony

log = structlog.get_logger("parley.center")

TRANSFER_HANGUP_DELAY_S = 1.5  # the transferring phone gets its NOTIFY before Parley's BYE
DIRECT_RING_S = 25.0  # ringing an operator directly (transfer to a person) before voicemail
BUSY_RETRY_S = 1.0  # an operator whose phone is busy or unreachable is reported so after


#: the kind of leg a waiting caller is kept as for a hot standby (parley.telephony.carry)
WAITING = "waiting"
#: the kind of leg a caller in a flow is kept as
IN_FLOW = "ivr"

ANSWERED_KEPT = 10_000
"""The most answered calls whose wrap-up the shell waits for (to name their queue)."""


class AcdShell:
    """The ACD over telephony: offers ring operators, answers bridge, callbacks dial, operators
    log in when their phones register. :class:`~parley.center.shell.ContactCenter` holds one
    and adds the callers' side (flows, waiting, transfers, voicemail): calls to numbers bound
    to flows go to the ``on_inbound`` handler it gives."""

    def __init__(self, telephony: Telephony, clock: Clock, config: CenterConfig, *,
                 publish: Callable[[object], object], data_dir: Path, ids: IdSource,
                 on_inbound: NumberHandler, audit_s: float = 15.0) -> None:
        self.telephony = telephony
        self._audit_s = audit_s  # between audits of live legs (LiveLegs)
        self.clock = clock
        self.ids = ids
        self._on_inbound = on_inbound
        self.publish = publish
        self.data_dir = data_dir
        self.recordings_dir = telephony.media.recordings_dir
        self.voicemail_dir = voicemail_dir(data_dir)
        self.config = config
        self.lists: NumberLists = config.number_lists()
        self.acd = Acd(config.queue_configs(), config.operators(), lists=self.lists,
                       site=config.site_config(), wall=self._wall_of)
        self.policies: dict[str, QueuePolicy] = config.policies()
        self.registry: FlowRegistry = config.registry()
        self.owners: dict[str, str] = config.device_owner()
        self.calls: dict[str, InboundCall] = {}  # in the ACD, by ACD id
        #: the call record and queue of each ACD call an operator answered from a queue,
        #: until the operator's wrap-up of it begins (and each operator's wrap-up in hand)
        # oldest first; an OrderedDict drops its oldest in O(1), a dict scans its deleted
        # slots again (calls answered without a wrap-up stay until the limit drops them)
        self._answered_from: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._wrapping: dict[str, tuple[str, str]] = {}
        self.live: dict[str, InboundCall] = {}  # every call with a leg up, by interaction id
        self._pending: deque[Any] = deque()
        #: Called with each batch the ACD answered, after it was executed (the dialer shell
        #: follows operators' states from these: one net change per operator and batch).
        self.observers: list[Callable[[list[Any]], None]] = []
        #: operators on calls no queue or campaign gave them (first to see each batch)
        self.personal = PersonalCalls(self)
        self.observers.append(self.personal.acd_batch)
        self._feeding = False
        self._wake = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._bound: set[str] = set()
        #: campaigns' caller IDs customers call back (bound like flow numbers)
        self.campaign_numbers: frozenset[str] = frozenset()
        #: operators signed in at the desk in the browser: their phones registering or
        #: unregistering never changes their state (only their own clicks do)
        self.at_desk: set[str] = set()
        #: a hot-standby node's keeper of calls: callers waiting in a queue are kept in it
        #: (:meth:`keep_waiting`) for the other node to put back in line after a takeover
        self.carry: CallKeeper | None = None
        #: the calls whose caller talks to an operator, by bridge id
        self.conversations: dict[str, InboundCall] = {}
        self._bind_numbers()
        self._check_flow_prompts()

    # --- time ----------------------------------------------------------------------------

    def _wall_of(self, now: float) -> datetime:
        return self.clock.utcnow() - timedelta(seconds=self.clock.monotonic() - now)

    def wall(self) -> datetime:
        return self.clock.utcnow()

    # --- configuration -------------------------------------------------------------------

    def _configure_outside(self) -> None:
        """The site's numbering, routes and rights for telephony's outside calls, carried by
        the live trunks (:class:`TrunkLine`) unless another line was given; trunks that are
        down, unregistered or full are left out of the plan."""
        config = self.config
        self.telephony.set_numbering(config.numbering())
        outside = self.telephony.outside
        outside.routes = config.outbound_routes()
        outside.right_of = config.right_of
        outside.caller_id_of = config.caller_id_of
        if outside.line is None or isinstance(outside.line, TrunkLine):
            outside.line = TrunkLine(self.telephony) if config.trunks else None
        outside.available = self.telephony.trunk_available

    def _bind_numbers(self) -> None:
        """Every number bound to a flow reaches the callers' side, from anywhere."""
        self._configure_outside()
        numbers = set(self.registry.numbers) | self.campaign_numbers
        for number in self._bound - numbers:
            self.telephony.unroute(number)
        for number in numbers:
            self.telephony.route(number, self._on_inbound)
        self._bound = numbers

    def bind_campaign_numbers(self, numbers: frozenset[str]) -> None:
        """Route calls to ``numbers`` (campaigns' caller IDs, E.164) to the callers' side,
        beside the flows' numbers; a number dropped from both is unbound."""
        if numbers != self.campaign_numbers:
            self.campaign_numbers = numbers
            self._bind_numbers()

    def _check_flow_prompts(self) -> None:
        """Log every prompt an active flow can play that is missing in one of its languages
        (``parley check-flows`` reports the same before the flow goes live)."""
        from functools import cache

        from parley.ivr.prompt_check import check_prompts

        prompts = self.telephony.prompts
        exists = cache(prompts.exists)
        for name in self.registry.names:
            flow = self.registry.active(name)
            if flow is None:
                continue
            for issue in check_prompts(flow, exists, site_language=prompts.default_language):
                log.error("flow_prompt_missing", flow=name, issue=str(issue))

    def apply_config(self, config: CenterConfig) -> None:
        """Take a changed configuration: flows, numbers, lists, queue policies and new
        queues and operators apply at once; calls in progress keep what they started with."""
        known_static = set(self.config.static_devices())
        self.config = config
        self.registry = config.registry()
        self._check_flow_prompts()
        self.policies = config.policies()
        self.owners = config.device_owner()
        fresh = config.number_lists()
        self.lists.blacklist, self.lists.vip, self.lists.tagged = (
            fresh.blacklist, fresh.vip, fresh.tagged)
        self.acd.site = config.site_config()
        operators = config.operators()
        for agent in operators:
            if agent.agent_id in self.acd.agents:
                self.acd.update_agent(agent.agent_id, skills=agent.skills, team=agent.team,
                                      teams=agent.teams, name=agent.name)
        for queue in config.queue_configs():
            if queue.name in self.acd.queues:
                self.acd.update_queue(queue)
            else:
                self.acd.add_queue(queue)
        for agent in operators:
            if agent.agent_id not in self.acd.agents:
                self.acd.add_agent(agent)
        self._bind_numbers()
        if config.ready_on_register:  # a phone given a fixed address counts as registered
            for device in set(config.static_devices()) - known_static:
                self._device_registered(device)

    # --- running -------------------------------------------------------------------------

    def _on_time(self, now: float) -> None:
        self._execute(self.acd.on_time(now))
        self._drain()

    async def run(self) -> None:
        """Serve the ACD's timers, log operators in (static phones, registrations) and audit
        live legs, until cancelled."""
        unsubscribe = self.telephony.subscribe(self._telephony_event)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                if self.config.ready_on_register:
                    for device in self.config.static_devices():
                        self._device_registered(device)
                    # registered before the center ran (bindings restored from the store)
                    for device in sorted(self.telephony.engine.registrations.online):
                        self._device_registered(device)
                group.create_task(self._watchdog())
                await serve_deadlines(self.clock, self._wake, self.acd.next_deadline,
                                      self._on_time)
        finally:
            self._group = None
            unsubscribe()

    async def _watchdog(self) -> None:
        while True:
            await self.clock.sleep(self._audit_s)
            live = frozenset(call.acd_id for call in self.calls.values()
                             if not call.caller_gone or call.offers
                             or call.operator_leg is not None)
            self.feed(ev.LiveLegs(live | {leg.interaction_id for leg in self.telephony.channels()}))

    def spawn(self, coroutine: Awaitable[None], name: str) -> None:
        """Run ``coroutine`` in the contact center's task group (logged if it fails)."""

        async def guarded() -> None:
            try:
                await coroutine
            except Exception:
                log.exception("center_task_failed", task=name)

        if self._group is not None:
            self._group.create_task(guarded(), name=name)
        else:
            asyncio.get_running_loop().create_task(guarded(), name=name)

    # --- the ACD -------------------------------------------------------------------------

    def feed(self, event: ev.AcdEvent, *, raise_errors: bool = False) -> None:
        """Hand one event to the ACD and execute what it answers (events caused by those
        commands queue behind it: the ACD sees one event at a time)."""
        if self._feeding:
            self._pending.append(event)
            return
        self._feeding = True
        try:
            self._handle(event, raise_errors=raise_errors)
            self._drain()
        finally:
            self._feeding = False
        self._wake.set()

    def feed_first(self, event: ev.AcdEvent) -> None:
        """:meth:`feed`, but ahead of the events already waiting when the ACD is busy."""
        if self._feeding:
            self._pending.appendleft(event)
        else:
            self.feed(event)

    def _handle(self, event: ev.AcdEvent, *, raise_errors: bool = False) -> None:
        try:
            out = self.acd.handle(event, self.clock.monotonic())
        except AcdError:
            if raise_errors:
                raise
            log.warning("acd_refused", acd_event=repr(event), exc_info=True)
            out = []
        self._execute(out)

    def _drain(self) -> None:
        """The events the commands caused, one after another (a loop, not a recursion: a
        chain of them may be long, as after a takeover)."""
        was_feeding = self._feeding
        self._feeding = True
        try:
            while self._pending:
                self._handle(self._pending.popleft())
        finally:
            self._feeding = was_feeding

    def _execute(self, out: list[Any]) -> None:
        was_feeding = self._feeding
        self._feeding = True
        try:
            for item in out:
                if isinstance(item, ev.AgentStateChanged):
                    item = self._wrap_up_of(item)
                handler = self._commands.get(type(item))
                if handler is not None:
                    try:
                        handler(self, item)
                    except Exception:
                        log.exception("acd_command_failed", command=repr(item))
                self.publish(item)
            for observer in self.observers:
                try:
                    observer(out)
                except Exception:
                    log.exception("acd_observer_failed")
        finally:
            self._feeding = was_feeding

    def expected_wait_for_new(self, queue: str) -> float | None:
        runtime = self.acd.queues.get(queue)
        if runtime is None:
            return None
        return self.acd.expected_wait_on_arrival(queue, self.clock.monotonic())

    def progress(self, call: InboundCall, kind: str, detail: dict[str, object] | None = None,
                  *, queue: str = "", operator: str = "") -> None:
        self.publish(ev.CallProgress(call.interaction_id, kind, detail or {}, queue=queue,
                                     operator=operator))

    def _on_offer(self, command: ev.OfferCall) -> None:
        call = self.calls.get(command.call_id)
        if call is None or call.caller_gone:  # the caller left: the call leaves the queue
            # (its coroutine would say so a moment later) and the operator is free, no
            # missed call counted against them
            self._pending.append(ev.CallerHangup(command.call_id, unrung=command.agent_id))
            return
        if self._on_another_call(command.device):  # a personal call the ACD did not give
            self._unreachable(call, command, "on another call")
            return
        try:
            leg = self.telephony.originate(
                command.device, caller_id=call.ani, timeout=command.ring_timeout + 30,
                variables={"queue": call.queue, "operator": command.agent_id},
                headers=call.headers(), interaction_id=call.interaction_id)
        except (OriginateError, ValueError) as exc:  # no phone registered, a bad contact
            self._unreachable(call, command, str(exc))
            return
        call.offers[command.agent_id] = leg
        if self.carry is not None:  # cancelled by the other node should this one fail
            self.carry.keep_offer(f"offer:{leg.id}", leg)
        self.progress(call, "offered", {"operator": command.agent_id,
                                         "device": command.device})
        self.spawn(self._ring(call, command.agent_id, leg), f"ring-{leg.id}")

    def _unreachable(self, call: InboundCall, command: ev.OfferCall, reason: str) -> None:
        """An offer that failed before ringing: noted, and told to the ACD a moment later,
        not at once. The ACD would offer the same operator the next waiting call at once,
        that offer would fail the same way, and so on in a loop that never lets the event
        loop run (the phone can neither hang up nor register)."""
        self.progress(call, "not reachable", {"operator": command.agent_id, "reason": reason})
        self.clock.call_later(BUSY_RETRY_S, lambda: self.feed(
            ev.AgentLegEnded(command.call_id, command.agent_id)))

    def _on_another_call(self, device: str) -> bool:
        """A phone (not a gateway with a static contact) already in a call."""
        return self.one_line(device) and self.telephony.is_busy(device)

    def one_line(self, device: str) -> bool:
        """Whether ``device`` is a phone of the site whose calls keep its operator busy: not
        a gateway with a static contact, which may hold several lines."""
        user = self.telephony.users.lookup(device)
        return user is not None and not user.static_contact

    async def _ring(self, call: InboundCall, agent_id: str, leg: Channel) -> None:
        """Follow one operator leg of a queued call: ringing, answer, conversation, end."""

        def ringing(changed: Channel) -> None:
            if changed.state is ChannelState.RINGING and call.offers.get(agent_id) is leg:
                self.feed(ev.AgentRinging(call.acd_id, agent_id))

        leg.on_change(ringing)
        answered = await leg.wait_answered()
        if self.carry is not None:
            self.carry.forget(f"offer:{leg.id}")
        if not answered:
            if leg.id not in call.cancelled and call.offers.get(agent_id) is leg:
                del call.offers[agent_id]
                cause = leg.hangup_cause.name.lower() if leg.hangup_cause else "unknown"
                self.progress(call, "not answered", {"operator": agent_id, "cause": cause})
                self.feed(ev.AgentLegEnded(call.acd_id, agent_id))
            return
        if call.offers.get(agent_id) is leg:
            self.feed(ev.AgentAnswered(call.acd_id, agent_id))
        else:
            leg.hangup()
            return
        await self.follow_operator(call, agent_id, leg)

    async def follow_operator(self, call: InboundCall, agent_id: str, leg: Channel) -> None:
        """The operator's answered leg until it ends: the operator hung up (the ACD hears
        of it, the call's coroutine goes on), unless the shell ended it itself."""
        await leg.wait_ended()
        if leg.id in call.cancelled:
            return
        if call.operator_leg is leg:
            self.feed(ev.AgentLegEnded(call.acd_id, agent_id))
            call.resolve(("ended", "operator"))

    def _on_cancel(self, command: ev.CancelOffer) -> None:
        call = self.calls.get(command.call_id)
        if call is None:
            return
        leg = call.offers.pop(command.agent_id, None)
        if leg is not None:
            call.cancelled.add(leg.id)
            if not leg.ended:
                self.progress(call, "not answered", {"operator": command.agent_id,
                                                      "cause": "ring timeout"}
                               if not leg.is_up else {"operator": command.agent_id,
                                                      "cause": "answered elsewhere"})
            leg.hangup(HangupCause.ORIGINATOR_CANCEL if not leg.is_up
                       else HangupCause.NORMAL_CLEARING)

    def _on_connected(self, command: ev.CallConnected) -> None:
        call = self.calls.get(command.call_id)
        if call is None:
            return
        leg = call.offers.pop(command.agent_id, None)
        caller = call.caller
        if leg is None or leg.ended or caller is None or caller.ended:
            if caller is None or caller.ended:
                self._pending.append(ev.CallerHangup(call.acd_id))
            if leg is not None and not leg.ended:
                call.cancelled.add(leg.id)
                leg.hangup()
            else:
                self._pending.append(ev.AgentLegEnded(call.acd_id, command.agent_id))
            return
        self.join(call, leg, command.agent_id, waited=command.waited)

    def _wrap_up_of(self, change: ev.AgentStateChanged) -> ev.AgentStateChanged:
        """``change`` with the call record and queue of the call a wrap-up follows (the
        state log keeps them: reports add the wrap-up to that queue's handle time); a
        wrap-up extended goes on naming them."""
        if change.new != "wrap_up":
            self._wrapping.pop(change.agent_id, None)
            return change
        answered = self._answered_from.pop(change.call_id, None) if change.call_id else None
        if answered is not None:
            self._wrapping[change.agent_id] = answered
        else:
            answered = self._wrapping.get(change.agent_id)
        if answered is None:
            return change
        return dataclasses.replace(change, interaction_id=answered[0], queue=answered[1])

    def join(self, call: InboundCall, leg: Channel, operator: str, *,
              waited: float | None = None) -> None:
        """Bridge the caller and the operator who answered, and record per queue policy."""
        caller = call.caller
        assert caller is not None  # noqa: S101 - checked by the callers
        if call.waiting is not None:
            call.waiting.cancel()
            call.waiting = None
        for channel in (caller, leg):
            try:
                channel.stop_moh()
                self._stop_playbacks(channel)
            except ChannelError:
                pass
        # still kept as waiting: the keeper writes it only while the conversation cannot be
        # carried whole (a browser's leg, a supervisor listening): back in line after a
        # takeover rather than cut off
        call.operator = operator
        call.operator_leg = leg
        call.answered_at = call.answered_at or self.wall()
        if call.queue and call.acd_id in self.acd.calls:
            self.answered_from(call)
        call.bridge = self.telephony.bridge(caller, leg)
        self.conversations[call.bridge.id] = call
        policy = self.policies.get(call.queue)
        if policy is not None and policy.recording == "all" and call.recording is None:
            call.recording = self.start_recording(call, call.bridge)
        shell = caller.engine.media
        if shell is not None and call.recording is None:
            for channel in (caller, leg):  # relayed packet for packet: nothing to decode
                shell.release(channel)
        detail: dict[str, object] = {"operator": operator}
        if waited is not None:
            detail["waited_s"] = round(waited, 3)
        self.progress(call, "answered", detail, queue=call.queue, operator=operator)
        hooks, call.on_answered = call.on_answered, []
        for hook in hooks:
            try:
                hook(call)
            except Exception:
                log.exception("answered_hook_failed", interaction=call.interaction_id)

    def answered_from(self, call: InboundCall) -> None:
        """Note the record and queue of ``call``, answered from its queue: the operator's
        wrap-up after it names them."""
        self._answered_from[call.acd_id] = (call.interaction_id, call.queue)
        while len(self._answered_from) > ANSWERED_KEPT:  # a wrap-up that never came
            self._answered_from.popitem(last=False)

    def _stop_playbacks(self, channel: Channel) -> None:
        shell = channel.engine.media
        if shell is None:
            return
        for playback in list(shell.playbacks.values()):
            if playback.channel_id == channel.id:
                playback.stop()

    def _on_queued(self, notice: ev.CallQueued) -> None:
        call = self.calls.get(notice.call_id)
        if call is None or call.caller_gone or call.callback:
            return
        self.progress(call, "waiting", {"position": notice.position,
                                         "expected_wait_s": round(notice.expected_wait, 1)},
                       queue=notice.queue)
        if call.waiting is None and call.operator_leg is None:
            call.waiting = asyncio.ensure_future(self._wait(call))

    async def _wait(self, call: InboundCall) -> None:
        caller = call.caller
        if caller is None:
            return
        policy = self.policies.get(call.queue) or QueuePolicy(call.queue)

        def figures() -> WaitingFigures | None:
            position = self.acd.position(call.acd_id)
            runtime = self.acd.queues.get(call.queue)
            if position is None or runtime is None:
                return None
            if runtime.logged_in - runtime.not_ready <= 0:
                return WaitingFigures(position, None)
            wait = self.acd.expected_wait(call.acd_id, self.clock.monotonic()) or 0.0
            return WaitingFigures(position, wait)

        def announced(current: WaitingFigures) -> None:
            wait = current.expected_wait_s
            self.progress(call, "announced", {
                "position": current.position,
                "expected_wait_s": None if wait is None else round(wait, 1)})

        def callback() -> bool:
            try:
                self.feed(ev.RequestCallback(call.acd_id, call.ani), raise_errors=True)
            except AcdError:
                return False
            call.callback = True
            self.publish(ev.CallbackRequested(call.acd_id, call.queue, call.ani, self.wall(),
                                              "caller"))
            call.resolve(("callback",))
            return True

        chosen = call.variables.get(LANGUAGE_VARIABLE)  # a number's, a flow's, the caller's
        if not (isinstance(chosen, str) and chosen in LANGUAGES):
            chosen = policy.language  # nothing chose one: the queue's (None: the site's)
        if chosen:
            caller.variables[LANGUAGE_VARIABLE] = chosen
            call.variables[LANGUAGE_VARIABLE] = chosen
        await wait_in_queue(caller, self.clock, music=policy.music,
                            announce_every_s=policy.announce_every_s,
                            callback_offer_s=policy.callback_offer_s, figures=figures,
                            on_announced=announced, on_callback=callback)

    def keep_waiting(self, call: InboundCall) -> None:
        """Keep ``call``, whose caller waits in a queue, for the other node of a hot-standby
        cluster (``ContactCenter.resume_waiting`` puts it back in line after a takeover)."""
        carry, caller = self.carry, call.caller
        if carry is None or caller is None or call.callback:
            return
        carry.keep(f"{WAITING}:{call.acd_id}", WAITING, caller,
                   lambda: self._waiting_details(call))

    def forget_waiting(self, call: InboundCall) -> None:
        """``call`` no longer waits (answered, gone, sent elsewhere)."""
        if self.carry is not None:
            self.carry.forget(f"{WAITING}:{call.acd_id}")

    def keep_in_flow(self, call: InboundCall, session: FlowSession) -> None:
        """Keep ``call``, whose caller is in a flow (``session``), for the other node of a
        hot-standby cluster (``ContactCenter.resume_flow`` goes on from the node the caller
        is at); called again each time the caller moves to another node."""
        carry, caller = self.carry, call.caller
        if carry is None or caller is None:
            return

        def details() -> dict[str, Any]:
            run = session.run
            node = run.node or session.resume_at or run.flow.start  # not started yet
            return {**self._call_details(call, {**call.variables, **run.variables}),
                    "flow": run.flow.name, "node": node, "flow_dnis": run.dnis}
        carry.keep(f"{IN_FLOW}:{call.acd_id}", IN_FLOW, caller, details)

    def forget_in_flow(self, call: InboundCall) -> None:
        """``call`` left its flow (handed off, ended)."""
        if self.carry is not None:
            self.carry.forget(f"{IN_FLOW}:{call.acd_id}")

    def conversation_details(self, bridge: Bridge) -> dict[str, Any] | None:
        """What the other node needs to go on with the conversation in ``bridge`` as the
        contact center's (``ContactCenter.resume_conversation``): its call, queue and
        operator, when it was queued and answered; None for a bridge that is not a
        caller talking to an operator who answered from a queue."""
        call = self.conversations.get(bridge.id)
        if call is None or call.bridge is not bridge or call.caller is None \
                or call.operator_leg is None or call.answered_at is None:
            return None
        acd_call = self.acd.calls.get(call.acd_id)
        agent = self.acd.agents.get(call.operator)
        if acd_call is None or agent is None or acd_call.agent_id != call.operator:
            return None
        details = self._waiting_details(call)
        details.update(operator=call.operator, device=agent.device,
                       answered_at=call.answered_at.isoformat(),
                       caller_leg=call.caller.id, operator_leg=call.operator_leg.id,
                       recording=self.recording_details(call))
        return details

    @staticmethod
    def recording_details(call: InboundCall) -> dict[str, Any] | None:
        """The conversation's recording as kept for the other node, which goes on with it
        (``ContactCenter.record_carried``); None when it is not recorded."""
        recording = call.recording
        return None if recording is None else {
            "id": recording.id, "paused": recording.paused, "paused_by": call.paused_by,
            "path": str(recording.path)}

    def _call_details(self, call: InboundCall, variables: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
        """The call as kept for the other node: its ids, numbers, start and the data
        attached to it (``variables``, else the call's: JSON values)."""
        import json

        data = call.variables if variables is None else variables
        return {"acd_id": call.acd_id, "ani": call.ani, "dnis": call.dnis,
                "started_at": call.started_at.isoformat(),
                "variables": json.loads(json.dumps(data, default=str))}

    def _waiting_details(self, call: InboundCall) -> dict[str, Any]:
        """What the other node needs to put a waiting caller back in line: the call, its
        queue and place (when it began waiting)."""
        queued_at = call.queued_at or self.wall()
        details = {**self._call_details(call), "queue": call.queue, "priority": call.priority,
                   "queued_at": queued_at.isoformat()}
        if call.operator_leg is not None:  # answered: its conversation could not be kept
            details["talking_to"] = call.operator
        return details

    def _on_abandoned(self, notice: ev.CallAbandoned) -> None:
        call = self.calls.get(notice.call_id)
        if call is not None:
            call.final = "abandoned"
            self.progress(call, "abandoned", {"waited_s": round(notice.waited, 1)},
                           queue=notice.queue)

    def _on_overflow(self, command: ev.Overflow) -> None:
        call = self.calls.get(command.call_id)
        if call is None:
            return
        self.progress(call, "overflowed", {"from": command.queue, "to": command.target_kind,
                                            "target": command.target,
                                            "reason": command.reason})
        if command.target_kind == "queue" and command.target in self.acd.queues:
            call.queue = command.target
            self.keep_waiting(call)  # kept in its new queue
            return
        if command.target_kind == "callback":
            call.callback = True
            call.resolve(("callback",))
            return
        call.resolve(("overflow", command.target_kind, command.target or command.queue))

    def _on_reject(self, command: ev.RejectCall) -> None:
        call = self.calls.get(command.call_id)
        if call is not None:
            call.resolve(("rejected", command.treatment))

    def _on_dial_callback(self, command: ev.DialCallback) -> None:
        call = self.calls.get(command.callback_id)
        if call is None:  # a scheduled callback (API, flow): nobody waited on the line
            call = InboundCall(command.callback_id, command.callback_id, command.number,
                               command.queue, None, self.wall(), queue=command.queue,
                               callback=True)
            self.calls[call.acd_id] = call
        self.spawn(self._callback(call, command), f"callback-{command.callback_id}")

    def _on_callback_expired(self, notice: ev.CallbackExpired) -> None:
        call = self.calls.pop(notice.callback_id, None)
        if call is not None:
            log.info("callback_expired", callback_id=notice.callback_id, reason=notice.reason)

    _commands: ClassVar[dict[type, Callable[[AcdShell, Any], None]]] = {
        ev.OfferCall: _on_offer,
        ev.CancelOffer: _on_cancel,
        ev.CallConnected: _on_connected,
        ev.CallQueued: _on_queued,
        ev.CallAbandoned: _on_abandoned,
        ev.Overflow: _on_overflow,
        ev.RejectCall: _on_reject,
        ev.DialCallback: _on_dial_callback,
        ev.CallbackExpired: _on_callback_expired,
    }

    # --- callbacks: the operator first, then the customer ---------------------------------

    async def _callback(self, call: InboundCall, command: ev.DialCallback) -> None:
        interaction = f"{call.acd_id}-{self.ids.new('cb')}"  # one per attempt, never reused
        call.interaction_id = interaction
        call.caller = None
        try:
            leg = self.telephony.originate(
                command.device, caller_id=command.number, timeout=DIRECT_RING_S,
                variables={"callback": call.acd_id}, interaction_id=interaction,
                headers={**call.headers(), "X-Parley-Callback": call.acd_id})
        except (OriginateError, ValueError):
            self.feed(ev.AgentLegEnded(call.acd_id, command.agent_id))
            return
        call.offers[command.agent_id] = leg
        self.progress(call, "callback dialling operator", {"operator": command.agent_id,
                                                            "number": command.number})
        if not await leg.wait_answered():
            if leg.id not in call.cancelled:
                call.offers.pop(command.agent_id, None)
                self.feed(ev.AgentLegEnded(call.acd_id, command.agent_id))
            return
        self.feed(ev.AgentAnswered(call.acd_id, command.agent_id))
        customer: Channel | None = None
        if self.dialable(command.number) is not None or self.telephony.outside.routable(
                command.number):
            leg.play([Speech("Calling the customer back."), Tone("ringback")])
            customer = await self.call_customer(
                command.number, operator=command.agent_id, queue=command.queue,
                caller_id=call.dnis or command.queue, interaction_id=interaction,
                variables={"callback": call.acd_id}, on_refused=lambda reason: self.progress(
                    call, "callback refused", {"number": command.number, "reason": reason}))
        if customer is not None:
            self.progress(call, "callback dialling customer", {"number": command.number})
            await until(None, (customer.answered_signal, customer.ended_signal,
                               leg.ended_signal), None)
        if customer is None or not customer.is_up or leg.ended:
            if customer is not None:
                customer.hangup()
            call.offers.pop(command.agent_id, None)
            call.cancelled.add(leg.id)
            leg.hangup()
            self.progress(call, "callback not answered", {"number": command.number})
            self.feed(ev.CallbackResult(call.acd_id, False))
            return
        call.caller = customer
        call.outcome = asyncio.get_running_loop().create_future()
        self.live[interaction] = call
        try:
            self.feed(ev.CallbackResult(call.acd_id, True))  # -> CallConnected -> bridged
            await until(None, (customer.ended_signal, leg.ended_signal), None,
                        (call.outcome,))
            call.final = "answered"
            self.mark_hung_up(call, "caller" if customer.ended
                          else call.operator or command.agent_id)
            ended: ev.AcdEvent | None = (
                ev.CallerHangup(call.acd_id) if customer.ended
                else ev.AgentLegEnded(call.acd_id, command.agent_id) if hung_up(leg)
                else None)
            self.end_conversation(call)  # the phone is free before the ACD offers again
            if ended is not None:
                self.feed(ended)
            self.hangup(call, HangupCause.NORMAL_CLEARING)
        finally:
            self.calls.pop(call.acd_id, None)
            self.live.pop(interaction, None)

    def dialable(self, number: str) -> str | None:
        """What ``originate`` takes to reach ``number`` inside the site: a SIP user, or None
        (an outside number goes through the routes: :meth:`call_customer`)."""
        if self.telephony.users.lookup(number) is not None:
            return number
        return None

    def note_outside(self, interaction_id: str, leg: Channel) -> None:
        """Put on the call's record which route and trunk carried an outside leg, the number
        as the trunk got it and the caller ID shown."""
        variables = leg.variables
        self.publish(ev.CallProgress(interaction_id, "outside call", {
            "trunk": variables.get("trunk", ""), "route": variables.get("route", ""),
            "number": variables.get("number", ""), "dialled": leg.called,
            "caller_id": leg.caller}))

    async def call_customer(self, number: str, *, operator: str, interaction_id: str,
                            caller_id: str, queue: str = "", ring_s: float = DIRECT_RING_S,
                            variables: dict[str, str] | None = None,
                            on_refused: Callable[[str], object] | None = None
                            ) -> Channel | None:
        """Call a customer for ``operator``: an extension directly (showing ``caller_id``),
        an outside number through the routes' trunks with the operator's outside-line right
        and caller IDs (the user's, the queue's, the route's, the trunk's). None when it
        cannot be called; ``on_refused`` hears why a route refused it."""
        endpoint = self.dialable(number)
        try:
            if endpoint is not None:
                return self.telephony.originate(endpoint, caller_id=caller_id, timeout=ring_s,
                                                variables=variables,
                                                interaction_id=interaction_id)
            outside = self.telephony.outside
            plan = outside.plan(number, user=operator,
                                queue_caller_id=self.config.queue_caller_id(queue))
            leg = await outside.call(plan, ring_s=ring_s, variables=variables,
                                     interaction_id=interaction_id)
            self.note_outside(interaction_id, leg)
            return leg
        except OutboundRefused as exc:
            log.warning("outside_call_refused", number=number, operator=operator,
                        reason=str(exc.reason), detail=str(exc))
            if on_refused is not None:
                on_refused(str(exc))
            return None
        except (OriginateError, ValueError) as exc:
            log.info("customer_not_called", number=number, reason=str(exc))
            return None

    # --- operators -----------------------------------------------------------------------

    def _telephony_event(self, event: object) -> None:
        self.personal.telephony_event(event)
        if not self.config.ready_on_register:
            return
        if isinstance(event, ev.UserRegistered):
            self._device_registered(event.user)
        elif isinstance(event, ev.UserUnregistered):
            operator = self.owners.get(event.user, event.user)
            if operator in self.at_desk:
                return
            agent = self.acd.agents.get(operator)
            if agent is not None and agent.device == event.user \
                    and agent.state is not AgentState.LOGGED_OUT:
                self.feed(ev.AgentLogout(operator))

    def _device_registered(self, device: str) -> None:
        operator = self.owners.get(device, device)
        if operator in self.at_desk:
            return  # at the desk, the operator becomes ready by the Ready button only
        agent = self.acd.agents.get(operator)
        if agent is not None and agent.state is AgentState.LOGGED_OUT:
            self.feed(ev.AgentLogin(operator, device, ready=True))

    def end_conversation(self, call: InboundCall, *, transfer: bool = False) -> None:
        """Stop the recording and the bridge; hang up the operator's leg (after a moment on a
        transfer, so that the phone hears how its REFER went)."""
        if call.waiting is not None:
            call.waiting.cancel()
            call.waiting = None
        self._stop_recording(call)
        if call.bridge is not None:
            self.conversations.pop(call.bridge.id, None)
            call.bridge.destroy()
            call.bridge = None
        leg = call.operator_leg
        call.operator_leg = None
        if leg is not None:
            call.cancelled.add(leg.id)
            if transfer:
                if call.acd_id in self.acd.calls:
                    self.feed(ev.AgentLegEnded(call.acd_id, call.operator))
                self.clock.call_later(TRANSFER_HANGUP_DELAY_S, leg.hangup)
            else:
                leg.hangup()
        for agent_id, offered in list(call.offers.items()):
            call.cancelled.add(offered.id)
            offered.hangup()
            del call.offers[agent_id]
        if transfer and call.caller is not None and not call.caller.ended:
            policy = self.policies.get(call.queue)
            call.caller.start_moh(policy.music if policy is not None else "default")

    def _stop_recording(self, call: InboundCall) -> None:
        recording = call.recording
        call.recording = None
        paused_by, call.paused_by = call.paused_by, []
        if recording is not None:
            was_paused = recording.paused
            metadata = recording.stop()
            pauses = tuple({**gap, "by": paused_by[index] if index < len(paused_by) else ""}
                           for index, gap in enumerate(metadata.get("pauses", [])))
            self.publish(ev.RecordingStored(
                recording.id, call.interaction_id, str(recording.path),
                recording.file.started,
                float(metadata.get("duration_s", recording.file.duration_s)), pauses))
            if was_paused:  # the gap ends with the file: the operator's desk is told
                self.publish(ev.RecordingPauseChanged(
                    call.interaction_id, recording.id, False,
                    float(metadata.get("duration_s", 0.0)), call.operator, "parley",
                    self.wall()))

    def start_recording(self, call: InboundCall, bridge: Bridge,
                        cut: CutRecording | None = None) -> CallRecording:
        """Record the conversation in ``bridge`` in a file named after ``call``'s record
        (or go on with the ``cut`` one, the caller on its side as before)."""
        if cut is not None:
            return bridge.record(caller=call.caller, cut=cut)
        return bridge.record(name=f"{call.interaction_id}-{secrets.token_hex(3)}")

    def record(self, call: InboundCall, on: bool) -> str | None:
        """Start (``on``) or stop recording the conversation, for queues that record on
        demand; the recording's id. Raises :class:`ValueError` saying why it cannot."""
        policy = self.policies.get(call.queue)
        if policy is not None and policy.recording == "none":
            raise ValueError(f"queue {call.queue!r} does not record calls (recording: none)")
        if policy is not None and policy.recording == "all" and not on:
            raise ValueError(f"queue {call.queue!r} records every call (recording: all)")
        if call.bridge is None or call.operator_leg is None:
            raise ValueError("the call is not in a conversation with an operator")
        if on:
            if call.recording is None:
                call.recording = self.start_recording(call, call.bridge)
                self.progress(call, "recording started", {"recording_id": call.recording.id})
            return call.recording.id
        if call.recording is not None:
            self.progress(call, "recording stopped", {"recording_id": call.recording.id})
        self._stop_recording(call)
        return None

    def pause_recording(self, call: InboundCall, paused: bool, by: str) -> CallRecording:
        """Pause the call's recording (silence goes into the file from now on, keeping its
        timeline) or resume it; the gap's edge is put on the call's timeline and told live.
        Raises :class:`ValueError` saying why it cannot (not recorded, already so)."""
        recording = call.recording
        if recording is None:
            raise ValueError(f"call {call.interaction_id!r} is not being recorded")
        if recording.paused == paused:
            raise ValueError(f"the recording of call {call.interaction_id!r} is already "
                             f"{'paused' if paused else 'running (not paused)'}")
        if paused:
            recording.pause()
            call.paused_by.append(by)
        else:
            recording.resume()
        gap = recording.pauses[-1]
        offset = round(gap.start_s if paused or gap.end_s is None else gap.end_s, 3)
        self.progress(call, "recording paused" if paused else "recording resumed",
                      {"recording_id": recording.id, "offset_s": offset, "by": by})
        self.publish(ev.RecordingPauseChanged(call.interaction_id, recording.id, paused, offset,
                                              call.operator, by, self.wall()))
        return recording

    def mark_hung_up(self, call: InboundCall, by: str) -> None:
        """Put on the call's timeline who ended it (the first to do so)."""
        if not call.hung_up_by:
            call.hung_up_by = by
            self.progress(call, "hung up", {"by": by})

    def hangup(self, call: InboundCall, cause: HangupCause) -> None:
        if call.caller is not None and call.caller.handed_over():
            # a planned switch-over: the other node goes on with the call, and with its
            # recording's file on shared storage; else this node's part is filed now
            if not self.telephony.shared_recordings:
                self._stop_recording(call)
            return
        if call.final:
            self.progress(call, "outcome", {"outcome": call.final})
        caller = call.caller
        if caller is not None and not caller.ended:
            self.mark_hung_up(call, "parley")
            caller.hangup(cause)
