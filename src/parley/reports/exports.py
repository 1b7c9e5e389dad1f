"""Custom reports' files and scheduled exports: a saved report's rows as CSV or XLSX, and
the node's scheduler that fires each schedule when its time comes (read from the store on
every look, so a new schedule needs no restart), writes the file to a folder or POSTs it to
a webhook (signed like :mod:`parley.webhooks`' deliveries), and on a failure logs it, notes
it on the schedule (the reports page shows it) and retries after a growing delay.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog

from parley.clock import Clock
from parley.reports.custom import CustomDefinition, CustomReportError, parse_definition, run
from parley.reports.schedules import ScheduleSpec, file_name, next_run, parse_schedule, period_of
from parley.reports.xlsx import XLSX_TYPE, workbook
from parley.store import Store
from parley.store.custom_reports import CustomReportRecord, ScheduleRecord
from parley.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

log = structlog.get_logger("parley.reports.exports")

CSV_TYPE = "text/csv; charset=utf-8"
EXPORT_EVENT = "report.export"
"""The ``X-Parley-Event`` of a scheduled export POSTed to a webhook."""


def csv_bytes(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    """Flat rows as CSV (the ready-made reports' CSV dialect: CRLF, figures as the JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(column) is None else row.get(column)
                         for column in columns])
    return buffer.getvalue().encode()


def notes(definition: CustomDefinition) -> list[tuple[str, str]]:
    """What the XLSX notes sheet says of a custom report's definition."""
    found = [("Grouped by", ", ".join(definition.group_by))]
    for name, keys in definition.filters:
        found.append((f"Only {name}", ", ".join(keys)))
    if definition.sort is not None:
        found.append(("Sorted by", definition.sort.by + (
            " (descending)" if definition.sort.descending else "")))
    return found


async def render(store: Store, definition: CustomDefinition, since: datetime, until: datetime,
                 zone: ZoneInfo, kind: str) -> tuple[bytes, list[dict[str, Any]]]:
    """The report's file (``kind``: csv or xlsx) over [since, until), and its rows."""
    rows = await run(definition, store.reports, since, until, zone, store.reports)
    if kind == "csv":
        return csv_bytes(definition.columns, rows), rows
    return workbook(definition.name, definition.columns, rows, since=since, until=until,
                    time_zone=zone.key, notes=notes(definition)), rows


def check_folder(folder: str) -> None:
    """A schedule's folder must exist and be writable by the node."""
    path = Path(folder)
    if not path.is_dir():
        raise CustomReportError("folder", f"{folder} is not a directory on the node")
    if not os.access(path, os.W_OK | os.X_OK):
        raise CustomReportError("folder", f"{folder} is not writable by the node")


def write_file(folder: str, name: str, content: bytes) -> Path:
    """Write ``content`` to ``folder/name`` whole or not at all (a temporary file renamed)."""
    check_folder(folder)
    target = Path(folder) / name
    handle, temporary = tempfile.mkstemp(prefix=".parley-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


class ExportScheduler:
    """Runs the custom reports' schedules that are due, every ``poll_s`` seconds."""

    def __init__(self, store: Store, clock: Clock, *, client: httpx.AsyncClient | None = None,
                 poll_s: float = 30.0, max_attempts: int = 4, base_delay_s: float = 60.0,
                 max_delay_s: float = 3600.0, timeout_s: float = 30.0) -> None:
        self._store = store
        self._clock = clock
        self._client = client
        self.poll_s = poll_s
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.timeout_s = timeout_s

    def delay(self, failures: int) -> float:
        """Seconds before the retry after ``failures`` failed deliveries (1-based)."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (failures - 1)))

    async def run(self) -> None:
        """Fire what is due until cancelled."""
        client = self._client or httpx.AsyncClient(timeout=self.timeout_s)
        try:
            while True:
                try:
                    await self.run_due(client)
                except Exception:  # a store hiccup must not stop the node: next look
                    log.exception("report exports not run")
                await self._clock.sleep(self.poll_s)
        finally:
            if self._client is None:
                await client.aclose()

    async def run_due(self, client: httpx.AsyncClient | None = None) -> int:
        """Fire every schedule due now; returns how many were delivered."""
        now = self._clock.utcnow()
        due = await self._store.custom_reports.due(now)
        if not due:
            return 0
        zone = ZoneInfo((await self._store.config.site()).time_zone)
        delivered = 0
        own = client or self._client or httpx.AsyncClient(timeout=self.timeout_s)
        try:
            for schedule, report in due:
                delivered += await self.fire(own, schedule, report, zone, now)
        finally:
            if own is not client and own is not self._client:
                await own.aclose()
        return delivered

    async def fire(self, client: httpx.AsyncClient, schedule: ScheduleRecord,
                   report: CustomReportRecord, zone: ZoneInfo, now: datetime) -> bool:
        """Export one schedule's period and deliver it; note the outcome on the schedule."""
        try:
            spec = parse_schedule(schedule.spec)
        except CustomReportError as exc:
            await self._store.custom_reports.finish(
                schedule.id, last_status="failed", last_error=str(exc), last_run_at=now,
                next_run_at=now + timedelta(days=1), retry_at=None)
            return False
        since, until = period_of(spec, schedule.next_run_at, zone)
        name = file_name(spec, report.name, since, until, zone)
        try:
            definition = parse_definition(report.definition)
            content, _rows = await render(self._store, definition, since, until, zone,
                                          spec.format)
            where = await self._deliver(client, spec, schedule, name, content)
        except Exception as exc:  # any failure is the delivery's, noted on the schedule
            return await self._failed(schedule, spec, report, zone, now, name, exc)
        log.info("report exported", report=report.name, schedule=schedule.id, to=where,
                 period_from=since.isoformat(), period_to=until.isoformat())
        await self._store.custom_reports.finish(
            schedule.id, next_run_at=next_run(spec, max(now, schedule.next_run_at), zone),
            retry_at=None, failures=0, last_run_at=now, last_status="ok", last_error="",
            last_file=name)
        return True

    async def _failed(self, schedule: ScheduleRecord, spec: ScheduleSpec,
                      report: CustomReportRecord, zone: ZoneInfo, now: datetime, name: str,
                      exc: Exception) -> bool:
        failures = schedule.failures + 1
        error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, DeliveryFailed) \
            else str(exc)
        retrying = failures < self.max_attempts
        log.warning("report export failed", report=report.name, schedule=schedule.id,
                    file=name, error=error, attempt=failures, retrying=retrying)
        if retrying:
            await self._store.custom_reports.finish(
                schedule.id, failures=failures, last_run_at=now, last_status="retrying",
                last_error=error, last_file=name,
                retry_at=now + timedelta(seconds=self.delay(failures)))
        else:
            await self._store.custom_reports.finish(
                schedule.id, failures=0, last_run_at=now, last_status="failed",
                last_error=error, last_file=name, retry_at=None,
                next_run_at=next_run(spec, max(now, schedule.next_run_at), zone))
        return False

    async def _deliver(self, client: httpx.AsyncClient, spec: ScheduleSpec,
                       schedule: ScheduleRecord, name: str, content: bytes) -> str:
        if spec.to == "folder":
            return str(write_file(spec.folder, name, content))
        timestamp = int(self._clock.utcnow().timestamp())
        headers = {"Content-Type": XLSX_TYPE if spec.format == "xlsx" else CSV_TYPE,
                   "Content-Disposition": f'attachment; filename="{name}"',
                   "User-Agent": "Parley-Webhook/1", "X-Parley-Event": EXPORT_EVENT,
                   "X-Parley-Delivery": f"report-{schedule.id}-{schedule.next_run_at:%Y%m%dT%H%M}",
                   TIMESTAMP_HEADER: str(timestamp)}
        if spec.secret:
            headers[SIGNATURE_HEADER] = sign(spec.secret, timestamp, content)
        response = await client.post(spec.url, content=content, headers=headers,
                                     timeout=self.timeout_s)
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"HTTP {response.status_code} from {spec.url}")
        return spec.url


class DeliveryFailed(Exception):
    """A webhook answered other than 2xx."""
