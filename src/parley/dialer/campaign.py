"""A campaign's settings: mode, operators, caller ID, schedule, priority, blending, pacing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from parley.dialer.contacts import DncList
from parley.dialer.model import AbandonDefinition, DialerError, DialMode, MachinePolicy
from parley.dialer.pacing import US_WINDOW_S
from parley.dialer.policy import pacing_policy
from parley.dialer.strategy import Strategy
from parley.dialer.windows import Calendar, zone


class CampaignStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Schedule:
    """When the campaign may dial, in the site's own time zone (called parties' windows apply
    on top)."""

    calendar: Calendar = field(default_factory=lambda: Calendar.of(["00:00-23:59:59.999999"]))
    time_zone: str = "UTC"


@dataclass(frozen=True)
class CampaignConfig:
    """Everything that defines one campaign (docs/dialer.md, "Campaigns").

    ``agents`` and ``teams`` select the operators; ``priority`` (higher first) decides which
    campaign a shared operator serves; ``blend_queues`` are the inbound queues the campaign's
    operators also serve, first unless ``inbound_first`` is False. With ``inbound_first``
    False, the ACD keeps inbound calls away from an operator for ``outbound_first_s`` after
    each of this campaign's calls, so the campaign can reserve them again first.
    """

    campaign_id: str
    mode: DialMode
    caller_id: str
    default_region: str = "US"
    default_time_zone: str = "UTC"
    agents: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    priority: int = 0
    schedule: Schedule = field(default_factory=Schedule)
    strategy: Strategy = field(default_factory=Strategy)
    dnc: DncList | None = None  # the campaign's own list (a "do not call" disposition adds to it)
    blend_queues: frozenset[str] = frozenset()
    inbound_first: bool = True
    outbound_first_s: float = 15.0  # only with inbound_first False
    ring_timeout_s: float = 25.0
    detect_machine: bool = True
    machine_policy: MachinePolicy = MachinePolicy.DROP  # what a detected machine gets
    abandon_cap: float = 0.03
    abandon_margin: float = 0.2  # pacing aims at cap * (1 - margin)
    abandon_confidence: float = 1.0  # and z standard errors under the cap (small windows)
    abandon_window_s: float = US_WINDOW_S
    abandon_definition: AbandonDefinition = AbandonDefinition.LIVE_ANSWERS
    max_lines: int = 10_000  # trunk capacity for this campaign
    max_dial_ratio: float = 12.0  # calls in flight per staffed operator, a hard ceiling
    initial_contact_rate: float = 0.5  # prior until measured: high, so a start under-dials
    initial_talk_s: float = 120.0
    initial_wrap_s: float = 15.0
    initial_answer_delay_s: float = 12.0
    compliance_message: str = "compliance"
    agentless_message: str = "message"
    agentless_queue: str = ""  # "press 1" goes here
    agentless_press_one: str = "1"
    agentless_machine_delivered: bool = False  # a message left on a machine closes the contact
    preview_timeout_s: float | None = None  # auto-dial a preview after this long

    def __post_init__(self) -> None:
        if not self.campaign_id:
            raise DialerError("campaign: campaign_id must not be empty")
        if not 0.0 < self.abandon_cap < 1.0:
            raise DialerError(f"campaign {self.campaign_id}: abandon_cap must be between 0 "
                              "and 1 (0.03 is 3%)")
        if not 0.0 <= self.abandon_margin < 1.0:
            raise DialerError(f"campaign {self.campaign_id}: abandon_margin must be in [0, 1)")
        if self.outbound_first_s < 0:
            raise DialerError(f"campaign {self.campaign_id}: outbound_first_s must be >= 0")
        if self.max_lines < 1:
            raise DialerError(f"campaign {self.campaign_id}: max_lines must be at least 1")
        try:
            zone(self.schedule.time_zone)
            zone(self.default_time_zone)
        except Exception as exc:
            raise DialerError(f"campaign {self.campaign_id}: unknown time zone: {exc}") from exc
        pacing_policy(self.mode).check(self)

    @property
    def inbound_hold_s(self) -> float:
        """How long the ACD keeps inbound away after this campaign's call (0: inbound first)."""
        return 0.0 if self.inbound_first else self.outbound_first_s

    @property
    def abandon_target(self) -> float:
        return self.abandon_cap * (1.0 - self.abandon_margin)

    def selects(self, agent_id: str, team: str) -> bool:
        return agent_id in self.agents or (bool(team) and team in self.teams)


def by_priority(configs: Iterable[CampaignConfig]) -> list[CampaignConfig]:
    """Highest priority first; equal priorities keep their given order."""
    return sorted(configs, key=lambda c: -c.priority)
