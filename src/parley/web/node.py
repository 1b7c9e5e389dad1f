"""The store-and-web half of a Parley node, ready for the composition root to run.

``await build_web_node(settings, clock)`` opens (and migrates) the store and builds the live
bus, the web application, the webhook dispatcher and the recorders that write operator states
and call records; ``node.run()`` serves them until cancelled and closes the store last. The
telephony and ACD shells publish their events on ``node.bus`` (e.g.
``telephony.subscribe(node.bus.publish)``) and hand their seams in as ``calls`` and
``center``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from parley.bus import LiveBus
from parley.center.ports import CallControl, ContactCenter
from parley.clock import Clock
from parley.config import Settings
from parley.provisioning import DemoLogin, load_demo
from parley.store import Store, build_store
from parley.store.recorders import CallRecorder, StateRecorder
from parley.web.app import build_web_app
from parley.web.server import WebServer
from parley.webhooks import WebhookDispatcher


@dataclass
class WebNode:
    store: Store
    bus: LiveBus
    app: FastAPI
    server: WebServer
    dispatcher: WebhookDispatcher
    recorder: StateRecorder
    call_recorder: CallRecorder
    demo_login: DemoLogin | None = None

    @property
    def url(self) -> str:
        return self.server.url

    async def run(self) -> None:
        """Serve HTTP, deliver webhooks and record state changes until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.server.run())
                group.create_task(self.dispatcher.run())
                group.create_task(self.recorder.run())
                group.create_task(self.call_recorder.run())
        finally:
            await self.store.close()


async def build_web_node(settings: Settings, clock: Clock, *, bus: LiveBus | None = None,
                         calls: CallControl | None = None, center: ContactCenter | None = None,
                         store: Store | None = None, demo: bool = False) -> WebNode:
    """Everything the web side of a node needs, wired from settings. ``demo`` imports the
    demo configuration and gives the demo admin a fresh password (``node.demo_login``)."""
    store = store or await build_store(settings, clock=clock)
    demo_login = await load_demo(store) if demo else None
    bus = bus or LiveBus(clock)
    recordings: Path = settings.data_dir / "recordings"
    app = build_web_app(store, bus, clock=clock, calls=calls, center=center,
                        recordings_dir=recordings)
    return WebNode(store=store, bus=bus, app=app,
                   server=WebServer(app, settings.host, settings.http_port),
                   dispatcher=WebhookDispatcher(store, bus, clock),
                   recorder=StateRecorder(store, bus, clock),
                   call_recorder=CallRecorder(store, bus, clock), demo_login=demo_login)
