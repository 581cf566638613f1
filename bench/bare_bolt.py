"""The reference for ``bench/compare.py``: a bare bolt app, served the way bolt's docs show it.

A synchronous ``slack_bolt.App`` whose ``/smarketing`` listener only acks, mounted on FastAPI
with bolt's own adapter and served by uvicorn, plus ``GET /healthz``. Settings from the
environment: ``PORT``, ``SLACK_SIGNING_SECRET``, ``SLACK_API_URL``, and
``PROCESS_BEFORE_RESPONSE=true`` for the fast path (bolt's default answers once its ack polling
sees the ack). ``FLOOR_DATABASE_URL``: also import SQLModel and the product's tables
(``storage.models``) and answer ``/healthz`` only after a ``SELECT 1`` on that database, as the
product's does: the floor the product's core stack sets for its start-up time and memory, before
any code of its own runs.

Run: PORT=3100 SLACK_SIGNING_SECRET=s python bench/bare_bolt.py
"""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI, Request
from slack_bolt import App
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_sdk import WebClient

app = App(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    client=WebClient(token="xoxb-test", base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/")),
    token_verification_enabled=False,
    process_before_response=os.environ.get("PROCESS_BEFORE_RESPONSE", "false").lower() == "true",
)


@app.command("/smarketing")
def smarketing(ack, body):
    ack(text=f"You said: {body.get('text', '')}", response_type="ephemeral")


api = FastAPI()
handler = SlackRequestHandler(app)


@api.post("/slack/events")
async def slack_events(req: Request):
    return await handler.handle(req)


FLOOR = os.environ.get("FLOOR_DATABASE_URL")
if FLOOR:
    import sys
    from pathlib import Path

    import sqlalchemy as sa
    import sqlmodel  # noqa: F401 - its import is part of the floor

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import storage.models  # noqa: F401,E402 - the product's tables, declared

    engine = sa.create_engine(FLOOR)


@api.get("/healthz")
def healthz():
    if FLOOR:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    return {"ok": True}


if __name__ == "__main__":
    uvicorn.run(api, host="127.0.0.1", port=int(os.environ.get("PORT", "3100")), log_level="warning")
