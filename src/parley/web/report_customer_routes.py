"""The call history of one customer (``/api/reports/customer``, also as CSV): every call
from or to the customer's numbers, inbound and outbound, and the campaign attempts dialled
to them, newest first. Supervisors and admins; a supervisor of some teams sees the calls of
their teams' operators and queues only, as in the calls behind a figure (docs/reports.md)."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from parley.numbering import clean
from parley.store import NotFound
from parley.store.customer_calls import CustomerCall, customer_calls
from parley.web.auth import Ctx, Supervisor
from parley.web.customers import numbering
from parley.web.reports_routes import LONGEST, csv_text, period
from parley.web.scope import Scope, scope_of

router = APIRouter()

_DIGITS = re.compile(r"\+?[0-9]{1,20}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

Number = Annotated[str | None, Query(max_length=64, description=(
    "The customer's number, in E.164 or as typed (normalised by the site's numbering)"))]
CustomerId = Annotated[str | None, Query(max_length=64, description=(
    "The customer's id: the calls of all their numbers"))]
Since = Annotated[datetime | None, Query(alias="from", description=(
    "The period's start (ISO 8601; UTC unless it names its offset), included; default: "
    "400 days before the end"))]
Until = Annotated[datetime | None, Query(alias="to", description=(
    "The period's end (ISO 8601), excluded; default: now"))]


def _visible(scope: Scope, line: CustomerCall) -> bool:
    """By the call's operator; a call nobody answered by its queue (an unanswered campaign
    attempt has neither: site-wide supervisors only)."""
    return scope.sees_operator(line.operator) if line.operator else scope.sees_queue(line.queue)


def _line(line: CustomerCall) -> dict[str, Any]:
    values = asdict(line)
    values["started_at"] = line.started_at.isoformat()
    return values


async def history(ctx: Ctx, principal: Any, number: str | None, customer: str | None,
                  since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """The route's and the page's answer; 422 naming the parameter at fault, 404 for an
    unknown customer."""
    if bool(number) == bool(customer):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "number: give the customer's number or customer (their id), "
                            "one of the two")
    end = until or ctx.clock.utcnow()
    start, end = period(since or end - LONGEST, end)
    name = ""
    if customer:
        try:
            record = await ctx.store.customers.get(customer)
        except NotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"customer: no customer {customer!r}") from None
        numbers, name = list(record.numbers), record.name
    else:
        number = number or ""
        if not _DIGITS.fullmatch(clean(number)):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"number: {number!r} is not a phone number (digits, "
                                "optionally after a +)")
        e164 = (await numbering(ctx)).normalise(number)
        numbers = list(dict.fromkeys([e164, clean(number)]))
        owner = await ctx.store.customers.by_number(e164)
        if owner is not None:
            customer, name = owner.id, owner.name
    scope = await scope_of(ctx, principal)
    total, lines = await customer_calls(ctx.store.sessions, numbers, start, end)
    shown = [line for line in lines if _visible(scope, line)]
    return {"from": start.isoformat(), "to": end.isoformat(), "customer": customer,
            "name": name, "numbers": numbers, "total": total,
            "outside_scope": len(lines) - len(shown), "calls": [_line(line) for line in shown]}


@router.get("/api/reports/customer", tags=["reports"],
            summary="The call history of one customer: every call from or to their numbers "
                    "and every campaign attempt to them, newest first")
async def customer_report(ctx: Ctx, principal: Supervisor, number: Number = None,
                          customer: CustomerId = None, since: Since = None,
                          until: Until = None) -> dict[str, Any]:
    """``calls`` lists the first 1,000 in the supervisor's scope; ``total`` counts them all
    and ``outside_scope`` how many of those listed were left out."""
    return await history(ctx, principal, number, customer, since, until)


@router.get("/api/reports/customer.csv", tags=["reports"],
            summary="The call history of one customer as CSV (the same calls)",
            responses={200: {"content": {"text/csv": {}}}})
async def customer_csv(ctx: Ctx, principal: Supervisor, number: Number = None,
                       customer: CustomerId = None, since: Since = None,
                       until: Until = None) -> Response:
    answer = await history(ctx, principal, number, customer, since, until)
    rows = [{**call, "recordings": " ".join(call["recordings"])} for call in answer["calls"]]
    who = _UNSAFE.sub("", answer["customer"] or answer["numbers"][0]) or "customer"
    return Response(csv_text(rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="calls-{who}.csv"'})
