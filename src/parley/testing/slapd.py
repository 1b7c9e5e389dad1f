"""A throw-away OpenLDAP server for tests: Debian's ``slapd`` as the current user on a free
loopback port, with its own configuration file and database in a temporary folder, loaded
from an LDIF with ``slapadd`` before it starts.

The default directory (:data:`PEOPLE_LDIF`) holds three people under
``ou=people,dc=example,dc=org``: ``alice`` (group ``agents``, which gives the agent role and
the ``sales`` team), ``bob`` (group ``supervisors``) and ``carol`` (in no group); each one's
password is ``<name>-secret``. The look-up account is ``cn=reader,dc=example,dc=org``,
password ``reader-secret``.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from parley.config import DirectoryGroup, DirectorySettings
from parley.net.certificates import ensure_certificate

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SUFFIX = "dc=example,dc=org"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "reader-secret"  # noqa: S105 - a test directory's account
AGENTS = f"cn=agents,ou=groups,{SUFFIX}"
SUPERVISORS = f"cn=supervisors,ou=groups,{SUFFIX}"
OTHERS = f"cn=others,ou=groups,{SUFFIX}"


def _person(uid: str, name: str) -> str:
    return (f"dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
            f"cn: {name}\nsn: {name.split()[-1]}\nuserPassword: {uid}-secret\n")


def _group(dn: str, *members: str) -> str:
    cn = dn.split(",", 1)[0].removeprefix("cn=")
    lines = "".join(f"member: uid={uid},ou=people,{SUFFIX}\n" for uid in members)
    return f"dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}"


PEOPLE_LDIF = "\n".join([
    f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\n"
    "dc: example\n",
    f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n",
    f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n",
    f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
    f"cn: reader\nuserPassword: {READER_PASSWORD}\n",
    _person("alice", "Alice Archer"), _person("bob", "Bob Baker"),
    _person("carol", "Carol Cooper"),
    _group(AGENTS, "alice"), _group(SUPERVISORS, "bob"), _group(OTHERS, "carol"),
])

CONFIG = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
modulepath {modules}
moduleload back_mdb
pidfile {folder}/slapd.pid
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "cn=admin,{suffix}"
directory {folder}/db
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
"""
TLS_CONFIG = """\
TLSCertificateFile {certificate}
TLSCertificateKeyFile {key}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Slapd:
    """Start with :meth:`start` (or as a context manager); :meth:`stop` ends the server and
    removes its folder. :meth:`settings` gives Parley's directory settings for it."""

    def __init__(self, ldif: str = PEOPLE_LDIF, *, tls: bool = False) -> None:
        self.ldif = ldif
        self.tls = tls
        self.port = 0
        self.tls_port = 0
        #: with ``tls``: the server's self-signed certificate for 127.0.0.1 (PEM), the CA file
        #: a client trusts it by
        self.certificate: Path | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        """``ldaps://`` on its own port (with ``tls`` only)."""
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def start(self, timeout: float = 10.0) -> Slapd:
        self._folder = tempfile.TemporaryDirectory(prefix="parley-slapd-")
        folder = Path(self._folder.name)
        (folder / "db").mkdir()
        config = folder / "slapd.conf"
        text = CONFIG.format(schema=SCHEMA_DIR, modules=MODULE_DIR, folder=folder,
                             suffix=SUFFIX)
        if self.tls:
            made = ensure_certificate(folder / "tls", ["127.0.0.1"])
            self.certificate = made.certificate
            text = TLS_CONFIG.format(certificate=made.certificate, key=made.private_key) + text
        config.write_text(text)
        (folder / "data.ldif").write_text(self.ldif)
        subprocess.run([str(SLAPADD), "-f", str(config), "-l", str(folder / "data.ldif")],  # noqa: S603 - fixed program
                       check=True, capture_output=True, timeout=timeout)
        self.port = free_port()
        listen = f"{self.url}/"
        if self.tls:
            self.tls_port = free_port()
            listen += f" {self.tls_url}/"
        self._process = subprocess.Popen(  # noqa: S603 - fixed program, our own arguments
            [str(SLAPD), "-f", str(config), "-h", listen, "-d", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"slapd stopped at start: {error.strip()}")
            try:
                for port in (self.port, self.tls_port) if self.tls else (self.port,):
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        pass
            except OSError:
                time.sleep(0.02)
            else:
                return self
        self.stop()
        raise TimeoutError(f"slapd did not listen on {self.url} within {timeout} s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def settings(self, **changes: object) -> DirectorySettings:
        """Directory settings for this server: a search as the look-up account, groups by
        search, ``agents`` → agent in team ``sales``, ``supervisors`` → supervisor."""
        values: dict[str, object] = {
            "urls": [self.url], "bind_dn": READER_DN, "bind_password": READER_PASSWORD,
            "user_search_base": f"ou=people,{SUFFIX}", "user_filter": "(uid={username})",
            "group_search_base": f"ou=groups,{SUFFIX}",
            "group_filter": "(member={user_dn})", "timeout_s": 2.0,
            "groups": {AGENTS: DirectoryGroup(roles=["agent"], teams=["sales"]),
                       SUPERVISORS: DirectoryGroup(roles=["supervisor"],
                                                   teams=["sales", "support"])}}
        values.update(changes)
        return DirectorySettings.model_validate(values)

    def __enter__(self) -> Slapd:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
