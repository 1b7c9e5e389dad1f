"""What a log line costs the event loop: microseconds per call of a bound logger's ``info``
with the node's own configuration, for each of its output forms.

Method: ``configure_logging`` as ``parley serve`` calls it (lines to a writer thread), the
writer's target replaced by ``/dev/null`` so that only the loop's share is measured; then
``--lines`` calls of ``log.info("channel_hangup", cause=..., by=...)`` on a logger bound with
a call id and a channel id, as each leg writes when it ends (about four such lines per
inbound call). The figure is CPU time (``time.process_time``) per line, the best of
``--repeat`` rounds, for the console form (readable text, what a node writes when its output
is not a terminal) and the JSON form (``PARLEY_LOG_JSON``).

    .venv/bin/python bench/log_lines.py --lines 20000
"""

from __future__ import annotations

import argparse
import time

import structlog

import parley.logs as logs
from parley.logs import configure_logging


def per_line(json: bool, lines: int, repeat: int) -> float:
    """The best round's CPU microseconds per line."""
    structlog.reset_defaults()
    configure_logging(json=json, background=True)
    writer = logs._writer
    assert writer is not None
    writer._target = open("/dev/null", "w")  # noqa: SIM115 - kept for the run
    log = structlog.get_logger("parley.telephony").bind(
        call_id="2999-7190@127.0.0.1", channel_id="ch-01a2518f-819b-7000-859b-82b5dfa9e35f")
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(lines):
            log.info("channel_hangup", cause="NORMAL_CLEARING", by="remote")
        best = min(best, time.process_time() - start)
        writer.drain()
    return best / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("form     us/line")
    for name, json in (("console", False), ("json", True)):
        print(f"{name:<8} {per_line(json, args.lines, args.repeat):7.2f}")


if __name__ == "__main__":
    main()
