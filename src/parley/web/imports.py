"""Bulk imports from CSV: users, and the numbers of a number list.

Each row is checked and saved on its own, as the record's own API route would save it (the
same validation, the same audit entry), so one bad row never stops the good ones: the
answer names every bad row by its line in the file (the header is line 1), the field at
fault and what is wrong, and the good rows are in.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ValidationError

from parley.store.specs import NumberListSpec, UserSpec
from parley.web.auth import Admin, Ctx
from parley.web.config_routes import save_record

router = APIRouter()

MAX_BYTES = 5_000_000
MAX_ROWS = 20_000
USER_COLUMNS = ("username", "display_name", "roles", "teams", "skills", "extension",
                "language", "password", "active", "caller_id")
LIST_SEPARATORS = re.compile(r"[,;\s]+")
NUMBER_PUNCTUATION = re.compile(r"[\s().-]")
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"description": "the file is over 5 MB or 20,000 rows: split it"}}


class RowError(BaseModel):
    """One thing wrong with one row of the file."""

    row: int  # the line in the file; the header is line 1
    field: str
    message: str


class UserImportOut(BaseModel):
    created: list[str]
    updated: list[str]
    errors: list[RowError]


class NumberImportOut(BaseModel):
    added: int
    already: int
    numbers: int  # how many the list holds now
    errors: list[RowError]


async def _csv_text(request: Request) -> str:
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"body: the file is over {MAX_BYTES // 1_000_000} MB; split it")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            f"body: not UTF-8 text (byte {exc.start}); save the file as "
                            "CSV UTF-8") from exc


def _reader(text: str) -> Any:
    """A CSV reader for comma- or semicolon-separated text (spreadsheets in many locales
    save with semicolons)."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return csv.reader(io.StringIO(text), delimiter=delimiter)


def _rows(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; text that is not CSV (a field past the size limit, a stray quote
    at the end) is refused naming its line."""
    try:
        yield from reader
    except csv.Error as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"body: line {reader.line_num}: {exc}") from exc


def _errors_of(row: int, exc: ValidationError) -> list[RowError]:
    out = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        field = loc[0] if loc else "row"
        if len(loc) > 1:
            message = f"{'.'.join(loc[1:])}: {message}"
        out.append(RowError(row=row, field=field, message=message))
    return out


def _detail_error(row: int, detail: object) -> RowError:
    """A store refusal ("teams: no team named 'x'") as the field it names and the rest."""
    text = str(detail)
    found = re.fullmatch(r"([a-z_]+)[^\s:]*: (.*)", text, re.DOTALL)
    if found is None:
        return RowError(row=row, field="row", message=text)
    return RowError(row=row, field=found[1], message=found[2])


def _user_fields(row: int, cells: dict[str, str]) -> tuple[dict[str, Any], list[RowError]]:
    """The user record a row describes; what cannot be read as such, as errors."""
    errors: list[RowError] = []
    data: dict[str, Any] = {"username": cells.get("username", "").strip()}
    for name in ("display_name", "extension", "language", "password", "caller_id"):
        value = cells.get(name, "").strip()
        if value:
            data[name] = value
    for name in ("roles", "teams"):
        value = cells.get(name, "").strip()
        if value:
            data[name] = [part for part in LIST_SEPARATORS.split(value) if part]
    skills: dict[str, int] = {}
    for part in LIST_SEPARATORS.split(cells.get("skills", "").strip()):
        if not part:
            continue
        skill, _, level = part.replace("=", ":").partition(":")
        try:
            skills[skill] = int(level) if level else 50
        except ValueError:
            errors.append(RowError(row=row, field="skills",
                                   message=f"{part!r}: write a skill as name:level, the level "
                                           "a whole number from 0 to 100"))
    if skills:
        data["skills"] = skills
    active = cells.get("active", "").strip().casefold()
    if active:
        if active not in ("yes", "no", "true", "false", "1", "0"):
            errors.append(RowError(row=row, field="active",
                                   message=f"{active!r}: write yes or no"))
        data["active"] = active in ("yes", "true", "1")
    return data, errors


@router.post("/api/users/import", response_model=UserImportOut, tags=["users"],
             summary="Import users from CSV (created or updated row by row; bad rows reported)",
             responses=TOO_LARGE,
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {
                 "type": "string"}}}, "required": True}})
async def import_users(request: Request, ctx: Ctx, principal: Admin) -> UserImportOut:
    """Columns (header row, any order): ``username`` (required), ``display_name``, ``roles``,
    ``teams``, ``skills`` (``sales:80 english:50``), ``extension``, ``language``,
    ``password``, ``active`` (yes/no), ``caller_id``; lists are separated by spaces or
    semicolons. A row naming an existing user replaces that user's record (a password left
    empty keeps theirs)."""
    reader = _reader(await _csv_text(request))
    rows = _rows(reader)
    header = [cell.strip().casefold() for cell in next(rows, [])]
    if "username" not in header:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "header: the first line must name the columns, username among "
                            f"them (known: {', '.join(USER_COLUMNS)})")
    unknown = [name for name in header if name not in USER_COLUMNS]
    if unknown:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"header: unknown column {unknown[0]!r} (known: "
                            f"{', '.join(USER_COLUMNS)})")
    out = UserImportOut(created=[], updated=[], errors=[])
    seen: dict[str, int] = {}
    for index, cells in enumerate(rows):
        row = reader.line_num
        if index >= MAX_ROWS:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                f"body: more than {MAX_ROWS} rows; split the file")
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            out.errors.append(RowError(row=row, field="row", message=(
                f"{len(cells)} cells but the header names {len(header)} columns")))
            continue
        data, errors = _user_fields(row, dict(zip(header, cells, strict=False)))
        if data["username"] in seen:
            errors.append(RowError(row=row, field="username", message=(
                f"{data['username']!r} is on line {seen[data['username']]} already")))
        if errors:
            out.errors.extend(errors)
            continue
        try:
            spec = UserSpec.model_validate(data)
        except ValidationError as exc:
            out.errors.extend(_errors_of(row, exc))
            continue
        seen[spec.username] = row
        exists = await ctx.store.config.get("users", spec.username) is not None
        try:
            await save_record(ctx, principal, "users", spec, "update" if exists else "create")
        except HTTPException as exc:
            out.errors.append(_detail_error(row, exc.detail))
            continue
        (out.updated if exists else out.created).append(spec.username)
    return out


@router.post("/api/number_lists/{name}/import", response_model=NumberImportOut,
             tags=["number_lists"],
             summary="Add numbers to a number list from CSV (bad rows reported)",
             responses=TOO_LARGE,
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {
                 "type": "string"}}}, "required": True}})
async def import_numbers(name: str, request: Request, ctx: Ctx,
                         principal: Admin) -> NumberImportOut:
    """One number per row in the first column (a header ``number`` is skipped, other columns
    are ignored); spaces, dashes, dots and brackets in a number are dropped."""
    found = await ctx.store.config.get("number_lists", name)
    if not isinstance(found, NumberListSpec):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no number list named {name!r}")
    reader = _reader(await _csv_text(request))
    errors: list[RowError] = []
    numbers = set(found.numbers)
    added: set[str] = set()
    already = 0
    for index, cells in enumerate(_rows(reader)):
        row = reader.line_num
        if index >= MAX_ROWS:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                f"body: more than {MAX_ROWS} rows; split the file")
        first = cells[0].strip() if cells else ""
        if not first or (index == 0 and first.casefold() == "number"):
            continue
        number = NUMBER_PUNCTUATION.sub("", first)
        try:
            NumberListSpec(name=found.name, numbers=[number])
        except ValidationError:
            errors.append(RowError(row=row, field="number", message=(
                f"{first!r} is not a phone number: digits, * and #, with an optional "
                "leading +")))
            continue
        if number in numbers or number in added:
            already += 1
        else:
            added.add(number)
    if added:
        spec = found.model_copy(update={"numbers": sorted(numbers | added)})
        await save_record(ctx, principal, "number_lists", NumberListSpec.model_validate(
            spec.model_dump()), "update")
    return NumberImportOut(added=len(added), already=already,
                           numbers=len(numbers | added), errors=errors)
