"""The outbound dialer: campaigns, contact lists, number strategies, call windows, pacing and
abandon accounting, as a pure core (see docs/dialer.md)."""

from parley.dialer.campaign import CampaignConfig, CampaignStatus, Schedule
from parley.dialer.contacts import (
    Contact,
    ContactLoader,
    DncList,
    ImportReport,
    PhoneNumber,
    normalise_number,
)
from parley.dialer.engine import CampaignStats, Dialer
from parley.dialer.model import (
    AbandonDefinition,
    CarriedConversation,
    CloseReason,
    ContactStatus,
    DialerError,
    DialMode,
    Disposition,
    MachinePolicy,
    NumberType,
    Outcome,
)
from parley.dialer.pacing import UK_WINDOW_S, US_WINDOW_S, AbandonMeter
from parley.dialer.ranges import NumberArea, NumberRanges
from parley.dialer.strategy import Strategy
from parley.dialer.windows import Calendar, Window

__all__ = [
    "UK_WINDOW_S", "US_WINDOW_S", "AbandonDefinition", "AbandonMeter", "Calendar",
    "CampaignConfig", "CampaignStats", "CampaignStatus", "CarriedConversation", "CloseReason",
    "Contact", "ContactLoader", "ContactStatus", "DialMode", "Dialer", "DialerError",
    "Disposition", "DncList", "ImportReport", "MachinePolicy", "NumberArea", "NumberRanges",
    "NumberType", "Outcome", "PhoneNumber", "Schedule", "Strategy", "Window",
    "normalise_number",
]
