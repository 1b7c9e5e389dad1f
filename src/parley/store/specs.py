"""The configuration as typed documents: one model per kind of configuration record.

The same models are the provisioning YAML sections (``parley import``/``export``) and the REST
API bodies, so a field means the same thing everywhere. Fields listed in a model's
``secret_fields`` are accepted on input but never shown by the API; ``write_only_fields`` are
not even exported (a plaintext password is turned into a hash and forgotten).
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from parley.dialer.model import Disposition
from parley.numbering import LineRight, NumberFormat, valid_region
from parley.qa.scoring import Scorecard, parse_scorecard
from parley.scripts import Script, parse_script

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")]
PhoneNumber = Annotated[str, StringConstraints(pattern=r"^\+?[0-9*#]{1,32}$")]
Text = Annotated[str, StringConstraints(max_length=500)]
Language = Literal["en", "ru"]
"""A language callers are answered in and pages are shown in (docs/configuration.md)."""
Level = Annotated[int, Field(ge=0, le=100)]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _compiles(value: str) -> str:
    """A regular expression that compiles, or a ValueError saying why not."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from exc
    return value


class Role(StrEnum):
    """What a user may do; each role includes the ones before it."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return ROLE_ORDER.index(self)


ROLE_ORDER = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)

WEBHOOK_EVENTS = (
    "call.offered", "call.answered", "call.ended", "call.progress", "call.wrapped_up",
    "callback.requested",
    "callback.due", "operator.state_changed", "queue.updated", "recording.stored",
    "voicemail.left", "security.alert", "campaign.attempt", "campaign.contact_closed",
    "campaign.status_changed", "*",
)


class Spec(BaseModel):
    """A configuration record; unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")
    key_field: ClassVar[str] = "name"
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    write_only_fields: ClassVar[frozenset[str]] = frozenset()
    read_only_fields: ClassVar[frozenset[str]] = frozenset()

    @property
    def key(self) -> str:
        return str(getattr(self, self.key_field))


ReasonCode = Annotated[str, StringConstraints(min_length=1, max_length=64)]
DEFAULT_REASON_CODES = ("break", "lunch", "training", "paperwork", "meeting")
"""The not-ready reasons a new site offers its operators."""


class CrmLookupSpec(BaseModel):
    """Where the desk looks up a caller Parley does not know: an HTTP GET (or POST of
    ``{"number": ...}``) answering JSON, usually the same CRM source an IVR ``lookup`` node
    calls. ``${number}`` in ``url`` is the caller's number in E.164. ``path``: the dotted
    path to the customer in the answer ("" for the answer itself; a list gives its first
    item). ``name`` and ``status``: the customer's keys holding those; ``fields``: the keys
    shown as card fields (none given: every other plain value of the customer)."""

    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=1000)]
    method: Literal["GET", "POST"] = "GET"
    headers: dict[Annotated[str, StringConstraints(min_length=1, max_length=100)],
                  Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=dict)
    timeout: Annotated[float, Field(gt=0, le=10)] = 2.0
    path: Annotated[str, StringConstraints(max_length=200)] = ""
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "name"
    status: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "status"
    fields: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None = None


class SiteSpec(Spec):
    """The site: its name, its time zone (queues' opening hours unless a queue names its own)
    and its SIP realm.

    ``ready_on_register``: operators (users with the agent role and an extension) are logged
    in and ready when their phone registers and logged out when it unregisters or its
    registration expires; a device with a static contact counts as registered from the start.
    ``reason_codes``: the reasons an operator may give for being not ready.
    ``default_region``: the country (ISO 3166 code, ``RU``) of numbers written without a
    country code; numbers are normalised to E.164 with it. ``outside_line``: how far the
    users of each role may call outside (a user's own ``outside_line`` wins);
    ``blocked_destinations``: patterns of E.164 numbers nobody may call out to.
    ``crm_lookup``: where the desk's card finds callers unknown to Parley
    (:class:`CrmLookupSpec`). ``short_abandon_s``: a caller who hangs up after waiting at
    most this many seconds in a queue is a short abandon in the reports (docs/reports.md).
    ``agents_hear_recordings``: which call recordings operators may play in the desk's
    contact history: those of calls they handled themselves (``own``), ``all``, or
    ``none``; supervisors and admins hear every recording.
    """

    key_field: ClassVar[str] = "name"
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "Parley"
    time_zone: str = "UTC"
    sip_realm: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")] \
        = "parley"
    ready_on_register: bool = False
    reason_codes: Annotated[list[ReasonCode], Field(min_length=1, max_length=100)] = Field(
        default_factory=lambda: list(DEFAULT_REASON_CODES))
    default_region: str | None = None
    outside_line: dict[Role, LineRight] = Field(
        default_factory=lambda: dict(DEFAULT_OUTSIDE_LINE))
    blocked_destinations: list[Pattern] = Field(default_factory=list)
    crm_lookup: CrmLookupSpec | None = None
    short_abandon_s: Annotated[int, Field(ge=0, le=600)] = 5
    agents_hear_recordings: Literal["own", "all", "none"] = "own"

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not valid_region(value):
            raise ValueError(f"unknown region {value!r}; use a two-letter country code such "
                             "as 'RU' or 'GB'")
        return value.upper()

    @field_validator("blocked_destinations")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for index, pattern in enumerate(value):
            try:
                _compiles(pattern)
            except ValueError as exc:
                raise ValueError(f"[{index}] {pattern!r}: {exc}") from exc
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _known_zone(value)

    @field_validator("reason_codes")
    @classmethod
    def _distinct_reasons(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a reason code is listed twice")
        for reserved, why in ((MISSED_CALL_REASON, "an operator who missed calls"),
                              (PERSONAL_CALL_REASON, "an operator on a call no queue gave")):
            if reserved in value:
                raise ValueError(f"{reserved!r} is set by Parley itself ({why}); choose "
                                 "another name")
        return value


MISSED_CALL_REASON = "missed call"
PERSONAL_CALL_REASON = "personal call"
DEFAULT_OUTSIDE_LINE: dict[Role, LineRight] = {
    Role.AGENT: LineRight.NATIONAL, Role.SUPERVISOR: LineRight.NATIONAL,
    Role.ADMIN: LineRight.NATIONAL}
"""Outside-line rights of a site that names none: every role calls national numbers."""


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as "
                         "'Europe/Berlin'") from exc
    return value


class SkillSpec(Spec):
    name: Name
    description: Text = ""


class TeamSpec(Spec):
    name: Name
    description: Text = ""


class UserSpec(Spec):
    """A person who logs in: operator (agent), supervisor or admin.

    ``outside_line``: how far the user may call outside numbers (None: as their roles allow,
    ``site.outside_line``); ``caller_id``: the number shown when they call out;
    ``location``: where they work, ``remote`` or a named site (None: not set)."""

    key_field: ClassVar[str] = "username"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password", "password_hash"})
    write_only_fields: ClassVar[frozenset[str]] = frozenset({"password"})
    username: Name
    display_name: Text = ""
    roles: Annotated[list[Role], Field(min_length=1)] = Field(
        default_factory=lambda: [Role.AGENT])
    extension: PhoneNumber | None = None
    active: bool = True
    language: Language | None = None  # the pages' language (None: the site's)
    skills: dict[Name, Level] = Field(default_factory=dict)
    teams: list[Name] = Field(default_factory=list)
    password: Annotated[str, StringConstraints(min_length=6, max_length=200)] | None = None
    password_hash: Annotated[str, StringConstraints(pattern=r"^\$argon2(id|i|d)\$")] | None \
        = None
    outside_line: LineRight | None = None
    caller_id: PhoneNumber | None = None
    #: where the user works: ``remote`` or a named site (reports' working time by location)
    location: Name | None = None

    @field_validator("roles")
    @classmethod
    def _sorted_roles(cls, value: list[Role]) -> list[Role]:
        return sorted(set(value), key=lambda role: role.rank)

    @field_validator("teams")
    @classmethod
    def _sorted_teams(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class DeviceSpec(Spec):
    """A SIP device. Credentials are kept as HA1 digests for the realm, never in plaintext."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({"sip_password", "ha1_md5",
                                                          "ha1_sha256"})
    write_only_fields: ClassVar[frozenset[str]] = frozenset({"sip_password"})
    name: Name
    user: Name | None = None
    realm: Annotated[str, StringConstraints(max_length=200)] | None = None
    sip_password: Annotated[str, StringConstraints(min_length=4, max_length=200)] | None = None
    ha1_md5: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    ha1_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    static_contact: Annotated[str, StringConstraints(pattern=r"^sips?:\S+$",
                                                     max_length=500)] | None = None


_HHMM = r"([01][0-9]|2[0-3]):[0-5][0-9]"
Period = Annotated[str, StringConstraints(pattern=rf"^{_HHMM}-({_HHMM}|24:00)$")]
Target = Annotated[str, StringConstraints(
    pattern=r"^(queue:[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}|voicemail(:[A-Za-z0-9][A-Za-z0-9_.@-]"
            r"{0,63})?|callback|flow:[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}|hangup)$")]
"""Where an overflowing caller goes: ``queue:NAME``, ``voicemail`` (the queue's box) or
``voicemail:BOX``, ``callback`` (keeps the place, calls back), ``flow:NAME``, ``hangup``."""


class OpeningHours(BaseModel):
    """When a queue is open: periods per weekday (``"08:00-12:00"``; a day not listed is
    closed) and holidays (closed all day), in ``timezone`` (default: the site's)."""

    model_config = ConfigDict(extra="forbid")
    timezone: str | None = None
    mon: list[Period] | None = None
    tue: list[Period] | None = None
    wed: list[Period] | None = None
    thu: list[Period] | None = None
    fri: list[Period] | None = None
    sat: list[Period] | None = None
    sun: list[Period] | None = None
    holidays: list[date] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else _known_zone(value)

    @field_validator("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    @classmethod
    def _opens_before_closing(cls, value: list[str] | None) -> list[str] | None:
        for period in value or []:
            start, end = period.split("-")
            if end <= start:
                raise ValueError(f"{period!r} closes before it opens")
        return value

    @field_validator("holidays")
    @classmethod
    def _sorted_holidays(cls, value: list[date] | None) -> list[date] | None:
        return None if value is None else sorted(set(value))


class OverflowRule(BaseModel):
    """Send a caller elsewhere ``when``: the queue is ``closed`` (outside its hours), has
    ``no_agents`` logged in, the caller has waited ``threshold`` seconds (``wait``), the
    expected wait on arrival exceeds ``threshold`` seconds (``expected_wait``), or
    ``threshold`` callers or more already wait (``length``)."""

    model_config = ConfigDict(extra="forbid")
    when: Literal["closed", "no_agents", "wait", "expected_wait", "length"]
    threshold: Annotated[int, Field(ge=1, le=86400)] | None = None
    target: Target

    @model_validator(mode="after")
    def _threshold_fits(self) -> OverflowRule:
        if self.when in ("wait", "expected_wait", "length") and self.threshold is None:
            raise ValueError(f"a rule 'when: {self.when}' needs a threshold")
        if self.when in ("closed", "no_agents") and self.threshold is not None:
            raise ValueError(f"a rule 'when: {self.when}' takes no threshold")
        return self


class RelaxStep(BaseModel):
    """From ``after_s`` seconds of waiting on, operators whose level on the queue's skills is
    ``min_level`` or more may take the call (skills-based queues)."""

    model_config = ConfigDict(extra="forbid")
    after_s: Annotated[int, Field(ge=0, le=86400)]
    min_level: Annotated[int, Field(ge=1, le=100)]


class QueueThresholds(BaseModel):
    """Where a queue's live figure turns red on the supervisor console and the wallboard and
    raises an alert: more than ``waiting`` callers waiting, a caller waiting longer than
    ``longest_wait_s``, an expected wait over ``expected_wait_s``, a service level below
    ``service_level`` (a share, 0.8 for 80 %), an abandon rate above ``abandon_rate`` (a
    share). A threshold left out is never raised."""

    model_config = ConfigDict(extra="forbid")
    waiting: Annotated[int, Field(ge=0, le=100000)] | None = None
    longest_wait_s: Annotated[int, Field(ge=1, le=86400)] | None = None
    expected_wait_s: Annotated[int, Field(ge=1, le=86400)] | None = None
    service_level: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    abandon_rate: Annotated[float, Field(ge=0.0, le=1.0)] | None = None


class QueueSpec(Spec):
    """A queue of waiting callers and the operators who serve it, with its call handling.

    ``members`` and every operator of ``teams`` serve the queue (and so does anyone with the
    ``required_skills``, when some are set); ``fixed_order`` offers calls to the members in
    the order listed. ``max_length``: callers beyond it, and callers who waited
    ``max_wait_s``, go to ``overflow_target``. ``hours`` with an ``overflow`` rule
    ``when: closed`` say where callers go while the queue is closed; ``relax`` widens a
    skills-based queue to lower levels as a caller waits.

    ``recording``: record conversations of this queue ("all"), none, or when the operator asks
    ("on_demand"). ``ring_timeout_s``: how long an operator's phone rings before the call is
    offered to the next operator. ``announce_every_s``: how often a waiting caller hears the
    position and expected wait (0: never). ``callback_offer_s``: when the expected wait is over
    this, the caller is offered "press 1 to be called back" (None: never). ``music``: the
    hold music class callers hear while waiting. ``language``: the language of the
    announcements for callers whose language no number or flow chose (None: the site's).
    ``caller_id``: the number shown on calls
    the queue places to customers (callbacks), unless the user has their own.
    ``script``: the dialog script its operators follow (docs/scripts.md);
    ``result_codes``: the list of result codes they close its calls with (None: the built-in
    codes, one per disposition). ``thresholds``: the figures that colour a cell and raise
    an alert on the supervisor console and the wallboard (:class:`QueueThresholds`).
    """

    name: Name
    description: Text = ""
    strategy: Literal["longest_idle", "round_robin", "ring_all", "fewest_calls", "random",
                      "skills_based", "fixed_order"] = "longest_idle"
    priority: Annotated[int, Field(ge=0, le=100)] = 0
    max_wait_s: Annotated[int, Field(ge=1, le=86400)] = 600
    max_length: Annotated[int, Field(ge=1, le=100000)] | None = None
    overflow_target: Target = "hangup"
    wrap_up_s: Annotated[int, Field(ge=0, le=3600)] = 10
    service_level_s: Annotated[int, Field(ge=1, le=3600)] = 20
    required_skills: dict[Name, Level] = Field(default_factory=dict)
    members: list[Name] = Field(default_factory=list)
    teams: list[Name] = Field(default_factory=list)
    hours: OpeningHours | None = None
    overflow: list[OverflowRule] = Field(default_factory=list)
    relax: list[RelaxStep] = Field(default_factory=list)
    recording: Literal["all", "none", "on_demand"] = "none"
    ring_timeout_s: Annotated[int, Field(ge=1, le=300)] = 15
    announce_every_s: Annotated[int, Field(ge=0, le=3600)] = 30
    callback_offer_s: Annotated[int, Field(ge=1, le=86400)] | None = None
    music: Name = "default"
    language: Language | None = None
    caller_id: PhoneNumber | None = None
    script: Name | None = None
    result_codes: Name | None = None
    thresholds: QueueThresholds = Field(default_factory=QueueThresholds)

    @field_validator("members")
    @classmethod
    def _distinct_members(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # the order is the fixed order: keep it

    @field_validator("teams")
    @classmethod
    def _sorted_teams(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @field_validator("relax")
    @classmethod
    def _widening(cls, value: list[RelaxStep]) -> list[RelaxStep]:
        for before, after in itertools.pairwise(value):
            if after.after_s <= before.after_s:
                raise ValueError("steps must come in order of after_s, each later than the one "
                                 "before")
            if after.min_level >= before.min_level:
                raise ValueError("each step must lower min_level (relaxing widens the "
                                 "operators who may answer)")
        return value

    @field_validator("announce_every_s")
    @classmethod
    def _announce_interval(cls, value: int) -> int:
        if 0 < value < MIN_ANNOUNCE_INTERVAL_S:
            raise ValueError(f"announce every {MIN_ANNOUNCE_INTERVAL_S} seconds or more, or "
                             "0 for no announcements")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> QueueSpec:
        closed = any(rule.when == "closed" for rule in self.overflow)
        if self.hours is not None and not closed:
            raise ValueError("hours: a queue with opening hours needs an overflow rule "
                             "'when: closed' saying where callers go while it is closed")
        if closed and self.hours is None:
            raise ValueError("overflow: a rule 'when: closed' needs the queue's hours")
        if self.relax and self.strategy != "skills_based":
            raise ValueError("relax: skill relaxing applies to the skills_based strategy only")
        if self.relax and not self.required_skills:
            raise ValueError("relax: skill relaxing needs required_skills")
        for index, rule in enumerate(self.overflow):
            if rule.target == f"queue:{self.name}":
                raise ValueError(f"overflow[{index}].target: a queue cannot overflow to itself")
        if self.overflow_target == f"queue:{self.name}":
            raise ValueError("overflow_target: a queue cannot overflow to itself")
        return self


MIN_ANNOUNCE_INTERVAL_S = 10
"""The shortest interval between position announcements (a caller must hear the music)."""


class FlowSpec(Spec):
    """A call flow; every change of its definition is kept as a new version."""

    read_only_fields: ClassVar[frozenset[str]] = frozenset({"version"})
    name: Name
    description: Text = ""
    definition: dict[str, Any] = Field(default_factory=dict)
    version: int | None = None


class NumberSpec(Spec):
    """A dialled number (DID) and the flow, by name, that answers it; ``language``: the
    caller's language on this number (None: the flow's or the site's)."""

    key_field: ClassVar[str] = "number"
    number: PhoneNumber
    flow: Name
    description: Text = ""
    language: Language | None = None


LATER_LIST_KINDS = {
    "allow": "allow lists (only listed callers get through) are not supported yet",
    "do_not_call": "do-not-call lists have their own section, do_not_call, which every "
                   "campaign honours",
    "contacts": "contacts are added to a campaign over the API "
                "(POST /api/campaigns/{name}/contacts, JSON or CSV)",
}


class NumberListSpec(Spec):
    """Numbers the site treats alike: ``block`` (callers are rejected), ``vip`` (their calls
    jump the line by ``priority``) or ``tag`` (flows ask whether a caller is in the list).
    Every list also tags its numbers with its name, for flows."""

    name: Name
    kind: Literal["block", "vip", "tag"] = "block"
    priority: Annotated[int, Field(ge=1, le=100)] | None = None
    description: Text = ""
    numbers: list[PhoneNumber] = Field(default_factory=list)

    @field_validator("kind", mode="before")
    @classmethod
    def _supported_kind(cls, value: Any) -> Any:
        if isinstance(value, str) and value in LATER_LIST_KINDS:
            hint = "" if value != "allow" else "; use kind 'tag' to keep the numbers for flows"
            raise ValueError(f"{LATER_LIST_KINDS[value]}{hint}")
        return value

    @model_validator(mode="after")
    def _priority_for_vips(self) -> NumberListSpec:
        if self.priority is not None and self.kind != "vip":
            raise ValueError("priority: only a 'vip' list raises its callers' priority")
        return self

    @field_validator("numbers")
    @classmethod
    def _sorted_numbers(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class CallerIdRule(BaseModel):
    """Rewrite the outbound caller ID: a regular expression and its replacement."""

    model_config = ConfigDict(extra="forbid")
    match: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    replace: Annotated[str, StringConstraints(max_length=64)]

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _compiles(value)


FilePath = Annotated[str, StringConstraints(min_length=1, max_length=500,
                                            pattern=r"^[^\x00-\x1f]+$")]


class TrunkSpec(Spec):
    """A carrier's trunk: ``kind`` register (Parley registers ``username``/``password`` at
    the carrier and answers its digest challenges) or peer (trusted by source address).

    ``auth`` is the older name of the same choice (credentials = register, ip = peer): either
    may be given, both only when they agree. Inbound calls are accepted from ``allowed_ips``
    (default: the addresses ``host`` resolves to). ``max_channels`` bounds calls in progress
    both ways, ``max_cps`` new outbound calls per second; ``codecs`` (empty: all Parley
    speaks) and ``dtmf_mode`` shape the media; ``options_interval`` (0: off) is how often the
    carrier is asked OPTIONS to see that it still answers. Outbound routes
    (:class:`RouteSpec`) name the trunks that carry their calls; ``number_format``, ``strip``
    and ``prepend`` give the called number as this trunk wants it."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})
    name: Name
    host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,199}$")]
    port: Annotated[int, Field(ge=1, le=65535)] = 5060
    transport: Literal["udp", "tcp", "tls"] = "udp"
    kind: Literal["register", "peer"] = "register"
    auth: Literal["credentials", "ip"] = "credentials"
    username: Annotated[str, StringConstraints(max_length=100)] | None = None
    password: Annotated[str, StringConstraints(max_length=200)] | None = None
    allowed_ips: list[str] = Field(default_factory=list)
    caller_id: PhoneNumber | None = None
    caller_id_rules: list[CallerIdRule] = Field(default_factory=list)
    max_channels: Annotated[int, Field(ge=1, le=100000)] = 30
    max_cps: Annotated[float, Field(gt=0, le=10000)] | None = None
    codecs: list[Literal["PCMU", "PCMA"]] = Field(default_factory=list)
    dtmf_mode: Literal["rfc4733", "info"] = "rfc4733"
    expires: Annotated[int, Field(ge=30, le=86400)] = 600
    options_interval: Annotated[int, Field(ge=0, le=3600)] = 30
    #: the called number as this trunk wants it: its form, then leading characters dropped
    #: and a prefix put in front
    number_format: NumberFormat = NumberFormat.E164
    strip: Annotated[int, Field(ge=0, le=20)] = 0
    prepend: Annotated[str, StringConstraints(pattern=r"^[0-9*#+]{0,32}$")] = ""
    #: transport tls: ``sips:`` URIs where the carrier asks for them; the CAs that sign the
    #: carrier's certificate (PEM; default the system's); a client certificate and its key
    #: (PEM) for a carrier that asks for one
    sips: bool = False
    tls_ca_file: FilePath | None = None
    tls_cert_file: FilePath | None = None
    tls_key_file: FilePath | None = None
    #: SRTP keyed by SDES (RFC 4568, a=crypto) toward the carrier: off (plain RTP; its
    #: RTP/SAVP offers refused), offer (offered on outbound calls, taken when it offers it,
    #: plain RTP still accepted), require (plain RTP refused both ways)
    srtp: Literal["off", "offer", "require"] = "off"

    @field_validator("allowed_ips")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or network") from exc
        return value

    @model_validator(mode="before")
    @classmethod
    def _kind_and_auth_agree(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind, auth = data.get("kind"), data.get("auth")
        implied = {"credentials": "register", "ip": "peer"}
        if kind is not None and auth is not None and implied.get(auth) != kind:
            raise ValueError(f"kind {kind!r} and auth {auth!r} disagree (kind register goes "
                             "with auth credentials, peer with ip); give only kind")
        if kind is None and auth in implied:
            data = {**data, "kind": implied[auth]}
        elif auth is None and kind in ("register", "peer"):
            data = {**data, "auth": "credentials" if kind == "register" else "ip"}
        return data

    @model_validator(mode="after")
    def _auth_complete(self) -> TrunkSpec:
        if self.kind == "register" and not self.username:
            raise ValueError("a trunk of kind register needs a username (and its password)")
        if self.transport != "tls":
            given = [name for name in ("sips", "tls_ca_file", "tls_cert_file", "tls_key_file")
                     if getattr(self, name)]
            if given:
                raise ValueError(f"{', '.join(given)} need transport tls")
        if self.tls_key_file and not self.tls_cert_file:
            raise ValueError("tls_key_file needs tls_cert_file (the client certificate)")
        return self


class InboundSpec(Spec):
    """Where the dialled number of a trunk's inbound calls is read: the Request-URI, the
    ``To`` header or a header of the carrier's own (``header:X-Called``)."""

    key_field: ClassVar[str] = "trunk"
    trunk: Name
    number_from: Annotated[str, StringConstraints(
        pattern=r"^(request_uri|to|header:[A-Za-z0-9!%'*+.^_`|~-]{1,64})$")] = "request_uri"
class RouteSpec(Spec):
    """An outbound route: outside numbers matching ``match`` (a regular expression on the
    E.164 number) go out through ``trunks``, tried in order. Routes are tried in order of
    ``position`` (by default their place in the document; added over the API: last); the
    first that matches carries the call. ``caller_id`` is shown unless the user, campaign or
    queue has one; ``caller_id_rules`` rewrite the caller ID last (before the trunk's)."""

    name: Name
    description: Text = ""
    match: Pattern
    trunks: Annotated[list[Name], Field(min_length=1)]
    caller_id: PhoneNumber | None = None
    caller_id_rules: list[CallerIdRule] = Field(default_factory=list)
    position: Annotated[int, Field(ge=1, le=100000)] | None = None

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _compiles(value)

    @field_validator("trunks")
    @classmethod
    def _distinct_trunks(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a trunk is listed twice")
        return value


class WebhookSpec(Spec):
    """A subscription: events are POSTed to ``url``, signed with HMAC-SHA256 of ``secret``."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({"secret"})
    name: Name
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(/\S*)?$",
                                          max_length=1000)]
    events: Annotated[list[str], Field(min_length=1)]
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)]
    active: bool = True

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in WEBHOOK_EVENTS:
                raise ValueError(f"unknown event {name!r}; known: {', '.join(WEBHOOK_EVENTS)}")
        return sorted(set(value))


Duration = Annotated[str | float, Field(union_mode="left_to_right")]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def seconds(value: str | float) -> float:
    """A duration as seconds: a number of seconds, or text like ``90s``, ``15m``, ``2h``,
    ``30d``; a ValueError says how to write it."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{value}: a duration must not be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"{value!r}: write a duration as seconds or like 90s, 15m, 2h, 30d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _duration(value: Any) -> str | float:
    seconds(value)
    return value if isinstance(value, str) else float(value)


NumberKind = Literal["mobile", "home", "work"]
_DEFAULT_ORDER: tuple[NumberKind, ...] = ("mobile", "home", "work")
RetryOutcome = Literal["busy", "no_answer", "machine", "abandoned", "failed"]
WindowText = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class NumberStrategySpec(BaseModel):
    """Which numbers of a contact to try and how often: ``order`` of number types,
    ``attempts_per_number`` (per number type; a contact's numbers of one type share it) and
    ``attempts_per_contact`` (all numbers together)."""

    model_config = ConfigDict(extra="forbid")
    order: Annotated[list[NumberKind], Field(min_length=1, max_length=3)] = Field(
        default_factory=lambda: list(_DEFAULT_ORDER))
    attempts_per_number: Annotated[int, Field(ge=1, le=100)] | dict[
        NumberKind, Annotated[int, Field(ge=1, le=100)]] | None = None
    attempts_per_contact: Annotated[int, Field(ge=1, le=100)] = 6

    @field_validator("order")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("list each number type once")
        return value


class AbandonSpec(BaseModel):
    """The abandon-rate cap, the window it is measured over, and what it is a share of."""

    model_config = ConfigDict(extra="forbid")
    cap: Annotated[float, Field(gt=0, lt=1)] = 0.03
    window: Duration = "30d"
    definition: Literal["live_answers", "all_answers", "dials"] = "live_answers"

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        return _duration(value)


class CampaignSpec(Spec):
    """An outbound campaign (docs/dialer.md, "Campaigns in the provisioning file").

    ``active``: the wanted state (true: it should run); a supervisor's pause is runtime state
    kept apart, so importing the same document again does not undo it. ``call_window``:
    ``any``, one window (``08:00-21:00``, the default), a list of windows, or windows per
    number type (``{mobile: ..., work: ...}``), all in the called party's local time.
    """

    name: Name
    description: Text = ""
    mode: Literal["preview", "progressive", "predictive", "agentless"]
    queue: Name | None = None
    teams: list[Name] = Field(default_factory=list)
    agents: list[Name] = Field(default_factory=list)
    script: Name | None = None
    result_codes: Name | None = None  # a result code list (None: one code per disposition)
    caller_id: PhoneNumber
    message: Annotated[str, StringConstraints(max_length=2000)] = ""
    call_window: WindowText | list[WindowText] | dict[
        NumberKind, WindowText | list[WindowText]] = "08:00-21:00"
    holidays: list[date] = Field(default_factory=list)
    time_zone: str | None = None
    region: str | None = None
    numbers: NumberStrategySpec = Field(default_factory=NumberStrategySpec)
    retry: dict[RetryOutcome, Duration] = Field(default_factory=dict)
    abandon: AbandonSpec = Field(default_factory=AbandonSpec)
    machine: Literal["drop", "message", "operator"] = "drop"
    machine_message: Annotated[str, StringConstraints(max_length=2000)] = ""
    detect_machine: bool = True
    compliance_message: Annotated[str, StringConstraints(max_length=2000)] = ""
    ring_timeout_s: Annotated[int, Field(ge=5, le=300)] = 25
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 0
    max_lines: Annotated[int, Field(ge=1, le=100_000)] | None = None
    #: a contact of this campaign who calls in reaches the operator with the task's card, and
    #: the task closes ("answered_inbound") when an operator answers (docs/dialer.md)
    match_inbound: bool = True
    active: bool = True

    @model_validator(mode="before")
    @classmethod
    def _one_team(cls, data: Any) -> Any:
        """``team: sales`` is read as ``teams: [sales]``."""
        if isinstance(data, dict) and "team" in data:
            data = dict(data)
            team = data.pop("team")
            data["teams"] = [*data.get("teams", []), *([team] if team else [])]
        return data

    @field_validator("retry", mode="before")
    @classmethod
    def _retry(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for outcome, delay in value.items():
                try:
                    _duration(delay)
                except ValueError as exc:
                    raise ValueError(f"{outcome}: {exc}") from exc
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _known_zone(value)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not valid_region(value):
            raise ValueError(f"unknown region {value!r}; use a two-letter country code such "
                             "as 'RU' or 'GB'")
        return None if value is None else value.upper()

    @model_validator(mode="after")
    def _dialer_accepts(self) -> CampaignSpec:
        from parley.dialer.model import DialerError
        from parley.store.campaign_config import campaign_config  # the dialer's own checks

        problem = ""
        if self.mode == "agentless" and self.queue is None:
            problem = "queue: an agentless campaign needs the queue that \"press 1\" reaches"
        elif self.mode == "agentless" and not self.message:
            problem = "message: an agentless campaign needs the message it plays"
        elif self.mode != "agentless" and self.queue is None and not (self.teams
                                                                       or self.agents):
            problem = "queue: name the queue, teams or agents whose operators take the calls"
        elif self.machine == "message" and not (self.machine_message or self.message):
            problem = ("machine_message: the 'message' machine policy needs the message to "
                       "leave after the beep")
        else:
            try:
                campaign_config(self, default_region=self.region or "US",
                                default_time_zone=self.time_zone or "UTC")
            except DialerError as exc:
                problem = str(exc).removeprefix(f"campaign {self.name}: ")
        if problem:
            raise ValueError(f"campaign {self.name!r}: {problem}")
        return self


PlusNumber = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{5,15}$")]


class DoNotCallSpec(Spec):
    """A do-not-call list of E.164 numbers. Every campaign honours every list when it dials
    (``global`` is the site's own, where a "do not call" disposition adds the number).

    ``numbers`` are the list as provisioned: a re-import replaces them. ``opt_outs`` are the
    numbers whose owners asked not to be called (a "do not call" disposition adds them while
    the site runs): an import only adds to them and never removes one, so re-importing a
    file written before a customer opted out does not call that customer again."""

    name: Name
    description: Text = ""
    numbers: list[PlusNumber] = Field(default_factory=list)
    opt_outs: list[PlusNumber] = Field(default_factory=list)

    @field_validator("numbers", "opt_outs")
    @classmethod
    def _sorted_numbers(cls, value: list[str]) -> list[str]:
        return sorted(set(value))
class ScriptSpec(Spec):
    """A dialog script (docs/scripts.md): blocks of fields the operator fills in during a
    call, with hints, objection handling, ``required`` and ``show_if`` branching. The
    definition is checked by :func:`parley.scripts.parse_script`, whose error carries the
    path of the field at fault."""

    name: Name
    title: Text = ""
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    blocks: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid_script(self) -> ScriptSpec:
        parse_script(self.definition(), self.name)  # raises ScriptError (a ValueError)
        return self

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description,
                "blocks": self.blocks}

    def script(self) -> Script:
        """The parsed script (valid: checked when the spec was made)."""
        return parse_script(self.definition(), self.name)


class ScorecardSpec(Spec):
    """A quality scorecard (docs/quality.md): weighted criteria scored from a call's script
    answers and facts, or marked by a reviewer, for the calls of ``queues``, ``campaigns``
    or ``scripts`` (none named: every call with a wrap-up). The criteria are checked by
    :func:`parley.qa.scoring.parse_scorecard`, whose error names the criterion and key."""

    name: Name
    title: Text = ""
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    queues: list[Name] = Field(default_factory=list)
    campaigns: list[Name] = Field(default_factory=list)
    scripts: list[Name] = Field(default_factory=list)
    criteria: Annotated[list[dict[str, Any]], Field(max_length=100)] = Field(
        default_factory=list)

    @model_validator(mode="after")
    def _valid_scorecard(self) -> ScorecardSpec:
        self.scorecard()  # raises QualityError (a ValueError) naming the criterion
        return self

    def scorecard(self) -> Scorecard:
        """The parsed scorecard."""
        return parse_scorecard(self.name, self.title, self.criteria, queues=self.queues,
                               campaigns=self.campaigns, scripts=self.scripts)


ResultCodeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class ResultCode(BaseModel):
    """One way an operator closes a call: ``code`` (stored and reported), ``label`` (what
    the operator picks) and the dialer ``disposition`` it means (what happens to a campaign's
    contact next; for inbound calls, how reports group it)."""

    model_config = ConfigDict(extra="forbid")
    code: ResultCodeName
    label: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    disposition: Disposition


class ResultCodesSpec(Spec):
    """A named list of result codes; queues (and campaigns) name the list they close calls
    with (``result_codes: <name>``), so that queues that work alike share one list."""

    name: Name
    description: Text = ""
    codes: Annotated[list[ResultCode], Field(min_length=1, max_length=200)]

    @field_validator("codes")
    @classmethod
    def _distinct_codes(cls, value: list[ResultCode]) -> list[ResultCode]:
        seen: set[str] = set()
        for index, item in enumerate(value):
            if item.code in seen:
                raise ValueError(f"[{index}].code: the code {item.code!r} is listed twice")
            seen.add(item.code)
        return value


DEFAULT_RESULT_CODES = tuple(
    ResultCode(code=str(disposition), label=str(disposition).replace("_", " ").capitalize(),
               disposition=disposition) for disposition in Disposition)
"""The result codes of a queue or campaign that names no list: one per disposition."""


NOT_YET: dict[str, str] = {}
"""Kinds that are stored but do nothing yet: writing a new or changed record is refused with
this message, so that nobody configures something that silently does nothing."""


KINDS: dict[str, type[Spec]] = {
    "skills": SkillSpec,
    "teams": TeamSpec,
    "users": UserSpec,
    "devices": DeviceSpec,
    "scripts": ScriptSpec,
    "result_codes": ResultCodesSpec,
    "scorecards": ScorecardSpec,
    "queues": QueueSpec,
    "flows": FlowSpec,
    "numbers": NumberSpec,
    "number_lists": NumberListSpec,
    "trunks": TrunkSpec,
    "inbound": InboundSpec,
    "routes": RouteSpec,
    "webhooks": WebhookSpec,
    "do_not_call": DoNotCallSpec,
    "campaigns": CampaignSpec,
}
"""Every kind of configuration record, in the order an import applies them."""


class ConfigDocument(BaseModel):
    """The whole configuration of a site as one document (the provisioning YAML)."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    site: SiteSpec | None = None
    skills: list[SkillSpec] = Field(default_factory=list)
    teams: list[TeamSpec] = Field(default_factory=list)
    users: list[UserSpec] = Field(default_factory=list)
    devices: list[DeviceSpec] = Field(default_factory=list)
    scripts: list[ScriptSpec] = Field(default_factory=list)
    result_codes: list[ResultCodesSpec] = Field(default_factory=list)
    scorecards: list[ScorecardSpec] = Field(default_factory=list)
    queues: list[QueueSpec] = Field(default_factory=list)
    flows: list[FlowSpec] = Field(default_factory=list)
    numbers: list[NumberSpec] = Field(default_factory=list)
    number_lists: list[NumberListSpec] = Field(default_factory=list)
    trunks: list[TrunkSpec] = Field(default_factory=list)
    inbound: list[InboundSpec] = Field(default_factory=list)
    routes: list[RouteSpec] = Field(default_factory=list)
    webhooks: list[WebhookSpec] = Field(default_factory=list)
    do_not_call: list[DoNotCallSpec] = Field(default_factory=list)
    campaigns: list[CampaignSpec] = Field(default_factory=list)
    #: The site's table of number ranges to regions and zones: a CSV file, relative to the
    #: provisioning file (``parley import`` reads it; over the API, ``PUT /api/number_ranges``).
    number_ranges: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None

    @model_validator(mode="after")
    def _route_positions(self) -> ConfigDocument:
        """Routes without a position are tried in the order the document lists them."""
        for index, route in enumerate(self.routes):
            if route.position is None:
                route.position = index + 1
        return self

    def items(self, kind: str) -> list[Spec]:
        items: list[Spec] = getattr(self, kind)
        return items
