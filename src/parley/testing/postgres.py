"""A throw-away PostgreSQL server for tests, and the pytest fixtures that run store and API
tests on both SQLite and PostgreSQL.

``PARLEY_TEST_DATABASE_URL`` (a ``postgresql://`` URL of a server where the user may create
databases) skips starting a server. Otherwise Debian's binaries (``/usr/lib/postgresql/*/bin``)
run ``initdb`` in a temporary folder and start a server on a free loopback port, with its unix
socket in the same folder; when running as root, they run as the ``postgres`` system user,
because ``initdb`` refuses root. ``PARLEY_TEST_DATABASES=sqlite`` limits the tests to SQLite.

Conftests opt in with ``pytest_plugins = ["parley.testing.postgres"]``; tests then ask for the
``database_url`` fixture (a fresh database per test, once per backend, each a copy of a
template migrated once, so the schema is there already: a SQLite file per process, a
PostgreSQL template database per session).
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.testing.needs import POSTGRESQL, require
from parley.testing.ports import free_port

ENV_URL = "PARLEY_TEST_DATABASE_URL"
ENV_BACKENDS = "PARLEY_TEST_DATABASES"


def find_bin_dir() -> Path | None:
    """The folder of PostgreSQL's server programs: Debian's newest ``/usr/lib/postgresql/*/bin``
    (not on ``PATH``: Debian puts only the client wrappers there), else ``initdb``'s folder."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda path: _version_key(path.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return None if initdb is None else Path(initdb).parent


def _version_key(name: str) -> tuple[int, ...]:
    """``"15"`` < ``"9.6"`` as text but not as a version."""
    return tuple(int(part) if part.isdigit() else -1 for part in name.split("."))


def _bin_dir() -> Path:
    found = find_bin_dir()
    if found is None:
        raise RuntimeError("PostgreSQL binaries not found; install Debian's postgresql or set "
                           f"{ENV_URL}")
    return found


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary folder, deleted on :meth:`stop`."""

    def __init__(self, *, durable: bool = False) -> None:
        """``durable``: commits wait for the disk and, once :meth:`replicate_synchronously`
        is called, for the standby (else neither: fast throw-away tests)."""
        self.durable = durable
        self.bin = _bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user = "parley"
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]
        self.folder.chmod(0o700)
        self.started = False

    def _run(self, *args: str) -> None:
        result = subprocess.run(  # noqa: S603 - fixed PostgreSQL binaries, no user input
            [*self._run_as, *args], capture_output=True, text=True,
                                check=False, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr or result.stdout}")

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")
        self._start()

    def _start(self) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200")
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.folder / "log"), "-o", options, "-w", "-t", "60", "start")
        self.started = True

    def start_standby_of(self, primary: ThrowawayPostgres) -> None:
        """Start as a hot standby streaming from ``primary`` (Debian's ``pg_basebackup``
        with ``-R``, as docs/deployment.md sets one up), instead of :meth:`start`."""
        self._run(str(self.bin / "pg_basebackup"), "-D", str(self.data), "-R",
                  "-h", "127.0.0.1", "-p", str(primary.port), "-U", primary.user,
                  "-X", "stream", "-c", "fast", "--no-sync")
        self._start()

    def replicate_synchronously(self) -> None:
        """A commit returns once a standby has it too (``synchronous_standby_names``), so
        that the standby, promoted, has every commit the primary acknowledged."""
        import asyncio

        import asyncpg  # type: ignore[import-untyped]

        async def change() -> None:
            connection = await asyncpg.connect(self.url)
            try:
                await connection.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
                await connection.execute("SELECT pg_reload_conf()")
            finally:
                await connection.close()

        asyncio.run(change())

    def crash(self) -> None:
        """Stop at once, as a failed host would (``immediate``: no shutdown checkpoint)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                  "stop")
        self.started = False

    def promote(self) -> None:
        """A standby becomes the primary (``pg_ctl promote``, as ``pg_ctlcluster ...
        promote`` does on Debian)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                  "promote")

    @property
    def url(self) -> str:
        """The URL of the ``postgres`` maintenance database."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                      "stop")
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def create_database(server_url: str, template: str | None = None) -> tuple[str, str]:
    """Create a database on the server (empty, or a copy of ``template``); returns
    (its URL, its name)."""
    import asyncio

    import asyncpg

    name = f"parley_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""

    async def create() -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"{copy}')
        finally:
            await connection.close()

    asyncio.run(create())
    return _with_database(server_url, name), name


def drop_database(server_url: str, name: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


def _backends() -> list[str]:
    wanted = os.environ.get(ENV_BACKENDS, "sqlite,postgresql")
    return [name.strip() for name in wanted.split(",") if name.strip()]


_sqlite_template: list[Path] = []


def migrated_sqlite() -> Path:
    """A SQLite store file at the current schema, made once per process, for tests to copy:
    migrating a new file costs 0.3-0.5 s, on every test that opens a store. Made in a thread
    of its own, so it may be asked for inside a running event loop (once, briefly)."""
    if not _sqlite_template:
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        from parley.store import open_store
        from parley.store.database import SQLITE_FILE
        from parley.store.database import database_url as store_url

        folder = Path(tempfile.mkdtemp(prefix="parley-migrated-"))
        atexit.register(shutil.rmtree, folder, True)

        async def migrate() -> None:
            store = await open_store(store_url(None, folder))
            await store.close()

        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, migrate()).result()
        _sqlite_template.append(folder / SQLITE_FILE)
    return _sqlite_template[0]


def _migrated_template(server_url: str) -> str:
    """A database with the current schema, copied for each test (faster than migrating)."""
    import asyncio

    from parley.store import open_store

    url, name = create_database(server_url)

    async def migrate() -> None:
        store = await open_store(url.replace("postgresql://", "postgresql+asyncpg://", 1))
        await store.close()

    asyncio.run(migrate())
    return name


class _SharedServer:
    """One throw-away server (and one migrated template) for the whole test session, even
    when several conftests or modules define the session fixtures: the first user starts it,
    the last one to finish stops it."""

    def __init__(self) -> None:
        self.server: ThrowawayPostgres | None = None
        self.url: str | None = None
        self.template: str | None = None
        self.users = 0

    def acquire(self) -> str:
        if self.users == 0:
            given = os.environ.get(ENV_URL)
            if given:
                self.url = given
            else:
                server = ThrowawayPostgres()
                try:
                    server.start()
                except BaseException:
                    server.stop()
                    raise
                atexit.register(server.stop)  # a safety net if a fixture is never finalised
                self.server = server
                self.url = server.url
        self.users += 1
        assert self.url is not None  # noqa: S101 - set above
        return self.url

    def migrated_template(self) -> str:
        if self.template is None:
            assert self.url is not None  # noqa: S101 - acquired first
            self.template = _migrated_template(self.url)
        return self.template

    def release(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        if self.template is not None and self.url is not None:
            drop_database(self.url, self.template)
        self.template = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.url = None


_SHARED = _SharedServer()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The URL of a PostgreSQL server for this test session (started on first use); without
    one the test is skipped, or failed under CI (:mod:`parley.testing.needs`)."""
    require(POSTGRESQL)
    url = _SHARED.acquire()
    try:
        yield url
    finally:
        _SHARED.release()


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url: str) -> str:
    """The name of a migrated template database on the session's server."""
    return _SHARED.migrated_template()


@pytest.fixture(params=_backends())
def database_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: the parametrised backend of this test."""
    return str(request.param)


@pytest.fixture
def database_url(database_backend: str, request: pytest.FixtureRequest,
                 tmp_path: Path) -> Iterator[str]:
    """A fresh database at the current schema on the test's backend (a SQLAlchemy URL)."""
    if database_backend == "sqlite":
        shutil.copyfile(migrated_sqlite(), tmp_path / "parley.sqlite3")
        yield f"sqlite+aiosqlite:///{tmp_path / 'parley.sqlite3'}"
        return
    server_url: str = request.getfixturevalue("postgres_server_url")
    template: str = request.getfixturevalue("postgres_template")
    url, name = create_database(server_url, template)
    try:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        drop_database(server_url, name)


@pytest.fixture
def postgres_database(postgres_server_url: str, postgres_template: str
                      ) -> Iterator[tuple[str, str]]:
    """A fresh migrated PostgreSQL database: its URL and its name (for nodes that reach the
    server at another address, e.g. across network namespaces)."""
    url, name = create_database(postgres_server_url, postgres_template)
    try:
        yield url, name
    finally:
        drop_database(postgres_server_url, name)
