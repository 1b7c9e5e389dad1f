"""The hot-standby lease on a real PostgreSQL: two lease keepers of one cluster in one
process, as two nodes would hold it (parley.ha, parley.store.lease).

Short intervals (renew every 0.1 s, lapse after 0.3 s) keep each test under a second or two.
Throughout, a watcher checks every few milliseconds that the two are never serving at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from ipaddress import IPv4Interface

import pytest
import structlog.testing
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parley.bus import LiveBus
from parley.clock import MonotonicClock
from parley.ha import LeaseKeeper, LeaseLost, Role
from parley.net.floating_ip import RTM_NEWADDR, FloatingIp
from parley.store import Fenced, Store, open_store
from parley.store.credentials import Passwords
from parley.store.lease import Fence, LeaseConnection, LeaseView, plain_postgres_url
from parley.store.records import ScriptDraftRecord
from parley.store.specs import WebhookSpec
from parley.testing.postgres import create_database, drop_database
from parley.webhooks import WebhookDispatcher

from ..integration.test_api_webhooks import Receiver

RENEW_S, LAPSE_S = 0.1, 0.3
# for a test whose active node must keep its lease through seconds of other work on a
# loaded machine (CI's two workers): a 0.2 s hiccup of the test's loop is no lapse there
STEADY_RENEW_S, STEADY_LAPSE_S = 0.3, 1.5


@pytest.fixture
def pg_url(postgres_server_url: str, postgres_template: str) -> Iterator[str]:
    """A fresh migrated PostgreSQL database (the lease is PostgreSQL's only)."""
    url, name = create_database(postgres_server_url, postgres_template)
    try:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        drop_database(postgres_server_url, name)


def keeper(url: str, node: str, events: list[object] | None = None,
           address: FloatingIp | None = None, *, renew_s: float = RENEW_S,
           lapse_s: float = LAPSE_S) -> LeaseKeeper:
    return LeaseKeeper(LeaseConnection(url, "site"), Fence(), MonotonicClock(), node=node,
                       renew_interval_s=renew_s, lapse_s=lapse_s,
                       publish=None if events is None else events.append, address=address)


class NotedAddress(FloatingIp):
    """The floating address as the keeper drives it, noting each add and removal in order
    instead of asking the kernel (tests/integration/test_floating_ip.py holds a real one in
    network namespaces)."""

    def __init__(self, node: str, noted: list[tuple[str, str]]) -> None:
        super().__init__(IPv4Interface("192.0.2.10/24"), "eth0")
        self.node, self.noted, self.index = node, noted, 1

    def _request(self, kind: int) -> int:
        self.noted.append((self.node, "add" if kind == RTM_NEWADDR else "remove"))
        return 0

    def announce(self) -> bool:
        return True


@contextlib.asynccontextmanager
async def never_both(*keepers: LeaseKeeper) -> AsyncIterator[list[str]]:
    """Watch that at most one keeper serves at any moment; the list holds violations."""
    violations: list[str] = []

    async def watch() -> None:
        while True:
            serving = [k.node for k in keepers if k.serving]
            if len(serving) > 1:
                violations.append(f"{serving} serving at once")
            holding = [k.node for k in keepers if k.address is not None and k.address.held]
            if len(holding) > 1:
                violations.append(f"{holding} holding the floating address at once")
            await asyncio.sleep(0.002)

    task = asyncio.create_task(watch())
    try:
        yield violations
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not violations, violations


class PausableClock(MonotonicClock):
    """The real clock, whose sleepers do not wake while :meth:`pause` is in force: the
    holder's loop stands still as in a stopped (SIGSTOP) or stalled process, while the
    monotonic time its deadlines are read against goes on."""

    def __init__(self) -> None:
        self._running = asyncio.Event()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        await self._running.wait()


async def store_of(url: str, fence: Fence, *,
                   idle_in_transaction_s: float | None = None) -> Store:
    store = await open_store(url, passwords=Passwords.cheap(), run_migrations=False,
                             idle_in_transaction_s=idle_in_transaction_s)
    store.fence = fence
    store.__post_init__()  # the repositories take the node's fence
    return store


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, LeaseLost):
        await task


async def test_a_node_that_lost_its_lease_sends_no_webhook_and_moves_no_campaign(
        pg_url: str) -> None:
    """A webhook waiting in the outbox is sent once, by the active node: the stale one, whose
    dispatcher still runs, sends nothing; its campaign and wrap-up writes are refused."""
    receiver = Receiver(failures=0)
    receiver.thread.start()
    pausable = PausableClock()
    first, second = (keeper(pg_url, node, renew_s=STEADY_RENEW_S, lapse_s=STEADY_LAPSE_S)
                     for node in ("a", "b"))
    first.clock = pausable
    first_store = await store_of(pg_url, first.fence)
    second_store = await store_of(pg_url, second.fence)
    clock = MonotonicClock()
    try:
        async with never_both(first, second):
            a = asyncio.create_task(first.run())
            await asyncio.wait_for(first.became_active.wait(), 5)
            b = asyncio.create_task(second.run())
            await first_store.config.put("webhooks", WebhookSpec(
                name="crm", url=receiver.url, events=["campaign.attempt"],
                secret="a-long-shared-secret-for-hmac"))
            await first_store.deliveries.enqueue("crm", "ev-1", "campaign.attempt",
                                                 '{"id":"ev-1"}', datetime.now(UTC))
            pausable.pause()  # a stalls past the lapse; b takes over
            await asyncio.wait_for(second.became_active.wait(), 5)

            stale = asyncio.create_task(WebhookDispatcher(first_store, LiveBus(clock),
                                                          clock).run())
            await asyncio.sleep(1.5)  # it finds the delivery at start and polls once more
            await stopped(stale)
            assert receiver.requests == []
            with pytest.raises(Fenced, match="stale"):
                await first_store.campaigns.save_status("spring", "paused", by="boss")
            with pytest.raises(Fenced, match="stale"):
                await first_store.wrapups.save_draft(ScriptDraftRecord(
                    "call-1", {"reason": "billing"}, "", "1001", datetime.now(UTC)))

            active = asyncio.create_task(WebhookDispatcher(second_store, LiveBus(clock),
                                                           clock).run())
            await asyncio.to_thread(receiver.wait_for, 1, 5.0)
            for _ in range(50):  # the answer is noted in the store after it arrives (<= 5 s)
                if not await second_store.deliveries.pending():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)  # time enough for a second sending, which must not come
            await stopped(active)
            assert len(receiver.requests) == 1
            assert await second_store.deliveries.pending() == []
            assert [entry.delivered for entry in await second_store.deliveries.log()] == [True]
            pausable.resume()
            with pytest.raises(LeaseLost):
                await asyncio.wait_for(a, 5)
            await stopped(b)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        await first_store.close()
        await second_store.close()


async def test_one_active_then_the_standby_takes_over_and_the_stale_active_is_refused(
        pg_url: str) -> None:
    events: list[object] = []
    pausable = PausableClock()
    first, second = keeper(pg_url, "a", events), keeper(pg_url, "b")
    first.clock = pausable  # node a's timers stop while it is paused; time goes on
    first_store = await store_of(pg_url, first.fence)
    second_store = await store_of(pg_url, second.fence)
    async with never_both(first, second):
        a = asyncio.create_task(first.run())
        await asyncio.wait_for(first.became_active.wait(), 5)
        b = asyncio.create_task(second.run())
        await asyncio.sleep(LAPSE_S * 2)
        assert first.serving
        assert not second.serving
        status = second.status()
        assert (status.role, status.active_node) == (Role.STANDBY, "a")
        assert "standby" in (second.not_serving_reason() or "")
        first_token = first.token
        assert first_token is not None
        assert first.status().fencing_token == first_token
        now = datetime.now(UTC)
        await first_store.operator_states.record("1001", "ready", now)  # the active writes
        with pytest.raises(Fenced, match="standby"):
            await second_store.operator_states.record("1002", "ready", now)
        with pytest.raises(Fenced, match="standby"):  # nor the phones' registrations
            await second_store.bindings.apply([], [("1002", "sip:1002@192.0.2.7:5060")])

        # a pauses past the lapse (a stopped process: its loop does not run at all);
        # b takes the lease with a higher token
        pausable.pause()
        await asyncio.wait_for(second.became_active.wait(), 5)
        assert second.token is not None
        assert second.token > first_token
        takeover = second.status().last_takeover
        assert takeover is not None
        assert takeover.previous_node == "a"
        assert takeover.duration_s is not None
        assert takeover.duration_s >= LAPSE_S
        assert not first.serving  # its own deadline passed before b could take over
        # a's writes with its stale token are refused by the database; b's go through
        with pytest.raises(Fenced, match="stale"):
            await first_store.operator_states.record("1001", "not_ready", now)
        with pytest.raises(Fenced, match="stale"):
            await first_store.bindings.apply([], [("1001", "sip:1001@192.0.2.7:5060")])
        await second_store.operator_states.record("1002", "ready", now)

        # a resumes: its renewal fails, it stops for good and never serves again
        pausable.resume()
        with pytest.raises(LeaseLost, match=r"could not renew .*; node b is active"):
            await asyncio.wait_for(a, 5)
        assert not first.serving
        assert first.status().role is Role.STANDBY
        assert "node b is active" in (first.not_serving_reason() or "")
        assert second.serving
        await stopped(b)
    history = await second_store.operator_states.history("1001")
    assert [entry.state for entry in history] == ["ready"]  # the refused write left nothing
    await first_store.close()
    await second_store.close()
    roles = [(event.role, event.token) for event in events  # type: ignore[attr-defined]
             ]
    assert roles == [("active", first_token), ("standby", first_token)]


class CuttableProxy:
    """A TCP relay to PostgreSQL that can be cut: after :meth:`cut` it swallows every byte
    both ways and keeps the sockets open, as a lost network does."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.is_cut = False
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await source.read(65536):
                if not self.is_cut:
                    sink.write(data)
                    await sink.drain()

    def cut(self) -> None:
        self.is_cut = True

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.server is not None:
            self.server.close()


async def test_a_node_cut_off_from_the_database_stops_serving_before_the_standby_serves(
        pg_url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(plain_postgres_url(pg_url))
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    via_proxy = pg_url.replace(f":{parts.port}/", f":{port}/", 1)
    noted: list[tuple[str, str]] = []
    cut_off = keeper(via_proxy, "a", address=NotedAddress("a", noted))
    standby = keeper(pg_url, "b", address=NotedAddress("b", noted))
    try:
        async with never_both(cut_off, standby):
            a = asyncio.create_task(cut_off.run())
            await asyncio.wait_for(cut_off.became_active.wait(), 5)
            b = asyncio.create_task(standby.run())
            await asyncio.sleep(LAPSE_S)
            token = cut_off.token
            assert cut_off.serving
            assert token is not None
            proxy.cut()
            # a's renewals hang; it gives up at its own deadline, before b may take over
            with pytest.raises(LeaseLost, match="could not renew"):
                await asyncio.wait_for(a, 5)
            assert not cut_off.serving
            assert not cut_off.status().floating_ip_held
            await asyncio.wait_for(standby.became_active.wait(), 5)
            assert standby.token is not None
            assert standby.token > token
            assert standby.status().floating_ip_held
            await stopped(b)
        # the floating address: a removed it when it stopped serving, before b could take
        # the lease and add it; b's orderly stop removed it again
        assert noted == [("a", "add"), ("a", "remove"), ("b", "add"), ("b", "remove")]
        # an orderly stop lets the lease lapse at once: a new node takes it on its first try
        third = keeper(pg_url, "c")
        c = asyncio.create_task(third.run())
        await asyncio.wait_for(third.became_active.wait(), RENEW_S * 5)
        await stopped(c)
    finally:
        await proxy.close()


async def test_a_stopping_node_removes_the_address_first_and_takes_no_lease(
        pg_url: str) -> None:
    noted: list[tuple[str, str]] = []
    first = keeper(pg_url, "a", address=NotedAddress("a", noted))
    second = keeper(pg_url, "b", address=NotedAddress("b", noted))
    a = asyncio.create_task(first.run())
    await asyncio.wait_for(first.became_active.wait(), 5)
    b = asyncio.create_task(second.run())
    # both begin an orderly stop: the active one removes the address at once and keeps the
    # lease while it ends its calls; the standby will not take the lease any more
    second.stopping()
    first.stopping()
    assert noted == [("a", "add"), ("a", "remove")]
    assert first.serving
    await stopped(a)  # the lease is let go
    await asyncio.sleep(RENEW_S * 3)
    assert not second.serving
    assert second.token is None
    await stopped(b)
    assert noted == [("a", "add"), ("a", "remove")]


async def test_a_write_cut_off_mid_transaction_does_not_keep_the_standby_out(
        pg_url: str) -> None:
    """A node cut off from the network in the middle of a fenced write cannot roll it back,
    and the lease row stays locked by it: the standby could take the lease only once TCP
    gave up, hours later. A hot-standby node's sessions are ended by the server once silent
    in a transaction for the lapse (docs/deployment.md), so the standby takes over."""
    pausable = PausableClock()
    first, second = keeper(pg_url, "a"), keeper(pg_url, "b")
    first.clock = pausable
    first_store = await store_of(pg_url, first.fence, idle_in_transaction_s=LAPSE_S)
    a = asyncio.create_task(first.run())
    await asyncio.wait_for(first.became_active.wait(), 5)
    session = first_store.sessions()
    await session.begin()
    await first.fence.check(await session.connection())  # the lease row, shared
    pausable.pause()  # a stands still, its transaction open: cut off mid-write
    b = asyncio.create_task(second.run())
    try:
        await asyncio.wait_for(second.became_active.wait(), LAPSE_S * 10)
        await asyncio.sleep(LAPSE_S * 2)
        assert second.serving  # its renewals go through too
    finally:
        await stopped(b)
        pausable.resume()
        await stopped(a)
        with contextlib.suppress(Exception):  # the server ended that session
            await session.close()
        await first_store.close()



@contextlib.asynccontextmanager
async def holding(url: str, leases: LeaseConnection, lapse_s: float
                  ) -> AsyncIterator[tuple[LeaseView, Store, AsyncSession]]:
    """Node a takes the lease over ``leases`` for ``lapse_s``; yields what it took, its
    store fenced with that token and a session of that store (all closed afterwards)."""
    view = await leases.acquire("a", lapse_s)
    assert view is not None
    store = await store_of(url, Fence("site", "a", view.token))
    session = store.sessions()
    try:
        yield view, store, session
    finally:
        await session.close()
        await store.close()
        await leases.close()


async def test_the_holders_long_write_does_not_hold_up_its_renewal(pg_url: str) -> None:
    """After a takeover the new node writes a backlog in long transactions (each fenced):
    its renewals must not wait for them, or it loses the lease behind its own writes."""
    leases = LeaseConnection(pg_url, "site")
    async with holding(pg_url, leases, 5.0) as (view, store, session):
        await session.begin()
        await store.fence.check(await session.connection())  # a write in flight
        renewed = await asyncio.wait_for(leases.renew("a", view.token, 5.0), 5)
        assert renewed is not None
        assert renewed.token == view.token


async def test_a_takeover_waits_for_the_old_holders_write_in_flight(pg_url: str) -> None:
    """The lease lapsed while its holder was writing: the standby's acquisition waits for
    that write to commit, so that every write accepted under the old token comes before
    the new one; the old holder's next write is refused."""
    new = LeaseConnection(pg_url, "site")
    async with holding(pg_url, LeaseConnection(pg_url, "site"), 0.2) as (view, store, session):
        assert view.renewed_at is not None
        await session.begin()
        await store.fence.check(await session.connection())
        await session.execute(text("INSERT INTO ha_nodes (cluster, node, seen_at) "
                                   "VALUES ('site', 'written by a', now())"))
        # the standby saw this version stand unrenewed for a lapse, and names it
        taking = asyncio.create_task(new.acquire("b", 5.0, (view.token, view.renewed_at)))
        await asyncio.sleep(0.5)
        assert not taking.done()  # it waits for a's write
        await session.commit()
        taken = await asyncio.wait_for(taking, 5)
        assert taken is not None
        assert (taken.holder, taken.token) == ("b", view.token + 1)
        with pytest.raises(Fenced, match="stale"):
            await store.operator_states.record("1001", "ready", datetime.now(UTC))
        assert "written by a" in [name for name, _ in await new.standbys("b")]
    await new.close()


async def step_the_database_clock(url: str, seconds: float) -> None:
    """The lease row as the database would see it had its clock been stepped by ``seconds``
    (forward: every time written is that much further in the past)."""
    leases = LeaseConnection(url, "site")
    connection = await leases._open()
    try:
        await connection.execute(
            "UPDATE ha_lease SET acquired_at = acquired_at - make_interval(secs => $1), "
            "renewed_at = renewed_at - make_interval(secs => $1), "
            "expires_at = expires_at - make_interval(secs => $1)", seconds)
    finally:
        await leases.close()


async def test_a_clock_stepped_forward_on_the_database_hands_nothing_over(
        pg_url: str) -> None:
    """The database's clock jumps an hour ahead (NTP steps it, a virtual machine resumes)
    while the active node's loop is busy for a moment: the lease is no more lapsed than it
    was, and the standby leaves it to the active node, which renews it and serves on."""
    pausable = PausableClock()
    first = keeper(pg_url, "a", renew_s=STEADY_RENEW_S, lapse_s=STEADY_LAPSE_S)
    second = keeper(pg_url, "b", renew_s=STEADY_RENEW_S, lapse_s=STEADY_LAPSE_S)
    first.clock = pausable
    async with never_both(first, second):
        a = asyncio.create_task(first.run())
        await asyncio.wait_for(first.became_active.wait(), 5)
        b = asyncio.create_task(second.run())
        await asyncio.sleep(STEADY_RENEW_S * 2)
        token = first.token
        pausable.pause()  # no renewal for a moment, well within a's deadline
        await step_the_database_clock(pg_url, 3600)
        await asyncio.sleep(STEADY_RENEW_S * 2)
        pausable.resume()
        await asyncio.sleep(STEADY_LAPSE_S * 2)
        assert not a.done()
        assert first.serving
        assert first.token == token
        assert not second.became_active.is_set()
        assert second.status().active_node == "a"
        await stopped(b)
        await stopped(a)


async def test_a_clock_stepped_back_on_the_database_does_not_keep_the_standby_out(
        pg_url: str) -> None:
    """The database's clock jumps an hour back and the active node then stands still: the
    standby still takes over a lapse after the last renewal it saw, not an hour later."""
    pausable = PausableClock()
    first, second = keeper(pg_url, "a"), keeper(pg_url, "b")
    first.clock = pausable
    async with never_both(first, second):
        a = asyncio.create_task(first.run())
        await asyncio.wait_for(first.became_active.wait(), 5)
        pausable.pause()  # a stands still from here
        await step_the_database_clock(pg_url, -3600)
        b = asyncio.create_task(second.run())
        await asyncio.wait_for(second.became_active.wait(), LAPSE_S * 10)
        assert not first.serving
        await stopped(b)
        pausable.resume()
        with contextlib.suppress(LeaseLost):
            await stopped(a)


async def test_the_active_node_knows_whether_a_standby_is_there(pg_url: str) -> None:
    """A planned switch-over must not leave a site without service: the active node asks
    whether another node checked in as the standby lately."""
    first, second = keeper(pg_url, "a"), keeper(pg_url, "b")
    async with never_both(first, second):
        a = asyncio.create_task(first.run())
        await asyncio.wait_for(first.became_active.wait(), 5)
        assert await first.standby_reason() == \
            "no standby has ever checked in for this cluster"
        b = asyncio.create_task(second.run())
        await asyncio.sleep(RENEW_S * 2)  # it stands by, and checks in each attempt
        assert await first.standby_reason() is None
        await stopped(b)
        await asyncio.sleep(LAPSE_S + 2 * RENEW_S + 0.5)
        reason = await first.standby_reason()
        assert reason is not None
        assert "the last was b; a standby checks in every" in reason, reason
        await stopped(a)


async def test_a_renewal_that_came_close_to_the_deadline_is_logged(pg_url: str) -> None:
    """The active node's loop stalls for most of the time it may serve without a renewal:
    it keeps the lease, and says how close it came (an operator's warning before a node
    stops serving for it). Renewals on time say nothing."""
    pausable = PausableClock()
    holder = LeaseKeeper(LeaseConnection(pg_url, "site"), Fence(), pausable, node="a",
                         renew_interval_s=0.5, lapse_s=2.5)  # it may serve 2 s unrenewed
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(holder.run())
        await asyncio.wait_for(holder.became_active.wait(), 5)
        await asyncio.sleep(1.2)  # two renewals on time
        assert not [entry for entry in logs if entry["event"] == "ha_lease_renewed_late"]
        pausable.pause()
        await asyncio.sleep(1.3)  # with the renewal interval, at most 1.8 s unrenewed
        pausable.resume()
        await asyncio.sleep(0.3)
        assert holder.serving
        late = [entry for entry in logs if entry["event"] == "ha_lease_renewed_late"]
        assert len(late) == 1, late
        assert 0 < late[0]["spare_s"] < 0.75, late  # an on-time renewal leaves 1.5 s
        await stopped(task)
