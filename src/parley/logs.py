"""Logging for a running node: structlog lines bound per call, JSON or readable text.

``Settings.log_json`` picks JSON lines (one object per line, for a log shipper) or readable
console lines. Exceptions are written as plain tracebacks: the default rich rendering, with
syntax highlighting and local variables, costs tens of milliseconds per exception on the event
loop that carries every call, which a node under load cannot afford.

A node writes its lines from a thread of their own (:class:`LineWriter`): a reader of its
output that falls behind (journald under pressure, a pipe nobody drains fast enough) must
not hold up the event loop, where one blocked write stops every call's signalling and media
and, on a hot-standby node, the renewal of its lease.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import sys
import threading
import time
from typing import TextIO, cast

import structlog

#: lines a node keeps for a reader that falls behind; beyond that they are dropped, counted
#: and said (a node does not grow without bound, nor stall, for its log)
MAX_WAITING_LINES = 50_000
#: how long the writer thread lets lines gather once woken: one wake-up (and one handing
#: over of the interpreter's lock) per batch, not per line
GATHER_S = 0.02


class LineWriter:
    """A file-like object whose writes never block: a thread writes them to ``target`` in
    order, in batches (woken once per batch, which gathers for ``GATHER_S``). Lines beyond
    ``max_lines`` waiting are dropped; the thread says how many once it catches up."""

    def __init__(self, target: TextIO, *, max_lines: int = MAX_WAITING_LINES) -> None:
        self._target = target
        self._max_lines = max_lines
        self._waiting: collections.deque[str] = collections.deque()
        self._wake = threading.Event()
        self._idle = threading.Event()  # nothing waiting (set and cleared under _lock)
        self._idle.set()
        self._lock = threading.Lock()
        self.dropped = 0
        self._said_dropped = 0
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def write(self, text: str) -> int:
        if len(self._waiting) >= self._max_lines:
            self.dropped += 1
            return len(text)
        with self._lock:
            if self._idle.is_set():
                self._idle.clear()
            self._waiting.append(text)
        if not self._wake.is_set():  # the thread is waiting, or has taken the last batch
            self._wake.set()
        return len(text)

    def flush(self) -> None:
        """Nothing to do here: the thread flushes after each batch (:meth:`drain` waits)."""

    def isatty(self) -> bool:
        return self._target.isatty()

    def drain(self, timeout_s: float = 5.0) -> bool:
        """Wait until every line written so far is out (at most ``timeout_s``)."""
        return self._idle.wait(timeout_s)

    def _run(self) -> None:
        waiting = self._waiting
        while True:
            self._wake.wait()
            time.sleep(GATHER_S)
            self._wake.clear()
            batch: list[str] = []
            while waiting:
                batch.append(waiting.popleft())
                if len(batch) >= 1000 or not waiting:
                    self._out("".join(batch))
                    batch.clear()
            dropped = self.dropped - self._said_dropped
            if dropped:
                self._said_dropped += dropped
                self._out(f"[{dropped} log lines dropped: the node's output was not read "
                          f"fast enough]\n")
            with self._lock:
                if not waiting:
                    self._idle.set()

    def _out(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed output: nothing to say
            self._target.write(text)
            self._target.flush()


_writer: LineWriter | None = None


def say(line: str) -> None:
    """Print ``line`` on the node's output, in order with its log lines."""
    if _writer is None:
        print(line, flush=True)
    else:
        _writer.write(line + "\n")


def drain_logs(timeout_s: float = 5.0) -> None:
    """Wait until the node's log lines are out (before it exits)."""
    if _writer is not None:
        _writer.drain(timeout_s)


_QUOTED = frozenset(" \t=\r\n\"'")
"""Characters for which the console renderer writes a text value as its repr."""
_LEVEL_WIDTH = len("exception")  # the longest level name the console renderer pads to
_EVENT_WIDTH = 30
_SPECIAL = ("stack", "exception", "exc_info", "logger", "logger_name")


class PlainConsoleRenderer:
    """structlog's :class:`~structlog.dev.ConsoleRenderer` without colours, for the lines
    that are only a time, a level, an event and its fields: the same text, a whole log call
    in half the time (``bench/log_lines.py``; every call writes a few such lines, on the
    loop that carries it). Anything else (a
    traceback, a stack, a logger's name) goes to ``fallback``, the renderer it imitates."""

    def __init__(self, fallback: structlog.dev.ConsoleRenderer) -> None:
        self.fallback = fallback

    def __call__(self, logger: object, name: str, event_dict: structlog.typing.EventDict
                 ) -> str:
        if ("timestamp" not in event_dict or "level" not in event_dict
                or "event" not in event_dict
                or any(key in event_dict for key in _SPECIAL)):
            return self.fallback(logger, name, event_dict)
        timestamp = str(event_dict.pop("timestamp"))
        level = f"[{str(event_dict.pop('level')).ljust(_LEVEL_WIDTH)}]"
        event = str(event_dict.pop("event")).ljust(_EVENT_WIDTH)
        parts = [timestamp, level, event] if timestamp else [level, event]
        for key in sorted(event_dict):
            value = event_dict[key]
            if isinstance(value, str):
                text = value if _QUOTED.isdisjoint(value) else repr(value)
            else:
                text = repr(value)
            parts.append(f"{key}={text}")
        return " ".join(parts).rstrip(" ")


def configure_logging(*, json: bool = False, level: int = logging.INFO,
                      background: bool = False) -> None:
    """Configure structlog for this process (the CLI does it once, before building a node);
    ``background``: lines to stdout from a thread of their own (:class:`LineWriter`)."""
    global _writer
    if background and _writer is None:
        _writer = LineWriter(sys.stdout)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor
    if json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        colors = sys.stdout.isatty()
        console = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback)
        renderer = console if colors else PlainConsoleRenderer(console)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(
            cast(TextIO, _writer) if background and _writer is not None else None),
        cache_logger_on_first_use=True,
    )
