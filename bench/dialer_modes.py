"""Occupancy, abandon rate and talk minutes per operator-hour for each dialling mode.

Runs the outbound simulator (the real dialer driving the ACD's operator state machine on a
virtual clock) at 20, 100 and 500 operators and contact rates of 10%, 25% and 50%, talk 120 s,
wrap-up 15 s, abandon cap 3%, answering-machine detection 95% accurate.

    .venv/bin/python bench/dialer_modes.py [--hours H] [--hours-500 H] [--seed S]
"""

from __future__ import annotations

import argparse
import time

from parley.dialer.model import DialMode
from parley.sim.outbound import OutboundParams, simulate_outbound

MODES = [DialMode.PREVIEW, DialMode.PROGRESSIVE, DialMode.PREDICTIVE, DialMode.AGENTLESS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0, help="hours for 20 and 100 operators")
    parser.add_argument("--hours-500", type=float, default=1.0, help="hours for 500 operators")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("| Operators | Contact rate | Mode | Occupancy | Abandon rate | Talk min/op-hour "
          "| Dials | Live answers | Run time (s) |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for agents in (20, 100, 500):
        hours = args.hours_500 if agents == 500 else args.hours
        for rate in (0.10, 0.25, 0.50):
            for mode in MODES:
                started = time.perf_counter()
                result = simulate_outbound(OutboundParams(
                    agents=agents, contact_rate=rate, mode=mode, hours=hours, seed=args.seed))
                elapsed = time.perf_counter() - started
                print(f"| {agents} | {rate:.0%} | {mode.value} | {result.occupancy:.1%} "
                      f"| {result.abandon_rate:.2%} | {result.talk_minutes_per_agent_hour:.1f} "
                      f"| {result.calls_dialed} | {result.live_answers} | {elapsed:.1f} |",
                      flush=True)


if __name__ == "__main__":
    main()
