"""Run one call through a flow: events in, commands out, no I/O (DESIGN.md §1).

One :class:`FlowRun` per call. ``start(now)`` screens the caller and runs the flow until it
must wait; each later ``handle(event, now)`` feeds an outcome back and runs on. Every decision
becomes a :class:`~parley.ivr.commands.FlowTimeline` command for the call record. Nodes that do
not wait (set, condition, transfer to a flow) count towards a step limit, so a loop that never
waits ends the call through the flow's ``on_error`` node (or a hang-up) instead of spinning.
Run-time failures (an expression error, a missing node) take the same way out: a run never
raises on bad input, only :class:`~parley.ivr.errors.FlowError` on misuse (a naive ``now``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from parley.events import Dtmf, HangupCause, PlaybackFinished, RecordingFinished
from parley.events import Hangup as ChannelHangup
from parley.ivr.commands import (
    AnswerCall,
    Collect,
    CollectFinished,
    EndCall,
    EnqueueCall,
    FlowTimeline,
    HttpLookup,
    IvrCommand,
    IvrEvent,
    LookupResult,
    Play,
    PromptFile,
    PromptItem,
    QueueResult,
    RecordMessage,
    RegisterCallback,
    Say,
    SayValue,
    SendToVoicemail,
    Speech,
    TimerExpired,
    TransferCall,
    TransferResult,
)
from parley.ivr.environment import IvrEnvironment
from parley.ivr.errors import ExpressionError, FlowError
from parley.ivr.expr import ListLookup, QueueFigures, Value, to_text, truthy
from parley.ivr.model import (
    CallbackNode,
    CollectNode,
    ConditionNode,
    Flow,
    FlowNode,
    HangupNode,
    LookupNode,
    MenuNode,
    PlayNode,
    PromptKind,
    Prompts,
    QueueNode,
    RecordNode,
    SayKind,
    SayNode,
    Screening,
    SetNode,
    TransferKind,
    TransferNode,
    VoicemailNode,
)


@dataclass(slots=True)
class _Wait:
    """What the run waits for: the request, and what to do with its outcome."""

    kind: str  # "play", "collect", "lookup", "record", "handoff"
    request_id: str
    node: str | None
    then: str | None = None  # node to go to after a "play" (None: finish after it)
    end_cause: HangupCause | None = None  # for a "play" before hanging up
    outcome: str = "hung up by flow"  # the run's outcome when that hang-up happens
    deadline: datetime | None = None


class _Context:
    """The expression context of one run at one instant."""

    def __init__(self, run: FlowRun, now: datetime) -> None:
        self._run = run
        self._now = now

    def variable(self, name: str) -> Value:
        return self._run.variable(name)

    def local_now(self) -> datetime:
        return self._now.astimezone(self._run.zone)

    def is_holiday(self, day: date, calendar: str | None) -> bool:
        flow = self._run.flow
        if calendar is None and day in flow.holidays:
            return True
        return self._run.env.holidays.is_holiday(day, calendar or flow.calendar)

    @property
    def lists(self) -> ListLookup:
        return self._run.env.lists

    @property
    def queues(self) -> QueueFigures:
        return self._run.env.queues


class FlowRun:
    """One call's walk through a flow. Create, ``start(now)``, then ``handle(event, now)``.

    Properties for the shell: ``next_deadline`` (send :class:`TimerExpired` at or after it),
    ``finished`` (nothing more will happen), ``handed_off`` (a queue, transfer or voicemail
    command went out; only a failure result can bring the run back), ``outcome``.
    """

    def __init__(self, flow: Flow, *, call_id: str, ani: str, dnis: str,
                 variables: Mapping[str, Any] | None = None,
                 env: IvrEnvironment | None = None, screening: Screening | None = None,
                 max_steps: int | None = None) -> None:
        self.flow = flow
        self.call_id = call_id
        self.ani = ani
        self.dnis = dnis
        self.env = env or IvrEnvironment()
        self.variables: dict[str, Any] = dict(variables or {})
        self.timeline: list[FlowTimeline] = []
        self.outcome: str | None = None
        self._screening = screening if screening is not None else flow.screening
        self._max_steps = max_steps
        self._node: str | None = None
        self._wait: _Wait | None = None
        self._attempts = 0
        self._steps = 0
        self._requests = 0
        self._started = False
        self._answered = False
        self._in_error = False
        self._finished = False
        self._zone = ZoneInfo(flow.timezone)

    # --- public ---------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def handed_off(self) -> bool:
        return self._wait is not None and self._wait.kind == "handoff"

    @property
    def node(self) -> str | None:
        """The node the run is at (waiting in, or handed off from)."""
        return self._node

    @property
    def next_deadline(self) -> datetime | None:
        return None if self._wait is None or self._finished else self._wait.deadline

    def variable(self, name: str) -> Value:
        if name == "ani":
            return self.ani
        if name == "dnis":
            return self.dnis
        if name == "call_id":
            return self.call_id
        if name == "flow":
            return self.flow.name
        value: Value = self.variables.get(name)
        return value

    def start(self, now: datetime) -> list[IvrCommand]:
        """Screen the caller, answer, and run until the flow waits."""
        now = _aware(now)
        if self._started:
            raise FlowError("this run has already started")
        self._started = True
        out: list[IvrCommand] = []
        screening = self._screening
        if screening is not None and self.env.lists.in_list(screening.list, self.ani):
            self._record(out, now, None, "caller screened", list=screening.list)
            if screening.node is not None:
                self._enter_flow(out, now, screening.node)
            elif screening.prompts:
                self._answer(out)
                try:
                    self._play(out, now, None, screening.prompts, then=None,
                               end=screening.cause, outcome="rejected")
                except FlowError as exc:
                    self._record(out, now, None, "flow error", error=str(exc))
                    self._end(out, now, screening.cause, outcome="rejected")
            else:
                self._end(out, now, screening.cause, outcome="rejected")
            return out
        self._answer(out)
        self._record(out, now, None, "entered flow", ani=self.ani, dnis=self.dnis)
        self._enter_flow(out, now, self.flow.start)
        return out

    def resume_at(self, node: str, now: datetime) -> list[IvrCommand]:
        """Go on from the start of ``node`` with a caller who was there on another node of
        a hot-standby cluster (already answered and screened, its variables given to the
        run): the node runs again from its beginning."""
        now = _aware(now)
        if self._started:
            raise FlowError("this run has already started")
        if node not in self.flow.nodes:
            raise FlowError(f"no node {node!r} in flow {self.flow.name!r}")
        self._started = self._answered = True
        out: list[IvrCommand] = []
        self._record(out, now, node, "resumed")
        self._enter_flow(out, now, node)
        return out

    def _enter_flow(self, out: list[IvrCommand], now: datetime, node: str) -> None:
        self._answer(out)
        try:
            self._apply_defaults(now)
            self._node = node
        except FlowError as exc:
            self._fail(out, now, exc)  # goes on from on_error, if the flow has one
        self._run(out, now)

    def handle(self, event: IvrEvent, now: datetime) -> list[IvrCommand]:
        """Feed one event back; returns the commands it leads to (often none)."""
        now = _aware(now)
        out: list[IvrCommand] = []
        if self._finished or not self._started:
            return out
        if isinstance(event, ChannelHangup):
            self._record(out, now, self._node, "caller hung up", by=event.by or "remote")
            self._finished = True
            self.outcome = self.outcome if self.handed_off else "caller hung up"
            self._wait = None
            return out
        wait = self._wait
        if wait is None or isinstance(event, Dtmf):
            return out  # digits are collected by the shell's Collect; stray ones are dropped
        if isinstance(event, TimerExpired):
            if wait.deadline is not None and now >= wait.deadline and wait.kind == "lookup":
                self._wait = None
                self._lookup_failed(out, now, "timeout")
                self._run(out, now)
            return out
        if getattr(event, "request_id", None) != wait.request_id and not (
            isinstance(event, PlaybackFinished) and event.playback_id == wait.request_id
        ) and not (isinstance(event, RecordingFinished) and event.recording_id == wait.request_id):
            return out  # a stale or foreign result
        self._wait = None
        try:
            self._resume(out, now, wait, event)
        except FlowError as exc:
            self._fail(out, now, exc)
        if not self._finished and self._wait is None:
            self._run(out, now)
        return out

    # --- driving --------------------------------------------------------------------------

    def _run(self, out: list[IvrCommand], now: datetime) -> None:
        """Execute nodes until one waits or the call ends."""
        self._steps = 0
        limit = self._max_steps or self.flow.max_steps
        while not self._finished and self._wait is None and self._node is not None:
            self._steps += 1
            if self._steps > limit:
                self._fail(out, now, FlowError(
                    f"step limit of {limit} reached: the flow loops without waiting for the "
                    "caller", node=self._node))
                continue
            node_id = self._node
            node = self.flow.nodes.get(node_id)
            try:
                if node is None:
                    raise FlowError(f"node {node_id!r} does not exist in flow "
                                    f"{self.flow.name!r}", node=node_id)
                self._enter(out, now, node)
            except FlowError as exc:
                self._fail(out, now, exc)

    def _goto(self, node_id: str) -> None:
        self._node = node_id
        self._attempts = 0

    def _fail(self, out: list[IvrCommand], now: datetime, error: FlowError) -> None:
        self._record(out, now, error.node or self._node, "flow error", error=str(error))
        self._wait = None
        target = self.flow.on_error
        if target is not None and not self._in_error and target in self.flow.nodes:
            self._in_error = True
            self._goto(target)
            self._steps = 0
            return
        self._end(out, now, HangupCause.TEMPORARY_FAILURE, outcome="failed")

    def _end(self, out: list[IvrCommand], now: datetime, cause: HangupCause, *,
             outcome: str) -> None:
        self._record(out, now, self._node, "hung up", cause=cause.name.lower())
        out.append(EndCall(self.call_id, cause, self._answered))
        self.outcome = outcome
        self._finished = True
        self._wait = None

    def _answer(self, out: list[IvrCommand]) -> None:
        if not self._answered:
            self._answered = True
            out.append(AnswerCall(self.call_id))

    def _record(self, out: list[IvrCommand], now: datetime, node: str | None, kind: str, /,
                **detail: Any) -> None:
        entry = FlowTimeline(self.call_id, now, self.flow.name, node, kind, detail)
        self.timeline.append(entry)
        out.append(entry)

    def _request(self) -> str:
        self._requests += 1
        return f"{self.call_id}:{self._requests}"

    def _ctx(self, now: datetime) -> _Context:
        return _Context(self, now)

    def _apply_defaults(self, now: datetime) -> None:
        for name, expression in self.flow.variables:
            if name not in self.variables:
                self.variables[name] = self._eval(expression.evaluate, now,
                                                  f"variables.{name}")

    def _eval(self, function: Any, now: datetime, field: str, node: str | None = None) -> Any:
        try:
            return function(self._ctx(now))
        except ExpressionError as exc:
            raise FlowError(f"expression failed: {exc.reason}", node=node or self._node,
                            field=field) from None

    def _prompts(self, prompts: Prompts, now: datetime, field: str) -> tuple[PromptItem, ...]:
        items: list[PromptItem] = []
        for spec in prompts:
            if spec.kind is PromptKind.SAY:
                value = self._eval(spec.text.expressions[0].evaluate, now, field)
                items.append(SayValue(str(spec.say), to_text(value)))
                continue
            text = self._eval(spec.text.render, now, field)
            items.append(PromptFile(text) if spec.kind is PromptKind.FILE else Speech(text))
        return tuple(items)

    def _play(self, out: list[IvrCommand], now: datetime, node: str | None, prompts: Prompts,
              *, then: str | None, end: HangupCause | None = None,
              outcome: str = "hung up by flow") -> None:
        request = self._request()
        out.append(Play(self.call_id, request, self._prompts(prompts, now, "prompt")))
        self._wait = _Wait("play", request, node, then=then, end_cause=end, outcome=outcome)

    def _collect(self, out: list[IvrCommand], now: datetime, node: str, prompts: Prompts, *,
                 max_digits: int, timeout: float, inter_digit: float, terminators: str) -> None:
        request = self._request()
        out.append(Collect(self.call_id, request, self._prompts(prompts, now, "prompt"),
                           max_digits, timeout, inter_digit, terminators))
        self._wait = _Wait("collect", request, node)

    def _attached(self) -> dict[str, Any]:
        attached = {name: value for name, value in self.variables.items()
                    if not name.startswith("_")}
        attached.update(ani=self.ani, dnis=self.dnis, flow=self.flow.name)
        return attached

    # --- entering nodes -------------------------------------------------------------------

    def _enter(self, out: list[IvrCommand], now: datetime, node: FlowNode) -> None:
        if isinstance(node, PlayNode):
            self._play(out, now, node.id, node.prompts, then=node.next)
        elif isinstance(node, MenuNode):
            self._attempts = 1
            self._record(out, now, node.id, "menu offered")
            self._collect(out, now, node.id, node.prompts, max_digits=1, timeout=node.timeout,
                          inter_digit=node.timeout, terminators="")
        elif isinstance(node, CollectNode):
            self._attempts = 1
            self._collect(out, now, node.id, node.prompts, max_digits=node.max_length,
                          timeout=node.timeout, inter_digit=node.inter_digit_timeout,
                          terminators=node.terminators)
        elif isinstance(node, SayNode):
            value = self._eval(node.value.evaluate, now, "value")
            text = to_text(value)
            if node.kind is not SayKind.DIGITS and not re.fullmatch(r"-?\d+(\.\d+)?", text):
                raise FlowError(f"cannot say {text!r} as a {node.kind.value}", node=node.id,
                                field="value")
            request = self._request()
            out.append(Say(self.call_id, request, node.kind.value, text))
            self._wait = _Wait("play", request, node.id, then=node.next)
        elif isinstance(node, ConditionNode):
            result = truthy(self._eval(node.expression.evaluate, now, "if"))
            self._record(out, now, node.id, "condition", result=result,
                         expression=node.expression.source)
            self._goto(node.then if result else node.otherwise)
        elif isinstance(node, SetNode):
            for name, expression in node.assignments:
                self.variables[name] = self._eval(expression.evaluate, now, f"variables.{name}")
            self._record(out, now, node.id, "variables set",
                         names=[name for name, _ in node.assignments])
            self._goto(node.next)
        elif isinstance(node, LookupNode):
            self._enter_lookup(out, now, node)
        elif isinstance(node, QueueNode):
            self._enter_queue(out, now, node)
        elif isinstance(node, TransferNode):
            self._enter_transfer(out, now, node)
        elif isinstance(node, VoicemailNode):
            if node.prompts and not self._attempts:
                self._attempts = 1
                self._play(out, now, node.id, node.prompts, then=node.id)
                return
            mailbox = self._eval(node.mailbox.render, now, "mailbox")
            request = self._request()
            self._record(out, now, node.id, "sent to voicemail", mailbox=mailbox)
            out.append(SendToVoicemail(self.call_id, request, mailbox, self._attached()))
            self._wait = _Wait("handoff", request, node.id)
            self.outcome = "voicemail"
        elif isinstance(node, CallbackNode):
            self._record(out, now, node.id, "callback offered")
            self._collect(out, now, node.id, node.prompts, max_digits=1, timeout=node.timeout,
                          inter_digit=node.timeout, terminators="")
        elif isinstance(node, RecordNode):
            if node.prompts and not self._attempts:
                self._attempts = 1
                self._play(out, now, node.id, node.prompts, then=node.id)
                return
            request = self._request()
            out.append(RecordMessage(self.call_id, request, node.max_seconds, node.beep,
                                     node.terminators))
            self._wait = _Wait("record", request, node.id)
        elif isinstance(node, HangupNode):
            if node.prompts:
                self._play(out, now, node.id, node.prompts, then=None, end=node.cause)
            else:
                self._end(out, now, node.cause, outcome="hung up by flow")
        else:  # pragma: no cover - the loader only builds the types above
            raise FlowError(f"cannot run a node of type {node.TYPE!r}", node=node.id)

    def _enter_lookup(self, out: list[IvrCommand], now: datetime, node: LookupNode) -> None:
        url = self._eval(lambda ctx: node.url.render(ctx, lambda text: quote(text, safe="")),
                         now, "url")
        body = None
        if node.body is not None:
            payload = {name: self._eval(expression.evaluate, now, f"body.{name}")
                       for name, expression in node.body}
            body = json.dumps(payload, separators=(",", ":"))
        headers = tuple((name, self._eval(template.render, now, f"headers.{name}"))
                        for name, template in node.headers)
        request = self._request()
        self._record(out, now, node.id, "lookup started", method=node.method)
        out.append(HttpLookup(self.call_id, request, node.method, url, body, headers,
                              node.timeout))
        self._wait = _Wait("lookup", request, node.id,
                           deadline=now + timedelta(seconds=node.timeout))

    def _enter_queue(self, out: list[IvrCommand], now: datetime, node: QueueNode) -> None:
        queue = self._eval(node.queue.render, now, "queue")
        priority = 0
        if node.priority is not None:
            value = self._eval(node.priority.evaluate, now, "priority")
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not -1_000_000 <= value <= 1_000_000):
                raise FlowError(f"priority must be a number (within a million), got "
                                f"{to_text(value)!r}", node=node.id, field="priority")
            priority = int(value)
        attached = self._attached()
        for name, expression in node.data:
            attached[name] = self._eval(expression.evaluate, now, f"data.{name}")
        request = self._request()
        self._record(out, now, node.id, "queued", queue=queue, priority=priority)
        out.append(EnqueueCall(self.call_id, request, queue, priority, node.skills, attached))
        self._wait = _Wait("handoff", request, node.id)
        self.outcome = "queued"

    def _enter_transfer(self, out: list[IvrCommand], now: datetime, node: TransferNode) -> None:
        target = self._eval(node.target.render, now, "target")
        if node.kind is TransferKind.FLOW:
            flow = self.env.flows(target)
            if flow is None:
                self._handoff_failed(out, now, node.id, node.on_failure,
                                     f"no active flow named {target!r}")
                return
            self._record(out, now, node.id, "transferred to flow", target=target)
            self.flow = flow
            self._zone = ZoneInfo(flow.timezone)
            self._in_error = False
            self._apply_defaults(now)
            self._goto(flow.start)
            return
        request = self._request()
        self._record(out, now, node.id, "transferred", kind=node.kind.value, target=target)
        out.append(TransferCall(self.call_id, request, node.kind.value, target,
                                self._attached()))
        self._wait = _Wait("handoff", request, node.id)
        self.outcome = "transferred"

    # --- outcomes -------------------------------------------------------------------------

    def _resume(self, out: list[IvrCommand], now: datetime, wait: _Wait,
                event: IvrEvent) -> None:
        node = self.flow.nodes.get(wait.node) if wait.node is not None else None
        if wait.kind == "play":
            if isinstance(event, PlaybackFinished) and event.reason == "hangup":
                return self._caller_gone(out, now)
            if wait.end_cause is not None or wait.then is None:
                cause = wait.end_cause or HangupCause.NORMAL_CLEARING
                return self._end(out, now, cause, outcome=wait.outcome)
            self._node = wait.then
            if wait.then != wait.node:
                self._attempts = 0
            return None
        if wait.kind == "collect" and isinstance(event, CollectFinished):
            if isinstance(node, MenuNode):
                return self._menu_result(out, now, node, event)
            if isinstance(node, CollectNode):
                return self._collect_result(out, now, node, event)
            if isinstance(node, CallbackNode):
                return self._callback_result(out, now, node, event)
        if wait.kind == "lookup" and isinstance(event, LookupResult):
            lookup = node if isinstance(node, LookupNode) else None
            if lookup is None:
                raise FlowError("lookup node vanished", node=wait.node)
            if event.ok and _is_json(event.data):
                self.variables[lookup.variable] = event.data
                self._record(out, now, lookup.id, "lookup succeeded", status=event.status)
                self._goto(lookup.next)
            else:
                reason = event.error or (f"HTTP {event.status}" if not event.ok
                                         else "the answer is not JSON data")
                self._lookup_failed(out, now, reason, lookup)
            return None
        if wait.kind == "record" and isinstance(event, RecordingFinished):
            if isinstance(node, RecordNode):
                self.variables[node.variable] = event.path
                self._record(out, now, node.id, "message recorded",
                             seconds=round(event.duration_s, 1))
                self._goto(node.next)
            return None
        if wait.kind == "handoff":
            failed = (isinstance(event, QueueResult) and not event.accepted) or (
                isinstance(event, TransferResult) and not event.ok)
            if not failed:
                self._wait = wait  # accepted: stay handed off
                return None
            reason = getattr(event, "reason", "") or "refused"
            failure = getattr(node, "on_failure", None)
            return self._handoff_failed(out, now, wait.node, failure, reason)
        self._wait = wait  # an event of another kind: keep waiting
        return None

    def _caller_gone(self, out: list[IvrCommand], now: datetime) -> None:
        self._record(out, now, self._node, "caller hung up", by="remote")
        self._finished = True
        self.outcome = "caller hung up"

    def _handoff_failed(self, out: list[IvrCommand], now: datetime, node: str | None,
                        failure: str | None, reason: str) -> None:
        self._record(out, now, node, "handoff failed", reason=reason)
        self.outcome = None
        if failure is not None:
            self._goto(failure)
        else:
            self._fail(out, now, FlowError(f"handoff failed ({reason}) and the node has no "
                                           "on_failure exit", node=node, field="on_failure"))

    def _lookup_failed(self, out: list[IvrCommand], now: datetime, reason: str,
                       node: LookupNode | None = None) -> None:
        lookup = node or self.flow.nodes.get(self._node or "")
        if not isinstance(lookup, LookupNode):
            return
        self.variables[lookup.variable] = None
        self._record(out, now, lookup.id, "lookup failed", reason=reason)
        self._goto(lookup.fallback)

    def _menu_result(self, out: list[IvrCommand], now: datetime, node: MenuNode,
                     event: CollectFinished) -> None:
        digit = event.digits[:1]
        if digit and digit in node.options:
            self._record(out, now, node.id, "menu choice", digit=digit)
            self._goto(node.options[digit])
            return
        problem = "no input" if not digit else "invalid input"
        self._record(out, now, node.id, f"menu {problem}", attempt=self._attempts,
                     **({"digit": digit} if digit else {}))
        self._retry(out, now, node, problem, node.on_timeout if not digit else node.on_invalid,
                    max_digits=1, terminators="", inter_digit=node.timeout)

    def _retry(self, out: list[IvrCommand], now: datetime, node: MenuNode | CollectNode,
               problem: str, specific: str | None, *, max_digits: int, terminators: str,
               inter_digit: float) -> None:
        if self._attempts <= node.retries:
            self._attempts += 1
            extra = node.timeout_prompts if problem == "no input" else node.invalid_prompts
            self._collect(out, now, node.id, extra + node.prompts, max_digits=max_digits,
                          timeout=node.timeout, inter_digit=inter_digit,
                          terminators=terminators)
            return
        target = specific or node.on_failure
        self._record(out, now, node.id, "retries exhausted", last=problem)
        if target is None:  # only a flow that skipped validation gets here
            raise FlowError("retries exhausted and no exit", node=node.id, field="on_failure")
        self._goto(target)

    def _collect_result(self, out: list[IvrCommand], now: datetime, node: CollectNode,
                        event: CollectFinished) -> None:
        digits = event.digits
        problem = "no input" if not digits else _invalid(node, digits)
        if problem is None:
            self.variables[node.variable] = digits
            self._record(out, now, node.id, "digits collected", variable=node.variable,
                         length=len(digits))
            self._goto(node.next)
            return
        self._record(out, now, node.id, "collect " + ("no input" if not digits else "invalid"),
                     attempt=self._attempts, **({"problem": problem} if digits else {}))
        self._retry(out, now, node, "no input" if not digits else "invalid input", None,
                    max_digits=node.max_length, terminators=node.terminators,
                    inter_digit=node.inter_digit_timeout)

    def _callback_result(self, out: list[IvrCommand], now: datetime, node: CallbackNode,
                         event: CollectFinished) -> None:
        if event.digits[:1] != node.confirm_digit:
            self._record(out, now, node.id, "callback declined")
            self._goto(node.declined)
            return
        number = self.ani
        if node.number is not None:
            number = to_text(self._eval(node.number.evaluate, now, "number"))
        queue = self._eval(node.queue.render, now, "queue")
        self._record(out, now, node.id, "callback registered", queue=queue)
        out.append(RegisterCallback(self.call_id, queue, number, self._attached()))
        if node.confirm_prompts:
            self._play(out, now, node.id, node.confirm_prompts, then=node.accepted)
        else:
            self._goto(node.accepted)


def _invalid(node: CollectNode, digits: str) -> str | None:
    """Why ``digits`` fail the collect node's rules, or None when they pass."""
    if not node.min_length <= len(digits) <= node.max_length:
        return f"length {len(digits)} outside {node.min_length}-{node.max_length}"
    if node.pattern is not None and re.fullmatch(node.pattern, digits) is None:
        return "does not match the pattern"
    if node.minimum is not None or node.maximum is not None:
        if not re.fullmatch(r"[0-9]+", digits):
            return "not a number"
        number = int(digits)
        if node.minimum is not None and number < node.minimum:
            return f"below {node.minimum:g}"
        if node.maximum is not None and number > node.maximum:
            return f"above {node.maximum:g}"
    return None


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > 32:
        return False
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item, depth + 1)
                   for key, item in value.items())
    return False


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise FlowError("'now' must be a timezone-aware datetime (UTC)")
    return now.astimezone(UTC)
