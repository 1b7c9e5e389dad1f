"""Customers over the REST API: the records the desk's card shows, found by number.

Operators (the agent role) read, create and edit customers, as they do on the card;
deleting one needs a supervisor. Every number is normalised to E.164 by the site's numbering
(``site.default_region`` for numbers written without a country code), so a customer is found
however the caller's number arrives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from parley.numbering import Numbering, clean, to_e164
from parley.store.customers import CardRecord, CustomerRecord, HistoryEntry
from parley.web.auth import Agent, Ctx, Supervisor, WebContext
from parley.web.config_routes import audit

router = APIRouter()

Text = Annotated[str, StringConstraints(max_length=200)]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Number = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class CustomerIn(BaseModel):
    """A customer as sent: the numbers are normalised to E.164."""

    model_config = ConfigDict(extra="forbid")
    name: Text = ""
    status: Annotated[str, StringConstraints(max_length=64)] = ""
    fields: Annotated[dict[FieldName, Annotated[str, StringConstraints(max_length=2000)]],
                      Field(max_length=100)] = Field(default_factory=dict)
    numbers: Annotated[list[Number], Field(max_length=20)] = Field(default_factory=list)


class CustomerPatch(BaseModel):
    """What to change; ``numbers`` replaces the customer's numbers."""

    model_config = ConfigDict(extra="forbid")
    name: Text | None = None
    status: Annotated[str, StringConstraints(max_length=64)] | None = None
    fields: Annotated[dict[FieldName, Annotated[str, StringConstraints(max_length=2000)]],
                      Field(max_length=100)] | None = None
    numbers: Annotated[list[Number], Field(max_length=20)] | None = None


class CustomerOut(BaseModel):
    id: str
    name: str
    status: str
    fields: dict[str, Any]
    numbers: list[str]
    created_at: datetime
    updated_at: datetime


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    total: int
    offset: int
    limit: int


class HistoryRecordingOut(BaseModel):
    """A recording of an earlier call that the caller of the API may hear."""

    id: str
    duration_s: float
    audio: str  # its audio's path in this API


class HistoryOut(BaseModel):
    interaction_id: str
    started_at: datetime
    queue: str | None
    operator: str | None
    outcome: str | None
    result: str
    notes: str
    #: the call's recordings the caller may hear (the site's rule for operators: their own
    #: calls, all, or none); empty for the others
    recordings: list[HistoryRecordingOut] = []


class CardOut(BaseModel):
    interaction_id: str
    customer_id: str | None
    number: str
    operator: str
    saved_at: datetime
    card: dict[str, Any]


def customer_out(record: CustomerRecord) -> CustomerOut:
    return CustomerOut(id=record.id, name=record.name, status=record.status,
                       fields=record.fields, numbers=list(record.numbers),
                       created_at=record.created_at, updated_at=record.updated_at)


def history_out(entry: HistoryEntry,
                recordings: list[HistoryRecordingOut] | None = None) -> HistoryOut:
    return HistoryOut(interaction_id=entry.interaction_id, started_at=entry.started_at,
                      queue=entry.queue, operator=entry.operator, outcome=entry.outcome,
                      result=entry.result, notes=entry.notes, recordings=recordings or [])


def card_out(card: CardRecord) -> CardOut:
    return CardOut(interaction_id=card.interaction_id, customer_id=card.customer_id,
                   number=card.number, operator=card.operator, saved_at=card.saved_at,
                   card=card.card)


async def numbering(ctx: WebContext) -> Numbering:
    """The site's numbering (its default region) for customers' numbers."""
    site = await ctx.store.config.site()
    return Numbering(site.default_region)


async def normalised(ctx: WebContext, numbers: list[str], field: str = "numbers") -> list[str]:
    """``numbers`` in E.164; 422 naming the entry that is not a phone number."""
    plan = await numbering(ctx)
    out: list[str] = []
    for index, number in enumerate(numbers):
        e164 = to_e164(number, plan.region)
        if e164 is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"{field}[{index}]: {number!r} is not a phone number (write "
                                "it with its country code, or set the site's default_region)")
        out.append(e164)
    return out


async def lookup_number(ctx: WebContext, number: str) -> str:
    """The form a caller's number is stored in: E.164 when it is a phone number, else as it
    came (an extension, ``anonymous``)."""
    return (await numbering(ctx)).normalise(number) if clean(number) else number


@router.get("/api/customers", response_model=CustomerPage, tags=["customers"],
            summary="Customers whose name contains q or who have a number starting with it")
async def list_customers(ctx: Ctx, _p: Agent, q: Annotated[str, Query(max_length=200)] = "",
                         offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
                         limit: Annotated[int, Query(ge=1, le=500)] = 50) -> CustomerPage:
    text = q.strip()
    if text and clean(text).lstrip("+").isdigit():
        plan = await numbering(ctx)
        text = plan.normalise(text) if len(clean(text)) > 6 else clean(text)
    page = await ctx.store.customers.search(text=text, offset=offset, limit=limit)
    return CustomerPage(items=[customer_out(item) for item in page.items], total=page.total,
                        offset=page.offset, limit=page.limit)


@router.get("/api/customers/lookup", response_model=CustomerOut, tags=["customers"],
            summary="The customer who has this phone number (404: nobody)")
async def lookup(ctx: Ctx, _p: Agent,
                 number: Annotated[str, Query(min_length=1, max_length=64)]) -> CustomerOut:
    found = await ctx.store.customers.by_number(await lookup_number(ctx, number))
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer has the number {number}")
    return customer_out(found)


@router.post("/api/customers", response_model=CustomerOut, status_code=201,
             tags=["customers"], summary="Create a customer")
async def create_customer(body: CustomerIn, ctx: Ctx, principal: Agent) -> CustomerOut:
    numbers = await normalised(ctx, body.numbers)
    made = await ctx.store.customers.create(name=body.name, status=body.status,
                                            fields=dict(body.fields), numbers=numbers)
    await audit(ctx, principal, "customer_created", "customers", made.id, {})
    return customer_out(made)


@router.get("/api/customers/{customer_id}", response_model=CustomerOut, tags=["customers"],
            summary="One customer")
async def get_customer(customer_id: str, ctx: Ctx, _p: Agent) -> CustomerOut:
    return customer_out(await ctx.store.customers.get(customer_id))


@router.patch("/api/customers/{customer_id}", response_model=CustomerOut, tags=["customers"],
              summary="Change a customer (numbers: replaces them all)")
async def change_customer(customer_id: str, body: CustomerPatch, ctx: Ctx,
                          principal: Agent) -> CustomerOut:
    numbers = None if body.numbers is None else await normalised(ctx, body.numbers)
    changed = await ctx.store.customers.update(
        customer_id, name=body.name, status=body.status,
        fields=None if body.fields is None else dict(body.fields), numbers=numbers)
    await audit(ctx, principal, "customer_changed", "customers", customer_id,
                {"changed": sorted(body.model_fields_set)})
    return customer_out(changed)


@router.delete("/api/customers/{customer_id}", status_code=204, tags=["customers"],
               summary="Delete a customer (supervisors)")
async def delete_customer(customer_id: str, ctx: Ctx, principal: Supervisor) -> Response:
    await ctx.store.customers.delete(customer_id)
    await audit(ctx, principal, "customer_deleted", "customers", customer_id, {})
    return Response(status_code=204)


@router.get("/api/customers/{customer_id}/history", response_model=list[HistoryOut],
            tags=["customers"], summary="The customer's earlier calls, newest first")
async def customer_history(customer_id: str, ctx: Ctx, principal: Agent,
                           limit: Annotated[int, Query(ge=1, le=200)] = 20
                           ) -> list[HistoryOut]:
    from parley.web.operations import history_recordings  # the audio route's own rule

    customer = await ctx.store.customers.get(customer_id)
    entries = await ctx.store.customers.history(customer.numbers, limit=limit)
    heard = await history_recordings(ctx, principal, entries)
    out = []
    for entry in entries:
        found, allowed = heard[entry.interaction_id]
        out.append(history_out(entry, [
            HistoryRecordingOut(id=record.id, duration_s=record.duration_s,
                                audio=f"/api/recordings/{record.id}/audio")
            for record in found if record.deleted_at is None] if allowed else []))
    return out


@router.get("/api/interactions/{interaction_id}/card", response_model=CardOut,
            tags=["customers"], summary="The customer card saved with a call")
async def interaction_card(interaction_id: str, ctx: Ctx, _p: Agent) -> CardOut:
    card = await ctx.store.customers.card(interaction_id)
    if card is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"no card was saved with interaction {interaction_id!r}")
    return card_out(card)
