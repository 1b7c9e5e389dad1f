"""IVR: declarative flows (YAML), their validation, and a sans-IO interpreter per call.

Entry points: :func:`validate_flow` (text -> flow + every issue), :class:`FlowRegistry`
(live versions, number plan, ``start_call``), :class:`FlowRun` (``start(now)``,
``handle(event, now)`` -> commands). Commands and result events are in
:mod:`parley.ivr.commands`; see ``docs/ivr.md`` for the flow reference.
"""

from parley.ivr.environment import (
    HolidayCalendars,
    IvrEnvironment,
    NumberLists,
    QueueFigure,
    QueueSnapshot,
    SiteListsView,
)
from parley.ivr.errors import ExpressionError, FlowError, FlowIssue, FlowValidationError, Severity
from parley.ivr.interpreter import FlowRun
from parley.ivr.model import Flow
from parley.ivr.registry import FlowRegistry, FlowVersion, NumberRoute
from parley.ivr.validator import ValidatedFlow, validate_flow

__all__ = [
    "ExpressionError",
    "Flow",
    "FlowError",
    "FlowIssue",
    "FlowRegistry",
    "FlowRun",
    "FlowValidationError",
    "FlowVersion",
    "HolidayCalendars",
    "IvrEnvironment",
    "NumberLists",
    "NumberRoute",
    "QueueFigure",
    "QueueSnapshot",
    "Severity",
    "SiteListsView",
    "ValidatedFlow",
    "validate_flow",
]
