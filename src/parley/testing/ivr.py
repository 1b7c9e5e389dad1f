"""Test helpers for IVR flows: build flows from YAML and play a call against a FlowRun.

The test plays the shell's part: it answers each command with the event the shell would send.
"""

from __future__ import annotations

import textwrap
from typing import Any, TypeVar

from parley.clock import VirtualClock
from parley.events import Hangup, HangupCause, PlaybackFinished, RecordingFinished
from parley.ivr.commands import (
    Collect,
    CollectFinished,
    FlowTimeline,
    HttpLookup,
    IvrCommand,
    IvrEvent,
    LookupResult,
    Play,
    RecordMessage,
    Say,
)
from parley.ivr.environment import IvrEnvironment
from parley.ivr.interpreter import FlowRun
from parley.ivr.model import Flow
from parley.ivr.validator import validate_flow

C = TypeVar("C")


def flow_text(nodes: str, *, start: str = "start", header: str = "") -> str:
    """A flow document named "test" with the given (indented-or-not) nodes section."""
    body = textwrap.indent(textwrap.dedent(nodes).strip("\n"), "  ")
    head = textwrap.dedent(header).strip("\n")
    return f"flow: test\nstart: {start}\n{head}\nnodes:\n{body}\n"


def make_flow(nodes: str, *, start: str = "start", header: str = "") -> Flow:
    """Build a flow that must validate without errors."""
    return validate_flow(flow_text(nodes, start=start, header=header), "test.yaml").require()


class Call:
    """One call through a FlowRun, with the shell's side played by the test."""

    def __init__(self, flow: Flow, *, ani: str = "+33100000001", dnis: str = "600",
                 env: IvrEnvironment | None = None, clock: VirtualClock | None = None,
                 variables: dict[str, Any] | None = None, max_steps: int | None = None) -> None:
        self.clock = clock or VirtualClock()
        self.run = FlowRun(flow, call_id="call-1", ani=ani, dnis=dnis, env=env,
                           variables=variables, max_steps=max_steps)
        self.commands: list[IvrCommand] = []

    def start(self) -> list[IvrCommand]:
        return self._keep(self.run.start(self.clock.utcnow()))

    def send(self, event: IvrEvent) -> list[IvrCommand]:
        return self._keep(self.run.handle(event, self.clock.utcnow()))

    def _keep(self, commands: list[IvrCommand]) -> list[IvrCommand]:
        self.commands.extend(commands)
        return commands

    def last(self, kind: type[C]) -> C:
        for command in reversed(self.commands):
            if isinstance(command, kind):
                return command
        raise AssertionError(f"no {kind.__name__} among {self.commands}")

    @property
    def actions(self) -> list[IvrCommand]:
        """The commands that are not timeline entries."""
        return [c for c in self.commands if not isinstance(c, FlowTimeline)]

    def kinds(self) -> list[str]:
        return [entry.kind for entry in self.run.timeline]

    def finish_play(self) -> list[IvrCommand]:
        request = self.actions[-1]
        if not isinstance(request, Play | Say):
            raise AssertionError(f"the run is not playing anything: {request}")
        return self.send(PlaybackFinished(request.request_id, "call-1", "done"))

    def press(self, digits: str, reason: str = "max_digits") -> list[IvrCommand]:
        request = self.actions[-1]
        if not isinstance(request, Collect):
            raise AssertionError(f"the run is not collecting digits: {request}")
        return self.send(CollectFinished("call-1", request.request_id, digits, reason))

    def no_input(self) -> list[IvrCommand]:
        return self.press("", "timeout")

    def answer_lookup(self, status: int = 200, data: Any = None, error: str = ""
                      ) -> list[IvrCommand]:
        request = self.last(HttpLookup)
        return self.send(LookupResult("call-1", request.request_id, status, data, error))

    def finish_recording(self, path: str, seconds: float) -> list[IvrCommand]:
        request = self.last(RecordMessage)
        return self.send(RecordingFinished(request.request_id, "call-1", path, seconds))

    def hang_up(self) -> list[IvrCommand]:
        return self.send(Hangup("call-1", HangupCause.NORMAL_CLEARING, "remote"))
