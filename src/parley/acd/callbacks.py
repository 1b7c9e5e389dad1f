"""Callbacks in the ACD: a waiting caller's (virtual hold), scheduled ones, their attempts,
expiry and cancellation.

A callback is an ``AcdCall`` with ``callback`` set: it waits in its queue like a caller (a
caller's keeps the place it had), is offered to an operator as ``DialCallback`` (the shell
rings the operator, then the customer) and connects on ``CallbackResult(connected=True)``; an
attempt that fails is retried after ``retry_after_s`` until ``attempts`` run out or it expires.
These functions are the ACD's handlers and timers for them (``Acd`` wires them in); they see
the core only through :class:`parley.acd.port.AcdCore`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley import events as ev
from parley.acd.agent import AcdError, Agent
from parley.acd.calls import AcdCall, CallState

if TYPE_CHECKING:
    from parley.acd.port import AcdCore

def on_request(acd: AcdCore, event: ev.RequestCallback, now: float) -> None:
    call = acd.calls.get(event.call_id)
    if call is None or call.state is not CallState.WAITING:
        raise AcdError(f"call {event.call_id} is not waiting in a queue")
    call.callback = True
    call.number = event.number


def on_schedule(acd: AcdCore, event: ev.ScheduleCallback, now: float) -> None:
    runtime = acd.queues.get(event.queue)
    if runtime is None:
        raise AcdError(f"callback {event.callback_id}: unknown queue {event.queue!r}")
    if event.callback_id in acd.calls:
        raise AcdError(f"callback {event.callback_id} already exists")
    if event.at.tzinfo is None:
        raise AcdError(f"callback {event.callback_id}: the time needs a time zone")
    due = now + (event.at - acd.wall(now)).total_seconds()
    call = AcdCall(event.callback_id, event.queue, event.number,
                   event.priority + acd.site.callback_priority + runtime.config.priority,
                   due, acd.next_seq(), state=CallState.SCHEDULED, callback=True,
                   number=event.number, max_attempts=max(1, event.attempts),
                   retry_after=event.retry_after_s)
    if event.expires_at is not None:
        call.expires = now + (event.expires_at - acd.wall(now)).total_seconds()
        acd.schedule(call.expires, "cb_expire", call.call_id)
    acd.calls[call.call_id] = call
    acd.schedule(due, "cb_due", call.call_id, 0)


def due(acd: AcdCore, now: float, call_id: str, attempts: int) -> None:
    call = acd.calls.get(call_id)
    if call is None or call.state is not CallState.SCHEDULED or call.attempts != attempts:
        return
    call.arrived = now
    acd.arrive(call, acd.queues[call.queue])


def expire_if_waiting(acd: AcdCore, call_id: str) -> None:
    call = acd.calls.get(call_id)
    if call is None or call.state in (CallState.CONNECTED, CallState.OFFERING):
        return
    expire(acd, call, "expired")


def expire(acd: AcdCore, call: AcdCall, reason: str) -> None:
    acd.leave_line(call)
    del acd.calls[call.call_id]
    call.state = CallState.ENDED
    acd.emit(ev.CallbackExpired(call.call_id, call.queue, reason))


def failed(acd: AcdCore, call: AcdCall, agent: Agent, cause: str, now: float) -> None:
    acd.emit(ev.CancelOffer(call.call_id, agent.agent_id))
    call.offered_to.discard(agent.agent_id)
    call.attempts += 1
    acd.release(agent, cause)
    if call.attempts >= call.max_attempts:
        expire(acd, call, f"no answer after {call.attempts} attempts")
        return
    retry = now + call.retry_after
    if call.expires is not None and retry >= call.expires:
        expire(acd, call, "expired")
        return
    call.state = CallState.SCHEDULED
    acd.schedule(retry, "cb_due", call.call_id, call.attempts)


def on_cancel(acd: AcdCore, event: ev.CancelCallback, now: float) -> None:
    call = acd.calls.get(event.callback_id)
    if call is None or not call.callback or call.state is CallState.CONNECTED:
        return  # unknown, already done, or talking: nothing to cancel
    for agent_id in sorted(call.offered_to):
        acd.emit(ev.CancelOffer(call.call_id, agent_id))
        acd.release(acd.agents[agent_id], "callback cancelled")
    call.offered_to.clear()
    expire(acd, call, "cancelled")


def on_result(acd: AcdCore, event: ev.CallbackResult, now: float) -> None:
    call = acd.calls.get(event.callback_id)
    if call is None or not call.callback or call.state is not CallState.OFFERING:
        return
    agent = acd.agents[next(iter(call.offered_to))]
    if event.connected:
        acd.connect(call, agent)
    else:
        failed(acd, call, agent, "customer did not answer", now)
