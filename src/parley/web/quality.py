"""Quality management (docs/quality.md): the API under ``/api/quality`` and the ``/quality``
pages, for supervisors and admins, each seeing the calls of their own teams' operators
(:mod:`parley.web.scope`, as on the console).

- ``/quality``: the scored calls of a period on one scorecard, and the balanced scorecard per
  operator or team by day or week, for incoming calls and each campaign.
- ``/quality/calls/{id}``: one call to review: its recordings with its timeline, its script
  answers, and each scorecard (automatic criteria with what they saw, reviewer criteria to
  mark, every reviewer's marks and their spread for calibration).

Scores come from :mod:`parley.qa`: computed when the wrap-up is saved, recomputed on request
(``POST /api/quality/calls/{id}/score``), and at once when a call is shown whose scores were
computed before it ended (the talk time was not known yet).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from parley.qa.scoring import NOT_OVER, Criterion, CriterionTest, QualityError, review_marks
from parley.qa.service import (
    CardView,
    balanced_scorecard,
    call_views,
    score_call,
    scorecards,
    scored_cards,
    view_out,
    views,
)
from parley.store import NotFound
from parley.store.records import InteractionRecord, Principal
from parley.store.specs import Role, ScriptSpec
from parley.web.auth import Ctx, Supervisor, WebContext
from parley.web.desk import render
from parley.web.locale import PageLocale
from parley.web.reports_page import INPUT_FORMAT, _local, shortcut
from parley.web.reports_routes import From, To, period
from parley.web.scope import scope_of
from parley.web.supervisor import _signed_in

router = APIRouter()

By = Literal["operator", "team"]
Every = Literal["day", "week"]
ScorecardName = Annotated[str, Query(max_length=64, description="The scorecard's name")]


class ReviewIn(BaseModel):
    """A reviewer's marks: criterion id -> 0..scale (a yes/no criterion: 1 or 0), or null
    for "does not apply"; criteria left out stay pending. The note is the reviewer's."""

    model_config = ConfigDict(extra="forbid")
    marks: dict[str, int | None] = Field(default_factory=dict)
    note: Annotated[str, Field(max_length=4000)] = ""


async def _visible(ctx: WebContext, principal: Principal) -> frozenset[str] | None:
    """The operators whose calls ``principal`` reviews (None: everyone's)."""
    scope = await scope_of(ctx, principal)
    return None if scope.site_wide else scope.operators


async def _call(ctx: WebContext, principal: Principal,
                interaction_id: str) -> InteractionRecord:
    """The call, if ``principal`` may review it; outside their teams it is not found."""
    record = await ctx.store.interactions.get(interaction_id)
    operators = await _visible(ctx, principal)
    if operators is not None and record.operator not in operators:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no interaction {interaction_id!r} "
                            "among your teams' calls")
    return record


async def _fresh_views(ctx: WebContext, record: InteractionRecord) -> list[CardView]:
    """The call's scorecards, rescored first when they were computed before its end was
    recorded (its talk and hold time were not known yet)."""
    found = await call_views(ctx.store, record.id)
    if record.ended_at is not None and any(
            v.card.computed_at < record.ended_at
            or any(c.detail == NOT_OVER for c in v.criteria) for v in found):
        await score_call(ctx.store, record.id, ctx.clock.utcnow())
        found = await call_views(ctx.store, record.id)
    return found


@router.get("/api/quality/calls", tags=["quality"],
            summary="The calls of a period scored on a scorecard, newest first, with totals")
async def scored_calls(ctx: Ctx, principal: Supervisor, since: From, until: To,
                       scorecard: ScorecardName,
                       operator: Annotated[str | None, Query(max_length=64)] = None
                       ) -> dict[str, Any]:
    start, end = period(since, until)
    definitions = await scorecards(ctx.store)
    if scorecard not in definitions:
        raise NotFound(f"no scorecard named {scorecard!r}")
    operators = await _visible(ctx, principal)
    if operator is not None:
        operators = frozenset({operator}) & operators if operators is not None \
            else frozenset({operator})
    stored = await scored_cards(ctx.store, start, end, ctx.clock.utcnow(),
                                operators=operators, scorecard=scorecard)
    return {"from": start.isoformat(), "to": end.isoformat(),
            "calls": [view_out(v) for v in views(definitions, stored)]}


@router.get("/api/quality/calls/{interaction_id}", tags=["quality"],
            summary="One call's scorecards: each criterion's score, the total, the reviews "
                    "and the reviewers' spread")
async def call_scores(interaction_id: str, ctx: Ctx,
                      principal: Supervisor) -> dict[str, Any]:
    record = await _call(ctx, principal, interaction_id)
    return {"interaction_id": record.id,
            "scorecards": [view_out(v) for v in await _fresh_views(ctx, record)]}


@router.post("/api/quality/calls/{interaction_id}/score", tags=["quality"],
             summary="Score a call again from its wrap-up and record (after a scorecard "
                     "changed); reviewers' marks are kept")
async def rescore(interaction_id: str, ctx: Ctx, principal: Supervisor) -> dict[str, Any]:
    record = await _call(ctx, principal, interaction_id)
    await score_call(ctx.store, record.id, ctx.clock.utcnow())
    return {"interaction_id": record.id,
            "scorecards": [view_out(v) for v in await call_views(ctx.store, record.id)]}


@router.put("/api/quality/calls/{interaction_id}/reviews/{scorecard}", tags=["quality"],
            summary="Mark a call's reviewer criteria on a scorecard (your review; a later "
                    "one replaces it); answers the scorecard with its new total",
            responses={422: {"description": "the criterion or mark at fault, named"}})
async def review(interaction_id: str, scorecard: str, body: ReviewIn, ctx: Ctx,
                 principal: Supervisor) -> dict[str, Any]:
    record = await _call(ctx, principal, interaction_id)
    definition = (await scorecards(ctx.store)).get(scorecard)
    if definition is None:
        raise NotFound(f"no scorecard named {scorecard!r}")
    try:
        marks = review_marks(definition, body.marks)
    except QualityError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": ["body", *map(str, exc.path)], "msg": str(exc), "type": "bad-mark"}
        ]) from None
    await ctx.store.quality.save_review(record.id, scorecard, principal.username, marks,
                                        body.note.strip(), ctx.clock.utcnow())
    await ctx.store.audit.record(ctx.clock.utcnow(), principal.username, "quality_review",
                                 "interactions", record.id,
                                 {"scorecard": scorecard, "marks": body.marks})
    found = next(v for v in await call_views(ctx.store, record.id)
                 if v.card.scorecard == scorecard)
    return view_out(found)


@router.get("/api/quality/balanced", tags=["quality"],
            summary="The balanced scorecard: per operator or team, per day or week, for "
                    "incoming calls and each campaign, the mean total and each criterion's "
                    "mean score")
async def balanced_api(ctx: Ctx, principal: Supervisor, since: From, until: To,
                       scorecard: ScorecardName, by: By = "operator",
                       every: Every = "day") -> dict[str, Any]:
    start, end = period(since, until)
    zone = ZoneInfo((await ctx.store.config.site()).time_zone or "UTC")
    rows = await balanced_scorecard(ctx.store, start, end, ctx.clock.utcnow(), by=by,
                                    every=every, zone=zone, scorecard=scorecard,
                                    operators=await _visible(ctx, principal))
    return {"from": start.isoformat(), "to": end.isoformat(), "time_zone": zone.key,
            "rows": rows}


# --- pages ------------------------------------------------------------------------------------


def _percent(locale: PageLocale, value: float | None) -> str:
    return "–" if value is None else locale.percent(value / 100)


def _score(locale: PageLocale, scale: int, score: float | None, marked: bool) -> str:
    """A criterion's score as shown: yes/no, a mark out of the scale, or a share."""
    if not marked:
        return locale.gettext("pending")
    if score is None:
        return locale.gettext("does not apply")
    if scale == 1 and score in (0.0, 1.0):
        return locale.gettext("yes") if score else locale.gettext("no")
    return f"{locale.number(round(score * scale, 2))}/{scale}"


def describe(criterion: Criterion, locale: PageLocale) -> str:
    """How a criterion is scored, in the viewer's language (the scorecard panel of /quality)."""
    test = criterion.test
    if test is CriterionTest.ANSWER and criterion.condition is not None:
        cond = criterion.condition
        if cond.answered is not None:
            text = (locale.gettext("script field {field} answered") if cond.answered
                    else locale.gettext("script field {field} left empty")).format(field=cond.field)
        elif cond.includes is not None:
            text = locale.gettext("{option} ticked in script field {field}").format(
                option=cond.includes, field=cond.field)
        else:
            values = cond.one_of or (cond.equals,)
            text = locale.gettext("script field {field} is one of: {values}").format(
                field=cond.field, values=", ".join(
                    f"{v:g}" if isinstance(v, float) else str(v) for v in values))
    elif test in (CriterionTest.TALK, CriterionTest.HOLD):
        text = (locale.gettext("talk time {bounds}") if test is CriterionTest.TALK
                else locale.gettext("hold time {bounds}")).format(bounds=str(criterion.bounds))
    elif test is CriterionTest.TRANSFERRED:
        text = locale.gettext("transferred") if criterion.transferred \
            else locale.gettext("not transferred")
    elif test is CriterionTest.RESULT:
        text = locale.gettext("result code one of: {codes}").format(
            codes=", ".join(criterion.results))
    elif criterion.scale == 1:
        text = locale.gettext("a reviewer marks yes or no")
    else:
        text = locale.gettext("a reviewer marks 0 to {scale}").format(scale=criterion.scale)
    if criterion.when_result:
        text += "; " + locale.gettext("only on calls closed as {codes}").format(
            codes=", ".join(criterion.when_result))
    return text


@router.get("/quality", include_in_schema=False)
async def quality_page(request: Request, ctx: Ctx) -> Response:
    """The scored calls of a period and the balanced scorecard."""
    signed = await _signed_in(request, ctx, Role.SUPERVISOR)
    if isinstance(signed, Response):
        return signed
    principal, locale = signed
    zone = ZoneInfo(locale.time_zone)
    query = request.query_params
    definitions = await scorecards(ctx.store)
    chosen = query.get("scorecard") or next(iter(definitions), "")
    by = "team" if query.get("by") == "team" else "operator"
    every = "week" if query.get("every") == "week" else "day"
    error = ""
    since, until = shortcut("week", ctx.clock.utcnow(), zone)
    if query.get("from") and query.get("to"):
        try:
            since = _local(query["from"], zone, locale.gettext("From"), locale)
            until = _local(query["to"], zone, locale.gettext("To"), locale)
            since, until = period(since, until)
        except HTTPException as exc:
            error = str(exc.detail)
            since, until = shortcut("week", ctx.clock.utcnow(), zone)
    calls: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    criteria: list[tuple[str, str]] = []
    described: list[dict[str, str]] = []
    if chosen in definitions:
        operators = await _visible(ctx, principal)
        definition = definitions[chosen]
        criteria = [(c.id, c.label) for c in definition.criteria]
        described = [{"label": c.label, "weight": locale.number(c.weight),
                      "how": describe(c, locale)} for c in definition.criteria]
        for view in views(definitions, await scored_cards(
                ctx.store, since, until, ctx.clock.utcnow(), operators=operators,
                scorecard=chosen, limit=200)):
            calls.append({"id": view.card.interaction_id, "operator": view.card.operator,
                          "when": locale.moment(view.card.call_started_at, "short"),
                          "where": view.card.campaign or view.card.queue or "",
                          "result": view.card.result,
                          "percent": _percent(locale, view.total.percent),
                          "pending": view.total.pending, "reviewers": len(view.notes)})
        for row in await balanced_scorecard(ctx.store, since, until, ctx.clock.utcnow(),
                                            by=by, every=every, zone=zone, scorecard=chosen,
                                            operators=operators):
            rows.append({**row, "who": row[by] or "–",
                         "period": locale.date(datetime.combine(
                             date.fromisoformat(row["period"]), datetime.min.time(), zone),
                             "short"),
                         "percent": _percent(locale, row["percent"]),
                         "scores": [("–" if row["criteria"].get(cid) is None
                                     else locale.percent(row["criteria"][cid]))
                                    for cid, _label in criteria]})
    return render("quality.html", locale, principal=principal, definitions=definitions,
                  chosen=chosen, by=by, every=every, error=error,
                  since=since.astimezone(zone).strftime(INPUT_FORMAT),
                  until=until.astimezone(zone).strftime(INPUT_FORMAT),
                  time_zone=locale.time_zone, calls=calls, rows=rows, criteria=criteria,
                  described=described)


@router.get("/quality/calls/{interaction_id}", include_in_schema=False)
async def review_page(interaction_id: str, request: Request, ctx: Ctx) -> Response:
    """One call to review: recordings, timeline, script answers, scorecards."""
    signed = await _signed_in(request, ctx, Role.SUPERVISOR)
    if isinstance(signed, Response):
        return signed
    principal, locale = signed
    record = await _call(ctx, principal, interaction_id)
    found = await _fresh_views(ctx, record)
    wrapup = await ctx.store.wrapups.find(record.id)
    answers: list[dict[str, str]] = []
    if wrapup is not None and wrapup.script:
        spec = await ctx.store.config.get("scripts", wrapup.script)
        script = spec.script() if isinstance(spec, ScriptSpec) else None
        for name, value in wrapup.answers.items():
            located = script.field(name) if script is not None else None
            label = located[1].label if located is not None else name
            shown = ", ".join(map(str, value)) if isinstance(value, list) else (
                locale.number(value) if isinstance(value, float) else str(value))
            answers.append({"field": name, "label": label, "value": shown})
    recordings = (await ctx.store.recordings.list(interaction_id=record.id, limit=20)).items
    start = recordings[0].started_at if recordings else record.started_at
    timeline = [{"time": locale.time(event.at, "medium"), "kind": event.kind,
                 "offset": max(0.0, round((event.at - start).total_seconds(), 1)),
                 "detail": ", ".join(f"{k}: {v}" for k, v in event.detail.items()
                                     if v not in (None, "", [], {}))}
                for event in record.timeline]
    cards = []
    for view in found:
        mine = {c.id: c.reviews.get(principal.username) for c in view.criteria
                if principal.username in c.reviews}
        cards.append({
            "name": view.card.scorecard, "title": view.title,
            "points": locale.number(view.total.points),
            "possible": locale.number(view.total.possible),
            "percent": _percent(locale, view.total.percent), "pending": view.total.pending,
            "note": view.notes.get(principal.username, ""),
            "notes": [(who, note) for who, note in view.notes.items() if note],
            "criteria": [{"id": c.id, "label": c.label, "weight": locale.number(c.weight),
                          "automatic": c.automatic, "scale": c.scale, "detail": c.detail,
                          "shown": _score(locale, c.scale, c.score, c.marked),
                          "mine": None if c.id not in mine or mine[c.id] is None
                          else round((mine[c.id] or 0) * c.scale),
                          "mine_na": c.id in mine and mine[c.id] is None,
                          "reviews": [(who, _score(locale, c.scale, s, True))
                                      for who, s in c.reviews.items()]}
                         for c in view.criteria],
            "spreads": [{"criterion": next(c.label for c in view.criteria
                                           if c.id == s.criterion),
                         "reviewers": s.reviewers,
                         "lowest": locale.percent(s.lowest),
                         "highest": locale.percent(s.highest),
                         "spread": locale.percent(s.spread)} for s in view.spreads]})
    return render("quality_call.html", locale, principal=principal, record=record,
                  started=locale.moment(record.started_at, "medium"),
                  talk=locale.duration(record.talk_s) if record.talk_s else "–",
                  result=wrapup.result if wrapup else "", notes=wrapup.notes if wrapup else "",
                  answers=answers, timeline=timeline, cards=cards,
                  recordings=[{"id": r.id, "length": locale.duration(r.duration_s)}
                              for r in recordings])
