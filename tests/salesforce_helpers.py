"""Fixtures and helpers for the Salesforce tests: the stand-in (HTTPS, trusted through
``REQUESTS_CA_BUNDLE``), a connected app with a certificate, users for the demo's people."""

from __future__ import annotations

import pytest

from tests.salesforce_standin import SalesforceStandIn, make_key_pair

CONSUMER_KEY = "3MVG9test.consumer.key"
CONSUMER_SECRET = "consumer-secret-0123456789"
USERNAME = "integration@northwind.example"
# Salesforce users of the demo config's people (email -> first, last)
USERS = {
    "ana@northwind.example": ("Ana", "Torres"),
    "ben@northwind.example": ("Ben", "Okafor"),
    "maya@northwind.example": ("Maya", "Patel"),
    "kira@northwind.example": ("Kira", "Novak"),
    "chloe@northwind.example": ("Chloe", "Martin"),
}


@pytest.fixture(scope="session")
def app_keys() -> tuple[str, str]:
    """The connected app's private key and certificate (an admin makes them with openssl)."""
    return make_key_pair()


@pytest.fixture(scope="session")
def salesforce_server():
    with SalesforceStandIn() as server:
        yield server


@pytest.fixture
def salesforce(salesforce_server, app_keys, clock, monkeypatch) -> SalesforceStandIn:
    """The stand-in, emptied, on the test's clock, with the connected app and the people's users."""
    s = salesforce_server
    s.reset()
    s.now = clock.now
    s.set_usage(0, 100_000)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(s.ca_file))
    s.add_app(CONSUMER_KEY, certificate=app_keys[1], secret=CONSUMER_SECRET, users=(USERNAME,), run_as=USERNAME)
    s.user_ids = {email: s.add_user(email, first, last) for email, (first, last) in USERS.items()}
    return s


def salesforce_settings(salesforce: SalesforceStandIn, app_keys, **over) -> dict:
    values = dict(
        salesforce_client_id=CONSUMER_KEY,
        salesforce_username=USERNAME,
        salesforce_private_key=app_keys[0],
        salesforce_login_url=salesforce.url,
    )
    values.update(over)
    return values
