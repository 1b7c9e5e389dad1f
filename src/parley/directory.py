"""Sign-in through LDAP or Active Directory: find the user, check the password by binding as
them, read their groups and map those to Parley's roles and teams.

ldap3 is blocking, so every exchange runs in a worker thread (:func:`asyncio.to_thread`) and
the event loop that carries calls and media never waits on the directory. Each sign-in opens
its own connections and closes them: nothing is shared between threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
import warnings
from dataclasses import dataclass
from typing import Any

import structlog

from parley.config import DirectorySettings
from parley.errors import ParleyError

with warnings.catch_warnings():  # ldap3 2.9 imports names pyasn1 0.6 calls deprecated
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import escape_rdn

log = structlog.get_logger("parley.directory")

USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-")
"""What a Parley user name may hold (``parley.store.specs.Name``); other names are never
looked up."""


class DirectoryError(ParleyError):
    """The directory could not answer (down, refusing the look-up account, misconfigured)."""


@dataclass(frozen=True, slots=True)
class DirectoryAccount:
    """A user the directory vouched for, with what their groups give them in Parley."""

    username: str
    dn: str
    display_name: str
    groups: tuple[str, ...]
    roles: tuple[str, ...]
    teams: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The outcome of "Test connection": which server answered, or why none did."""

    ok: bool
    server: str
    message: str
    seconds: float


def normal_dn(dn: str) -> str:
    """A DN compared as directories do: case and spaces around separators ignored."""
    return ",".join("=".join(part.strip() for part in rdn.split("=", 1))
                    for rdn in dn.split(",")).lower()


def map_groups(settings: DirectorySettings,
               groups: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The roles and teams the mapped ``groups`` give (each sorted, without repeats)."""
    mapping = {normal_dn(dn): group for dn, group in settings.groups.items()}
    roles: set[str] = set()
    teams: set[str] = set()
    for dn in groups:
        group = mapping.get(normal_dn(dn))
        if group is not None:
            roles.update(group.roles)
            teams.update(group.teams)
    order = ("agent", "supervisor", "admin")
    return tuple(sorted(roles, key=order.index)), tuple(sorted(teams))


def _close(connection: ldap3.Connection) -> None:
    """Unbind and close; a connection that already broke (a failed TLS handshake) is just
    dropped."""
    with contextlib.suppress(LDAPException, OSError):
        connection.unbind()


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def _values(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [] if value in (None, "") else [str(value)]


class _Session:
    """One directory conversation in a worker thread: the first server that answers."""

    def __init__(self, settings: DirectorySettings) -> None:
        self.settings = settings

    def _tls(self) -> ldap3.Tls:
        settings = self.settings
        return ldap3.Tls(
            validate=ssl.CERT_REQUIRED if settings.verify_certificate else ssl.CERT_NONE,
            ca_certs_file=str(settings.ca_file) if settings.ca_file else None)

    def connect(self, user: str | None = None,
                password: str | None = None) -> tuple[ldap3.Connection, str]:
        """An open (not yet bound) connection and its URL; :class:`DirectoryError` when no
        server answers."""
        settings = self.settings
        failures = []
        for url in settings.urls:
            server = ldap3.Server(url, connect_timeout=settings.timeout_s, get_info=ldap3.NONE,
                                  tls=self._tls())
            connection = ldap3.Connection(server, user=user, password=password,
                                          receive_timeout=math.ceil(settings.timeout_s),
                                          auto_bind=ldap3.AUTO_BIND_NONE, read_only=True)
            try:
                connection.open()
                if settings.start_tls and not connection.start_tls():
                    raise DirectoryError(f"StartTLS refused: {connection.result}")
            except (LDAPException, DirectoryError, OSError) as exc:
                failures.append(f"{url}: {exc}")
                _close(connection)
                continue
            return connection, url
        raise DirectoryError("no directory server answered (" + "; ".join(failures) + ")")

    def bind(self, user: str, password: str) -> tuple[ldap3.Connection, str] | None:
        """A connection bound as ``user``; None when the directory refuses the password."""
        connection, url = self.connect(user, password)
        try:
            if connection.bind():
                return connection, url
            result = connection.result or {}
        except LDAPException as exc:
            _close(connection)
            raise DirectoryError(f"{url}: {exc}") from exc
        _close(connection)
        if result.get("description") == "invalidCredentials":
            return None
        raise DirectoryError(f"{url} refused the bind as {user!r}: "
                             f"{result.get('description')} {result.get('message', '')}".strip())

    def lookup(self) -> tuple[ldap3.Connection, str]:
        """A connection for searches: bound as the look-up account, or anonymous."""
        settings = self.settings
        if settings.bind_dn is None or settings.bind_password is None:
            return self.connect()
        bound = self.bind(settings.bind_dn, settings.bind_password.get_secret_value())
        if bound is None:
            raise DirectoryError(f"the directory refused the look-up account "
                                 f"{settings.bind_dn!r} (check bind_dn and bind_password)")
        return bound

    def search(self, connection: ldap3.Connection, base: str, query: str, scope: str,
               attributes: list[str]) -> list[dict[str, Any]]:
        try:
            connection.search(base, query, search_scope=scope, attributes=attributes,
                              size_limit=1000, time_limit=int(self.settings.timeout_s) or 1)
        except LDAPException as exc:
            raise DirectoryError(f"search under {base!r} failed: {exc}") from exc
        if connection.result.get("description") not in ("success", "noSuchObject",
                                                         "sizeLimitExceeded"):
            raise DirectoryError(f"search under {base!r} failed: "
                                 f"{connection.result.get('description')}")
        return [item for item in connection.response or []
                if item.get("type") == "searchResEntry"]


def _fill(template: str, username: str, user_dn: str) -> str:
    return (template.replace("{username}", escape_filter_chars(username))
            .replace("{user_dn}", escape_filter_chars(user_dn)))


def authenticate_blocking(settings: DirectorySettings, username: str,
                          password: str) -> DirectoryAccount | None:
    """The account when ``password`` is ``username``'s directory password; None when the
    directory does not know the name or refuses the password. Raises
    :class:`DirectoryError` when the directory cannot answer. Blocking: see
    :func:`authenticate`."""
    if not password or not username or not set(username) <= USERNAME_CHARS:
        return None  # an empty password would be an anonymous bind, which always "works"
    session = _Session(settings)
    attributes = [settings.display_name_attribute, settings.username_attribute,
                  settings.group_attribute]
    entry: dict[str, Any]
    lookup: ldap3.Connection | None = None
    try:
        if settings.user_dn_template is None:
            lookup, _url = session.lookup()
            found = session.search(lookup, settings.user_search_base,
                                   _fill(settings.user_filter, username, ""),
                                   ldap3.SUBTREE, attributes)
            if len(found) != 1:
                if found:
                    log.warning("directory_user_ambiguous", username=username,
                                matches=len(found))
                return None
            entry = found[0]
            bound = session.bind(str(entry["dn"]), password)
            if bound is None:
                return None
            _close(bound[0])
        else:
            dn = settings.user_dn_template.replace("{username}", escape_rdn(username))
            bound = session.bind(dn, password)
            if bound is None:
                return None
            lookup = bound[0]
            found = session.search(lookup, dn, "(objectClass=*)", ldap3.BASE, attributes)
            entry = found[0] if found else {"dn": dn, "attributes": {}}
        user_dn = str(entry["dn"])
        values = entry.get("attributes", {})
        if settings.group_search_base is not None:
            groups = [str(item["dn"]) for item in session.search(
                lookup, settings.group_search_base,
                _fill(settings.group_filter, username, user_dn), ldap3.SUBTREE, ["cn"])]
        else:
            groups = _values(values.get(settings.group_attribute))
    finally:
        if lookup is not None:
            _close(lookup)
    roles, teams = map_groups(settings, groups)
    local_name = _first(values.get(settings.username_attribute)) or username
    if not set(local_name) <= USERNAME_CHARS or len(local_name) > 64:
        local_name = username
    return DirectoryAccount(local_name, user_dn,
                            _first(values.get(settings.display_name_attribute))[:200],
                            tuple(groups), roles, teams)


def check_blocking(settings: DirectorySettings) -> ConnectionCheck:
    """Connect (and bind as the look-up account, if one is set) to show whether the
    directory answers. Blocking: see :func:`check`."""
    started = time.monotonic()
    if not settings.enabled:
        return ConnectionCheck(False, "", "no directory is configured", 0.0)
    try:
        session = _Session(settings)
        connection, url = session.lookup()
        try:
            for base in (settings.user_search_base, settings.group_search_base):
                if base and not session.search(connection, base, "(objectClass=*)",
                                               ldap3.BASE, []):
                    return ConnectionCheck(False, url, f"{base!r} is not in the directory",
                                           time.monotonic() - started)
        finally:
            _close(connection)
    except DirectoryError as exc:
        return ConnectionCheck(False, "", str(exc), time.monotonic() - started)
    how = "bound as the look-up account" if settings.bind_dn else "connected"
    return ConnectionCheck(True, url, how, time.monotonic() - started)


class Directory:
    """The site's directory as the web layer uses it (async: each exchange in a thread)."""

    def __init__(self, settings: DirectorySettings) -> None:
        self.settings = settings

    async def authenticate(self, username: str, password: str) -> DirectoryAccount | None:
        """See :func:`authenticate_blocking`."""
        return await asyncio.to_thread(authenticate_blocking, self.settings, username, password)

    async def check(self) -> ConnectionCheck:
        """See :func:`check_blocking`."""
        return await asyncio.to_thread(check_blocking, self.settings)
