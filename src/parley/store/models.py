"""SQLAlchemy table models. Only ``store/`` imports this module; everyone else sees records.

Configuration tables hold current state keyed by a natural name; runtime tables (interactions,
legs, timeline, operator state log, deliveries, audit) are append-mostly event rows. Every
timestamp is stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a UTC-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# --- configuration ---------------------------------------------------------------------------


class Site(Base):
    __tablename__ = "site"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    time_zone: Mapped[str] = mapped_column(String(64))
    sip_realm: Mapped[str] = mapped_column(String(200))
    ready_on_register: Mapped[bool] = mapped_column(Boolean, default=False,
                                                    server_default=false())
    reason_codes: Mapped[list[Any] | None] = mapped_column(JSON)  # None: the defaults
    default_region: Mapped[str | None] = mapped_column(String(2))
    outside_line: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # None: the defaults
    blocked_destinations: Mapped[list[Any]] = mapped_column(JSON, default=list,
                                                            server_default="[]")
    crm_lookup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    short_abandon_s: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    agents_hear_recordings: Mapped[str] = mapped_column(String(8), default="own",
                                                        server_default="own")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    roles: Mapped[list[Any]] = mapped_column(JSON)
    extension: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str | None] = mapped_column(String(8))
    outside_line: Mapped[str | None] = mapped_column(String(16))  # None: the roles'
    caller_id: Mapped[str | None] = mapped_column(String(32))
    #: signs in through the directory (LDAP): no local password; roles and teams are set
    #: from the directory's groups at each sign-in
    directory: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    location: Mapped[str | None] = mapped_column(String(64))  # "remote" or a named site


class Skill(Base):
    __tablename__ = "skills"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")


class UserSkill(Base):
    __tablename__ = "user_skills"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="RESTRICT"),
                                          primary_key=True)
    level: Mapped[int] = mapped_column(Integer)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")


class TeamMember(Base):
    __tablename__ = "team_members"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"),
                                         primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)


class Device(Base):
    """A SIP device: digest credentials as HA1 hashes for the site realm, never plaintext."""

    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    realm: Mapped[str] = mapped_column(String(200))
    ha1_md5: Mapped[str | None] = mapped_column(String(32))
    ha1_sha256: Mapped[str | None] = mapped_column(String(64))
    static_contact: Mapped[str | None] = mapped_column(String(500))


class Queue(Base):
    __tablename__ = "queues"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    strategy: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    max_wait_s: Mapped[int] = mapped_column(Integer)
    wrap_up_s: Mapped[int] = mapped_column(Integer)
    required_skills: Mapped[dict[str, Any]] = mapped_column(JSON)
    service_level_s: Mapped[int] = mapped_column(Integer, default=20)
    recording: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=15, server_default="15")
    announce_every_s: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    callback_offer_s: Mapped[int | None] = mapped_column(Integer)
    music: Mapped[str] = mapped_column(String(64), default="default",
                                       server_default="default")
    language: Mapped[str | None] = mapped_column(String(8))
    max_length: Mapped[int | None] = mapped_column(Integer)
    overflow_target: Mapped[str] = mapped_column(String(100), default="hangup",
                                                 server_default="hangup")
    teams: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    overflow: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    relax: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    caller_id: Mapped[str | None] = mapped_column(String(32))
    script: Mapped[str | None] = mapped_column(String(64))  # a script's name
    result_codes: Mapped[str | None] = mapped_column(String(64))  # a result code list's name
    #: where the console and the wallboard raise an alert (QueueThresholds)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")


class Script(Base):
    """A dialog script; ``blocks`` is its definition as given (docs/scripts.md)."""

    __tablename__ = "scripts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    blocks: Mapped[list[Any]] = mapped_column(JSON)


class ResultCodeList(Base):
    """A named list of result codes, each mapped to a dialer disposition."""

    __tablename__ = "result_code_lists"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    codes: Mapped[list[Any]] = mapped_column(JSON)


class Scorecard(Base):
    """A quality scorecard; ``criteria`` is its definition as given (docs/quality.md)."""

    __tablename__ = "scorecards"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    queues: Mapped[list[Any]] = mapped_column(JSON)
    campaigns: Mapped[list[Any]] = mapped_column(JSON)
    scripts: Mapped[list[Any]] = mapped_column(JSON)
    criteria: Mapped[list[Any]] = mapped_column(JSON)


class QueueMember(Base):
    __tablename__ = "queue_members"
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"),
                                          primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    penalty: Mapped[int] = mapped_column(Integer, default=0)  # place in the member list


class Flow(Base):
    __tablename__ = "flows"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    current_version: Mapped[int] = mapped_column(Integer)


class FlowVersion(Base):
    """Every saved definition of a flow is kept; numbers run the flow's current version."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class Prompt(Base):
    """An uploaded or typed prompt, per language: the audio the library plays (8 kHz mono
    16-bit WAV) and the text a typed one speaks; each node keeps a copy on disk
    (parley.store.prompts)."""

    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("language", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64))
    audio: Mapped[bytes] = mapped_column(LargeBinary)
    text: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class Number(Base):
    """A dialled number (DID); it runs a flow, referenced by name."""

    __tablename__ = "numbers"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    flow: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str | None] = mapped_column(String(8))


class NumberList(Base):
    __tablename__ = "number_lists"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(500), default="")
    priority: Mapped[int | None] = mapped_column(Integer)  # vip lists


class NumberListEntry(Base):
    __tablename__ = "number_list_entries"
    list_id: Mapped[int] = mapped_column(ForeignKey("number_lists.id", ondelete="CASCADE"),
                                         primary_key=True)
    number: Mapped[str] = mapped_column(String(32), primary_key=True)


class Trunk(Base):
    """A carrier's trunk. Its password is kept because Parley answers the provider's digest
    challenge as a client; peer (IP-authenticated) trunks carry none."""

    __tablename__ = "trunks"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(String(200))
    port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8))
    auth: Mapped[str] = mapped_column(String(16))
    username: Mapped[str | None] = mapped_column(String(100))
    password: Mapped[str | None] = mapped_column(String(200))
    allowed_ips: Mapped[list[Any]] = mapped_column(JSON)
    caller_id: Mapped[str | None] = mapped_column(String(32))
    caller_id_rules: Mapped[list[Any]] = mapped_column(JSON)
    max_channels: Mapped[int] = mapped_column(Integer, default=30)
    kind: Mapped[str] = mapped_column(String(16), default="register")
    max_cps: Mapped[float | None] = mapped_column(Float)
    codecs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    dtmf_mode: Mapped[str] = mapped_column(String(16), default="rfc4733")
    expires: Mapped[int] = mapped_column(Integer, default=600)
    options_interval: Mapped[int] = mapped_column(Integer, default=30)
    number_format: Mapped[str] = mapped_column(String(16), default="e164",
                                               server_default="e164")
    strip: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    prepend: Mapped[str] = mapped_column(String(32), default="", server_default="")
    sips: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    tls_ca_file: Mapped[str | None] = mapped_column(String(500))
    tls_cert_file: Mapped[str | None] = mapped_column(String(500))
    tls_key_file: Mapped[str | None] = mapped_column(String(500))
    srtp: Mapped[str] = mapped_column(String(16), default="off", server_default="off")


class TrunkInbound(Base):
    """Where a trunk's inbound calls carry the dialled number (``inbound`` section)."""

    __tablename__ = "trunk_inbound"
    id: Mapped[int] = mapped_column(primary_key=True)
    trunk: Mapped[str] = mapped_column(String(64), unique=True)
    number_from: Mapped[str] = mapped_column(String(100), default="request_uri")


class Route(Base):
    """An outbound route; ``trunks`` are trunk names in the order they are tried."""

    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    match: Mapped[str] = mapped_column(String(200))
    trunks: Mapped[list[Any]] = mapped_column(JSON)
    caller_id: Mapped[str | None] = mapped_column(String(32))
    caller_id_rules: Mapped[list[Any]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer)


class Webhook(Base):
    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(1000))
    events: Mapped[list[Any]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# --- security --------------------------------------------------------------------------------


class ApiToken(Base):
    """A bearer token for integrations; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    """A browser session; the cookie holds a random token of which only the hash is stored."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


# --- runtime records -------------------------------------------------------------------------


class Interaction(Base):
    """One call record: from the first leg's creation to the last leg's hang-up."""

    __tablename__ = "interactions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16))
    caller: Mapped[str] = mapped_column(String(64), index=True)
    called: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str | None] = mapped_column(String(64), index=True)
    operator: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    queued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wait_s: Mapped[float | None] = mapped_column(Float)
    talk_s: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(32))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON)


class Wrapup(Base):
    """How the operator closed an interaction: the script, the result code (and the dialer
    disposition it meant then), notes, a callback time, and every answer as JSON (the form
    shown again). Saved again, the row is replaced; each save is in the audit log."""

    __tablename__ = "interaction_wrapups"
    interaction_id: Mapped[str] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True)
    script: Mapped[str | None] = mapped_column(String(64), index=True)
    result: Mapped[str] = mapped_column(String(64), index=True)
    disposition: Mapped[str] = mapped_column(String(32))
    notes: Mapped[str] = mapped_column(Text, default="")
    callback_at: Mapped[datetime | None]
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime] = mapped_column(index=True)
    saves: Mapped[int] = mapped_column(Integer, default=1)


class ScriptDraft(Base):
    """A call's script answers and notes as they stood when the operator handed the call on
    (a transfer, a consultation), before anyone closed it: the next operator's form shows
    them. Replaced by each hand-over; the wrap-up, once saved, takes precedence."""

    __tablename__ = "interaction_script_drafts"
    interaction_id: Mapped[str] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    notes: Mapped[str] = mapped_column(Text, default="")
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime]


class InteractionAnswer(Base):
    """One answer of a wrap-up, typed, for reports and quality scores to filter, group and
    sum in plain SQL on SQLite and PostgreSQL alike: one row per field, and one per ticked
    option of a checkboxes field."""

    __tablename__ = "interaction_answers"
    __table_args__ = (Index("ix_interaction_answers_script_field", "script", "field"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[str] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    script: Mapped[str] = mapped_column(String(64))
    block: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    text_value: Mapped[str | None] = mapped_column(Text)  # text, choice, one ticked option
    number_value: Mapped[float | None] = mapped_column(Float)
    date_value: Mapped[date | None] = mapped_column(Date)


class Leg(Base):
    __tablename__ = "legs"
    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[str] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(64), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str] = mapped_column(String(200))
    caller: Mapped[str] = mapped_column(String(64))
    called: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    trunk: Mapped[str | None] = mapped_column(String(64))  # the carrier's trunk it used
    sip_status: Mapped[int | None] = mapped_column(Integer)  # the final SIP status


class TimelineEvent(Base):
    __tablename__ = "timeline_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[str] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class OperatorStateEntry(Base):
    __tablename__ = "operator_state_log"
    __table_args__ = (Index("ix_operator_state_log_user_at", "username", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime]
    #: a wrap-up of a queue's call: that queue (its wrap-up seconds count in the queue's AHT)
    queue: Mapped[str | None] = mapped_column(String(64))
    #: a wrap-up: the call record it follows
    interaction_id: Mapped[str | None] = mapped_column(String(64))


class ReportInterval(Base):
    """The counters of one 15-minute interval for one queue, operator, trunk, number or
    campaign (:mod:`parley.reports.intervals`), kept up to date in the transaction that
    writes the raw records, and rebuilt from them by ``parley reports rebuild``."""

    __tablename__ = "report_intervals"
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    inbound: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    outbound: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    offered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    answered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    abandoned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    abandoned_short: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    answered_within: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    abandoned_within: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    wait_answered_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    wait_abandoned_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    talk_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    transfers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    live_answers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    machines: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    amd_human: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    amd_machine: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    amd_unknown: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    callbacks_requested: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    callbacks_completed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    wrap_up_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    overflowed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReportStateTime(Base):
    """Seconds one operator spent in one state (and reason) within one 15-minute interval,
    from the finished segments of the operator state log."""

    __tablename__ = "report_state_time"
    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    operator: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), primary_key=True)
    seconds: Mapped[float] = mapped_column(Float)


class JournalMark(Base):
    """How far a recorder has applied the node's event journal: written in the same
    transaction as the records, so that after a crash it neither applies an event twice nor
    skips one. ``replay_from`` is the first journal entry it must read again to rebuild what
    it keeps in memory (the calls still open). In a hot-standby cluster each node's
    recorders have marks of their own (``call records@node-a``): each node has its own
    journal."""

    __tablename__ = "journal_marks"
    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    applied_seq: Mapped[int] = mapped_column(BigInteger)
    replay_from: Mapped[int] = mapped_column(BigInteger)


class HaLease(Base):
    """The active/standby lease of one cluster of nodes (PostgreSQL only; docs/deployment.md,
    "Hot standby"): who holds it, its fencing token (raised by every acquisition), and when
    it lapses by the database's clock. ``previous_*``: the holder before the last
    acquisition and its last renewal (the takeover's duration is measured from it)."""

    __tablename__ = "ha_lease"
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), default="")
    token: Mapped[int] = mapped_column(BigInteger, default=0)
    acquired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    renewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    previous_holder: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_renewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class HaNode(Base):
    """A node of a hot-standby cluster that stands by, and when it last checked in (by the
    database's clock): a planned switch-over hands calls over only when one is there."""

    __tablename__ = "ha_nodes"
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SipBinding(Base):
    """A registered contact of an address of record, as the registrar holds it (UDP phones
    are restored from here after a restart or a takeover; docs/deployment.md)."""

    __tablename__ = "sip_bindings"
    __table_args__ = (Index("ix_sip_bindings_expires_at", "expires_at"),)
    aor: Mapped[str] = mapped_column(String(255), primary_key=True)
    contact_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    contact: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    q: Mapped[float] = mapped_column(Float, default=1.0)
    call_id: Mapped[str] = mapped_column(String(255), default="")
    cseq: Mapped[int] = mapped_column(BigInteger, default=0)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    transport: Mapped[str | None] = mapped_column(String(8), nullable=True)


class LiveCall(Base):
    """An answered two-party call the active node relays, with what another node needs to
    go on with it (both legs' dialogs, media ports and peers): a standby that takes over
    carries it on (docs/deployment.md, "Hot standby"). Removed when the call ends."""

    __tablename__ = "live_calls"
    bridge_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    interaction_id: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Recording(Base):
    __tablename__ = "recordings"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    interaction_id: Mapped[str | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), index=True)
    path: Mapped[str] = mapped_column(String(1000))
    media_type: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(index=True)
    duration_s: Mapped[float] = mapped_column(Float)
    #: gaps written as silence (recording paused): [{"start_s", "end_s", "by"}, …]
    pauses: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    #: when the retention sweep deleted the file (the record stays, the audio is gone)
    deleted_at: Mapped[datetime | None] = mapped_column(index=True)
    #: the stored file's size once compressed (None: an uncompressed WAV)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecordingRetention(Base):
    """How many days call recordings are kept: site-wide (``scope`` "") or for one queue's
    or campaign's calls (``scope`` "queue:sales", "campaign:spring")."""

    __tablename__ = "recording_retention"
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    keep_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class Voicemail(Base):
    __tablename__ = "voicemails"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(64), index=True)
    caller: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    path: Mapped[str] = mapped_column(String(1000))
    duration_s: Mapped[float] = mapped_column(Float)
    heard: Mapped[bool] = mapped_column(Boolean, default=False)
    # No foreign key: a message is kept even when its call record is missing.
    interaction_id: Mapped[str | None] = mapped_column(String(64), index=True)
    #: the stored file's size once compressed (None: an uncompressed WAV)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Callback(Base):
    __tablename__ = "callbacks"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(64), index=True)
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    interaction_id: Mapped[str | None] = mapped_column(String(64))


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    webhook: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(String(500), default="")
    delivered: Mapped[bool] = mapped_column(Boolean)
    duration_ms: Mapped[float] = mapped_column(Float)


class WebhookOutbox(Base):
    """A webhook delivery not yet finished: kept until delivered or given up, so that a
    restart resumes its retries."""

    __tablename__ = "webhook_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    webhook: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)


# --- outbound campaigns ----------------------------------------------------------------------


class Campaign(Base):
    """An outbound campaign: its settings (the provisioning document's fields), the wanted
    state ``active`` and the runtime ``status`` a supervisor sets (who and when), which a
    re-import of the same settings leaves alone."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16))
    status_by: Mapped[str] = mapped_column(String(64), default="")
    status_at: Mapped[datetime | None]


class CampaignContact(Base):
    """A contact (an outside system's task) of a campaign and its place in it."""

    __tablename__ = "campaign_contacts"
    __table_args__ = (UniqueConstraint("campaign", "contact_id"),
                      Index("ix_campaign_contacts_open", "campaign", "status"))
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[str] = mapped_column(String(128))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    numbers: Mapped[list[Any]] = mapped_column(JSON)  # [{number, type, time_zones}]
    time_zone: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending | in_progress | done
    due_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempts_by_number: Mapped[dict[str, Any]] = mapped_column(JSON)
    dead_numbers: Mapped[list[Any]] = mapped_column(JSON)
    close_reason: Mapped[str | None] = mapped_column(String(32))
    callback_at: Mapped[datetime | None]
    callback_agent: Mapped[str | None] = mapped_column(String(64))
    dial_now: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime]
    added_by: Mapped[str] = mapped_column(String(64), default="")
    closed_at: Mapped[datetime | None]


class CampaignContactNumber(Base):
    """One number of a campaign's contact, so that a caller is found among the open tasks of
    every campaign by an index instead of a scan of the contacts' JSON."""

    __tablename__ = "campaign_contact_numbers"
    __table_args__ = (Index("ix_campaign_contact_numbers_number", "number"),)
    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), primary_key=True)


class CampaignAttempt(Base):
    """One dial of a contact's number and everything it did (upserted by attempt id)."""

    __tablename__ = "campaign_attempts"
    __table_args__ = (Index("ix_campaign_attempts_contact", "campaign", "contact_id"),
                      Index("ix_campaign_attempts_started", "campaign", "started_at"),
                      # the attempts under way, or cut short by a node's stop or failure
                      Index("ix_campaign_attempts_open", "started_at",
                            sqlite_where=text("ended_at IS NULL"),
                            postgresql_where=text("ended_at IS NULL")))
    attempt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[str] = mapped_column(String(128))
    number: Mapped[str] = mapped_column(String(32))
    number_type: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    trunk: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    sip_status: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(32))
    amd: Mapped[str | None] = mapped_column(String(16))
    amd_cause: Mapped[str | None] = mapped_column(String(64))
    operator: Mapped[str | None] = mapped_column(String(64))
    talk_s: Mapped[float | None] = mapped_column(Float)
    disposition: Mapped[str | None] = mapped_column(String(32))
    early_media: Mapped[str | None] = mapped_column(String(64))


class DoNotCallList(Base):
    """A do-not-call list; every campaign honours every list at the moment of dialling."""

    __tablename__ = "dnc_lists"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")


DNC_CONFIG = "config"  # a do-not-call number as provisioned: a re-import replaces it
DNC_OPT_OUT = "opt_out"  # the customer asked not to be called: never removed by an import


class DoNotCallNumber(Base):
    __tablename__ = "dnc_numbers"
    list_id: Mapped[int] = mapped_column(ForeignKey("dnc_lists.id", ondelete="CASCADE"),
                                         primary_key=True)
    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: ``config``: from the provisioning file or the API's list (a re-import replaces these);
    #: ``opt_out``: the customer asked (a "do not call" disposition): only ever added.
    source: Mapped[str] = mapped_column(String(16), default=DNC_CONFIG,
                                        server_default=DNC_CONFIG)
    added_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(String(200), default="", server_default="")


class NumberRangeTable(Base):
    """The site's table of number ranges to regions and zones, as the CSV uploaded
    (:class:`parley.dialer.ranges.NumberRanges` reads it)."""

    __tablename__ = "number_ranges"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    csv: Mapped[str] = mapped_column(Text)
    rows: Mapped[int]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


# --- the operator's desk: customers and the card saved with each call ----------------------


class Customer(Base):
    """A customer the desk's card shows: found by any of their numbers (E.164)."""

    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(64), default="")
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CustomerNumber(Base):
    """One phone number of a customer; a number belongs to one customer at most."""

    __tablename__ = "customer_numbers"
    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)


class InteractionCard(Base):
    """The customer card as the operator left it on one call (the card's edits travel with
    the interaction: history, transfers, reports)."""

    __tablename__ = "interaction_cards"
    interaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    number: Mapped[str] = mapped_column(String(64), index=True)
    operator: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime]
    card: Mapped[dict[str, Any]] = mapped_column(JSON)


class QualityCard(Base):
    """One call scored on one scorecard: who handled it, where it came from and when, for
    the review list and the balanced scorecard; recomputed with each wrap-up save."""

    __tablename__ = "quality_cards"
    interaction_id: Mapped[str] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True)
    scorecard: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str | None] = mapped_column(String(64))
    campaign: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(64), default="")
    call_started_at: Mapped[datetime] = mapped_column(index=True)
    computed_at: Mapped[datetime]


class QualityMark(Base):
    """One criterion's score on one call: automatic (``reviewer`` empty) or one reviewer's;
    ``score`` 0..1 of the criterion's weight, None where it does not apply."""

    __tablename__ = "quality_marks"
    __table_args__ = (UniqueConstraint("interaction_id", "scorecard", "criterion", "reviewer",
                                       name="uq_quality_marks_call_criterion_reviewer"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[str] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    scorecard: Mapped[str] = mapped_column(String(64))
    criterion: Mapped[str] = mapped_column(String(64))
    reviewer: Mapped[str] = mapped_column(String(64), default="")
    score: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime]


class QualityReview(Base):
    """A reviewer's review of one call on one scorecard: their note and when."""

    __tablename__ = "quality_reviews"
    interaction_id: Mapped[str] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True)
    scorecard: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(64), primary_key=True)
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]
class CustomReport(Base):
    """A saved custom report (:mod:`parley.reports.custom`): its definition as JSON, its
    owner and the role it is shared with (None: private to its owner)."""

    __tablename__ = "custom_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    shared_with: Mapped[str | None] = mapped_column(String(16))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CustomReportSchedule(Base):
    """A scheduled export of a custom report (:mod:`parley.reports.schedules`): when it fires
    next (the moment that names its period), a retry pending after a failed delivery, and
    how the last delivery went."""

    __tablename__ = "custom_report_schedules"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("custom_reports.id", ondelete="CASCADE"), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    next_run_at: Mapped[datetime] = mapped_column(index=True)
    retry_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_run_at: Mapped[datetime | None]
    last_status: Mapped[str] = mapped_column(String(16), default="", server_default="")
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    last_file: Mapped[str] = mapped_column(String(300), default="", server_default="")
