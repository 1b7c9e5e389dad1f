"""Typed settings. Each subsystem owns a nested section; the composition root reads them all.

Settings come from defaults, then ``PARLEY_*`` environment variables, then command-line flags.
"""

from __future__ import annotations

import os
import re
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parley.errors import ParleyError

if TYPE_CHECKING:
    import yaml


class ConfigError(ParleyError):
    """A configuration value or file is wrong; the message names the file, line and field."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        where = ":".join(str(part) for part in (file, line) if part is not None)
        prefix = f"{where}: " if where else ""
        suffix = f" (field {field!r})" if field else ""
        super().__init__(f"{prefix}{message}{suffix}")
        self.file = file
        self.line = line
        self.field = field


def recordings_dir(data_dir: Path, media: MediaSettings | None = None) -> Path:
    """Where a node writes call recordings (one folder per day inside): ``media``'s
    ``recordings_dir`` when set, else ``<data_dir>/recordings``."""
    if media is not None and media.recordings_dir is not None:
        return media.recordings_dir
    return data_dir / "recordings"


def voicemail_dir(data_dir: Path) -> Path:
    """Where a node keeps voicemail messages (one folder per mailbox inside)."""
    return data_dir / "voicemail"


def prompts_dir(data_dir: Path) -> Path:
    """Where a node keeps the prompts admins upload or type (one folder per language inside,
    searched before every other prompt folder)."""
    return data_dir / "prompts"


class PortRange(BaseModel):
    """An inclusive range of UDP ports, e.g. for RTP."""

    first: int = Field(20000, ge=1024, le=65535)
    last: int = Field(29999, ge=1024, le=65535)

    @classmethod
    def parse(cls, text: str) -> PortRange:
        try:
            first_text, last_text = text.split("-", 1)
            port_range = cls(first=int(first_text), last=int(last_text))
        except ValueError as exc:
            raise ConfigError(f"port range {text!r} must look like 20000-29999") from exc
        if port_range.last <= port_range.first:
            raise ConfigError(f"port range {text!r}: the last port must exceed the first")
        return port_range


STOCK_PROMPT_DIRS = (Path("/usr/share/asterisk/sounds/en"),
                     Path("/usr/share/asterisk/sounds/en_US_f_Allison"))
"""Where Debian's ``asterisk-core-sounds-en-wav`` prompts are, in search order: the ``en``
link that only the recommended ``asterisk-core-sounds-en`` makes (it points at the voice the
operator chose), then the folder the package itself installs."""

STOCK_LANGUAGE_PROMPT_DIRS: dict[str, tuple[Path, ...]] = {
    "ru": (Path("/usr/share/asterisk/sounds/ru"),
           Path("/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU")),
}
"""Stock prompts of the other languages: Russian from Debian's ``asterisk-core-sounds-ru-wav``
(its folder, after the ``ru`` link the recommended ``asterisk-core-sounds-ru`` makes)."""

LANGUAGES = ("en", "ru")
"""The languages a call can be answered in (prompts, number grammar, speech)."""


class MediaSettings(BaseModel):
    """Prompts, text-to-speech and hold music (docs/media.md). Caches and recordings live in
    the data folder (``cache/``, ``recordings/``)."""

    prompt_dirs: list[Path] = []  # the site's own prompt folders, searched first
    stock_prompt_dirs: list[Path] = list(STOCK_PROMPT_DIRS)  # then these
    moh_dir: Path = Path("/usr/share/asterisk/moh")  # the "default" hold-music class
    moh_classes: dict[str, Path] = {}  # more named classes: name -> folder of WAV files
    tts_voice: str = "en-us"
    espeak: str = "espeak-ng"
    # The caller's language (docs/configuration.md, "Languages"): the site's default, then
    # per number, flow and queue; prompts, number grammar and speech follow it.
    language: str = "en"
    language_prompt_dirs: dict[str, list[Path]] = {}  # the site's own recordings per language
    stock_language_prompt_dirs: dict[str, list[Path]] = {
        name: list(dirs) for name, dirs in STOCK_LANGUAGE_PROMPT_DIRS.items()}
    tts_voices: dict[str, str] = {"ru": "ru"}  # espeak-ng voice per language (en: tts_voice)
    # Hand unrecorded two-party bridges to the kernel (nftables; needs CAP_NET_ADMIN and
    # Debian's nftables): docs/configuration.md, "Kernel forwarding".
    kernel_forwarding: bool = False
    # With kernel forwarding: a direction whose stream would need its headers rewritten (the
    # operator's voice to a caller who heard a prompt) goes to the kernel too, the phone then
    # getting the other phone's own stream (a new SSRC): docs/configuration.md, same section.
    kernel_new_streams: bool = False
    # Worker processes that forward bridged directions on the other cores (0: the node's
    # own event loop relays everything): docs/configuration.md, "Relay workers".
    # ("auto": one per core this process may run on, beyond the first).
    relay_workers: int | Literal["auto"] = 0
    # Where call recordings go (docs/configuration.md, "Recordings"); None: <data_dir>/
    # recordings. With recordings_shared the folder is on storage every node of a hot-standby
    # cluster mounts at this same path: a recording cut by a takeover goes on in its file.
    recordings_dir: Path | None = None
    recordings_shared: bool = False

    @model_validator(mode="after")
    def _shared_recordings_named(self) -> MediaSettings:
        if self.recordings_shared and self.recordings_dir is None:
            raise ValueError("media.recordings_shared: set media.recordings_dir to the shared "
                             "folder, mounted at the same path on every node (never a folder "
                             "inside a node's own data folder)")
        return self

    @field_validator("relay_workers", mode="before")
    @classmethod
    def _workers(cls, value: object) -> object:
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if isinstance(value, bool) or not text.isdigit() or int(text) > 64:
            raise ValueError(f"{value!r} is not a number of relay workers (0 to 64) or auto")
        return int(text)

    def relay_worker_count(self) -> int:
        """How many relay workers to start: ``relay_workers``, with "auto" resolved now (none
        beside kernel forwarding, or on a single core)."""
        if self.relay_workers != "auto":
            return self.relay_workers
        if self.kernel_forwarding:
            return 0
        return min(64, max(0, len(os.sched_getaffinity(0)) - 1))

    @model_validator(mode="after")
    def _one_forwarder(self) -> MediaSettings:
        if self.kernel_forwarding and self.relay_workers not in (0, "auto"):
            raise ValueError("media.kernel_forwarding and media.relay_workers are two ways "
                             "of taking bridges off the event loop: choose one")
        if self.kernel_new_streams and not self.kernel_forwarding:
            raise ValueError("media.kernel_new_streams applies to kernel forwarding: set "
                             "media.kernel_forwarding too, or leave kernel_new_streams out")
        return self

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"unknown language {value!r}; known: {', '.join(LANGUAGES)}")
        return value

    @field_validator("language_prompt_dirs", "stock_language_prompt_dirs", "tts_voices")
    @classmethod
    def _known_languages(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if name not in LANGUAGES:
                raise ValueError(f"unknown language {name!r}; known: {', '.join(LANGUAGES)}")
        return value


class SecuritySettings(BaseModel):
    """Limits against guessing and hoarding (docs/configuration.md, "Security").

    ``trusted_networks`` are never throttled or banned (a floor behind one NAT address);
    ``trusted_proxies`` are the web proxies whose ``X-Forwarded-For`` names the client.
    """

    trusted_networks: list[str] = []
    trusted_proxies: list[str] = ["127.0.0.1"]  # a proxy on this machine (nginx, caddy)
    sip_guard: bool = True
    sip_address_failures: int = Field(10, ge=1)
    sip_user_failures: int = Field(20, ge=1)
    sip_failure_window_s: float = Field(60.0, gt=0)
    sip_ban_s: float = Field(600.0, gt=0)
    sip_max_ban_s: float = Field(86_400.0, gt=0)
    sip_lock_s: float = Field(600.0, gt=0)
    tcp_first_message_s: float = Field(10.0, gt=0)
    tcp_message_s: float = Field(10.0, gt=0)
    tcp_idle_s: float = Field(3900.0, gt=0)
    tcp_max_connections: int = Field(2000, ge=1)
    tcp_max_per_source: int = Field(64, ge=1)
    ws_max_message_bytes: int = Field(65_536, ge=1)
    ws_messages_per_second: float = Field(20.0, gt=0)
    ws_burst: int = Field(60, ge=1)
    ws_idle_s: float = Field(3900.0, gt=0)
    ws_max_connections: int = Field(2000, ge=1)
    phone_credentials_s: float = Field(3600.0, gt=0)
    login_free_attempts: int = Field(5, ge=1)
    login_address_attempts: int = Field(50, ge=1)
    login_base_delay_s: float = Field(1.0, gt=0)
    login_max_delay_s: float = Field(300.0, gt=0)

    @field_validator("trusted_networks", "trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        from parley.trust import TrustedNetworks

        TrustedNetworks(value)  # raises ValueError naming the entry at fault
        return value


class DirectoryGroup(BaseModel):
    """What membership of one directory group gives: roles and teams (docs/configuration.md,
    "Sign-in through a directory")."""

    model_config = ConfigDict(extra="forbid")
    roles: list[Literal["agent", "supervisor", "admin"]] = []
    teams: list[str] = []

    @field_validator("teams")
    @classmethod
    def _team_names(cls, value: list[str]) -> list[str]:
        for team in value:
            if not TEAM_NAME.fullmatch(team):
                raise ValueError(f"team {team!r}: letters, digits and _.@- only, up to 64")
        return value


TEAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


class IceServer(BaseModel):
    """A STUN or TURN server browsers' phones use to reach the node from behind a NAT or a
    firewall (an RTCIceServer). A TURN server without ``username`` and ``credential`` gets
    short-lived ones made with ``webrtc.turn_secret``."""

    urls: list[str] = Field(min_length=1)
    username: str | None = None
    credential: str | None = None

    @field_validator("urls")
    @classmethod
    def _ice_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not re.match(r"^(stun|stuns|turn|turns):[^\s]+$", url):
                raise ValueError(f"{url!r} is not a STUN or TURN URL (stun:HOST:PORT, "
                                 "turn:HOST:PORT?transport=udp, turns:HOST:PORT)")
        return value


class WebRtcSettings(BaseModel):
    """How operators' browsers reach the node's media (docs/deployment.md, "Operators
    outside the office"): the ICE servers given to each browser phone and, for a TURN server
    with a shared secret (coturn's ``use-auth-secret``), the secret and how long the
    credentials made with it last; ``ice_transport_policy`` ``relay`` sends all browser
    media through TURN (operators' own addresses are never used)."""

    ice_servers: list[IceServer] = []
    turn_secret: str | None = None
    turn_ttl_s: int = Field(86_400, ge=60, le=7 * 86_400)
    ice_transport_policy: Literal["all", "relay"] = "all"

    @model_validator(mode="after")
    def _credentials(self) -> WebRtcSettings:
        for server in self.ice_servers:
            turn = any(url.startswith("turn") for url in server.urls)
            if turn and (server.username is None or server.credential is None) \
                    and not self.turn_secret:
                raise ValueError(f"webrtc.ice_servers: {server.urls[0]} needs a username and "
                                 "credential, or webrtc.turn_secret to make them")
        if self.ice_transport_policy == "relay" and not any(
                url.startswith("turn") for server in self.ice_servers for url in server.urls):
            raise ValueError("webrtc.ice_transport_policy: 'relay' needs a TURN server in "
                             "webrtc.ice_servers")
        return self


class DirectorySettings(BaseModel):
    """Sign-in through LDAP or Active Directory (docs/configuration.md, "Sign-in through a
    directory"). No ``urls``: the directory is off and only local accounts sign in.

    A user is found either by a search (``bind_dn`` and ``bind_password`` of a look-up
    account, ``user_search_base`` and ``user_filter``) or directly by ``user_dn_template``;
    then the user's own password is checked by a bind as that user. Groups come from a search
    under ``group_search_base`` (``group_filter``) or, without one, from the user's
    ``group_attribute`` (Active Directory's ``memberOf``); ``groups`` maps their DNs to
    Parley's roles and teams."""

    model_config = ConfigDict(extra="forbid")
    urls: list[str] = []
    start_tls: bool = False
    ca_file: Path | None = None
    verify_certificate: bool = True
    timeout_s: float = Field(5.0, gt=0, le=60)
    bind_dn: str | None = None
    bind_password: SecretStr | None = None
    user_dn_template: str | None = None
    user_search_base: str = ""
    user_filter: str = "(uid={username})"
    username_attribute: str = "uid"
    display_name_attribute: str = "cn"
    group_search_base: str | None = None
    group_filter: str = "(|(member={user_dn})(uniqueMember={user_dn})(memberUid={username}))"
    group_attribute: str = "memberOf"
    groups: dict[str, DirectoryGroup] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    @field_validator("urls")
    @classmethod
    def _ldap_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not re.fullmatch(r"ldaps?://[^/\s]+/?", url):
                raise ValueError(f"{url!r}: write ldap://host[:port] or ldaps://host[:port]")
        return value

    @field_validator("user_filter", "group_filter")
    @classmethod
    def _filter(cls, value: str) -> str:
        if not (value.startswith("(") and value.endswith(")")):
            raise ValueError(f"{value!r}: an LDAP filter is written in parentheses")
        return value

    @model_validator(mode="after")
    def _how_users_are_found(self) -> DirectorySettings:
        if not self.urls:
            return self
        if self.user_dn_template is None and not self.user_search_base:
            raise ValueError("directory: give user_search_base (to search for users) or "
                             "user_dn_template (to bind as uid={username},ou=people,...)")
        if self.user_dn_template is not None and "{username}" not in self.user_dn_template:
            raise ValueError("directory.user_dn_template: must contain {username}")
        if (self.bind_dn is None) != (self.bind_password is None):
            raise ValueError("directory: give bind_dn and bind_password together")
        if any(url.startswith("ldaps://") for url in self.urls) and self.start_tls:
            raise ValueError("directory.start_tls: ldaps:// is encrypted already; StartTLS "
                             "is for ldap:// URLs")
        if not self.groups:
            raise ValueError("directory.groups: map at least one directory group to a role")
        if not any(group.roles for group in self.groups.values()):
            raise ValueError("directory.groups: no group gives a role, so nobody could sign in")
        return self


def _host_name() -> str:
    import socket

    return socket.gethostname() or "parley"


class HaSettings(BaseModel):
    """Hot standby (docs/deployment.md, "Hot standby"): two nodes on one PostgreSQL, one
    active holding the cluster's lease, the other standing by. Absent: a single node, always
    active."""

    model_config = ConfigDict(extra="forbid")
    #: this node's name in the lease (unique in the cluster); default: the host's name
    node_name: str = Field(default_factory=_host_name, min_length=1, max_length=128)
    #: the lease's name: nodes of one site share it (one database may hold several)
    cluster: str = Field("default", min_length=1, max_length=64)
    #: how often the active node renews the lease (and the standby tries to take it)
    renew_interval_s: float = Field(1.0, gt=0, le=60)
    #: how long after its last renewal the lease lapses and the standby may take it
    lapse_s: float = Field(3.0, gt=0, le=600)
    #: the site's service address, held by the active node only (docs/deployment.md, "The
    #: floating address"): an IPv4 address with its prefix length, as on the device (e.g.
    #: 192.0.2.10/24); None: no floating address
    floating_ip: IPv4Interface | None = None
    #: the network device that holds ``floating_ip`` (e.g. eth0); required with it
    interface: str | None = Field(None, min_length=1, max_length=15, pattern=r"^[^\s/:]+$")
    #: this node's own address, where the web server listens too (same port and scheme), so
    #: that a node's ``/api/health`` and ``/metrics`` answer while the other one holds the
    #: floating address; None: the web listens on ``host`` only
    node_address: IPv4Address | IPv6Address | None = None

    @field_validator("floating_ip", mode="before")
    @classmethod
    def _with_prefix(cls, value: object) -> object:
        if isinstance(value, str) and "/" not in value:
            raise ValueError(f"ha.floating_ip {value!r}: write it with its prefix length, as "
                             "the device holds it (e.g. 192.0.2.10/24)")
        return value

    @field_validator("floating_ip")
    @classmethod
    def _a_host_address(cls, value: IPv4Interface | None) -> IPv4Interface | None:
        if value is None:
            return None
        ip, network = value.ip, value.network
        if ip.is_loopback or ip.is_multicast or ip.is_unspecified or ip.is_reserved or (
                network.prefixlen <= 30
                and ip in (network.network_address, network.broadcast_address)):
            raise ValueError(f"ha.floating_ip {value}: not an address a host can hold on a "
                             "network device (loopback, multicast, reserved, or the "
                             "network's own or broadcast address)")
        return value

    @model_validator(mode="after")
    def _node_address_of_its_own(self) -> HaSettings:
        if self.floating_ip is not None and self.node_address == self.floating_ip.ip:
            raise ValueError(f"ha.node_address ({self.node_address}) is the floating address: "
                             "give this node's own address (PARLEY_HA__NODE_ADDRESS), the "
                             "one it has whichever node is active")
        return self

    @model_validator(mode="after")
    def _renew_well_within_the_lapse(self) -> HaSettings:
        if self.renew_interval_s * 2 > self.lapse_s:
            raise ValueError(
                f"ha.renew_interval_s ({self.renew_interval_s}) must be at most half of "
                f"ha.lapse_s ({self.lapse_s}): the active node stops serving "
                "lapse_s - renew_interval_s after its last renewal, and needs room to "
                "renew again before that")
        return self

    @model_validator(mode="after")
    def _floating_ip_on_a_device(self) -> HaSettings:
        if self.floating_ip is not None and self.interface is None:
            raise ValueError(f"ha.interface is required with ha.floating_ip "
                             f"({self.floating_ip}): the network device to hold it on, e.g. "
                             "eth0 (PARLEY_HA__INTERFACE)")
        if self.floating_ip is None and self.interface is not None:
            raise ValueError(f"ha.interface ({self.interface}) is set but ha.floating_ip is "
                             "not: give the floating address too (PARLEY_HA__FLOATING_IP), "
                             "or leave both out")
        return self

    @property
    def stop_after_s(self) -> float:
        """How long after its last successful renewal (as sent) an active node that could
        not renew stops serving: strictly less than the lapse, so it has stopped before the
        standby can take the lease."""
        return self.lapse_s - self.renew_interval_s


class Settings(BaseSettings):
    """Process-wide settings shared by every subsystem."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    sip_port: int = Field(5060, ge=0, le=65535)
    #: RFC 3261 T1 in seconds, the round-trip estimate every SIP transaction timer scales with
    #: (retransmissions, timeouts, how long a finished call answers late retransmissions:
    #: 64·T1); 0.5 by default, larger on slow links, smaller only on a private network
    sip_t1: float = Field(0.5, ge=0.05, le=10.0)
    #: the shortest registration a phone may ask for, in seconds (shorter ones are answered
    #: 423 with this as Min-Expires): phones re-register no more often than this
    sip_min_expires: int = Field(60, ge=1, le=3600)
    http_port: int = Field(8080, ge=0, le=65535)
    rtp_ports: PortRange = PortRange()
    data_dir: Path = Path("parley-data")
    database_url: str | None = None  # None: a SQLite file in data_dir
    log_json: bool = False
    #: seconds between the ACD's audits of live legs (an operator or caller whose leg has
    #: gone without a word is freed at the next one)
    live_leg_audit_s: float = Field(15.0, gt=0, le=3600)
    #: seconds a store recorder gathers journalled events before it writes them in one
    #: transaction (they are on disk in the journal already; a record shows that much later)
    records_interval_s: float = Field(1.0, ge=0, le=60)
    media: MediaSettings = MediaSettings()
    #: how finished call recordings and voicemail are kept: ``flac`` (lossless, compressed
    #: once the recording ends, off the event loop) or ``wav`` (left as recorded)
    recording_format: Literal["flac", "wav"] = "flac"
    security: SecuritySettings = SecuritySettings()
    directory: DirectorySettings = DirectorySettings()
    webrtc: WebRtcSettings = WebRtcSettings()
    #: a YAML file holding the ``directory`` section (its bind password and group map are
    #: easier to keep there than in environment variables); it replaces ``directory``
    directory_file: Path | None = None
    #: npm's node_modules with the pages' third-party JS and CSS; None: the checkout's own
    node_modules_dir: Path | None = None
    #: serve the web app, the API and the browser phone's WebSocket over HTTPS/WSS (a
    #: browser gives the microphone only to a secure page: docs/deployment.md)
    https: bool = False
    #: the site's certificate (PEM, with its chain) and key; neither: a trial certificate
    #: is made at first start in <data_dir>/tls/ for ``host`` and ``https_names``
    https_certificate: Path | None = None
    https_private_key: Path | None = None
    https_names: list[str] = []
    #: hot standby: the lease's settings (PostgreSQL only); None: a single node
    ha: HaSettings | None = None

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _directory_file(self) -> Settings:
        if self.directory_file is not None:
            self.directory = load_directory_file(self.directory_file)
        return self

    @model_validator(mode="after")
    def _ha_needs_postgresql(self) -> Settings:
        if self.ha is not None and not (self.database_url or "").startswith(
                ("postgresql", "postgres://")):
            raise ConfigError("hot standby needs PostgreSQL shared by both nodes (set "
                              "PARLEY_DATABASE_URL to postgresql://…); a SQLite node is "
                              "single: leave the ha settings out", field="ha")
        return self

    @model_validator(mode="after")
    def _certificate_and_key(self) -> Settings:
        if (self.https_certificate is None) != (self.https_private_key is None):
            raise ValueError("https_certificate and https_private_key: give both (the "
                             "certificate and its key) or neither (a trial certificate)")
        return self


def _yaml_loader() -> Any:
    """libyaml's safe loader where PyYAML has it, else the pure one: the same nodes and marks,
    read 12-20 times faster (a 1,400-user, 1,400-device provisioning file 1.55 s to 0.12 s
    with the single reading of :func:`read_yaml`; the demo 40 ms to 2 ms at a node's start)."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose_yaml(text: str) -> yaml.Node | None:
    """The node tree of a YAML document: every value with its line, for errors that name it."""
    import yaml

    return yaml.compose(text, Loader=_yaml_loader())


def read_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """A YAML document read once: its node tree (see :func:`compose_yaml`) and the plain
    data built from it; raises ``yaml.YAMLError`` with the mark of the fault."""
    loader = _yaml_loader()(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def load_directory_file(path: Path) -> DirectorySettings:
    """The ``directory`` section from a YAML file (a top-level ``directory:`` key, or the
    section's keys themselves); a :class:`ConfigError` names the file and the field at
    fault."""
    import yaml
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the directory file: {exc.strerror}",
                          file=str(path)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not YAML: {exc}", file=str(path),
                          line=mark.line + 1 if mark is not None else None) from exc
    if isinstance(data, dict) and set(data) == {"directory"}:
        data = data["directory"]
    if not isinstance(data, dict):
        raise ConfigError("expected the directory section's keys (urls, groups, ...)",
                          file=str(path))
    try:
        return DirectorySettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(first["msg"], file=str(path),
                          field=f"directory.{where}" if where else "directory") from exc
