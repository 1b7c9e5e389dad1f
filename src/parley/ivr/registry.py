"""Which version of each flow is live, and which numbers (DIDs) lead to which flow.

:class:`FlowRegistry` is pure data: the web editor, the provisioning loader and the CLI hand it
validated flows; the inbound shell asks it for the flow of a dialled number and starts a
:class:`~parley.ivr.interpreter.FlowRun`. A flow with errors is refused and the version
already live keeps serving; calls already in a flow keep the version they started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parley.ivr.environment import IvrEnvironment
from parley.ivr.errors import FlowError, FlowIssue, FlowValidationError
from parley.ivr.interpreter import FlowRun
from parley.ivr.model import Flow, Screening
from parley.ivr.validator import ValidatedFlow, validate_flow


@dataclass(frozen=True, slots=True)
class FlowVersion:
    """One activated version of a flow."""

    flow: Flow
    version: int
    activated_at: datetime | None
    warnings: tuple[FlowIssue, ...] = ()


@dataclass(frozen=True, slots=True)
class NumberRoute:
    """A dialled number and its flow; ``screening`` overrides the flow's own, if given."""

    number: str
    flow: str
    screening: Screening | None = None
    language: str | None = None  # the caller's language on this number (None: the flow's)


def normalize_number(number: str) -> str:
    """Numbers compare without spaces, dashes, dots or brackets: "+33 1 23-45" -> "+331 2345"."""
    return "".join(char for char in number if char.isdigit() or char in "+*#")


class FlowRegistry:
    """Active flow versions by name, their history, and the number plan."""

    def __init__(self) -> None:
        self._versions: dict[str, list[FlowVersion]] = {}
        self._numbers: dict[str, NumberRoute] = {}

    # --- flows ----------------------------------------------------------------------------

    def activate(self, candidate: ValidatedFlow, now: datetime | None = None) -> FlowVersion:
        """Make ``candidate`` the live version of its flow.

        Raises :class:`FlowValidationError` (listing every error) when it has errors; the
        version already live, if any, keeps serving untouched.
        """
        flow = candidate.require()
        history = self._versions.setdefault(flow.name, [])
        version = FlowVersion(flow, len(history) + 1, now, candidate.warnings)
        history.append(version)
        return version

    def activate_source(self, text: str, file: str = "", now: datetime | None = None
                        ) -> FlowVersion:
        """Validate YAML text and activate it (see :meth:`activate`)."""
        return self.activate(validate_flow(text, file), now)

    def active(self, name: str) -> Flow | None:
        """The live version of flow ``name`` (usable as the environment's flow resolver)."""
        history = self._versions.get(name)
        return history[-1].flow if history else None

    def active_version(self, name: str) -> FlowVersion | None:
        history = self._versions.get(name)
        return history[-1] if history else None

    def history(self, name: str) -> tuple[FlowVersion, ...]:
        return tuple(self._versions.get(name, ()))

    def rollback(self, name: str) -> FlowVersion:
        """Make the previous version live again (as a new version, so history stays whole)."""
        history = self._versions.get(name, [])
        if len(history) < 2:
            raise FlowError(f"flow {name!r} has no earlier version to go back to")
        previous = history[-2]
        version = FlowVersion(previous.flow, len(history) + 1, previous.activated_at,
                              previous.warnings)
        history.append(version)
        return version

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._versions))

    # --- numbers --------------------------------------------------------------------------

    def bind_number(self, number: str, flow: str, screening: Screening | None = None,
                    language: str | None = None) -> NumberRoute:
        """Route calls to ``number`` into ``flow`` (which may be activated later)."""
        key = normalize_number(number)
        if not key:
            raise FlowError(f"{number!r} is not a phone number")
        route = NumberRoute(key, flow, screening, language)
        self._numbers[key] = route
        return route

    def unbind_number(self, number: str) -> None:
        self._numbers.pop(normalize_number(number), None)

    def route(self, dnis: str) -> NumberRoute | None:
        return self._numbers.get(normalize_number(dnis))

    def flow_for_number(self, dnis: str) -> Flow | None:
        route = self.route(dnis)
        return None if route is None else self.active(route.flow)

    @property
    def numbers(self) -> Mapping[str, NumberRoute]:
        return dict(self._numbers)

    def start_call(self, *, call_id: str, ani: str, dnis: str,
                   variables: Mapping[str, Any] | None = None,
                   env: IvrEnvironment | None = None) -> FlowRun | None:
        """A new run for a call to ``dnis``, or None when no live flow serves that number.

        The environment's flow resolver is this registry, so a transfer to another flow finds
        its live version.
        """
        route = self.route(dnis)
        flow = None if route is None else self.active(route.flow)
        if route is None or flow is None:
            return None
        base = env or IvrEnvironment()
        environment = IvrEnvironment(base.lists, base.queues, base.holidays, self.active)
        return FlowRun(flow, call_id=call_id, ani=ani, dnis=dnis, variables=variables,
                       env=environment, screening=route.screening)


__all__ = ["FlowRegistry", "FlowValidationError", "FlowVersion", "NumberRoute"]
