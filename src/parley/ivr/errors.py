"""The IVR's exception family and the located issues the flow validator reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from parley.errors import ParleyError


class Severity(StrEnum):
    """An error blocks activation; a warning is shown but the flow may go live."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class FlowIssue:
    """One problem in a flow file, located by file, line, node id and field.

    ``code`` is a stable machine-readable kind (``unknown-node``, ``bad-expression``, ...), so
    that tests and the web editor can react to a kind without parsing the message.
    """

    code: str
    message: str
    file: str = ""
    line: int | None = None
    node: str | None = None
    field: str | None = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = ":".join(str(part) for part in (self.file or "<flow>", self.line) if part)
        parts = [f"{where}: {self.severity.value}"]
        if self.node is not None:
            parts.append(f"node {self.node!r}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        return f"{' '.join(parts)}: {self.message} [{self.code}]"


class FlowError(ParleyError):
    """Something is wrong with a flow or its execution; names the node and field concerned."""

    def __init__(self, message: str, *, node: str | None = None, field: str | None = None) -> None:
        where = []
        if node is not None:
            where.append(f"node {node!r}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = f"{' '.join(where)}: " if where else ""
        super().__init__(f"{prefix}{message}")
        self.reason = message
        self.node = node
        self.field = field


class ExpressionError(FlowError):
    """An expression does not parse, or fails while evaluated; ``position`` is 1-based."""

    def __init__(self, message: str, *, position: int | None = None, source: str = "") -> None:
        at = f" at column {position}" if position is not None else ""
        super().__init__(f"{message}{at}" + (f" in {source!r}" if source else ""))
        self.position = position
        self.source = source
        self.detail = message


class FlowValidationError(FlowError):
    """A flow has errors and was not activated; ``issues`` lists all of them, not just one."""

    def __init__(self, flow: str, issues: tuple[FlowIssue, ...]) -> None:
        errors = [issue for issue in issues if issue.severity is Severity.ERROR]
        lines = "\n".join(f"  {issue}" for issue in errors)
        super().__init__(
            f"flow {flow!r} has {len(errors)} error(s) and was not activated:\n{lines}")
        self.flow = flow
        self.issues = issues
