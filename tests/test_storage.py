"""Storage on SQLite and PostgreSQL: migrations, aware UTC timestamps, the unit of work."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from handlers.ports import channel
from storage.db import UnitOfWork
from storage.models import Campaign


def test_work_not_committed_is_rolled_back(engine):
    with UnitOfWork(engine) as uow:
        uow.campaigns.add(Campaign(crm_id="c1", name="Spring webinar"))
    with UnitOfWork(engine) as uow:
        assert uow.campaigns.by_crm_id("c1") is None


def test_committed_work_is_kept_and_readable_after_the_unit_of_work(engine):
    with UnitOfWork(engine) as uow:
        camp = uow.campaigns.add(Campaign(crm_id="c1", name="Spring webinar"))
        uow.commit()
    assert camp.name == "Spring webinar"  # still readable, not expired
    with UnitOfWork(engine) as uow:
        assert uow.campaigns.by_crm_id("c1").name == "Spring webinar"


def test_timestamps_come_back_timezone_aware_in_utc(engine):
    berlin = datetime(2026, 3, 29, 3, 30, tzinfo=timezone.utc).astimezone()
    with UnitOfWork(engine) as uow:
        uow.campaigns.add(Campaign(crm_id="c1", name="x", updated_at=berlin))
        uow.commit()
    with UnitOfWork(engine) as uow:
        got = uow.campaigns.by_crm_id("c1").updated_at
    assert got.tzinfo is not None and got.utcoffset().total_seconds() == 0
    assert got == berlin


def test_a_naive_timestamp_is_refused(engine):
    with UnitOfWork(engine) as uow:
        uow.campaigns.add  # noqa: B018
        with pytest.raises(Exception, match="timezone"):
            uow.campaigns.add(Campaign(crm_id="c1", name="x", updated_at=datetime(2026, 1, 1)))


def test_an_inbound_id_is_claimed_once(engine):
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with UnitOfWork(engine) as uow:
        assert uow.inbound.claim("crm", ["a", "b", "a"], at) == {"a", "b"}
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert uow.inbound.claim("crm", ["b", "c"], at) == {"c"}
        assert uow.inbound.claim("slack_event", ["b"], at) == {"b"}  # per source


def test_two_workers_never_claim_the_same_outbox_message(engine):
    from datetime import timedelta

    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with UnitOfWork(engine) as uow:
        for i in range(10):
            uow.outbox.add(key=f"k{i}", destination=channel("wins"), payload={"text": str(i)}, at=at)
        uow.commit()
    with UnitOfWork(engine) as a:
        got_a = {r.key for r in a.outbox.claim(worker="a", now=at, lease=timedelta(minutes=1), limit=6)}
        a.commit()
    with UnitOfWork(engine) as b:
        got_b = {r.key for r in b.outbox.claim(worker="b", now=at, lease=timedelta(minutes=1), limit=6)}
        b.commit()
    assert len(got_a) == 6 and len(got_b) == 4 and not got_a & got_b


def test_on_postgresql_a_claim_skips_rows_another_open_transaction_holds(engine):
    """Two replicas claiming at the same moment: the second skips what the first has locked."""
    from datetime import timedelta

    if engine.dialect.name != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite has a single writer")
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with UnitOfWork(engine) as uow:
        for i in range(10):
            uow.outbox.add(key=f"k{i}", destination=channel("wins"), payload={"text": str(i)}, at=at)
        uow.commit()
    with UnitOfWork(engine) as a, UnitOfWork(engine) as b:
        got_a = {r.key for r in a.outbox.claim(worker="a", now=at, lease=timedelta(minutes=1), limit=6)}
        # a has not committed: its rows are locked, b must not wait for them nor take them
        got_b = {r.key for r in b.outbox.claim(worker="b", now=at, lease=timedelta(minutes=1), limit=10)}
        a.commit()
        b.commit()
    assert len(got_a) == 6 and len(got_b) == 4 and not got_a & got_b
