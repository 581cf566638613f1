"""The ports handlers depend on, as Protocols, and the small value types they exchange.

Handlers never import Slack, Teams, FastAPI or SQLAlchemy, nor ``storage`` or ``bot``: they get a unit of
work (``UnitOfWork`` here; ``storage.db.UnitOfWork`` implements it), a clock and the configuration
(``handlers/config.py``) through ``Deps``. The rows a unit of work hands out are described by the row
Protocols below (``Person``, ``Lead``, ...): only their attributes, which handlers read and set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Protocol, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from handlers.config import Config


class Clock(Protocol):
    """Where handlers get the time. Always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class OffsetClock:
    """The system clock moved forward by an offset: the local workspace's simulated time.

    Under freezegun the base time is frozen too, so tests control it completely."""

    def __init__(self, offset: timedelta = timedelta(0)):
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, at: datetime):
        assert at.tzinfo is not None, "FixedClock needs an aware datetime"
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


MAX_ROW_ID = 2**31 - 1  # an INTEGER primary key on PostgreSQL


def row_id(value: str | None) -> int | None:
    """A row id from a button value or a form's state: ASCII digits within the id column's range
    (a huge or odd number is no row, never an overflow in the database)."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    n = int(text)
    return n if 0 < n <= MAX_ROW_ID else None


def channel(name: str) -> str:
    """Destination: a channel by its logical name in the config (``wins``, ``sales``, ...)."""
    return f"channel:{name}"


def dm(person_id: int) -> str:
    """Destination: a direct message to a person."""
    return f"dm:{person_id}"


def webhook(name: str = "crm") -> str:
    """Destination: an outbound webhook configured under ``outbound_webhook``."""
    return f"webhook:{name}"


@dataclass(frozen=True)
class Actor:
    """Who acted: the person (by id in the people table) and where they acted from."""

    person_id: int | None
    platform: str = "local"
    platform_user_id: str | None = None
    display_name: str | None = None
    refused: str | None = None  # why this account may not act (handlers/identity.py); None: it may


@dataclass
class Deps:
    """Everything a handler may use besides the unit of work."""

    config: "Config"
    clock: Clock = field(default_factory=SystemClock)
    extras: dict[str, Any] = field(default_factory=dict)
    help: list[tuple[str, str]] = field(default_factory=list)  # (usage, what it does) of every command
    crm_writeback: bool = False  # a CRM connector (HubSpot, ...) writes lead changes back

    def writes_to_crm(self) -> bool:
        """Lead changes go back to the CRM: a connector writes them, or ``outbound_webhook`` posts them."""
        return self.crm_writeback or self.config.outbound_webhook is not None

    def now(self) -> datetime:
        return self.clock.now()


# --- what handlers read from storage: rows, repositories, the unit of work -----------------------
# A row's ``id`` is an int here: the model's ``Optional[int]`` is for a row not yet flushed, and the
# repositories hand out stored rows only (``create`` flushes; ``people.new`` is stored by ``add``).


class Person(Protocol):
    """A ``Person`` row (storage/models.py) as handlers read and change it."""

    id: int
    key: str
    name: str
    email: str
    team: str
    role: str
    is_admin: bool
    manager_id: int | None
    timezone: str
    backup_id: int | None
    slack_user_id: str | None
    slack_lookup_at: datetime | None
    teams_user_id: str | None
    linked_manually: bool
    source: str
    active: bool
    manager_email: str | None
    crm_owner_id: str | None


class DirectoryAccount(Protocol):
    """A ``DirectoryAccount`` row (storage/models.py) as handlers read and change it."""

    id: int
    platform: str
    account_id: str
    email: str | None
    name: str
    deleted: bool
    team: str | None
    seen_at: datetime | None


class Lead(Protocol):
    """A ``Lead`` row (storage/models.py) as handlers read and change it."""

    def model_dump(self, **options: Any) -> dict[str, Any]: ...

    id: int
    crm_id: str
    email: str | None
    name: str | None
    company: str | None
    title: str | None
    status: str
    crm_status: str | None
    score: int | None
    tier: str | None
    owner_id: int | None
    owner_email: str | None
    source_campaign_id: int | None
    qualified_at: datetime | None
    handoff_due_at: datetime | None
    first_touch_at: datetime | None
    claimed_at: datetime | None
    region: str | None
    segment: str | None
    sla_started_at: datetime | None
    sla_due_at: datetime | None
    sla_clock: str
    sla_window: int
    ladder_step: int
    next_alert_at: datetime | None
    snoozed_until: datetime | None
    snooze_count: int
    last_touch_at: datetime | None
    touch_count: int
    bounce_count: int
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    attrs: dict


class AwayPeriod(Protocol):
    """A ``AwayPeriod`` row (storage/models.py) as handlers read and change it."""

    id: int
    person_id: int
    starts_at: datetime
    ends_at: datetime
    source: str
    created_by_id: int | None
    created_at: datetime | None
    summary_at: datetime | None


class ScheduleItem(Protocol):
    """A ``ScheduleItem`` row (storage/models.py) as handlers read and change it."""

    id: int
    external_id: str | None
    team: str
    kind: str
    title: str
    regions: list
    starts_at: datetime
    ends_at: datetime
    all_day: bool
    owner_id: int | None
    owner_email: str | None
    link: str | None
    source: str
    created_at: datetime | None


class Bounce(Protocol):
    """A ``Bounce`` row (storage/models.py) as handlers read and change it."""

    id: int
    lead_id: int
    campaign_id: int | None
    reason: str
    note: str | None
    by_person_id: int | None
    at: datetime
    repeat: bool
    acknowledged_by_id: int | None
    acknowledged_at: datetime | None
    requalified_at: datetime | None
    requalified_by_id: int | None
    context: dict


class BounceFacts(Protocol):
    """What a new bounce records besides the lead (``BouncesRepo.facts``): whether the lead
    bounced before for the same reason, and its follow-ups (how many, the last one's time)."""

    @property
    def repeat(self) -> bool: ...
    @property
    def follow_ups(self) -> int: ...
    @property
    def last_follow_up_at(self) -> datetime | None: ...


class DeliveryPref(Protocol):
    """A ``DeliveryPref`` row (storage/models.py) as handlers read and change it."""

    person_id: int
    digest_time: time | None
    warn: str | None
    manager: str | None
    muted: list
    updated_at: datetime | None


class FirstTouch(Protocol):
    """Time to first touch of a set of handoffs, in seconds: (total, waiting for an owner, the
    rep's own) at the median and at the 90th percentile (nearest rank)."""

    @property
    def count(self) -> int: ...
    @property
    def median(self) -> tuple[float, float, float]: ...
    @property
    def p90(self) -> tuple[float, float, float]: ...


class ActionItem(Protocol):
    """A ``ActionItem`` row (storage/models.py) as handlers read and change it."""

    id: int
    owner_id: int
    text: str
    due_on: date
    status: str
    created_by_id: int | None
    created_at: datetime
    meeting_on: date
    source_key: str | None
    source_text: str | None
    reminded_at: datetime | None
    done_at: datetime | None
    done_by_id: int | None


class AwayRepository(Protocol):
    """``uow.away`` (storage/repos/away.py): what handlers call."""

    def add(self, period: AwayPeriod) -> AwayPeriod: ...
    def back_without_summary(self, *, now: datetime, since: datetime) -> Sequence[AwayPeriod]: ...
    def create(
        self,
        *,
        person_id: int,
        starts_at: datetime,
        ends_at: datetime,
        source: str = ...,
        created_by_id: int | None = ...,
        created_at: datetime | None = ...,
    ) -> AwayPeriod: ...
    def current(self, person_ids: Iterable[int], *, at: datetime) -> dict[int, AwayPeriod]: ...
    def for_person(self, person_id: int, *, ending_after: datetime) -> Sequence[AwayPeriod]: ...
    def from_config(self) -> Sequence[AwayPeriod]: ...
    def mark_summarised(self, period_id: int, at: datetime) -> None: ...
    def overlapping(self, person_id: int, starts_at: datetime, ends_at: datetime) -> AwayPeriod | None: ...
    def remove(self, period: AwayPeriod) -> None: ...


class BouncesRepository(Protocol):
    """``uow.bounces`` (storage/repos/bounces.py): what handlers call."""

    def add(self, bounce: Bounce) -> Bounce: ...
    def create(
        self,
        *,
        lead_id: int,
        reason: str,
        at: datetime,
        campaign_id: int | None = ...,
        note: str | None = ...,
        by_person_id: int | None = ...,
        repeat: bool = ...,
        context: dict | None = ...,
    ) -> Bounce: ...
    def for_lead(self, lead_id: int) -> Sequence[Bounce]: ...
    def for_leads(self, lead_ids: Iterable[int]) -> dict[int, list[Bounce]]: ...
    def get_for_update(self, bounce_id: int) -> Bounce | None: ...
    def facts(self, *, lead_id: int, reason: str | None, since: datetime | None) -> BounceFacts: ...
    def mark_requalified(self, *, lead_ids: Iterable[int], at: datetime, by_person_id: int | None = ...) -> int: ...
    def reasons_by_campaign(self, *, since: datetime, until: datetime) -> list[Any]: ...


class CampaignsRepository(Protocol):
    """``uow.campaigns`` (storage/repos/campaigns.py): what handlers call."""

    def add_touches(self, rows: list[dict]) -> None: ...
    def briefs(self, ids: Iterable[int]) -> dict[int, Any]: ...
    def crm_ids_for_refs(self, refs: Iterable[str]) -> dict[str, str]: ...
    def ensure(self, crm_ids: Iterable[str]) -> dict[str, int]: ...
    def find_many(self, refs: Iterable[str]) -> dict[str, Any]: ...
    def get(self, campaign_id: int) -> Any | None: ...
    def ids_by_crm_id(self, crm_ids: Iterable[str]) -> dict[str, int]: ...
    def many(self, ids: Iterable[int]) -> dict[int, Any]: ...
    def touches_for(self, *, lead_ids: Iterable[int], emails: Iterable[str], until: datetime) -> list: ...
    def upsert_many(self, rows: list[dict]) -> None: ...


class DealsRepository(Protocol):
    """``uow.deals`` (storage/repos/deals.py): what handlers call."""

    def adopt(self, updates: Sequence[dict[str, Any]]) -> None: ...
    def by_crm_id(self, crm_id: str) -> Any | None: ...
    def claim_rollup(self, *, key: str, at: datetime) -> Sequence[Any]: ...
    def ids_by_crm_id(self, crm_ids: Iterable[str]) -> dict[str, int]: ...
    def insert_new(self, rows: Sequence[dict[str, Any]]) -> set[str]: ...
    def recent_by_name_key(
        self, name_keys: Iterable[str], *, since: datetime, source: str | None = ...
    ) -> dict[str, Any]: ...
    def seen(
        self, *, crm_ids: Iterable[str], name_keys: Iterable[str], announced_since: datetime
    ) -> tuple[set[str], dict[str, Any]]: ...
    def totals(self, *, start: datetime, end: datetime) -> dict[str, int]: ...


class DirectoryRepository(Protocol):
    """``uow.directory`` (storage/repos/directory.py): what handlers call."""

    def account(self, account_id: int) -> DirectoryAccount | None: ...
    def accounts(self, platform: str, account_ids: Iterable[str] | None = ...) -> dict[str, dict]: ...
    def clear_problems(self, subjects: Iterable[str], kinds: Iterable[str]) -> None: ...
    def delete_problem(self, problem_id: int) -> Any | None: ...
    def note_problems(self, rows: Sequence[dict], *, at: datetime) -> None: ...
    def problems(self, limit: int = ...) -> Sequence[Any]: ...
    def save_accounts(self, platform: str, rows: Sequence[dict], *, at: datetime) -> int: ...
    def unmatched(self, platform: str | None = ..., limit: int = ...) -> Sequence[DirectoryAccount]: ...


class InboundRepository(Protocol):
    """``uow.inbound`` (storage/repos/inbound.py): what handlers call."""

    def claim(self, source: str, external_ids: Iterable[str], at: datetime) -> set[str]: ...
    def seen(self, source: str, external_ids: Iterable[str]) -> set[str]: ...


class KeyValueRepository(Protocol):
    """``uow.kv`` (storage/repos/kv.py): what handlers call."""

    def get(self, key: str, default: dict | None = ...) -> dict | None: ...
    def get_for_update(self, key: str, default: dict) -> dict: ...
    def set(self, key: str, value: dict) -> None: ...


class LeadsRepository(Protocol):
    """``uow.leads`` (storage/repos/leads.py): what handlers call."""

    def add(self, lead: Lead) -> Lead: ...
    def add_events(self, rows: list[dict[str, Any]]) -> None: ...
    def add_touches(self, rows: list[dict[str, Any]]) -> None: ...
    def blank_row(self) -> dict[str, Any]: ...
    def crm_ids_for_refs(self, refs: Iterable[str]) -> dict[str, str]: ...
    def due(self, *, now: datetime, limit: int) -> list[dict[str, Any]]: ...
    def ensure(self, crm_ids: Iterable[str], *, at: datetime) -> dict[str, int]: ...
    def ensure_with_emails(self, crm_ids: Iterable[str], *, at: datetime) -> dict[str, tuple[int, str | None]]: ...
    def events_while_owned(self, owner_id: int, *, since: datetime, until: datetime) -> Sequence[Any]: ...
    def find(self, ref: str, limit: int = ..., *, for_update: bool = ...) -> Sequence[Lead]: ...
    def get(self, lead_id: int) -> Lead | None: ...
    def get_for_update(self, lead_id: int) -> Lead | None: ...
    def ids_by_crm_id(self, crm_ids: Iterable[str]) -> dict[str, int]: ...
    def last_events(self, lead_ids: Iterable[int], kinds: Sequence[str]) -> dict[int, Any]: ...
    def many(self, lead_ids: Iterable[int]) -> dict[int, Lead]: ...
    def many_by_crm_id(self, crm_ids: Iterable[str], *, for_update: bool = ...) -> dict[str, Lead]: ...
    def many_for_update(self, lead_ids: Iterable[int]) -> dict[int, Lead]: ...
    def open_for_owners(self, owner_ids: Iterable[int]) -> Sequence[Lead]: ...
    def past_step(self, step: int) -> Sequence[Lead]: ...
    def qualified_for_owner(self, owner_id: int, *, limit: int, offset: int = ...) -> tuple[Sequence[Lead], int]: ...
    def states_by_crm_id(self, crm_ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...
    def update_ladders(self, rows: list[dict[str, Any]]) -> None: ...
    def upsert_many(self, rows: list[dict[str, Any]], known: dict[str, int] | None = ...) -> dict[str, int]: ...


class OutboxRepository(Protocol):
    """``uow.outbox`` (storage/repos/outbox.py): what handlers call."""

    def about(self, subjects: Iterable[str]) -> Sequence[Any]: ...
    def add(
        self,
        *,
        key: str,
        destination: str,
        payload: dict,
        at: datetime,
        op: str = ...,
        target_key: str | None = ...,
        not_before: datetime | None = ...,
        subject: str | None = ...,
        role: str | None = ...,
    ) -> bool: ...
    def add_many(self, messages: list[dict], *, at: datetime) -> set[str]: ...
    def by_key(self, key: str) -> Any | None: ...
    def current_payload(self, key: str) -> dict | None: ...
    def drop(self, ids: Iterable[int]) -> None: ...
    def exists(self, key: str) -> bool: ...
    def held_for(self, destination: str, *, now: datetime) -> Sequence[Any]: ...
    def settle(self, keys: Iterable[str]) -> None: ...
    def updates_queued_here(self) -> dict[str, dict]: ...


class PeopleRepository(Protocol):
    """``uow.people`` (storage/repos/people.py): what handlers call."""

    ACCOUNT_COLUMNS: dict[str, str]

    def add(self, person: Person) -> Person: ...
    def add_many(self, people: list[Person]) -> None: ...
    def admins(self) -> Sequence[Person]: ...
    def all(self) -> Sequence[Person]: ...
    def by_account(self, platform: str, *account_ids: str | None) -> Person | None: ...
    def by_accounts(self, platform: str, account_ids: Iterable[str]) -> dict[str, Person]: ...
    def by_email(self, email: str | None) -> Person | None: ...
    def by_emails(self, emails: Iterable[str | None]) -> dict[str, Person]: ...
    def by_key(self, key: str) -> Person | None: ...
    def by_slack_id(self, slack_user_id: str) -> Person | None: ...
    def claim_account(self, person_id: int, platform: str, account_id: str) -> bool: ...
    def claim_accounts(self, platform: str, wanted: dict[int, str]) -> int: ...
    def deactivate(self, person_id: int) -> bool: ...
    def get(self, person_id: int) -> Person | None: ...
    def ids_by_email(self, emails: Iterable[str]) -> dict[str, int]: ...
    def inactive(self, ids: Iterable[int]) -> dict[int, Person]: ...
    def manager_map(self) -> dict[int, int | None]: ...
    def many(self, ids: Iterable[int]) -> dict[int, Person]: ...
    def new(self, *, key: str, name: str, email: str, team: str, **fields: Any) -> Person: ...
    def release_account(self, platform: str, account_id: str, *, keep_person_id: int) -> list[int]: ...
    def team(self, team: str) -> Sequence[Person]: ...
    def waiting_for_manager(self, emails: Iterable[str]) -> Sequence[Person]: ...


class PrefsRepository(Protocol):
    """``uow.prefs`` (storage/repos/prefs.py): what handlers call."""

    def get(self, person_id: int) -> DeliveryPref | None: ...
    def get_or_blank(self, person_id: int) -> DeliveryPref: ...
    def many(self, person_ids: Iterable[int]) -> dict[int, DeliveryPref]: ...
    def remove(self, person_id: int) -> bool: ...
    def save(self, pref: DeliveryPref) -> DeliveryPref: ...


class ReviewRepository(Protocol):
    """``uow.review`` (storage/repos/review.py): what handlers call."""

    def add(self, item: ActionItem) -> ActionItem: ...
    def breached_between(self, start: datetime, end: datetime, limit: int = ...) -> tuple[int, list[Lead]]: ...
    def create(
        self,
        *,
        owner_id: int,
        text: str,
        due_on: date,
        created_by_id: int | None,
        created_at: datetime,
        meeting_on: date,
        source_key: str | None = ...,
        source_text: str | None = ...,
    ) -> ActionItem: ...
    def created_between(self, start: datetime, end: datetime) -> Sequence[ActionItem]: ...
    def done_since(self, since: datetime, limit: int = ...) -> Sequence[ActionItem]: ...
    def get_for_update(self, item_id: int) -> ActionItem | None: ...
    def mark_reminded(self, item_id: int, at: datetime) -> bool: ...
    def open_items(self, limit: int = ...) -> Sequence[ActionItem]: ...
    def to_remind(self, *, due_by: date) -> Sequence[ActionItem]: ...


class ScheduleRepository(Protocol):
    """``uow.schedule`` (storage/repos/schedule.py): what handlers call."""

    def by_external_ids(self, external_ids: Iterable[str]) -> dict[str, ScheduleItem]: ...
    def create(self, **fields: Any) -> ScheduleItem: ...
    def delete_many(self, item_ids: Iterable[int]) -> int: ...
    def ids_by_external_id(self, external_ids: Iterable[str]) -> dict[str, int]: ...
    def overlapping(
        self, start: datetime, end: datetime, *, team: str | None = ..., source: str | None = ...
    ) -> Sequence[ScheduleItem]: ...
    def rows_overlapping(self, start: datetime, end: datetime) -> Sequence[Any]: ...
    def upsert_many(self, rows: list[dict]) -> None: ...


class ScoreboardRepository(Protocol):
    """``uow.scoreboard`` (storage/repos/scoreboard.py): what handlers call."""

    def attr_exists(self, field: str, value: str) -> bool: ...
    def attr_values(self, field: str, limit: int = ...) -> list[str]: ...
    def bounce_reasons(
        self,
        *,
        start: datetime,
        end: datetime,
        campaign_ids: Iterable[int] | None = ...,
        owner_ids: Iterable[int] | None = ...,
    ) -> list[tuple[int | None, str, int]]: ...
    def bounces_by(self, person_id: int, *, since: datetime, limit: int) -> list[tuple[Bounce, Lead]]: ...
    def campaigns_of(self, owner_ids: Iterable[int]) -> list[int]: ...
    def change_stamp(self) -> list[int]: ...
    def ensure_home(self, person_id: int) -> None: ...
    def escalated(self, owner_ids: Iterable[int], *, limit: int) -> list[Lead]: ...
    def handoffs(
        self,
        *,
        start: datetime,
        end: datetime,
        now: datetime,
        owner_ids: Iterable[int] | None = ...,
        campaign_ids: Iterable[int] | None = ...,
        attr: tuple[str, str] | None = ...,
    ) -> list[Any]: ...
    def handoffs_by_attr(
        self,
        field: str,
        *,
        start: datetime,
        end: datetime,
        owner_ids: Iterable[int] | None = ...,
        campaign_ids: Iterable[int] | None = ...,
    ) -> dict[str, int]: ...
    def home(self, person_id: int, *, for_update: bool = ...) -> Any | None: ...
    def homes_opened(self) -> list[Any]: ...
    def image(self, key: str) -> Any | None: ...
    def open_by_owner(self, owner_ids: Iterable[int], *, now: datetime) -> dict[int, tuple[int, int]]: ...
    def pipeline_age(
        self,
        *,
        now: datetime,
        bounds_days: Sequence[int],
        owner_ids: Iterable[int] | None = ...,
        campaign_ids: Iterable[int] | None = ...,
    ) -> tuple[list[int], datetime | None, int]: ...
    def reports_of(self, manager_id: int) -> list[Person]: ...
    def revenue(
        self,
        *,
        start: datetime,
        end: datetime,
        campaign_ids: Iterable[int] | None = ...,
        owner_ids: Iterable[int] | None = ...,
    ) -> list[Any]: ...
    def save_home(self, home: Any) -> None: ...
    def save_image(self, *, key: str, token: str, data: bytes, at: datetime, content_type: str = ...) -> bool: ...
    def first_touch(
        self,
        *,
        start: datetime,
        end: datetime,
        owner_ids: Iterable[int] | None = ...,
        campaign_ids: Iterable[int] | None = ...,
        attr: tuple[str, str] | None = ...,
        per_owner: bool = ...,
    ) -> tuple[FirstTouch | None, dict[int | None, FirstTouch]]: ...
    def weekly(
        self,
        *,
        start: datetime,
        weeks: int,
        now: datetime,
        owner_ids: Iterable[int] | None = ...,
        campaign_ids: Iterable[int] | None = ...,
    ) -> dict[int, tuple[int, int, int]]: ...


class UnitOfWork(Protocol):
    """One transaction with the repositories over it (``storage.db.UnitOfWork``). Rolls back unless
    ``commit()`` is called; ``with factory() as uow:`` opens and closes it."""

    people: PeopleRepository
    campaigns: CampaignsRepository
    leads: LeadsRepository
    deals: DealsRepository
    schedule: ScheduleRepository
    bounces: BouncesRepository
    away: AwayRepository
    outbox: OutboxRepository
    inbound: InboundRepository
    kv: KeyValueRepository
    scoreboard: ScoreboardRepository
    review: ReviewRepository
    directory: DirectoryRepository
    prefs: PrefsRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None:
        """Commit (after ``defer_commits()``: only flush, for the caller's ``commit_now()``)."""
        ...

    def commit_now(self) -> None: ...

    def defer_commits(self) -> None: ...

    def rollback(self) -> None: ...


class UowFactory(Protocol):
    """Makes units of work (``storage.db.UowFactory``): calling it gives one that writes, ``read()``
    one that only reads."""

    def __call__(self, *, readonly: bool = False) -> UnitOfWork: ...

    def read(self) -> UnitOfWork: ...
