"""The composition root: builds every service of a node from typed settings and runs them.

Nothing else in Parley constructs subsystems; :func:`build` wires them here through
constructors (DESIGN.md §1.4): the store, the live bus, telephony, the contact center, the
recorders, webhooks and the web application. :meth:`Node.run` runs them in nested task groups
so that a stop is orderly: the front (SIP, calls, the web) stops first and its last events
(hang-ups) still reach the event journal; then the recorders write what the journal holds;
the journal and the store close last.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from parley.bus import LiveBus, Subscription
from parley.center.acd_shell import IN_FLOW, WAITING
from parley.center.call_feed import CallFeed
from parley.center.callbacks import CallbackKeeper
from parley.center.campaign_inbound import CampaignInbound
from parley.center.config import load_center_config
from parley.center.dialer_carry import CAMPAIGN
from parley.center.dialer_shell import DialerShell
from parley.center.flow_trials import FlowTrials
from parley.center.live import LiveCalls, LiveCenter
from parley.center.operator_feed import OperatorFeed, Today
from parley.center.shell import ContactCenter
from parley.clock import Clock, MonotonicClock
from parley.collector import FullCollections
from parley.config import (
    LANGUAGES,
    SecuritySettings,
    Settings,
    prompts_dir,
    voicemail_dir,
)
from parley.events import ConfigurationChanged, SecurityEvent, TelephonyEvent
from parley.ha import LeaseKeeper, LeaseLost, NodeStatus, SwitchOverRefused, single_status
from parley.ids import IdSource
from parley.journal import Journal
from parley.metrics import (
    LoopLagSampler,
    MetricsSources,
    RtpTotals,
    SecurityFigures,
    metrics_registry,
)
from parley.net.certificates import ServerCertificate, ensure_certificate, load_certificate
from parley.net.floating_ip import FloatingIp, FloatingIpError
from parley.net.transport import TcpLimits
from parley.net.websocket import CLOSE_GOING_AWAY, WsLimits
from parley.provisioning import DemoLogin, load_demo
from parley.reports.exports import ExportScheduler
from parley.sip.guard import GuardSettings
from parley.store import Store, build_store
from parley.store.bindings import BindingKeeper
from parley.store.credentials import Passwords
from parley.store.database import Conflict, NotFound
from parley.store.lease import LeaseConnection
from parley.store.prompts import PromptMirror
from parley.store.recorders import CallRecorder, StateRecorder
from parley.store.recording_files import RecordingFiles
from parley.store.records import RecordingRecord
from parley.store.retention import RetentionSweeper
from parley.store.security_log import SecurityRecorder
from parley.store.specs import InboundSpec, SiteSpec, TrunkSpec
from parley.telephony.carry import CallKeeper, Converser, carriable
from parley.telephony.channel import Bridge, Channel
from parley.telephony.dialplan import stay_bridged
from parley.telephony.server import Telephony, TelephonySettings
from parley.telephony.session_devices import SessionDevices
from parley.telephony.trunks import TrunkConfig
from parley.telephony.users import MemoryDirectory, SipUser, UserDirectory
from parley.web.app import build_web_app
from parley.web.server import ListenError, WebServer
from parley.web.supervisor import today_figures
from parley.webhooks import WebhookDispatcher

log = structlog.get_logger("parley.app")

SWITCH_OVER_DELAY_S = 0.2
#: how long an orderly stop of a cluster's active node waits for its browsers' WebSockets
#: to close before it lets the floating address go
WS_CLOSE_S = 0.5
"""A planned switch-over stops the node this long after it was asked: the answer first."""

DEFAULT_SIP_REALM = SiteSpec().sip_realm
"""The SIP realm of a site that has not set one (``site.sip_realm``)."""

#: Configuration kinds whose change the contact center takes at once.
CENTER_CONFIG_KINDS = frozenset({"queues", "users", "devices", "numbers", "flows",
                                 "number_lists", "site", "config", "trunks", "routes"})
#: Configuration kinds whose change reloads the SIP users.
SIP_USER_KINDS = frozenset({"devices", "site"})
#: Configuration kinds whose change reloads the carriers' trunks.
TRUNK_KINDS = frozenset({"trunks", "inbound"})
#: Configuration kinds the dialer reloads (campaign settings, do-not-call lists).
DIALER_KINDS = frozenset({"campaigns", "do_not_call", "site"})

DEMO_BANNER = (
    "Users: extensions 1001 to 1010; each SIP password is 'pw' followed by the "
    "extension (1001 -> pw1001).",
    "Register a second phone as 1002 and dial 1002 from 1001 (or the other way).",
    "Echo test: dial 500 and hear yourself.",
    "Contact center: dial 600 (menu: 1 sales, 2 support), 610 (the same menu in Russian, "
    "9 for English), 601 (sales queue), 602 (support queue), 800 (voicemail). A "
    "registered phone logs its operator in, ready: 1001-1005 serve support, 1006-1010 sales.",
)


@dataclass
class Node:
    """Everything a running Parley node is made of, built by :func:`build`."""

    settings: Settings
    clock: Clock
    ids: IdSource
    store: Store
    journal: Journal
    bus: LiveBus
    users: MemoryDirectory
    telephony: Telephony
    center: ContactCenter
    dialer: DialerShell
    callbacks: CallbackKeeper
    server: WebServer
    dispatcher: WebhookDispatcher
    state_recorder: StateRecorder
    call_recorder: CallRecorder
    security_recorder: SecurityRecorder
    loop_lag: LoopLagSampler
    call_feed: CallFeed
    recording_files: RecordingFiles
    demo: bool = False
    #: the console's operator rows as changes (parley.center.operator_feed)
    operator_feed: OperatorFeed | None = None
    demo_login: DemoLogin | None = None
    certificate: ServerCertificate | None = None  # HTTPS: the web server's certificate
    exports: ExportScheduler | None = None  # custom reports' scheduled exports
    #: deletes recordings past their retention (hourly; parley.store.retention)
    retention: RetentionSweeper | None = None
    #: the prompts uploaded or typed, from the store to this node's disk (parley.store.prompts)
    prompt_mirror: PromptMirror | None = None
    #: hot standby: the node's hold on its cluster's lease (parley.ha); None: a single node
    lease: LeaseKeeper | None = None
    #: the registrar's bindings in the store, restored when the node starts serving
    bindings: BindingKeeper | None = None
    #: hot standby: the relayed calls in the store, carried on when the node takes over
    carried: CallKeeper | None = None
    #: the cycle collector's full passes, when the node has no call (parley.collector)
    collections: FullCollections | None = None
    #: stops the node as SIGTERM does (set by :func:`run`; None: run some other way)
    request_stop: Callable[[], None] | None = None
    _unsubscribe: list[Callable[[], None]] = field(default_factory=list)
    #: the configuration reloaders' subscriptions while they run (:meth:`_changes`)
    reloads: list[Subscription] = field(default_factory=list)
    #: set once the call records the node's last run left in its journal are written, or
    #: left to its own recorder (parley.store.recorders.JournalConsumer.write_last_run)
    _last_run_written: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        """The web server's base URL (its port is known once it listens)."""
        return self.server.url

    @property
    def banner(self) -> list[str]:
        """What the node prints once everything listens."""
        settings = self.settings
        host, port = settings.host, self.telephony.sip_port
        lines = [f"Parley: SIP on {host}:{port} (UDP and TCP), RTP ports "
                 f"{settings.rtp_ports.first}-{settings.rtp_ports.last}."]
        if self.demo:
            lines += [*DEMO_BANNER,
                      f"Softphone: account sip:1001@{host}:{port}, user name 1001, password "
                      "pw1001, transport UDP or TCP.",
                      f"baresip: add  <sip:1001@{host}:{port}>;auth_pass=pw1001  to "
                      "~/.baresip/accounts"]
        lines.append(f"Web and REST API: {self.url}/api/docs")
        ws = self.url.replace("http", "ws", 1)
        lines.append(f"Browser phone: {self.url}/phone (SIP over WebSocket at {ws}/sip)")
        if self.certificate is not None:
            kind = "trial certificate (self-signed)" if self.certificate.generated \
                else "certificate"
            lines.append(f"HTTPS {kind} {self.certificate.certificate}, SHA-256 fingerprint "
                         f"{self.certificate.fingerprint}")
        if self.demo_login is not None:
            lines.append(f"Admin login: user {self.demo_login.username}, "
                         f"password {self.demo_login.password}")
        return lines

    async def start(self) -> None:
        """Copy the stored prompts to this node's disk, then bind the SIP listeners (a port
        in use fails here, before anything is promised)."""
        if self.prompt_mirror is not None:
            try:
                await self.prompt_mirror.sync()
            except Exception:  # the stock prompts still play; the next sync tries again
                log.exception("prompt_sync_failed")
        await self.telephony.start()
        await self._file_repaired_recordings()

    async def _repair_shared_recordings(self) -> None:
        """Recordings on shared storage: once active (and going on with the recordings of
        the calls carried over), repair and file those the other node, or this one before
        a restart, left unfinished; the compressor then looks for them."""
        try:
            await self.telephony.repair_shared_recordings()
        except Exception:  # the files stay as they are: a later takeover tries again
            log.exception("shared_recordings_not_repaired")
            return
        if await self._file_repaired_recordings():
            self.recording_files.sweep_again()

    async def _file_repaired_recordings(self) -> int:
        """File the recordings a crash cut off (repaired as telephony started) with their
        call records now, whatever the node's role: a node back as the standby files its
        own (each recording its own row: nothing the active node writes). Returns how
        many were filed."""
        filed = 0
        for stored in self.telephony.take_repaired():
            record = RecordingRecord(stored.recording_id, stored.interaction_id, stored.path,
                                     "audio/wav", stored.started_at, stored.duration_s,
                                     stored.pauses)
            try:
                try:
                    await self.store.recordings.add(record)
                except NotFound:  # its call record is gone: the recording is kept unlinked
                    await self.store.recordings.add(replace(record, interaction_id=None))
            except Conflict:
                continue  # filed at an earlier start
            except Exception:  # the file stays on disk and repaired
                log.exception("recording_not_filed", recording_id=stored.recording_id)
                continue
            log.warning("recording_filed_after_crash", recording_id=stored.recording_id,
                        interaction_id=stored.interaction_id, duration_s=stored.duration_s)
            filed += 1
        return filed

    async def run(self) -> None:
        """Serve until cancelled, then stop in order: front first, writers next, store last.

        In a hot-standby cluster (``lease``) the node answers SIP and the web from the start
        (503 while it does not serve) and keeps its configuration loaded; what does work of
        its own (the recorders, webhooks, the contact center, the dialer, callbacks, trunks'
        registrations, exports, retention) starts once it holds the lease. The lease is
        kept while the node stops and let go only once its records are written (else the
        standby, taking over at once, would fence the last of them off); a lost lease stops
        the node (:class:`parley.ha.LeaseLost`). The lease is sought only once the web server
        listens: start-up's own work must not delay the first renewals of a lease just
        taken (on a busy machine that cost the lease, and the node stopped)."""
        if self.lease is None:
            await self._run_services()
            return
        async with asyncio.TaskGroup() as group:
            services = group.create_task(self._run_services())
            await self.server.ready.wait()  # a service failing to start cancels this wait
            keeper = group.create_task(self.lease.run())
            await services
            keeper.cancel()  # pragma: no cover - the services run until cancelled

    async def _run_services(self) -> None:
        """Every service but the lease keeper, stopped in order when cancelled."""

        def publish(event: TelephonyEvent) -> None:
            self.bus.publish(event)

        active = self._when_active
        unsubscribe = self.telephony.subscribe(publish)
        try:
            async with asyncio.TaskGroup() as writers:
                writers.create_task(self.journal.run())
                writers.create_task(active(self.state_recorder.run))
                writers.create_task(self._write_last_run())
                writers.create_task(self._after_last_run(self.call_recorder.run))
                writers.create_task(active(self.security_recorder.run))
                writers.create_task(active(self.dispatcher.run))
                if self.exports is not None:
                    writers.create_task(active(self.exports.run))
                writers.create_task(active(self.recording_files.run))
                if self.bindings is not None:
                    writers.create_task(active(self.bindings.run))
                if self.carried is not None:
                    writers.create_task(active(self.carried.run, after_carried=False))
                if self.telephony.shared_recordings:
                    writers.create_task(active(self._repair_shared_recordings))
                async with asyncio.TaskGroup() as front:
                    front.create_task(self.telephony.run())
                    front.create_task(active(self.center.run))
                    front.create_task(active(self.dialer.run))
                    front.create_task(active(self._reload_dialer))
                    front.create_task(active(self.callbacks.run))
                    front.create_task(active(self.call_feed.run))
                    if self.operator_feed is not None:
                        front.create_task(active(self.operator_feed.run))
                    front.create_task(self.server.run())
                    front.create_task(self.loop_lag.run())
                    if self.collections is not None:
                        front.create_task(self.collections.run())
                    front.create_task(self._reload_sip_users())
                    front.create_task(self._reload_center())
                    front.create_task(active(self._start_trunks))
                    if self.retention is not None:
                        front.create_task(active(self.retention.run))
                    if self.prompt_mirror is not None:  # a standby keeps its prompts too
                        front.create_task(self.prompt_mirror.run())
        finally:
            unsubscribe()
            self.journal.close()
            await self.store.close()

    async def _write_last_run(self) -> None:
        """A hot-standby node started after a crash writes the call records its last run
        left in its journal at once, as the standby: they must not wait until it serves
        again, which may be never (docs/deployment.md, "Hot standby"). The calls that run
        cut off are closed once the active node has carried over what it could (it holds
        the lease and keeps none of them as this node's any more), those that went on there
        left to it; a node that becomes active first leaves that to its own recorder."""
        lease = self.lease
        try:
            if lease is None:
                return
            history = self.store.unfenced()
            recorder = CallRecorder(history, self.bus, self.clock, self.journal,
                                    node=lease.node)
            if not await recorder.write_last_run():
                return
            log.info("last_run_records_written", node=lease.node)
            while not lease.became_active.is_set():
                holder = lease.status().active_node
                live = await history.live_calls.all()
                if holder and holder != lease.node and not any(
                        call.state.get("node") == lease.node for call in live):
                    await recorder.close_last_run({call.interaction_id for call in live})
                    return
                await asyncio.sleep(lease.renew_interval_s)
        except Exception:  # left to the node's own recorder, once it is active
            log.exception("last_run_records_not_written")
        finally:
            self._last_run_written.set()

    async def _after_last_run(self, work: Callable[[], Awaitable[None]]) -> None:
        """``work`` (the call recorder's run) once the node is active and
        :meth:`_write_last_run` is done: the two never write the same journal at once."""
        await self._last_run_written.wait()
        await self._when_active(work)

    async def switch_over(self) -> str:
        """A planned switch-over (an upgrade): this node hands its answered two-party calls
        and its callers waiting in a queue to the standby and stops (as SIGTERM does: the
        floating address goes first, the records are written, the lease is let go, and the
        standby takes over at its next attempt and carries the calls on); other calls end.
        Raises :class:`SwitchOverRefused` with the reason when it cannot."""
        if self.lease is None or self.carried is None:
            raise SwitchOverRefused("this node is not one of a hot-standby cluster")
        if not self.lease.serving:
            raise SwitchOverRefused(self.lease.not_serving_reason() or "this node does not "
                                    "serve")
        if self.request_stop is None:
            raise SwitchOverRefused("this node cannot stop itself (not run by `parley serve`)")
        missing = await self.lease.standby_reason()
        if missing is not None:  # its calls would end with it: stop it on purpose instead
            raise SwitchOverRefused(f"{missing}: the calls would end with this node")
        self.telephony.engine.handed_over = self.carried.keeps
        kept = [channel for channel in self.telephony.channels() if self.carried.keeps(channel)]
        talking = sum(1 for channel in kept
                      if channel.bridge is not None and carriable(channel.bridge)) // 2
        waiting = len(kept) - 2 * talking
        log.warning("ha_switch_over", node=self.lease.node, calls_handed_over=talking,
                    waiting_handed_over=waiting)
        asyncio.get_running_loop().call_later(SWITCH_OVER_DELAY_S, self.request_stop)
        return (f"node {self.lease.node} hands {talking} answered call(s) and {waiting} "
                "waiting caller(s) to the standby and stops")

    async def _when_active(self, work: Callable[[], Awaitable[None]], *,
                           after_carried: bool = True) -> None:
        """Run ``work`` once the node is active (at once without a lease), and, in a
        cluster, once the calls the other node kept are carried on here (their ports
        first: the dialer and callbacks place calls too) unless ``after_carried`` is
        False (the call keeper itself)."""
        if self.lease is not None:
            await self.lease.became_active.wait()
        if self.carried is not None and after_carried:
            await self.carried.restored.wait()
        await work()

    async def _start_trunks(self) -> None:
        """In a hot-standby cluster the trunks register only from the active node: load them
        now; then follow their changes."""
        if self.lease is not None:
            await self.telephony.set_trunks(await load_trunks(self.store))
        await self._reload_trunks()

    @contextlib.asynccontextmanager
    async def _changes(self, kinds: Collection[str]) -> AsyncIterator[Subscription]:
        """The configuration changes of ``kinds``, every one, for a reloader (in
        :attr:`reloads` while it takes them)."""
        async with self.bus.subscribe(
                lambda envelope: isinstance(envelope.event, ConfigurationChanged)
                and envelope.event.kind in kinds, lossless=True) as changes:
            self.reloads.append(changes)
            try:
                yield changes
            finally:
                self.reloads.remove(changes)

    async def _reload_sip_users(self) -> None:
        """Devices or the site changed: load the SIP users again, for the site's realm (a
        changed realm applies at once, and devices need their passwords set again)."""
        async with self._changes(SIP_USER_KINDS) as changes:
            async for _changes in changes.batches():  # a burst: one reload
                realm = (await self.store.config.site()).sip_realm
                if realm != self.telephony.realm:
                    log.warning("sip_realm_changed", old=self.telephony.realm, new=realm,
                                reason="device credentials are digests for the old realm: "
                                       "set each device's SIP password again")
                    self.telephony.set_realm(realm)
                await load_sip_users(self.store, self.users, realm)

    async def _reload_trunks(self) -> None:
        """Trunks or their inbound settings changed: the node takes them at once (a changed
        trunk registers again; a removed one unregisters)."""
        async with self._changes(TRUNK_KINDS) as changes:
            async for _changes in changes.batches():  # a burst: one reload
                try:
                    await self.telephony.set_trunks(await load_trunks(self.store))
                except Exception:
                    log.exception("trunks_reload_failed")

    async def _reload_dialer(self) -> None:
        """Campaigns or do-not-call lists changed through the API or an import: the dialer
        loads them again (a supervisor's pause is runtime state the store keeps)."""
        async with self._changes(DIALER_KINDS) as changes:
            async for _changes in changes.batches():  # a burst: one reload
                try:
                    await self.dialer.campaigns_changed()
                except Exception:
                    log.exception("dialer_reload_failed")

    async def _reload_center(self) -> None:
        """Configuration changed through the API or an import: the contact center takes it."""
        async with self._changes(CENTER_CONFIG_KINDS) as changes:
            async for _changes in changes.batches():  # a burst: one reload
                try:
                    self.center.apply_config(await load_center_config(self.store))
                except Exception:
                    log.exception("center_reload_failed")


async def build(settings: Settings, *, demo: bool = False, clock: Clock | None = None,
                passwords: Passwords | None = None) -> Node:
    """Build a node from settings: open (and migrate) the store, load the SIP users from its
    devices (HA1 hashes only) for the site's SIP realm, and wire telephony, the contact
    center, the recorders and the web application. ``demo`` imports the demo configuration,
    gives the demo admin a fresh password and adds the echo test at 500. ``passwords`` is the
    argon2 cost of login passwords (by default production's; in-process test nodes pass
    :meth:`Passwords.cheap`)."""
    clock = clock or MonotonicClock()
    ids = IdSource(clock)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    certificate = server_certificate(settings)
    store = await build_store(settings, clock=clock, passwords=passwords)
    try:
        demo_login = await load_demo(store) if demo else None
        users = MemoryDirectory()
        realm = (await store.config.site()).sip_realm
        await load_sip_users(store, users, realm)
        security = settings.security
        journal = Journal(settings.data_dir / "journal")
        node_name = settings.ha.node_name if settings.ha is not None else ""
        journal.open(after=await store.journal_marks.highest(node_name))
        bus = LiveBus(clock, journal=journal.append)
        # Browser phones of signed-in web sessions authenticate with short-lived credentials
        # looked up beside the site's devices.
        phones = SessionDevices(users, clock, lambda: telephony.realm,
                                lifetime_s=security.phone_credentials_s)
        telephony = build_telephony(settings, phones, clock, ids, realm=realm, demo=demo,
                                    on_security_event=bus.publish)
        lease = lease_keeper(settings, store, clock, bus)
        if lease is None:  # in a cluster, only the active node registers trunks
            await telephony.set_trunks(await load_trunks(store))
        telephony.engine.refusing = lease.not_serving_reason if lease is not None else None
        health: Callable[[], NodeStatus] = lease.status if lease is not None \
            else single_node_status(settings)
        phones.on_revoked = telephony.engine.credential_revoked
        bindings = BindingKeeper(store.bindings, telephony.engine.restore_bindings, clock)
        telephony.engine.bindings_changed = bindings.changed
        carried = None
        if lease is not None and settings.ha is not None:
            carried = CallKeeper(store.live_calls, telephony.engine, clock, talk=stay_bridged,
                                 node=node_name)
            telephony.engine.bridge_changed = carried.changed
            # no new call takes a port before the calls carried over have theirs back
            telephony.engine.refusing = refusing_until_carried(lease, carried)
            telephony.engine.new_work_waits = waiting_while_carried(lease, carried)
            health = status_until_carried(lease, carried)  # 200 once it takes calls
        center = ContactCenter(telephony, clock, await load_center_config(store),
                               publish=bus.publish, data_dir=settings.data_dir, ids=ids,
                               audit_s=settings.live_leg_audit_s)
        calls, live_center = LiveCalls(center), LiveCenter(center)
        dialer = DialerShell(center, store.campaigns, clock, publish=bus.publish, ids=ids)
        if carried is not None:  # the contact center's calls are carried over as its own
            center.shell.carry = carried
            carried.resumers[WAITING] = center.resume_waiting
            carried.resumers[IN_FLOW] = center.resume_flow
            carried.call_details, carried.converse = conversations(center, dialer)
        center.on_arrival = CampaignInbound(dialer, store.campaigns, ids).arriving
        state_recorder = StateRecorder(store, bus, clock, journal, node=node_name,
                                       interval_s=settings.records_interval_s)
        call_recorder = CallRecorder(store, bus, clock, journal, node=node_name,
                                     interval_s=settings.records_interval_s)
        loop_lag = LoopLagSampler(clock)
        metrics = metrics_registry(metrics_sources(
            telephony, center, calls, live_center, loop_lag,
            recorders={"calls": call_recorder, "operator_states": state_recorder},
            health=health))
        app = build_web_app(store, bus, clock=clock, calls=calls, center=live_center,
                            recordings_dir=telephony.media.recordings_dir,
                            voicemail_dir=voicemail_dir(settings.data_dir),
                            login_attempts=security.login_free_attempts,
                            login_address_attempts=security.login_address_attempts,
                            login_base_delay_s=security.login_base_delay_s,
                            login_max_delay_s=security.login_max_delay_s,
                            trusted_networks=tuple(security.trusted_networks),
                            security=telephony.guard,
                            node_modules=settings.node_modules_dir, metrics=metrics,
                             trunks=telephony.trunk_statuses,
                             secure_cookies=certificate is not None,
                             sip_ws=telephony.transport.ws, phones=phones,
                             campaigns=dialer, prompts=telephony.prompts,
                             directory=settings.directory, webrtc=settings.webrtc,
                             flow_trials=FlowTrials(center, clock), health=health,
                             refusing=lease.not_serving_reason if lease is not None
                             else None)
    except BaseException:
        await store.close()
        raise
    node = Node(settings=settings, clock=clock, ids=ids, store=store, journal=journal, bus=bus,
                users=users,
                telephony=telephony, center=center, dialer=dialer,
                callbacks=CallbackKeeper(center.shell, store, bus),
                server=WebServer(app, settings.host, settings.http_port,
                                 trusted_proxies=tuple(settings.security.trusted_proxies),
                                 certificate=certificate.certificate if certificate else None,
                                 private_key=certificate.private_key if certificate else None,
                                 also=(str(settings.ha.node_address),)
                                 if settings.ha is not None and settings.ha.node_address
                                 else ()),
                dispatcher=WebhookDispatcher(store, bus, clock),
                state_recorder=state_recorder, call_recorder=call_recorder,
                security_recorder=SecurityRecorder(store, bus, clock), loop_lag=loop_lag,
                collections=FullCollections(
                    clock, lambda: len(telephony.engine.active_channels)),
                call_feed=CallFeed(bus, calls.live_calls, clock),
                recording_files=RecordingFiles(
                    store, bus, recordings_dir=telephony.media.recordings_dir,
                    voicemail_dir=voicemail_dir(settings.data_dir),
                    recording_format=settings.recording_format),
                operator_feed=OperatorFeed(bus, live_center.operators_now, calls.live_calls,
                                           clock, today=_today_of(store, clock)),
                demo=demo, demo_login=demo_login, certificate=certificate,
                exports=ExportScheduler(store, clock),
                retention=RetentionSweeper(
                    store, telephony.media.recordings_dir, clock),
                prompt_mirror=PromptMirror(store.prompts, prompts_dir(settings.data_dir), clock,
                                           LANGUAGES),
                lease=lease, bindings=bindings, carried=carried)
    app.state.parley.switch_over = node.switch_over
    return node


def conversations(center: ContactCenter, dialer: DialerShell
                  ) -> tuple[Callable[[Bridge], dict[str, Any] | None], Converser]:
    """What a hot standby keeps of a conversation, and who goes on with it there: a caller
    an operator answered from a queue is the contact center's, a customer a campaign
    dialled is the dialer's (its details say ``kind: campaign``)."""

    def details(bridge: Bridge) -> dict[str, Any] | None:
        return center.shell.conversation_details(bridge) or dialer.carry.details(bridge)

    def converse(bridge: Bridge, first: Channel, second: Channel,
                 kept: Mapping[str, Any], node: str) -> Awaitable[None]:
        resume = dialer.carry.resume if kept.get("kind") == CAMPAIGN \
            else center.resume_conversation
        return resume(bridge, first, second, kept, node)

    return details, converse


def refusing_until_carried(lease: LeaseKeeper, carried: CallKeeper
                           ) -> Callable[[], str | None]:
    """Why the engine takes no new call: the node does not serve, or it has not yet carried
    on the calls the other node kept (a new call must not take their ports)."""

    def refusing() -> str | None:
        return lease.not_serving_reason() or carried.not_ready_reason()
    return refusing


def waiting_while_carried(lease: LeaseKeeper, carried: CallKeeper
                          ) -> Callable[[], asyncio.Event | None]:
    """What a new call waits for on a node that serves but still carries the other node's
    calls over (their being carried: a moment); None when it need not wait."""

    def waits() -> asyncio.Event | None:
        if carried.restored.is_set() or lease.not_serving_reason() is not None:
            return None
        return carried.restored
    return waits


def status_until_carried(lease: LeaseKeeper, carried: CallKeeper
                         ) -> Callable[[], NodeStatus]:
    """The node's health: the lease's, but not serving (503, with the reason) while the
    node that has just taken the lease still carries the other node's calls over and
    answers new calls 503 (a probe must not see it serving before a call would be)."""

    def status() -> NodeStatus:
        current = lease.status()
        reason = carried.not_ready_reason() if current.serving else None
        return current if reason is None else replace(current, serving=False, reason=reason)
    return status


def lease_keeper(settings: Settings, store: Store, clock: Clock,
                 bus: LiveBus) -> LeaseKeeper | None:
    """The node's lease keeper when it is one of a hot-standby pair (``ha`` settings): it
    holds the store's fence, so the node's live-state writes carry its token."""
    ha = settings.ha
    if ha is None:
        return None
    address = None
    if ha.floating_ip is not None and ha.interface is not None:
        # a starting node is the standby: it removes the address if it still has it (from
        # before a crash), and a missing capability or device stops it here
        address = FloatingIp(ha.floating_ip, ha.interface)
        if address.open():
            log.warning("ha_floating_ip_removed_at_start", address=str(ha.floating_ip),
                        interface=ha.interface, reason="this node starts as the standby")
    return LeaseKeeper(LeaseConnection(store.url, ha.cluster), store.fence, clock,
                       node=ha.node_name, renew_interval_s=ha.renew_interval_s,
                       lapse_s=ha.lapse_s, publish=bus.publish, address=address)


def single_node_status(settings: Settings) -> Callable[[], NodeStatus]:
    """``/api/health`` of a node without ``ha``: always active."""
    import socket

    status = single_status(socket.gethostname() or settings.host)
    return lambda: status


def _today_of(store: Store, clock: Clock) -> Callable[[], Awaitable[Today]]:
    """Each operator's answered calls and talk time today (the site's day), for the
    console's operator feed."""

    async def today() -> Today:
        site = await store.config.site()
        return await today_figures(store, clock, site.time_zone or "UTC")

    return today


def server_certificate(settings: Settings) -> ServerCertificate | None:
    """The HTTPS certificate (the site's, or a trial one made at first start); None when
    the node serves plain HTTP."""
    if not settings.https:
        return None
    if settings.https_certificate is not None and settings.https_private_key is not None:
        return load_certificate(settings.https_certificate, settings.https_private_key)
    made = ensure_certificate(settings.data_dir / "tls", [settings.host, *settings.https_names])
    log.warning("https_trial_certificate", certificate=str(made.certificate),
                fingerprint=made.fingerprint,
                fix="give the site's own certificate (https_certificate, https_private_key) "
                    "or have browsers trust this one: docs/deployment.md")
    return made


def metrics_sources(telephony: Telephony, center: ContactCenter, calls: LiveCalls,
                    live_center: LiveCenter, loop_lag: LoopLagSampler, *,
                    recorders: Mapping[str, StateRecorder | CallRecorder],
                    health: Callable[[], NodeStatus] | None = None) -> MetricsSources:
    """What ``/metrics`` reads from the running services (each a read-only callable)."""
    engine, relay = telephony.engine, telephony.relay

    def operator_states() -> dict[str, int]:
        return dict(Counter(str(agent.state) for agent in center.shell.acd.agents.values()))

    def rtp() -> RtpTotals:
        received, sent, lost = relay.packet_totals()
        return RtpTotals(received=received, sent=sent, lost=lost,
                         forwarded=relay.forwarded_directions)

    return MetricsSources(
        calls_in_progress=lambda: len(calls.live_calls()),
        call_legs=lambda: engine.stats.calls,
        channels=lambda: len(engine.active_channels),  # ended ones linger for retransmissions
        queues=live_center.queue_figures,
        operator_states=operator_states,
        rtp=rtp,
        sip_responses=lambda: dict(engine.stats.responses),
        records_waiting=lambda: {name: recorder.backlog for name, recorder in recorders.items()},
        event_loop_lag=lambda: loop_lag.lag, event_loop_delay=loop_lag.histogram,
        security=lambda: security_figures(telephony),
        trunks=telephony.trunk_statuses, ha=health)


def security_figures(telephony: Telephony) -> SecurityFigures:
    """The SIP guard's and the TCP limits' figures, for ``/metrics``."""
    guard, transport = telephony.guard, telephony.transport
    return SecurityFigures(
        auth_failures=guard.failures_total, refused=guard.refused_total,
        bans=guard.bans_total, locks=guard.locks_total, toll_fraud=guard.toll_fraud_total,
        active_bans=guard.active_bans, active_locks=guard.active_locks,
        tcp_connections=transport.tcp_connections, tcp_refused=transport.tcp_refused,
        tcp_closed_idle=transport.tcp_closed_idle, tcp_closed_slow=transport.tcp_closed_slow)


def build_telephony(settings: Settings, users: UserDirectory, clock: Clock, ids: IdSource, *,
                    realm: str = DEFAULT_SIP_REALM, demo: bool = False,
                    on_security_event: Callable[[SecurityEvent], object] | None = None
                    ) -> Telephony:
    """The SIP server (UDP+TCP), registrar, B2BUA and RTP relay for ``users`` (HA1 hashes for
    ``realm``, the site's SIP realm), with the security limits of ``settings.security``
    (bans and locks reported to ``on_security_event``); ``demo`` adds the echo test at 500."""
    telephony = Telephony(
        TelephonySettings(host=settings.host, sip_port=settings.sip_port,
                          rtp_ports=(settings.rtp_ports.first, settings.rtp_ports.last),
                          realm=realm, data_dir=settings.data_dir, sip_t1=settings.sip_t1,
                          min_expires=settings.sip_min_expires,
                          media=settings.media, guard=guard_settings(settings.security),
                          tcp=tcp_limits(settings.security),
                          ws=ws_limits(settings.security)),
        users, clock, ids, on_security_event=on_security_event)
    if demo:
        from parley.telephony.dialplan import echo_test

        telephony.route("500", echo_test, public=False)
    return telephony


def guard_settings(security: SecuritySettings) -> GuardSettings:
    """The SIP guard's thresholds from the security settings."""
    return GuardSettings(enabled=security.sip_guard,
                         address_failures=security.sip_address_failures,
                         user_failures=security.sip_user_failures,
                         window_s=security.sip_failure_window_s, ban_s=security.sip_ban_s,
                         max_ban_s=security.sip_max_ban_s, lock_s=security.sip_lock_s,
                         trusted_networks=tuple(security.trusted_networks))


def tcp_limits(security: SecuritySettings) -> TcpLimits:
    """The SIP-over-TCP bounds from the security settings."""
    return TcpLimits(first_message_s=security.tcp_first_message_s,
                     message_s=security.tcp_message_s, idle_s=security.tcp_idle_s,
                     max_connections=security.tcp_max_connections,
                     max_per_source=security.tcp_max_per_source,
                     trusted_networks=tuple(security.trusted_networks))


def ws_limits(security: SecuritySettings) -> WsLimits:
    """The SIP-over-WebSocket bounds from the security settings."""
    return WsLimits(max_message_bytes=security.ws_max_message_bytes,
                    messages_per_second=security.ws_messages_per_second,
                    burst=security.ws_burst, idle_s=security.ws_idle_s,
                    max_connections=security.ws_max_connections)


async def load_sip_users(store: Store, users: MemoryDirectory, realm: str) -> None:
    """Replace the SIP directory's users with the store's devices for ``realm`` (the site's
    SIP realm); a device whose digests are for another realm is skipped, with a warning."""
    loaded: list[SipUser] = []
    for device in await store.directory.devices():
        if device.realm != realm:
            log.warning("sip_device_skipped", device=device.username, realm=device.realm,
                        reason=f"credentials are for realm {device.realm!r}, the SIP server's "
                               f"realm is {realm!r}: set the device password again")
            continue
        hashes = {name: value for name, value in (("MD5", device.ha1_md5),
                                                  ("SHA-256", device.ha1_sha256)) if value}
        loaded.append(SipUser(name=device.username, ha1=hashes,
                              static_contact=device.static_contact))
    users.replace(loaded)


async def load_trunks(store: Store) -> list[TrunkConfig]:
    """The configured trunks as telephony takes them, each with its ``inbound`` settings."""
    specs = await store.config.records("trunks")
    inbound = {spec.key: spec for spec in await store.config.records("inbound")}
    configs: list[TrunkConfig] = []
    for spec in specs:
        assert isinstance(spec, TrunkSpec)  # noqa: S101 - records("trunks") holds TrunkSpecs
        number_from = "request_uri"
        found = inbound.get(spec.name)
        if isinstance(found, InboundSpec):
            number_from = found.number_from
        configs.append(trunk_config(spec, number_from))
    return configs


def trunk_config(spec: TrunkSpec, number_from: str = "request_uri") -> TrunkConfig:
    """One trunk's configuration record as telephony takes it."""
    return TrunkConfig(
        name=spec.name, host=spec.host, port=spec.port, transport=spec.transport,
        kind=spec.kind, username=spec.username, password=spec.password,
        allowed_ips=tuple(spec.allowed_ips), caller_id=spec.caller_id,
        max_channels=spec.max_channels, max_cps=spec.max_cps, codecs=tuple(spec.codecs),
        dtmf_mode=spec.dtmf_mode, expires=spec.expires,
        options_interval=float(spec.options_interval), number_from=number_from,
        sips=spec.sips, tls_ca_file=spec.tls_ca_file, tls_cert_file=spec.tls_cert_file,
        tls_key_file=spec.tls_key_file, srtp=spec.srtp)


def settle_memory() -> None:
    """Once started: keep start-up objects, which live as long as the node, out of the
    collector's working set, and collect the young generations in small steps. With a
    first threshold of 20,000 and 50 of those per middle-generation collection, that
    collection took 450-520 ms once in every 30 s run at 100 calls/s (the loop stood still,
    offers paused 0.5-0.6 s); with 2,000 and 10 it takes 20-40 ms, 1-2 times a second, for
    the same CPU (docs/benchmarks.md, "Responsiveness under load"). The third threshold
    counts only when no node runs: a running one decides its full passes itself
    (:class:`parley.collector.FullCollections`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(2_000, 10, 100)


async def serve(node: Node, *, ready: Callable[[Node], None] | None = None) -> None:
    """Run the node until cancelled or until one of its services fails; ``ready`` is called
    once SIP and the web server listen. A hot-standby node that lost its lease raises
    :class:`~parley.ha.LeaseLost`."""
    try:
        await node.start()
    except BaseException:
        await node.store.close()
        raise
    settle_memory()
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(node.run())
            await node.server.ready.wait()  # a service that fails to start cancels this wait
            if ready is not None:
                ready(node)
    except* LeaseLost as lost:  # the node stopped because it lost its lease: say so plainly
        raise _leaf(lost) from None
    except* FloatingIpError as failed:  # it took the lease but cannot hold the address
        raise _leaf(failed) from None
    except* ListenError as failed:  # the web server's address is not this host's, or taken
        raise _leaf(failed) from None


def _leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception inside (nested) task groups' ``group``."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def run(settings: Settings, *, demo: bool = False,
        ready: Callable[[Node], None] | None = None) -> None:
    """Build and run a node in the foreground until SIGINT or SIGTERM, then stop cleanly."""

    async def main() -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task here
            raise RuntimeError("parley must run inside an asyncio task")
        loop = asyncio.get_running_loop()
        node: Node | None = None
        letting_go: set[asyncio.Task[None]] = set()

        def stop() -> None:
            # the floating address goes before anything else stops: the node takes no new
            # traffic from here while it ends its calls and writes its records
            if node is not None and node.lease is not None and node.lease.holds_address():
                letting_go.add(loop.create_task(let_address_go(node)))
                return
            if node is not None and node.lease is not None:
                node.lease.stopping()
            task.cancel()

        async def let_address_go(node: Node) -> None:
            # the browsers' WebSockets are closed while the address is here: once it is
            # gone their goodbye cannot leave, and a browser not told keeps a dead
            # connection (its calls' requests would never reach it on the node taking over)
            try:
                closed = await node.telephony.transport.ws.close_all(
                    CLOSE_GOING_AWAY, "the node is stopping", within_s=WS_CLOSE_S)
                if closed:
                    log.info("ws_closed_before_address_goes", connections=closed)
            finally:
                if node.lease is not None:
                    node.lease.stopping()
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        node = await build(settings, demo=demo)
        node.request_stop = stop
        with contextlib.suppress(asyncio.CancelledError):
            await serve(node, ready=ready)

    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(main())
    else:
        uvloop.run(main())
