"""Quality management: scorecards scored from script answers and call facts, reviews,
calibration and the balanced scorecard (docs/quality.md)."""
