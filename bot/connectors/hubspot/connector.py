"""The HubSpot connector: webhooks and polls in, backfill, the token check.

Webhook notifications only name objects (``objectId``, ``subscriptionType``); they are stored in
the change queue and acknowledged at once, and the connector's worker reads the objects with batch
reads (contacts; deals with their contact associations; owners; unknown campaigns) and ingests the
events ``translate`` makes of them. Reading happens outside any open transaction, at HubSpot's
pace (``api.RateLimiter``), and a rate limit puts the batch back in the queue: nothing is lost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable

from bot.connectors.base import Connector, Stage
from bot.connectors.hubspot import translate as tr
from bot.connectors.hubspot.api import (
    SEARCH_PAGE,
    AuthError,
    HubSpotError,
    MissingScopes,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
)
from storage.repos.connectors import Claimed

log = logging.getLogger(__name__)

# What each scope is for (``python -m bot hubspot check``). Read scopes are probed with a real call.
SCOPES = {
    "crm.objects.contacts.read": "contacts: leads, the qualified handoff, sales follow-ups, campaign touches",
    "crm.objects.deals.read": "deals: wins",
    "crm.objects.owners.read": "owners: who owns each lead and deal",
    "crm.objects.contacts.write": "writing bounces and chat follow-ups back to the contact",
    "marketing.campaigns.read": "campaign names (Marketing Hub Professional or above; without it campaigns show by id)",
}
OPTIONAL = {"marketing.campaigns.read"}
MODIFIED = {"contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate"}
POLL_OVERLAP = timedelta(seconds=60)  # the search index lags writes: look back a little each poll
OWNERS_TTL = 300.0


@dataclass
class CheckReport:
    hub_id: int | None = None
    granted: list[str] | None = None  # None: the token's scopes could not be listed
    readable: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # scope -> what it is for
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not (set(self.missing) - OPTIONAL)

    def lines(self) -> list[str]:
        if self.error:
            return [f"HubSpot: {self.error}"]
        hub = f" (hub {self.hub_id})" if self.hub_id else ""
        out = [f"HubSpot{hub}: the token can read {', '.join(self.readable) or 'nothing'}"]
        for scope, what in self.missing.items():
            out.append(f"  missing scope {scope}: {what}")
        if self.granted is None:
            out.append("  (the token's scopes could not be listed: write access is checked when used)")
        return out


class HubSpotConnector(Connector):
    source = "hubspot"
    kinds = ("contact", "deal")

    def __init__(self, *, api, settings, **kw):
        super().__init__(**kw)
        self.api = api
        self.settings = settings
        self._owner_records: dict[str, dict] = {}
        self._owners_read_at = 0.0

    @property
    def config(self):
        return self.deps.config

    @property
    def polling(self) -> bool:
        mode = self.config.hubspot.poll
        return mode == "on" or (mode == "auto" and not self.settings.hubspot_client_secret)

    # -- owners -------------------------------------------------------------------------------
    def owners(self, needed: Iterable[str] = (), *, refresh: bool = False) -> dict[str, dict]:
        """HubSpot owners by id (``translate.owner_record``), read again when one is unknown (at
        most every few minutes) or stale."""
        needed = {str(n) for n in needed if n}
        stale = time.monotonic() - self._owners_read_at > OWNERS_TTL
        if (
            refresh
            or not self._owners_read_at
            or stale
            or (needed - self._owner_records.keys() and time.monotonic() - self._owners_read_at > 60)
        ):
            try:
                records = {r["id"]: r for r in map(tr.owner_record, self.api.owners())}
                if records != self._owner_records:
                    self._sync_people(records)
                self._owner_records = records
            except MissingScopes as e:
                self._log_once(
                    ("owners", "scopes"), "HubSpot owners cannot be read (%s): leads and deals arrive without owners", e
                )
            self._owners_read_at = time.monotonic()
        return self._owner_records

    def _sync_people(self, records: dict[str, dict]) -> None:
        """HubSpot's owners are people (``handlers.directory``): created and updated by email, an
        archived owner is a leaver; the team from the owner's HubSpot team named like ours."""
        from handlers import directory

        def team_of(r: dict) -> str | None:
            names = " ".join(r.get("teams") or []).lower()
            return next((t for t in directory.TEAMS if t in names), None)

        # An archived owner whose email an active one has is an old record of the same person.
        aliases = self.config.hubspot.owners  # owners the config maps to a person by hand: the config's
        records = {i: r for i, r in records.items() if i not in aliases and (r["email"] or "") not in aliases}
        active_emails = {r["email"] for r in records.values() if r["active"] and r["email"]}
        owners = [
            directory.Owner(
                source="hubspot",
                email=r["email"],
                name=r["name"],
                team=team_of(r),
                active=r["active"],
                owner_id=r["id"],
                has_manager=False,
            )
            for r in records.values()
            if r["active"] or r["email"] not in active_emails
        ]
        try:
            with self.uow_factory() as uow:
                outcome = directory.upsert_owners(uow, self.deps, owners)
                uow.commit()
            log.info("HubSpot owners: %s", outcome)
        except Exception:  # noqa: BLE001 - leads and deals still arrive with their owners' emails
            log.exception("HubSpot owners could not be applied to people")

    def owner_emails(self, needed: Iterable[str] = ()) -> dict[str, str]:
        """Owner id -> the email of the person they are: ``hubspot.owners`` (by owner id or email,
        to a person key) first, else the owner's own email."""
        records = self.owners(needed)
        aliases = self.config.hubspot.owners
        people = {p.key: p.email for p in self.config.people}
        out = {}
        for oid, r in records.items():
            key = aliases.get(oid) or (aliases.get(r["email"]) if r["email"] else None)
            email = people.get(key) if key else r["email"]
            if email:
                out[oid] = email
        return out

    def owner_id_for(self, email: str | None) -> str | None:
        """The HubSpot owner id of the person with this email (a note's author), if any."""
        if not email:
            return None
        return next((oid for oid, e in self.owner_emails().items() if e == email.lower()), None)

    # -- reading objects into events ----------------------------------------------------------
    def contact_batch(self, ids: list[str]) -> tuple[list[dict], list[str]]:
        objs, missing = self.api.batch_read("contacts", ids, tr.contact_properties(self.config))
        return self.contact_events(objs), missing

    def contact_events(self, objs: list[dict]) -> list[dict]:
        owners = self.owner_emails(o["properties"].get("hubspot_owner_id") for o in objs)
        events = self.campaign_events(objs, owners)
        for o in objs:
            events.extend(tr.contact_events(o, self.config, owners))
        return events

    def campaign_events(self, contacts: list[dict], owners: dict[str, str]) -> list[dict]:
        """``campaign.upserted`` for the converting campaigns of these contacts not known by name yet."""
        ids = {
            c["properties"].get(p)
            for c in contacts
            for p in ("hs_analytics_first_touch_converting_campaign", "hs_analytics_last_touch_converting_campaign")
        }
        ids.discard(None)
        ids.discard("")
        if not ids:
            return []
        with self.uow_factory() as uow:
            unknown = sorted(ids - uow.campaigns.named(ids))
        if not unknown:
            return []
        try:
            found = self.api.campaigns_by_id(unknown)
        except (MissingScopes, NotFound) as e:
            self._log_once(
                ("campaigns", "scopes"), "HubSpot campaigns cannot be read (%s): campaigns are shown by their id", e
            )
            return []
        return [tr.campaign_event(c, owners) for c in found]

    def deal_batch(self, ids: list[str]) -> tuple[list[dict], list[str]]:
        objs, missing = self.api.batch_read("deals", ids, tr.deal_properties(self.config))
        return self.deal_events(objs), missing

    def deal_events(self, objs: list[dict]) -> list[dict]:
        """Events of won deals: each deal's contact (read, so its campaign touches are in before the
        deal's attribution reads them) and the ``deal.closed_won``."""
        won = [o for o in objs if tr.is_won(o.get("properties") or {}, self.config)]
        if not won:
            return []
        links = self.api.associations("deals", "contacts", [o["id"] for o in won])
        first = {d: min(c, key=int) for d, c in links.items() if c}
        contacts: dict[str, dict] = {}
        wanted = sorted(set(first.values()), key=int)
        events: list[dict] = []
        for i in range(0, len(wanted), 100):
            objs_c, _ = self.api.batch_read("contacts", wanted[i : i + 100], tr.contact_properties(self.config))
            contacts.update({str(c["id"]): c for c in objs_c})
            events.extend(self.contact_events(objs_c))
        owners = self.owner_emails(o["properties"].get("hubspot_owner_id") for o in won)
        for o in won:
            events.extend(tr.deal_events(o, self.config, owners, contacts.get(first.get(str(o["id"]), ""))))
        return events

    def resolve(self, claimed: list[Claimed]) -> None:
        by_kind: dict[str, list[Claimed]] = {}
        for c in claimed:
            by_kind.setdefault(c.kind, []).append(c)
        for kind, items in by_kind.items():
            read = {"contact": self.contact_batch, "deal": self.deal_batch}.get(kind)
            if read is None:
                self.unreadable(items, "unsupported", f"the connector does not read {kind} objects")
                continue
            try:
                events, missing = read([c.object_id for c in items])
            except RateLimited as e:
                self.later(items, e.retry_after, str(e), count_attempt=False)
                continue
            except MissingScopes as e:
                self.unreadable(items, "missing_scopes", str(e))
                continue
            except (AuthError, Unavailable, Rejected) as e:
                delay = min(30 * 2 ** max(items[0].attempts - 1, 0), 3600)
                self._log_once((kind, type(e).__name__), "HubSpot: %s; retrying", e)
                self.later(items, delay, str(e))
                continue
            self.ingest(events)
            gone = {str(m) for m in missing}
            self.unreadable(
                [c for c in items if c.object_id in gone],
                "not_found",
                "HubSpot answers that it does not exist or this token may not see it",
            )
            self.done([c for c in items if c.object_id not in gone])

    # -- webhooks ------------------------------------------------------------------------------
    def accept_notifications(self, notifications: list[dict]) -> tuple[int, int]:
        """Queue the objects the notifications name; returns (queued, ignored)."""
        from bot.connectors.hubspot.webhook import changes_from

        changes, ignored = changes_from(notifications)
        queued = self.enqueue(changes) if changes else 0
        if self.metrics is not None:
            self.metrics.connector_notifications.labels(self.source, "queued").inc(len(notifications) - ignored)
            self.metrics.connector_notifications.labels(self.source, "ignored").inc(ignored)
        return queued, ignored

    # -- polling ------------------------------------------------------------------------------
    def poll_if_due(self) -> int:
        if not self.polling:
            return 0
        state = self.cursor("poll") or {}
        now = self.deps.now()
        last = tr.parse_time(state.get("ran_at"))
        if last and now - last < timedelta(seconds=self.config.hubspot.poll_seconds):
            return 0
        return self.poll_once()

    def poll_once(self) -> int:
        """Read what changed since the last poll (search by last modification), per kind."""
        state = self.cursor("poll") or {}
        now = self.deps.now()
        total = 0
        for kind in ("contacts", "deals"):
            since = tr.parse_time(state.get(kind))
            if since is None:  # the first poll starts now: `hubspot import` brings the history
                state[kind] = now.isoformat()
                continue
            try:
                n, newest = self._poll_kind(kind, since - POLL_OVERLAP)
            except RateLimited as e:
                log.info("HubSpot poll of %s rate limited; next time: %s", kind, e)
                continue
            except HubSpotError as e:
                self._log_once(("poll", kind, type(e).__name__), "HubSpot poll of %s failed: %s", kind, e)
                continue
            total += n
            if newest and newest > since:
                state[kind] = newest.isoformat()
        state["ran_at"] = now.isoformat()
        self.save_cursor("poll", state)
        return total

    def _poll_kind(self, kind: str, since: datetime) -> tuple[int, datetime | None]:
        prop = MODIFIED[kind]
        props = tr.contact_properties(self.config) if kind == "contacts" else tr.deal_properties(self.config)
        newest: datetime | None = None
        read = 0
        start, after = since, None
        while True:
            page = self.api.search(
                kind,
                filters=[{"propertyName": prop, "operator": "GTE", "value": str(int(start.timestamp() * 1000))}],
                properties=props,
                sort=prop,
                after=after,
            )
            objs = page.results
            read += len(objs)
            for o in objs:
                t = tr.parse_time((o.get("properties") or {}).get(prop)) or tr.parse_time(o.get("updatedAt"))
                if t and (newest is None or t > newest):
                    newest = t
            self.ingest(self.contact_events(objs) if kind == "contacts" else self.deal_events(objs))
            if not page.after:
                return read, newest
            if int(page.after) + SEARCH_PAGE > 10_000:  # HubSpot's cap per query: start a new one
                nxt = newest or start
                start, after = (nxt if nxt > start else start + timedelta(milliseconds=1)), None
            else:
                after = page.after

    # -- backfill ------------------------------------------------------------------------------
    def import_stages(self, since: datetime) -> list[Stage]:
        since_ms = str(int(since.timestamp() * 1000))

        def owners(cursor):
            yield [], {"done": True}, len(self.owners(refresh=True))

        def campaigns(cursor):
            after = (cursor or {}).get("after")
            while True:
                try:
                    page = self.api.campaigns(after=after)
                except (MissingScopes, NotFound) as e:
                    self._log_once(("campaigns", "scopes"), "HubSpot campaigns cannot be read (%s): skipped", e)
                    return
                owners_ = self.owner_emails()
                yield [tr.campaign_event(c, owners_) for c in page.results], {"after": page.after}, len(page.results)
                if not page.after:
                    return
                after = page.after

        def keyset(kind: str, filters: list[dict], to_events):
            props = tr.contact_properties(self.config) if kind == "contacts" else tr.deal_properties(self.config)

            def pages(cursor):
                last = (cursor or {}).get("last_id", "0")
                while True:
                    page = self.api.search(
                        kind,
                        filters=[*filters, {"propertyName": "hs_object_id", "operator": "GT", "value": last}],
                        properties=props,
                        sort="hs_object_id",
                    )
                    if not page.results:
                        return
                    last = str(page.results[-1]["id"])
                    yield to_events(page.results), {"last_id": last}, len(page.results)
                    if len(page.results) < SEARCH_PAGE:
                        return

            def total():
                try:
                    return self.api.search(
                        kind, filters=filters, properties=["hs_object_id"], sort="hs_object_id", limit=1
                    ).total
                except HubSpotError:
                    return None

            return pages, total

        contacts, contacts_total = keyset(
            "contacts",
            [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": since_ms}],
            self.contact_events,
        )
        stages = self.config.hubspot.closed_won_stages
        won = (
            {"propertyName": "dealstage", "operator": "IN", "values": stages}
            if stages
            else {"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"}
        )
        deals, deals_total = keyset(
            "deals", [{"propertyName": "closedate", "operator": "GTE", "value": since_ms}, won], self.deal_events
        )
        return [
            Stage("owners", owners, unit="owners"),
            Stage("campaigns", campaigns, unit="campaigns"),
            Stage("contacts", contacts, contacts_total, unit="contacts"),
            Stage("deals", deals, deals_total, unit="deals"),
        ]

    # -- the token -----------------------------------------------------------------------------
    def check(self) -> CheckReport:
        """What the token can read (a real call per kind) and which scopes are missing."""
        report = CheckReport()
        try:
            info = self.api.token_info()
            report.hub_id, report.granted = info.get("hubId"), sorted(info.get("scopes") or [])
        except AuthError as e:
            report.error = f"the access token was refused ({e}); copy it again from the app's Auth tab"
            return report
        except HubSpotError:
            pass  # a service key or an app on the new platform: fall back on the probes
        probes = {
            "contacts": (
                "crm.objects.contacts.read",
                lambda: self.api.list_page("contacts", properties=["email"], limit=1),
            ),
            "deals": ("crm.objects.deals.read", lambda: self.api.list_page("deals", properties=["dealname"], limit=1)),
            "owners": ("crm.objects.owners.read", lambda: next(self.api.owners(), None)),
            "campaigns": ("marketing.campaigns.read", lambda: self.api.campaigns(limit=1)),
        }
        for name, (scope, probe) in probes.items():
            try:
                probe()
                report.readable.append(name)
            except MissingScopes:
                report.missing[scope] = SCOPES[scope]
            except AuthError as e:
                report.error = f"the access token was refused ({e})"
                return report
            except NotFound:
                report.missing[scope] = SCOPES[scope]
            except HubSpotError as e:
                report.error = f"HubSpot could not be checked: {e}"
                return report
        if report.granted is not None and "crm.objects.contacts.write" not in report.granted:
            report.missing["crm.objects.contacts.write"] = SCOPES["crm.objects.contacts.write"]
        return report

    def startup_lines(self, base_url: str) -> list[str]:
        return startup_lines(self, base_url)


def startup_lines(connector: HubSpotConnector, base_url: str) -> list[str]:
    """What ``python -m bot`` says about HubSpot at start: the token check (missing scopes by name)
    and how changes arrive (webhooks, polling)."""
    report = connector.check()
    lines = report.lines()
    if report.error or report.missing:
        log.warning("HubSpot: %s", "; ".join(x.strip() for x in lines))
    if connector.settings.hubspot_client_secret:
        lines.append(f"HubSpot webhooks: {connector.settings.hubspot_webhook_url or base_url + '/webhooks/hubspot'}")
    else:
        lines.append("HubSpot webhooks: off until HUBSPOT_CLIENT_SECRET is set")
    if connector.polling:
        lines.append(f"HubSpot polling every {connector.config.hubspot.poll_seconds} s")
    return lines
