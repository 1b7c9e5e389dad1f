"""One pacing policy per dialling mode (docs/dialer.md, "Modes").

The engine owns the mechanics every mode shares (operators' ready pools, reserving, dialling,
contacts); a :class:`PacingPolicy` says what differs: whether operators are reserved before a
dial, whether a reserved operator previews the contact first, how many calls to dial with no
operator reserved, and whether an answer hears a recorded message. A campaign's policy is
chosen once, from its mode, when the dialer takes the campaign.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol

from parley.dialer.model import DialerError, DialMode, MachinePolicy
from parley.dialer.pacing import PacingInput, predictive_dials

if TYPE_CHECKING:
    from parley.dialer.campaign import CampaignConfig
    from parley.dialer.strategy import Pick


class PacingPolicy(Protocol):
    """How a campaign of one mode paces its calls."""

    mode: ClassVar[DialMode]
    #: Ready operators are reserved, one per contact, before their call is dialled.
    reserves_operators: ClassVar[bool]
    #: A reserved operator only takes contacts that need one (callbacks, numbers under
    #: abandon quarantine); the other contacts are dialled ahead by :meth:`dials_ahead`.
    reserved_contacts_only: ClassVar[bool]

    def check(self, config: CampaignConfig) -> None:
        """Raise ``DialerError`` if ``config`` lacks a setting this mode needs."""
        ...

    def previews(self, pick: Pick) -> bool:
        """Whether the reserved operator sees ``pick`` and decides, rather than it being
        dialled at once."""
        ...

    def dials_ahead(self, lines_free: int, pacing_input: Callable[[], PacingInput]) -> int:
        """How many contacts to dial now with no operator reserved. ``lines_free`` is the
        campaign's lines not in use; ``pacing_input`` measures the campaign (call it only
        when needed: it also feeds the contact-rate estimate)."""
        ...

    def plays_message(self, config: CampaignConfig, *, human: bool) -> bool:
        """Whether an answered call (by a person, or by a machine) hears the recorded
        message instead of going to an operator or being hung up."""
        ...


class _OperatorPacing:
    """What the modes with operators share: no message, no extra setting."""

    reserves_operators: ClassVar[bool] = True
    reserved_contacts_only: ClassVar[bool] = False

    def check(self, config: CampaignConfig) -> None:
        return None

    def previews(self, pick: Pick) -> bool:
        return False

    def dials_ahead(self, lines_free: int, pacing_input: Callable[[], PacingInput]) -> int:
        return 0

    def plays_message(self, config: CampaignConfig, *, human: bool) -> bool:
        return not human and config.machine_policy is MachinePolicy.MESSAGE


class PreviewPacing(_OperatorPacing):
    """The operator sees each contact first, then dials or skips it (a promised callback is
    dialled at once)."""

    mode: ClassVar[DialMode] = DialMode.PREVIEW

    def previews(self, pick: Pick) -> bool:
        return not pick.callback


class ProgressivePacing(_OperatorPacing):
    """One operator reserved before each dial: never an abandon."""

    mode: ClassVar[DialMode] = DialMode.PROGRESSIVE


class PredictivePacing(_OperatorPacing):
    """Dial ahead of free operators, as many as keep the abandon rate under its target
    (:func:`parley.dialer.pacing.predictive_dials`); reserved operators only for the
    contacts that need one."""

    mode: ClassVar[DialMode] = DialMode.PREDICTIVE
    reserved_contacts_only: ClassVar[bool] = True

    def dials_ahead(self, lines_free: int, pacing_input: Callable[[], PacingInput]) -> int:
        return predictive_dials(pacing_input())


class AgentlessPacing:
    """No operator on the call: every free line dials, an answer hears the message, and
    "press 1" goes to the campaign's ACD queue."""

    mode: ClassVar[DialMode] = DialMode.AGENTLESS
    reserves_operators: ClassVar[bool] = False
    reserved_contacts_only: ClassVar[bool] = False

    def check(self, config: CampaignConfig) -> None:
        if not config.agentless_queue:
            raise DialerError(f"campaign {config.campaign_id}: agentless mode needs "
                              "agentless_queue (where \"press 1\" goes)")

    def previews(self, pick: Pick) -> bool:
        return False

    def dials_ahead(self, lines_free: int, pacing_input: Callable[[], PacingInput]) -> int:
        return max(0, lines_free)

    def plays_message(self, config: CampaignConfig, *, human: bool) -> bool:
        return (human or config.agentless_machine_delivered
                or config.machine_policy is MachinePolicy.MESSAGE)


_POLICIES: dict[DialMode, PacingPolicy] = {
    policy.mode: policy
    for policy in (PreviewPacing(), ProgressivePacing(), PredictivePacing(), AgentlessPacing())
}


def pacing_policy(mode: DialMode) -> PacingPolicy:
    """The policy of ``mode`` (policies hold no state, so campaigns share them)."""
    try:
        return _POLICIES[mode]
    except KeyError:
        raise DialerError(f"dial mode {mode!r} has no pacing policy (one of "
                          f"{', '.join(m.value for m in DialMode)})") from None
