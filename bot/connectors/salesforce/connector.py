"""The Salesforce connector: polling in, the resumable import, the org check.

Salesforce is read, never pushed from: every ``salesforce.poll_seconds`` the connector asks, per
object, for the rows whose ``SystemModstamp`` is past its cursor (``SELECT … WHERE SystemModstamp >
cursor - 2 min ORDER BY SystemModstamp, Id``, paged with ``queryMore``), turns each page into
events (``translate``) and ingests them; the cursor moves after each page's events are stored.
The look-back re-reads a little each time (rows committed late carry an earlier stamp); their
events' ids are known, so nothing happens twice. The import reads the same objects with Bulk API
2.0 query jobs (a few requests for 100,000 rows), resumable at the page it stopped at.

``describe`` tells which of the fields the connector reads the org has (and the integration user
may see); the others are left out of the queries and named at start and by ``salesforce check``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.connectors.base import Connector, Stage, iter_chunks
from bot.connectors.salesforce import translate as tr
from bot.connectors.salesforce.api import (
    AuthError,
    Forbidden,
    InvalidField,
    LimitExceeded,
    NotFound,
    SalesforceError,
    parse_time,
    soql_quote,
    soql_time,
)
from storage.repos.connectors import Claimed

log = logging.getLogger(__name__)

OBJECTS = ("Lead", "Contact", "CampaignMember", "Opportunity", "Task", "Campaign")
# What each object is read for (``salesforce check``).
PURPOSE = {
    "Lead": "leads: the qualified handoff, their owners",
    "Contact": "contacts: converted leads' owners and emails",
    "CampaignMember": "campaign members: the campaigns credited for a win",
    "Opportunity": "opportunities: wins",
    "Task": "tasks: sales follow-ups",
    "Campaign": "campaign names",
}
# Polled in this order: a page of tasks or opportunities finds its leads already in.
POLLED = (
    ("Lead", ""),
    ("Contact", ""),
    ("CampaignMember", ""),
    ("Opportunity", "IsWon = true"),
    ("Task", "IsClosed = true"),
)
POLL_OVERLAP = timedelta(minutes=2)
IN_CHUNK = 200  # ids per "Id IN (...)" look-up
SUB_BATCH = 2000  # records ingested per transaction


@dataclass
class CheckReport:
    instance: str | None = None
    flow: str = ""
    readable: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # something configured or needed is missing
    notes: list[str] = field(default_factory=list)  # worth knowing, nothing to fix
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems

    def lines(self) -> list[str]:
        if self.error:
            return [f"Salesforce: {self.error}"]
        out = [f"Salesforce ({self.instance}, {self.flow}): can read {', '.join(self.readable) or 'nothing'}"]
        out += [f"  {p}" for p in self.problems]
        out += [f"  {n}" for n in self.notes]
        return out


class SalesforceConnector(Connector):
    source = "salesforce"
    kinds = OBJECTS

    def __init__(self, *, api, settings, **kw):
        super().__init__(**kw)
        self.api = api
        self.settings = settings
        self._described: dict[str, dict | SalesforceError] = {}
        self._polling = threading.Lock()
        self._user_ids: dict[str, str | None] = {}

    @property
    def config(self):
        return self.deps.config

    @property
    def polling(self) -> bool:
        return True  # Salesforce sends nothing by itself here: changes are read by polling

    # -- what the org has ----------------------------------------------------------------------
    def describe(self, sobject: str, *, refresh: bool = False) -> dict | SalesforceError:
        """``describe`` of an object (cached), or the error that kept us from it."""
        if refresh or sobject not in self._described:
            try:
                self._described[sobject] = self.api.describe(sobject)
            except (Forbidden, InvalidField, NotFound) as e:
                self._described[sobject] = e
        return self._described[sobject]

    def has_field(self, sobject: str, name: str) -> bool:
        d = self.describe(sobject)
        if not isinstance(d, dict):
            return False
        base, _, sub = name.partition(".")
        if sub:  # a relationship field: "Owner.Email" needs the lookup named Owner
            return any(f.get("relationshipName") == base for f in d.get("fields") or [])
        return any(f.get("name") == name for f in d.get("fields") or [])

    def field_info(self, sobject: str, name: str) -> dict | None:
        d = self.describe(sobject)
        return next((f for f in d.get("fields") or [] if f.get("name") == name), None) if isinstance(d, dict) else None

    def fields(self, sobject: str) -> list[str]:
        """The fields to query: those the connector reads that the org has."""
        return [f for f, _ in tr.wanted_fields(sobject, self.config) if self.has_field(sobject, f)]

    def missing_fields(self) -> list[tuple[str, str, str | None]]:
        """(object, field, config key that asked for it) the org lacks, leaving out optional ones."""
        out = []
        for sobject in OBJECTS:
            if not isinstance(self.describe(sobject), dict):
                continue
            for f, asked_by in tr.wanted_fields(sobject, self.config):
                if not self.has_field(sobject, f) and not tr.is_optional(sobject, f, asked_by):
                    out.append((sobject, f, asked_by))
        reason = self.config.salesforce.on_bounce.reason_field
        if reason and isinstance(self.describe("Lead"), dict) and not self.has_field("Lead", reason):
            out.append(("Lead", reason, "salesforce.on_bounce.reason_field"))
        return out

    def soql(self, sobject: str, where: str = "", order: str = "", limit: int | None = None) -> str:
        q = f"SELECT {', '.join(self.fields(sobject))} FROM {sobject}"
        if where:
            q += f" WHERE {where}"
        if order:
            q += f" ORDER BY {order}"
        if limit:
            q += f" LIMIT {limit}"
        return q

    # -- look-ups ------------------------------------------------------------------------------
    def _by_ids(self, sobject: str, select: str, field_: str, ids, extra: str = "", order: str = "") -> list[dict]:
        ids = sorted({str(i) for i in ids if i})
        out: list[dict] = []
        for chunk in iter_chunks(ids, IN_CHUNK):
            where = f"{field_} IN ({', '.join(soql_quote(i) for i in chunk)})" + (f" AND {extra}" if extra else "")
            q = f"SELECT {select} FROM {sobject} WHERE {where}" + (f" ORDER BY {order}" if order else "")
            for page in self.api.query_all(q, f"a look-up of {sobject}"):
                out.extend(page.records)
        return out

    def converted_leads(self, field_: str, ids) -> dict[str, str]:
        """Contact or opportunity id -> the id of the lead converted into it."""
        ids = [i for i in ids if i]
        if not ids:
            return {}
        return {
            str(r[field_]): str(r["Id"]) for r in self._by_ids("Lead", f"Id, {field_}", field_, ids) if r.get(field_)
        }

    def first_campaigns(self, lead_ids) -> dict[str, str]:
        """Lead id -> the first campaign it became a member of (the campaign it came from)."""
        out: dict[str, str] = {}
        for r in self._by_ids(
            "CampaignMember", "LeadId, CampaignId, CreatedDate", "LeadId", lead_ids, order="CreatedDate, Id"
        ):
            out.setdefault(str(r["LeadId"]), str(r["CampaignId"]))
        return out

    def campaign_events(self, ids) -> list[dict]:
        """``campaign.upserted`` for the campaigns named here that are not known by name yet."""
        ids = {str(i) for i in ids if i}
        if not ids:
            return []
        with self.uow_factory() as uow:
            unknown = sorted(ids - uow.campaigns.named(ids))
        if not unknown or not isinstance(self.describe("Campaign"), dict):
            return []
        return [
            tr.campaign_event(r, self.config)
            for r in self._by_ids("Campaign", ", ".join(self.fields("Campaign")), "Id", unknown)
        ]

    def owner_user_id(self, email: str | None) -> str | None:
        """The active Salesforce user with this email (a Task's owner), if any; remembered."""
        if not email:
            return None
        email = email.lower()
        if email not in self._user_ids:
            alias = next(
                (
                    uid
                    for uid, key in self.config.salesforce.owners.items()
                    if uid.startswith("005") and any(p.key == key and p.email == email for p in self.config.people)
                ),
                None,
            )
            if alias:
                self._user_ids[email] = alias
            else:
                page = self.api.query(
                    f"SELECT Id FROM User WHERE Email = {soql_quote(email)} AND IsActive = true LIMIT 1",
                    "a look-up of a user",
                )
                self._user_ids[email] = str(page.records[0]["Id"]) if page.records else None
        return self._user_ids[email]

    # -- records into events -------------------------------------------------------------------
    def events_for(self, sobject: str, records: list[dict]) -> list[dict]:
        cfg = self.config
        if sobject == "Lead":
            qualified = [r["Id"] for r in records if tr.is_qualified(r, cfg)]
            firsts = self.first_campaigns(qualified) if qualified else {}
            events = self.campaign_events(firsts.values())
            for r in records:
                events.extend(tr.lead_events(r, cfg, source_campaign=firsts.get(str(r["Id"]))))
            return events
        if sobject == "Contact":
            conv = self.converted_leads("ConvertedContactId", [r["Id"] for r in records])
            return [e for r in records for e in tr.contact_events(r, cfg, converted_lead=conv.get(str(r["Id"])))]
        if sobject == "CampaignMember":
            conv = self.converted_leads(
                "ConvertedContactId", [r.get("ContactId") for r in records if not r.get("LeadId")]
            )
            events = self.campaign_events(r.get("CampaignId") for r in records)
            for r in records:
                events.extend(tr.member_events(r, cfg, converted_lead=conv.get(str(r.get("ContactId")))))
            return events
        if sobject == "Opportunity":
            won = [r for r in records if tr.truthy(r.get("IsWon"))]
            conv = self.converted_leads("ConvertedOpportunityId", [r["Id"] for r in won])
            events = self.campaign_events(r.get("CampaignId") for r in won) if cfg.salesforce.primary_campaign else []
            for r in won:
                events.extend(tr.deal_events(r, cfg, converted_lead=conv.get(str(r["Id"]))))
            return events
        if sobject == "Task":
            tasks = [r for r in records if tr.is_follow_up(r, cfg)]
            conv = self.converted_leads(
                "ConvertedContactId", [r["WhoId"] for r in tasks if tr.who(r.get("WhoId")) == "Contact"]
            )
            events = []
            for r in tasks:
                w = str(r.get("WhoId") or "")
                lead_id = (
                    w
                    if tr.who(w) == "Lead"
                    else conv.get(w) or (w if tr.who(w) == "Contact" and cfg.salesforce.contacts_as_leads else None)
                )
                events.extend(tr.task_events(r, cfg, lead_id=lead_id))
            return events
        if sobject == "Campaign":
            return [tr.campaign_event(r, cfg) for r in records]
        raise ValueError(f"the connector does not read {sobject}")

    # -- the change queue (objects named by id) ------------------------------------------------
    def resolve(self, claimed: list[Claimed]) -> None:
        by_kind: dict[str, list[Claimed]] = {}
        for c in claimed:
            by_kind.setdefault(c.kind, []).append(c)
        for kind, items in by_kind.items():
            if kind not in OBJECTS or not isinstance(self.describe(kind), dict):
                self.unreadable(items, "unsupported", f"the connector cannot read {kind} records")
                continue
            try:
                records = self._by_ids(kind, ", ".join(self.fields(kind)), "Id", [c.object_id for c in items])
                events = self.events_for(kind, records)
            except LimitExceeded as e:
                self.later(items, e.retry_after, str(e), count_attempt=False)
                continue
            except SalesforceError as e:
                self._log_once((kind, type(e).__name__), "Salesforce: %s; retrying", e)
                self.later(items, min(30 * 2 ** max(items[0].attempts - 1, 0), 3600), str(e))
                continue
            self.ingest(events)
            found = {str(r["Id"]) for r in records}
            self.unreadable(
                [c for c in items if c.object_id not in found],
                "not_found",
                "Salesforce has no such record, or the integration user may not see it",
            )
            self.done([c for c in items if c.object_id in found])

    # -- polling ------------------------------------------------------------------------------
    # -- people ----------------------------------------------------------------------------------
    def sync_people(self) -> int:
        """Salesforce's users are people (``handlers.directory``): by email, the manager from the
        User's ``ManagerId``, the team from its ``Department`` when named like ours, an inactive
        user a leaver. Users the config maps by hand (``salesforce.owners``) are left to it.
        Returns how many people changed."""
        from handlers import directory

        aliases = self.config.salesforce.owners
        owners = []
        for page in self.api.query_all(
            "SELECT Id, Email, Name, IsActive, Department, Manager.Email FROM User ORDER BY Id", "the users"
        ):
            for r in page.records:
                email = (r.get("Email") or "").strip().lower() or None
                if r.get("Id") in aliases or (email and email in aliases):
                    continue
                dept = str(r.get("Department") or "").lower()
                owners.append(
                    directory.Owner(
                        source="salesforce",
                        email=email,
                        name=r.get("Name"),
                        owner_id=r.get("Id"),
                        team=next((t for t in directory.TEAMS if t in dept), None),
                        manager_email=(r.get("Manager.Email") or "").strip().lower() or None,
                        active=str(r.get("IsActive")).lower() == "true",
                    )
                )
        with self.uow_factory() as uow:
            outcome = directory.upsert_owners(uow, self.deps, owners)
            uow.commit()
        log.info("Salesforce users: %s", outcome)
        return outcome.writes

    def poll_if_due(self) -> int:
        state = self.cursor("poll") or {}
        last = parse_time(state.get("ran_at"))
        if last and self.deps.now() - last < timedelta(seconds=self.config.salesforce.poll_seconds):
            return 0
        return self.poll_once()

    def poll_once(self) -> int:
        """Read what changed since each object's cursor. Returns how many records were read (0
        when another poll of this process is running: the worker's and the scheduler's). Replicas
        may poll together: a cursor saved is always backed by stored events, and the events of a
        page read twice are known."""
        if not self._polling.acquire(blocking=False):
            return 0
        try:
            return self._poll()
        finally:
            self._polling.release()

    def _poll(self) -> int:
        state = self.cursor("poll") or {}
        now = self.deps.now()
        total = 0
        for sobject, extra in POLLED:
            since = parse_time(state.get(sobject))
            if since is None:  # the first poll starts now: `salesforce import` brings the history
                state[sobject] = now.isoformat()
                continue
            try:
                self.api.check_budget("polling")
                if not isinstance(self.describe(sobject), dict):
                    continue
                total += self._poll_object(sobject, extra, since, state)
            except LimitExceeded as e:
                self._log_once(("poll", "limit", now.date()), "Salesforce poll paused: %s", e)
                break
            except InvalidField as e:
                self.describe(sobject, refresh=True)  # a field went away: query without it next time
                self._log_once(("poll", sobject, "field"), "Salesforce poll of %s: %s", sobject, e)
            except SalesforceError as e:
                self._log_once(("poll", sobject, type(e).__name__), "Salesforce poll of %s failed: %s", sobject, e)
        state["ran_at"] = now.isoformat()
        self.save_cursor("poll", state)
        return total

    def _poll_object(self, sobject: str, extra: str, since: datetime, state: dict) -> int:
        where = f"SystemModstamp > {soql_time(since - POLL_OVERLAP)}" + (f" AND {extra}" if extra else "")
        read = 0
        for page in self.api.query_all(self.soql(sobject, where, "SystemModstamp, Id"), f"a poll of {sobject}"):
            self.ingest(self.events_for(sobject, page.records))
            read += len(page.records)
            stamps = [t for t in (parse_time(r.get("SystemModstamp")) for r in page.records) if t]
            if stamps and max(stamps) > since:
                since = max(stamps)
                state[sobject] = since.isoformat()
                self.save_cursor("poll", state)  # after the page's events are in
        return read

    # -- backfill ------------------------------------------------------------------------------
    def import_stages(self, since: datetime) -> list[Stage]:
        stamp, day = soql_time(since), since.date().isoformat()
        stages = [Stage("campaigns", self._keyset_pages("Campaign"), self._count("Campaign"), unit="campaigns")]
        plan = [("leads", "Lead", f"SystemModstamp >= {stamp}")]
        if self.config.salesforce.contacts_as_leads:
            plan.append(("contacts", "Contact", f"SystemModstamp >= {stamp}"))
        plan += [
            ("campaign members", "CampaignMember", f"SystemModstamp >= {stamp}"),
            ("opportunities", "Opportunity", f"IsWon = true AND CloseDate >= {day}"),
            ("tasks", "Task", f"IsClosed = true AND WhoId != null AND SystemModstamp >= {stamp}"),
        ]
        for name, sobject, where in plan:
            stages.append(Stage(name, self._bulk_pages(sobject, where), self._count(sobject, where), unit=name))
        return stages

    def _count(self, sobject: str, where: str = ""):
        def total() -> int | None:
            try:
                return self.api.query(
                    f"SELECT COUNT() FROM {sobject}" + (f" WHERE {where}" if where else ""), f"a count of {sobject}"
                ).total
            except SalesforceError:
                return None

        return total

    def _keyset_pages(self, sobject: str):
        def pages(cursor):
            last = (cursor or {}).get("last_id")
            while True:
                page = self.api.query(
                    self.soql(sobject, f"Id > {soql_quote(last)}" if last else "", "Id", 2000), f"a page of {sobject}"
                )
                if not page.records:
                    return
                last = str(page.records[-1]["Id"])
                yield self.events_for(sobject, page.records), {"last_id": last}, len(page.records)
                if len(page.records) < 2000:
                    return

        return pages

    def _bulk_pages(self, sobject: str, where: str):
        """A Bulk API 2.0 query job's results, ``SUB_BATCH`` records a page. The cursor is the
        job, the results page's locator and how many of its records are in: a stopped import
        goes on from there (a job's results are kept 7 days; past that, a new job)."""

        def pages(cursor):
            cursor = dict(cursor or {})
            if cursor.get("end"):
                return
            job, locator, skip = cursor.get("job"), cursor.get("locator"), int(cursor.get("skip") or 0)
            rows = next_locator = None
            if job:
                try:
                    rows, next_locator = self.api.bulk_page(sobject, job, locator)
                except NotFound:
                    log.info("Salesforce bulk query %s of %s is gone; starting it again", job, sobject)
                    job = None
            if not job:
                self.api.check_budget("the import")
                job = self.api.bulk_start(sobject, self.soql(sobject, where))
                self.api.bulk_wait(sobject, job)
                locator, skip = None, 0
                rows, next_locator = self.api.bulk_page(sobject, job, None)
            while True:
                for i in range(skip, len(rows), SUB_BATCH):
                    batch = rows[i : i + SUB_BATCH]
                    done = i + len(batch)
                    if done < len(rows):
                        cur = {"job": job, "locator": locator, "skip": done}
                    else:
                        cur = {"job": job, "locator": next_locator, "skip": 0, "end": next_locator is None}
                    yield self.events_for(sobject, batch), cur, len(batch)
                if not next_locator:
                    return
                self.api.check_budget("the import")
                locator, skip = next_locator, 0
                rows, next_locator = self.api.bulk_page(sobject, job, locator)

        return pages

    # -- the org -------------------------------------------------------------------------------
    def check(self) -> CheckReport:
        """Sign in; what the integration user can read and write; fields missing; API usage."""
        report = CheckReport(flow=self.api.auth.describe())
        try:
            self.api.client(refresh=True)
        except SalesforceError as e:
            report.error = str(e)
            return report
        report.instance = self.api.instance_url
        self._described.clear()
        for sobject in OBJECTS:
            try:
                d = self.describe(sobject)
            except (AuthError, LimitExceeded) as e:
                report.error = str(e)
                return report
            except SalesforceError as e:
                report.error = f"Salesforce could not be checked: {e}"
                return report
            if isinstance(d, dict) and d.get("queryable", True):
                report.readable.append(sobject)
            else:
                report.problems.append(
                    f"cannot read {sobject} ({PURPOSE[sobject]}): give the integration user "
                    f"Read on {sobject} in its permission set"
                )
        for sobject, f, asked_by in self.missing_fields():
            why = f" ({asked_by})" if asked_by else ""
            report.problems.append(
                f"missing field {sobject}.{f}{why}: not in this org, or hidden from the "
                "integration user (field-level security)"
            )
        sf = self.config.salesforce
        lead = self.describe("Lead")
        if isinstance(lead, dict):
            status = self.field_info("Lead", "Status") or {}
            values = {v.get("value") for v in status.get("picklistValues") or [] if v.get("active", True)}
            asked = [(s, "salesforce.qualified.lead_statuses") for s in sf.qualified.lead_statuses]
            for which in ("on_bounce", "on_requalify"):
                w = getattr(sf, which)
                asked += [(s, f"salesforce.{which}.lead_status") for s in [w.lead_status] if s]
                asked += [
                    (s, f"salesforce.{which}.lead_status_by_reason.{c}") for c, s in w.lead_status_by_reason.items()
                ]
            for value, key in asked:
                if values and value not in values:
                    report.problems.append(
                        f"Lead.Status has no value {value!r} ({key}); its values: {', '.join(sorted(values))}"
                    )
            if (sf.on_bounce.lead_status or sf.on_requalify.lead_status) and not (
                lead.get("updateable") and status.get("updateable")
            ):
                report.problems.append(
                    "cannot update Lead.Status: bounces cannot move the lead back to marketing "
                    "(give the integration user Edit on Lead)"
                )
            reason = sf.on_bounce.reason_field
            if (
                reason
                and self.has_field("Lead", reason)
                and not (self.field_info("Lead", reason) or {}).get("updateable")
            ):
                report.problems.append(f"cannot update Lead.{reason} (salesforce.on_bounce.reason_field)")
        task = self.describe("Task")
        if (sf.on_bounce.task or sf.follow_ups == "task") and isinstance(task, dict) and not task.get("createable"):
            report.problems.append(
                "cannot create Tasks: bounce reasons and chat follow-ups cannot be written "
                "(give the integration user Create on Task)"
            )
        try:
            limits = self.api.limits()
            daily = limits.get("DailyApiRequests") or {}
            if daily.get("Max"):
                used = daily["Max"] - daily.get("Remaining", 0)
                report.notes.append(
                    f"API requests: {used:,} of {daily['Max']:,} used in the last 24 hours "
                    f"({100 * used / daily['Max']:.0f}%; the bot stops reading at "
                    f"{100 * sf.api_share:.0f}%)"
                )
            jobs = limits.get("DailyBulkV2QueryJobs") or {}
            if jobs.get("Max"):
                report.notes.append(
                    f"Bulk API 2.0 query jobs: {jobs.get('Remaining', 0):,} of {jobs['Max']:,} left today"
                )
        except SalesforceError as e:
            report.notes.append(f"the org's limits could not be read: {e}")
        return report

    def startup_lines(self, base_url: str) -> list[str]:
        report = self.check()
        lines = report.lines()
        if report.error or report.problems:
            log.warning("Salesforce: %s", "; ".join(x.strip() for x in lines))
        lines.append(f"Salesforce polling every {self.config.salesforce.poll_seconds} s")
        return lines
