"""``parley`` with tracemalloc: the first SIGUSR1 starts tracing every allocation, and each
SIGUSR1 makes the node write a snapshot to ``$PARLEY_TRACEMALLOC_DIR/snapshot-NNN.bin``
(``bench/memory_soak.py --tracemalloc``). Tracing from the first signal keeps the start-up
(1,100 operators provisioned) at its usual speed; what was allocated before is not traced,
which is fine for finding what grows between two later snapshots. Tracing slows the node
and adds to its memory: for finding what grows, not for measuring how much.

    PARLEY_TRACEMALLOC_DIR=/tmp/snaps python bench/traced_node.py serve --config ...
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

FOLDER = Path(os.environ.get("PARLEY_TRACEMALLOC_DIR", "."))
FRAMES = int(os.environ.get("PARLEY_TRACEMALLOC_FRAMES", "12"))
taken = 0


def dump(_signum: int, _frame: FrameType | None) -> None:
    """Write the next snapshot; the file appears whole (renamed once written)."""
    global taken
    if not tracemalloc.is_tracing():
        tracemalloc.start(FRAMES)
    taken += 1
    number = taken
    partial = FOLDER / f"snapshot-{number:03d}.partial"
    tracemalloc.take_snapshot().dump(str(partial))
    partial.rename(FOLDER / f"snapshot-{number:03d}.bin")


if __name__ == "__main__":
    FOLDER.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGUSR1, dump)
    from parley.cli import main

    sys.argv[0] = "parley"
    main()
