"""The configuration repository: read and write configuration records as :mod:`specs`.

Writes are upserts keyed by each record's natural name and report whether anything changed,
so importing the same document twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.clock import Clock
from parley.sip.auth import compute_ha1
from parley.store import models as m
from parley.store.credentials import Passwords
from parley.store.database import Conflict, NotFound, Refused
from parley.store.specs import (
    DEFAULT_OUTSIDE_LINE,
    DEFAULT_REASON_CODES,
    KINDS,
    NOT_YET,
    CampaignSpec,
    ConfigDocument,
    DeviceSpec,
    DoNotCallSpec,
    FlowSpec,
    InboundSpec,
    NumberListSpec,
    NumberSpec,
    QueueSpec,
    ResultCodesSpec,
    RouteSpec,
    ScorecardSpec,
    ScriptSpec,
    SiteSpec,
    SkillSpec,
    Spec,
    TeamSpec,
    TrunkSpec,
    UserSpec,
    WebhookSpec,
)

_SIMPLE: dict[str, tuple[type[Any], str]] = {
    "skills": (m.Skill, "name"),
    "teams": (m.Team, "name"),
    "numbers": (m.Number, "number"),
    "trunks": (m.Trunk, "name"),
    "inbound": (m.TrunkInbound, "trunk"),
    "webhooks": (m.Webhook, "name"),
    "scripts": (m.Script, "name"),
    "result_codes": (m.ResultCodeList, "name"),
    "scorecards": (m.Scorecard, "name"),
}
_MODELS: dict[str, tuple[type[Any], str]] = {
    **_SIMPLE,
    "users": (m.User, "username"),
    "devices": (m.Device, "name"),
    "queues": (m.Queue, "name"),
    "flows": (m.Flow, "name"),
    "number_lists": (m.NumberList, "name"),
    "routes": (m.Route, "name"),
    "do_not_call": (m.DoNotCallList, "name"),
    "campaigns": (m.Campaign, "name"),
}

#: The kinds whose linked rows are read in bulk (:meth:`ConfigTransaction._links`).
_BULK = frozenset({"users", "queues", "devices"})


def _label(kind: str) -> str:
    """One record of ``kind`` in words: "number list", "trunk", "inbound"."""
    return kind.removesuffix("s").replace("_", " ")


def _assign(row: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


async def _id_of(session: AsyncSession, model: type[Any], column: str, key: str,
                 field: str) -> int:
    row_id = await session.scalar(select(model.id).where(getattr(model, column) == key))
    if row_id is None:
        raise NotFound(f"{field}: no {model.__tablename__[:-1]} named {key!r}")
    return int(row_id)


async def _password_hash(passwords: Passwords, current: str | None, password: str) -> str:
    """The hash to store for ``password``: the ``current`` one when it matches (an import
    applied again changes nothing), else a new one."""
    if current is not None and await passwords.verify(current, password):
        return current
    return await passwords.hash(password)


class ConfigTransaction:
    """Configuration reads and writes inside one database transaction."""

    def __init__(self, session: AsyncSession, clock: Clock, passwords: Passwords) -> None:
        self.session = session
        self.clock = clock
        self.passwords = passwords
        #: the site's SIP realm, read once for the devices a transaction writes (an import
        #: of 1,400 devices read the site 1,400 times); forgotten when the site is written
        self._realm: str | None = None
        #: for a bulk write (:meth:`prepare_bulk`): the stored rows of the kinds it writes by
        #: key, and the ids of the records its records name, each kind read in one query
        self._rows: dict[str, dict[str, Any]] = {}
        self._ids: dict[type[Any], dict[str, int]] | None = None
        #: the records of a bulk write already looked up (a second look-up of one asks the
        #: database, which knows what this transaction added since)
        self._looked_up: set[tuple[str, str]] = set()
        #: in a bulk write, each stored user's skill and team links by user id, taken by
        #: the first write of that user
        self._user_links: dict[int, tuple[list[m.UserSkill], list[m.TeamMember]]] = {}

    async def prepare_bulk(self, kinds: Iterable[str]) -> None:
        """Read the stored records of ``kinds`` in one query each (and the users' skill and
        team links), and the ids of the records they name as they are first needed, for a
        transaction about to write many of them (an import looked up each record, each
        user's links, each queue member and each device's owner alone: eight statements per
        operator; none now beyond a new record's writes)."""
        self._ids = {}
        for kind in kinds:
            model, column = _MODELS[kind]
            rows = (await self.session.scalars(select(model))).all()
            self._rows[kind] = {getattr(row, column): row for row in rows}
        if "users" in self._rows:
            self._user_links = {row.id: ([], []) for row in self._rows["users"].values()}
            for skill in (await self.session.scalars(select(m.UserSkill))).all():
                self._user_links.setdefault(skill.user_id, ([], []))[0].append(skill)
            for membership in (await self.session.scalars(select(m.TeamMember))).all():
                self._user_links.setdefault(membership.user_id, ([], []))[1].append(membership)

    async def _id(self, model: type[Any], column: str, key: str, field: str) -> int:
        """The id of the ``model`` record named ``key`` (NotFound naming ``field``); in a bulk
        write, from every id of ``model`` read once."""
        if self._ids is None:
            return await _id_of(self.session, model, column, key, field)
        ids = self._ids.get(model)
        if ids is None:
            ids = self._ids[model] = {name: row_id for name, row_id in (
                await self.session.execute(select(getattr(model, column), model.id))).all()}
        found = ids.get(key)
        if found is None:  # written in this transaction, or missing (NotFound)
            found = ids[key] = await _id_of(self.session, model, column, key, field)
        return found

    # --- site ------------------------------------------------------------------------------

    async def site(self) -> SiteSpec:
        row = await self.session.scalar(select(m.Site))
        if row is None:
            return SiteSpec()
        return SiteSpec(name=row.name, time_zone=row.time_zone, sip_realm=row.sip_realm,
                        ready_on_register=row.ready_on_register,
                        reason_codes=row.reason_codes or list(DEFAULT_REASON_CODES),
                        default_region=row.default_region,
                        outside_line=row.outside_line or dict(DEFAULT_OUTSIDE_LINE),
                        blocked_destinations=row.blocked_destinations or [],
                        crm_lookup=row.crm_lookup, short_abandon_s=row.short_abandon_s,
                        agents_hear_recordings=row.agents_hear_recordings or "own")

    async def put_site(self, spec: SiteSpec) -> bool:
        self._realm = None
        row = await self.session.scalar(select(m.Site))
        values = spec.model_dump(mode="json")
        if row is not None and row.reason_codes is None \
                and values["reason_codes"] == list(DEFAULT_REASON_CODES):
            values["reason_codes"] = None  # still the defaults: nothing to change
        if row is not None and row.outside_line is None \
                and spec.outside_line == DEFAULT_OUTSIDE_LINE:
            values["outside_line"] = None
        if row is None:
            self.session.add(m.Site(**values))
            return spec != SiteSpec()  # storing the defaults changes nothing visible
        return _assign(row, values)

    # --- generic ---------------------------------------------------------------------------

    async def records(self, kind: str) -> list[Spec]:
        model, column = _MODELS[kind]
        order = [getattr(model, column)]
        if kind == "routes":  # routes are tried in order
            order.insert(0, m.Route.position)
        rows = (await self.session.scalars(select(model).order_by(*order))).all()
        if kind in _BULK:  # the linked rows of all records in one query per table
            links = await self._links(kind, None)
            return [await self._to_spec(kind, row, links) for row in rows]
        return [await self._to_spec(kind, row) for row in rows]

    async def _links(self, kind: str, row_id: int | None) -> dict[int, list[Any]]:
        """The rows linked to each record of ``kind`` (a user's skills and teams, a queue's
        members, a device's user), keyed by the record's id: of one record (``row_id``) or
        of all in one query per linked table, so that reading 1,400 users costs three
        queries rather than three per user."""
        links: dict[int, list[Any]] = {}
        if kind == "users":
            skills = select(m.UserSkill.user_id, m.Skill.name, m.UserSkill.level) \
                .join(m.Skill, m.Skill.id == m.UserSkill.skill_id)
            teams = select(m.TeamMember.user_id, m.Team.name) \
                .join(m.Team, m.Team.id == m.TeamMember.team_id)
            if row_id is not None:
                skills = skills.where(m.UserSkill.user_id == row_id)
                teams = teams.where(m.TeamMember.user_id == row_id)
            for user_id, name, level in (await self.session.execute(skills)).all():
                links.setdefault(user_id, []).append(("skill", name, level))
            for user_id, name in (await self.session.execute(teams)).all():
                links.setdefault(user_id, []).append(("team", name, None))
        elif kind == "queues":
            members = select(m.QueueMember.queue_id, m.User.username) \
                .join(m.User, m.User.id == m.QueueMember.user_id) \
                .order_by(m.QueueMember.penalty, m.User.username)
            if row_id is not None:
                members = members.where(m.QueueMember.queue_id == row_id)
            for queue_id, username in (await self.session.execute(members)).all():
                links.setdefault(queue_id, []).append(username)
        elif kind == "devices":
            owners = select(m.Device.id, m.User.username) \
                .join(m.User, m.User.id == m.Device.user_id)
            if row_id is not None:
                owners = owners.where(m.Device.id == row_id)
            for device_id, username in (await self.session.execute(owners)).all():
                links[device_id] = [username]
        return links

    async def get(self, kind: str, key: str) -> Spec | None:
        model, column = _MODELS[kind]
        row = await self.session.scalar(select(model).where(getattr(model, column) == key))
        if row is None:
            return None
        links = await self._links(kind, row.id) if kind in _BULK else None
        return await self._to_spec(kind, row, links)

    async def put(self, kind: str, spec: Spec, *, check_targets: bool = True) -> bool:
        """Create or update one record; True when something changed. A new or changed record
        of a kind Parley does not use yet (:data:`NOT_YET`) is refused; one stored earlier
        and put back unchanged (an export imported again) is not."""
        if kind in NOT_YET and not await self._unchanged(kind, spec):
            raise Refused(NOT_YET[kind])
        if kind in _SIMPLE:
            return await self._put_simple(kind, spec)
        if check_targets and isinstance(spec, QueueSpec):
            await self.check_targets(spec)
        writer: Callable[[Any], Awaitable[bool]] = getattr(self, f"_put_{kind}")
        return await writer(spec)

    async def _unchanged(self, kind: str, spec: Spec) -> bool:
        stored = await self.get(kind, spec.key)
        if stored is None:
            return False
        kept = {name: getattr(stored, name) for name in spec.secret_fields
                if getattr(spec, name) is None}  # a secret left out keeps the stored one
        return spec.model_copy(update=kept) == stored

    async def check_targets(self, spec: QueueSpec) -> None:
        """Every queue a queue overflows to exists (checked once a whole document is in,
        since a queue may name one defined after it)."""
        if spec.script is not None:
            await _id_of(self.session, m.Script, "name", spec.script, "script")
        if spec.result_codes is not None:
            await _id_of(self.session, m.ResultCodeList, "name", spec.result_codes,
                         "result_codes")
        targets = [("overflow_target", spec.overflow_target)]
        targets += [(f"overflow.{i}.target", rule.target) for i, rule in enumerate(spec.overflow)]
        for field, target in targets:
            kind, _, name = target.partition(":")
            if kind == "queue":
                await _id_of(self.session, m.Queue, "name", name, field)

    async def delete(self, kind: str, key: str) -> None:
        self._rows.pop(kind, None)  # what a bulk write read is no longer all there is
        if self._ids is not None:
            self._ids.clear()
        if kind in ("scripts", "result_codes"):
            used_by = m.Queue.script if kind == "scripts" else m.Queue.result_codes
            queue = await self.session.scalar(select(m.Queue.name).where(used_by == key))
            label = "script" if kind == "scripts" else "result code list"
            if queue is not None:
                raise Conflict(f"{label} {key!r} is still in use by queue {queue!r}")
            field = "script" if kind == "scripts" else "result_codes"
            for campaign in (await self.session.scalars(select(m.Campaign))).all():
                if campaign.settings.get(field) == key:
                    raise Conflict(f"{label} {key!r} is still in use by campaign "
                                   f"{campaign.name!r}")
        if kind == "campaigns":
            attempts = await self.session.scalar(select(func.count()).select_from(
                m.CampaignAttempt).where(m.CampaignAttempt.campaign == key))
            if attempts:
                raise Conflict(f"campaign {key!r} has {attempts} attempts on record; stop it "
                               "instead of deleting it")
            await self.session.execute(delete(m.CampaignContact).where(
                m.CampaignContact.campaign == key))
            await self.session.execute(delete(m.CampaignContactNumber).where(
                m.CampaignContactNumber.campaign == key))
        if kind == "trunks":
            for route in (await self.session.scalars(select(m.Route))).all():
                if key in route.trunks:
                    raise Conflict(f"trunk {key!r} is still in use by route {route.name!r}")
        model, column = _MODELS[kind]
        row = await self.session.scalar(select(model).where(getattr(model, column) == key))
        if row is None:
            raise NotFound(f"no {_label(kind)} named {key!r}")
        await self.session.delete(row)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise Conflict(f"{_label(kind)} {key!r} is still in use") from exc

    async def document(self) -> ConfigDocument:
        """The whole configuration, as exported."""
        sections: dict[str, Any] = {"site": await self.site()}
        for kind in KINDS:
            sections[kind] = await self.records(kind)
        # a flow only drafted in the web editor has no live version to export
        sections["flows"] = [flow for flow in sections["flows"] if flow.version]
        return ConfigDocument.model_validate(sections)

    async def apply(self, document: ConfigDocument) -> dict[str, int]:
        """Upsert every record of ``document``; returns how many records changed, per kind."""
        changes: dict[str, int] = {}
        if document.site is not None and await self.put_site(document.site):
            changes["site"] = 1
        await self.session.flush()
        for kind in KINDS:
            count = 0
            for spec in document.items(kind):
                if await self.put(kind, spec, check_targets=False):
                    count += 1
                await self.session.flush()
            if count:
                changes[kind] = count
        for queue in document.queues:
            try:
                await self.check_targets(queue)
            except NotFound as exc:
                raise NotFound(f"queues.{queue.name}.{exc}") from exc
        return changes

    # --- conversions -----------------------------------------------------------------------

    async def _to_spec(self, kind: str, row: Any,
                       links: dict[int, list[Any]] | None = None) -> Spec:
        """``row`` as a spec; for users, queues and devices ``links`` (:meth:`_links`)."""
        linked: list[Any] = (links or {}).get(row.id, []) if kind in _BULK else []
        if kind == "skills":
            return SkillSpec(name=row.name, description=row.description)
        if kind == "teams":
            return TeamSpec(name=row.name, description=row.description)
        if kind == "numbers":
            return NumberSpec(number=row.number, flow=row.flow, description=row.description,
                              language=row.language)
        if kind == "trunks":
            return TrunkSpec(name=row.name, host=row.host, port=row.port,
                             transport=row.transport, auth=row.auth, username=row.username,
                             password=row.password, allowed_ips=row.allowed_ips,
                             caller_id=row.caller_id, caller_id_rules=row.caller_id_rules,
                             max_channels=row.max_channels, kind=row.kind,
                             max_cps=row.max_cps, codecs=row.codecs, dtmf_mode=row.dtmf_mode,
                             expires=row.expires, options_interval=row.options_interval,
                             number_format=row.number_format, strip=row.strip,
                             prepend=row.prepend, sips=row.sips, tls_ca_file=row.tls_ca_file,
                             tls_cert_file=row.tls_cert_file,
                             tls_key_file=row.tls_key_file, srtp=row.srtp)
        if kind == "scripts":
            return ScriptSpec(name=row.name, title=row.title, description=row.description,
                              blocks=row.blocks)
        if kind == "result_codes":
            return ResultCodesSpec(name=row.name, description=row.description,
                                   codes=row.codes)
        if kind == "scorecards":
            return ScorecardSpec(name=row.name, title=row.title, description=row.description,
                                 queues=row.queues, campaigns=row.campaigns,
                                 scripts=row.scripts, criteria=row.criteria)
        if kind == "inbound":
            return InboundSpec(trunk=row.trunk, number_from=row.number_from)
        if kind == "routes":
            return RouteSpec(name=row.name, description=row.description, match=row.match,
                             trunks=row.trunks, caller_id=row.caller_id,
                             caller_id_rules=row.caller_id_rules, position=row.position)
        if kind == "webhooks":
            return WebhookSpec(name=row.name, url=row.url, events=row.events,
                               secret=row.secret, active=row.active)
        if kind == "users":
            skills = [(name, level) for what, name, level in linked if what == "skill"]
            teams = [name for what, name, _level in linked if what == "team"]
            return UserSpec(username=row.username, display_name=row.display_name,
                            roles=row.roles, extension=row.extension, active=row.active,
                            language=row.language,
                            skills={name: level for name, level in skills},
                            teams=list(teams), password_hash=row.password_hash,
                            outside_line=row.outside_line, caller_id=row.caller_id,
                            location=row.location)
        if kind == "devices":
            user = linked[0] if linked else None
            return DeviceSpec(name=row.name, user=user, realm=row.realm, ha1_md5=row.ha1_md5,
                              ha1_sha256=row.ha1_sha256, static_contact=row.static_contact)
        if kind == "queues":
            members = linked
            return QueueSpec(name=row.name, description=row.description,
                             strategy=row.strategy, priority=row.priority,
                             max_wait_s=row.max_wait_s, max_length=row.max_length,
                             overflow_target=row.overflow_target, wrap_up_s=row.wrap_up_s,
                             service_level_s=row.service_level_s,
                             required_skills=row.required_skills, members=list(members),
                             teams=row.teams, hours=row.hours, overflow=row.overflow,
                             relax=row.relax, recording=row.recording,
                             ring_timeout_s=row.ring_timeout_s,
                             announce_every_s=row.announce_every_s,
                             callback_offer_s=row.callback_offer_s, music=row.music,
                             language=row.language, caller_id=row.caller_id,
                             script=row.script, result_codes=row.result_codes,
                             thresholds=row.thresholds or {})
        if kind == "flows":
            definition = await self.session.scalar(
                select(m.FlowVersion.definition).where(m.FlowVersion.flow_id == row.id,
                                                       m.FlowVersion.version ==
                                                       row.current_version))
            return FlowSpec(name=row.name, description=row.description,
                            definition=definition or {}, version=row.current_version)
        if kind == "number_lists":
            numbers = (await self.session.scalars(
                select(m.NumberListEntry.number).where(m.NumberListEntry.list_id == row.id)
            )).all()
            return NumberListSpec(name=row.name, kind=row.kind, priority=row.priority,
                                  description=row.description, numbers=list(numbers))
        if kind == "do_not_call":
            listed = (await self.session.execute(
                select(m.DoNotCallNumber.number, m.DoNotCallNumber.source)
                .where(m.DoNotCallNumber.list_id == row.id))).all()
            return DoNotCallSpec(
                name=row.name, description=row.description,
                numbers=[n for n, source in listed if source == m.DNC_CONFIG],
                opt_outs=[n for n, source in listed if source != m.DNC_CONFIG])
        if kind == "campaigns":
            return CampaignSpec.model_validate({**row.settings, "name": row.name,
                                                "active": row.active})
        raise KeyError(kind)

    # --- writers ---------------------------------------------------------------------------

    async def _row(self, kind: str, key: str) -> Any:
        """The stored record ``key`` of ``kind`` (None: there is none); in a bulk write, at
        its first look-up, from the records read before the write began."""
        prepared = self._rows.get(kind)
        if prepared is not None and (kind, key) not in self._looked_up:
            self._looked_up.add((kind, key))
            return prepared.get(key)
        model, column = _MODELS[kind]
        return await self.session.scalar(select(model).where(getattr(model, column) == key))

    async def _put_simple(self, kind: str, spec: Spec) -> bool:
        model, _column = _SIMPLE[kind]
        values = spec.model_dump(mode="json")
        row = await self._row(kind, spec.key)
        if row is not None:  # an update that leaves a secret out keeps the stored one
            for name in spec.secret_fields:
                if values.get(name) is None:
                    values.pop(name, None)
        if row is None:
            self.session.add(model(**values))
            return True
        return _assign(row, values)

    async def _put_users(self, spec: UserSpec) -> bool:
        row: m.User | None = await self._row("users", spec.username)
        password_hash = spec.password_hash
        if spec.password is not None:  # hashed already by the repository's put and imports
            password_hash = await _password_hash(
                self.passwords, row.password_hash if row is not None else None, spec.password)
        elif row is not None and password_hash is None:
            password_hash = row.password_hash
        values = {"display_name": spec.display_name, "roles": [str(r) for r in spec.roles],
                  "extension": spec.extension, "active": spec.active,
                  "language": spec.language,
                  "password_hash": password_hash, "outside_line": spec.outside_line,
                  "caller_id": spec.caller_id, "location": spec.location}
        changed = False
        stored_skills: Sequence[m.UserSkill] | None
        stored_teams: Sequence[m.TeamMember] | None
        if row is None:
            row = m.User(username=spec.username, **values)
            self.session.add(row)
            await self.session.flush()
            changed = True
            stored_skills, stored_teams = [], []  # a new user has no links yet
        else:
            changed = _assign(row, values)
            stored_skills, stored_teams = self._user_links.pop(row.id, (None, None))
        skills = {name: await self._id(m.Skill, "name", name, f"skills.{name}")
                  for name in spec.skills}
        if stored_skills is None:
            stored_skills = (await self.session.scalars(
                select(m.UserSkill).where(m.UserSkill.user_id == row.id))).all()
        current_skills = {s.skill_id: s for s in stored_skills}
        wanted = {skills[name]: level for name, level in spec.skills.items()}
        for skill_id, link in current_skills.items():
            if skill_id not in wanted:
                await self.session.delete(link)
                changed = True
            elif link.level != wanted[skill_id]:
                link.level = wanted[skill_id]
                changed = True
        for skill_id, level in wanted.items():
            if skill_id not in current_skills:
                self.session.add(m.UserSkill(user_id=row.id, skill_id=skill_id, level=level))
                changed = True
        teams = {await self._id(m.Team, "name", name, f"teams.{name}") for name in spec.teams}
        if stored_teams is None:
            stored_teams = (await self.session.scalars(
                select(m.TeamMember).where(m.TeamMember.user_id == row.id))).all()
        current_teams = {t.team_id: t for t in stored_teams}
        for team_id, membership in current_teams.items():
            if team_id not in teams:
                await self.session.delete(membership)
                changed = True
        for team_id in teams - set(current_teams):
            self.session.add(m.TeamMember(team_id=team_id, user_id=row.id))
            changed = True
        return changed

    async def _put_devices(self, spec: DeviceSpec) -> bool:
        if not spec.realm and self._realm is None:
            self._realm = (await self.site()).sip_realm
        realm = spec.realm or self._realm or ""
        ha1_md5, ha1_sha256 = spec.ha1_md5, spec.ha1_sha256
        if spec.sip_password is not None:
            ha1_md5 = compute_ha1(spec.name, realm, spec.sip_password, "MD5")
            ha1_sha256 = compute_ha1(spec.name, realm, spec.sip_password, "SHA-256")
        user_id = None
        if spec.user is not None:
            user_id = await self._id(m.User, "username", spec.user, "user")
        row: m.Device | None = await self._row("devices", spec.name)
        if row is not None and ha1_md5 is None and ha1_sha256 is None and realm == row.realm:
            ha1_md5, ha1_sha256 = row.ha1_md5, row.ha1_sha256  # credentials left unchanged
        values = {"user_id": user_id, "realm": realm, "ha1_md5": ha1_md5,
                  "ha1_sha256": ha1_sha256, "static_contact": spec.static_contact}
        if row is None:
            self.session.add(m.Device(name=spec.name, **values))
            return True
        return _assign(row, values)

    async def _put_queues(self, spec: QueueSpec) -> bool:
        for name in spec.required_skills:
            await self._id(m.Skill, "name", name, f"required_skills.{name}")
        members = {await self._id(m.User, "username", name, f"members.{name}"):
                   place for place, name in enumerate(spec.members)}
        for name in spec.teams:
            await self._id(m.Team, "name", name, f"teams.{name}")
        values = spec.model_dump(mode="json", exclude={"name", "members"})
        row: m.Queue | None = await self._row("queues", spec.name)
        changed = False
        if row is None:
            row = m.Queue(name=spec.name, **values)
            self.session.add(row)
            await self.session.flush()
            changed = True
        else:
            changed = _assign(row, values)
        current = {q.user_id: q for q in (await self.session.scalars(
            select(m.QueueMember).where(m.QueueMember.queue_id == row.id))).all()}
        for user_id, link in current.items():
            if user_id not in members:
                await self.session.delete(link)
                changed = True
            elif link.penalty != members[user_id]:
                link.penalty = members[user_id]  # the order changed (fixed order)
                changed = True
        for user_id in members.keys() - set(current):
            self.session.add(m.QueueMember(queue_id=row.id, user_id=user_id,
                                           penalty=members[user_id]))
            changed = True
        return changed

    async def _put_flows(self, spec: FlowSpec) -> bool:
        """A changed definition is a new version and goes live at once (the web editor's
        draft, if any, is that new version: see :mod:`parley.store.flow_drafts`)."""
        row: m.Flow | None = await self._row("flows", spec.name)
        if row is None:
            row = m.Flow(name=spec.name, description=spec.description, current_version=1)
            self.session.add(row)
            await self.session.flush()
            self.session.add(m.FlowVersion(flow_id=row.id, version=1,
                                           definition=spec.definition,
                                           created_at=self.clock.utcnow()))
            return True
        changed = _assign(row, {"description": spec.description})
        current = await self.session.scalar(
            select(m.FlowVersion.definition).where(m.FlowVersion.flow_id == row.id,
                                                   m.FlowVersion.version == row.current_version))
        if current != spec.definition:
            newest = await self.session.scalar(
                select(m.FlowVersion).where(m.FlowVersion.flow_id == row.id)
                .order_by(m.FlowVersion.version.desc()).limit(1))
            if newest is not None and newest.version > row.current_version:
                newest.definition = spec.definition  # the draft becomes this live version
                newest.created_at = self.clock.utcnow()
            else:
                newest = m.FlowVersion(flow_id=row.id, version=row.current_version + 1,
                                       definition=spec.definition,
                                       created_at=self.clock.utcnow())
                self.session.add(newest)
            row.current_version = newest.version
            changed = True
        return changed

    async def flow_versions(self, name: str) -> list[FlowSpec]:
        """Every saved version of a flow, oldest first."""
        row: m.Flow | None = await self._row("flows", name)
        if row is None:
            raise NotFound(f"no flow named {name!r}")
        versions = (await self.session.scalars(
            select(m.FlowVersion).where(m.FlowVersion.flow_id == row.id)
            .order_by(m.FlowVersion.version))).all()
        return [FlowSpec(name=row.name, description=row.description, definition=v.definition,
                         version=v.version) for v in versions]

    async def _put_routes(self, spec: RouteSpec) -> bool:
        """A route names trunks that exist; one without a position goes last."""
        for name in spec.trunks:
            await _id_of(self.session, m.Trunk, "name", name, f"trunks.{name}")
        row: m.Route | None = await self._row("routes", spec.name)
        values = spec.model_dump(mode="json", exclude={"name"})
        if values["position"] is None:
            if row is not None:
                values["position"] = row.position
            else:
                last = await self.session.scalar(select(func.max(m.Route.position)))
                values["position"] = (last or 0) + 1
        if row is None:
            self.session.add(m.Route(name=spec.name, **values))
            return True
        return _assign(row, values)

    async def _put_number_lists(self, spec: NumberListSpec) -> bool:
        row: m.NumberList | None = await self._row("number_lists", spec.name)
        changed = False
        if row is None:
            row = m.NumberList(name=spec.name, kind=spec.kind, priority=spec.priority,
                               description=spec.description)
            self.session.add(row)
            await self.session.flush()
            changed = True
        else:
            changed = _assign(row, {"kind": spec.kind, "priority": spec.priority,
                                    "description": spec.description})
        current = set((await self.session.scalars(
            select(m.NumberListEntry.number).where(m.NumberListEntry.list_id == row.id))).all())
        wanted = set(spec.numbers)
        if current - wanted:
            await self.session.execute(delete(m.NumberListEntry).where(
                m.NumberListEntry.list_id == row.id,
                m.NumberListEntry.number.in_(current - wanted)))
            changed = True
        for number in sorted(wanted - current):
            self.session.add(m.NumberListEntry(list_id=row.id, number=number))
            changed = True
        return changed

    async def _put_do_not_call(self, spec: DoNotCallSpec) -> bool:
        row: m.DoNotCallList | None = await self._row("do_not_call", spec.name)
        changed = False
        if row is None:
            row = m.DoNotCallList(name=spec.name, description=spec.description)
            self.session.add(row)
            await self.session.flush()
            changed = True
        else:
            changed = _assign(row, {"description": spec.description})
        sources: dict[str, str] = {number: source for number, source in (
            await self.session.execute(
                select(m.DoNotCallNumber.number, m.DoNotCallNumber.source)
                .where(m.DoNotCallNumber.list_id == row.id))).all()}
        provisioned = {n for n, source in sources.items() if source == m.DNC_CONFIG}
        wanted = set(spec.numbers)
        # Only provisioned numbers are replaced; a customer's opt-out stays whatever the
        # file says (a file exported before the customer asked does not undo it).
        if provisioned - wanted:
            await self.session.execute(delete(m.DoNotCallNumber).where(
                m.DoNotCallNumber.list_id == row.id,
                m.DoNotCallNumber.number.in_(provisioned - wanted)))
            changed = True
        now = self.clock.utcnow()
        for number in sorted(wanted - set(sources)):
            source = m.DNC_OPT_OUT if number in spec.opt_outs else m.DNC_CONFIG
            self.session.add(m.DoNotCallNumber(list_id=row.id, number=number,
                                               source=source, added_at=now))
            changed = True
        for number in sorted(set(spec.opt_outs) - set(sources) - wanted):
            self.session.add(m.DoNotCallNumber(list_id=row.id, number=number,
                                               source=m.DNC_OPT_OUT, added_at=now,
                                               note="imported"))
            changed = True
        for number in sorted(set(spec.opt_outs) & provisioned):
            await self.session.execute(update(m.DoNotCallNumber).where(
                m.DoNotCallNumber.list_id == row.id, m.DoNotCallNumber.number == number)
                .values(source=m.DNC_OPT_OUT))
            changed = True
        return changed

    async def _put_campaigns(self, spec: CampaignSpec) -> bool:
        """Settings and the wanted state. The runtime status (a supervisor's pause) is left
        alone unless ``active`` itself changes: turned on, a paused or new campaign runs;
        turned off, a running one pauses. A stopped campaign stays stopped."""
        if spec.queue is not None:
            await _id_of(self.session, m.Queue, "name", spec.queue, "queue")
        for name in spec.teams:
            await _id_of(self.session, m.Team, "name", name, f"teams.{name}")
        for name in spec.agents:
            await _id_of(self.session, m.User, "username", name, f"agents.{name}")
        if spec.script is not None:
            await _id_of(self.session, m.Script, "name", spec.script, "script")
        if spec.result_codes is not None:
            await _id_of(self.session, m.ResultCodeList, "name", spec.result_codes,
                         "result_codes")
        settings = spec.model_dump(mode="json", exclude={"name", "active"})
        row: m.Campaign | None = await self._row("campaigns", spec.name)
        now = self.clock.utcnow()
        if row is None:
            self.session.add(m.Campaign(name=spec.name, settings=settings, active=spec.active,
                                        status="running" if spec.active else "created",
                                        status_by="config", status_at=now))
            return True
        changed = _assign(row, {"settings": settings})
        if row.active != spec.active:
            row.active = spec.active
            changed = True
            status = row.status
            if spec.active and status in ("created", "paused"):
                status = "running"
            elif not spec.active and status == "running":
                status = "paused"
            if status != row.status:
                row.status, row.status_by, row.status_at = status, "config", now
        return changed


class ConfigRepository:
    """Configuration records; each call is its own transaction unless inside ``transaction``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 passwords: Passwords) -> None:
        self._sessions = sessions
        self._clock = clock
        self._passwords = passwords

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ConfigTransaction]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self._sessions() as session, session.begin():
            try:
                yield ConfigTransaction(session, self._clock, self._passwords)
                await session.flush()
            except IntegrityError as exc:
                raise Conflict(f"the change conflicts with stored data: {exc.orig}") from exc

    async def site(self) -> SiteSpec:
        async with self.transaction() as tx:
            return await tx.site()

    async def put_site(self, spec: SiteSpec) -> bool:
        async with self.transaction() as tx:
            return await tx.put_site(spec)

    async def records(self, kind: str) -> list[Spec]:
        async with self.transaction() as tx:
            return await tx.records(kind)

    async def get(self, kind: str, key: str) -> Spec | None:
        async with self.transaction() as tx:
            return await tx.get(kind, key)

    async def put(self, kind: str, spec: Spec) -> bool:
        if isinstance(spec, UserSpec):
            spec = await self.with_password_hashed(spec)
        async with self.transaction() as tx:
            return await tx.put(kind, spec)

    async def with_password_hashed(self, spec: UserSpec) -> UserSpec:
        """``spec`` with its plain-text password replaced by its argon2 hash (the stored one
        when the password is the same), worked out before any write: a hash takes ~0.1 s on
        purpose, and an import holding SQLite's write lock through hundreds of them kept the
        running node's own writes (its call records) waiting past their 30 s timeout."""
        if spec.password is None:
            return spec
        async with self._sessions() as session:
            current = await session.scalar(select(m.User.password_hash).where(
                m.User.username == spec.username))
        hashed = await _password_hash(self._passwords, current, spec.password)
        return spec.model_copy(update={"password": None, "password_hash": hashed})

    async def delete(self, kind: str, key: str) -> None:
        async with self.transaction() as tx:
            await tx.delete(kind, key)

    async def flow_versions(self, name: str) -> list[FlowSpec]:
        async with self.transaction() as tx:
            return await tx.flow_versions(name)

    async def document(self) -> ConfigDocument:
        async with self.transaction() as tx:
            return await tx.document()

    async def apply(self, document: ConfigDocument) -> dict[str, int]:
        async with self.transaction() as tx:
            return await tx.apply(document)
