"""Back to the CRM: the signed outbound webhook, delivered once through the outbox's retries."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot import signing
from bot.config import OutboundWebhook
from bot.dispatch import wait_until_delivered
from handlers.ports import OffsetClock
from tests import slack_requests as sr
from tests.bounce_helpers import outbox, seed_lead
from tests.conftest import SIGNING_SECRET, demo_config_with_slack

CRM_SECRET = "crm-outbound-secret"


class Receiver:
    """A CRM endpoint on 127.0.0.1 that answers 500 to its first ``failures`` requests."""

    def __init__(self, failures: int):
        self.failures = failures
        self.requests: list[dict] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.cond:
                    status = 500 if len(receiver.requests) < receiver.failures else 200
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "status": status})
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status == 200 else b'{"error": "try later"}')

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/crm/smarketing"

    def wait_for(self, predicate, timeout: float = 10) -> list[dict]:
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self.requests), timeout), self.requests
            return list(self.requests)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def crm():
    with Receiver(failures=2) as receiver:
        yield receiver


def test_the_bounce_reaches_the_crm_exactly_once_through_failures_and_signed(make_container, live_server, slack, crm):
    config = demo_config_with_slack()
    config.outbound_webhook = OutboundWebhook(url=crm.url, secret=CRM_SECRET)
    # Real time for the dispatcher's backoff (tests' settings retry after 0.05 s, doubling).
    app = live_server(make_container(slack_mock=slack, config=config, clock=OffsetClock()))
    seed_lead(app.container)
    body, ctype = sr.slash_command("bounce L-1 not_icp Two-person agency, far too small", user_id="U_ANA")
    with app.client() as http:
        resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
    assert resp.status_code == 200

    requests = crm.wait_for(lambda rs: any(r["status"] == 200 for r in rs))
    assert [r["status"] for r in requests] == [500, 500, 200]
    for r in requests:  # every attempt is the same event, signed like the inbound webhook
        signing.verify(CRM_SECRET, r["headers"][signing.HEADER], r["body"])
        assert r["body"] == requests[0]["body"]
        assert r["headers"]["Idempotency-Key"] == requests[0]["headers"]["Idempotency-Key"]
    event = json.loads(requests[-1]["body"])
    assert event["type"] == "lead.bounced" and event["id"]
    assert event["data"]["lead_id"] == "L-1" and event["data"]["reason"] == "not_icp"
    assert event["data"]["note"] == "Two-person agency, far too small"
    assert event["data"]["status"] == "nurture"

    [row] = outbox(app.container, op="webhook")
    assert wait_until_delivered(app.container.uow_factory, [row.key])
    [row] = outbox(app.container, op="webhook")
    assert (row.status, row.attempts, row.destination) == ("sent", 3, "webhook:crm")
    app.container.dispatcher.drain()  # nothing left to deliver: the CRM heard it once
    assert len(crm.requests) == 3


def test_a_forged_signature_would_not_verify(crm):
    """The receiver's check above is meaningful: a body signed with another secret fails it."""
    body = b'{"type": "lead.bounced"}'
    with pytest.raises(signing.SignatureError):
        signing.verify(CRM_SECRET, signing.sign("another-secret", body), body)
