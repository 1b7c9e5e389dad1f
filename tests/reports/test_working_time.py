"""Working time per operator, per location and in all, from the seconds per state and
reason the store sums."""

from __future__ import annotations

from parley.reports.working_time import working_time


def test_operators_are_summed_per_location_and_in_all() -> None:
    seconds = {("ann", "ready", ""): 100.0, ("ann", "on_call", ""): 300.0,
               ("ann", "wrap_up", ""): 50.0, ("ann", "not_ready", "lunch"): 50.0,
               ("bob", "ready", ""): 200.0, ("bob", "on_hold", ""): 100.0,
               ("bob", "not_ready", ""): 20.0, ("cid", "ready", ""): 60.0,
               ("cid", "logged_out", ""): 999.0}
    report = working_time(seconds, {"ann": "remote", "bob": "remote", "cid": None})
    ann = report["rows"][0]
    assert (ann["logged_in_s"], ann["ready_s"], ann["on_calls_s"], ann["wrap_up_s"],
            ann["not_ready_s"], ann["not_ready_s_by_reason"]) == (
        500.0, 100.0, 300.0, 50.0, 50.0, {"lunch": 50.0})
    assert (ann["occupancy"], ann["utilisation"]) == (0.7778, 0.7)  # 350/450, 350/500
    assert [(row["location"], row["operators"], row["logged_in_s"], row["on_calls_s"])
            for row in report["locations"]] == [("-", 1, 60.0, 0.0),
                                                ("remote", 2, 820.0, 400.0)]
    assert report["total"]["not_ready_s_by_reason"] == {"-": 20.0, "lunch": 50.0}
    assert report["total"]["logged_in_s"] == 880.0  # logged-out time is not working time
    only = working_time(seconds, {}, operators={"bob"})
    assert [row["operator"] for row in only["rows"]] == ["bob"]
    assert only["total"]["operators"] == 1
