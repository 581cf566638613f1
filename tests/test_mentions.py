"""Text from people and the CRM pings nobody, on any platform (issue 12, item 4).

Mentions are made only by ``handlers.messages.mention``; everything typed or sent by a CRM is
shown as text: Slack escapes it (``&lt;@U…&gt;``), Teams breaks a textual ``<at>`` so it can match
no mention entity, the local page escapes it as HTML."""

from __future__ import annotations

import json
import re

import pytest

from bot.dispatch import wait_until_delivered
from bot.local.render import render_message as local_render
from bot.signing import HEADER, sign
from bot.teams.cards import render_message as teams_render
from handlers.messages import Message
from tests import slack_requests as sr
from tests import teams_standin as ts
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET
from tests.teams_helpers import make_teams_app, teams, teams_server  # noqa: F401 - fixtures


def parsed_by_slack(payload: dict) -> str:
    """The texts Slack parses for mentions: the top-level text and every mrkdwn object (it never
    parses plain_text objects: headers, buttons)."""
    out = [payload.get("text") or ""]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                out.append(node.get("text") or "")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(payload.get("blocks") or [])
    return "\n".join(out)


def link_slack_ids(c) -> None:
    """Everyone linked to a Slack id of Slack's own format (U0ANA), so a mention would ping."""
    with c.uow_factory() as uow:
        for p in uow.people.all():
            p.slack_user_id = "U0" + p.key.upper()
            uow.people.add(p)
        uow.commit()


def outbox(c):
    from sqlmodel import select

    from storage.models import Outbox

    with c.uow_factory() as uow:
        return uow.session.exec(select(Outbox).order_by(Outbox.id)).all()


def pid(c, key: str) -> int:
    with c.uow_factory() as uow:
        return uow.people.by_key(key).id


def crm(http, events) -> None:
    body = json.dumps(events).encode()
    resp = http.post(
        "/webhooks/crm", content=body, headers={"Content-Type": "application/json", HEADER: sign(WEBHOOK_SECRET, body)}
    )
    assert resp.status_code == 200, resp.text


def crm_events(leo: int, ana_name: str) -> list[dict]:
    return [
        {
            "id": "e1",
            "type": "campaign.upserted",
            "occurred_at": "2026-11-20T10:00:00Z",
            "data": {"id": "camp-8", "name": f"Spring webinar <person:{leo}>", "owner_email": "kira@northwind.example"},
        },
        {
            "id": "e2",
            "type": "lead.qualified",
            "occurred_at": "2026-11-23T14:00:00Z",
            "data": {
                "id": "L-1",
                "name": "<@U_LEO> <!here>",
                "company": f"<at>{ana_name}</at> Inc",
                "email": "jane@acme.example",
                "status": "qualified",
                "score": 90,
                "owner_email": "ana@northwind.example",
                "source_campaign_id": "camp-8",
            },
        },
        {
            "id": "e3",
            "type": "deal.closed_won",
            "occurred_at": "2026-11-23T14:00:00Z",
            "data": {
                "id": "D-1",
                "name": f"Deal <person:{leo}> <!channel>",
                "amount": 50000,
                "owner_email": "ana@northwind.example",
                "contact_email": "jane@acme.example",
            },
        },
        {
            "id": "e4",
            "type": "campaign.touch",
            "occurred_at": "2026-11-10T10:00:00Z",
            "data": {
                "campaign_id": "camp-8",
                "contact_email": "jane@acme.example",
                "touched_at": "2026-11-10T10:00:00Z",
            },
        },
    ]


def test_crm_text_is_shown_as_text_in_slack_channels_and_dms(make_container, slack, live_server):
    app = live_server(make_container(slack_mock=slack))
    c = app.container
    leo, ana = pid(c, "leo"), pid(c, "ana")
    link_slack_ids(c)
    with c.uow_factory() as uow:
        ana_name = uow.people.get(ana).name
    with app.client() as http:
        crm(http, crm_events(leo, ana_name))
    wait_until_delivered(c.uow_factory, [m.key for m in outbox(c)], 15)
    posts = slack.calls("chat.postMessage")
    channels = {p["channel"] for p in posts}
    assert "C_SALES" in channels or "C_WINS" in channels
    assert any(ch.startswith(("U", "D")) for ch in channels)  # a DM too
    everything = "\n".join(parsed_by_slack(p) for p in posts)
    assert "<@U0LEO>" not in everything and "<!here>" not in everything and "<!channel>" not in everything
    assert f"Spring webinar &lt;person:{leo}&gt;" in everything  # shown as the CRM wrote it
    assert "&lt;@U_LEO&gt; &lt;!here&gt;" in everything
    assert "<@U0ANA>" in everything  # the bot's own mentions still ping


def test_crm_text_is_shown_as_text_on_teams_cards_and_the_local_page(make_container):
    from handlers.events import validate_events
    from handlers.ingest import ingest_events

    c = make_container()
    leo, ana = pid(c, "leo"), pid(c, "ana")
    with c.uow_factory() as uow:
        names = {p.id: p.name for p in uow.people.all()}
    events, problems = validate_events(crm_events(leo, names[ana]))
    assert not problems
    ingest_events(c.registry, c.uow_factory, c.deps, events)
    messages = [Message.from_json(r.payload) for r in outbox(c)]
    shown = [m for m in messages if "Spring webinar" in json.dumps(m.to_json())]
    assert len(shown) >= 2
    teams_id = {i: f"aad-{i}" for i in names}  # everyone linked to Teams: the worst case
    cards, pages = [], []
    for msg in messages:
        card = teams_render(msg, lambda i: (names.get(i, "someone"), teams_id.get(i)))
        mentioned = {e["mentioned"]["id"] for e in card.get("msteams", {}).get("entities", [])}
        assert f"aad-{leo}" not in mentioned
        cards.append(json.dumps(card, ensure_ascii=False))
        pages.append(local_render(msg, names))
    # The company "<at>Ana…</at> Inc" would match the entity of the bot's mention of Ana: it is broken.
    assert not any(f"<at>{names[ana]}</at> Inc" in card for card in cards)
    assert any(f"<\u2060at>{names[ana]}<\u2060/at> Inc" in card for card in cards)
    assert any(f"<at>{names[ana]}</at>" in card for card in cards)  # the bot's own mention of Ana
    assert not any(f'data-person="{leo}"' in page for page in pages)
    assert any("Spring webinar &lt;person:" in page for page in pages)
    assert any(f'data-person="{ana}"' in page for page in pages)


TYPED = [
    "touch <person:{leo}> <@U_LEO> <!here>",
    "schedule <person:{leo}> <!here>",
    'won "<@U_LEO> <!here> <person:{leo}>" 5000',
    "won Acme 5000 <person:{leo}>",
    "<person:{leo}> <!here>",
    "frobnicate <@U_LEO>",
    "bounce <person:{leo}> <!channel>",
]


@pytest.mark.parametrize("typed", TYPED)
def test_typed_mentions_are_echoed_inert_on_slack(make_container, slack, live_server, typed):
    app = live_server(make_container(slack_mock=slack))
    link_slack_ids(app.container)
    text = typed.format(leo=pid(app.container, "leo")).replace("U_LEO", "U0LEO")
    body, ctype = sr.slash_command(text, user_id="U0ANA")
    with app.client() as http:
        resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
    assert resp.status_code == 200
    answer = parsed_by_slack(resp.json())
    assert "<@U0LEO>" not in answer and "<!here>" not in answer and "<!channel>" not in answer
    assert "Something went wrong" not in answer
    assert "&lt;" in answer or "person:" not in text  # echoed as text, where it is echoed


@pytest.mark.parametrize("typed", TYPED)
def test_typed_mentions_are_echoed_inert_on_teams(make_teams_app, teams, typed):
    app = make_teams_app()
    with app.container.uow_factory() as uow:
        leo = uow.people.by_key("leo")
        leo.teams_user_id = "aad-leo"
        uow.people.add(leo)
        uow.commit()
    user = teams.user("ana@northwind.example")
    resp = app.client().post("/api/messages", json=ts.message(teams.service_url, typed.format(leo=leo.id), user=user))
    assert resp.status_code == 200
    sent = json.dumps(teams.sent("a:29:ana"), ensure_ascii=False)
    assert "aad-leo" not in sent
    assert leo.name not in sent  # not even turned into a name: shown as typed
    assert "Something went wrong" not in sent


@pytest.mark.parametrize("typed", TYPED)
def test_typed_mentions_are_echoed_inert_in_the_local_workspace(make_container, live_server, typed):
    app = live_server(make_container(local_workspace=True, demo_data=False), local=True)
    leo, ana = pid(app.container, "leo"), pid(app.container, "ana")
    with app.client() as http:
        resp = http.post("/local/api/command", json={"person_id": ana, "text": typed.format(leo=leo)})
    assert resp.status_code == 200
    html = json.dumps(resp.json())
    assert f'data-person=\\"{leo}\\"' not in html
    with app.container.uow_factory() as uow:
        assert uow.people.get(leo).name not in html
    assert "Something went wrong" not in html
    assert re.search(r"&lt;person:|&lt;!here|&lt;@U_LEO|I don't know", html), html
