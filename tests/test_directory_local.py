"""People from the CRM's owners in the local workspace, end to end: a company with no ``people:``
in its YAML gets its people from ``owner.upserted`` events on the signed webhook; handoffs reach
the right rep's DM and escalations the right manager's on the page; an owner the CRM deactivates
receives nothing more, their lead goes to their manager, who is told once. The ``clock`` fixture
is Monday 2026-11-23 15:00 UTC."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from bot.config import parse_config
from bot.scheduler import run_job
from bot.signing import HEADER, sign
from tests.conftest import WEBHOOK_SECRET, ladder_config
from tests.cooling_helpers import hot_lead, lead
from tests.hubspot_helpers import wait_until
from tests.directory_helpers import owner


CONFIG = """
company: Acme
channels:
  wins: {title: "#wins"}
  sales: {title: "#sales"}
  marketing: {title: "#marketing"}
teams:
  sales: {channel: sales, timezone: America/New_York}
  marketing: {channel: marketing, timezone: Europe/London}
"""


def send(http, *events: dict):
    body = json.dumps(list(events)).encode()
    resp = http.post(
        "/webhooks/crm", content=body, headers={"Content-Type": "application/json", HEADER: sign(WEBHOOK_SECRET, body)}
    )
    assert resp.status_code == 200, resp.text
    return resp


def page(http, conversation) -> list[str]:
    """What the local workspace shows in a conversation, as text."""
    resp = http.get("/local/api/messages", params={"conversation": conversation})
    assert resp.status_code == 200, resp.text
    return [re.sub(r"<[^>]+>", "", m["html"]) for m in resp.json()["messages"]]


def test_no_people_in_the_yaml_crm_owners_make_handoffs_escalations_and_leavers_right_in_the_local_workspace(
    make_container, live_server
):
    app = live_server(
        make_container(local_workspace=True, demo_data=False, config=ladder_config(parse_config(CONFIG))), local=True
    )
    c = app.container
    with app.client() as http:
        send(
            http,
            owner("boss@acme.example", "Bea Boss"),
            owner("rep@acme.example", "Rita Rep", manager="boss@acme.example"),
            owner("mk@acme.example", "Max Mark", team="marketing"),
        )
        with c.uow_factory() as uow:
            got = {p.email: p for p in uow.people.all()}
        assert {e: (p.team, p.source) for e, p in got.items()} == {
            "boss@acme.example": ("sales", "crm"),
            "rep@acme.example": ("sales", "crm"),
            "mk@acme.example": ("marketing", "crm"),
        }
        rep, boss = got["rep@acme.example"], got["boss@acme.example"]
        assert rep.manager_id == boss.id

        send(http, hot_lead("L-1", owner=None, owner_email="rep@acme.example", name="Lena Lead"))
        wait_until(lambda: any("Lena Lead" in t for t in page(http, f"dm:{rep.id}")), what="the handoff on the page")
        c.deps.clock.at += timedelta(hours=4)
        run_job(c, "cooling")
        wait_until(lambda: any("Lena Lead" in t for t in page(http, f"dm:{boss.id}")), what="the escalation")
        wait_until(lambda: any("SLA breached" in t for t in page(http, f"dm:{rep.id}")), what="Rita's breach")
        before = len(page(http, f"dm:{rep.id}"))

        # The CRM deactivates Rita: she is a leaver.
        send(http, owner("rep@acme.example", "Rita Rep", manager="boss@acme.example", active=False))
        assert lead(c, "L-1").owner_id == boss.id
        told = "Rita Rep has left (inactive in the CRM). Their 1 open lead(s) are in your queue now: Lena Lead."
        wait_until(lambda: any(told in t for t in page(http, f"dm:{boss.id}")), what="the manager told")
        send(http, hot_lead("L-2", owner=None, owner_email="rep@acme.example", name="Noel New"))
        c.deps.clock.at += timedelta(hours=4)
        run_job(c, "cooling")
        wait_until(
            lambda: any("Noel New" in t for t in page(http, f"dm:{boss.id}")), what="the new lead to the manager"
        )
        assert lead(c, "L-2").owner_id == boss.id, "a lead the CRM still gives her is her manager's"
        c.dispatcher.drain()
        assert len(page(http, f"dm:{rep.id}")) == before
        assert len([t for t in page(http, f"dm:{boss.id}") if told in t]) == 1  # told once
        # What was meant for her says why it comes to him.
        assert any(
            "Noel New" in t and "Rita Rep has left, so this comes to you" in t for t in page(http, f"dm:{boss.id}")
        )
