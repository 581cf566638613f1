"""The tables. Every timestamp is a timezone-aware UTC ``datetime`` (SQLModel's UTCDateTime).

Money is kept as integer minor units (cents) with its ISO currency code, so sums are exact on
both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def json_field(default_factory=dict) -> Any:
    return Field(default_factory=default_factory, sa_type=JSONType)


class Person(SQLModel, table=True):
    """Someone in sales or marketing. ``key`` is their handle in the config file."""

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=100)
    name: str = Field(max_length=200)
    email: str = Field(unique=True, max_length=320)
    team: str = Field(max_length=40)  # sales | marketing
    role: str = Field(default="rep", max_length=40)  # rep | manager | marketer | admin
    is_admin: bool = False
    manager_id: Optional[int] = Field(default=None, foreign_key="person.id")
    timezone: str = Field(default="UTC", max_length=64)
    # Who covers while this person is away (``people[].backup`` in the config); else their manager.
    backup_id: Optional[int] = Field(default=None, foreign_key="person.id")
    slack_user_id: Optional[str] = Field(default=None, index=True, max_length=40)
    slack_lookup_at: Optional[datetime] = None  # last users.lookupByEmail try (cached misses)
    teams_user_id: Optional[str] = Field(default=None, index=True, max_length=200)
    linked_manually: bool = False
    # Where the person comes from (README: "Where people come from"): the config (yaml), a CRM's
    # owners (crm), the chat directory (slack, teams). The config overrides what is synced.
    source: str = Field(default="yaml", max_length=20)
    # False: they left (the CRM or the directory deactivated them): they receive nothing.
    active: bool = True
    # The manager's email as the CRM gives it (``owner.upserted``); ``manager_id`` follows it
    # unless the config names a manager.
    manager_email: Optional[str] = Field(default=None, max_length=320)
    crm_owner_id: Optional[str] = Field(default=None, max_length=200)  # HubSpot owner / Salesforce user id


class DirectoryAccount(SQLModel, table=True):
    """A chat account as the platform's directory lists it (Slack ``users.list``, a Teams roster):
    what the last sync saw, so that a sync with no change writes nothing and the accounts in no
    team can be listed."""

    __table_args__ = (sa.UniqueConstraint("account_id", "platform", name="uq_directoryaccount"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    account_id: str = Field(max_length=200)
    email: Optional[str] = Field(default=None, max_length=320, index=True)
    name: str = Field(default="", max_length=300)
    deleted: bool = False
    team: Optional[str] = Field(default=None, max_length=40)  # from the team's user group / channel
    seen_at: Optional[datetime] = None


class DirectoryProblem(SQLModel, table=True):
    """Something a sync could not apply (two owners with one email, a manager loop, an unknown
    user group, a user with no email): listed by ``/smarketing people`` until fixed."""

    __table_args__ = (sa.UniqueConstraint("kind", "subject", name="uq_directoryproblem"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)  # crm | slack | teams | hubspot | salesforce
    kind: str = Field(max_length=40)  # duplicate_email | manager_loop | unknown_usergroup | no_email | ...
    subject: str = Field(max_length=320)  # the email, account id or user group it is about
    detail: str = Field(max_length=1000)
    at: datetime


class Campaign(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    crm_id: str = Field(unique=True, max_length=200)
    name: str = Field(max_length=500)
    kind: str = Field(default="other", max_length=60)  # webinar, ebook, event, paid, ...
    owner_id: Optional[int] = Field(default=None, foreign_key="person.id")
    owner_email: Optional[str] = Field(default=None, max_length=320)
    updated_at: Optional[datetime] = None


class Lead(SQLModel, table=True):
    """A lead and its SLA state.

    The cooling ladder never scans leads in Python: ``next_alert_at`` holds when the next step is
    due, and a partial index over qualified leads finds the due ones in one query.
    """

    __table_args__ = (
        sa.Index(
            "ix_lead_due",
            "next_alert_at",
            sqlite_where=sa.text("status = 'qualified' AND next_alert_at IS NOT NULL"),
            postgresql_where=sa.text("status = 'qualified' AND next_alert_at IS NOT NULL"),
        ),
        # A rep's open leads, most urgent first (`/smarketing leads`, the `sla` scoreboard).
        sa.Index(
            "ix_lead_open",
            "owner_id",
            "sla_due_at",
            "id",
            sqlite_where=sa.text("status = 'qualified'"),
            postgresql_where=sa.text("status = 'qualified'"),
        ),
        # Handoffs to sales since a date (the `sla` scoreboard's month).
        sa.Index(
            "ix_lead_handoffs",
            "qualified_at",
            sqlite_where=sa.text("qualified_at IS NOT NULL"),
            postgresql_where=sa.text("qualified_at IS NOT NULL"),
        ),
        # The agreement's scoreboard: a period's handoffs, counted by owner, campaign and outcome
        # from the index alone (no lookups of the 1M lead rows).
        sa.Index(
            "ix_lead_scoreboard",
            "qualified_at",
            "owner_id",
            "source_campaign_id",
            "status",
            "first_touch_at",
            "handoff_due_at",
            "claimed_at",
            "region",
            "segment",
            sqlite_where=sa.text("qualified_at IS NOT NULL"),
            postgresql_where=sa.text("qualified_at IS NOT NULL"),
        ),
        # The scoreboard's first-touch times: a period's followed-up handoffs read from the index
        # alone (on PostgreSQL the wider ix_lead_scoreboard lost to heap reads of every handoff).
        sa.Index(
            "ix_lead_touch_times",
            "qualified_at",
            "owner_id",
            "source_campaign_id",
            "claimed_at",
            "first_touch_at",
            sqlite_where=sa.text("first_touch_at IS NOT NULL AND qualified_at IS NOT NULL"),
            postgresql_where=sa.text("first_touch_at IS NOT NULL AND qualified_at IS NOT NULL"),
        ),
        # The pipeline's age (open leads by how long ago they were handed over), per owner.
        sa.Index(
            "ix_lead_pipeline",
            "owner_id",
            "qualified_at",
            "sla_due_at",
            "source_campaign_id",
            sqlite_where=sa.text("status = 'qualified'"),
            postgresql_where=sa.text("status = 'qualified'"),
        ),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    crm_id: str = Field(unique=True, max_length=200)
    email: Optional[str] = Field(default=None, index=True, max_length=320)
    name: Optional[str] = Field(default=None, max_length=300)
    company: Optional[str] = Field(default=None, max_length=300)
    title: Optional[str] = Field(default=None, max_length=300)
    status: str = Field(default="new", max_length=40)  # new | qualified | nurture | disqualified | converted
    crm_status: Optional[str] = Field(default=None, max_length=100)
    score: Optional[int] = None
    tier: Optional[str] = Field(default=None, max_length=40)
    owner_id: Optional[int] = Field(default=None, foreign_key="person.id", index=True)
    owner_email: Optional[str] = Field(default=None, max_length=320)
    source_campaign_id: Optional[int] = Field(default=None, foreign_key="campaign.id")
    qualified_at: Optional[datetime] = None  # the handoff to sales
    handoff_due_at: Optional[datetime] = None  # the handoff window's SLA due time (the scoreboard)
    first_touch_at: Optional[datetime] = None  # first sales follow-up after the handoff
    # When a lead handed to sales without an owner got one (a claim, or the CRM assigning it):
    # the scoreboard splits time to first touch into waiting for an owner and the rep's own time.
    claimed_at: Optional[datetime] = None
    # The CRM's ``region`` and ``segment`` fields (also in ``attrs``), kept as columns so the
    # agreement's targets by region and segment are counted from an index.
    region: Optional[str] = Field(default=None, max_length=100)
    segment: Optional[str] = Field(default=None, max_length=100)
    sla_started_at: Optional[datetime] = None  # handoff or last sales follow-up
    sla_due_at: Optional[datetime] = None  # breach time, in business hours from sla_started_at
    # Which clock runs: ``first_touch`` (speed to lead, until the first follow-up) or
    # ``cadence`` (no sales activity for the tier's cadence_days business days).
    sla_clock: str = Field(default="first_touch", max_length=20)
    sla_window: int = 0  # bumped each time the clock restarts; alert keys include it
    ladder_step: int = 0  # the last ladder step that fired in this window
    next_alert_at: Optional[datetime] = None
    snoozed_until: Optional[datetime] = None
    snooze_count: int = 0
    last_touch_at: Optional[datetime] = None  # last sales follow-up
    touch_count: int = 0
    bounce_count: int = 0
    # Bumped by every lifecycle transition; buttons carry it, so a press on a message from
    # before the last transition is recognised as out of date.
    version: int = 0
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None
    attrs: dict = json_field()


class LeadEvent(SQLModel, table=True):
    """One lifecycle transition of a lead (``handlers.lifecycle``): what, by whom, when, and who
    owned the lead then. The newest one is what an out-of-date button press is told; a person
    back from time away is told those on their leads while they were away."""

    __table_args__ = (
        sa.Index("ix_leadevent_lead_version", "lead_id", "version"),
        sa.Index("ix_leadevent_owner_at", "owner_id", "at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id")
    version: int  # the lead's version after the transition
    kind: str = Field(max_length=30)  # handoff | claim | reassign | follow_up | snooze | escalate | bounce | ...
    by_person_id: Optional[int] = Field(default=None, foreign_key="person.id")
    owner_id: Optional[int] = Field(default=None, foreign_key="person.id")  # the owner at the time
    at: datetime
    detail: dict = json_field()


class AwayPeriod(SQLModel, table=True):
    """Someone out of office from ``starts_at`` until ``ends_at`` (exclusive; aware UTC, from
    dates in their timezone). ``source``: ``config`` (``people[].away``, replaced at every start)
    or ``command`` (``/smarketing away``, kept). ``summary_at``: when the "while you were away"
    message was queued."""

    __table_args__ = (sa.Index("ix_awayperiod_person_span", "person_id", "starts_at", "ends_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    starts_at: datetime
    ends_at: datetime
    source: str = Field(default="command", max_length=20)
    created_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    created_at: Optional[datetime] = None
    summary_at: Optional[datetime] = None


class LeadTouch(SQLModel, table=True):
    """A sales follow-up on a lead (CRM activity, ``/smarketing touch``, the *Log follow-up* button)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    person_id: Optional[int] = Field(default=None, foreign_key="person.id")
    source: str = Field(max_length=40)  # crm | command | button
    note: Optional[str] = None
    occurred_at: datetime


class CampaignTouch(SQLModel, table=True):
    """A marketing touch: a lead (or contact, by email) engaged with a campaign."""

    __table_args__ = (sa.Index("ix_campaigntouch_lead_time", "lead_id", "occurred_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    crm_id: str = Field(unique=True, max_length=200)
    lead_id: Optional[int] = Field(default=None, foreign_key="lead.id")
    contact_email: Optional[str] = Field(default=None, index=True, max_length=320)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    kind: Optional[str] = Field(default=None, max_length=60)
    occurred_at: datetime


class Deal(SQLModel, table=True):
    """A won deal. ``celebration`` says how it was (or will be) celebrated: ``post`` (its own
    post), ``rollup`` (waiting for the daily "more wins" post; a partial index finds these),
    ``rolled`` (in a roll-up), ``skipped`` (closed too long ago to celebrate);
    ``celebration_key`` is the outbox key of the post that celebrated it."""

    __table_args__ = (
        sa.Index(
            "ix_deal_rollup_pending",
            "closed_at",
            sqlite_where=sa.text("celebration = 'rollup'"),
            postgresql_where=sa.text("celebration = 'rollup'"),
        ),
        # The month's won total (every wins post shows it) read from the index alone.
        sa.Index("ix_deal_closed_totals", "closed_at", "currency", "amount_minor"),
        # A rep's (or a manager's reps') won deals of a period: the scoreboard's revenue lines.
        sa.Index("ix_deal_owner_closed", "owner_id", "closed_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    crm_id: str = Field(unique=True, max_length=200)
    name: str
    name_key: str = Field(default="", index=True, max_length=200)  # lower-cased, spaces squeezed: matches a rep's `won`
    celebration: str = Field(default="post", max_length=20)
    celebration_key: Optional[str] = Field(default=None, max_length=300)
    amount_minor: int
    currency: str = Field(max_length=3)
    owner_id: Optional[int] = Field(default=None, foreign_key="person.id")
    owner_email: Optional[str] = Field(default=None, max_length=320)
    lead_id: Optional[int] = Field(default=None, foreign_key="lead.id")
    contact_email: Optional[str] = Field(default=None, max_length=320)
    closed_at: datetime  # indexed by ix_deal_closed_totals
    source: str = Field(default="crm", max_length=40)  # crm | command
    announced_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    celebrated_at: Optional[datetime] = None
    attrs: dict = json_field()


class ScheduleItem(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_scheduleitem_span", "starts_at", "ends_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    external_id: Optional[str] = Field(default=None, unique=True, max_length=300)
    team: str = Field(max_length=40)
    kind: str = Field(max_length=60)
    title: str
    regions: list = json_field(list)
    starts_at: datetime
    ends_at: datetime  # exclusive
    # All-day items are dates, not moments: stored as UTC midnights of their dates (ends_at the
    # midnight after the last day) and shown on those dates in every team's timezone.
    all_day: bool = False
    owner_id: Optional[int] = Field(default=None, foreign_key="person.id")
    owner_email: Optional[str] = Field(default=None, max_length=320)
    link: Optional[str] = None
    source: str = Field(default="command", max_length=40)  # command | webhook | ical
    created_at: Optional[datetime] = None


class Bounce(SQLModel, table=True):
    # The weekly report counts a week's bounces by campaign and reason from this index alone
    # (no table lookups): 200k bounces in ~0.3 s on SQLite instead of ~1.1 s with an index on ``at``.
    __table_args__ = (sa.Index("ix_bounce_at_campaign_reason", "at", "campaign_id", "reason", "repeat"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    campaign_id: Optional[int] = Field(default=None, foreign_key="campaign.id")
    reason: str = Field(max_length=60)
    note: Optional[str] = None
    by_person_id: Optional[int] = Field(default=None, foreign_key="person.id")
    at: datetime
    repeat: bool = False  # the same lead bounced before for the same reason
    acknowledged_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    acknowledged_at: Optional[datetime] = None
    requalified_at: Optional[datetime] = None
    requalified_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    # What the marketing post showed at bounce time (company, score, days in sales, ...), so
    # the post reads the same when a button later updates it in place.
    context: dict = json_field()


class Outbox(SQLModel, table=True):
    """A message waiting to be delivered, or delivered.

    ``key`` is unique: the same celebration, alert or digest can be enqueued any number of times
    and is stored once. ``op`` is ``post`` (a new message), ``update`` (replace the message
    posted under ``target_key``) or ``webhook`` (an outbound HTTP call).
    """

    __table_args__ = (
        sa.Index(
            "ix_outbox_pending",
            "next_attempt_at",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        ),
        # A conversation's history, newest first, by keyset (the local workspace pages on it).
        sa.Index("ix_outbox_destination_id", "destination", "id"),
        # Only updates have a target and only delivered messages a platform ref: partial, so the
        # bulk inserts of new posts (a cooling chunk queues 1,000) skip both indexes.
        sa.Index(
            "ix_outbox_target_key",
            "target_key",
            sqlite_where=sa.text("target_key IS NOT NULL"),
            postgresql_where=sa.text("target_key IS NOT NULL"),
        ),
        # The messages about a subject (``lead:12``) that still follow it: a transition finds
        # them here and updates each in place. Settled messages have no subject.
        sa.Index(
            "ix_outbox_subject",
            "subject",
            sqlite_where=sa.text("subject IS NOT NULL"),
            postgresql_where=sa.text("subject IS NOT NULL"),
        ),
        sa.Index(
            "ix_outbox_platform_ref",
            "platform_ref",
            sqlite_where=sa.text("platform_ref IS NOT NULL"),
            postgresql_where=sa.text("platform_ref IS NOT NULL"),
        ),
        # Each destination's queue, oldest first: the dispatcher takes only a queue's head, so
        # posts to one channel go out in the order they were queued (partial: only open rows).
        sa.Index(
            "ix_outbox_open",
            "destination",
            "id",
            sqlite_where=sa.text("status IN ('pending', 'sending')"),
            postgresql_where=sa.text("status IN ('pending', 'sending')"),
        ),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=300)
    op: str = Field(default="post", max_length=20)
    destination: str = Field(max_length=200)  # channel:wins | dm:12 | webhook:crm
    target_key: Optional[str] = Field(default=None, max_length=300)  # ix_outbox_target_key
    subject: Optional[str] = Field(default=None, max_length=100)  # lead:12 while the message follows it
    role: Optional[str] = Field(default=None, max_length=30)  # handoff | warn | breach | manager | claim | ...
    payload: dict = json_field()
    status: str = Field(default="pending", max_length=20)  # pending | sending | sent | dead
    attempts: int = 0
    next_attempt_at: datetime
    claimed_by: Optional[str] = Field(default=None, max_length=100)
    claimed_until: Optional[datetime] = None
    # When the earliest attempt that may have reached the platform began (None: no attempt did).
    # After a crash or a lost answer, the platform is searched from here before posting again.
    attempt_started_at: Optional[datetime] = None
    platform: Optional[str] = Field(default=None, max_length=20)
    platform_channel: Optional[str] = Field(default=None, max_length=200)
    platform_ref: Optional[str] = Field(default=None, max_length=200)  # Slack ts, Teams activity id
    last_error: Optional[str] = None
    created_at: datetime
    sent_at: Optional[datetime] = None


class ChannelSlot(SQLModel, table=True):
    """When a destination may next be posted to (one post per ``DELIVERY_CHANNEL_INTERVAL``),
    shared by every replica: the dispatcher only claims a queue's head whose slot is free, and
    moves the slot on when a post starts."""

    destination: str = Field(primary_key=True, max_length=200)
    next_free_at: datetime


class TeamsConversation(SQLModel, table=True):
    """Where the bot can post in Microsoft Teams: a team channel, a group chat, or a person's 1:1
    chat. Captured when the app is installed there (or first spoken to), so the scheduler and the
    outbox can post later. A 1:1 row may have no ``conversation_id`` yet: the person is known from a
    team's roster and the chat is created on the first direct message."""

    id: Optional[int] = Field(default=None, primary_key=True)
    conversation_id: Optional[str] = Field(default=None, unique=True, max_length=500)
    kind: str = Field(max_length=20)  # channel | personal | groupChat
    service_url: str = Field(max_length=500)
    tenant_id: Optional[str] = Field(default=None, max_length=100)
    bot_id: Optional[str] = Field(default=None, max_length=200)
    team_id: Optional[str] = Field(default=None, index=True, max_length=500)
    team_name: Optional[str] = Field(default=None, max_length=300)
    name: Optional[str] = Field(default=None, max_length=300)  # the channel's or group chat's name
    person_id: Optional[int] = Field(default=None, foreign_key="person.id", index=True)  # 1:1 chats
    user_id: Optional[str] = Field(default=None, max_length=200)  # that person's Teams id (29:...)
    aad_object_id: Optional[str] = Field(default=None, max_length=100)
    installed: bool = True  # False once the app is removed from the team or chat
    updated_at: datetime


class ProcessedInbound(SQLModel, table=True):
    """Ids of inbound events already handled (CRM event ids, Slack event_ids)."""

    __table_args__ = (sa.UniqueConstraint("source", "external_id", name="uq_inbound_source_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    source: str = Field(max_length=40)
    external_id: str = Field(max_length=300)
    received_at: datetime


class ConnectorChange(SQLModel, table=True):
    """A CRM object that changed (a webhook notification, a poll) and is still to be read and
    turned into events. One row per object: later notifications about it bump ``version``, so a
    change arriving while the object is being read is read again, never lost. Claimed like the
    outbox (a lease); deleted once its events are ingested."""

    __table_args__ = (
        sa.UniqueConstraint("source", "kind", "object_id", name="uq_connectorchange_object"),
        sa.Index("ix_connectorchange_due", "source", "due_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    source: str = Field(max_length=40)  # hubspot | salesforce | ...
    kind: str = Field(max_length=40)  # contact | deal | ...
    object_id: str = Field(max_length=100)
    version: int = 1
    changed_at: datetime  # when the CRM says it last changed
    due_at: datetime  # when to read it (later after a rate limit or an error)
    attempts: int = 0
    claimed_by: Optional[str] = Field(default=None, max_length=100)
    claimed_until: Optional[datetime] = None
    last_error: Optional[str] = None


class KeyValue(SQLModel, table=True):
    """Small pieces of state: the local workspace's simulated clock offset, cursors."""

    key: str = Field(primary_key=True, max_length=200)
    value: dict = json_field()
    updated_at: Optional[datetime] = None


class ChartImage(SQLModel, table=True):
    """A picture a message shows (the weekly scoreboard chart), kept here so the outbox payload
    only names it by ``key``; ``token`` is the unguessable name it is served under."""

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=300)
    token: str = Field(unique=True, max_length=64)
    content_type: str = Field(default="image/png", max_length=40)
    data: bytes = Field(sa_type=sa.LargeBinary)
    created_at: datetime


class HomeView(SQLModel, table=True):
    """A person's Home (Slack App Home): what was last published, so it is published again only
    when what it shows changed — at most once per person per refresh pass."""

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    digest: str = Field(default="", max_length=64)  # hash of the last home queued for publishing
    version: int = 0  # bumped per publish; part of the outbox key
    opened_at: Optional[datetime] = None  # last app_home_opened
    published_at: Optional[datetime] = None


class DeliveryPref(SQLModel, table=True):
    """A person's own delivery preferences (``/smarketing prefs``) over the config's ``delivery:``
    defaults; None in a column (and a kind not in ``muted``) means "as the config says".
    ``handlers/policy.py`` applies them and refuses any that would silence what a role must get."""

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    digest_time: Optional[time] = None  # the morning digests, in their timezone
    warn: Optional[str] = Field(default=None, max_length=10)  # digest | realtime
    manager: Optional[str] = Field(default=None, max_length=10)  # digest | realtime
    muted: list = json_field(list)  # kinds not sent to them at all
    updated_at: Optional[datetime] = None


class ActionItem(SQLModel, table=True):
    """An action agreed in (or for) the joint review: who does what by when, and where it came
    from. ``meeting_on`` is the review it was added for; open items are carried to every agenda
    until done."""

    __table_args__ = (sa.Index("ix_actionitem_open", "status", "due_on"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="person.id", index=True)
    text: str = Field(max_length=1000)
    due_on: date
    status: str = Field(default="open", max_length=20)  # open | done
    created_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    created_at: datetime
    meeting_on: date  # the meeting it was added for (the next one when it was added)
    source_key: Optional[str] = Field(default=None, max_length=300)  # outbox key of the message it came from
    source_text: Optional[str] = Field(default=None, max_length=300)  # what that message was about
    reminded_at: Optional[datetime] = None
    done_at: Optional[datetime] = None
    done_by_id: Optional[int] = Field(default=None, foreign_key="person.id")


ALL_TABLES = SQLModel.metadata
