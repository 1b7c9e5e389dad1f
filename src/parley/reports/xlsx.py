"""Reports as XLSX workbooks (openpyxl): the rows on the first sheet, titled with the
report's name, under a header row of figure names (as the API and CSV name them), numbers
stored as numbers (shares as fractions shown as percentages, seconds as seconds shown with
"s"), time groups as dates; a second sheet notes the report, its period, its time zone and
each figure's definition. The same rows as the JSON and the CSV (docs/reports.md)."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from parley.kpi import DEFINITIONS

PERCENT = frozenset({"service_level", "service_level_offered", "abandon_rate", "occupancy",
                     "utilisation", "contact_rate", "outbound_abandon_rate"})
"""Figures that are shares: stored as fractions, shown as percentages."""
PERCENT_FORMAT = "0.0%"
SECONDS_FORMAT = '#,##0.0" s"'
COUNT_FORMAT = "#,##0"
DECIMAL_FORMAT = "#,##0.0###"
DAY_FORMAT = "yyyy-mm-dd"
MINUTE_FORMAT = "yyyy-mm-dd hh:mm"
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")


def is_duration(column: str) -> bool:
    """Seconds: ``talk_s``, ``state_s.ready``, ``not_ready_s_by_reason.lunch``."""
    head = column.split(".")[0]
    return head.endswith("_s") or head.endswith("_s_by_reason")


def sheet_title(name: str) -> str:
    """A worksheet title from a report's name (at most 31 characters, none of []:*?/\\)."""
    return (_BAD_TITLE.sub(" ", name).strip() or "Report")[:31]


def _cell(column: str, value: Any, zone: ZoneInfo) -> tuple[Any, str | None]:
    """A cell's value and number format (an interval's start as local time of ``zone``)."""
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int | float):
        if column in PERCENT:
            return value, PERCENT_FORMAT
        if is_duration(column):
            return value, SECONDS_FORMAT
        return value, COUNT_FORMAT if isinstance(value, int) else DECIMAL_FORMAT
    if column in ("day", "week") and isinstance(value, str):
        try:
            return date.fromisoformat(value), DAY_FORMAT
        except ValueError:
            return value, None
    if column == "interval" and isinstance(value, str):
        try:
            start = datetime.fromisoformat(value)
            if start.tzinfo is not None:
                start = start.astimezone(zone)
            return start.replace(tzinfo=None), MINUTE_FORMAT
        except ValueError:
            return value, None
    return ("" if value is None else str(value)), None


def definition(column: str) -> str:
    return DEFINITIONS.get(column.split(".")[0], "")


def workbook(title: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *,
             since: datetime, until: datetime, time_zone: str,
             notes: Sequence[tuple[str, str]] = ()) -> bytes:
    """The XLSX file of one report: ``rows`` (flat: one value per column) under ``columns``,
    the period [since, until) shown in ``time_zone``, and ``notes`` (label, text) added to
    the notes sheet (a custom report's grouping and filters)."""
    zone = ZoneInfo(time_zone)
    book = Workbook()
    sheet = book.create_sheet(sheet_title(title), 0)
    book.remove(book.worksheets[1])  # the empty default sheet
    sheet.title = sheet_title(title)
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        values = [_cell(column, row.get(column), zone) for column in columns]
        sheet.append([value for value, _format in values])
        for index, (_value, number_format) in enumerate(values, start=1):
            if number_format is not None:
                sheet.cell(row=sheet.max_row, column=index).number_format = number_format
    sheet.freeze_panes = "B2"
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(10, len(column) + 2)
    about = book.create_sheet("Definitions")
    about.append(["Report", title])
    about.append(["From", since.astimezone(zone).replace(tzinfo=None)])
    about.append(["To (excluded)", until.astimezone(zone).replace(tzinfo=None)])
    about.append(["Time zone", time_zone])
    for row_index in (2, 3):
        about.cell(row=row_index, column=2).number_format = MINUTE_FORMAT
    for label, text in notes:
        about.append([label, text])
    about.append([])
    about.append(["Figure", "Definition"])
    for cell in about[about.max_row]:
        cell.font = Font(bold=True)
    for column in columns:
        about.append([column, definition(column)])
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 100
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
