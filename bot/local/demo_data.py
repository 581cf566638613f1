"""A believable company for the local workspace, loaded through the product's own paths.

``generate`` builds, from a seed and an anchor time, the CRM events a real company's CRM would
have sent: campaigns owned by the marketers in the config, a few hundred leads in every stage
with their campaign touches, hand-offs to sales (most followed up, a few cooling already, a few
just handed over), deals closed this month, and two weeks of both teams' schedules with a few
conflicts in them. ``load`` feeds those events to ``handlers.ingest.ingest_events`` like the CRM
webhook does, so every flow builds its own state and messages from them. Event types no flow
handles yet are skipped (and logged); they are fed later, on a later start, once a flow handles
them (their ids make each event count once).

Everything is deterministic for a given anchor: the same company every time.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.config import Config
from handlers.events import validate_events

log = logging.getLogger(__name__)

KEY = "local:demo"
SEED = 20261123
LEADS = 300

CAMPAIGNS = [
    # (id, name, kind)
    ("cmp-webinar-forecast", "Webinar: Forecasting with AI", "webinar"),
    ("cmp-ebook-revenue", "Ebook: State of Revenue Analytics 2026", "ebook"),
    ("cmp-saastr-europa", "SaaStr Europa booth", "event"),
    ("cmp-google-ads", "Google Ads: analytics platform", "paid"),
    ("cmp-linkedin-finserv", "LinkedIn ABM: enterprise FinServ", "paid"),
    ("cmp-newsletter", "Customer stories newsletter", "email"),
    ("cmp-trial-nurture", "Free-trial nurture sequence", "email"),
    ("cmp-partner-referral", "Partner referral programme", "partner"),
    ("cmp-dinner-nyc", "Data Leaders Dinner NYC", "event"),
    ("cmp-bf-promo", "Black Friday: 20% off annual plans", "promotion"),
]

FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "Lucas",
    "Mia",
    "Mateo",
    "Charlotte",
    "Levi",
    "Harper",
    "Ethan",
    "Aisha",
    "Kenji",
    "Priya",
    "Tomás",
    "Ingrid",
    "Yusuf",
    "Chiara",
    "Lars",
    "Fatima",
    "Jonah",
    "Mei",
    "Rafael",
    "Nadia",
    "Arjun",
    "Zoe",
    "Felix",
    "Hana",
    "Omar",
    "Julia",
    "Sven",
    "Leila",
    "Marco",
    "Ava",
    "Daniel",
    "Sara",
    "Henrik",
    "Camila",
    "Tariq",
    "Elena",
    "Niamh",
    "Pedro",
    "Freya",
    "Kofi",
    "Anouk",
]
LAST = [
    "Smith",
    "Johnson",
    "Nguyen",
    "Garcia",
    "Müller",
    "Rossi",
    "Kowalski",
    "Okafor",
    "Tanaka",
    "Silva",
    "Andersson",
    "Dubois",
    "O'Brien",
    "Haddad",
    "Kaur",
    "Novak",
    "Jensen",
    "Moreau",
    "Costa",
    "Becker",
    "Wright",
    "Khan",
    "Lopez",
    "Schmidt",
    "Ivanova",
    "Murphy",
    "Chen",
    "Singh",
    "Walker",
    "Fischer",
    "Rahman",
    "Bianchi",
    "Larsen",
    "Petrov",
    "Hughes",
    "Yamamoto",
]
COMPANY_A = [
    "Acme",
    "Bluebird",
    "Cobalt",
    "Driftwood",
    "Evergreen",
    "Foxglove",
    "Granite",
    "Harbor",
    "Ironwood",
    "Juniper",
    "Keystone",
    "Lumen",
    "Meridian",
    "Northstar",
    "Oakline",
    "Pinnacle",
    "Quarry",
    "Redwood",
    "Summit",
    "Tidewater",
    "Umbra",
    "Vantage",
    "Willow",
    "Zenith",
    "Atlas",
    "Beacon",
    "Cascade",
    "Delta",
    "Ember",
    "Falcon",
]
COMPANY_B = [
    "Logistics",
    "Health",
    "Bank",
    "Retail",
    "Energy",
    "Insurance",
    "Foods",
    "Robotics",
    "Media",
    "Pharma",
    "Telecom",
    "Capital",
    "Software",
    "Manufacturing",
    "Travel",
]
TITLES = [
    "Head of Data",
    "VP Finance",
    "Director of Analytics",
    "CFO",
    "RevOps Manager",
    "Data Engineer",
    "BI Lead",
    "COO",
    "Head of Sales Ops",
    "Analytics Manager",
    "CTO",
    "Controller",
    "Director of FP&A",
    "Chief Data Officer",
]
REGIONS = ["NA", "NA", "NA", "EMEA", "EMEA", "UK", "DACH", "APAC"]
PRODUCTS = [
    "Analytics Platform, annual",
    "Forecasting add-on",
    "Enterprise seats expansion",
    "Data connectors bundle",
    "Pilot to annual",
    "Revenue dashboards, 3 years",
]
DEAL_AMOUNTS = [4800, 7200, 9600, 12000, 18500, 24000, 31000, 36000, 48000, 64000, 96000]
TOUCH_KINDS = {
    "webinar": "attended",
    "ebook": "download",
    "event": "visited booth",
    "paid": "ad click",
    "email": "email click",
    "partner": "referral",
    "promotion": "promo click",
}
FOLLOW_UPS = [
    "Intro call booked",
    "Left a voicemail, sent recap email",
    "Discovery call done",
    "Sent pricing and case study",
    "Demo scheduled for next week",
    "Connected on LinkedIn, emailed",
]
QUALIFIED_STAGES = ("cooling", "fresh", "working")
CRM_STATUS = {
    "new": "MQL",
    "nurture": "Nurture",
    "disqualified": "Disqualified",
    "opportunity": "Opportunity",
    "customer": "Customer",
}
BOUNCES = [
    ("no_budget", "Budget frozen until Q2; revisit in March."),
    ("not_ready", "Evaluating in-house build first."),
    ("wrong_contact", "Intern downloaded the ebook; no buying power."),
]


@dataclass
class DemoLead:
    crm_id: str
    name: str
    email: str
    company: str
    title: str
    region: str
    stage: str  # new | fresh | working | cooling | opportunity | customer | nurture | disqualified
    owner_email: str | None
    campaign_id: str
    score: int


@dataclass
class DemoCompany:
    anchor: datetime
    events: list[dict]  # raw CRM events, in the order a CRM would send them
    leads: list[DemoLead]
    bounces: list[tuple[str, str, str, str]] = field(default_factory=list)  # (owner email, lead email, reason, note)

    def of_type(self, *types: str) -> list[dict]:
        return [e for e in self.events if e["type"] in types]


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _business_moment(rng: random.Random, day: datetime, tz: ZoneInfo) -> datetime:
    """A random time between 09:00 and 16:30 on ``day`` (a date-bearing datetime) in ``tz``."""
    local = datetime.combine(day.astimezone(tz).date(), time(9, 0), tz)
    return local + timedelta(minutes=rng.randrange(0, 7 * 60 + 30, 5))


def _last_business_moment(anchor: datetime, tz: ZoneInfo) -> datetime:
    """``anchor`` when it falls in working hours (09:00-17:00 on a weekday in ``tz``), else the
    end of the last working day before it."""
    local = anchor.astimezone(tz)
    if local.weekday() < 5 and time(9, 0) <= local.time() < time(17, 0):
        return anchor
    day = local.date() if local.weekday() < 5 and local.time() >= time(17, 0) else None
    probe = local
    while day is None:
        probe -= timedelta(days=1)
        if probe.weekday() < 5:
            day = probe.date()
    return datetime.combine(day, time(16, 50), tz)


def _weekday_before(anchor: datetime, days: int, tz: ZoneInfo) -> datetime:
    """``days`` weekdays before ``anchor`` (in ``tz``)."""
    d = anchor.astimezone(tz)
    while days > 0:
        d -= timedelta(days=1)
        if d.weekday() < 5:
            days -= 1
    return d


def generate(config: Config, anchor: datetime, *, seed: int = SEED, leads: int = LEADS) -> DemoCompany:
    """The demo company's CRM events, relative to ``anchor`` (the simulated "now")."""
    rng = random.Random(seed)
    people = config.people
    reps = [p for p in people if p.team == "sales" and p.role in ("rep", "sdr")] or [
        p for p in people if p.team == "sales"
    ]
    marketers = [p for p in people if p.team == "marketing" and p.role == "marketer"] or [
        p for p in people if p.team == "marketing"
    ]
    sales_tz = ZoneInfo(config.team_timezone("sales"))
    mkt_tz = ZoneInfo(config.team_timezone("marketing"))
    events: list[dict] = []
    n = 0

    def add(type_: str, at: datetime, data: dict, ident: str) -> None:
        nonlocal n
        n += 1
        events.append({"id": f"demo-{ident}", "type": type_, "occurred_at": _iso(min(at, anchor)), "data": data})

    # Campaigns, owned round-robin by the marketers.
    campaign_kind = {}
    for i, (cid, name, kind) in enumerate(CAMPAIGNS):
        owner = marketers[i % len(marketers)].email if marketers else None
        campaign_kind[cid] = kind
        add(
            "campaign.upserted",
            anchor - timedelta(days=60 - i),
            {"id": cid, "name": name, "kind": kind, "owner_email": owner},
            f"campaign-{cid}",
        )

    # Leads, each in a stage. In the product a qualified lead is sales' to follow up in every SLA
    # window, so only a realistic handful are in that state: a few cooling already (handed over
    # days ago, never followed up), a few handed over just now, some being worked today. The
    # rest are marketing's (MQL, nurture), lost, or well past the handoff (opportunities and
    # customers in the CRM).
    stages = (
        ["cooling"] * 4
        + ["fresh"] * 5
        + ["working"] * 12
        + ["opportunity"] * 50
        + ["customer"] * 20
        + ["nurture"] * 45
        + ["disqualified"] * 25
    )
    stages += ["new"] * max(0, leads - len(stages))
    stages = stages[:leads]
    rng.shuffle(stages)
    used: set[str] = set()
    demo_leads: list[DemoLead] = []
    for i, stage in enumerate(stages):
        while True:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}"
            email = f"{_slug(first)}.{_slug(last)}@{_slug(company)}.example"
            if email not in used:
                used.add(email)
                break
        with_sales = stage in QUALIFIED_STAGES or stage in ("opportunity", "customer")
        owner = rng.choice(reps).email if reps and (with_sales or stage == "nurture" or rng.random() < 0.3) else None
        # Only a handoff qualifies a lead: the others stay under the shared definition's score.
        score = rng.randint(80, 97) if stage in QUALIFIED_STAGES else rng.randint(15, 78)
        demo_leads.append(
            DemoLead(
                crm_id=f"L-{10000 + i}",
                name=f"{first} {last}",
                email=email,
                company=company,
                title=rng.choice(TITLES),
                region=rng.choice(REGIONS),
                stage=stage,
                owner_email=owner,
                campaign_id=rng.choice(CAMPAIGNS)[0],
                score=score,
            )
        )

    created: dict[str, datetime] = {}
    for lead in demo_leads:
        at = anchor - timedelta(days=rng.randint(12, 75), minutes=rng.randint(0, 600))
        created[lead.crm_id] = at
        queued = lead.stage in QUALIFIED_STAGES  # with marketing until the handoff below
        add(
            "lead.upserted",
            at,
            {
                "id": lead.crm_id,
                "email": lead.email,
                "name": lead.name,
                "company": lead.company,
                "title": lead.title,
                "status": "MQL" if queued else CRM_STATUS[lead.stage],
                "score": rng.randint(40, 74) if queued else lead.score,
                "owner_email": None if queued else lead.owner_email,
                "source_campaign_id": lead.campaign_id,
                "region": lead.region,
            },
            f"lead-{lead.crm_id}",
        )

    # Marketing touches: the source campaign first, then one or two more (for attribution).
    for lead in demo_leads:
        others = [c for c, _, _ in CAMPAIGNS if c != lead.campaign_id]
        chain = [lead.campaign_id] + rng.sample(others, rng.randint(0, 2))
        at = created[lead.crm_id]
        for j, cid in enumerate(chain):
            add(
                "campaign.touch",
                at,
                {
                    "campaign_id": cid,
                    "lead_id": lead.crm_id,
                    "contact_email": lead.email,
                    "kind": TOUCH_KINDS.get(campaign_kind[cid], "touch"),
                    "touched_at": _iso(min(at, anchor)),
                },
                f"touch-{lead.crm_id}-{j}",
            )
            at += timedelta(days=rng.randint(1, 3), minutes=rng.randint(0, 300))

    # Hand-offs to sales.
    qualified_at: dict[str, datetime] = {}
    for lead in demo_leads:
        if lead.stage == "cooling":  # handed over 1-3 business days ago, never followed up
            at = _business_moment(rng, _weekday_before(anchor, rng.randint(1, 3), sales_tz), sales_tz)
        elif lead.stage == "fresh":  # handed over in the last hour: cools while you watch
            at = anchor - timedelta(minutes=rng.randint(5, 50))
        elif lead.stage == "working":  # handed over a day or two ago, followed up since
            at = _business_moment(rng, _weekday_before(anchor, rng.randint(1, 2), sales_tz), sales_tz)
        else:
            continue
        qualified_at[lead.crm_id] = min(at, anchor - timedelta(minutes=5))
    for lead in sorted((l for l in demo_leads if l.crm_id in qualified_at), key=lambda l: qualified_at[l.crm_id]):
        add(
            "lead.qualified",
            qualified_at[lead.crm_id],
            {
                "id": lead.crm_id,
                "email": lead.email,
                "name": lead.name,
                "company": lead.company,
                "title": lead.title,
                "status": "SQL",
                "score": lead.score,
                "owner_email": lead.owner_email,
                "source_campaign_id": lead.campaign_id,
                "region": lead.region,
            },
            f"qualified-{lead.crm_id}",
        )

    # Sales follow-ups: soon after the handoff, and for the leads being worked, once more lately.
    last_open = _last_business_moment(anchor, sales_tz)
    touched = []
    for lead in demo_leads:
        if lead.stage == "working":
            first_touch = qualified_at[lead.crm_id] + timedelta(minutes=rng.randint(10, 40))
            touched.append((first_touch, lead, 0))
            latest = last_open - timedelta(minutes=rng.randint(5, 45))
            if latest > first_touch:
                touched.append((latest, lead, 1))
        elif lead.stage in ("opportunity", "customer"):
            touched.append((created[lead.crm_id] + timedelta(days=rng.randint(8, 11)), lead, 0))
    for at, lead, k in sorted(touched, key=lambda t: t[0]):
        add(
            "lead.touched",
            at,
            {
                "lead_id": lead.crm_id,
                "by_email": lead.owner_email,
                "note": rng.choice(FOLLOW_UPS),
                "kind": rng.choice(["call", "email", "meeting"]),
            },
            f"followup-{lead.crm_id}-{k}",
        )

    # Deals won this month, from customers (their campaign touches credit the marketers).
    converted = [l for l in demo_leads if l.stage == "customer"]
    month_start = anchor.astimezone(sales_tz).replace(day=1, hour=9, minute=0, second=0, microsecond=0)
    span = max((anchor - month_start).total_seconds(), 3600 * 6)
    deals = []
    for k, lead in enumerate(converted[:9]):
        at = _business_moment(rng, anchor - timedelta(seconds=span * (k + 1) / 10), sales_tz)
        at = min(max(at, created[lead.crm_id] + timedelta(days=12)), anchor - timedelta(hours=1))
        deals.append((at, lead, DEAL_AMOUNTS[(k * 7 + 3) % len(DEAL_AMOUNTS)]))
    for at, lead, amount in sorted(deals, key=lambda d: d[0]):
        add(
            "deal.closed_won",
            at,
            {
                "id": f"D-{lead.crm_id[2:]}",
                "name": f"{lead.company}: {rng.choice(PRODUCTS)}",
                "amount": str(amount),
                "currency": config.wins.currency,
                "owner_email": lead.owner_email,
                "lead_id": lead.crm_id,
                "contact_email": lead.email,
                "closed_at": _iso(at),
            },
            f"deal-{lead.crm_id}",
        )

    # Both teams' schedules for this week and next, with the conflicts the digest should flag.
    events.extend(_schedule(config, anchor, sales_tz, mkt_tz))

    # A few bounce-backs by their owners (through /smarketing bounce, when that flow is there).
    working = [l for l in demo_leads if l.stage == "working"]
    bounces = [(l.owner_email or "", l.email, code, note) for l, (code, note) in zip(working[:3], BOUNCES)]
    return DemoCompany(anchor=anchor, events=events, leads=demo_leads, bounces=bounces)


def _schedule(config: Config, anchor: datetime, sales_tz: ZoneInfo, mkt_tz: ZoneInfo) -> list[dict]:
    people = {p.key: p.email for p in config.people}
    sales_owner = next((p.email for p in config.people if p.team == "sales" and p.role == "manager"), None)
    mkt = [p.email for p in config.people if p.team == "marketing" and p.role == "marketer"] or [None]
    # "This week" is the working week at hand: the coming one when the anchor is a weekend.
    local = anchor.astimezone(sales_tz).date()
    monday = local - timedelta(days=local.weekday()) + (timedelta(weeks=1) if local.weekday() >= 5 else timedelta(0))
    items = [
        # (week, team, kind, title, regions, day, start, end-day, end, owner)
        (
            0,
            "marketing",
            "campaign_launch",
            "Launch: Forecasting 2.0 campaign",
            ["EMEA", "NA"],
            1,
            "10:00",
            1,
            "11:00",
            mkt[0],
        ),
        (
            0,
            "sales",
            "promotion",
            "EMEA quarter-end discount: 15% off annual",
            ["EMEA"],
            0,
            "09:00",
            4,
            "17:00",
            sales_owner,
        ),
        (0, "marketing", "event", "Data Leaders Dinner, London", ["UK"], 2, "18:00", 2, "21:00", mkt[1 % len(mkt)]),
        (0, "marketing", "event", "Analytics Meetup, London", ["UK"], 2, "17:30", 2, "20:00", mkt[2 % len(mkt)]),
        (
            0,
            "marketing",
            "webinar",
            "Webinar: Pipeline hygiene for RevOps",
            ["NA", "EMEA"],
            3,
            "16:00",
            3,
            "17:00",
            mkt[0],
        ),
        (
            0,
            "sales",
            "call_blitz",
            "Call blitz: webinar attendees",
            ["NA"],
            4,
            "09:00",
            4,
            "12:00",
            people.get("farid"),
        ),
        (
            1,
            "marketing",
            "campaign_launch",
            "Black Friday: 20% off annual plans",
            ["NA", "EMEA"],
            0,
            "08:00",
            4,
            "23:00",
            mkt[3 % len(mkt)],
        ),
        (1, "sales", "call_blitz", "Black Friday follow-up blitz", ["NA"], 0, "09:00", 1, "17:00", people.get("grace")),
        (1, "marketing", "event", "SaaStr Europa booth", ["EMEA"], 1, "09:00", 2, "18:00", mkt[4 % len(mkt)]),
        (
            1,
            "sales",
            "territory_focus",
            "Territory push: APAC mid-market",
            ["APAC"],
            1,
            "09:00",
            4,
            "17:00",
            sales_owner,
        ),
        (1, "sales", "account_focus", "Top 20 FinServ accounts", ["NA"], 2, "09:00", 3, "17:00", people.get("ana")),
        (1, "marketing", "webinar", "Webinar: Forecasting with AI (encore)", ["NA"], 3, "11:00", 3, "12:00", mkt[0]),
    ]
    out = []
    for i, (week, team, kind, title, regions, d0, t0, d1, t1, owner) in enumerate(items):
        tz = sales_tz if team == "sales" else mkt_tz
        base = monday + timedelta(weeks=week)
        start = datetime.combine(base + timedelta(days=d0), time.fromisoformat(t0), tz)
        end = datetime.combine(base + timedelta(days=d1), time.fromisoformat(t1), tz)
        out.append(
            {
                "id": f"demo-schedule-{i}",
                "type": "schedule.upserted",
                "occurred_at": _iso(anchor - timedelta(days=7 - week * 3, hours=i)),
                "data": {
                    "id": f"sched-{i}",
                    "team": team,
                    "kind": kind,
                    "title": title,
                    "regions": regions,
                    "start": _iso(start),
                    "end": _iso(end),
                    "owner_email": owner,
                },
            }
        )
    return out


# --- loading --------------------------------------------------------------------------------


@dataclass
class Loaded:
    accepted: int = 0
    duplicates: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # event type -> events not handled yet
    bounces: int = 0


def feed(container, raw: list[dict], result: Loaded | None = None) -> Loaded:
    """Validate and ingest CRM events like the webhook does; types no flow handles are skipped."""
    from handlers.ingest import ingest_events

    result = result or Loaded()
    handled = [e for e in raw if e["type"] in container.registry.events]
    for e in raw:
        if e["type"] not in container.registry.events:
            result.skipped[e["type"]] = result.skipped.get(e["type"], 0) + 1
    for type_, count in sorted(result.skipped.items()):
        log.info("demo data: %d %s event(s) skipped: no flow handles %s yet", count, type_, type_)
    if not handled:
        return result
    events, problems = validate_events(handled)
    if problems:  # a bug in this module, not in the person's input
        raise ValueError(f"demo events are invalid: {[p.as_dict() for p in problems[:5]]}")
    accepted, duplicates = ingest_events(container.registry, container.uow_factory, container.deps, events)
    result.accepted += accepted
    result.duplicates += duplicates
    container.wake()
    return result


def _bounce(container, company: DemoCompany, result: Loaded) -> None:
    """Bounce a few leads back to marketing as their owners would, with ``/smarketing bounce``."""
    from handlers.commands import run_command
    from handlers.ports import Actor

    if "bounce" not in container.registry.commands:
        log.info("demo data: bounce-backs skipped: no flow handles /smarketing bounce yet")
        return
    with container.uow_factory() as uow:
        owners = uow.people.ids_by_email(b[0] for b in company.bounces)
    for owner_email, lead_email, reason, note in company.bounces:
        person_id = owners.get(owner_email)
        if person_id is None:
            continue
        try:
            reply = run_command(
                container.registry,
                container.uow_factory,
                container.deps,
                Actor(person_id, "local"),
                f"bounce {lead_email} {reason} {note}",
            )
        except Exception:  # noqa: BLE001 - a flow in progress must not stop the demo
            log.exception("demo data: bounce of %s failed", lead_email)
            continue
        if reply is not None and reply.form is None and not reply.errors:
            result.bounces += 1
    container.wake()


DEMO_ACTIONS = [  # (by, owner, text, due: None = the next review) — the joint review's open items
    ("maya", "ana", "Call back this week's breached leads before Thursday", None),
    ("jonas", "kira", "Find out why webinar leads bounce as 'not ready'", None),
    ("maya", "jonas", "Agree the EMEA promotion dates with marketing", "+1"),
]


def _actions(container) -> int:
    """A few open action items for the joint review, added as people would with ``/smarketing action``."""
    from handlers.commands import run_command
    from handlers.ports import Actor

    if "action" not in container.registry.commands or container.config.review is None:
        return 0
    with container.uow_factory() as uow:
        ids = {p.key: p.id for p in uow.people.all()}
    added = 0
    for by, owner, text, due in DEMO_ACTIONS:
        if by not in ids or owner not in ids:
            continue
        when = ""
        if due:  # a day after the next review: a reminder comes due when time moves on
            today = container.deps.now().date()
            when = f" by {(today + timedelta(days=8)).isoformat()}"
        try:
            reply = run_command(
                container.registry,
                container.uow_factory,
                container.deps,
                Actor(ids[by], "local"),
                f"action {owner} {text}{when}",
            )
        except Exception:  # noqa: BLE001 - a flow in progress must not stop the demo
            log.exception("demo data: action item failed")
            continue
        added += bool(reply.text and reply.text.startswith("Added"))
    return added


def is_empty(container) -> bool:
    """True for a database the demo may fill: never loaded, and nothing posted yet."""
    with container.uow_factory() as uow:
        return uow.kv.get(KEY) is None and uow.outbox.feed_cursor() == 0


def load(container) -> Loaded:
    """Load the demo company now (anchored at the simulated "now"), run the jobs once so what
    is already due (cooling leads) shows, and remember the anchor for later catch-up."""
    from bot.local import clock

    anchor = container.deps.now().replace(microsecond=0)
    company = generate(container.config, anchor)
    result = feed(container, company.events)
    _bounce(container, company, result)
    _actions(container)
    with container.uow_factory() as uow:
        uow.kv.set(
            KEY,
            {
                "anchor": anchor.isoformat(),
                "seed": SEED,
                "skipped": sorted(result.skipped),
                "bounced": "bounce" in container.registry.commands,
            },
        )
        uow.commit()
    clock.run_jobs(container)
    log.info(
        "demo data loaded: %d events accepted, %d bounce-backs; skipped: %s",
        result.accepted,
        result.bounces,
        ", ".join(f"{t} ({n})" for t, n in sorted(result.skipped.items())) or "none",
    )
    return result


def catch_up(container) -> Loaded | None:
    """Feed the demo events of types that no flow handled when the demo was loaded but one
    does now (the same events, from the saved anchor; their ids make it safe to repeat)."""
    with container.uow_factory() as uow:
        saved = uow.kv.get(KEY)
    if not saved:
        return None
    pending = [t for t in saved.get("skipped", []) if t in container.registry.events]
    bounce_now = not saved.get("bounced") and "bounce" in container.registry.commands
    if not pending and not bounce_now:
        return None
    company = generate(container.config, datetime.fromisoformat(saved["anchor"]), seed=saved.get("seed", SEED))
    result = feed(container, company.of_type(*pending)) if pending else Loaded()
    if bounce_now:
        _bounce(container, company, result)
    with container.uow_factory() as uow:
        uow.kv.set(
            KEY,
            {
                **saved,
                "skipped": sorted(set(saved.get("skipped", [])) - set(pending)),
                "bounced": saved.get("bounced") or bounce_now,
            },
        )
        uow.commit()
    log.info("demo data: caught up %s (%d events)", ", ".join(pending) or "bounce-backs", result.accepted)
    return result


def ensure(container) -> Loaded | None:
    """On start: load the demo into an empty database (when ``DEMO_DATA`` is on), or catch up."""
    if not container.settings.demo_data:
        return None
    if is_empty(container):
        return load(container)
    return catch_up(container)


# --- live demo events (the page's "simulate" controls) ----------------------------------------


def _counter(container, name: str) -> int:
    with container.uow_factory() as uow:
        sim = uow.kv.get("local:simulate") or {}
        n = int(sim.get(name, 0)) + 1
        uow.kv.set("local:simulate", {**sim, name: n})
        uow.commit()
    return n


def _pool(container) -> list[DemoLead]:
    with container.uow_factory() as uow:
        saved = uow.kv.get(KEY)
    anchor = datetime.fromisoformat(saved["anchor"]) if saved else datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
    return generate(container.config, anchor, seed=(saved or {}).get("seed", SEED)).leads


def deal_event(container) -> dict:
    """A deal closing now, won on one of the demo leads that marketing touched."""
    n = _counter(container, "deals")
    rng = random.Random(SEED + n)
    leads = [l for l in _pool(container) if l.stage in ("opportunity", "working") and l.owner_email]
    lead = leads[(n * 11) % len(leads)]
    amount = rng.choice([8400, 15600, 22000, 39000, 52000, 75000, 120000]) + rng.choice([0, 0, 500])
    now = container.deps.now()
    return {
        "id": f"demo-live-deal-{n}",
        "type": "deal.closed_won",
        "occurred_at": _iso(now),
        "data": {
            "id": f"D-LIVE-{n}",
            "name": f"{lead.company}: {rng.choice(PRODUCTS)}",
            "amount": str(amount),
            "currency": container.config.wins.currency,
            "owner_email": lead.owner_email,
            "lead_id": lead.crm_id,
            "contact_email": lead.email,
            "closed_at": _iso(now),
        },
    }


def lead_events(container) -> list[dict]:
    """A new lead engaging with a campaign, then handed over to sales as qualified, now."""
    n = _counter(container, "leads")
    rng = random.Random(SEED * 7 + n)
    reps = [p for p in container.config.people if p.team == "sales" and p.role in ("rep", "sdr")]
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}"
    email = f"{_slug(first)}.{_slug(last)}.{n}@{_slug(company)}.example"
    campaign = rng.choice(CAMPAIGNS)
    now = container.deps.now()
    crm_id = f"L-LIVE-{n}"
    data = {
        "id": crm_id,
        "email": email,
        "name": f"{first} {last}",
        "company": company,
        "title": rng.choice(TITLES),
        "status": "SQL",
        "score": rng.choice([72, 85, 91, 95]),
        "owner_email": reps[n % len(reps)].email if reps else None,
        "source_campaign_id": campaign[0],
        "region": rng.choice(REGIONS),
    }
    return [
        {
            "id": f"demo-live-lead-{n}",
            "type": "lead.upserted",
            "occurred_at": _iso(now - timedelta(minutes=20)),
            "data": {**data, "status": "MQL", "score": 60, "owner_email": None},
        },
        {
            "id": f"demo-live-touch-{n}",
            "type": "campaign.touch",
            "occurred_at": _iso(now - timedelta(minutes=19)),
            "data": {
                "campaign_id": campaign[0],
                "lead_id": crm_id,
                "contact_email": email,
                "kind": TOUCH_KINDS.get(campaign[2], "touch"),
                "touched_at": _iso(now - timedelta(minutes=19)),
            },
        },
        {"id": f"demo-live-qualified-{n}", "type": "lead.qualified", "occurred_at": _iso(now), "data": data},
    ]
