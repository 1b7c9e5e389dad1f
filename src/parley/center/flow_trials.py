"""Test calls to a flow before it goes live: a one-call number that runs a draft.

The web editor asks for a trial of the flow it shows (validated first); the node answers with
a number of its own (``*7`` and six random digits) that only the admin's phones may dial, for
one call, within a couple of minutes. That call runs the draft exactly as a live flow runs:
prompts, menus, queues and operators are real. Numbers nobody dialled lapse; nothing else on
the node changes, so the live version keeps answering every other call.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from parley.center.calls import ToFlow
from parley.events import HangupCause

if TYPE_CHECKING:
    from parley.center.shell import ContactCenter
    from parley.clock import Clock
    from parley.ivr.model import Flow
    from parley.telephony.channel import Channel

log = structlog.get_logger("parley.center")

TRIAL_PREFIX = "*7"


@dataclass(frozen=True, slots=True)
class Trial:
    """A test line: the number to dial, who may dial it, until when (monotonic seconds)."""

    number: str
    flow: Flow
    callers: frozenset[str]
    expires_at: float


class FlowTrials:
    """Open test lines, each good for one call of one of its callers."""

    def __init__(self, center: ContactCenter, clock: Clock, *, lifetime_s: float = 120.0
                 ) -> None:
        self.center = center
        self.clock = clock
        self.lifetime_s = lifetime_s
        self._open: dict[str, Trial] = {}

    def open(self, flow: Flow, callers: frozenset[str]) -> Trial:
        """A new test line running ``flow`` for a call from one of ``callers`` (SIP users);
        lines that lapsed are closed first."""
        now = self.clock.monotonic()
        for number in [n for n, trial in self._open.items() if trial.expires_at <= now]:
            self._close(number)
        number = TRIAL_PREFIX + "".join(secrets.choice("0123456789") for _ in range(6))
        while number in self._open or number in self.center.telephony.routed():
            number = TRIAL_PREFIX + "".join(secrets.choice("0123456789") for _ in range(6))
        trial = Trial(number, flow, callers, now + self.lifetime_s)
        self._open[number] = trial

        async def answer(channel: Channel) -> None:
            await self._answer(number, channel)

        self.center.telephony.route(number, answer, public=False)
        return trial

    def _close(self, number: str) -> None:
        self._open.pop(number, None)
        self.center.telephony.unroute(number)

    async def _answer(self, number: str, channel: Channel) -> None:
        trial = self._open.get(number)
        if trial is None or trial.expires_at <= self.clock.monotonic():
            self._close(number)
            channel.hangup(HangupCause.UNALLOCATED_NUMBER)
            return
        if channel.caller not in trial.callers:
            channel.log.warning("flow_trial_refused", flow=trial.flow.name, caller=channel.caller)
            channel.hangup(HangupCause.CALL_REJECTED)
            return
        self._close(number)  # one call only
        channel.log.info("flow_trial", flow=trial.flow.name, number=number)
        await self.center.serve_call(self.center.new_call(channel),
                                     ToFlow(trial.flow.name, number, draft=trial.flow))
