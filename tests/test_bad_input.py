"""Bad input that once lost data (issue 12, items 6-8): out-of-range dates, NUL and lone surrogates,
huge page numbers and ``won`` with thousands of number-like words. Each gets a 4xx or a short
specific answer, the same on SQLite and PostgreSQL, and the valid rest of a batch is not lost."""

from __future__ import annotations

import json
import time

import pytest

from bot.signing import HEADER, sign
from tests import slack_requests as sr
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET

GOOD = {
    "id": "ev-good",
    "type": "campaign.upserted",
    "occurred_at": "2026-11-20T10:00:00Z",
    "data": {"id": "camp-1", "name": "Spring webinar", "owner_email": "kira@northwind.example"},
}


def send(http, events) -> tuple[int, dict]:
    body = json.dumps(events).encode()  # ensure_ascii: NUL and surrogates travel as \u escapes
    resp = http.post(
        "/webhooks/crm", content=body, headers={"Content-Type": "application/json", HEADER: sign(WEBHOOK_SECRET, body)}
    )
    return resp.status_code, resp.json()


@pytest.fixture
def app(make_container, live_server):
    return live_server(make_container())


def count(c, model) -> int:
    from sqlmodel import func, select

    with c.uow_factory() as uow:
        return uow.session.exec(select(func.count()).select_from(model)).one()


# --- item 6: dates out of range ------------------------------------------------------------------

EXTREMES = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "1899-12-31T23:59:59Z",
    "2200-01-01T00:00:00Z",
]


def dated_events(when: str) -> list[tuple[dict, str]]:
    """One event per date field of the contract, with ``when`` in that field: (event, field)."""
    lead = {
        "id": "L-9",
        "email": "x@acme.example",
        "status": "qualified",
        "score": 90,
        "owner_email": "ana@northwind.example",
    }
    return [
        ({"id": "ev-a", "type": "lead.qualified", "occurred_at": when, "data": lead}, "occurred_at"),
        (
            {
                "id": "ev-b",
                "type": "deal.closed_won",
                "occurred_at": "2026-11-20T10:00:00Z",
                "data": {"id": "D-9", "name": "Acme", "amount": 100, "closed_at": when},
            },
            "data.closed_at",
        ),
        (
            {
                "id": "ev-c",
                "type": "schedule.upserted",
                "occurred_at": "2026-11-20T10:00:00Z",
                "data": {
                    "id": "S-9",
                    "team": "sales",
                    "kind": "promotion",
                    "title": "Sale",
                    "start": when,
                    "end": "9999-12-31T23:59:59Z",
                },
            },
            "data.start",
        ),
        (
            {
                "id": "ev-d",
                "type": "campaign.touch",
                "occurred_at": "2026-11-20T10:00:00Z",
                "data": {"campaign_id": "camp-1", "lead_id": "L-9", "touched_at": when},
            },
            "data.touched_at",
        ),
    ]


@pytest.mark.parametrize("when", EXTREMES)
def test_an_out_of_range_date_is_a_400_naming_the_event_and_field_and_nothing_is_stored(app, when):
    from storage.models import Campaign, Deal, Lead, ProcessedInbound

    with app.client() as http:
        for ev, field in dated_events(when):
            status, body = send(http, [GOOD, ev])
            assert status == 400, body
            problems = [(p["index"], p["id"], p["field"]) for p in body["problems"]]
            assert (1, ev["id"], field) in problems, body
            assert any("between" in p["problem"] for p in body["problems"])
    c = app.container
    assert [count(c, m) for m in (Campaign, Deal, Lead, ProcessedInbound)] == [0, 0, 0, 0]


def test_the_valid_events_are_stored_once_the_bad_date_is_fixed(app):
    from storage.models import Campaign, Deal

    fixed = [GOOD] + [ev for ev, _ in dated_events("2026-11-19T10:00:00Z")]
    fixed[3]["data"]["end"] = "2026-11-21T10:00:00Z"
    with app.client() as http:
        status, body = send(http, fixed)
    assert status == 200 and body == {"accepted": 5, "duplicates": 0}
    assert count(app.container, Campaign) == 1 and count(app.container, Deal) == 1


# --- item 7: NUL and lone surrogates, the same answer on SQLite and PostgreSQL -------------------


@pytest.mark.parametrize(
    "bad, what",
    [("a\u0000b", "NUL"), ("a\ud800b", "surrogate"), ("\udfff", "surrogate")],
    ids=["nul", "high-surrogate", "low-surrogate"],
)
@pytest.mark.parametrize("where", ["data.name", "data.kind", "data.extra_field", "id", "data.nested.deep"])
def test_nul_or_a_lone_surrogate_anywhere_in_an_event_is_a_400_naming_the_field(app, bad, what, where):
    from storage.models import Campaign, ProcessedInbound

    ev = json.loads(json.dumps(GOOD))
    ev["id"] = "ev-2"
    if where == "id":
        ev["id"] = bad
    elif where == "data.nested.deep":
        ev["data"]["nested"] = {"deep": [bad]}
    else:
        ev["data"][where.split(".")[1]] = bad
    with app.client() as http:
        status, body = send(http, [GOOD, ev])
    assert status == 400, body
    [problem] = body["problems"]
    assert problem["index"] == 1
    assert problem["field"] == (where if where != "data.nested.deep" else "data.nested.deep.0")
    assert what in problem["problem"]
    assert count(app.container, Campaign) == 0 and count(app.container, ProcessedInbound) == 0


def test_nul_and_surrogates_typed_in_chat_are_taken_out_and_the_rest_is_stored_alike_on_both_databases(
    make_container, slack, live_server
):
    from sqlmodel import select

    from storage.models import Bounce
    from tests.cooling_helpers import hot_lead, ingest

    app = live_server(make_container(slack_mock=slack))
    ingest(app.container, hot_lead("L-1", owner="ana"))
    with app.container.uow_factory() as uow:
        lead_id = uow.leads.by_crm_id("L-1").id
    command, ctype = sr.slash_command("touch L-1 called\u0000 her back", user_id="U_ANA")
    # A form's fields are JSON inside the form post: a lone surrogate travels as a \ud800 escape.
    form, _ = sr.view_submission(
        "bounce.submit",
        {
            "reason": {"reason": {"type": "static_select", "selected_option": {"value": "no_budget"}}},
            "note": {"note": "next \ud800year\u0000"},
        },
        user_id="U_ANA",
        private_metadata=str(lead_id),
    )
    with app.client() as http:
        for body in (command, form):
            resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
            assert resp.status_code == 200, resp.text
            assert "Something went wrong" not in resp.text
    with app.container.uow_factory() as uow:
        [touch] = uow.leads.touches(lead_id)
        [bounce] = uow.session.exec(select(Bounce)).all()
    assert touch.note == "called her back"
    assert bounce.note == "next \ufffdyear"


# --- item 8: bounded work ------------------------------------------------------------------------


def slash(app, text: str, user: str = "U_ANA") -> tuple[int, str, float]:
    body, ctype = sr.slash_command(text, user_id=user)
    with app.client() as http:
        started = time.perf_counter()
        resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
        return resp.status_code, resp.text, time.perf_counter() - started


@pytest.fixture
def slack_app(make_container, slack, live_server):
    return live_server(make_container(slack_mock=slack))


@pytest.mark.parametrize("page", ["999999999999999999999", "9223372036854775808", "2147483648", "²", "0", "-3"])
def test_a_huge_or_odd_leads_page_is_answered_not_an_error(slack_app, page):
    status, text, _ = slash(slack_app, f"leads {page}")
    assert status == 200 and "Something went wrong" not in text
    assert "leads" in json.loads(text)["text"].lower()


@pytest.mark.parametrize("value", ["99999999999999999999", "2147483648", "²", "-1"])
def test_a_button_with_a_huge_or_odd_id_is_answered_not_an_error(slack_app, slack, value):
    for action in (
        "cooling.follow_up",
        "cooling.snooze",
        "cooling.claim",
        "bounce.open",
        "bounce.ack",
        "bounce.send_back",
    ):
        body, ctype = sr.block_actions(f"{action}#0", value, user_id="U_ANA", response_url=slack.response_url(action))
        with slack_app.client() as http:
            resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
        assert resp.status_code == 200
    answers = json.dumps(slack.calls())
    assert "Something went wrong" not in answers


def test_won_with_thousands_of_number_like_words_answers_quickly(slack_app):
    words = " ".join(str(1000 + i) for i in range(3000))
    for text in (f"won Acme {words}", f"won {words}", f"won Acme $5k {words}", 'won "Acme" 5000 ' + "x " * 3000):
        status, answer, elapsed = slash(slack_app, text)
        assert status == 200 and "Something went wrong" not in answer
        assert elapsed < 1.0, (text[:40], elapsed)


def test_won_looks_up_campaigns_in_one_query_however_many_words(make_container):
    from sqlalchemy import event

    from handlers.commands import run_command
    from handlers.ports import Actor

    c = make_container()
    with c.uow_factory() as uow:
        ana = uow.people.by_key("ana").id
    statements = []
    listener = lambda *a, **k: statements.append(a[2])  # noqa: E731
    event.listen(c.engine, "before_cursor_execute", listener)
    try:
        # 38 words, each a possible amount followed by a possible campaign name: one look-up.
        reply = run_command(
            c.registry, c.uow_factory, c.deps, Actor(ana), "won Acme " + " ".join(str(1000 + i) for i in range(37))
        )
    finally:
        event.remove(c.engine, "before_cursor_execute", listener)
    assert "Recorded *Acme 1000 " in (reply.text or ""), reply.text
    campaign_reads = [s for s in statements if "FROM campaign" in s]
    assert len(campaign_reads) <= 2, len(campaign_reads)
