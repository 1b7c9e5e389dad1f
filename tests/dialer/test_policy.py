"""One pacing policy per dialling mode: what each mode does differently, decided in one place."""

from __future__ import annotations

from dataclasses import replace

import pytest

from parley.dialer import CampaignConfig, Contact, DialerError, DialMode, PhoneNumber
from parley.dialer.model import NumberType
from parley.dialer.pacing import PacingInput
from parley.dialer.policy import (
    AgentlessPacing,
    PredictivePacing,
    PreviewPacing,
    ProgressivePacing,
    pacing_policy,
)
from parley.dialer.strategy import ContactState, Pick

NUMBER = PhoneNumber("+12125550100", NumberType.MOBILE, ("UTC",))


def pick(*, callback: bool) -> Pick:
    return Pick(ContactState(Contact("k1", (NUMBER,))), NUMBER, reserved=True,
                callback=callback)


def config(mode: DialMode, **kw: object) -> CampaignConfig:
    extra = {"agentless_queue": "press-one"} if mode is DialMode.AGENTLESS else {}
    return CampaignConfig("c", mode, "+15550000000", **{**extra, **kw})  # type: ignore[arg-type]


BUSY_SNAPSHOT = PacingInput(ready=10, talking=0, wrapping=0, in_flight=0, waiting=0,
                            contact_rate=0.25, answer_delay_s=10.0, talk_s=120.0, wrap_s=10.0,
                            allowed_abandon_ratio=0.03, max_dials=100)


def test_each_mode_has_its_policy() -> None:
    assert {mode: type(pacing_policy(mode)) for mode in DialMode} == {
        DialMode.PREVIEW: PreviewPacing, DialMode.PROGRESSIVE: ProgressivePacing,
        DialMode.PREDICTIVE: PredictivePacing, DialMode.AGENTLESS: AgentlessPacing}
    assert all(pacing_policy(mode).mode is mode for mode in DialMode)


@pytest.mark.parametrize(("mode", "reserves", "reserved_only", "previews", "callback_previews"),
                         [(DialMode.PREVIEW, True, False, True, False),
                          (DialMode.PROGRESSIVE, True, False, False, False),
                          (DialMode.PREDICTIVE, True, True, False, False),
                          (DialMode.AGENTLESS, False, False, False, False)])
def test_who_is_reserved_and_who_previews(mode: DialMode, reserves: bool, reserved_only: bool,
                                          previews: bool, callback_previews: bool) -> None:
    policy = pacing_policy(mode)
    assert policy.reserves_operators is reserves
    assert policy.reserved_contacts_only is reserved_only
    assert policy.previews(pick(callback=False)) is previews
    assert policy.previews(pick(callback=True)) is callback_previews  # promised: dial at once


def test_only_predictive_measures_the_campaign_and_only_it_and_agentless_dial_ahead() -> None:
    measured: list[int] = []

    def snapshot() -> PacingInput:
        measured.append(1)
        return BUSY_SNAPSHOT

    assert pacing_policy(DialMode.PREVIEW).dials_ahead(50, snapshot) == 0
    assert pacing_policy(DialMode.PROGRESSIVE).dials_ahead(50, snapshot) == 0
    assert pacing_policy(DialMode.AGENTLESS).dials_ahead(50, snapshot) == 50
    assert pacing_policy(DialMode.AGENTLESS).dials_ahead(-3, snapshot) == 0
    assert measured == []  # the measurement feeds the contact-rate estimate: not for nothing
    ahead = pacing_policy(DialMode.PREDICTIVE).dials_ahead(50, snapshot)
    assert measured == [1]
    assert ahead > 10  # ten free operators at a 25% contact rate: dial well beyond ten


@pytest.mark.parametrize(("mode", "delivered", "human", "machine"), [
    (DialMode.PREVIEW, False, False, False),
    (DialMode.PROGRESSIVE, False, False, False),
    (DialMode.PREDICTIVE, True, False, False),
    (DialMode.AGENTLESS, False, True, False),
    (DialMode.AGENTLESS, True, True, True),
])
def test_who_hears_the_recorded_message(mode: DialMode, delivered: bool, human: bool,
                                        machine: bool) -> None:
    settings = config(mode, agentless_machine_delivered=delivered)
    policy = pacing_policy(mode)
    assert policy.plays_message(settings, human=True) is human
    assert policy.plays_message(settings, human=False) is machine


def test_agentless_needs_its_queue() -> None:
    with pytest.raises(DialerError, match="agentless_queue"):
        replace(config(DialMode.AGENTLESS), agentless_queue="")
    for mode in (DialMode.PREVIEW, DialMode.PROGRESSIVE, DialMode.PREDICTIVE):
        config(mode)  # no such setting needed
