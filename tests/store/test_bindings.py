"""The registrar's bindings in the store: a refresh replaces its contact's row, an
un-REGISTER deletes it, lapsed rows are never read back and are purged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from parley.store import Store
from parley.store.bindings import StoredBinding

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def binding(aor: str, port: int, expires_in_s: float, cseq: int = 1) -> StoredBinding:
    contact = f"<sip:{aor}@192.0.2.7:{port}>"
    return StoredBinding(aor, f"sip:{aor}@192.0.2.7:{port}", contact,
                         NOW + timedelta(seconds=expires_in_s), NOW, 1.0, f"reg-{aor}", cseq,
                         "192.0.2.7", port, "UDP")


async def test_refresh_replaces_unregister_deletes_and_lapsed_rows_go(store: Store) -> None:
    await store.bindings.apply([binding("1001", 5060, 60), binding("1002", 5062, 60),
                                binding("1003", 5064, -1)], [])
    assert [b.aor for b in await store.bindings.live(NOW)] == ["1001", "1002"]
    refreshed = binding("1001", 5060, 3600, cseq=2)
    await store.bindings.apply([refreshed], [("1002", "sip:1002@192.0.2.7:5062")])
    assert await store.bindings.live(NOW) == [refreshed]
    # the lapsed 1003 is purged with the next batch once it is past the purge time
    await store.bindings.apply([], [], expired_before=NOW)
    assert await store.bindings.live(NOW - timedelta(hours=1)) == [refreshed]
