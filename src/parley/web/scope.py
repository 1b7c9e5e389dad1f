"""Which operators, calls and queues a supervisor sees and acts on.

A supervisor whose user record names ``teams`` supervises those teams only: the operators
who belong to one of them, the calls those operators are on (and the calls waiting in their
queues), and the queues those teams or operators serve. An admin, and a supervisor with no
team at all, is site-wide. Operators (the agent role) are outside this: they act on their own
calls and state only (:func:`parley.web.operations._may_handle`).

The scope is enforced by the API routes (operator state, live calls, monitoring, hang-up,
the event stream), so a page that shows less is never the only guard.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, status

from parley.center.ports import LiveCall
from parley.store.records import Principal
from parley.store.specs import QueueSpec, Role, UserSpec
from parley.web.auth import WebContext, has_role


@dataclass(frozen=True, slots=True)
class Scope:
    """What one supervisor sees: everything (``site_wide``), or their teams' operators and
    queues."""

    site_wide: bool
    teams: frozenset[str] = frozenset()
    operators: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()

    def sees_operator(self, username: str | None) -> bool:
        return self.site_wide or (username is not None and username in self.operators)

    def sees_queue(self, queue: str | None) -> bool:
        return self.site_wide or (queue is not None and queue in self.queues)

    def sees_call(self, call: LiveCall) -> bool:
        """The call's operator is in scope; a call with no operator yet, by its queue."""
        if self.site_wide:
            return True
        if call.operator:
            return call.operator in self.operators
        return self.sees_queue(call.queue)

    def sees_help(self, agent_id: str, teams: tuple[str, ...] | list[str]) -> bool:
        return self.site_wide or agent_id in self.operators or bool(self.teams & set(teams))


SITE_WIDE = Scope(site_wide=True)


async def scope_of(ctx: WebContext, principal: Principal) -> Scope:
    """The principal's scope as the configuration says now (admins: site-wide)."""
    if has_role(principal, Role.ADMIN):
        return SITE_WIDE
    user = await ctx.store.config.get("users", principal.username)
    teams = frozenset(user.teams) if isinstance(user, UserSpec) else frozenset()
    if not teams:
        return SITE_WIDE
    users = await ctx.store.config.records("users")
    operators = frozenset(other.username for other in users
                          if isinstance(other, UserSpec) and teams & set(other.teams))
    queues = await ctx.store.config.records("queues")
    served = frozenset(queue.name for queue in queues if isinstance(queue, QueueSpec)
                       and (teams & set(queue.teams) or operators & set(queue.members)))
    return Scope(False, teams, operators, served)


def _refuse(what: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN,
                         f"{what} is outside your teams: a supervisor acts on the operators "
                         "and calls of their own teams only")


async def check_operator(ctx: WebContext, principal: Principal, username: str) -> None:
    """Raise 403 unless ``username`` is in the supervisor's scope."""
    if not (await scope_of(ctx, principal)).sees_operator(username):
        raise _refuse(f"operator {username!r}")


async def check_call(ctx: WebContext, principal: Principal, call: LiveCall) -> None:
    """Raise 403 unless the principal may act on ``call``: it is their own, or a supervisor's
    in scope (the role itself is checked by the route)."""
    if call.operator == principal.username or not has_role(principal, Role.SUPERVISOR):
        return
    if not (await scope_of(ctx, principal)).sees_call(call):
        raise _refuse(f"call {call.id!r}")
