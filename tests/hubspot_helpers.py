"""Fixtures and helpers for the HubSpot tests: the stand-in, owners for the demo's people, an app
wired to both the Slack mock and the HubSpot stand-in."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.hubspot_standin import HubSpotStandIn

TOKEN = "pat-na1-test-token"
CLIENT_SECRET = "hubspot-client-secret"
# HubSpot owners of the demo config's people (owner id -> email)
OWNERS = {
    "101": ("ana@northwind.example", "Ana", "Torres"),
    "102": ("ben@northwind.example", "Ben", "Okafor"),
    "100": ("maya@northwind.example", "Maya", "Patel"),
    "201": ("kira@northwind.example", "Kira", "Novak"),
}


@pytest.fixture(scope="session")
def hubspot_server():
    with HubSpotStandIn(burst=100, burst_seconds=1.0, search_per_second=5) as server:
        yield server


@pytest.fixture
def hubspot(hubspot_server) -> HubSpotStandIn:
    hubspot_server.reset()
    hubspot_server.set_limits(burst=100, burst_seconds=1.0, search_per_second=5)
    hubspot_server.add_token(TOKEN)
    for oid, (email, first, last) in OWNERS.items():
        hubspot_server.add_owner(oid, email, first, last, teams=["Marketing"] if oid == "201" else ["Sales"])
    return hubspot_server


def hubspot_settings(hubspot: HubSpotStandIn, **over) -> dict:
    return {
        **dict(hubspot_access_token=TOKEN, hubspot_client_secret=CLIENT_SECRET, hubspot_api_url=hubspot.url),
        **over,
    }


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def wait_until(predicate, timeout: float = 10.0, what: str = "condition"):
    """Poll (real time) until asynchronous work - the connector's worker, the dispatcher - is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def changes(container) -> list:
    from sqlmodel import select

    from storage.models import ConnectorChange

    with container.uow_factory() as uow:
        return list(uow.session.exec(select(ConnectorChange)))


def shown(message: dict) -> str:
    """Every text a person reads in a posted Slack message (fallback, blocks, fields, buttons)."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "text" and isinstance(v, str):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk({"text": message.get("text", ""), "blocks": message.get("blocks") or []})
    return "\n".join(found)
