"""The simulator's outputs: a per-interval table, one JSON summary, and a chart (matplotlib)."""

from __future__ import annotations

from pathlib import Path

from parley.sim.inbound import SimResult
from parley.sim.scenario import ScenarioError


def _clock(seconds: float) -> str:
    minutes = round(seconds / 60.0)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_table(result: SimResult) -> str:
    """One row per interval plus a total row: what a workforce planner reads."""
    sl = int(result.scenario.sl_threshold_s)
    header = (f"{'interval':>11} {'offered':>8} {'answered':>8} {'abandon':>8} "
              f"{'overflow':>8} {'SL' + str(sl) + 's':>7} {'ASA s':>7} {'aband%':>7} "
              f"{'occup%':>7}")
    lines = [f"scenario: {result.scenario.name} (seed {result.scenario.seed})", header,
             "-" * len(header)]
    rows = [(f"{_clock(i.start_s)}-{_clock(i.start_s + result.scenario.interval_s)}", i)
            for i in result.intervals]
    rows.append(("total", result.total))
    for label, row in rows:
        if label == "total":
            lines.append("-" * len(header))
        lines.append(
            f"{label:>11} {row.offered:>8} {row.answered:>8} {row.abandoned:>8} "
            f"{row.overflowed:>8} {100 * row.service_level:>6.1f}% {row.asa_s:>7.1f} "
            f"{100 * row.abandon_rate:>6.1f}% {100 * row.occupancy:>6.1f}%")
    return "\n".join(lines)


def draw_chart(result: SimResult, path: Path) -> None:
    """Draw service level, abandon rate, occupancy and ASA per interval into a PNG."""
    try:
        import matplotlib
    except ImportError:
        raise ScenarioError("--chart needs matplotlib: pip install 'parley[charts]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    width = result.scenario.interval_s / 3600.0
    starts = [i.start_s / 3600.0 for i in result.intervals]
    middles = [start + width / 2 for start in starts]
    figure, (rates, waits) = pyplot.subplots(2, 1, figsize=(10, 7), sharex=True)
    sl = int(result.scenario.sl_threshold_s)
    rates.plot(middles, [100 * i.service_level for i in result.intervals], marker="o",
               label=f"service level ({sl} s)")
    rates.plot(middles, [100 * i.abandon_rate for i in result.intervals], marker="o",
               label="abandon rate")
    rates.plot(middles, [100 * i.occupancy for i in result.intervals], marker="o",
               label="occupancy")
    rates.set_ylabel("%")
    rates.set_ylim(0, 105)
    rates.legend(loc="lower left")
    rates.grid(alpha=0.3)
    rates.set_title(f"{result.scenario.name}: per {int(result.scenario.interval_s // 60)} min")
    waits.bar(starts, [i.offered for i in result.intervals],
              width=width * 0.9, align="edge", alpha=0.3,
              label="offered")
    waits.set_ylabel("calls offered")
    asa = waits.twinx()
    asa.plot(middles, [i.asa_s for i in result.intervals], color="tab:red", marker="o",
             label="ASA")
    asa.set_ylabel("ASA (s)")
    waits.set_xlabel("hours from start")
    waits.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
