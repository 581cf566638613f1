"""Fuzzing the running server (issue 12, "keep it fixed"), with hypothesis, through the real HTTP
endpoints on the suite's database (SQLite or PostgreSQL):

- ``/slack/events``, signed: slash-command text for every registered sub-command, button presses
  for every registered action, form submissions for every registered form, and events — with
  tricky words (huge and odd numbers, dates, mentions, quotes, NUL, long text);
- the same bodies unsigned, and garbage bodies, on every endpoint;
- ``/webhooks/crm``, signed: valid batches of every event type mutated field by field with
  values of other types, extreme dates, NUL and lone surrogates, huge numbers;
- the local workspace's command and form endpoints;
- ``/api/messages`` with the Teams SDK's token check off (what a valid token would let in):
  commands, card actions and form submissions of every registered verb, and mutated activities.

Every answer must be below 500 and none may say "Something went wrong"; no error may be counted
(``smarketing_errors_total``). The budget is small by default (derandomized, a few hundred
requests); ``FUZZ_EXAMPLES=2000`` digs deeper.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.signing import HEADER, sign
from handlers.registry import load_registry
from tests import slack_requests as sr
from tests import teams_standin as ts
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET
from tests.teams_helpers import make_teams_app, teams, teams_server  # noqa: F401 - fixtures

REGISTRY = load_registry()
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("FUZZ_EXAMPLES"),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
SORRY = "Something went wrong"
USERS = ["U_ANA", "U_MAYA", "U_KIRA", "U_BEN", "U_SAM", "U_NOBODY"]

# --- words -------------------------------------------------------------------------------------

_numbers = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.sampled_from(
        [
            "0",
            "-1",
            "2147483648",
            "9223372036854775808",
            "999999999999999999999",
            "1e999",
            "NaN",
            "²",
            "٣",
            "$48k",
            "€1.2m",
            "48,000",
            "48000 EUR",
            "USD48000",
            "$-5",
            "0.000001",
            "1" * 60,
            "48000XYZ",
            "$99999999999999",
            "12.345.678",
        ]
    ),
)
_dates = st.sampled_from(
    [
        "2026-11-23",
        "0001-01-01",
        "9999-12-31",
        "2026-02-30",
        "tomorrow",
        "next",
        "1700000000",
        "-1",
        "99999999999",
        "2026-11-23T10:00:00Z",
    ]
)
_marks = st.sampled_from(
    [
        "<@U_MAYA>",
        "<!here>",
        "<!channel>",
        "<person:1>",
        "\ue000person:2\ue001",
        "<at>Ana</at>",
        "*",
        "_",
        "`",
        '"',
        "“",
        "”",
        "'",
        "&amp;",
        "<script>",
        "\u0000",
        "\n",
        "  ",
        "🎉",
        "é",
        "\u202e",
        "%",
        "{",
        "}",
        "[",
        "]",
    ]
)
_refs = st.sampled_from(
    [
        "L-1",
        "L-2",
        "L-404",
        "jane@acme.example",
        "JANE@ACME.EXAMPLE",
        "camp-1",
        "Spring webinar",
        "not_ready",
        "no_budget",
        "other",
        "add",
        "next",
        "help",
    ]
)
_word = st.one_of(
    _numbers, _dates, _marks, _refs, st.text(max_size=12), st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
)
_args = st.lists(_word, max_size=12).map(" ".join)
_long = st.builds(lambda w, n: (w + " ") * n, _word, st.integers(1, 400))
_commands = st.sampled_from(sorted(REGISTRY.commands) + ["", "frobnicate", "HELP", "Won", "/smarketing"])
command_text = st.one_of(st.builds(lambda c, a: f"{c} {a}", _commands, st.one_of(_args, _long)), _args)
_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    _word,
)
_json = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
_value = st.one_of(_numbers, _refs, _word, st.integers(1, 12).map(str))


# --- the server ---------------------------------------------------------------------------------


@pytest.fixture
def server(make_container, slack, live_server):
    from tests.cooling_helpers import hot_lead, ingest

    c = make_container(slack_mock=slack, local_workspace=True, demo_data=False)
    ingest(c, hot_lead("L-1", owner="ana", email="jane@acme.example"), hot_lead("L-2", owner="ben"))
    app = live_server(c, local=True)
    app.http = app.client()
    yield app
    app.http.close()


def errors_counted(app) -> float:
    return sum(
        s.value
        for metric in app.container.metrics.errors.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    )


def check(resp, where: str) -> None:
    assert resp.status_code < 500, (where, resp.status_code, resp.text[:500])
    assert SORRY not in resp.text, (where, resp.text[:500])


def post_slack(app, body: bytes, ctype: str, *, signed: bool = True):
    headers = sr.signed_headers(SIGNING_SECRET, body, ctype) if signed else {"Content-Type": ctype}
    resp = app.http.post("/slack/events", content=body, headers=headers)
    check(resp, body[:200])
    if not signed:
        assert resp.status_code == 401, resp.text
    return resp


def post_crm(app, payload, *, signed: bool = True):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signed:
        headers[HEADER] = sign(WEBHOOK_SECRET, body)
    resp = app.http.post("/webhooks/crm", content=body, headers=headers)
    check(resp, body[:300])
    assert resp.status_code in ((200, 400, 413) if signed else (401,)), resp.text[:300]
    return resp


def finish(app, slack) -> None:
    """Nothing the bot said anywhere (response URLs, DMs) apologises; no error was counted."""
    said = json.dumps(slack.calls())
    assert SORRY not in said
    assert errors_counted(app) == 0


# --- Slack ---------------------------------------------------------------------------------------


@FUZZ
@given(text=command_text, user=st.sampled_from(USERS), signed=st.booleans())
def test_slash_commands_never_fail(server, slack, text, user, signed):
    body, ctype = sr.slash_command(text, user_id=user, response_url=slack.response_url("fuzz"))
    resp = post_slack(server, body, ctype, signed=signed)
    if signed:
        assert resp.status_code == 200, resp.text[:300]
    finish(server, slack)


_action_ids = st.one_of(
    st.sampled_from(sorted(REGISTRY.actions)).map(lambda a: f"{a}#0"),
    st.sampled_from(["x", "#", "cooling.follow_up#x", "", "cooling.claim"]),
)


@FUZZ
@given(action=_action_ids, value=_value, user=st.sampled_from(USERS), ts=st.sampled_from(["1700000000.000100", "1"]))
def test_button_presses_never_fail(server, slack, action, value, user, ts):
    body, ctype = sr.block_actions(
        action, value, user_id=user, message={"ts": ts, "channel": "C_SALES"}, response_url=slack.response_url("fuzz")
    )
    post_slack(server, body, ctype)
    finish(server, slack)


def _form_values(name: str) -> st.SearchStrategy:
    select = st.fixed_dictionaries(
        {
            "type": st.just("static_select"),
            "selected_option": st.one_of(st.none(), st.fixed_dictionaries({"value": _value})),
        }
    )
    text = st.fixed_dictionaries({"type": st.just("plain_text_input"), "value": st.one_of(st.none(), _args, _long)})
    date = st.fixed_dictionaries({"type": st.just("datepicker"), "selected_date": st.one_of(st.none(), _dates)})
    by_input = {
        "bounce.submit": {"reason": select, "note": text},
        "schedule.add": {
            "team": select,
            "kind": select,
            "title": text,
            "regions": text,
            "start": date,
            "end": date,
            "link": text,
        },
    }
    fields = by_input.get(name, {"x": text})
    return st.fixed_dictionaries({}, optional={k: v.map(lambda v, k=k: {k: v}) for k, v in fields.items()})


_forms = st.sampled_from(sorted(REGISTRY.forms) + ["nope"]).flatmap(
    lambda name: st.tuples(st.just(name), _form_values(name), st.one_of(_value, st.just("")))
)


@FUZZ
@given(form=_forms, user=st.sampled_from(USERS))
def test_form_submissions_never_fail(server, slack, form, user):
    name, values, state = form
    body, ctype = sr.view_submission(name, values, user_id=user, private_metadata=state)
    post_slack(server, body, ctype)
    finish(server, slack)


@FUZZ
@given(
    kind=st.sampled_from(["app_mention", "message", "app_home_opened", "reaction_added"]),
    text=command_text,
    user=st.sampled_from(USERS),
    channel_type=st.sampled_from(["im", "channel"]),
    n=st.integers(0, 10**9),
)
def test_events_never_fail(server, slack, kind, text, user, channel_type, n):
    event = {
        "type": kind,
        "user": user,
        "text": text,
        "channel": "D_FUZZ",
        "channel_type": channel_type,
        "ts": f"{n}.0001",
    }
    body, ctype = sr.event_callback(event, event_id=f"EvFuzz{n}")
    resp = post_slack(server, body, ctype)
    assert resp.status_code in (200, 404)  # 404: an event type with no listener
    finish(server, slack)


_garbage = st.one_of(
    st.binary(max_size=300),
    _json.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"{x",
            b"payload=x",
            b"payload=%5B%5D",
            b"\xff\xfe",
            b"[]",
            b"null",
            b"[" * 2000 + b"]" * 2000,
            b'{"type":"event_callback","event":[]}',
        ]
    ),
)


@FUZZ
@given(raw=_garbage, ctype=st.sampled_from([sr.JSON, sr.FORM, "text/plain", ""]), signed=st.booleans())
def test_garbage_on_every_endpoint_is_a_4xx(server, slack, raw, ctype, signed):
    slack_headers = {"Content-Type": ctype, **(sr.sign(SIGNING_SECRET, raw) if signed else {})}
    resp = server.http.post("/slack/events", content=raw, headers=slack_headers)
    check(resp, raw[:100])
    assert resp.status_code != 200 or signed
    for path in ("/api/messages", "/local/api/command", "/local/api/form", "/local/api/action"):
        check(server.http.post(path, content=raw, headers={"Content-Type": ctype or "application/json"}), path)
    post_crm(server, raw, signed=signed)
    finish(server, slack)


# --- the CRM webhook ------------------------------------------------------------------------------

VALID = {
    "lead.upserted": {
        "id": "L-9",
        "email": "x@acme.example",
        "name": "X",
        "company": "Acme",
        "status": "new",
        "score": 10,
        "owner_email": "ana@northwind.example",
        "source_campaign_id": "camp-1",
    },
    "lead.qualified": {
        "id": "L-8",
        "email": "y@acme.example",
        "status": "qualified",
        "score": 90,
        "tier": "hot",
        "owner_email": "ben@northwind.example",
    },
    "lead.touched": {"lead_id": "L-1", "by_email": "ana@northwind.example", "note": "called", "kind": "call"},
    "campaign.upserted": {
        "id": "camp-1",
        "name": "Spring webinar",
        "kind": "webinar",
        "owner_email": "kira@northwind.example",
    },
    "campaign.touch": {"campaign_id": "camp-1", "lead_id": "L-1", "touched_at": "2026-11-10T10:00:00Z"},
    "deal.closed_won": {
        "id": "D-1",
        "name": "Acme renewal",
        "amount": 48000,
        "currency": "USD",
        "owner_email": "ana@northwind.example",
        "lead_id": "L-1",
        "closed_at": "2026-11-23T10:00:00Z",
    },
    "schedule.upserted": {
        "id": "S-1",
        "team": "marketing",
        "kind": "webinar",
        "title": "Launch",
        "regions": ["EMEA"],
        "start": "2026-11-24T10:00:00Z",
        "end": "2026-11-24T11:00:00Z",
        "owner_email": "kira@northwind.example",
        "link": "https://example.com",
    },
}
_bad_values = st.one_of(
    _json_scalar,
    _json,
    _dates,
    _numbers,
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-11-23T10:00:00",
            "a\u0000b",
            "\ud800",
            "x" * 5000,
            -1,
            10**30,
            1e308,
            "ZZZ",
            "",
            [],
            {},
        ]
    ),
)


@st.composite
def webhook_batches(draw):
    batch = []
    for n in range(draw(st.integers(1, 4))):
        type_ = draw(st.sampled_from(sorted(VALID)))
        data = dict(VALID[type_])
        for _ in range(draw(st.integers(0, 3))):  # schema-aware: a known field changed, dropped or added
            field = draw(st.sampled_from(sorted(data) + ["extra"]))
            how = draw(st.sampled_from(["set", "drop", "set"]))
            if how == "drop":
                data.pop(field, None)
            else:
                data[field] = draw(_bad_values)
        event = {
            "id": draw(st.one_of(st.just(f"ev-{n}"), st.text(max_size=5), _word)),
            "type": type_,
            "occurred_at": draw(st.one_of(st.just("2026-11-23T10:00:00Z"), _bad_values)),
            "data": data,
        }
        if draw(st.booleans()) and draw(st.booleans()):
            event[draw(st.sampled_from(["type", "id", "data", "occurred_at"]))] = draw(_bad_values)
        batch.append(event)
    return batch[0] if len(batch) == 1 and draw(st.booleans()) else batch


@FUZZ
@given(batch=webhook_batches(), signed=st.booleans())
def test_webhook_batches_never_fail(server, slack, batch, signed):
    resp = post_crm(server, batch, signed=signed)
    if signed and resp.status_code == 400:
        body = resp.json()
        assert body["error"] and ("problems" not in body or all(p["field"] for p in body["problems"]))
    finish(server, slack)


# --- the local workspace --------------------------------------------------------------------------


@FUZZ
@given(text=command_text, who=st.integers(-1, 12), form=_forms)
def test_the_local_workspace_never_fails(server, slack, text, who, form):
    check(server.http.post("/local/api/command", json={"person_id": who, "text": text}), text)
    name, values, state = form
    flat = {
        k: (v.get("value") or (v.get("selected_option") or {}).get("value") or v.get("selected_date"))
        for item in values.values()
        for k, v in item.items()
    }
    check(
        server.http.post(
            "/local/api/form", json={"person_id": who, "action": name, "state": str(state)[:3000], "values": flat}
        ),
        name,
    )
    finish(server, slack)


# --- Teams (token checks off, as with the Agents Playground: what a valid token would let in) ------


@pytest.fixture
def teams_app(make_teams_app, teams):
    from tests.cooling_helpers import hot_lead, ingest

    app = make_teams_app()
    ingest(app.container, hot_lead("L-1", owner="ana", email="jane@acme.example"))
    app.http = app.client()
    yield app
    app.http.close()


_verbs = st.one_of(
    st.sampled_from(sorted(REGISTRY.actions) + sorted(REGISTRY.forms) + ["smarketing.cancel", ""]), st.text(max_size=10)
)
_card_data = st.one_of(
    st.fixed_dictionaries({"value": _value}, optional={"key": st.one_of(_word, st.integers())}),
    st.fixed_dictionaries(
        {
            "_smarketing": st.one_of(
                _json,
                st.fixed_dictionaries(
                    {"form": _verbs}, optional={"state": _value, "key": _word, "def": _json, "cancel": st.booleans()}
                ),
            )
        },
        optional={
            "reason": _value,
            "note": _args,
            "title": _args,
            "start": _dates,
            "end": _dates,
            "team": _value,
            "kind": _value,
        },
    ),
    _json.filter(lambda v: isinstance(v, dict)),
)


@st.composite
def teams_activities(draw, service_url: str, user: dict):
    kind = draw(st.sampled_from(["message", "invoke", "mutated"]))
    if kind == "message":
        activity = ts.message(service_url, draw(command_text), user=user)
    else:
        activity = ts.card_action(service_url, user=user, verb=draw(_verbs), data=draw(_card_data))
    if kind == "mutated":
        for _ in range(draw(st.integers(1, 3))):
            field = draw(st.sampled_from(sorted(activity) + ["value", "entities", "channelData"]))
            activity[field] = draw(_bad_values)
    return activity


@FUZZ
@given(data=st.data())
def test_teams_activities_never_fail(teams_app, teams, data):
    user = teams.user(
        data.draw(st.sampled_from(["ana@northwind.example", "maya@northwind.example", "kira@northwind.example"]))
    )
    activity = data.draw(teams_activities(teams.service_url, user))
    resp = teams_app.http.post(
        "/api/messages", content=json.dumps(activity).encode(), headers={"Content-Type": "application/json"}
    )
    check(resp, json.dumps(activity)[:300])
    said = json.dumps([teams.sent(conv) for conv in list(teams.activities)])
    assert SORRY not in said
    assert errors_counted(teams_app) == 0
