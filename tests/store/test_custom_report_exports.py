"""Scheduled exports of a custom report on a controllable clock: at the site's local time the
scheduler writes the previous day's XLSX into a real folder and POSTs its CSV, signed, to a
real HTTP receiver on loopback; a receiver that fails is retried later and the failure is
noted on the schedule; a schedule added while the scheduler runs fires without a restart."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from structlog.testing import capture_logs

from parley.clock import VirtualClock
from parley.reports.custom import parse_definition
from parley.reports.exports import ExportScheduler
from parley.reports.schedules import next_run, parse_schedule
from parley.store import Store
from parley.webhooks import verify

from ..web.test_reports_api import seed_calls

ZONE = "Europe/Moscow"


@dataclass
class Receiver:
    """A real HTTP server on loopback that answers the statuses queued, then 200."""

    url: str
    statuses: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("", [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((dict(self.headers.items()), body))
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/exports"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def _until(check: Callable[[], bool], clock: VirtualClock, step_s: float) -> None:
    """Move the clock on by ``step_s`` until ``check()`` holds (real time for the I/O)."""
    for _ in range(200):
        if check():
            return
        clock.advance(step_s)
        await asyncio.sleep(0.05)
    raise AssertionError("the scheduler did not deliver")


async def test_scheduled_exports_reach_a_folder_and_a_webhook(
        store: Store, clock: VirtualClock, tmp_path: Path, receiver: Receiver) -> None:
    await store.config.put_site((await store.config.site()).model_copy(update={"time_zone": ZONE}))
    # four calls on Tuesday 6 January 2026 from 09:00 Moscow time
    await seed_calls(store, datetime(2026, 1, 6, 6, 0, tzinfo=UTC))
    clock.advance((datetime(2026, 1, 6, 12, 0, tzinfo=UTC) - clock.utcnow()).total_seconds())
    definition = parse_definition({"name": "Support daily", "group_by": ["queue"],
                                   "measures": ["offered", "answered", "abandoned",
                                                "service_level"]})
    report = await store.custom_reports.create("boss", definition.to_json(), clock.utcnow())
    folder = tmp_path / "exports"
    folder.mkdir()
    zone = ZoneInfo(ZONE)
    to_folder = parse_schedule({"every": "daily", "at": "06:00", "format": "xlsx",
                                "to": "folder", "folder": str(folder)})
    to_webhook = parse_schedule({"every": "daily", "at": "06:00", "format": "csv",
                                 "to": "webhook", "url": receiver.url, "secret": "s3cret"})
    for spec in (to_folder, to_webhook):
        await store.custom_reports.add_schedule(report.id, spec.to_json(),
                                                next_run(spec, clock.utcnow(), zone))
    receiver.statuses = [500]  # the webhook's first delivery fails
    scheduler = ExportScheduler(store, clock, base_delay_s=60.0)
    assert await scheduler.run_due() == 0  # 15:00 in Moscow: nothing due before tomorrow

    clock.advance(15 * 3600 + 1)  # Wednesday 06:00:01 in Moscow
    with capture_logs() as logs:
        assert await scheduler.run_due() == 1
    assert [(line["event"], line.get("error")) for line in logs
            if line["log_level"] == "warning"] == [
        ("report export failed", f"HTTP 500 from {receiver.url}")]
    written = folder / "Support_daily-2026-01-06.xlsx"
    sheet = load_workbook(written)["Support daily"]
    assert list(sheet.iter_rows(values_only=True)) == [
        ("queue", "offered", "answered", "abandoned", "service_level"),
        ("support", 4, 2, 2, 0.5)]
    schedules = {s.spec["to"]: s for s in await store.custom_reports.schedules(report.id)}
    assert schedules["folder"].last_status == "ok"
    assert schedules["folder"].next_run_at == datetime(2026, 1, 8, 3, 0, tzinfo=UTC)
    failed = schedules["webhook"]
    assert (failed.last_status, failed.failures) == ("retrying", 1)
    assert failed.last_error == f"HTTP 500 from {receiver.url}"
    assert failed.retry_at == clock.utcnow() + timedelta(seconds=60)

    assert await scheduler.run_due() == 0  # the retry waits its delay
    clock.advance(61)
    assert await scheduler.run_due() == 1
    headers, body = receiver.received[-1]
    assert len(receiver.received) == 2
    assert headers["X-Parley-Event"] == "report.export"
    assert 'filename="Support_daily-2026-01-06.csv"' in headers["Content-Disposition"]
    assert verify("s3cret", headers["X-Parley-Timestamp"], body,
                  headers["X-Parley-Signature"], now=clock.utcnow().timestamp())
    assert list(csv.reader(io.StringIO(body.decode()))) == [
        ["queue", "offered", "answered", "abandoned", "service_level"],
        ["support", "4", "2", "2", "0.5"]]
    delivered = {s.spec["to"]: s for s in await store.custom_reports.schedules(report.id)}
    assert (delivered["webhook"].last_status, delivered["webhook"].failures,
            delivered["webhook"].retry_at) == ("ok", 0, None)

    # the scheduler in its loop picks up a schedule added meanwhile
    running = asyncio.create_task(ExportScheduler(store, clock, poll_s=30.0).run())
    try:
        await asyncio.sleep(0.1)
        weekly = parse_schedule({"every": "weekly", "weekday": "monday", "at": "08:00",
                                 "format": "csv", "to": "folder", "folder": str(folder),
                                 "file_name": "week-{from}-{to}.{format}"})
        await store.custom_reports.add_schedule(report.id, weekly.to_json(),
                                                next_run(weekly, clock.utcnow(), zone))
        target = folder / "week-2026-01-05-2026-01-12.csv"  # Monday 12 January, 08:00
        await _until(target.exists, clock, 6 * 3600)
        assert target.read_text().splitlines()[1] == "support,4,2,2,0.5"
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
