"""Prometheus metrics of a node, read from the running services when scraped.

The composition root gives a :class:`MetricsSources` of small read-only callables (calls in
progress from the contact center, channel and SIP counters from telephony, packet counters
from the RTP relay, queue figures and operator states from the ACD, the recorders' backlog,
the event loop's lag); :func:`metrics_registry` puts one :class:`NodeCollector` over them into
a registry of the node's own (no process-global registry), and ``/metrics`` in ``web/`` only
renders that registry. Nothing here holds a service or changes one: a scrape reads figures.
Metric names and labels are listed in docs/deployment.md ("Metrics").
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from parley.center.ports import QueueFigures
from parley.clock import Clock

if TYPE_CHECKING:
    from parley.ha import NodeStatus
    from parley.telephony.trunks import TrunkStatus


@dataclass(frozen=True, slots=True)
class RtpTotals:
    """RTP packets since the node started: received from phones, sent to phones, and lost
    on the way in (sequence numbers never seen)."""

    received: int
    sent: int
    lost: int
    #: bridged directions forwarded now by the kernel or relay workers, not the event loop
    forwarded: int = 0


@dataclass(frozen=True, slots=True)
class SecurityFigures:
    """The SIP doors since start: wrong digest answers counted, requests refused by a ban or
    lock without checking, bans and locks begun, toll-fraud attempts refused, what is in force
    now, and the TCP limits at work."""

    auth_failures: int
    refused: int
    bans: int
    locks: int
    toll_fraud: int
    active_bans: int
    active_locks: int
    tcp_connections: int
    tcp_refused: int
    tcp_closed_idle: int
    tcp_closed_slow: int


@dataclass(frozen=True, slots=True)
class MetricsSources:
    """What the node reports, each a callable read at scrape time (None: not on this node)."""

    calls_in_progress: Callable[[], int] | None = None
    #: call legs created since start (inbound and outbound), for calls per second by rate()
    call_legs: Callable[[], int] | None = None
    channels: Callable[[], int] | None = None
    queues: Callable[[], Iterable[QueueFigures]] | None = None
    #: operators per ACD state ("ready", "on_call", …)
    operator_states: Callable[[], Mapping[str, int]] | None = None
    rtp: Callable[[], RtpTotals] | None = None
    #: SIP responses sent since start, by class ("1xx" … "6xx")
    sip_responses: Callable[[], Mapping[str, int]] | None = None
    #: events waiting for each recorder ("calls", "operator_states") to write them
    records_waiting: Callable[[], Mapping[str, int]] | None = None
    event_loop_lag: Callable[[], float] | None = None
    #: every loop-lag sample since start, by bucket
    event_loop_delay: Callable[[], LagHistogram] | None = None
    security: Callable[[], SecurityFigures] | None = None
    #: the carriers' trunks (parley.telephony.trunks.TrunkStatus)
    trunks: Callable[[], Iterable[TrunkStatus]] | None = None
    #: the node's role in its hot-standby cluster (parley.ha)
    ha: Callable[[], NodeStatus] | None = None


class NodeCollector(Collector):
    """Turns :class:`MetricsSources` into metric families on every scrape."""

    def __init__(self, sources: MetricsSources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        s = self.sources
        if s.calls_in_progress is not None:
            yield _gauge("parley_calls_in_progress", "Calls with a leg up", s.calls_in_progress())
        if s.call_legs is not None:
            yield CounterMetricFamily("parley_call_legs", "Call legs created since start "
                                      "(rate() gives calls per second)", value=s.call_legs())
        if s.channels is not None:
            yield _gauge("parley_channels", "SIP call legs (channels) open", s.channels())
        if s.queues is not None:
            yield from _queue_metrics(list(s.queues()))
        if s.operator_states is not None:
            states = GaugeMetricFamily("parley_operators", "Operators per state",
                                       labels=["state"])
            for state, count in sorted(s.operator_states().items()):
                states.add_metric([state], count)
            yield states
        if s.rtp is not None:
            totals = s.rtp()
            packets = CounterMetricFamily("parley_rtp_packets", "RTP packets since start",
                                          labels=["direction"])
            packets.add_metric(["received"], totals.received)
            packets.add_metric(["sent"], totals.sent)
            yield packets
            yield CounterMetricFamily("parley_rtp_packets_lost", "RTP packets from phones "
                                      "that never arrived (sequence gaps)", value=totals.lost)
            yield _gauge("parley_rtp_directions_forwarded", "Bridged directions forwarded "
                         "by the kernel or relay workers now", totals.forwarded)
        if s.sip_responses is not None:
            responses = CounterMetricFamily("parley_sip_responses", "SIP responses sent, by "
                                            "class (retransmissions included)",
                                            labels=["class"])
            for status_class, count in sorted(s.sip_responses().items()):
                responses.add_metric([status_class], count)
            yield responses
        if s.records_waiting is not None:
            waiting = GaugeMetricFamily("parley_records_waiting", "Events waiting to be "
                                        "written to the store, per recorder",
                                        labels=["recorder"])
            for recorder, count in sorted(s.records_waiting().items()):
                waiting.add_metric([recorder], count)
            yield waiting
        if s.event_loop_lag is not None:
            yield _gauge("parley_event_loop_lag_seconds", "How late the event loop ran a "
                         "timer, over the last sampling interval (worst)", s.event_loop_lag())
        if s.event_loop_delay is not None:
            delay = s.event_loop_delay()
            yield HistogramMetricFamily(
                "parley_event_loop_delay_seconds", "How late the event loop ran a timer, "
                "every sample since start (20 a second)",
                buckets=[*((f"{bound:g}", count) for bound, count in zip(
                    LAG_BUCKETS, delay.at_most, strict=True)), ("+Inf", delay.count)],
                sum_value=delay.total_s)
        if s.security is not None:
            yield from _security_metrics(s.security())
        if s.trunks is not None:
            yield from _trunk_metrics(list(s.trunks()))
        if s.ha is not None:
            yield from _ha_metrics(s.ha())


def _ha_metrics(status: NodeStatus) -> Iterator[Metric]:
    """The node's role and lease (a single node: active, no lease figures)."""
    yield _gauge("parley_ha_active", "1 while this node is active and serving (holds the "
                 "lease), 0 on a standby or a node that lost its lease",
                 1 if status.serving else 0)
    if not status.ha:
        return
    if status.fencing_token is not None:
        yield _gauge("parley_ha_fencing_token", "This node's fencing token while active, "
                     "else the lease's as last seen", status.fencing_token)
    if status.lease_age_s is not None:
        yield _gauge("parley_ha_lease_age_seconds", "Seconds since the lease's holder last "
                     "renewed it", status.lease_age_s)
    yield CounterMetricFamily("parley_ha_takeovers", "Times this node took the lease since "
                              "start", value=status.takeovers)
    if status.floating_ip:
        held = GaugeMetricFamily("parley_ha_floating_ip_held", "1 while this node holds the "
                                 "cluster's floating service address", labels=["address"])
        held.add_metric([status.floating_ip], 1 if status.floating_ip_held else 0)
        yield held
    takeover = status.last_takeover
    if takeover is not None:
        yield _gauge("parley_ha_last_takeover_timestamp_seconds", "When this node last took "
                     "the lease (Unix time)", takeover.at.timestamp())
        if takeover.duration_s is not None:
            yield _gauge("parley_ha_last_takeover_seconds", "How long the cluster was "
                         "without a live lease holder before this node's last takeover",
                         takeover.duration_s)


def _trunk_metrics(trunks: list[TrunkStatus]) -> Iterator[Metric]:
    """Per trunk: its state and why, whether calls may go through it, channels, calls."""
    info = GaugeMetricFamily("parley_trunk_state", "A trunk's state (1 on the series with "
                             "its current state and reason)",
                             labels=["trunk", "kind", "state", "reason"])
    up = GaugeMetricFamily("parley_trunk_up", "Whether calls may go out through the trunk "
                           "now (not down, not refused by its registrar)", labels=["trunk"])
    registered = GaugeMetricFamily("parley_trunk_registered", "Whether a registering "
                                   "trunk's account is registered", labels=["trunk"])
    channels = GaugeMetricFamily("parley_trunk_channels", "Calls in progress through the "
                                 "trunk, both ways", labels=["trunk"])
    limit = GaugeMetricFamily("parley_trunk_max_channels", "The trunk's max_channels",
                              labels=["trunk"])
    rate = GaugeMetricFamily("parley_trunk_calls_per_second", "Outbound calls started "
                             "through the trunk in the last second", labels=["trunk"])
    calls = CounterMetricFamily("parley_trunk_calls", "Outbound call attempts through the "
                                "trunk since start", labels=["trunk"])
    failures = CounterMetricFamily("parley_trunk_failures", "Failures on the trunk since "
                                   "start (calls failed or unanswered, registrations "
                                   "refused, keep-alives unanswered)", labels=["trunk"])
    last = GaugeMetricFamily("parley_trunk_last_failure_timestamp_seconds", "When the "
                             "trunk last failed (Unix time)", labels=["trunk", "failure"])
    for trunk in trunks:
        name = [trunk.name]
        info.add_metric([trunk.name, trunk.kind, trunk.state, trunk.reason], 1)
        up.add_metric(name, 1 if trunk.available else 0)
        if trunk.kind == "register":
            registered.add_metric(name, 1 if trunk.registered else 0)
        channels.add_metric(name, trunk.channels)
        limit.add_metric(name, trunk.max_channels)
        rate.add_metric(name, trunk.calls_per_second)
        calls.add_metric(name, trunk.calls)
        failures.add_metric(name, trunk.failures)
        if trunk.last_failure_at is not None:
            last.add_metric([trunk.name, trunk.last_failure], trunk.last_failure_at.timestamp())
    yield from (info, up, registered, channels, limit, rate, calls, failures, last)


def _security_metrics(figures: SecurityFigures) -> Iterator[Metric]:
    def counter(name: str, documentation: str, value: int) -> Metric:
        return CounterMetricFamily(name, documentation, value=value)

    yield counter("parley_sip_auth_failures", "Wrong SIP digest answers (any user, any "
                  "address)", figures.auth_failures)
    yield counter("parley_sip_auth_refused", "SIP requests refused unchecked by a ban or lock",
                  figures.refused)
    yield counter("parley_sip_bans", "Addresses banned for password guessing since start",
                  figures.bans)
    yield counter("parley_sip_user_locks", "Users locked for password guessing since start",
                  figures.locks)
    yield counter("parley_sip_toll_fraud_refused", "Calls and transfers to outside numbers "
                  "refused to callers who are not users", figures.toll_fraud)
    in_force = GaugeMetricFamily("parley_sip_bans_in_force", "Bans and locks in force now",
                                 labels=["kind"])
    in_force.add_metric(["address"], figures.active_bans)
    in_force.add_metric(["user"], figures.active_locks)
    yield in_force
    yield _gauge("parley_sip_tcp_connections", "Inbound SIP TCP connections open",
                 figures.tcp_connections)
    closed = CounterMetricFamily("parley_sip_tcp_closed", "Inbound SIP TCP connections "
                                 "refused or closed by a limit", labels=["reason"])
    closed.add_metric(["refused"], figures.tcp_refused)
    closed.add_metric(["idle"], figures.tcp_closed_idle)
    closed.add_metric(["slow"], figures.tcp_closed_slow)
    yield closed


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _queue_metrics(figures: list[QueueFigures]) -> Iterator[Metric]:
    def family(name: str, documentation: str, pick: Callable[[QueueFigures], float | None],
                counter: bool = False) -> Metric:
        metric: Metric = (CounterMetricFamily(name, documentation, labels=["queue"]) if counter
                          else GaugeMetricFamily(name, documentation, labels=["queue"]))
        for queue in figures:
            value = pick(queue)
            if value is not None:
                metric.add_metric([queue.queue], value)  # type: ignore[attr-defined]
        return metric

    yield family("parley_queue_waiting", "Calls waiting in the queue", lambda q: q.waiting)
    yield family("parley_queue_longest_wait_seconds", "How long the longest waiting call "
                 "has waited", lambda q: q.longest_wait_s)
    yield family("parley_queue_expected_wait_seconds", "Expected wait of a call arriving now",
                 lambda q: q.expected_wait_s)
    yield family("parley_queue_operators_logged_in", "Operators of the queue logged in",
                 lambda q: q.operators_logged_in)
    yield family("parley_queue_operators_ready", "Operators of the queue ready",
                 lambda q: q.operators_ready)
    yield family("parley_queue_offered", "Calls offered to the queue since start",
                 lambda q: q.offered, counter=True)
    yield family("parley_queue_answered", "Calls of the queue answered since start",
                 lambda q: q.answered, counter=True)
    yield family("parley_queue_abandoned", "Calls of the queue abandoned since start",
                 lambda q: q.abandoned, counter=True)
    yield family("parley_queue_service_level", "Share answered within the queue's target "
                 "(0..1) since start", lambda q: q.service_level)


def metrics_registry(sources: MetricsSources) -> CollectorRegistry:
    """A registry of the node's own holding its collector (never the process-global one)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(NodeCollector(sources))
    return registry


#: Upper bounds (seconds) of the loop-lag histogram's buckets: a few milliseconds is an idle
#: loop's own timer resolution; tens of milliseconds delay SIP timers and RTP ticks.
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

#: A loop lateness (seconds) worth a line in the log: audio stood still, and a cluster's
#: lease renewal waited.
STALL_S = 0.25

log = structlog.get_logger("parley.metrics")


@dataclass(frozen=True, slots=True)
class LagHistogram:
    """Every loop-lag sample since start: how many were at most each bound of
    :data:`LAG_BUCKETS` (cumulative), how many in all, and their sum in seconds."""

    at_most: tuple[int, ...]
    count: int
    total_s: float


class LoopLagSampler:
    """Measures how late the event loop wakes a sleeping task: a loop busy with other work
    (or blocked by a slow call) delays every timer, SIP retransmissions and RTP ticks
    included, and every datagram waiting to be read. :attr:`lag` is the worst lateness over
    the last ``window`` samples (5 s); :meth:`histogram` counts every sample since start, so
    that a percentile over any period is the difference of two scrapes. Twenty wake-ups a
    second cost well under 0.1% of a core. A wake-up later than :data:`STALL_S` is logged
    (``event_loop_stalled``): calls' audio stood still that long, and the active node of a
    cluster stops serving when it cannot renew its lease in time."""

    def __init__(self, clock: Clock, *, interval: float = 0.05, window: int = 100) -> None:
        self.clock = clock
        self.interval = interval
        self.window = window
        self._recent: list[float] = []
        self._counts = [0] * (len(LAG_BUCKETS) + 1)  # the last one: above every bound
        self._total = 0.0

    @property
    def lag(self) -> float:
        return max(self._recent, default=0.0)

    def sample(self, expected: float, woke: float) -> None:
        """Record one wake-up at ``woke`` of a sleep that should have ended at ``expected``."""
        late = max(0.0, woke - expected)
        if late > STALL_S:
            log.warning("event_loop_stalled", late_s=round(late, 3))
        self._recent.append(late)
        del self._recent[:-self.window]
        self._counts[bisect.bisect_left(LAG_BUCKETS, late)] += 1
        self._total += late

    def histogram(self) -> LagHistogram:
        return LagHistogram(tuple(itertools.accumulate(self._counts[:-1])),
                            sum(self._counts), self._total)

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            expected = self.clock.monotonic() + self.interval
            await self.clock.sleep(self.interval)
            self.sample(expected, self.clock.monotonic())
