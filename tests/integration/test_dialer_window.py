"""A contact outside its call window is not dialled until the window opens, over a real call.

The node runs on the real monotonic clock with its wall clock moved (a clock given to the node,
as a virtual one is in tests/integration/test_telephony_clock.py): once the site is set up,
to a few seconds before 09:00 in Moscow, the contact's zone, where the campaign's window is
09:00-21:00. The contact waits, is dialled once the window opens, and reaches an operator.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from parley.clock import MonotonicClock
from parley.store.specs import CampaignSpec

from .conftest import needs_sipp
from .inbound_node import change, demo_node
from .test_dialer_live import (
    PERSON,
    answering,
    attempts,
    contact,
    hang_up_conversations,
    site,
    until,
)

MOSCOW = ZoneInfo("Europe/Moscow")
BEFORE_S = 4.0  # the contact is added this long before 09:00 in Moscow


class ShiftedClock(MonotonicClock):
    """The real clock with its wall time moved by ``shift`` (monotonic time is untouched)."""

    def __init__(self, shift: timedelta) -> None:
        self.shift = shift

    def utcnow(self) -> datetime:
        return super().utcnow() + self.shift


def shift_to_just_before_nine(lead_s: float) -> timedelta:
    """How far to move the wall clock so that 09:00 in Moscow comes in ``lead_s`` (the 09:00
    nearest to now, so the dates stay near the real ones)."""
    now = datetime.now(UTC)
    local = now.astimezone(MOSCOW)
    nine = local.replace(hour=9, minute=0, second=0, microsecond=0)
    candidates = [nine + timedelta(days=d) for d in (-1, 0, 1)]
    target = min(candidates, key=lambda at: abs((at - local).total_seconds()))
    return target - timedelta(seconds=lead_s) - now


@needs_sipp
async def test_a_contact_outside_its_window_is_dialled_when_it_opens(tmp_path: Path) -> None:
    clock = ShiftedClock(shift_to_just_before_nine(600.0))
    async with demo_node(tmp_path, clock=clock) as node:
        peers = await site(node, tmp_path, {PERSON: answering(tmp_path, "person", "")}, "")
        stop = asyncio.Event()
        talker = asyncio.create_task(hang_up_conversations(node, 0.5, stop))
        try:
            await change(node, "campaigns", CampaignSpec(
                name="morning", mode="progressive", queue="dialout", agents=["1001", "1002"],
                caller_id="+74951110000", call_window="09:00-21:00", detect_machine=False))
            clock.shift = shift_to_just_before_nine(BEFORE_S)  # set up: now to 08:59:56
            opens = clock.utcnow().astimezone(MOSCOW).replace(hour=9, minute=0, second=0,
                                                               microsecond=0)
            assert clock.utcnow() < opens
            ids = await node.store.campaigns.add_contacts("morning", [
                contact("early", f"{PERSON}0001")])
            await node.dialer.contacts_added("morning", ids)
            while clock.utcnow() < opens - timedelta(seconds=0.3):
                assert not node.dialer.calls.attempts, clock.utcnow()  # the window is closed
                await asyncio.sleep(0.1)
            await until(lambda: bool(node.dialer.calls.attempts), 5, "the dial at 09:00")
            await until(lambda: not node.dialer.calls.attempts, 15, "the call's end")
            await asyncio.sleep(0.5)
            [attempt] = await attempts(node, "morning")
        finally:
            stop.set()
            await talker
            for peer in peers:
                await peer.stop()
    assert attempt.started_at >= opens
    assert (attempt.started_at - opens).total_seconds() < 3.0  # dialled as the window opened
    assert attempt.outcome == "human"
    assert attempt.operator in ("1001", "1002")
