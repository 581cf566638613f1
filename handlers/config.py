"""The YAML configuration (``SMARKETING_CONFIG``): channels, people and teams, business hours and
holidays, the qualified-lead definition, the SLA ladder, bounce reasons, wins and the digest.

Validated at start; an error names the file, the key and the problem::

    config error in acme.yaml: sla.tiers.hot.hours: Input should be greater than 0
"""

from __future__ import annotations

import re
from datetime import date
from datetime import time as Time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from handlers.messages import inert_value

# The demo configuration ships with the bot package (package data), next to the adapters that run it.
DEMO_CONFIG = Path(__file__).parent.parent / "bot" / "demo_config.yaml"
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Platform = Literal["slack", "teams", "local"]


class ConfigError(Exception):
    """The configuration is unusable; the message says where and why."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (use an IANA name like 'America/New_York')") from None
    return value


def _parse_time(value) -> Time:
    if isinstance(value, Time):
        return value
    if isinstance(value, int):  # YAML reads 09:00 as sexagesimal 540
        return Time(value // 60, value % 60)
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError(f"expected a time like '09:00', got {value!r}")
    return Time(int(m[1]), int(m[2]))


class ChannelConfig(Strict):
    """A channel the bot posts to. ``slack`` is a channel id (C…) or ``#name``; ``teams`` the Teams
    channel's name, ``Team/Channel``, or its conversation id (``19:…@thread.tacv2``); the bot learns
    a team's channels when it is added to the team."""

    platform: Platform | None = None  # default: the deployment's platform
    slack: str | None = None
    teams: str | None = None
    title: str | None = None  # shown in the local workspace


class AwayConfig(Strict):
    """An out-of-office period: ``from`` and ``to`` are dates (both days included) in the
    person's timezone."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @model_validator(mode="after")
    def _order(self):
        if self.end < self.start:
            raise ValueError(f"'to' ({self.end}) is before 'from' ({self.start})")
        return self


class PersonConfig(Strict):
    key: str = Field(pattern=r"^[a-z0-9_.-]+$")
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    team: Literal["sales", "marketing"]
    role: Literal["rep", "sdr", "manager", "marketer", "admin"] = "rep"
    manager: str | None = None  # another person's key
    timezone: str | None = None  # default: the team's timezone
    admin: bool = False
    slack_id: str | None = None  # manual link when the email differs in Slack
    teams_id: str | None = None
    platform: Platform | None = None
    backup: str | None = None  # another person's key: covers while this person is away
    away: list[AwayConfig] = Field(default_factory=list)  # out-of-office periods

    _tz = field_validator("timezone")(lambda v: v if v is None else _check_tz(v))

    @field_validator("email")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()


class DigestTime(Strict):
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: Time = Time(9, 0)

    _t = field_validator("time", mode="before")(lambda v: _parse_time(v))


_TEAMS_THREAD = re.compile(r"^19:[A-Za-z0-9_\-]{4,200}@thread\.(tacv2|skype|v2)$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _check_teams_thread(value: str | None, what: str) -> str | None:
    """A Teams conversation id as the Bot Connector takes it (``19:…@thread.tacv2``)."""
    if value is None:
        return None
    value = value.strip()
    if _TEAMS_THREAD.fullmatch(value):
        return value
    where = f"in Teams: the {what}'s ⋯ → Get link to {what}; the id is the part after /{what}/, URL-decoded"
    if _GUID.fullmatch(value):
        raise ValueError(
            f"{value!r} looks like a Microsoft Entra group id (a GUID), which the bot cannot read: "
            f"give the {what}'s conversation id instead, like '19:abc123…@thread.tacv2' ({where})"
        )
    raise ValueError(f"{value!r} is not a Teams {what} id: expected '19:…@thread.tacv2' ({where})")


class TeamMembers(Strict):
    """Who is in the team, from the chat directory (README: "Where people come from"): everyone in
    the Slack user group ``slack_usergroup`` (its id, ``S…``), and in Teams everyone in the channel
    ``teams_channel`` or the team ``teams_team`` (conversation ids, ``19:…@thread.tacv2``; a team's
    id is its General channel's). People listed under ``people:`` are in the team the config gives
    them whatever the group says."""

    slack_usergroup: str | None = Field(default=None, pattern=r"^S[A-Z0-9]{2,30}$")
    teams_channel: str | None = None
    teams_team: str | None = None

    _channel = field_validator("teams_channel")(lambda v: _check_teams_thread(v, "channel"))
    _team = field_validator("teams_team")(lambda v: _check_teams_thread(v, "team"))

    @model_validator(mode="after")
    def _one_teams_source(self):
        if self.teams_channel and self.teams_team:
            raise ValueError(
                "give teams_channel or teams_team, not both (a team's members are those of its General channel)"
            )
        return self

    @property
    def teams_conversation(self) -> str | None:
        """The Teams conversation whose members are the team's (a channel, or a team's General)."""
        return self.teams_channel or self.teams_team


class TeamConfig(Strict):
    channel: str  # a key of ``channels``
    timezone: str = "UTC"
    digest: DigestTime = Field(default_factory=DigestTime)
    members: TeamMembers = Field(default_factory=TeamMembers)

    _tz = field_validator("timezone")(lambda v: _check_tz(v))


def _check_holidays(country: str | None, subdivision: str | None) -> None:
    """The ``holidays`` library knows this country (and subdivision)."""
    if country is None:
        if subdivision is not None:
            raise ValueError("subdivision needs a country")
        return
    from holidays.registry import COUNTRIES

    # The library's registry of country codes: checked without loading any country's calendar
    # (loading one loads all ~270 of them; business hours do that when they are first needed).
    if not any(country in names[1:] for names in COUNTRIES.values()):
        raise ValueError(
            f"unknown holiday country {country!r}: use an ISO code the holidays library knows, e.g. US, GB, DE, FR"
        )
    if subdivision is None:
        return
    import holidays

    try:
        holidays.country_holidays(country, subdiv=subdivision, years=())
    except (NotImplementedError, ValueError):
        raise ValueError(f"{country} has no holiday subdivision {subdivision!r} (e.g. DE: BY, US: CA)") from None


class HolidayRegion(Strict):
    country: str
    subdivision: str | None = None

    @model_validator(mode="after")
    def _known(self):
        _check_holidays(self.country, self.subdivision)
        return self


class HolidayConfig(Strict):
    country: str | None = None  # ISO code for the ``holidays`` library: US, DE, GB, ...
    subdivision: str | None = None
    dates: list[date] = Field(default_factory=list)  # company days off, for everyone
    # Public holidays by where a person works (their timezone), e.g. {"Europe/Paris": {country: FR}};
    # anyone else follows ``country``.
    by_timezone: dict[str, HolidayRegion] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self):
        _check_holidays(self.country, self.subdivision)
        for tz in self.by_timezone:
            _check_tz(tz)
        return self


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WORKDAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]


class BusinessHours(Strict):
    start: Time = Time(9, 0)
    end: Time = Time(17, 0)
    days: list[Weekday] = Field(default_factory=lambda: list(_WORKDAYS), min_length=1)
    holidays: HolidayConfig = Field(default_factory=HolidayConfig)

    _t = field_validator("start", "end", mode="before")(lambda v: _parse_time(v))

    @model_validator(mode="after")
    def _order(self):
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    @property
    def weekdays(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(d) for d in self.days)


class QualifiedConfig(Strict):
    """The shared definition of a qualified lead: a CRM status, or a score at or above the
    threshold with the required fields present."""

    statuses: list[str] = Field(default_factory=lambda: ["SQL", "qualified"])
    min_score: int | None = 80
    required_fields: list[str] = Field(default_factory=lambda: ["email", "company"])

    @field_validator("required_fields")
    @classmethod
    def _known_fields(cls, v: list[str]) -> list[str]:
        known = ("email", "name", "company", "title", "owner_email", "source_campaign_id")
        unknown = [f for f in v if f not in known]
        if unknown:
            raise ValueError(f"unknown lead field {unknown[0]!r}; use any of {', '.join(known)}")
        return v


DEFAULT_CADENCE_DAYS = 3


class TierConfig(Strict):
    hours: float = Field(gt=0, le=24 * 30)  # business hours to the first follow-up (speed to lead)
    min_score: int | None = None  # the tier applies at or above this score
    # After the first follow-up: a lead with no sales activity for this many business days is cooling.
    cadence_days: float = Field(default=DEFAULT_CADENCE_DAYS, gt=0, le=60)


class LadderConfig(Strict):
    warn_at: float = Field(default=0.75, gt=0, lt=1)  # share of the SLA
    manager_after_hours: float = Field(default=2, ge=0)  # business hours after breach
    channel_after_hours: float = Field(default=4, ge=0)
    snooze_hours: float = Field(default=1, gt=0)

    @model_validator(mode="after")
    def _order(self):
        if self.channel_after_hours < self.manager_after_hours:
            raise ValueError("channel_after_hours must not be before manager_after_hours")
        return self


class SlaConfig(Strict):
    tiers: dict[str, TierConfig] = Field(
        default_factory=lambda: {
            "hot": TierConfig(hours=1, min_score=90),
            "warm": TierConfig(hours=4, min_score=70),
            "other": TierConfig(hours=8),
        },
        min_length=1,
    )
    ladder: LadderConfig = Field(default_factory=LadderConfig)


class BounceReason(Strict):
    code: str = Field(pattern=r"^[a-z0-9_]+$", max_length=40)
    label: str = Field(max_length=75)


DEFAULT_REASONS = [
    ("not_ready", "Not ready to buy"),
    ("no_budget", "No budget"),
    ("wrong_contact", "Wrong contact"),
    ("not_icp", "Not our customer profile"),
    ("unresponsive", "Unresponsive"),
    ("duplicate", "Duplicate"),
    ("other", "Other"),
]


class BounceConfig(Strict):
    reasons: list[BounceReason] = Field(
        default_factory=lambda: [BounceReason(code=c, label=l) for c, l in DEFAULT_REASONS], min_length=1
    )
    note_max: int = Field(default=500, gt=0, le=3000)
    report: DigestTime = Field(default_factory=lambda: DigestTime(day="mon", time=Time(9, 30)))


class WinsConfig(Strict):
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    monthly_target: float | None = Field(default=None, ge=0)  # in ``currency``
    reaction: str | None = "tada"
    wide_channel: str | None = None  # a key of ``channels``
    wide_at: float | None = Field(default=None, ge=0)  # deals at or above go to wide_channel too
    rollup_below: float | None = Field(default=None, ge=0)  # deals below are gathered daily
    rollup_time: Time = Time(17, 0)
    timezone: str = "UTC"
    # What one unit of another currency is worth in ``currency``, for the thresholds and the
    # month's total; a deal in a currency without a rate is always posted on its own and its
    # amount is shown beside the total, not added to it.
    rates: dict[str, float] = Field(default_factory=dict)
    celebrate_within_days: int | None = Field(default=30, ge=0)  # older closes are recorded, not posted
    match_days: int = Field(default=7, ge=0)  # a rep's `won` within this many days of a deal of that name is a repeat
    # Say it once: what the wide channel gets for a deal at or above ``wide_at`` (``pointer``: one
    # line pointing at the wins post; ``copy``: the whole card again; ``off``: nothing), and
    # whether marketing gets a post of its own (the wins post already mentions the campaigns' owners).
    wide: Literal["pointer", "copy", "off"] = "pointer"
    marketing_post: bool = False

    _t = field_validator("rollup_time", mode="before")(lambda v: _parse_time(v))
    _tz = field_validator("timezone")(lambda v: _check_tz(v))

    @field_validator("rates")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        from handlers.money import is_currency

        for code, rate in v.items():
            if not is_currency(code):
                raise ValueError(f"unknown currency code {code!r} (use ISO 4217, e.g. EUR)")
            if not rate > 0:
                raise ValueError(f"the rate for {code} must be greater than 0")
        return v


class AgreementPost(DigestTime):
    """When the weekly scoreboard is posted to each team's channel, in the team's timezone."""

    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: Time = Time(9, 15)
    weeks: int = Field(default=8, ge=2, le=26)  # the chart's trend: this many weeks


class AgreementConfig(Strict):
    """The smarketing agreement: what each team promises the other, per month.

    Shares are fractions (``0.9``) or percentages (``"90%"``); money is in ``wins.currency``."""

    leads_per_month: int | None = Field(default=None, ge=0)  # qualified leads marketing delivers
    by_region: dict[str, int] = Field(default_factory=dict)  # the lead's ``region`` (CRM field)
    by_segment: dict[str, int] = Field(default_factory=dict)  # the lead's ``segment`` (CRM field)
    acceptance_rate: float | None = Field(default=None, ge=0, le=1)  # followed up rather than bounced
    within_sla: float | None = Field(default=None, ge=0, le=1)  # first touches within the SLA
    conversion: float | None = Field(default=None, ge=0, le=1)  # handed leads that end in a win
    sourced_revenue: float | None = Field(default=None, ge=0)  # won revenue sourced by campaigns
    weekly_post: AgreementPost = Field(default_factory=AgreementPost)
    recognition: bool = True  # the monthly "a sales win is a marketing win too" post

    @field_validator("acceptance_rate", "within_sla", "conversion", mode="before")
    @classmethod
    def _share(cls, v):
        if isinstance(v, str) and v.strip().endswith("%"):
            try:
                return float(v.strip()[:-1]) / 100
            except ValueError:
                raise ValueError(f"expected a share like 0.9 or '90%', got {v!r}") from None
        return v

    @field_validator("by_region", "by_segment")
    @classmethod
    def _targets(cls, v: dict[str, int]) -> dict[str, int]:
        for name, n in v.items():
            if not str(name).strip():
                raise ValueError("a region or segment name cannot be empty")
            if n < 0:
                raise ValueError(f"the target for {name!r} must not be negative (got {n})")
        return v


class ReviewConfig(Strict):
    """The weekly joint sales-marketing review: when it meets, where it is prepared, who attends.

    The agenda is posted ``agenda_before_hours`` before the meeting, the summary when it ends
    (``duration_minutes`` after it starts)."""

    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "thu"
    time: Time = Time(16, 0)
    timezone: str = "UTC"
    channel: str  # a key of ``channels``
    attendees: list[str] = Field(default_factory=list)  # keys of ``people``
    agenda_before_hours: float = Field(default=2, gt=0, le=72)
    duration_minutes: int = Field(default=60, gt=0, le=480)

    _t = field_validator("time", mode="before")(lambda v: _parse_time(v))
    _tz = field_validator("timezone")(lambda v: _check_tz(v))


class OutboundWebhook(Strict):
    url: str = Field(pattern=r"^https?://")
    secret: str = Field(min_length=8)


class CrmWrite(Strict):
    """What a CRM connector writes to the contact when a lead changes hands (``None``: leave it)."""

    lead_status: str | None = None
    lifecycle_stage: str | None = None
    # Per bounce reason (a code of ``bounce.reasons``), instead of ``lead_status``.
    lead_status_by_reason: dict[str, str] = Field(default_factory=dict)
    note: bool = True  # and a note on the contact saying who, why and when


class HubSpotQualified(Strict):
    """Which HubSpot values mean "qualified: hand it to sales" (either property matching is enough)."""

    lifecycle_stages: list[str] = Field(default_factory=lambda: ["salesqualifiedlead"])
    lead_statuses: list[str] = Field(default_factory=list)


class HubSpotConfig(Strict):
    """How HubSpot's records map onto the product's own (README: "Connecting HubSpot")."""

    qualified: HubSpotQualified = Field(default_factory=HubSpotQualified)
    # Deal stage ids that mean closed won; empty: the won stage of every pipeline (HubSpot's
    # own ``hs_is_closed_won``).
    closed_won_stages: list[str] = Field(default_factory=list)
    # HubSpot owners whose email differs from the person's in ``people``: owner email or owner id
    # -> person key. Everyone else is matched by email.
    owners: dict[str, str] = Field(default_factory=dict)
    # The contact property whose value is the lead's score (the shared definition's ``min_score``
    # and the SLA tiers read it); null: no score from HubSpot.
    score_property: str | None = "hubspotscore"
    # Written back to the contact: a bounce (back to marketing) and a send-back (back to sales).
    on_bounce: CrmWrite = Field(
        default_factory=lambda: CrmWrite(lead_status="UNQUALIFIED", lifecycle_stage="marketingqualifiedlead")
    )
    on_requalify: CrmWrite = Field(
        default_factory=lambda: CrmWrite(lead_status="OPEN", lifecycle_stage="salesqualifiedlead")
    )
    # A follow-up logged in chat becomes a note or a completed task on the contact, or nothing.
    follow_ups: Literal["note", "task", "off"] = "note"
    # Credit the contact's original source (e.g. "Organic search") when no campaign converted it.
    credit_original_source: bool = True
    # Poll the search API for changes: ``auto`` polls when webhooks cannot be used (no client secret).
    poll: Literal["auto", "on", "off"] = "auto"
    poll_seconds: int = Field(default=60, ge=10, le=3600)


ApiName = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=80)  # a Salesforce field's API name


class SalesforceQualified(Strict):
    """Which Salesforce leads mean "qualified: hand it to sales"."""

    lead_statuses: list[str] = Field(default_factory=lambda: ["Qualified"])  # Lead.Status values
    converted: bool = True  # a converted lead (sales accepted it) is qualified too


class SalesforceWrite(Strict):
    """What the Salesforce connector writes when a lead changes hands (``None``: leave it)."""

    lead_status: str | None = None  # Lead.Status
    lead_status_by_reason: dict[str, str] = Field(default_factory=dict)  # bounce reason code -> Lead.Status
    reason_field: str | None = ApiName  # a Lead text field given the reason (e.g. Bounce_Reason__c)
    task: bool = True  # and a completed Task on the lead saying who, why and when


class SalesforceConfig(Strict):
    """How Salesforce's records map onto the product's own (README: "Connecting Salesforce")."""

    qualified: SalesforceQualified = Field(default_factory=SalesforceQualified)
    # Salesforce users whose email differs from the person's in ``people``: user email or user
    # id (005...) -> person key. Everyone else is matched by their User record's email.
    owners: dict[str, str] = Field(default_factory=dict)
    score_field: str | None = ApiName  # a Lead number field read as the score (e.g. Lead_Score__c)
    tier_field: str | None = Field(default="Rating", pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=80)
    # Credit the opportunity's Primary Campaign Source when no campaign touch came before the close.
    primary_campaign: bool = True
    # CampaignMember statuses that count as campaign touches; empty: every member.
    touch_statuses: list[str] = Field(default_factory=list)
    # Task Type or TaskSubtype values that are sales follow-ups; empty: every completed Task on a lead.
    follow_up_types: list[str] = Field(default_factory=list)
    # Contacts that did not come from a lead are leads of their own (orgs that work contacts only).
    contacts_as_leads: bool = False
    on_bounce: SalesforceWrite = Field(default_factory=lambda: SalesforceWrite(lead_status="Nurturing"))
    on_requalify: SalesforceWrite = Field(default_factory=lambda: SalesforceWrite(lead_status="Qualified", task=False))
    follow_ups: Literal["task", "off"] = "task"  # a follow-up logged in chat: a completed Task
    poll_seconds: int = Field(default=60, ge=10, le=3600)
    # The share of the org's daily API requests the bot may use before it stops reading until later.
    api_share: float = Field(default=0.8, gt=0, le=1)


class DirectoryConfig(Strict):
    """The nightly sync of the chat directory (Slack ``users.list`` and the teams' user groups;
    the Teams rosters of ``teams.<team>.members``)."""

    sync_at: Time = Time(2, 0)  # UTC; once a day, whatever replicas run
    slack: bool = True  # sync Slack's directory when Slack is connected
    teams: bool = True  # sync the configured Teams rosters when Teams is connected

    _t = field_validator("sync_at", mode="before")(lambda v: _parse_time(v))


class DeliveryConfig(Strict):
    """Who hears what, and when (``handlers/policy.py``; README "Signal, not noise").

    Real time, always: a handoff to someone, a breach of their own lead, a Claim. ``warn``: a
    rep's warnings fold into their morning "today's follow-ups" (``digest``) or come one DM each
    (``realtime``). ``manager``: the manager's escalations fold into a morning digest of the
    team's at-risk leads (``digest``), except the ``urgent_tiers``' (real time, quiet hours or
    not). ``channel``: the last step becomes one "at risk" roll-up per channel per day
    (``rollup``) or a post per lead (``realtime``). ``quiet_hours``: nothing reaches a person
    outside their business hours (a channel: its team's), held until the next opening, unless
    urgent. ``digest_time``: when the morning digests go out, in each person's timezone (default:
    the start of business hours)."""

    warn: Literal["digest", "realtime"] = "digest"
    manager: Literal["digest", "realtime"] = "digest"
    channel: Literal["rollup", "realtime"] = "rollup"
    urgent_tiers: list[str] = Field(default_factory=lambda: ["hot"])
    quiet_hours: bool = True
    digest_time: Time | None = None
    digest_max_leads: int = Field(default=10, ge=1, le=20)  # lines (each with its button) per digest

    @field_validator("digest_time", mode="before")
    @classmethod
    def _time(cls, v):
        return None if v is None else _parse_time(v)


class Config(Strict):
    company: str = "Your company"
    platform: Platform | None = None  # default: from the credentials present
    channels: dict[str, ChannelConfig]
    teams: dict[Literal["sales", "marketing"], TeamConfig]
    people: list[PersonConfig] = Field(default_factory=list)
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    qualified: QualifiedConfig = Field(default_factory=QualifiedConfig)
    sla: SlaConfig = Field(default_factory=SlaConfig)
    bounce: BounceConfig = Field(default_factory=BounceConfig)
    wins: WinsConfig = Field(default_factory=WinsConfig)
    outbound_webhook: OutboundWebhook | None = None
    hubspot: HubSpotConfig = Field(default_factory=HubSpotConfig)
    salesforce: SalesforceConfig = Field(default_factory=SalesforceConfig)
    agreement: AgreementConfig = Field(default_factory=AgreementConfig)
    review: ReviewConfig | None = None
    directory: DirectoryConfig = Field(default_factory=DirectoryConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)

    @model_validator(mode="after")
    def _references(self):
        problems = []
        for team, tc in self.teams.items():
            if tc.channel not in self.channels:
                problems.append(f"teams.{team}.channel: no channel {tc.channel!r} under channels")
        for name in ("wins",):
            if name not in self.channels:
                problems.append(f"channels: a {name!r} channel is required")
        for i, tier in enumerate(self.delivery.urgent_tiers):
            if tier not in self.sla.tiers:
                problems.append(
                    f"delivery.urgent_tiers.{i}: no tier {tier!r} under sla.tiers (tiers: {', '.join(self.sla.tiers)})"
                )
        if self.wins.wide_channel and self.wins.wide_channel not in self.channels:
            problems.append(f"wins.wide_channel: no channel {self.wins.wide_channel!r} under channels")
        keys = [p.key for p in self.people]
        emails = [p.email for p in self.people]
        for i, p in enumerate(self.people):
            if keys.count(p.key) > 1:
                problems.append(f"people.{i}.key: {p.key!r} appears more than once")
            if emails.count(p.email) > 1:
                problems.append(f"people.{i}.email: {p.email!r} appears more than once")
            if p.manager and p.manager not in keys:
                problems.append(f"people.{i}.manager: no person with key {p.manager!r}")
            if p.manager == p.key:
                problems.append(f"people.{i}.manager: a person cannot manage themselves")
            if p.backup and p.backup not in keys:
                problems.append(f"people.{i}.backup: no person with key {p.backup!r}")
            if p.backup == p.key:
                problems.append(f"people.{i}.backup: a person cannot be their own backup")
            spans = sorted((a.start, a.end) for a in p.away)
            for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
                if s2 <= e1:
                    problems.append(f"people.{i}.away: {s1}..{e1} and {s2}..{e2} overlap")
        if self.review is not None:
            if self.review.channel not in self.channels:
                problems.append(f"review.channel: no channel {self.review.channel!r} under channels")
            for i, key in enumerate(self.review.attendees):
                if key not in keys:
                    problems.append(f"review.attendees.{i}: no person with key {key!r}")
        codes = [r.code for r in self.bounce.reasons]
        if len(set(codes)) != len(codes):
            problems.append("bounce.reasons: reason codes must be unique")
        for owner, key in self.hubspot.owners.items():
            if key not in keys:
                problems.append(f"hubspot.owners.{owner}: no person with key {key!r}")
        for code in self.hubspot.on_bounce.lead_status_by_reason:
            if code not in codes:
                problems.append(f"hubspot.on_bounce.lead_status_by_reason.{code}: no bounce reason {code!r}")
        for owner, key in self.salesforce.owners.items():
            if key not in keys:
                problems.append(f"salesforce.owners.{owner}: no person with key {key!r}")
        for which in ("on_bounce", "on_requalify"):
            for code in getattr(self.salesforce, which).lead_status_by_reason:
                if code not in codes:
                    problems.append(f"salesforce.{which}.lead_status_by_reason.{code}: no bounce reason {code!r}")
        if "salesforce" in self.model_fields_set and not self.qualified.statuses:
            problems.append(
                "qualified.statuses: name at least one status; Salesforce leads that are qualified "
                "are marked with the first"
            )
        if "hubspot" in self.model_fields_set and not self.qualified.statuses:
            problems.append(
                "qualified.statuses: name at least one status; HubSpot contacts that reach a "
                "qualified stage are marked with the first"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- helpers used by handlers -------------------------------------------------------------
    def team_timezone(self, team: str) -> str:
        tc = self.teams.get(team)  # type: ignore[call-overload]
        return tc.timezone if tc else "UTC"

    def person_timezone(self, person: PersonConfig) -> str:
        return person.timezone or self.team_timezone(person.team)

    def team_channel(self, team: str) -> str | None:
        tc = self.teams.get(team)  # type: ignore[call-overload]
        return tc.channel if tc else None

    def reason_label(self, code: str) -> str | None:
        return next((r.label for r in self.bounce.reasons if r.code == code), None)


def _format_errors(source: str, err: ValidationError) -> str:
    lines: list[str] = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if not loc:  # cross-key checks already name their keys
            lines.extend(f"  {part}" for part in msg.split("; "))
            continue
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the configuration reference in the README)"
        lines.append(f"  {loc}: {msg}")
    return f"config error in {source}:\n" + "\n".join(lines)


# libyaml's safe loader where PyYAML was built with it (the wheels are): the same documents, about
# ten times faster than the pure-Python one (~60 ms of a start-up with the demo config).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        raise ConfigError(f"config error in {source}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config error in {source}: the file must be a mapping of keys (channels:, teams:, ...)")
    try:
        # Names and labels are shown in messages: like any inbound text they can form no mention.
        return Config.model_validate(inert_value(data))
    except ValidationError as e:
        raise ConfigError(_format_errors(source, e)) from None


def load_config(path: str | Path | None) -> Config:
    """Load and validate the config at ``path``, or the built-in demo config when ``path`` is None."""
    p = Path(path) if path else DEMO_CONFIG
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"config error in {p}: cannot read the file ({e.strerror})") from None
    return parse_config(text, str(p))
