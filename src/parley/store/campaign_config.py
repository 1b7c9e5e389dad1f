"""A campaign's provisioning settings (:class:`CampaignSpec`) turned into the dialer's
:class:`CampaignConfig`, so that the YAML, the API and the dialer mean the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley.dialer.campaign import CampaignConfig
from parley.dialer.model import AbandonDefinition, DialerError, DialMode, NumberType, Outcome
from parley.dialer.strategy import Strategy
from parley.dialer.windows import Calendar

if TYPE_CHECKING:
    from parley.store.specs import CampaignSpec

ANY_HOUR = "00:00-23:59:59.999999"
DEFAULT_WINDOW = "08:00-21:00"


def _calendars(spec: CampaignSpec) -> dict[NumberType, Calendar]:
    """Each number type's windows in the called party's zone, holidays included."""
    window = spec.call_window
    per_type: dict[NumberType, list[str]] = {}
    if isinstance(window, dict):
        for kind in NumberType:
            given = window.get(kind.value)
            if given is None:
                continue
            per_type[kind] = [given] if isinstance(given, str) else list(given)
        for kind in NumberType:  # a type not named keeps the default window
            per_type.setdefault(kind, [DEFAULT_WINDOW])
    else:
        texts = [window] if isinstance(window, str) else list(window)
        for kind in NumberType:
            per_type[kind] = texts
    calendars: dict[NumberType, Calendar] = {}
    for kind, texts in per_type.items():
        windows = [ANY_HOUR if text.strip().lower() == "any" else text for text in texts]
        try:
            calendars[kind] = Calendar.of(windows, spec.holidays)
        except DialerError as exc:
            raise DialerError(f"call_window: {exc}") from exc
    return calendars


def campaign_config(spec: CampaignSpec, *, default_region: str,
                    default_time_zone: str) -> CampaignConfig:
    """The dialer's settings for ``spec``; a :class:`DialerError` (a ValueError inside
    pydantic) names the campaign and the key at fault."""
    from parley.store.specs import seconds

    try:
        per_number = spec.numbers.attempts_per_number
        if per_number is None:
            type_limits = dict(Strategy().max_attempts_per_type)
        elif isinstance(per_number, int):
            type_limits = {kind: per_number for kind in NumberType}
        else:
            type_limits = {**Strategy().max_attempts_per_type,
                           **{NumberType(k): v for k, v in per_number.items()}}
        delays = dict(Strategy().retry_delays)
        delays.update({Outcome(k): seconds(v) for k, v in spec.retry.items()})
        strategy = Strategy(
            number_order=tuple(NumberType(k) for k in spec.numbers.order),
            max_attempts_per_contact=spec.numbers.attempts_per_contact,
            max_attempts_per_type=type_limits, retry_delays=delays,
            windows=_calendars(spec), holidays=frozenset(spec.holidays))
        extra = {} if spec.max_lines is None else {"max_lines": spec.max_lines}
        if spec.compliance_message:
            extra_text = {"compliance_message": spec.compliance_message}
        else:
            extra_text = {}
        return CampaignConfig(
            campaign_id=spec.name, mode=DialMode(spec.mode), caller_id=spec.caller_id,
            default_region=spec.region or default_region,
            default_time_zone=spec.time_zone or default_time_zone,
            agents=frozenset(spec.agents), teams=frozenset(spec.teams),
            priority=spec.priority, strategy=strategy, ring_timeout_s=spec.ring_timeout_s,
            detect_machine=spec.detect_machine, abandon_cap=spec.abandon.cap,
            abandon_window_s=seconds(spec.abandon.window),
            abandon_definition=AbandonDefinition(spec.abandon.definition),
            agentless_message=spec.message or "message",
            agentless_queue=spec.queue or "",
            agentless_machine_delivered=spec.machine == "message",
            **extra, **extra_text)  # type: ignore[arg-type]
    except DialerError as exc:
        text = str(exc).removeprefix(f"campaign {spec.name}: ")
        raise DialerError(f"campaign {spec.name}: {text}") from exc
