"""Reports: interval aggregates maintained from the call records and the operator state log
as they are written, and the report figures built from them (docs/reports.md).

:mod:`parley.reports.intervals` is pure: what one finished call, one campaign attempt or one
operator state segment adds to each 15-minute interval. The store applies it in the same
transaction as the raw rows (so the aggregates never disagree with them) and again to rebuild
the aggregates from the raw records; the report queries apply it to the raw records at the
edges of a period that does not fall on interval boundaries.
"""
