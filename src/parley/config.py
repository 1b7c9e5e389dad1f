"""Typed settings. Each subsystem owns a nested section; the composition root reads them all.

Settings come from defaults, then ``PARLEY_*`` environment variables, then command-line flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parley.errors import ParleyError


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


def recordings_dir(data_dir: Path) -> Path:
    """Where a node writes call recordings (one folder per day inside)."""
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


class Settings(BaseSettings):
    """Process-wide settings shared by every subsystem."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    sip_port: int = Field(5060, ge=0, le=65535)
    http_port: int = Field(8080, ge=0, le=65535)
    rtp_ports: PortRange = PortRange()
    data_dir: Path = Path("parley-data")
    database_url: str | None = None  # None: a SQLite file in data_dir
    log_json: bool = False
    #: seconds between the ACD's audits of live legs (an operator or caller whose leg has
    #: gone without a word is freed at the next one)
    live_leg_audit_s: float = Field(15.0, gt=0, le=3600)
    media: MediaSettings = MediaSettings()
    security: SecuritySettings = SecuritySettings()
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

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _certificate_and_key(self) -> Settings:
        if (self.https_certificate is None) != (self.https_private_key is None):
            raise ValueError("https_certificate and https_private_key: give both (the "
                             "certificate and its key) or neither (a trial certificate)")
        return self
