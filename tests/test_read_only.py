"""Units of work that only read: they take no write lock on SQLite, and one that tries to write
fails loudly instead of writing (both databases)."""

from __future__ import annotations

import sqlite3
import threading

import pytest
import sqlalchemy as sa

from storage.db import ReadOnlyError, uow_factory
from storage.models import Person
from tests import slack_requests as sr
from tests.conftest import SIGNING_SECRET
from tests.cooling_helpers import hot_lead, ingest, lead


def test_a_read_only_unit_of_work_that_writes_through_the_repositories_fails_and_writes_nothing(engine):
    factory = uow_factory(engine)
    with factory() as uow:
        uow.people.add(Person(key="ana", name="Ana Ruiz", email="ana@northwind.example", team="sales"))
        uow.commit()
    with factory.read() as uow:
        # An upsert sent straight to the driver: the database itself refuses it.
        with pytest.raises(sa.exc.DBAPIError, match="(?i)read.?only"):
            uow.kv.set("probe", {"x": 1})
    with factory.read() as uow:
        with pytest.raises(ReadOnlyError, match="read-only unit of work tried to write"):
            uow.outbox.settle(["some-key"])  # a Core UPDATE
    with factory.read() as uow:
        person = uow.people.all()[0]
        person.name = "Somebody Else"
        with pytest.raises(ReadOnlyError, match="read-only unit of work tried to write"):
            uow.session.flush()
    with factory.read() as uow:
        with pytest.raises(ReadOnlyError, match="commit"):
            uow.commit()
    with factory() as uow:
        assert uow.kv.get("probe") is None
        assert uow.people.all()[0].name == "Ana Ruiz"


def test_a_read_only_unit_of_work_that_writes_past_the_orm_is_refused_by_the_database(engine):
    factory = uow_factory(engine)
    with factory(readonly=True) as uow:
        with pytest.raises(sa.exc.DBAPIError):
            uow.session.execute(sa.text("INSERT INTO keyvalue (key, value) VALUES ('probe', '{}')"))
    # The connection went back writable: a writing unit of work after it works.
    for _ in range(3):
        with factory() as uow:
            uow.kv.set("after", {"ok": True})
            uow.commit()
    with factory.read() as uow:
        assert uow.kv.get("after") == {"ok": True}


@pytest.fixture
def app(make_container, slack, live_server):
    # SQLite waits up to 30 s for a writer's lock: far longer than the requests below may take.
    return live_server(make_container(slack_mock=slack, db_statement_timeout=30.0))


def _command(http, text: str):
    body, ctype = sr.slash_command(text, user_id="U_ANA")
    return http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))


def test_read_commands_answer_while_another_connection_holds_sqlites_write_lock(app, engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    c = app.container
    ingest(c, hot_lead("L-1"))
    path = engine.url.database
    with app.client() as http:
        assert "Smarketing" in _command(http, "help").text  # Ana is linked now (a write)
        c.dispatcher.drain()
        holder = sqlite3.connect(path, isolation_level=None, timeout=1)
        holder.execute("BEGIN IMMEDIATE")  # another process's writer, in the middle of its work
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                sqlite3.connect(path, timeout=0).execute("BEGIN IMMEDIATE")  # the lock is really held
            http.timeout = 5.0  # a read that queued behind the lock would wait 30 s
            for text, expect in (
                ("help", "Smarketing Bot"),
                ("leads", "L-1"),
                ("sla", "SLA"),
                ("schedule", "week"),
                ("schedule next", "week"),
            ):
                resp = _command(http, text)
                assert resp.status_code == 200, (text, resp.text)
                assert expect.lower() in resp.text.lower(), (text, resp.text[:500])
            # A command that writes does wait for the lock, and is done once it is released.
            done = threading.Event()
            answers = []

            def touch():
                with app.client() as other:
                    answers.append(_command(other, "touch L-1 called"))
                done.set()

            threading.Thread(target=touch, daemon=True).start()
            assert not done.wait(0.5)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert done.wait(10)
        assert answers[0].status_code == 200 and "Logged your follow-up" in answers[0].text
    assert lead(c, "L-1").last_touch_at is not None
