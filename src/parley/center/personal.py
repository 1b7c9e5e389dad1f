"""Operators on calls no queue or campaign gave them: personal calls keep them from being offered.

An operator's phone can be in a call the ACD knows nothing of: they dialled a colleague or an
outside number, a colleague called their extension, a flow or a desk transferred a caller to
them by name, a supervisor's call reached them. The ACD would take them for free and offer them
the next caller (their phone busy), and the dialer would reserve them for a campaign.

:class:`PersonalCalls` follows the telephony's channels. A channel of an operator's device
created while the operator holds no call of the ACD's (ready, not ready, in wrap-up, logged
out: states in which nothing is offered to them) is a personal call. A ready operator whose
phone starts one is made not ready with the site's ``personal_call_reason`` ("personal call"),
and ready again when their last personal call ends, unless they chose another state meanwhile;
an operator who becomes ready while on one (their wrap-up ended, they pressed Ready) is made not
ready again at once. Devices with a static contact (a gateway that may hold many lines) never
count (``AcdShell.one_line``, as for the offers' own check); neither does the
click-to-call leg that rings the operator first (the ACD reserves the operator for it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley import events as ev
from parley.acd.agent import AgentState

if TYPE_CHECKING:
    from parley.center.acd_shell import AcdShell

#: States in which the ACD gives an operator nothing: a call of their phone then is theirs.
_NOT_GIVEN = frozenset({AgentState.READY, AgentState.NOT_READY, AgentState.WRAP_UP,
                        AgentState.LOGGED_OUT})


class PersonalCalls:
    """Which operators are on a personal call, their ACD state kept to match."""

    def __init__(self, shell: AcdShell) -> None:
        self.shell = shell
        self._owner: dict[str, str] = {}  # channel id -> operator
        self._count: dict[str, int] = {}  # operator -> personal channels up

    def on_call(self, operator: str) -> bool:
        """Whether ``operator`` is on a personal call now."""
        return self._count.get(operator, 0) > 0

    def telephony_event(self, event: object) -> None:
        if isinstance(event, ev.ChannelCreated):
            self._began(event)
        elif isinstance(event, ev.Hangup):
            self._ended(event.channel_id)

    def acd_batch(self, out: list[Any]) -> None:
        """An operator made ready while on a personal call is made not ready again, before
        anything else the batch caused reaches the ACD."""
        if not self._count:  # nobody on a personal call: every batch passes here
            return
        for item in out:
            if isinstance(item, ev.AgentStateChanged) and item.new == AgentState.READY \
                    and self.on_call(item.agent_id):
                agent = self.shell.acd.agents.get(item.agent_id)
                if agent is not None and agent.state is AgentState.READY:
                    self.shell.feed_first(ev.AgentNotReady(
                        item.agent_id, self.shell.acd.site.personal_call_reason))

    def _began(self, event: ev.ChannelCreated) -> None:
        if event.trunk:  # a customer's number, not an operator's phone
            return
        device = event.caller if event.direction is ev.Direction.INBOUND else event.called
        shell = self.shell
        operator = shell.owners.get(device, device)
        agent = shell.acd.agents.get(operator)
        if agent is None or agent.state not in _NOT_GIVEN:
            return
        if not shell.one_line(device):
            return
        channel = shell.telephony.channel(event.channel_id)
        if channel is not None and "click_to_call" in channel.variables:
            return
        self._owner[event.channel_id] = operator
        self._count[operator] = self._count.get(operator, 0) + 1
        if agent.state is AgentState.READY:
            shell.feed_first(ev.AgentNotReady(operator, shell.acd.site.personal_call_reason))

    def _ended(self, channel_id: str) -> None:
        operator = self._owner.pop(channel_id, None)
        if operator is None:
            return
        left = self._count[operator] - 1
        if left:
            self._count[operator] = left
            return
        del self._count[operator]
        agent = self.shell.acd.agents.get(operator)
        if agent is not None and agent.state is AgentState.NOT_READY \
                and agent.reason == self.shell.acd.site.personal_call_reason:
            self.shell.feed(ev.AgentReady(operator))
