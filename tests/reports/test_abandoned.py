"""The abandoned calls and their callbacks report: which later answer reaches a customer
again, and the delay, from rows as the store reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from parley.reports.abandoned import Abandoned, Contact, Request, abandoned_rows, summary

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_first_answer_after_the_abandon_reaches_the_customer_again() -> None:
    calls = [Abandoned("c1", at(0), at(30), "5551", "support", 30.0),
             Abandoned("c2", at(10), at(12), "5552", "sales", 2.0),
             Abandoned("c3", at(20), at(25), "5553", "support", 5.0)]
    contacts = [
        Contact("5551", at(-100), "inbound", "old"),       # before the abandon: not it
        Contact("5551", at(400), "outbound", "o1"),
        Contact("5551", at(130), "callback", "cb1"),       # the first after the end
        Contact("5552", at(72), "inbound", "i2"),
        Contact("9999", at(50), "inbound", "x"),           # someone else
    ]
    rows = abandoned_rows(calls, contacts, [Request("5551", at(31)), Request("5553", at(-5))])
    assert [(r["call"], r["reached"], r["reached_by"], r["reached_call"], r["delay_s"],
             r["callback_requested"]) for r in rows] == [
        ("c1", True, "callback", "cb1", 100.0, True),
        ("c2", True, "inbound", "i2", 60.0, False),
        ("c3", False, None, None, None, False)]
    assert rows[0]["reached_at"] == at(130).isoformat()
    assert summary(rows) == {"abandoned": 3, "reached": 2, "reached_by_callback": 1,
                             "reached_by_inbound": 1, "reached_by_outbound": 0,
                             "callbacks_requested": 1, "mean_delay_s": 80.0}


def test_an_abandoned_call_is_not_reached_by_itself_and_ties_prefer_a_callback() -> None:
    calls = [Abandoned("c1", at(0), at(10), "5551", "support", 10.0)]
    rows = abandoned_rows(calls, [Contact("5551", at(10), "inbound", "c1"),
                                  Contact("5551", at(50), "outbound", "o1"),
                                  Contact("5551", at(50), "callback", "cb1")])
    assert (rows[0]["reached_by"], rows[0]["delay_s"]) == ("callback", 40.0)
    assert summary([])["mean_delay_s"] is None
