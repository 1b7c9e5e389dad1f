"""Outbound work in the ACD: the dialer's reservations, connects and releases as ACD events.

The dialer decides whom to reserve; the ACD owns the operator's state. Feeding the dialer's
``ReserveAgent`` / ``ConnectAgent`` / ``ReleaseAgent`` through ``Acd.handle`` as
``ReserveForOutbound`` / ``OutboundConnected`` / ``OutboundReleased`` means:

- an operator reserved or talking for a campaign is not ready, so no queue offers them an
  inbound call (the routing indexes only hold ready operators);
- a reservation is refused, changing nothing, unless the operator is ready: an operator being
  offered an inbound call is never taken by the dialer (inbound first);
- the end of the conversation is the ordinary ``AgentLegEnded`` and wrap-up path, and the
  operator's statistics and occupancy count the outbound work;
- the watchdog (``LiveLegs``) frees outbound work whose leg is gone.

Blending: when an operator becomes ready the ACD offers them a waiting inbound call at once,
before the dialer hears they are ready, so inbound comes first by default. A campaign that
prefers outbound sets ``ReserveForOutbound.outbound_first_s``: when that outbound work ends the
operator is kept out of the queues' ready lists for that long, and the dialer may reserve them
again first; after it, a still-ready operator takes inbound calls as usual.

These functions see the core only through :class:`parley.acd.port.AcdCore`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from parley import events as ev
from parley.acd.agent import AcdError, Agent, AgentState, Trigger

if TYPE_CHECKING:
    from parley.acd.port import AcdCore

S = AgentState
T = Trigger


@dataclass(slots=True)
class OutboundWork:
    """One operator's outbound reservation or conversation."""

    agent_id: str
    campaign_id: str
    call_id: str
    since: float
    outbound_first_s: float = 0.0
    connected: bool = False
    wrap_up_s: float | None = None
    missed_before: int = 0  # the operator's misses in a row before the connect


def on_reserve(acd: AcdCore, event: ev.ReserveForOutbound, now: float) -> None:
    """READY -> RESERVED for a campaign; anything else is refused and changes nothing."""
    agent = acd.agent(event.agent_id)
    if not event.call_id:
        raise AcdError(f"agent {agent.agent_id}: an outbound reservation needs a call id")
    if event.outbound_first_s < 0:
        raise AcdError(f"agent {agent.agent_id}: outbound_first_s must be >= 0, "
                       f"got {event.outbound_first_s!r}")
    if event.call_id in acd.calls or event.call_id in acd.outbound_calls:
        raise AcdError(f"agent {agent.agent_id}: call {event.call_id} is already in the ACD")
    if agent.state is not S.READY:
        raise AcdError(f"agent {agent.agent_id} cannot be reserved for campaign "
                       f"{event.campaign_id!r}: {_busy_with(acd, agent)}")
    work = OutboundWork(agent.agent_id, event.campaign_id, event.call_id, now,
                        event.outbound_first_s)
    acd.outbound[agent.agent_id] = work
    acd.outbound_calls[event.call_id] = agent.agent_id
    acd.move(agent, T.RESERVE, call_id=event.call_id, cause="outbound reserve")


def _busy_with(acd: AcdCore, agent: Agent) -> str:
    if agent.state in (S.RESERVED, S.RINGING) and agent.call_id in acd.calls:
        return f"being offered inbound call {agent.call_id}"
    if agent.agent_id in acd.outbound:
        return f"{agent.state} for outbound call {acd.outbound[agent.agent_id].call_id}"
    return f"not ready ({agent.state})"


def on_connected(acd: AcdCore, event: ev.OutboundConnected, now: float) -> None:
    """RESERVED (this call) -> ON_CALL, or READY -> RESERVED -> ON_CALL (predictive)."""
    agent = acd.agent(event.agent_id)
    if event.wrap_up_s is not None and event.wrap_up_s < 0:
        raise AcdError(f"call {event.call_id}: wrap_up_s must be >= 0")
    if event.outbound_first_s < 0:
        raise AcdError(f"call {event.call_id}: outbound_first_s must be >= 0")
    work = acd.outbound.get(agent.agent_id)
    if agent.state is S.READY and work is None:
        on_reserve(acd, ev.ReserveForOutbound(agent.agent_id, event.campaign_id,
                                              event.call_id, event.outbound_first_s), now)
        work = acd.outbound[agent.agent_id]
    elif work is None or work.call_id != event.call_id or work.connected:
        raise AcdError(f"agent {agent.agent_id} cannot take outbound call {event.call_id}: "
                       f"{_busy_with(acd, agent)}")
    work.connected = True
    work.wrap_up_s = event.wrap_up_s
    work.outbound_first_s = max(work.outbound_first_s, event.outbound_first_s)
    if event.campaign_id and not work.campaign_id:
        work.campaign_id = event.campaign_id
    acd.move(agent, T.ANSWER, cause="outbound connected")
    work.missed_before = agent.missed_in_row
    agent.missed_in_row = 0
    agent.calls_taken += 1
    stats = acd.agent_stats[agent.agent_id]
    stats.answered += 1
    stats.outbound += 1
    acd.begin_handle(agent.agent_id, "", now)


def on_carried(acd: AcdCore, agent: Agent, event: ev.OutboundCarried, now: float) -> None:
    """READY -> RESERVED -> ON_CALL on a conversation the other node of a cluster connected
    (its statistics counted there); its end is :func:`end`'s, as any outbound call's."""
    since = now - max(0.0, event.talked)
    work = OutboundWork(agent.agent_id, event.campaign_id, event.call_id, since,
                        connected=True, wrap_up_s=event.wrap_up_s)
    acd.outbound[agent.agent_id] = work
    acd.outbound_calls[event.call_id] = agent.agent_id
    acd.move(agent, T.RESERVE, call_id=event.call_id, cause="carried over")
    acd.move(agent, T.ANSWER, cause="carried over")
    agent.calls_taken += 1
    acd.begin_handle(agent.agent_id, "", since)


def on_released(acd: AcdCore, event: ev.OutboundReleased, now: float) -> None:
    """RESERVED -> ready (or the state asked for meanwhile); a stale release changes nothing."""
    agent = acd.agent(event.agent_id)
    work = acd.outbound.get(agent.agent_id)
    if work is None or work.connected or (event.call_id and event.call_id != work.call_id):
        return
    drop(acd, work)
    acd.release(agent, "outbound released")


def on_missed(acd: AcdCore, event: ev.OutboundMissed, now: float) -> None:
    """ON_CALL (connected, never answered) -> ready, or not ready after too many misses."""
    agent = acd.agent(event.agent_id)
    work = acd.outbound.get(agent.agent_id)
    if work is None or work.call_id != event.call_id or not work.connected \
            or agent.call_id != event.call_id or agent.state is not S.ON_CALL:
        return
    drop(acd, work)
    acd.cancel_handle(agent.agent_id)
    agent.missed_in_row = work.missed_before
    agent.calls_taken -= 1
    stats = acd.agent_stats[agent.agent_id]
    stats.answered -= 1
    stats.outbound -= 1
    acd.free_after_miss(agent, T.HANG_UP, f"outbound {event.cause}", counted=event.counted)


def drop(acd: AcdCore, work: OutboundWork) -> None:
    """Forget outbound work; an outbound-first hold starts if the campaign asked for one."""
    acd.outbound.pop(work.agent_id, None)
    acd.outbound_calls.pop(work.call_id, None)
    if work.outbound_first_s > 0:
        acd.hold_inbound(work.agent_id, work.outbound_first_s)


def leg_ended(acd: AcdCore, agent: Agent, call_id: str) -> bool:
    """The outbound leg ``call_id`` of ``agent`` is gone; True if it was outbound work."""
    work = acd.outbound.get(agent.agent_id)
    if work is None or work.call_id != call_id or agent.call_id != call_id:
        return False
    end(acd, agent, work, "outbound leg ended")
    return True


def end(acd: AcdCore, agent: Agent, work: OutboundWork, cause: str) -> None:
    """End outbound work: a conversation goes to wrap-up, a reservation is released."""
    drop(acd, work)
    if not work.connected:
        acd.release(agent, cause)
        return
    acd.move(agent, T.HANG_UP, target=S.WRAP_UP, cause=cause)
    wrap = work.wrap_up_s if work.wrap_up_s is not None else agent.wrap_up_s
    if cause == "watchdog":
        wrap = 0.0  # a phantom conversation leaves no after-call work behind
    if wrap is None:
        return  # after-call work until WrapUpDone (the disposition)
    if wrap <= 0:
        acd.end_wrap_up(agent)
    else:
        acd.arm_wrap(agent, wrap)


def agent_for_call(acd: AcdCore, call_id: str) -> Agent | None:
    """The operator connected on outbound call ``call_id`` (for hold and resume)."""
    agent_id = acd.outbound_calls.get(call_id)
    if agent_id is None or not acd.outbound[agent_id].connected:
        return None
    return acd.agents[agent_id]


def audit(acd: AcdCore, live: frozenset[str], now: float) -> None:
    """Watchdog: free outbound work whose leg is gone. A reservation gets
    ``site.watchdog_grace_s`` for its leg to appear (reserve, then dial)."""
    for work in list(acd.outbound.values()):
        if work.call_id in live:
            continue
        if not work.connected and now - work.since < acd.site.watchdog_grace_s:
            continue
        end(acd, acd.agents[work.agent_id], work, "watchdog")


def net_changes(items: Iterable[object]) -> list[ev.AgentStateChanged]:
    """Per operator, one ``AgentStateChanged`` from the first old state to the last new state
    among ``items`` (one batch the ACD returned), in order of each operator's first change.

    The dialer is fed these, not every step: an operator the ACD made ready and at once offered
    a waiting inbound call (one batch: wrap_up -> ready -> reserved) must not look free to the
    dialer for an instant, or it would reserve an operator the ACD has already given away.
    The store still records every step."""
    first: dict[str, ev.AgentStateChanged] = {}
    last: dict[str, ev.AgentStateChanged] = {}
    for item in items:
        if isinstance(item, ev.AgentStateChanged):
            first.setdefault(item.agent_id, item)
            last[item.agent_id] = item
    return [change if change is last[agent_id] else replace(last[agent_id], old=change.old)
            for agent_id, change in first.items()]
