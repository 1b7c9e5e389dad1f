"""Logging for a running node: structlog lines bound per call, JSON or readable text.

``Settings.log_json`` picks JSON lines (one object per line, for a log shipper) or readable
console lines. Exceptions are written as plain tracebacks: the default rich rendering, with
syntax highlighting and local variables, costs tens of milliseconds per exception on the event
loop that carries every call, which a node under load cannot afford.
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(*, json: bool = False, level: int = logging.INFO) -> None:
    """Configure structlog for this process (the CLI does it once, before building a node)."""
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
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stdout.isatty(), exception_formatter=structlog.dev.plain_traceback)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )
