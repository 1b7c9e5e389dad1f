"""The store: every configuration record and everything that happens, in SQLite or PostgreSQL.

Build it with :func:`build_store` (which runs the migrations); the repositories hang off the
returned :class:`Store`. Nothing outside this package sees SQLAlchemy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from parley.clock import Clock, MonotonicClock
from parley.config import Settings
from parley.store.activity import (
    CallbackRepository,
    InteractionRepository,
    JournalMarkRepository,
    OperatorStateRepository,
    RecordingRepository,
    VoicemailRepository,
)
from parley.store.bindings import BindingRepository
from parley.store.campaigns import CampaignRepository
from parley.store.configuration import ConfigRepository
from parley.store.credentials import Passwords
from parley.store.custom_reports import CustomReportRepository
from parley.store.customers import CustomerRepository
from parley.store.database import (
    Conflict,
    NotFound,
    Refused,
    StoreError,
    create_engine,
    database_url,
    migrate,
)
from parley.store.flow_drafts import FlowDrafts
from parley.store.lease import Fence, Fenced
from parley.store.live_calls import LiveCallRepository
from parley.store.prompts import PromptRepository
from parley.store.quality import QualityRepository
from parley.store.report_rows import ReportRowRepository
from parley.store.reports import ReportRepository
from parley.store.security import (
    AccountRepository,
    AuditRepository,
    DeliveryRepository,
    DirectoryRepository,
)
from parley.store.wrapups import WrapupRepository

__all__ = ["Conflict", "Fence", "Fenced", "NotFound", "Refused", "Store", "StoreError",
           "build_store", "open_store"]


@dataclass
class Store:
    """The repositories over one database."""

    engine: AsyncEngine
    clock: Clock
    url: str
    passwords: Passwords = field(default_factory=Passwords)
    #: the node's hold on the lease; live-state writes check it (a single node: no fence)
    fence: Fence = field(default_factory=Fence)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    config: ConfigRepository = field(init=False)
    accounts: AccountRepository = field(init=False)
    audit: AuditRepository = field(init=False)
    directory: DirectoryRepository = field(init=False)
    deliveries: DeliveryRepository = field(init=False)
    interactions: InteractionRepository = field(init=False)
    journal_marks: JournalMarkRepository = field(init=False)
    operator_states: OperatorStateRepository = field(init=False)
    recordings: RecordingRepository = field(init=False)
    voicemails: VoicemailRepository = field(init=False)
    callbacks: CallbackRepository = field(init=False)
    campaigns: CampaignRepository = field(init=False)
    wrapups: WrapupRepository = field(init=False)
    customers: CustomerRepository = field(init=False)
    reports: ReportRepository = field(init=False)
    report_rows: ReportRowRepository = field(init=False)
    quality: QualityRepository = field(init=False)
    custom_reports: CustomReportRepository = field(init=False)
    flows: FlowDrafts = field(init=False)
    prompts: PromptRepository = field(init=False)
    bindings: BindingRepository = field(init=False)
    live_calls: LiveCallRepository = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.config = ConfigRepository(self.sessions, self.clock, self.passwords)
        self.accounts = AccountRepository(self.sessions, self.passwords)
        self.audit = AuditRepository(self.sessions)
        self.directory = DirectoryRepository(self.sessions)
        self.deliveries = DeliveryRepository(self.sessions, self.fence)
        self.interactions = InteractionRepository(self.sessions, self.fence)
        self.journal_marks = JournalMarkRepository(self.sessions, self.fence)
        self.operator_states = OperatorStateRepository(self.sessions, self.fence)
        self.recordings = RecordingRepository(self.sessions)
        self.voicemails = VoicemailRepository(self.sessions)
        self.callbacks = CallbackRepository(self.sessions, self.fence)
        self.campaigns = CampaignRepository(self.sessions, self.clock, self.fence)
        self.wrapups = WrapupRepository(self.sessions, self.fence)
        self.customers = CustomerRepository(self.sessions, self.clock)
        self.reports = ReportRepository(self.sessions, self.clock)
        self.report_rows = ReportRowRepository(self.sessions)
        self.quality = QualityRepository(self.sessions)
        self.custom_reports = CustomReportRepository(self.sessions)
        self.flows = FlowDrafts(self.sessions, self.clock)
        self.prompts = PromptRepository(self.sessions)
        self.bindings = BindingRepository(self.sessions, self.fence)
        self.live_calls = LiveCallRepository(self.sessions, self.fence)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def unfenced(self) -> Store:
        """The same database with writes not fenced by the lease: for a hot-standby node's
        records of its own last run, written while it is the standby (parley.app). Not
        closed on its own: it shares this store's engine."""
        return dataclasses.replace(self, fence=Fence())

    async def close(self) -> None:
        await self.engine.dispose()


async def open_store(url: str, *, clock: Clock | None = None, run_migrations: bool = True,
                     passwords: Passwords | None = None,
                     idle_in_transaction_s: float | None = None) -> Store:
    """A store on the SQLAlchemy ``url``, migrated to the latest schema unless told not to;
    ``passwords`` sets the argon2 cost (the default suits production);
    ``idle_in_transaction_s``: see :func:`parley.store.database.create_engine`."""
    engine = create_engine(url, idle_in_transaction_s=idle_in_transaction_s)
    if run_migrations:
        try:
            await migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
    return Store(engine=engine, clock=clock or MonotonicClock(), url=url,
                 passwords=passwords or Passwords())


async def build_store(settings: Settings, *, clock: Clock | None = None,
                      passwords: Passwords | None = None) -> Store:
    """The node's store from its settings: ``database_url`` or a SQLite file in ``data_dir``
    (``passwords``: the argon2 cost, by default production's)."""
    return await open_store(database_url(settings.database_url, settings.data_dir), clock=clock,
                            passwords=passwords,
                            # a hot-standby node's transactions cut off mid-way must not
                            # hold the lease row longer than its lease would have lasted
                            idle_in_transaction_s=None if settings.ha is None
                            else settings.ha.lapse_s)
