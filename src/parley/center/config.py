"""The contact center's view of the configuration: ACD queues and operators, the number plan,
flows, number lists and each queue's call-handling policy, read from the store's records.

:func:`load_center_config` reads the store once; :class:`CenterConfig` turns the records into
what the pure cores take (``QueueConfig``, ``Agent``, a ``FlowRegistry``, ``NumberLists``), so
that the shell never hands SQLAlchemy rows to the ACD or the IVR (DESIGN.md §3, "Store").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
import yaml

from parley.acd.agent import Agent
from parley.acd.config import (
    Condition,
    OverflowRule,
    QueueConfig,
    RelaxStep,
    SiteConfig,
    Strategy,
    target_from_text,
)
from parley.acd.lists import NumberLists
from parley.acd.schedule import DAYS, WeeklySchedule
from parley.ivr.errors import FlowValidationError
from parley.ivr.files import shipped_flows
from parley.ivr.registry import FlowRegistry
from parley.ivr.validator import validate_flow
from parley.numbering import LineRight, NumberFormat, Numbering
from parley.routes import CallerIdRule, OutboundRoutes, Rights, Route, TrunkRule

if TYPE_CHECKING:
    from collections.abc import Iterator

    from parley.ivr.validator import ValidatedFlow
    from parley.store import Store
    from parley.store.records import SipCredentials
    from parley.store.specs import (
        FlowSpec,
        NumberListSpec,
        NumberSpec,
        OpeningHours,
        QueueSpec,
        RouteSpec,
        SiteSpec,
        TrunkSpec,
        UserSpec,
    )

log = structlog.get_logger("parley.center")


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """How a queue treats its callers beyond routing (what the ACD core does not decide)."""

    name: str
    recording: str = "none"  # "all", "none" or "on_demand"
    announce_every_s: float = 30.0  # 0: never
    callback_offer_s: float | None = None  # offer a callback when the expected wait is longer
    music: str = "default"
    ring_timeout_s: float = 15.0
    mailbox: str = ""  # voicemail box of the queue (its name by default)
    language: str | None = None  # announcements for callers whose language nothing chose


def _level(value: int) -> int | None:
    """Store levels run 0-100 (0: none); the ACD's run 1-10."""
    if value <= 0:
        return None
    return max(1, min(10, value))


def opening_hours(hours: OpeningHours, site_time_zone: str) -> WeeklySchedule:
    """The ACD's weekly schedule for a queue's hours, in the site's time zone unless the
    hours name their own."""
    data: dict[str, Any] = {day: getattr(hours, day) or [] for day in DAYS}
    data["holidays"] = hours.holidays or []
    data["timezone"] = hours.timezone or site_time_zone
    return WeeklySchedule.from_mapping(data, "hours")


def queue_config(spec: QueueSpec, site_time_zone: str = "UTC",
                 short_abandon_s: float = 5.0) -> QueueConfig:
    """The ACD's settings for a stored queue (opening hours in the site's time zone; the
    site's short-abandon threshold, so live figures count short abandons as reports do)."""
    skills = {name: level for name, raw in spec.required_skills.items()
              if (level := _level(raw)) is not None}
    overflow = tuple(
        OverflowRule(Condition(rule.when), target_from_text(rule.target, "overflow"),
                     float(rule.threshold or 0))
        for rule in spec.overflow)
    relax = tuple(RelaxStep(float(step.after_s), _level(step.min_level) or 1)
                  for step in spec.relax)
    return QueueConfig(
        name=spec.name, strategy=Strategy(spec.strategy), skills=skills,
        members=tuple(spec.members), teams=tuple(spec.teams), priority=spec.priority,
        ring_timeout_s=float(spec.ring_timeout_s),
        wrap_up_s=float(spec.wrap_up_s), max_length=spec.max_length,
        max_wait_s=float(spec.max_wait_s),
        overflow_target=target_from_text(spec.overflow_target, "overflow_target"),
        overflow=overflow, relax=relax,
        hours=None if spec.hours is None else opening_hours(spec.hours, site_time_zone),
        sl_threshold_s=float(spec.service_level_s), short_abandon_s=short_abandon_s)


def site_config(site: SiteSpec | None) -> SiteConfig:
    """The ACD's site settings: the operators' not-ready reasons."""
    if site is None:
        return SiteConfig()
    return SiteConfig(reason_codes=tuple(site.reason_codes))


def queue_policy(spec: QueueSpec) -> QueuePolicy:
    offer = spec.callback_offer_s
    return QueuePolicy(
        name=spec.name, recording=spec.recording,
        announce_every_s=float(spec.announce_every_s),
        callback_offer_s=None if offer is None else float(offer),
        music=spec.music, ring_timeout_s=float(spec.ring_timeout_s), mailbox=spec.name,
        language=spec.language)


def agent_for(spec: UserSpec) -> Agent:
    """The ACD operator for a stored user (the user name is the operator id), a member of
    every one of the user's teams (the first is the main one, which campaigns select on)."""
    skills = {name: level for name, raw in spec.skills.items()
              if (level := _level(raw)) is not None}
    team = spec.teams[0] if spec.teams else ""
    return Agent(spec.username, skills=skills, team=team, teams=frozenset(spec.teams),
                 name=spec.display_name)


VIP_PRIORITY = 10
"""A VIP list's priority boost when the list names none."""


def number_lists(specs: list[NumberListSpec],
                 numbering: Numbering | None = None) -> NumberLists:
    """The ACD's lists: ``block`` lists are the blacklist (rejected), ``vip`` lists raise
    their callers' priority; every list tags its numbers with its name (flows ask
    ``in_list``). Numbers are normalised to E.164 with ``numbering`` (written any way, they
    match callers whose numbers are normalised the same way)."""
    lists = NumberLists()
    for spec in specs:
        for written in spec.numbers:
            number = numbering.normalise(written) if numbering is not None else written
            if spec.kind == "block":
                lists.block(number, "reject")
            elif spec.kind == "vip":
                boost = spec.priority or VIP_PRIORITY
                key = number  # two VIP lists naming one number: the larger boost counts
                lists.add_vip(key, max(boost, lists.match(key).vip_priority))
            lists.tag(spec.name, number)
    return lists


@dataclass
class CenterConfig:
    """One consistent snapshot of what the contact center runs on."""

    site: SiteSpec | None = None
    queues: list[QueueSpec] = field(default_factory=list)
    users: list[UserSpec] = field(default_factory=list)
    devices: list[SipCredentials] = field(default_factory=list)
    numbers: list[NumberSpec] = field(default_factory=list)
    flows: list[FlowSpec] = field(default_factory=list)
    lists: list[NumberListSpec] = field(default_factory=list)
    trunks: list[TrunkSpec] = field(default_factory=list)
    routes: list[RouteSpec] = field(default_factory=list)

    @property
    def ready_on_register(self) -> bool:
        return self.site is not None and self.site.ready_on_register

    def operators(self) -> list[Agent]:
        """Every active user with the agent role."""
        return [agent_for(user) for user in self.users
                if user.active and any(str(role) == "agent" for role in user.roles)]

    @property
    def time_zone(self) -> str:
        return self.site.time_zone if self.site is not None else "UTC"

    def queue_configs(self) -> list[QueueConfig]:
        short = float(self.site.short_abandon_s) if self.site is not None else 5.0
        return [queue_config(spec, self.time_zone, short) for spec in self.queues]

    def site_config(self) -> SiteConfig:
        return site_config(self.site)

    def policies(self) -> dict[str, QueuePolicy]:
        return {spec.name: queue_policy(spec) for spec in self.queues}

    def device_owner(self) -> dict[str, str]:
        """Device (SIP user) name -> the operator it belongs to."""
        return {device.username: device.user for device in self.devices if device.user}

    def static_devices(self) -> list[str]:
        return [device.username for device in self.devices if device.static_contact]

    def registry(self) -> FlowRegistry:
        """Shipped flows, then the store's flows (a stored flow of the same name wins; its
        time checks in the site's time zone unless it names one), and the number plan. A
        stored flow with errors is logged and skipped: the shipped or an earlier version
        keeps serving."""
        registry = FlowRegistry()
        for shipped in shipped_flows():
            registry.activate(shipped)
        for spec, flow, errors in self._stored_flows():
            if flow is not None:
                registry.activate(flow)
            else:
                log.warning("flow_not_activated", flow=spec.name, errors=errors)
        for number in self.numbers:
            registry.bind_number(self.numbering().normalise(number.number), number.flow,
                                 language=number.language)
        return registry

    def flow_errors(self) -> dict[str, str]:
        """The stored live flows that cannot be activated, by name, with their errors (an
        import stores them all the same: ``parley import`` says so)."""
        return {spec.name: errors for spec, flow, errors in self._stored_flows()
                if flow is None}

    def _stored_flows(self) -> Iterator[tuple[FlowSpec, ValidatedFlow | None, str]]:
        """Each stored live flow (not only drafted), validated: the flow or its errors."""
        for spec in self.flows:
            if spec.version == 0:
                continue  # only drafted in the web editor so far: not live
            validated = validate_flow(flow_text(spec, self.time_zone), f"flow {spec.name}")
            try:
                validated.require()
            except FlowValidationError as exc:
                yield spec, None, str(exc)
            else:
                yield spec, validated, ""

    # --- numbers and outside calls ---------------------------------------------------------

    def numbering(self) -> Numbering:
        """The site's numbering (its default region)."""
        return Numbering(self.site.default_region if self.site is not None else None)

    def number_lists(self) -> NumberLists:
        return number_lists(self.lists, self.numbering())

    def outbound_routes(self) -> OutboundRoutes:
        """The routes, in order, over the configured trunks."""
        trunks = {spec.name: TrunkRule(
            spec.name, caller_id=spec.caller_id,
            caller_id_rules=tuple(CallerIdRule(rule.match, rule.replace)
                                  for rule in spec.caller_id_rules),
            number_format=NumberFormat(spec.number_format), strip=spec.strip,
            prepend=spec.prepend) for spec in self.trunks}
        routes = tuple(Route(spec.name, spec.match, tuple(spec.trunks), caller_id=spec.caller_id,
                             caller_id_rules=tuple(CallerIdRule(rule.match, rule.replace)
                                                   for rule in spec.caller_id_rules))
                       for spec in sorted(self.routes, key=lambda r: (r.position or 0, r.name)))
        blocked = tuple(self.site.blocked_destinations) if self.site is not None else ()
        return OutboundRoutes(self.numbering(), routes, trunks, blocked)

    def rights(self) -> Rights:
        """Outside-line rights by role (the site's) and by user (their own)."""
        by_role: dict[str, LineRight] = {}
        if self.site is not None:
            by_role = {str(role): LineRight(right)
                       for role, right in self.site.outside_line.items()}
        else:
            from parley.store.specs import DEFAULT_OUTSIDE_LINE

            by_role = {str(role): right for role, right in DEFAULT_OUTSIDE_LINE.items()}
        by_user = {user.username: LineRight(user.outside_line) for user in self.users
                   if user.outside_line is not None}
        return Rights(by_role, by_user)

    def right_of(self, name: str) -> LineRight:
        """The outside-line right of a user, or of the user a device belongs to (an
        inactive user, or a device of nobody, has none)."""
        owner = self.device_owner().get(name, name)
        rights = self.rights()
        for user in self.users:
            if user.username == owner:
                if not user.active:
                    return LineRight.NONE
                return rights.of(user.username, [str(role) for role in user.roles])
        return LineRight.NONE

    def caller_id_of(self, name: str) -> str | None:
        """The caller ID of a user, or of the user a device belongs to."""
        owner = self.device_owner().get(name, name)
        return next((user.caller_id for user in self.users if user.username == owner), None)

    def queue_caller_id(self, queue: str) -> str | None:
        return next((spec.caller_id for spec in self.queues if spec.name == queue), None)


def flow_text(spec: FlowSpec, time_zone: str) -> str:
    """A stored flow (or a draft) as the YAML the flow loader reads."""
    return yaml.safe_dump(_flow_document(spec, time_zone), sort_keys=False, allow_unicode=True)


def _flow_document(spec: FlowSpec, time_zone: str) -> dict[str, Any]:
    """A stored flow as the flow loader reads it; its time checks are in the site's time zone
    unless it names its own."""
    document = dict(spec.definition)
    document.setdefault("flow", spec.name)
    document.setdefault("timezone", time_zone)
    if spec.description:
        document.setdefault("description", spec.description)
    return document


async def load_center_config(store: Store) -> CenterConfig:
    """Read everything the contact center needs from the store."""
    records = store.config
    return CenterConfig(
        site=await records.site(),
        queues=list(await records.records("queues")),  # type: ignore[arg-type]
        users=list(await records.records("users")),  # type: ignore[arg-type]
        devices=await store.directory.devices(),
        numbers=list(await records.records("numbers")),  # type: ignore[arg-type]
        flows=list(await records.records("flows")),  # type: ignore[arg-type]
        lists=list(await records.records("number_lists")),  # type: ignore[arg-type]
        trunks=list(await records.records("trunks")),  # type: ignore[arg-type]
        routes=list(await records.records("routes")),  # type: ignore[arg-type]
    )
