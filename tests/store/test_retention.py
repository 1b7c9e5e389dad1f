"""Recording retention: expired recordings' files are deleted from disk, their records marked
and each deletion audited; a queue's own days win over the site's; files outside the
recordings folder are never touched."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from parley.clock import VirtualClock
from parley.store import Store
from parley.store.records import RecordingRecord
from parley.store.retention import SITE, RetentionRepository, queue_scope, sweep_recordings


async def _call(store: Store, clock: VirtualClock, call_id: str, queue: str | None,
                folder: Path, age_days: int) -> Path:
    """A call in ``queue`` recorded ``age_days`` ago, with its WAV file in ``folder``."""
    started = clock.utcnow() - timedelta(days=age_days)
    await store.interactions.open(call_id, direction="inbound", caller="+15550001",
                                  called="600", started_at=started)
    if queue is not None:
        await store.interactions.queued(call_id, queue, started)
    day = folder / started.strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    path = day / f"rec-{call_id}.wav"
    path.write_bytes(b"RIFF" + bytes(60))
    await store.recordings.add(RecordingRecord(f"rec-{call_id}", call_id, str(path),
                                               "audio/wav", started, 2.0))
    return path


async def test_the_sweep_deletes_expired_files_marks_records_and_audits(
        store: Store, clock: VirtualClock, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    old_plain = await _call(store, clock, "old-plain", None, folder, 40)
    new_plain = await _call(store, clock, "new-plain", "support", folder, 10)
    old_sales = await _call(store, clock, "old-sales", "sales", folder, 40)
    very_old_sales = await _call(store, clock, "very-old-sales", "sales", folder, 400)
    outside = tmp_path / "elsewhere.wav"  # a record pointing outside the folder
    outside.write_bytes(b"RIFF")
    await store.interactions.open("stray", direction="inbound", caller="+1", called="600",
                                  started_at=clock.utcnow() - timedelta(days=90))
    await store.recordings.add(RecordingRecord("rec-stray", "stray", str(outside), "audio/wav",
                                               clock.utcnow() - timedelta(days=90), 1.0))
    gone = await _call(store, clock, "gone", None, folder, 50)
    gone.unlink()  # someone removed it by hand: the record is still marked

    retention = RetentionRepository(store.sessions)
    assert await retention.expired(clock.utcnow()) == []  # no policy: kept for ever
    now = clock.utcnow()
    assert await retention.set(SITE, 30, "admin1", now)
    assert await retention.set(queue_scope("sales"), 365, "admin1", now)
    assert not await retention.set(SITE, 30, "admin1", now)  # unchanged

    result = await sweep_recordings(store, folder, now)

    assert (result.deleted, result.already_gone, result.failed) == (2, 1, 1)
    assert not old_plain.exists()
    assert not very_old_sales.exists()
    assert new_plain.exists()
    assert old_sales.exists()
    assert outside.exists()
    assert not very_old_sales.parent.exists()  # its day folder held nothing else
    deleted = {r.id: r.deleted_at for r in (await store.recordings.list(limit=50)).items}
    assert deleted == {"rec-old-plain": now, "rec-very-old-sales": now, "rec-gone": now,
                       "rec-new-plain": None, "rec-old-sales": None, "rec-stray": None}
    audit = await store.audit.list(action="recording_deleted")
    assert {(e.target, e.actor, e.detail["scope"], e.detail["keep_days"],
             e.detail["file_missing"]) for e in audit.items} == {
        ("rec-old-plain", "retention", "site", 30, False),
        ("rec-very-old-sales", "retention", "queue:sales", 365, False),
        ("rec-gone", "retention", "site", 30, True)}

    # a second sweep finds nothing new; a shorter queue policy then expires old-sales
    assert (await sweep_recordings(store, folder, now)).deleted == 0
    await retention.set(queue_scope("sales"), 20, "admin1", now)
    assert (await sweep_recordings(store, folder, now)).deleted == 1
    assert not old_sales.exists()
    assert new_plain.exists()
    assert await retention.set(queue_scope("sales"), None, "admin1", now)  # back to the site
    assert [p.scope for p in await retention.policies()] == [SITE]
