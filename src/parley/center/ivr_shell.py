"""The IVR shell: runs a :class:`~parley.ivr.interpreter.FlowRun` over a real call.

The interpreter is sans-IO; this shell executes each command on the caller's channel (answer,
prompts, key presses, recordings), on the network (HTTP look-ups) or on the call record
(timeline entries), and feeds the outcome back. Hand-offs (queue, transfer, voicemail) end
:meth:`FlowSession.advance` and go back to the contact center, which feeds a failure back with
:meth:`FlowSession.advance` again so the flow can take its ``on_failure`` way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from parley.config import LANGUAGES
from parley.events import CallProgress, HangupCause, PlaybackFinished, RecordingFinished
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
    RecordMessage,
    RegisterCallback,
    Say,
    SayValue,
    SendToVoicemail,
    Speech,
    TimerExpired,
    TransferCall,
)
from parley.media.say import say_value
from parley.telephony.channel import ChannelError, until
from parley.telephony.media import LANGUAGE_VARIABLE, MediaItem
from parley.telephony.media import Speech as SpokenText

if TYPE_CHECKING:
    from parley.center.calls import InboundCall
    from parley.ivr.interpreter import FlowRun
    from parley.telephony.channel import Channel

log = structlog.get_logger("parley.center.ivr")

HandOff = EnqueueCall | TransferCall | SendToVoicemail
#: timeline kinds the contact center records itself, with more detail
RECORDING_BEEP = "beep"  # stock prompt played before a recording starts
_RECORDED_ELSEWHERE = frozenset({"queued"})


def hung_up(channel: Channel) -> bool:
    """Whether the caller is gone (a call, so that type checkers re-read it after awaits)."""
    return channel.ended


def media_items(prompts: tuple[PromptItem, ...], language: str = "en") -> list[MediaItem]:
    """IVR prompt items as what a channel plays (stock names, speech, spoken values), values
    said with the grammar of ``language``."""
    items: list[MediaItem] = []
    for item in prompts:
        if isinstance(item, PromptFile):
            items.append(item.name)
        elif isinstance(item, Speech):
            items.append(SpokenText(item.text))
        elif isinstance(item, SayValue):
            items.extend(say_items(item.kind, item.value, language))
    return items


def say_items(kind: str, value: str, language: str = "en") -> list[MediaItem]:
    """The prompts that say ``value`` (number, ordinal, digits, duration, money)."""
    return list(say_value(kind, value, language))


async def play_and_wait(channel: Channel, items: list[MediaItem]) -> str:
    """Play ``items``; the reason it ended ("done", "hangup", "stopped", "failed")."""
    if not items:
        return "done"
    try:
        playback = channel.play(items)
    except ChannelError:
        return "hangup"
    await until(None, (channel.ended_signal, playback.done_signal), None)
    if channel.ended:
        return "hangup"
    return playback.reason or "done"


async def prompt_and_collect(channel: Channel, items: list[MediaItem], *, max_digits: int,
                             timeout: float, inter_digit_timeout: float,  # noqa: ASYNC109
                             terminators: str) -> str:
    """Play ``items`` (the first key press stops them), then collect digits: ``timeout``
    counts from the end of the prompts."""
    if channel.ended:
        return ""
    first = ""
    if items:
        try:
            playback = channel.play(items)
        except ChannelError:
            return ""
        pressing = asyncio.ensure_future(channel.collect(1, timeout=3600.0,
                                                         inter_digit_timeout=3600.0,
                                                         terminators=""))
        try:
            await until(None, (playback.done_signal,), None, (pressing,))
        finally:
            if not pressing.done():
                pressing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pressing
        if pressing.done() and not pressing.cancelled():
            try:
                first = pressing.result()
            except ChannelError:  # hung up before it listened (a carried caller gone)
                return ""
            playback.stop()
        if hung_up(channel):
            return ""
    if first and first in terminators:
        return ""
    if len(first) >= max_digits:
        return first
    try:
        rest = await channel.collect(max_digits - len(first),
                                     timeout=inter_digit_timeout if first else timeout,
                                     inter_digit_timeout=inter_digit_timeout,
                                     terminators=terminators)
    except ChannelError:  # hung up meanwhile
        return ""
    return first + rest


class FlowSession:
    """One flow run over one call; see the module docstring."""

    def __init__(self, call: InboundCall, run: FlowRun, channel: Channel, *,
                 publish: Callable[[object], object], wall: Callable[[], datetime],
                 on_callback: Callable[[RegisterCallback], None],
                 recordings_dir: Path, default_language: str = "en",
                 resume_at: str | None = None) -> None:
        self.call = call
        self.default_language = default_language
        self.run = run
        self.channel = channel
        self.publish = publish
        self.wall = wall
        self.on_callback = on_callback
        self.recordings_dir = recordings_dir
        #: start at this node instead of the flow's start (a caller carried over)
        self.resume_at = resume_at
        #: told when the run moves to another node (a hot-standby node keeps where it is)
        self.on_node: Callable[[], None] | None = None
        self._node = run.node

    async def advance(self, event: IvrEvent | None = None) -> HandOff | None:
        """Start the run (or feed ``event``) and execute commands until the flow hands the
        call off (returned) or ends (None)."""
        now = self.wall()
        if event is not None:
            pending = list(self.run.handle(event, now))
        elif self.resume_at is not None:
            pending = list(self.run.resume_at(self.resume_at, now))
        else:
            pending = list(self.run.start(now))
        while pending:
            self._moved()
            command = pending.pop(0)
            result = await self._execute(command)
            if isinstance(result, EnqueueCall | TransferCall | SendToVoicemail):
                self.call.variables.update(self.run.variables)
                self.call.variables.update(result.attached)  # the node's data, ani, dnis
                return result
            if result is not None:
                pending.extend(self.run.handle(result, self.wall()))
            if not pending and not self.run.finished and self.run.next_deadline is not None:
                pending.extend(await self._wait_deadline())
        return None

    def _moved(self) -> None:
        if self.run.node != self._node:
            self._node = self.run.node
            if self.on_node is not None:
                self.on_node()

    async def _wait_deadline(self) -> list[IvrCommand]:
        deadline = self.run.next_deadline
        if deadline is None:
            return []
        delay = max(0.0, (deadline - self.wall()).total_seconds())
        if await self.channel.wait_ended(delay):
            return self.run.handle(ChannelHangup(self.channel.id, HangupCause.NORMAL_CLEARING,
                                                 "remote"), self.wall())
        return self.run.handle(TimerExpired(self.call.acd_id), self.wall())

    def _hangup_event(self) -> ChannelHangup:
        channel = self.channel
        return ChannelHangup(channel.id, channel.hangup_cause or HangupCause.NORMAL_CLEARING,
                             channel.hangup_by or "remote")

    def _language(self) -> str:
        """The caller's language: a flow that sets its ``language`` variable switches it for
        the rest of the call (prompts, queue announcements, the operator's card)."""
        chosen = self.run.variables.get(LANGUAGE_VARIABLE)
        if isinstance(chosen, str) and chosen in LANGUAGES:
            self.channel.variables[LANGUAGE_VARIABLE] = chosen
            self.call.variables[LANGUAGE_VARIABLE] = chosen
        return self.channel.variables.get(LANGUAGE_VARIABLE) or self.default_language

    async def _execute(self, command: IvrCommand) -> IvrEvent | HandOff | None:
        channel = self.channel
        if isinstance(command, FlowTimeline):
            self._timeline(command)
            return None
        if isinstance(command, EnqueueCall | TransferCall | SendToVoicemail):
            return command
        if hung_up(channel):
            return None if isinstance(command, EndCall) else self._hangup_event()
        if isinstance(command, AnswerCall):
            channel.answer()
            return None
        language = self._language()
        if isinstance(command, Play | Say):
            items = (media_items(command.prompts, language) if isinstance(command, Play)
                     else say_items(command.kind, command.value, language))
            reason = await play_and_wait(channel, items)
            return PlaybackFinished(command.request_id, channel.id, reason)
        if isinstance(command, Collect):
            digits = await prompt_and_collect(
                channel, media_items(command.prompts, language),
                max_digits=command.max_digits,
                timeout=command.timeout, inter_digit_timeout=command.inter_digit_timeout,
                terminators=command.terminators)
            if hung_up(channel):
                return self._hangup_event()
            reason = "max_digits" if len(digits) >= command.max_digits else "timeout"
            return CollectFinished(command.call_id, command.request_id, digits, reason)
        if isinstance(command, HttpLookup):
            return await self._lookup(command)
        if isinstance(command, RecordMessage):
            return await self._record_message(command)
        if isinstance(command, RegisterCallback):
            self.on_callback(command)
            return None
        channel.hangup(command.cause)  # EndCall, the last kind of command
        return None

    def _timeline(self, entry: FlowTimeline) -> None:
        if entry.kind in _RECORDED_ELSEWHERE:
            return
        detail: dict[str, object] = {"flow": entry.flow, **dict(entry.detail)}
        if entry.node is not None:
            detail["node"] = entry.node
        kind = entry.kind
        if kind in ("hung up", "caller hung up"):  # who ended the call, once per call
            if self.call.hung_up_by:
                return
            self.call.hung_up_by = "caller" if kind == "caller hung up" else "parley"
            kind, detail["by"] = "hung up", self.call.hung_up_by
        self.publish(CallProgress(self.call.interaction_id, kind, detail))

    async def _lookup(self, command: HttpLookup) -> LookupResult:
        headers = dict(command.headers)
        try:
            async with httpx.AsyncClient(timeout=command.timeout) as client:
                response = await client.request(
                    command.method, command.url, headers=headers,
                    content=command.body.encode() if command.body is not None else None)
        except httpx.TimeoutException:
            return LookupResult(command.call_id, command.request_id, error="timeout")
        except httpx.HTTPError as exc:
            return LookupResult(command.call_id, command.request_id,
                                error=f"{type(exc).__name__}: {exc}"[:200])
        try:
            data: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        return LookupResult(command.call_id, command.request_id, status=response.status_code,
                            data=data)

    async def _record_message(self, command: RecordMessage) -> IvrEvent:
        channel = self.channel
        if command.beep:
            await play_and_wait(channel, [RECORDING_BEEP])
        if channel.ended:
            return self._hangup_event()
        name = f"message-{self.call.interaction_id}-{command.request_id.rsplit(':', 1)[-1]}"
        path, duration = await record_until(channel, name, command.max_seconds,
                                            command.terminators)
        return RecordingFinished(command.request_id, channel.id, str(path), duration)


async def record_until(channel: Channel, name: str, max_seconds: float,
                       terminators: str) -> tuple[Path, float]:
    """Record the caller until a key press (when ``terminators`` is not empty), the hang-up
    or ``max_seconds``; returns the WAV file and its length in seconds."""
    recording = channel.record(name=name)
    if terminators:
        await channel.collect(1, timeout=max_seconds, inter_digit_timeout=max_seconds,
                              terminators=terminators)
    else:
        await channel.wait_ended(max_seconds)
    metadata = recording.stop()
    return recording.path, float(metadata.get("duration_s", recording.file.duration_s))
