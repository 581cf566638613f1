"""Shared pieces of the Teams tests: the stand-in for the Teams service, a demo config on Teams,
the app served with Teams enabled (token validation off), and small helpers."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.config import load_config
from bot.dispatch import wait_until_delivered
from bot.signing import HEADER, sign
from handlers.registry import Flow, Registry
from tests import teams_standin as ts
from tests.conftest import WEBHOOK_SECRET

TEAM_ID = "19:team-northwind@thread.tacv2"
CHANNELS = {
    TEAM_ID: None,  # General: its id is the team's, and Teams gives it no name
    "19:wins@thread.tacv2": "Wins",
    "19:company@thread.tacv2": "Company",
    "19:sales@thread.tacv2": "Sales",
    "19:marketing@thread.tacv2": "Marketing",
}
WINS, SALES, MARKETING = "19:wins@thread.tacv2", "19:sales@thread.tacv2", "19:marketing@thread.tacv2"
ROSTER = {  # people of the demo config who are in the team
    "maya@northwind.example": ("29:maya", "aad-maya"),
    "ana@northwind.example": ("29:ana", "aad-ana"),
    "ben@northwind.example": ("29:ben", "aad-ben"),
    "jonas@northwind.example": ("29:jonas", "aad-jonas"),
    "kira@northwind.example": ("29:kira", "aad-kira"),
    "sam@northwind.example": ("29:sam", "aad-sam"),
}


@pytest.fixture(scope="session")
def teams_server():
    server = ts.TeamsStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def teams(teams_server) -> ts.TeamsStandIn:
    teams_server.reset()
    for email, (uid, aad) in ROSTER.items():
        teams_server.add_user(email, uid, aad)
    teams_server.add_team(TEAM_ID, CHANNELS)
    return teams_server


def teams_config():
    """The demo config with every channel on Teams, named like the team's channels."""
    cfg = load_config(None)
    for name, ch in cfg.channels.items():
        ch.platform = "teams"
        ch.teams = name.title()
    return cfg


@pytest.fixture
def make_teams_app(make_container, live_server):
    def factory(*, flows: list[Flow] = (), **over):
        over.setdefault("teams_client_id", "test-app-id")
        over.setdefault("dangerously_allow_unauthenticated_requests", True)
        c = make_container(config=over.pop("config", None) or teams_config(), **over)
        if flows:
            c.registry = Registry.build(list(c.registry.flows) + list(flows))
        return live_server(c)

    return factory


@pytest.fixture
def app(make_teams_app):
    return make_teams_app()


def post(app, activity: dict, **kw) -> httpx.Response:
    with app.client() as http:
        return http.post("/api/messages", json=activity, **kw)


def install(app, teams) -> None:
    """Someone adds the app to the Northwind team: its channels and roster are recorded."""
    user = teams.user("sam@northwind.example")
    assert (
        post(
            app, ts.installed_in_team(teams.service_url, user=user, team_id=TEAM_ID, team_name="Northwind")
        ).status_code
        == 200
    )


def only_card(activity: dict) -> dict:
    [card] = ts.cards_in(activity)
    return card


def person(c, key: str):
    with c.uow_factory() as uow:
        return uow.people.by_key(key)


def outbox_row(c, key: str, status: str, timeout: float = 10.0):
    """The outbox row ``key`` once the dispatcher has brought it to ``status``."""
    wait_until_delivered(c.uow_factory, [key], timeout)
    with c.uow_factory() as uow:
        row = uow.outbox.by_key(key)
    assert row is not None and row.status == status, row
    return row


def outbox_status(c, key: str) -> str | None:
    with c.uow_factory() as uow:
        row = uow.outbox.by_key(key)
    return row.status if row else None


def post_crm(app, events) -> httpx.Response:
    body = json.dumps(events).encode()
    with app.client() as http:
        return http.post(
            "/webhooks/crm",
            content=body,
            headers={HEADER: sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"},
        )
