"""Hot standby: the node's role in its cluster, kept by the lease in PostgreSQL
(docs/deployment.md, "Hot standby"; the SQL is :mod:`parley.store.lease`).

:class:`LeaseKeeper` runs in the node. As the standby it reads the lease a few times a
renew interval (:data:`READS_PER_RENEWAL`) and times each version it sees (the token and
the holder's last renewal) on its own monotonic clock: once one has stood unchanged for
``lapse_s`` the holder has stopped renewing, and the standby takes the lease (no wall clock
decides it: a clock stepped forward on the database's host must not hand the lease over
while its holder serves). Once it holds it the node is active: its fencing token goes into
the store's :class:`~parley.store.lease.Fence` and the node serves. The active node renews
every ``renew_interval_s`` (from when it sent the last renewal). A renewal may take until
the node's deadline; should renewals fail (the database is unreachable, slow, or another
node holds the lease), the node stops serving ``stop_after_s`` (``lapse_s -
renew_interval_s``) after it *sent* its last successful renewal: a standby sees that
renewal only after it was sent and waits a whole lapse from then, so the node has stopped
before any standby could take the lease. :attr:`LeaseKeeper.serving` is
computed from the monotonic clock at each question, so it turns false on time even while a
renewal hangs. Having lost the lease, :meth:`LeaseKeeper.run` raises :class:`LeaseLost`
and the node stops (a service manager starts it again, as the standby); the node that takes
the lease carries its calls on (:mod:`parley.telephony.carry`). A renewal that succeeds with
less than half the time to spare that an on-time one has (``stop_after_s -
renew_interval_s``) is logged (``ha_lease_renewed_late``): the node came close to stopping
(its event loop or the database was that slow).

With a floating address (``ha.floating_ip``, :mod:`parley.net.floating_ip`) the keeper
holds it exactly while the node serves: it is added and announced (gratuitous ARP) right
after the lease is taken, before the node counts as active; and it is removed first, before
anything else, whenever the node stops serving: at its renewal deadline (the loop wakes at
``stop_after_s`` after the last renewal even when renewals fail fast), when it finds its
lease taken, and when it stops (:meth:`LeaseKeeper.stopping`, called by the node at the
first signal). It is removed at start too: a node that starts is the standby, and may hold
it still from before a crash.

Without ``ha`` settings (a single node, SQLite or PostgreSQL) there is no keeper: the node
is active from the start and :func:`single_status` describes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

import structlog

from parley.clock import Clock
from parley.events import NodeRoleChanged
from parley.net.floating_ip import FloatingIp, FloatingIpError
from parley.store.lease import Fence, LeaseConnection, LeaseView

log = structlog.get_logger("parley.ha")


class Role(enum.StrEnum):
    ACTIVE = "active"
    STANDBY = "standby"


#: how long after the lease's lapse (as timed by the standby) it tries to take it
LAPSE_MARGIN_S = 0.02
#: how often a standby reads the lease in a renew interval: it times a lapse from the first
#: read of the holder's last renewal, so it takes over at most this fraction of a renew
#: interval later than the lapse
READS_PER_RENEWAL = 4


class LeaseLost(Exception):
    """The active node lost its lease (it could not renew in time, or another node holds
    it); it has stopped serving and must stop."""


class SwitchOverRefused(Exception):
    """A planned switch-over this node cannot make (not in a cluster, not active...)."""


@dataclass(frozen=True, slots=True)
class Takeover:
    """This node took the lease: when (database time), from whom, and how long the cluster
    had been without a live holder (from the previous holder's last renewal)."""

    at: datetime
    previous_node: str
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What ``/api/health`` and ``/metrics`` say of the node's role."""

    node: str
    role: Role
    serving: bool
    reason: str  # why it does not serve ("" when it does)
    ha: bool = False
    cluster: str = ""
    active_node: str = ""  # who holds the lease now, as last seen ("" : nobody)
    fencing_token: int | None = None  # this node's token while active, else the lease's
    lease_age_s: float | None = None  # since the holder last renewed, as last seen
    lease_checked_s: float | None = None  # how long ago the lease was last read
    last_takeover: Takeover | None = None  # this node's last acquisition
    takeovers: int = 0
    floating_ip: str = ""  # the service address the active node holds ("" : none)
    floating_ip_held: bool = False  # whether this node holds it now


STANDBY_REASON = "this node is the standby of cluster {cluster}; {holder} is active"


def single_status(node: str) -> NodeStatus:
    """A node without ``ha``: always active."""
    return NodeStatus(node=node, role=Role.ACTIVE, serving=True, reason="")


class LeaseKeeper:
    """Keeps this node's hold on the cluster's lease (see the module docstring)."""

    def __init__(self, leases: LeaseConnection, fence: Fence, clock: Clock, *, node: str,
                 renew_interval_s: float, lapse_s: float,
                 publish: Callable[[object], object] | None = None,
                 address: FloatingIp | None = None) -> None:
        if renew_interval_s * 2 > lapse_s:
            raise ValueError("renew_interval_s must be at most half of lapse_s")
        self.leases = leases
        self.fence = fence
        self.clock = clock
        self.node = node
        self.cluster = leases.cluster
        self.renew_interval_s = renew_interval_s
        self.lapse_s = lapse_s
        self.stop_after_s = lapse_s - renew_interval_s
        self.publish = publish
        #: the floating service address, held while the node serves (None: there is none)
        self.address = address
        self._announcing: asyncio.Task[None] | None = None
        self._stopping = False
        self.role = Role.STANDBY
        self.token: int | None = None
        #: set once the node is active (services that only the active node runs wait on it)
        self.became_active = asyncio.Event()
        self.last_takeover: Takeover | None = None
        self.takeovers = 0
        self._serve_until = 0.0  # monotonic: the end of the current hold
        #: monotonic: when the next renewal is sent (a renewal interval after the last one
        #: was sent, not after it was answered: a slow answer does not shorten the next
        #: one's time)
        self._next_renewal = 0.0
        self._seen: LeaseView | None = None
        self._seen_at = 0.0  # monotonic, when _seen was read
        #: the lease's version as last read (token, last renewal), and since when (monotonic,
        #: first read) it has stood unchanged
        self._version: tuple[int, datetime | None] | None = None
        self._version_since = 0.0
        self._next_check_in = 0.0  # monotonic: when the standby checks in next
        self._lost_reason = ""
        fence.cluster, fence.node, fence.token = self.cluster, node, None

    # --- what others ask -------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        """Whether the node may take new work now (it holds the lease, within its
        deadline)."""
        return self.role is Role.ACTIVE and self.clock.monotonic() < self._serve_until

    def not_serving_reason(self) -> str | None:
        """Why the node takes no new work now, or None when it does."""
        if self.serving:
            return None
        if self.role is Role.ACTIVE or self._lost_reason:
            return self._lost_reason or (
                f"this node could not renew its lease of cluster {self.cluster} in time "
                "(database unreachable?): it has stopped serving")
        holder = self._seen.holder if self._seen is not None and self._live(self._seen) \
            else ""
        return STANDBY_REASON.format(cluster=self.cluster,
                                     holder=f"node {holder}" if holder else "no node")

    def status(self) -> NodeStatus:
        seen, now = self._seen, self.clock.monotonic()
        since = now - self._seen_at if seen is not None else None
        age = seen.age_s + (since or 0.0) if seen is not None and seen.age_s is not None \
            else None
        holder = seen.holder if seen is not None and self._live(seen) else ""
        return NodeStatus(
            node=self.node, role=Role.ACTIVE if self.serving else Role.STANDBY,
            serving=self.serving, reason=self.not_serving_reason() or "", ha=True,
            cluster=self.cluster, active_node=holder,
            fencing_token=self.token if self.token is not None
            else (seen.token if seen is not None else None),
            lease_age_s=None if age is None else round(age, 3),
            lease_checked_s=None if since is None else round(since, 3),
            last_takeover=self.last_takeover, takeovers=self.takeovers,
            floating_ip=str(self.address.address) if self.address is not None else "",
            floating_ip_held=self.address is not None and self.address.held)

    # --- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Stand by until the lease is taken, then hold it; :class:`LeaseLost` when it is
        lost. Cancelled while active, it lets the lease lapse at once (an orderly stop).
        The floating address, if any, is never left held when it returns."""
        try:
            while True:
                if self.role is Role.STANDBY:
                    await self._try_acquire()
                    if self.role is Role.STANDBY:
                        await self.clock.sleep(self._until_next_attempt())
                        continue
                # wake for the next renewal, or at the deadline if that comes first (a
                # renewal that failed fast must not let the node serve past it)
                wake = min(self._next_renewal, self._serve_until)
                await self.clock.sleep(max(0.0, wake - self.clock.monotonic()))
                await self._renew()
        except asyncio.CancelledError:
            await self._release()
            raise
        finally:
            self.drop_address()
            await self._stop_announcing()
            if self.address is not None:
                self.address.close()
            self.leases.terminate()

    # --- the floating address ------------------------------------------------------------

    def stopping(self) -> None:
        """The node begins an orderly stop: remove the floating address now, before anything
        else stops, and take no lease from here (a standby that is stopping must not become
        active while it ends)."""
        self._stopping = True
        self.drop_address()

    def holds_address(self) -> bool:
        """Whether this node holds the floating address now."""
        return self.address is not None and self.address.held

    def is_stopping(self) -> bool:
        """Whether the node began an orderly stop (:meth:`stopping`); asked afresh after
        each wait."""
        return self._stopping

    def drop_address(self) -> None:
        """Remove the floating address now if this node holds it (no-op otherwise): the
        first thing done whenever the node stops serving, and at :meth:`stopping`. A
        failure is logged, never raised: the node stops serving either way."""
        address = self.address
        if address is None or not address.held:
            return
        try:
            address.drop()
        except FloatingIpError as exc:
            log.error("ha_floating_ip_not_removed", node=self.node, cluster=self.cluster,
                      error=str(exc))

    def _hold_address(self) -> None:
        """Add and announce the floating address (before the node serves), and repeat the
        announcement a few times in the background."""
        address = self.address
        if address is None:
            return
        address.hold()
        if self._announcing is None or self._announcing.done():
            self._announcing = asyncio.create_task(address.repeat_announcements(self.clock))

    async def _stop_announcing(self) -> None:
        task, self._announcing = self._announcing, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _bounded(self, what: str, limit_s: float,
                       call: Callable[[], Awaitable[object]]) -> object:
        """``call()``'s result within ``limit_s`` seconds; on overrun or a database error the
        connection is dropped and the error is raised."""
        try:
            async with asyncio.timeout(max(0.01, limit_s)):
                return await call()
        except Exception as exc:
            self.leases.terminate()
            log.warning("lease_statement_failed", what=what, node=self.node,
                        cluster=self.cluster, error=repr(exc))
            raise

    async def _try_acquire(self) -> None:
        if self.is_stopping():
            return
        try:  # connected first, so that the hold is timed from the statement alone
            await self._bounded("connect", self.renew_interval_s, self.leases.connect)
        except Exception:  # logged by _bounded; the standby tries again
            return
        sent = self.clock.monotonic()
        try:
            if self._watching():  # held and renewed lately: only read it
                await self._watch()
                return
            lapsed = self._lapsed_version()
            got = await self._bounded("acquire", self.renew_interval_s,
                                      lambda: self.leases.acquire(self.node, self.lapse_s,
                                                                  lapsed))
            if got is None:
                await self._watch()
                return
        except Exception:  # logged by _bounded; the standby tries again
            return
        assert isinstance(got, LeaseView)  # noqa: S101 - acquire returns a view or None
        self._see(got)
        if self.is_stopping():  # the node began to stop while it asked: it will not serve
            await self._give_back(got.token)
            return
        try:
            self._hold_address()
        except FloatingIpError as exc:  # it holds the lease but cannot take the address:
            log.error("ha_floating_ip_not_added", node=self.node, cluster=self.cluster,
                      error=str(exc))  # give the lease back at once and stop
            self.drop_address()
            await self._give_back(got.token)
            raise
        self._become_active(got, sent)

    def _watching(self) -> bool:
        """Whether the lease, as read within the last renew interval, is held and its
        version has not stood a whole lapse: nothing to ask of the database but a read (an
        acquisition would lock the row, and wait for the holder's writes in flight)."""
        seen = self._seen
        return seen is not None and seen.held and self._lapsed_version() is None \
            and self.clock.monotonic() - self._seen_at <= self.renew_interval_s

    async def _watch(self) -> None:
        """Read the lease (its version timed from this read on if it changed), and check in
        as the standby once a renew interval."""
        seen = await self._bounded("read", self.renew_interval_s, self.leases.read)
        if isinstance(seen, LeaseView):
            self._see(seen)
        if self.clock.monotonic() >= self._next_check_in:
            await self._bounded("check in", self.renew_interval_s,
                                lambda: self.leases.check_in(self.node))
            self._next_check_in = self.clock.monotonic() + self.renew_interval_s

    async def standby_reason(self) -> str | None:
        """Why no standby would take this node's calls now: no other node of the cluster
        checked in as the standby within a lapse and two renew intervals (None: one did)."""
        within = self.lapse_s + 2 * self.renew_interval_s
        try:  # not through _bounded: a failure here must not drop the lease's connection
            async with asyncio.timeout(max(1.0, self.lapse_s)):
                seen = await self.leases.standbys(self.node)
        except Exception as exc:
            return f"the standby could not be looked up: {exc!r}"
        if any(age <= within for _node, age in seen):
            return None
        if not seen:
            return "no standby has ever checked in for this cluster"
        node, age = seen[0]
        return (f"no standby has checked in for {age:.0f} s (the last was {node}; a standby "
                f"checks in every {self.renew_interval_s:g} s)")

    async def _give_back(self, token: int) -> None:
        """Let a lease just taken lapse at once (best effort), for the other node."""
        with contextlib.suppress(Exception):
            await self._bounded("release", self.renew_interval_s,
                                lambda: self.leases.release(self.node, token))

    async def _renew(self) -> None:
        assert self.token is not None  # noqa: S101 - only while active
        sent = self.clock.monotonic()
        remaining = self._serve_until - sent
        if remaining <= 0:  # e.g. the process was stopped past its deadline
            await self._lose(f"this node could not renew its lease of cluster {self.cluster} "
                             f"within {self.stop_after_s:g} s")
        try:  # it may take until the deadline: a slow answer is still an answer (on a
            # busy node and database, cutting it short and connecting again costs more)
            renewed = await self._bounded(
                "renew", remaining,
                lambda: self.leases.renew(self.node, self.token or 0, self.lapse_s))
        except Exception:  # logged by _bounded; tried again soon, until the deadline
            if self.clock.monotonic() >= self._serve_until:
                await self._lose(f"this node could not renew its lease of cluster "
                                 f"{self.cluster} within {self.stop_after_s:g} s")
            self._next_renewal = self.clock.monotonic() + self.renew_interval_s / 4
            return
        if renewed is None:
            await self._lose(f"this node lost its lease of cluster {self.cluster} (its "
                             f"fencing token {self.token} is stale)")
        assert isinstance(renewed, LeaseView)  # noqa: S101 - renew returns a view or None
        self._see(renewed)
        now = self.clock.monotonic()
        spare = self._serve_until - now
        if spare < (self.stop_after_s - self.renew_interval_s) / 2:  # half the usual
            log.warning("ha_lease_renewed_late", node=self.node, cluster=self.cluster,
                        spare_s=round(spare, 3), took_s=round(now - sent, 3))
        self._serve_until = max(self._serve_until, sent + self.stop_after_s)
        self._next_renewal = sent + self.renew_interval_s

    def _until_next_attempt(self) -> float:
        """The standby's wait before it looks again: a fraction of a renew interval
        (:data:`READS_PER_RENEWAL`), or less when the version it last read lapses sooner (a
        lapse after it was first read, unless renewed meanwhile): it tries right then."""
        seen, now = self._seen, self.clock.monotonic()
        if seen is None or not seen.held or now - self._seen_at > self.renew_interval_s:
            return self.renew_interval_s  # not read in this attempt (no database?)
        lapses_in = self._version_since + self.lapse_s - now + LAPSE_MARGIN_S
        return max(LAPSE_MARGIN_S, min(self.renew_interval_s / READS_PER_RENEWAL, lapses_in))

    def _see(self, view: LeaseView) -> None:
        now = self.clock.monotonic()
        version = (view.token, view.renewed_at)
        if version != self._version:
            self._version, self._version_since = version, now
        self._seen, self._seen_at = view, now

    def _lapsed_version(self) -> tuple[int, datetime] | None:
        """The version of the lease last read, when it has stood unchanged for a whole lapse
        on this node's clock (its holder stopped renewing: the database grants the lease if
        it is still the row's); None while it may still be renewed."""
        seen = self._seen
        if seen is None or not seen.held or seen.renewed_at is None \
                or self.clock.monotonic() - self._version_since < self.lapse_s:
            return None
        return seen.token, seen.renewed_at

    def _live(self, view: LeaseView) -> bool:
        """Whether ``view``'s holder is still taken to hold the lease: this node's own, or
        another's version that has not stood a whole lapse yet."""
        if not view.held:
            return False
        if view.holder == self.node and self.role is Role.ACTIVE:
            return True
        return self.clock.monotonic() - self._version_since < self.lapse_s

    def _become_active(self, view: LeaseView, sent: float) -> None:
        self.role, self.token = Role.ACTIVE, view.token
        self.fence.token = view.token
        self._serve_until = sent + self.stop_after_s
        self._next_renewal = sent + self.renew_interval_s
        self._lost_reason = ""
        duration = None
        if view.previous_renewed_at is not None and view.acquired_at is not None:
            duration = round((view.acquired_at - view.previous_renewed_at).total_seconds(), 3)
        previous = view.previous_holder or ""
        self.last_takeover = Takeover(at=view.acquired_at or view.now, previous_node=previous,
                                      duration_s=duration)
        self.takeovers += 1
        self.became_active.set()
        log.warning("ha_active", node=self.node, cluster=self.cluster, token=view.token,
                    previous_node=previous or None, takeover_s=duration)
        self._announce(NodeRoleChanged(self.node, self.cluster, str(Role.ACTIVE), view.token,
                                       previous_node=previous, takeover_s=duration))

    async def _lose(self, why: str) -> NoReturn:
        """Stop serving at once, say who holds the lease now (one bounded read), announce
        it and raise :class:`LeaseLost`. The floating address goes first."""
        self.drop_address()
        token = self.token or 0
        self.role, self.token, self.fence.token = Role.STANDBY, None, None
        self._lost_reason = f"{why}: it has stopped serving"
        with contextlib.suppress(Exception):
            seen = await self._bounded("read", self.renew_interval_s, self.leases.read)
            if isinstance(seen, LeaseView):
                self._see(seen)
                holder = seen.holder if self._live(seen) and seen.holder != self.node \
                    else ""
                self._lost_reason = (f"{why}; " + (f"node {holder} is active" if holder
                                                   else "no node is active") +
                                     ": it has stopped serving")
        reason = self._lost_reason
        log.error("ha_lease_lost", node=self.node, cluster=self.cluster, token=token,
                  reason=reason)
        self._announce(NodeRoleChanged(self.node, self.cluster, str(Role.STANDBY), token,
                                       reason=reason))
        raise LeaseLost(reason)

    def _announce(self, event: NodeRoleChanged) -> None:
        if self.publish is not None:
            self.publish(event)

    async def _release(self) -> None:
        """An orderly stop of the active node: remove the floating address (if the node
        has not already), then let the lease lapse now (best effort)."""
        self.drop_address()
        if self.role is not Role.ACTIVE or self.token is None:
            return
        token = self.token
        self.role, self.token, self.fence.token = Role.STANDBY, None, None
        self._lost_reason = "this node is stopping"
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.renew_interval_s):
                await self.leases.release(self.node, token)
                log.info("ha_lease_released", node=self.node, cluster=self.cluster,
                         token=token)

