from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

import sqlalchemy as sa
from sqlmodel import col, func, or_, select

from storage.models import Campaign, CampaignTouch
from storage.repos.base import Repo, by_id, table_of


class CampaignsRepo(Repo):
    def get(self, campaign_id: int) -> Campaign | None:
        return self.session.get(Campaign, campaign_id)

    def by_crm_id(self, crm_id: str) -> Campaign | None:
        return self.session.exec(select(Campaign).where(Campaign.crm_id == crm_id)).first()

    def ids_by_crm_id(self, crm_ids: Iterable[str]) -> dict[str, int]:
        return self.ids_by(Campaign.crm_id, crm_ids)

    def crm_ids_for_refs(self, refs: Iterable[str]) -> dict[str, str]:
        """The CRM id each reference names: a campaign's CRM id, else its name (case-insensitive;
        the oldest campaign of that name). References that name no campaign are left out. Two
        queries (the second scans the names: campaigns are few)."""
        refs = {r for r in refs if r}
        if not refs:
            return {}
        found = {c: c for c in self.ids_by_crm_id(refs)}
        rest = {r.lower(): r for r in refs - found.keys()}
        if rest:
            t = table_of(Campaign)
            lowered = sa.func.lower(t.c.name, type_=sa.String)
            q = sa.select(lowered, t.c.crm_id).where(self.one_of(lowered, rest)).order_by(t.c.id.desc())
            for name, crm_id in self.session.execute(q):
                found[rest[name]] = crm_id  # the oldest is read last and wins
        return found

    def ensure(self, crm_ids: Iterable[str]) -> dict[str, int]:
        """The ids of these campaigns by CRM id, creating a placeholder (named by its CRM id,
        kind ``other``) for any not seen yet, so a touch or a lead naming a campaign before the
        campaign itself arrives keeps its link; ``campaign.upserted`` fills it in."""
        crm_ids = set(crm_ids)
        found = self.ids_by_crm_id(crm_ids)
        missing = [{"crm_id": c, "name": c, "kind": "other"} for c in sorted(crm_ids - found.keys())]
        if missing:
            self.upsert_many(missing)
            found.update(self.ids_by_crm_id(m["crm_id"] for m in missing))
        return found

    def many(self, ids: Iterable[int]) -> dict[int, Campaign]:
        ids = list(set(ids))
        if not ids:
            return {}
        return by_id(self.session.exec(select(Campaign).where(self.one_of(Campaign.id, ids))))

    def briefs(self, ids: Iterable[int]) -> dict[int, Any]:
        """What messages show of these campaigns (rows with ``id``, ``name``, ``kind``,
        ``owner_id``, ``owner_email``), by id, in one query."""
        ids = set(ids)
        if not ids:
            return {}
        t = table_of(Campaign)
        q = sa.select(t.c.id, t.c.name, t.c.kind, t.c.owner_id, t.c.owner_email).where(self.one_of(t.c.id, ids))
        return {r.id: r for r in self.session.execute(q)}

    def upsert_many(self, rows: list[dict]) -> None:
        self.upsert(table_of(Campaign), rows, ["crm_id"], [k for k in rows[0] if k != "crm_id"] if rows else [])

    def add(self, campaign: Campaign) -> Campaign:
        self.session.add(campaign)
        self.session.flush()
        return campaign

    def add_touches(self, rows: list[dict]) -> None:
        """Insert touches in one statement; a touch id seen before is ignored."""
        # One JSON parameter on PostgreSQL, a plain executemany on SQLite: the fastest on each.
        self.insert_ignore_bulk(table_of(CampaignTouch), rows)

    def touches_for(self, *, lead_ids: Iterable[int], emails: Iterable[str], until: datetime) -> list:
        """Touches (rows with ``id``, ``campaign_id``, ``lead_id``, ``contact_email``,
        ``occurred_at``) of any of these leads or contact emails at or before ``until``, oldest
        first, in one query (attribution of a batch of deals)."""
        lead_ids, emails = set(lead_ids), {e.lower() for e in emails if e}
        t = table_of(CampaignTouch)
        conds = []
        if lead_ids:
            conds.append(self.one_of(t.c.lead_id, lead_ids))
        if emails:
            conds.append(self.one_of(t.c.contact_email, emails))
        if not conds:
            return []
        q = (
            sa.select(t.c.id, t.c.campaign_id, t.c.lead_id, t.c.contact_email, t.c.occurred_at)
            .where(or_(*conds), t.c.occurred_at <= until)
            .order_by(t.c.occurred_at, t.c.id)
        )
        return list(self.session.execute(q))

    def find_many(self, refs: Iterable[str]) -> dict[str, Campaign]:
        """``find`` for many phrases in one query: phrase -> the campaign it names (its CRM id,
        else its name, case-insensitive, the oldest of a repeated name); unknown ones left out."""
        wanted = {r: r.strip() for r in refs if r and r.strip()}
        if not wanted:
            return {}
        ids, names = set(wanted.values()), {v.lower() for v in wanted.values()}
        rows = self.session.exec(
            select(Campaign)
            .where(
                sa.or_(
                    self.one_of(Campaign.crm_id, ids), self.one_of(func.lower(Campaign.name, type_=sa.String()), names)
                )
            )
            .order_by(col(Campaign.id))
        ).all()
        by_crm_id = {c.crm_id: c for c in rows}
        by_name: dict[str, Campaign] = {}
        for c in rows:
            by_name.setdefault(c.name.lower(), c)
        found = {}
        for ref, clean in wanted.items():
            hit = by_crm_id.get(clean) or by_name.get(clean.lower())
            if hit is not None:
                found[ref] = hit
        return found

    def find(self, ref: str) -> Campaign | None:
        """The campaign a person named: its CRM id, else its name (case-insensitive)."""
        ref = ref.strip()
        if not ref:
            return None
        found = self.by_crm_id(ref)
        if found is None:
            found = self.session.exec(
                select(Campaign).where(func.lower(Campaign.name) == ref.lower()).order_by(col(Campaign.id))
            ).first()
        return found

    def named(self, crm_ids: Iterable[str]) -> set[str]:
        """Which of these campaigns are known by a real name (not a placeholder named by its id)."""
        crm_ids = set(crm_ids)
        if not crm_ids:
            return set()
        t = table_of(Campaign)
        q = sa.select(t.c.crm_id).where(self.one_of(t.c.crm_id, crm_ids), t.c.name != t.c.crm_id)
        return set(self.session.execute(q).scalars())
