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
        # One id at a time (one statement on SQLite, where many take two): the same answers.
        assert uow.inbound.claim("crm", ["c"], at) == set()
        assert uow.inbound.claim("crm", ["d"], at) == {"d"}
        assert uow.inbound.claim("crm", ["d"], at) == set()
        assert uow.inbound.claim("teams", ["d"], at) == {"d"}


def test_a_message_key_is_queued_once_alone_or_among_others(engine):
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    msg = lambda key, text: {"key": key, "destination": "channel:wins", "payload": {"text": text}}  # noqa: E731
    with UnitOfWork(engine) as uow:
        assert uow.outbox.add_many([msg("a", "first")], at=at) == {"a"}
        assert uow.outbox.add_many([msg("a", "again")], at=at) == set()
        assert uow.outbox.add_many([msg("a", "and again"), msg("b", "b")], at=at) == {"b"}
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert uow.outbox.add_many([msg("b", "later")], at=at) == set()
        assert {k: r.payload["text"] for k, r in uow.outbox.many_by_key(["a", "b"]).items()} == {"a": "first", "b": "b"}


def test_two_workers_never_claim_the_same_outbox_message(engine):
    from datetime import timedelta

    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with UnitOfWork(engine) as uow:
        for i in range(10):
            uow.outbox.add(key=f"k{i}", destination=channel(f"c{i}"), payload={"text": str(i)}, at=at)
        uow.commit()
    with UnitOfWork(engine) as a:
        got_a = {r.key for r in a.outbox.claim(worker="a", now=at, lease=timedelta(minutes=1), limit=6)}
        a.commit()
    with UnitOfWork(engine) as b:
        got_b = {r.key for r in b.outbox.claim(worker="b", now=at, lease=timedelta(minutes=1), limit=6)}
        b.commit()
    assert len(got_a) == 6 and len(got_b) == 4 and not got_a & got_b


def _claim(engine, worker: str, at, limit: int = 10):
    from datetime import timedelta

    with UnitOfWork(engine) as uow:
        rows = uow.outbox.claim(worker=worker, now=at, lease=timedelta(minutes=1), limit=limit)
        uow.commit()
    return rows


def _finish(engine, row, worker: str, how: str, at=None) -> None:
    with UnitOfWork(engine) as uow:
        if how == "sent":
            assert uow.outbox.mark_sent(row.id, worker, at=at, platform="slack", channel="C", ref="1")
        elif how == "dead":
            assert uow.outbox.mark_dead(row.id, worker, error="gone")
        else:
            assert uow.outbox.mark_retry(row.id, worker, next_at=how, error="500")
        uow.commit()


def test_a_destination_has_one_message_in_flight_and_they_go_in_the_order_queued(engine):
    """Only the oldest open message of each destination is claimed, by any worker: the next
    one waits until it is sent, dead, or back to pending (then it stays first in line)."""
    from datetime import timedelta

    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with UnitOfWork(engine) as uow:
        for i in range(3):
            uow.outbox.add(key=f"w{i}", destination=channel("wins"), payload={}, at=at)
        uow.outbox.add(key="s0", destination=channel("sales"), payload={}, at=at)
        uow.commit()
    first = _claim(engine, "a", at)
    assert [r.key for r in first] == ["w0", "s0"]
    assert _claim(engine, "b", at) == []  # w1 waits behind w0, whoever asks
    _finish(engine, first[0], "a", at + timedelta(seconds=30))  # w0 fails: back in 30 s
    assert _claim(engine, "b", at + timedelta(seconds=10)) == []  # w1 still waits behind it
    retried = _claim(engine, "b", at + timedelta(seconds=30))
    assert [r.key for r in retried] == ["w0"]
    _finish(engine, retried[0], "b", "dead")
    after_dead = _claim(engine, "b", at + timedelta(seconds=30))
    assert [r.key for r in after_dead] == ["w1"]  # a dead message no longer holds the line
    _finish(engine, after_dead[0], "b", "sent", at)
    assert [r.key for r in _claim(engine, "a", at + timedelta(seconds=30))] == ["w2"]


def test_a_destination_is_claimed_again_only_once_its_slot_is_free_and_says_when(engine):
    from datetime import timedelta

    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with UnitOfWork(engine) as uow:
        for i in range(2):
            uow.outbox.add(key=f"w{i}", destination=channel("wins"), payload={}, at=at)
        uow.commit()
    [row] = _claim(engine, "a", at)
    with UnitOfWork(engine) as uow:  # the post starts: the channel is busy for a second from now
        assert uow.outbox.begin_attempt(
            row.id, "a", now=at, lease=timedelta(minutes=1), destination=row.destination, spacing=timedelta(seconds=1)
        )
        uow.commit()
    _finish(engine, row, "a", "sent", at)
    waiting = _claim(engine, "a", at + timedelta(milliseconds=500))
    assert waiting == [] and waiting.next_at == at + timedelta(seconds=1)
    assert [r.key for r in _claim(engine, "b", at + timedelta(seconds=1))] == ["w1"]


def test_a_claim_taken_over_after_its_lease_cannot_begin_an_attempt(engine):
    from datetime import timedelta

    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with UnitOfWork(engine) as uow:
        uow.outbox.add(key="w0", destination=channel("wins"), payload={}, at=at)
        uow.commit()
    [mine] = _claim(engine, "slow", at)
    later = at + timedelta(minutes=2)  # the lease (1 minute) ran out while "slow" was busy
    [theirs] = _claim(engine, "other", later)
    assert theirs.key == "w0" and theirs.attempts == 2
    with UnitOfWork(engine) as uow:
        assert not uow.outbox.begin_attempt(
            mine.id, "slow", now=later, lease=timedelta(minutes=1), destination=mine.destination, spacing=timedelta(0)
        )
        assert uow.outbox.begin_attempt(
            theirs.id,
            "other",
            now=later,
            lease=timedelta(minutes=1),
            destination=theirs.destination,
            spacing=timedelta(0),
        )
        uow.commit()
    with UnitOfWork(engine) as uow:
        row = uow.outbox.by_key("w0")
    assert row.claimed_by == "other" and row.attempt_started_at == later


def test_on_postgresql_a_claim_skips_rows_another_open_transaction_holds(engine):
    """Two replicas claiming at the same moment: the second skips what the first has locked."""
    from datetime import timedelta

    if engine.dialect.name != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite has a single writer")
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with UnitOfWork(engine) as uow:
        for i in range(10):
            uow.outbox.add(key=f"k{i}", destination=channel(f"c{i}"), payload={"text": str(i)}, at=at)
        uow.commit()
    with UnitOfWork(engine) as a, UnitOfWork(engine) as b:
        got_a = {r.key for r in a.outbox.claim(worker="a", now=at, lease=timedelta(minutes=1), limit=6)}
        # a has not committed: its rows are locked, b must not wait for them nor take them
        got_b = {r.key for r in b.outbox.claim(worker="b", now=at, lease=timedelta(minutes=1), limit=10)}
        a.commit()
        b.commit()
    assert len(got_a) == 6 and len(got_b) == 4 and not got_a & got_b


def test_look_ups_by_many_ids_find_exactly_the_stored_ones_whatever_the_characters(engine):
    odd = ["plain", "it's", 'say "hi"', "back\\slash", "ünïcödé ✓", "comma,and]bracket", "%_like", " spaced "]
    stored = odd + [f"c-{i}" for i in range(1500)]
    with UnitOfWork(engine) as uow:
        uow.campaigns.upsert_many([{"crm_id": c, "name": c, "kind": "other"} for c in stored])
        uow.commit()
    with UnitOfWork(engine) as uow:
        asked = stored + ["never stored", "PLAIN", "spaced"]
        ids = uow.campaigns.ids_by_crm_id(asked)
        assert set(ids) == set(stored)
        by_id = uow.campaigns.briefs(list(ids.values())[:700] + [10**9])
        assert {r.name for r in by_id.values()} == set(list(ids)[:700])
        assert uow.campaigns.ids_by_crm_id([]) == {}


def test_batch_inserted_timestamps_read_back_as_the_same_instant(engine):
    from datetime import timedelta

    instants = [
        datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 11, 1, 6, 30, tzinfo=timezone(timedelta(hours=-4))),
        datetime(2026, 11, 23, 15, 0, 0, 1, tzinfo=timezone.utc),
    ]
    with UnitOfWork(engine) as uow:
        for i, at in enumerate(instants):
            uow.outbox.add_many([{"key": f"k{i}", "destination": "channel:wins", "payload": {}}], at=at)
        uow.commit()
    with UnitOfWork(engine) as uow:
        got = uow.outbox.many_by_key(["k0", "k1", "k2"])
        assert [got[f"k{i}"].created_at for i in range(3)] == instants
        assert all(got[f"k{i}"].created_at.utcoffset() == timedelta(0) for i in range(3))
    with pytest.raises(Exception, match="timezone"):
        with UnitOfWork(engine) as uow:
            uow.outbox.add_many([{"key": "naive", "destination": "x", "payload": {}}], at=datetime(2026, 1, 1))


def test_the_migrations_build_exactly_the_schema_the_models_describe(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_people_by_ids_mix_those_this_unit_of_work_loaded_with_the_rest(engine):
    """``people.many`` answers from the unit of work for people it already holds (with their
    changes not yet written) and reads the others: every id asked for that exists comes back once."""
    from storage.models import Person

    with UnitOfWork(engine) as uow:
        for key in ("ana", "ben"):
            uow.people.add(Person(key=key, name=key.title(), email=f"{key}@x.example", team="sales"))
        uow.commit()
        ben_id = uow.people.by_key("ben").id
    with UnitOfWork(engine) as uow:
        ana = uow.people.by_key("ana")
        ana.name = "Ana Lima"  # changed here, not written yet
        got = uow.people.many([ana.id, ben_id, ana.id, 10_000])
        assert set(got) == {ana.id, ben_id}
        assert got[ana.id] is ana and got[ana.id].name == "Ana Lima"
        assert got[ben_id].key == "ben" and got[ben_id].name == "Ben"
