"""Wall time of a simulated day: a 1,400-operator center taking about 150,000 calls.

Ten queues, operators skilled for two or three of them (skills-based on two queues), five
overlapping shifts, lognormal handle times averaging 3.5 minutes, 15 s wrap-up, callers with
2 minutes' mean patience, traffic following the staffing. The real ACD routes every call.

Run: .venv/bin/python bench/sim_day.py [--seed S] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from parley.sim.inbound import simulate
from parley.sim.report import format_table
from parley.sim.scenario import scenario_from_mapping

QUEUES = [f"q{i}" for i in range(10)]


SHIFTS = [("night-", 60, "00:00", "07:00"), ("early-", 450, "07:00", "15:00"),
          ("mid-", 450, "09:00", "17:00"), ("late-", 350, "12:00", "20:00"),
          ("evening-", 90, "17:00", "24:00")]
AHT_S = 210.0
WRAP_S = 15.0


def _hours(text: str) -> float:
    hours, minutes = text.split(":")
    return int(hours) + int(minutes) / 60


def day_profile(scale: float, occupancy: float = 0.87) -> list[float]:
    """Calls per hour for each half hour: what the staffed operators can take at the target
    occupancy (a center staffed to its forecast), about 150,000 calls over the day."""
    rates = []
    for i in range(48):
        hour = (i + 0.5) / 2
        staffed = sum(count for _, count, start, end in SHIFTS
                      if _hours(start) <= hour < _hours(end))
        rates.append(round(staffed * scale * occupancy * 3600 / (AHT_S + WRAP_S), 1))
    return rates


def scenario(seed: int, scale: float) -> dict[str, Any]:
    profile = day_profile(scale)
    queues = []
    for i, name in enumerate(QUEUES):
        queue: dict[str, Any] = {"name": name, "skills": {name: 1}, "wrap_up_s": WRAP_S}
        if i < 2:
            queue.update(strategy="skills_based", relax=[[0, 6], [20, 1]])
        queues.append(queue)
    shares = (0.2, 0.15, 0.12, 0.1, 0.1, 0.09, 0.08, 0.06, 0.05, 0.05)
    traffic = [{"queue": name, "calls_per_hour": [round(r * share, 1) for r in profile],
                "handle_time": {"distribution": "lognormal", "mean_s": AHT_S, "sigma": 0.6},
                "patience": {"distribution": "exponential", "mean_s": 120}}
               for name, share in zip(QUEUES, shares, strict=True)]
    agents = []
    for prefix, count, start, end in SHIFTS:
        for g in range(10):  # a home queue (by its share of traffic) plus neighbours
            skills = {QUEUES[g]: 8, QUEUES[(g + 1) % 10]: 5}
            if g % 3 == 0:
                skills[QUEUES[(g + 2) % 10]] = 3
            agents.append({"count": max(1, round(count * scale * shares[g])),
                           "prefix": f"{prefix}{g}-", "skills": skills,
                           "shifts": [[start, end]]})
    return {"name": "a 1,400-operator day", "seed": seed, "interval_minutes": 30, "hours": 24,
            "queues": queues, "traffic": traffic, "agents": agents}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink for a quick look")
    parser.add_argument("--table", action="store_true", help="print the per-interval table")
    args = parser.parse_args()
    plan = scenario_from_mapping(scenario(args.seed, args.scale))
    operators = sum(g.count for g in plan.agents)
    start = time.perf_counter()
    cpu = time.process_time()
    result = simulate(plan)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if args.table:
        print(format_table(result))
    total = result.total
    print(f"simulated day: {operators} operators, {total.offered} calls offered, "
          f"{result.events} events")
    print(f"  SL20 {100 * total.service_level:.1f}%  ASA {total.asa_s:.1f} s  "
          f"abandoned {100 * total.abandon_rate:.1f}%  occupancy {100 * total.occupancy:.1f}%")
    print(f"  wall {wall:.1f} s  cpu {cpu:.1f} s  ({1e6 * cpu / max(1, total.offered):.0f} us "
          f"cpu per call)")


if __name__ == "__main__":
    main()
