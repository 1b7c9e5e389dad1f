"""Campaign routes: settings (admins), start, pause and stop (supervisors), contacts and tasks
from outside systems (JSON, a batch or CSV), their attempts and the CSV export.

Every change is written to the store first, then told to the live dialer
(:class:`parley.center.ports.CampaignControl`); on a node without a dialer the answer says
``"dialer": "not running"`` and what was written waits in the store for it.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import phonenumbers
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from parley.center.ports import AttemptFacts, CampaignAction, LiveError, NotRunning
from parley.dialer.contacts import (
    Contact,
    ContactLoader,
    DncList,
    ImportReport,
    normalise_number,
)
from parley.dialer.model import DialerError
from parley.dialer.ranges import NumberRanges
from parley.events import CampaignStatusChanged
from parley.ids import IdSource
from parley.store import NotFound, Refused
from parley.store.campaigns import ATTEMPT_FIELDS, CampaignRecord, ContactRecord, contact_json
from parley.store.records import Principal
from parley.store.specs import CampaignSpec
from parley.web import schemas as s
from parley.web.auth import Admin, Ctx, Supervisor, WebContext
from parley.web.config_routes import announce, audit, site_ranges

router = APIRouter(tags=["campaigns"])

STATUS_OF: dict[str, str] = {"start": "running", "pause": "paused", "stop": "stopped"}
_NUMBER_COLUMNS = {"mobile", "home", "work"}
_RESERVED = {"contact_id", "id", "timezone", "time_zone", "numbers"}


class CampaignOut(CampaignSpec):
    """A campaign's settings and, in ``state``, its runtime status, contacts and live
    figures."""

    state: s.CampaignState


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _live(ctx: WebContext, name: str) -> s.CampaignLive | None:
    try:
        figures = ctx.campaigns.figures(name)
    except (LiveError, KeyError):  # no dialer here, or it has not loaded this campaign yet
        return None
    stats = figures.stats
    return s.CampaignLive(
        contacts_open=figures.contacts_open, in_flight=figures.in_flight,
        operators_ready=figures.operators_ready, operators_talking=figures.operators_talking,
        dialled=stats.dialled, live_answers=stats.live_answers, machines=stats.machines,
        abandoned=stats.abandoned, failed=stats.failed, connected=stats.connected,
        abandon_rate=stats.abandon_rate_window)


def _out(ctx: WebContext, record: CampaignRecord) -> CampaignOut:
    state = s.CampaignState(name=record.spec.name, status=record.status,
                            status_by=record.status_by, status_at=record.status_at,
                            active=record.spec.active, contacts=dict(record.contacts),
                            live=_live(ctx, record.spec.name) if record.status != "created"
                            else None)
    return CampaignOut.model_validate({**record.spec.model_dump(), "state": state})


async def _reload(ctx: WebContext) -> None:
    """Tell a running dialer that settings or lists changed (nothing to tell otherwise)."""
    with contextlib.suppress(NotRunning):
        await ctx.campaigns.campaigns_changed()


# --- settings ---------------------------------------------------------------------------------


@router.get("/api/campaigns", response_model=list[CampaignOut],
            summary="Campaigns with their status and contacts")
async def list_campaigns(ctx: Ctx, _p: Supervisor) -> list[CampaignOut]:
    names = [spec.key for spec in await ctx.store.config.records("campaigns")]
    return [_out(ctx, await ctx.store.campaigns.campaign(name)) for name in names]


@router.get("/api/campaigns/{name}", response_model=CampaignOut,
            summary="A campaign: settings, status, contacts and the dialer's live figures")
async def get_campaign(name: str, ctx: Ctx, _p: Supervisor) -> CampaignOut:
    return _out(ctx, await ctx.store.campaigns.campaign(name))


async def _save(ctx: WebContext, principal: Principal, spec: CampaignSpec,
                action: str) -> CampaignOut:
    try:
        changed = await ctx.store.config.put("campaigns", spec)
    except (NotFound, Refused) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    await audit(ctx, principal, action, "campaigns", spec.name,
                {"changed": changed, "fields": sorted(spec.model_fields_set)})
    if changed:
        announce(ctx, "campaigns", spec.name, action)
        await _reload(ctx)
    return _out(ctx, await ctx.store.campaigns.campaign(spec.name))


@router.post("/api/campaigns", response_model=CampaignOut, status_code=201,
             summary="Create a campaign (active: true starts it)",
             responses={409: {"description": "exists already"}})
async def create_campaign(spec: CampaignSpec, ctx: Ctx, principal: Admin) -> CampaignOut:
    if await ctx.store.config.get("campaigns", spec.name) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"name: a campaign named {spec.name!r} exists; use PUT to change it")
    return await _save(ctx, principal, spec, "create")


@router.put("/api/campaigns/{name}", response_model=CampaignOut,
            summary="Create or replace a campaign's settings (a supervisor's pause is kept)")
async def put_campaign(name: str, spec: CampaignSpec, ctx: Ctx,
                       principal: Admin) -> CampaignOut:
    if spec.name != name:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"name: the body names {spec.name!r} but the URL names {name!r}")
    return await _save(ctx, principal, spec, "update")


@router.delete("/api/campaigns/{name}", status_code=204,
               summary="Delete a campaign that never dialled (one with attempts is stopped "
                       "instead)",
               responses={409: {"description": "it has attempts on record"}})
async def delete_campaign(name: str, ctx: Ctx, principal: Admin) -> Response:
    await ctx.store.config.delete("campaigns", name)
    await audit(ctx, principal, "delete", "campaigns", name)
    announce(ctx, "campaigns", name, "delete")
    await _reload(ctx)
    return Response(status_code=204)


# --- start, pause, stop -----------------------------------------------------------------------


async def _control(ctx: WebContext, principal: Principal, name: str,
                   action: CampaignAction) -> s.CampaignControlled:
    wanted = STATUS_OF[action]
    await ctx.store.campaigns.save_status(name, wanted, by=principal.username)
    await audit(ctx, principal, action, "campaigns", name)
    ctx.bus.publish(CampaignStatusChanged(name, wanted, principal.username))
    try:
        new = await ctx.campaigns.control(name, action, requested_by=principal.username)
    except NotRunning as exc:
        return s.CampaignControlled(campaign=name, status=wanted, dialer="not running",
                                    detail=f"{exc}; the status is stored and a dialer "
                                           "started later follows it")
    return s.CampaignControlled(campaign=name, status=new, dialer="notified")


def _control_route(action: CampaignAction) -> None:
    async def control(name: str, ctx: Ctx, principal: Supervisor) -> s.CampaignControlled:
        return await _control(ctx, principal, name, action)

    control.__name__ = f"{action}_campaign"
    router.add_api_route(f"/api/campaigns/{{name}}/{action}", control, methods=["POST"],
                         response_model=s.CampaignControlled,
                         summary=f"{action.capitalize()} a campaign (supervisors)",
                         responses={409: {"description": "the campaign is stopped"}})


_ACTIONS: tuple[CampaignAction, ...] = ("start", "pause", "stop")
for _action in _ACTIONS:
    _control_route(_action)


# --- contacts ---------------------------------------------------------------------------------


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` written in place (for a hand-declared request body)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.removeprefix("#/$defs/")]))
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


CONTACTS_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"oneOf": [_inline(s.ContactIn.model_json_schema()),
                                              _inline(s.ContactBatchIn.model_json_schema())]}},
    "text/csv": {"schema": {"type": "string"}}}}}


def _number_type(e164: str) -> str:
    """``mobile`` when phonenumbers says the number may be a mobile, else ``home``."""
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    mobile = (phonenumbers.PhoneNumberType.MOBILE,
              phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    return "mobile" if kind in mobile else "home"


def _record(item: s.ContactIn, region: str) -> tuple[dict[str, object], dict[str, str]]:
    """The loader's record for ``item`` and what each of its number columns was called."""
    record: dict[str, object] = {}
    for key, value in item.fields.items():
        record[key] = "" if value is None else str(value).lower() if isinstance(value, bool) \
            else str(value)
    if item.contact_id:
        record["contact_id"] = item.contact_id
    if item.time_zone:
        record["timezone"] = item.time_zone
    given = ([(item.number, item.type, "number")] if item.number else []) + [
        (n.number, n.type, f"numbers[{i}]") for i, n in enumerate(item.numbers)]
    numbers: list[dict[str, str]] = []
    names: dict[str, str] = {}
    for position, (number, given_kind, field) in enumerate(given, start=1):
        kind: str = given_kind or "mobile"
        if given_kind is None:  # a bad number: the loader says what is wrong with it
            with contextlib.suppress(DialerError, phonenumbers.NumberParseException):
                kind = _number_type(normalise_number(number, region))
        numbers.append({"type": kind, "number": number})
        names[f"{kind}#{position}"] = field
    record["numbers"] = numbers
    return record, names


def _field_of(reason: str, names: Mapping[str, str]) -> str:
    """The field a loader reason is about (``column 'mobile#1' (...)`` → ``number``)."""
    if reason.startswith("column "):
        column = reason.split("'")[1]
        return names.get(column, column)
    if reason.startswith("duplicate contact_id"):
        return "contact_id"
    if reason.startswith("no number"):
        return "number"
    return "contact"


def _issues(report: ImportReport, positions: list[int] | None,
            names: Mapping[int, Mapping[str, str]]
            ) -> tuple[list[s.ContactIssue], list[s.ContactIssue]]:
    """The report's rejected rows and dropped numbers with their CSV ``line``, or, for JSON
    (``positions``: the body index of each record the loader saw), their ``index``."""
    def where(line: int) -> dict[str, int]:
        return {"line": line} if positions is None else {"index": positions[line - 1]}

    def said(reason: str, line: int) -> str:
        for column, field in names.get(line, {}).items():
            reason = reason.replace(f"column {column!r}", field)
        return reason

    rejected = [s.ContactIssue(**where(row.line),
                               field=_field_of(reason, names.get(row.line, {})),
                               reason=said(reason, row.line))
                for row in report.rejected for reason in row.reasons]
    dropped = [s.ContactIssue(**where(d.line), field=names.get(d.line, {}).get(d.column,
                                                                              d.column),
                              reason=d.reason) for d in report.dropped_numbers]
    return rejected, dropped


async def _loader(ctx: WebContext, name: str) -> ContactLoader:
    stored = await ctx.store.campaigns.stored(name)
    lists = [DncList(list_name, numbers) for list_name, numbers in
             (await ctx.store.campaigns.do_not_call()).items()]
    return ContactLoader(default_region=stored.config.default_region,
                         default_time_zone=stored.config.default_time_zone, dnc_lists=lists,
                         existing=await ctx.store.campaigns.open_contacts(name),
                         ranges=await site_ranges(ctx))


def _ids(ctx: WebContext) -> IdSource:
    source = ctx.extra.get("contact_ids")
    if not isinstance(source, IdSource):
        source = IdSource(ctx.clock)
        ctx.extra["contact_ids"] = source
    return source


def _parse_json(raw: bytes) -> tuple[list[Any], bool]:
    """The items of a JSON body and whether they are to be dialled at once."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"body: not JSON: {exc}") from exc
    if isinstance(data, dict) and "contacts" in data:
        try:
            batch = s.ContactBatchIn.model_validate(data)
        except ValidationError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"{_location(exc)}") from exc
        return list(batch.contacts), batch.now
    if not isinstance(data, dict):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "body: send one contact as an object, or {\"contacts\": [...]}")
    return [data], data.get("now") is True


def _location(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(step) for step in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


@router.post("/api/campaigns/{name}/contacts", response_model=s.ContactsAdded,
             status_code=201, openapi_extra=CONTACTS_BODY,
             summary="Add contacts or tasks: one (JSON), a batch ({\"contacts\": [...]}) or a "
                     "CSV list (text/csv); every bad item is reported and the rest loaded",
             responses={422: {"model": s.ErrorOut,
                              "description": "nothing could be loaded; the detail says why"}})
async def add_contacts(name: str, request: Request, ctx: Ctx, principal: Supervisor,
                       now: Annotated[bool, Query(description="CSV: dial these at once")]
                       = False) -> s.ContactsAdded:
    await ctx.store.campaigns.campaign(name)  # 404 before reading the body
    raw = await request.body()
    loader = await _loader(ctx, name)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    names: dict[int, dict[str, str]] = {}
    invalid: list[s.ContactIssue] = []
    positions: list[int] | None = None
    if content_type in ("text/csv", "text/plain"):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST,
                                "body: the CSV must be UTF-8 text") from exc
        try:
            report = loader.load_csv(text)
        except (DialerError, csv.Error) as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        dial_now = now
    else:
        items, dial_now = _parse_json(raw)
        region = loader.default_region
        records: list[dict[str, object]] = []
        positions = []
        for index, item in enumerate(items):
            try:
                contact = s.ContactIn.model_validate(item)
            except ValidationError as exc:
                invalid.append(s.ContactIssue(index=index, field=_location(exc).split(":")[0],
                                              reason=_location(exc)))
                continue
            clash = sorted(k for k in contact.fields
                           if k.lower() in _NUMBER_COLUMNS | _RESERVED
                           or k.lower().rstrip("0123456789_-") in _NUMBER_COLUMNS)
            if clash:
                invalid.append(s.ContactIssue(
                    index=index, field=f"fields.{clash[0]}",
                    reason=f"fields.{clash[0]}: a field may not be named like a number "
                           "column or a contact key; put numbers in number or numbers"))
                continue
            if not contact.number and not contact.numbers:
                invalid.append(s.ContactIssue(index=index, field="number",
                                              reason="number: give number or numbers"))
                continue
            record, columns = _record(contact, region)
            records.append(record)
            positions.append(index)
            names[len(records)] = columns
        report = loader.load_records(records)
    contacts = _named(ctx, report.accepted)
    known = await ctx.store.campaigns.known_contact_ids(name, [c.id for c in contacts])
    rejected, dropped = _issues(report, positions, names)
    rejected = invalid + rejected
    if known:
        rejected += [s.ContactIssue(field="contact_id", reason=f"contact_id: the campaign "
                                    f"already has a contact {cid!r} (closed)")
                     for cid in sorted(known)]
        contacts = [c for c in contacts if c.id not in known]
    ids = await ctx.store.campaigns.add_contacts(name, contacts, dial_now=dial_now,
                                                 by=principal.username)
    await audit(ctx, principal, "add_contacts", "campaigns", name,
                {"added": len(ids), "rejected": len(rejected), "now": dial_now})
    if not ids and rejected:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "; ".join(_where(issue) + issue.reason for issue in rejected[:20]))
    dialer: Literal["notified", "not running"] = "notified"
    detail = ""
    if ids:
        try:
            await ctx.campaigns.contacts_added(name, ids, now=dial_now)
        except NotRunning as exc:
            dialer = "not running"
            detail = f"{exc}; the contacts are stored and will be dialled when it runs"
    return s.ContactsAdded(added=len(ids), contact_ids=ids, rejected=rejected,
                           dropped_numbers=dropped, dialer=dialer, detail=detail)


def _where(issue: s.ContactIssue) -> str:
    if issue.line is not None:
        return f"line {issue.line}: "
    if issue.index is not None:
        return f"contacts[{issue.index}]: "
    return ""


def _named(ctx: WebContext, contacts: list[Contact]) -> list[Contact]:
    """Contacts the loader named by their line get an id of their own."""
    return [dataclasses.replace(c, id=_ids(ctx).new("ct")) if c.id.startswith("line-")
            and c.id[5:].isdigit() else c for c in contacts]


def _attempt(facts: AttemptFacts) -> s.AttemptOut:
    return s.AttemptOut(**{name: getattr(facts, name) for name in ATTEMPT_FIELDS})


def _contact_out(record: ContactRecord) -> s.ContactOut:
    data = contact_json(record.campaign, record.progress, cancelled=record.cancelled,
                        closed_at=record.closed_at)
    return s.ContactOut(**data, added_at=record.added_at, added_by=record.added_by,
                        attempts=[_attempt(a) for a in record.attempts])


@router.get("/api/campaigns/{name}/contacts/{contact_id}", response_model=s.ContactOut,
            summary="A contact, its progress and every attempt")
async def get_contact(name: str, contact_id: str, ctx: Ctx, _p: Supervisor) -> s.ContactOut:
    return _contact_out(await ctx.store.campaigns.contact(name, contact_id))


@router.delete("/api/campaigns/{name}/contacts/{contact_id}",
               response_model=s.ContactCancelledOut,
               summary="Cancel a task (an outside system withdrew it): a ringing call is hung "
                       "up; a conversation goes on and the answer names the operator",
               responses={409: {"description": "the contact has already closed"}})
async def cancel_contact(name: str, contact_id: str, ctx: Ctx,
                         principal: Supervisor) -> s.ContactCancelledOut:
    if not await ctx.store.campaigns.cancel_contact(name, contact_id, by=principal.username):
        record = await ctx.store.campaigns.contact(name, contact_id)
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"contact_id: {contact_id!r} has already closed "
                            f"({record.progress.close_reason})")
    await audit(ctx, principal, "cancel_contact", "campaigns", name,
                {"contact_id": contact_id})
    try:
        done = await ctx.campaigns.contact_cancelled(name, contact_id,
                                                     requested_by=principal.username)
    except NotRunning:  # stored as cancelled: a later dialer skips it
        extra: dict[str, Any] = {"dialer": "not running",
                                 "detail": "stored as cancelled; no dialer runs here"}
    else:
        extra = {"dialer": done.action, "operator": done.operator, "detail": done.detail}
    out = _contact_out(await ctx.store.campaigns.contact(name, contact_id))
    return s.ContactCancelledOut(**out.model_dump(), **extra)


# --- attempts ---------------------------------------------------------------------------------


@router.get("/api/campaigns/{name}/attempts", response_model=s.AttemptPage,
            summary="A campaign's attempts, oldest first, filtered; ?format=csv exports every "
                    "match with every field",
            responses={200: {"content": {"text/csv": {}}}})
async def attempts(name: str, ctx: Ctx, _p: Supervisor,
                   since: datetime | None = None, until: datetime | None = None,
                   contact_id: Annotated[str | None, Query(max_length=128)] = None,
                   outcome: Annotated[str | None, Query(max_length=32)] = None,
                   number: Annotated[str | None, Query(max_length=32)] = None,
                   operator: Annotated[str | None, Query(max_length=64)] = None,
                   format: Literal["json", "csv"] = "json",
                   offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
    filters: dict[str, Any] = {"since": _utc(since), "until": _utc(until),
                               "contact_id": contact_id, "outcome": outcome, "number": number,
                               "operator": operator}
    page = await ctx.store.campaigns.attempts(name, **filters, offset=offset, limit=limit)
    if format == "json":
        return s.AttemptPage(items=[_attempt(a) for a in page.items], total=page.total,
                             offset=page.offset, limit=page.limit)

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(ATTEMPT_FIELDS)
        start = 0
        while True:
            chunk = await ctx.store.campaigns.attempts(name, **filters, offset=start,
                                                       limit=500)
            for facts in chunk.items:
                values = [getattr(facts, column) for column in ATTEMPT_FIELDS]
                writer.writerow(["" if v is None else v.isoformat()
                                 if isinstance(v, datetime) else v for v in values])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            start += len(chunk.items)
            if not chunk.items or start >= chunk.total:
                return

    return StreamingResponse(rows(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}-attempts.csv"'})




# --- the number-range table -------------------------------------------------------------------

MAX_RANGES_BYTES = 64 * 1024 * 1024  # a national register of number ranges fits with room
RANGES_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}}}}}


@router.put("/api/number_ranges", response_model=s.NumberRangesOut, openapi_extra=RANGES_BODY,
            summary="Upload the site's table of number ranges to regions and zones (CSV); a "
                    "table with any bad line is refused whole, each bad line named",
            responses={422: {"model": s.ErrorOut,
                             "description": "every bad line with its line and field"}})
async def put_number_ranges(request: Request, ctx: Ctx,
                            principal: Admin) -> s.NumberRangesOut:
    raw = await request.body()
    if len(raw) > MAX_RANGES_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"body: the table is over {MAX_RANGES_BYTES // 2**20} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            "body: the CSV must be UTF-8 text") from exc
    table, problems = NumberRanges.check_csv(text)
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": ["body", "line", p.line, p.field], "msg": str(p), "type": "number_ranges"}
            for p in problems])
    if not len(table):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "body: the table has no ranges or prefixes")
    await ctx.store.campaigns.save_number_ranges(text, len(table), by=principal.username)
    await audit(ctx, principal, "update", "number_ranges", "site", {"rows": len(table)})
    return await get_number_ranges_info(ctx)


def _no_ranges() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND,
                         "number_ranges: the site has no number-range table; upload one with "
                         "PUT /api/number_ranges")


async def get_number_ranges_info(ctx: WebContext) -> s.NumberRangesOut:
    record = await ctx.store.campaigns.number_ranges()
    if record is None:
        raise _no_ranges()
    return s.NumberRangesOut(rows=record.rows, updated_at=record.updated_at,
                             updated_by=record.updated_by)


@router.get("/api/number_ranges", response_model=s.NumberRangesOut,
            summary="The site's number-range table: its size, who loaded it and when; "
                    "?format=csv downloads it as uploaded",
            responses={200: {"content": {"text/csv": {}}},
                       404: {"description": "the site has no table"}})
async def get_number_ranges(ctx: Ctx, _p: Supervisor,
                            format: Literal["json", "csv"] = "json") -> Any:
    if format == "json":
        return await get_number_ranges_info(ctx)
    record = await ctx.store.campaigns.number_ranges()
    if record is None:
        raise _no_ranges()
    return Response(record.csv, media_type="text/csv", headers={
        "Content-Disposition": 'attachment; filename="number-ranges.csv"'})


@router.get("/api/number_ranges/lookup", response_model=s.NumberAreaOut,
            summary="Where a number's called party lives by the table (region and zone)",
            responses={404: {"description": "no table, or it does not place the number"}})
async def lookup_number_range(ctx: Ctx, _p: Supervisor,
                              number: Annotated[str, Query(max_length=32)]) -> s.NumberAreaOut:
    table = await site_ranges(ctx)
    if table is None:
        raise _no_ranges()
    try:
        region = (await ctx.store.config.site()).default_region or "US"
        e164 = normalise_number(number, region)
    except DialerError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"number: {exc}") from exc
    area = table.area_of(e164)
    if area is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"number: the table places no range or prefix of {e164}")
    return s.NumberAreaOut(number=e164, region=area.region, zone=area.zone, line=area.line)


@router.delete("/api/number_ranges", status_code=204,
               summary="Remove the site's number-range table (loads then use the record's "
                       "zone, else the campaign's default)",
               responses={404: {"description": "the site has no table"}})
async def delete_number_ranges(ctx: Ctx, principal: Admin) -> Response:
    if not await ctx.store.campaigns.delete_number_ranges():
        raise _no_ranges()
    await audit(ctx, principal, "delete", "number_ranges", "site")
    return Response(status_code=204)


# --- customers' opt-outs ----------------------------------------------------------------------


@router.post("/api/do_not_call/{name}/opt_outs", response_model=s.OptOutsAdded,
             summary="Add numbers whose owners asked not to be called; kept across restarts "
                     "and re-imports, honoured by every campaign at once")
async def add_opt_outs(name: str, body: s.OptOutsIn, ctx: Ctx,
                       principal: Supervisor) -> s.OptOutsAdded:
    note = body.note or f"added by {principal.username}"
    added = await ctx.store.campaigns.add_to_do_not_call(body.numbers, name, note=note)
    await audit(ctx, principal, "add_opt_outs", "do_not_call", name,
                {"numbers": len(body.numbers), "added": added})
    announce(ctx, "do_not_call", name, "update")
    await _reload(ctx)
    return s.OptOutsAdded(name=name, added=added)


@router.delete("/api/do_not_call/{name}/opt_outs/{number}", status_code=204,
               summary="Lift a customer's opt-out (they asked to be called again)",
               responses={404: {"description": "the number is not an opt-out of the list"}})
async def remove_opt_out(name: str, number: str, ctx: Ctx, principal: Admin) -> Response:
    if not await ctx.store.campaigns.remove_opt_out(number, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"number: {number} is not an opt-out of the list {name!r} (a "
                            "provisioned number is changed in the list's numbers)")
    await audit(ctx, principal, "remove_opt_out", "do_not_call", name, {"number": number})
    announce(ctx, "do_not_call", name, "update")
    await _reload(ctx)
    return Response(status_code=204)
