"""A real Parley API server for tests: store, live bus, web app and uvicorn on a free loopback
port, running in a background thread with its own event loop, so that tests (and tools such
as schemathesis) talk to it over real HTTP and WebSocket connections.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI
from prometheus_client.registry import CollectorRegistry

from parley.bus import LiveBus
from parley.center.ports import CallControl, CampaignControl, ContactCenter, SecurityControl
from parley.clock import Clock, MonotonicClock
from parley.config import DirectorySettings, MediaSettings, recordings_dir, voicemail_dir
from parley.store import Store, open_store
from parley.store.credentials import Passwords
from parley.store.recorders import CallRecorder, StateRecorder
from parley.store.security_log import SecurityRecorder
from parley.store.specs import DeviceSpec, UserSpec
from parley.telephony.prompts import PromptLibrary
from parley.web.app import build_web_app
from parley.web.server import WebServer
from parley.webhooks import WebhookDispatcher

T = TypeVar("T")


@dataclass
class ApiServer:
    """Start with :meth:`start`, stop with :meth:`stop` (or use it as a context manager)."""

    database_url: str
    calls: CallControl | None = None
    center: ContactCenter | None = None
    campaigns: CampaignControl | None = None
    #: the node's data folder: recordings and voicemail are served from where a node keeps
    #: them inside it (``recordings_dir``, ``voicemail_dir`` set from it unless given), and
    #: uploaded prompts are kept there as a node keeps them (``prompts`` unless given)
    data_dir: Path | None = None
    recordings_dir: Path | None = None
    voicemail_dir: Path | None = None
    prompts: PromptLibrary | None = None
    node_modules: Path | None = None  # None: the checkout's, as a node from a checkout
    metrics: CollectorRegistry | None = None  # served at /metrics when given
    clock: Clock = field(default_factory=MonotonicClock)
    webhook_base_delay_s: float = 1.0
    webhook_attempts: int = 6
    login_attempts: int = 5
    login_base_delay_s: float = 1.0
    trusted_networks: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    security: SecurityControl | None = None
    directory: DirectorySettings | None = None  # sign-in through LDAP (parley.directory)
    store: Store | None = field(init=False, default=None)
    bus: LiveBus | None = field(init=False, default=None)
    url: str = field(init=False, default="")
    app: FastAPI | None = field(init=False, default=None)
    _loop: asyncio.AbstractEventLoop | None = field(init=False, default=None)
    _stop: asyncio.Event | None = field(init=False, default=None)
    _thread: threading.Thread | None = field(init=False, default=None)
    _ready: threading.Event = field(init=False, default_factory=threading.Event)
    _error: BaseException | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.data_dir is not None:
            self.recordings_dir = self.recordings_dir or recordings_dir(self.data_dir)
            self.voicemail_dir = self.voicemail_dir or voicemail_dir(self.data_dir)
            self.prompts = self.prompts or PromptLibrary.from_settings(MediaSettings(),
                                                                       self.data_dir)

    def start(self, timeout: float = 60.0) -> ApiServer:
        self._thread = threading.Thread(target=self._main, name="parley-api", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the API server did not start")
        if self._error is not None:
            raise RuntimeError("the API server failed to start") from self._error
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.store = await open_store(self.database_url, clock=self.clock,
                                      passwords=Passwords.cheap())
        self.bus = LiveBus(self.clock)
        app = build_web_app(self.store, self.bus, clock=self.clock, calls=self.calls,
                            center=self.center, recordings_dir=self.recordings_dir,
                            voicemail_dir=self.voicemail_dir, node_modules=self.node_modules,
                            metrics=self.metrics,
                            login_attempts=self.login_attempts,
                            login_base_delay_s=self.login_base_delay_s,
                            trusted_networks=self.trusted_networks, security=self.security,
                            campaigns=self.campaigns, prompts=self.prompts,
                            directory=self.directory)
        self.app = app
        server = WebServer(app, "127.0.0.1", 0, trusted_proxies=self.trusted_proxies)
        dispatcher = WebhookDispatcher(self.store, self.bus, self.clock,
                                       max_attempts=self.webhook_attempts,
                                       base_delay_s=self.webhook_base_delay_s)
        recorder = StateRecorder(self.store, self.bus, self.clock)
        call_recorder = CallRecorder(self.store, self.bus, self.clock)
        security_recorder = SecurityRecorder(self.store, self.bus, self.clock)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(server.run()), group.create_task(dispatcher.run()),
                         group.create_task(recorder.run()),
                         group.create_task(call_recorder.run()),
                         group.create_task(security_recorder.run())]
                await server.ready.wait()
                self.url = server.url
                self._ready.set()
                await self._stop.wait()
                for task in tasks:
                    task.cancel()
        finally:
            await self.store.close()

    def call(self, function: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run ``function()`` on the server's loop (e.g. a store call) and return its result."""
        assert self._loop is not None  # noqa: S101 - started first

        async def run() -> T:
            return await function()

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout)

    def publish(self, event: object) -> None:
        """Publish an event on the server's live bus, as telephony or the ACD would."""
        assert self._loop is not None  # noqa: S101 - started first
        assert self.bus is not None  # noqa: S101 - started first
        self._loop.call_soon_threadsafe(self.bus.publish, event)

    def add_user(self, username: str, roles: list[str], password: str = "password-123",  # noqa: S107 - test accounts
                 *, device: bool = False) -> str:
        """Create a user (and a device of the same name) and return a bearer token for it."""
        store = self.store
        assert store is not None  # noqa: S101 - started first

        async def create() -> str:
            await store.config.put("users", UserSpec.model_validate(
                {"username": username, "roles": roles,
                 "password_hash": await store.passwords.hash(password)}))
            if device:
                await store.config.put("devices", DeviceSpec(name=username, user=username,
                                                             sip_password="sip-" + username))
            token, _ = await store.accounts.create_token(username, "test", self.clock.utcnow())
            return token

        return self.call(create)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
