"""The named KPI definitions: a table of worked cases per definition, and properties (bounds,
orderings between definitions) over any consistent counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley import kpi
from parley.kpi import AbandonRate, KpiError, OutboundAbandonRate, QueueCounts, ServiceLevel

# 100 offered: 70 answered (56 within T), 20 abandoned (8 within T, 5 of them short),
# 10 still waiting or overflowed.
DAY = QueueCounts(offered=100, answered=70, abandoned=20, answered_within=56,
                  abandoned_within=8, short_abandons=5)
EMPTY = QueueCounts()
NO_ABANDONS = QueueCounts(offered=10, answered=10, answered_within=9)


@pytest.mark.parametrize(("counts", "definition", "expected"), [
    (DAY, ServiceLevel.OFFERED, 56 / 100),
    (DAY, ServiceLevel.ANSWERED, 56 / 70),
    (DAY, ServiceLevel.OFFERED_LESS_SHORT_ABANDONS, 56 / 95),
    (DAY, ServiceLevel.ABANDONS_WITHIN_T_MET, (56 + 8) / 90),
    (DAY, ServiceLevel.ABANDONS_WITHIN_T_EXCLUDED, 56 / 82),
    (NO_ABANDONS, ServiceLevel.OFFERED, 0.9),
    (NO_ABANDONS, ServiceLevel.ANSWERED, 0.9),
    (NO_ABANDONS, ServiceLevel.OFFERED_LESS_SHORT_ABANDONS, 0.9),
    (NO_ABANDONS, ServiceLevel.ABANDONS_WITHIN_T_MET, 0.9),
    (NO_ABANDONS, ServiceLevel.ABANDONS_WITHIN_T_EXCLUDED, 0.9),
    # Only quick abandons: failed over offered, ignored or met by the others.
    (QueueCounts(4, 0, 4, 0, 4, 4), ServiceLevel.OFFERED, 0.0),
    (QueueCounts(4, 0, 4, 0, 4, 4), ServiceLevel.ANSWERED, 1.0),
    (QueueCounts(4, 0, 4, 0, 4, 4), ServiceLevel.OFFERED_LESS_SHORT_ABANDONS, 1.0),
    (QueueCounts(4, 0, 4, 0, 4, 4), ServiceLevel.ABANDONS_WITHIN_T_MET, 1.0),
    (QueueCounts(4, 0, 4, 0, 4, 4), ServiceLevel.ABANDONS_WITHIN_T_EXCLUDED, 1.0),
    *[(EMPTY, definition, 1.0) for definition in ServiceLevel],
])
def test_service_level_table(counts: QueueCounts, definition: ServiceLevel,
                             expected: float) -> None:
    assert kpi.service_level(counts, definition) == pytest.approx(expected)


@pytest.mark.parametrize(("counts", "definition", "expected"), [
    (DAY, AbandonRate.OFFERED, 20 / 100),
    (DAY, AbandonRate.FINISHED, 20 / 90),
    (DAY, AbandonRate.OFFERED_LESS_SHORT_ABANDONS, 15 / 95),
    (DAY, AbandonRate.FINISHED_LESS_SHORT_ABANDONS, 15 / 85),
    (NO_ABANDONS, AbandonRate.OFFERED, 0.0),
    (NO_ABANDONS, AbandonRate.FINISHED, 0.0),
    # Every abandon short: none left once they are excluded.
    (QueueCounts(4, 0, 4, 0, 4, 4), AbandonRate.OFFERED, 1.0),
    (QueueCounts(4, 0, 4, 0, 4, 4), AbandonRate.FINISHED, 1.0),
    (QueueCounts(4, 0, 4, 0, 4, 4), AbandonRate.OFFERED_LESS_SHORT_ABANDONS, 0.0),
    (QueueCounts(4, 0, 4, 0, 4, 4), AbandonRate.FINISHED_LESS_SHORT_ABANDONS, 0.0),
    *[(EMPTY, definition, 0.0) for definition in AbandonRate],
])
def test_abandon_rate_table(counts: QueueCounts, definition: AbandonRate,
                            expected: float) -> None:
    assert kpi.abandon_rate(counts, definition) == pytest.approx(expected)


@pytest.mark.parametrize(("definition", "expected"), [
    (OutboundAbandonRate.LIVE_ANSWERS, 3 / 100),
    (OutboundAbandonRate.ALL_ANSWERS, 3 / 150),
    (OutboundAbandonRate.DIALS, 3 / 400),
])
def test_outbound_abandon_rate_table(definition: OutboundAbandonRate, expected: float) -> None:
    rate = kpi.outbound_abandon_rate(definition, abandoned=3, dials=400, live_answers=100,
                                     machines=50)
    assert rate == pytest.approx(expected)
    assert kpi.outbound_abandon_rate(definition, abandoned=0) == 0.0


@pytest.mark.parametrize(("call", "expected"), [
    (lambda: kpi.average_speed_of_answer(90.0, 3), 30.0),
    (lambda: kpi.average_speed_of_answer(0.0, 0), 0.0),
    (lambda: kpi.handle_time(120.0, 30.0, 15.0), 165.0),
    (lambda: kpi.handle_time(120.0), 120.0),
    (lambda: kpi.average_handle_time(kpi.handle_time(100, 20, 10)
                                     + kpi.handle_time(200, 0, 30), 2), 180.0),
    (lambda: kpi.average_handle_time(0.0, 0), 0.0),
    (lambda: kpi.occupancy(45.0, 15.0), 0.75),
    (lambda: kpi.occupancy(0.0, 0.0), 0.0),
    (lambda: kpi.utilisation(45.0, 90.0), 0.5),
    (lambda: kpi.utilisation(0.0, 0.0), 0.0),
])
def test_time_figures_table(call: Callable[[], float], expected: float) -> None:
    assert call() == pytest.approx(expected)


@pytest.mark.parametrize(("make", "names"), [
    (lambda: QueueCounts(answered=-1), "answered"),
    (lambda: QueueCounts(offered=5, answered=2, answered_within=3), "answered_within"),
    (lambda: QueueCounts(offered=5, abandoned=1, abandoned_within=2), "abandoned_within"),
    (lambda: QueueCounts(offered=5, abandoned=1, short_abandons=2), "short_abandons"),
    (lambda: kpi.service_level(QueueCounts(offered=1, answered=2), ServiceLevel.OFFERED),
     "offered"),
    (lambda: kpi.abandon_rate(QueueCounts(offered=0, abandoned=1), AbandonRate.OFFERED),
     "offered"),
    (lambda: kpi.occupancy(-1.0, 5.0), "busy_s"),
    (lambda: kpi.utilisation(10.0, 5.0), "logged_in_s"),
    (lambda: kpi.handle_time(10.0, -2.0), "hold_s"),
    (lambda: kpi.outbound_abandon_rate(OutboundAbandonRate.DIALS, abandoned=-1), "abandoned"),
])
def test_impossible_counts_name_the_field(make: Callable[[], object], names: str) -> None:
    with pytest.raises(KpiError, match=names):
        make()


def test_definitions_that_need_no_offered_count_accept_a_partial_one() -> None:
    """The live ACD counts offered at arrival; figures over answered + abandoned never look
    at it, so they work whatever it holds."""
    counts = QueueCounts(offered=0, answered=4, abandoned=1, answered_within=2)
    assert kpi.service_level(counts, ServiceLevel.ANSWERED) == 0.5
    assert kpi.abandon_rate(counts, AbandonRate.FINISHED) == 0.2


@st.composite
def queue_counts(draw: st.DrawFn) -> QueueCounts:
    answered = draw(st.integers(0, 10_000))
    abandoned = draw(st.integers(0, 10_000))
    unfinished = draw(st.integers(0, 1_000))  # still waiting, or overflowed
    answered_within = draw(st.integers(0, answered))
    abandoned_within = draw(st.integers(0, abandoned))
    short = draw(st.integers(0, abandoned_within))  # short threshold under T
    return QueueCounts(answered + abandoned + unfinished, answered, abandoned,
                       answered_within, abandoned_within, short)


@given(queue_counts())
def test_every_definition_is_a_share(counts: QueueCounts) -> None:
    for sl in ServiceLevel:
        assert 0.0 <= kpi.service_level(counts, sl) <= 1.0
    for ab in AbandonRate:
        assert 0.0 <= kpi.abandon_rate(counts, ab) <= 1.0


@given(queue_counts())
def test_definitions_are_ordered(counts: QueueCounts) -> None:
    sl = {d: kpi.service_level(counts, d) for d in ServiceLevel}
    ab = {d: kpi.abandon_rate(counts, d) for d in AbandonRate}
    eps = 1e-12
    # Leaving callers out of the denominator, or counting them as met, can only raise it.
    assert sl[ServiceLevel.OFFERED] <= sl[ServiceLevel.OFFERED_LESS_SHORT_ABANDONS] + eps
    if counts.answered:
        assert sl[ServiceLevel.OFFERED] <= sl[ServiceLevel.ANSWERED] + eps
        assert sl[ServiceLevel.ABANDONS_WITHIN_T_EXCLUDED] <= sl[ServiceLevel.ANSWERED] + eps
    assert (sl[ServiceLevel.ABANDONS_WITHIN_T_EXCLUDED]
            <= sl[ServiceLevel.ABANDONS_WITHIN_T_MET] + eps)
    # Per finished call is never under per offered call; excluding short abandons lowers it.
    assert ab[AbandonRate.OFFERED] <= ab[AbandonRate.FINISHED] + eps
    assert ab[AbandonRate.OFFERED_LESS_SHORT_ABANDONS] <= ab[AbandonRate.OFFERED] + eps
    assert ab[AbandonRate.FINISHED_LESS_SHORT_ABANDONS] <= ab[AbandonRate.FINISHED] + eps
    # Every finished call is answered or abandoned.
    if counts.answered + counts.abandoned:
        finished_sl = counts.answered / (counts.answered + counts.abandoned)
        assert ab[AbandonRate.FINISHED] == pytest.approx(1.0 - finished_sl)


@given(queue_counts())
def test_without_abandons_the_variants_agree(counts: QueueCounts) -> None:
    clean = QueueCounts(counts.answered, counts.answered, 0, counts.answered_within)
    values = {kpi.service_level(clean, d) for d in ServiceLevel}
    assert max(values) - min(values) < 1e-12
    assert all(kpi.abandon_rate(clean, d) == 0.0 for d in AbandonRate)


@given(st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0, 1e6))
def test_occupancy_bounds_utilisation(busy: float, ready: float, not_ready: float) -> None:
    logged_in = busy + ready + not_ready
    occupancy = kpi.occupancy(busy, ready)
    utilisation = kpi.utilisation(busy, logged_in)
    assert 0.0 <= utilisation <= occupancy + 1e-9 <= 1.0 + 1e-9


@given(st.lists(st.tuples(st.floats(0, 3600), st.floats(0, 600), st.floats(0, 600)),
                min_size=1, max_size=50))
def test_aht_lies_between_the_shortest_and_longest_call(
        calls: list[tuple[float, float, float]]) -> None:
    times = [kpi.handle_time(*call) for call in calls]
    aht = kpi.average_handle_time(sum(times), len(times))
    assert min(times) - 1e-6 <= aht <= max(times) + 1e-6


@given(st.sampled_from(OutboundAbandonRate), st.integers(0, 1000), st.integers(0, 1000),
       st.integers(0, 1000))
def test_outbound_denominators_nest(definition: OutboundAbandonRate, live: int, machines: int,
                                    other: int) -> None:
    """Live answers within all answers within dials: the looser the definition, the lower
    the rate for the same abandons."""
    abandoned = min(live, 7)
    dials = live + machines + other
    rates = {d: kpi.outbound_abandon_rate(d, abandoned=abandoned, dials=dials,
                                          live_answers=live, machines=machines)
             for d in OutboundAbandonRate}
    assert 0.0 <= rates[definition] <= 1.0
    assert (rates[OutboundAbandonRate.DIALS] <= rates[OutboundAbandonRate.ALL_ANSWERS]
            <= rates[OutboundAbandonRate.LIVE_ANSWERS])
