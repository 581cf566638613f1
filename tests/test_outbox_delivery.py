"""Outbox delivery to Slack (the local stand-in): nothing lost, nothing said twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.messages import Message, Section
from handlers.ports import channel, dm


def enqueue(c, key: str, text: str = "hello", destination: str = channel("wins")) -> None:
    with c.uow_factory() as uow:
        assert uow.outbox.add(key=key, destination=destination, payload=Message(text=text, blocks=[Section(text=text)]).to_json(),
                              at=c.deps.now())
        uow.commit()


def status(c, key: str):
    with c.uow_factory() as uow:
        return uow.outbox.by_key(key)


@pytest.fixture
def c(make_container, slack):
    return make_container(slack_mock=slack)


def test_a_message_is_stored_once_however_often_it_is_enqueued(c):
    enqueue(c, "k1")
    with c.uow_factory() as uow:
        assert uow.outbox.add(key="k1", destination=channel("wins"), payload={"text": "again"}, at=c.deps.now()) is False
        uow.commit()
    assert c.dispatcher.drain() == 1


def test_a_message_whose_first_three_attempts_get_http_500_is_delivered_exactly_once(c, slack, clock):
    slack.fail_next("chat.postMessage", status=500, times=3)
    enqueue(c, "win:1", "Ana closed Acme")
    for _ in range(6):  # passes, with the clock moved past each backoff
        c.dispatcher.run_once()
        clock.advance(timedelta(minutes=5))
    posted = slack.messages("C_WINS")
    assert [m["text"] for m in posted] == ["Ana closed Acme"]
    attempts = [x for x in slack.calls("chat.postMessage")]
    assert len(attempts) == 4  # three 500s, then the one that worked
    row = status(c, "win:1")
    assert row.status == "sent" and row.platform_ref == posted[0]["ts"] and row.platform_channel == "C_WINS"


def test_a_retry_waits_for_slacks_retry_after(c, slack, clock):
    slack.rate_limit_next("chat.postMessage", retry_after=30)
    enqueue(c, "rl:1")
    c.dispatcher.run_once()
    row = status(c, "rl:1")
    assert row.status == "pending"
    assert row.next_attempt_at >= clock.now() + timedelta(seconds=30)
    clock.advance(timedelta(seconds=29))
    assert c.dispatcher.run_once() == 0  # not yet
    clock.advance(timedelta(seconds=2))
    assert c.dispatcher.run_once() == 1
    assert len(slack.messages("C_WINS")) == 1


def test_a_message_to_a_channel_that_is_gone_is_marked_dead_and_counted(c, slack):
    slack.error_next("chat.postMessage", error="channel_not_found")
    enqueue(c, "gone:1")
    c.dispatcher.drain()
    row = status(c, "gone:1")
    assert row.status == "dead" and "channel_not_found" in row.last_error
    assert len(slack.calls("chat.postMessage")) == 1  # not retried
    assert b'smarketing_deliveries_total{outcome="dead",platform="slack"} 1.0' in c.metrics.render()


def test_a_bad_token_kills_the_message_instead_of_retrying_forever(make_container, slack):
    c = make_container(slack_mock=slack, slack_bot_token="xoxb-revoked")
    enqueue(c, "auth:1")
    c.dispatcher.drain()
    assert status(c, "auth:1").status == "dead"


def test_a_message_that_keeps_failing_is_given_up_after_the_attempt_limit(make_container, slack, clock):
    c = make_container(slack_mock=slack, delivery_max_attempts=3)
    slack.fail_next("chat.postMessage", status=503, times=20)
    enqueue(c, "flaky:1")
    for _ in range(5):
        c.dispatcher.run_once()
        clock.advance(timedelta(minutes=10))
    row = status(c, "flaky:1")
    assert row.status == "dead" and "gave up after 3 attempts" in row.last_error


def test_after_a_crash_mid_delivery_the_message_is_not_posted_twice(c, slack, clock):
    """Slack accepted the post but the worker died before recording it: the lease runs out, a new
    worker takes the message over, finds it in the channel by its metadata key and does not re-post."""
    slack.lose_answer_next("chat.postMessage")
    enqueue(c, "crash:1", "Celebrate once")
    c.dispatcher.run_once()  # the answer is lost: a retry is scheduled
    assert len(slack.messages("C_WINS")) == 1
    clock.advance(timedelta(minutes=10))
    c.dispatcher.run_once()
    assert [m["text"] for m in slack.messages("C_WINS")] == ["Celebrate once"]
    assert status(c, "crash:1").status == "sent"


def test_a_claim_left_by_a_dead_worker_is_taken_over_when_its_lease_ends(c, slack, clock):
    enqueue(c, "lease:1")
    with c.uow_factory() as uow:  # another worker claims it and then dies
        claimed = uow.outbox.claim(worker="dead-worker", now=clock.now(), lease=timedelta(minutes=2))
        uow.commit()
    assert [r.key for r in claimed] == ["lease:1"]
    assert c.dispatcher.run_once() == 0  # still leased
    clock.advance(timedelta(minutes=3))
    assert c.dispatcher.run_once() == 1
    assert len(slack.messages("C_WINS")) == 1


def test_posts_to_one_channel_are_spaced_a_second_apart(make_container, slack, clock):
    c = make_container(slack_mock=slack, delivery_channel_interval=1.0)
    for i in range(3):
        enqueue(c, f"burst:{i}", f"m{i}")
    enqueue(c, "other:1", "elsewhere", destination=channel("sales"))
    c.dispatcher.run_once()
    assert [m["text"] for m in slack.messages("C_WINS")] == ["m0"]
    assert len(slack.messages("C_SALES")) == 1  # another channel is not held up
    clock.advance(timedelta(seconds=1))
    c.dispatcher.run_once()
    clock.advance(timedelta(seconds=1))
    c.dispatcher.run_once()
    assert [m["text"] for m in slack.messages("C_WINS")] == ["m0", "m1", "m2"]


def test_a_direct_message_finds_the_person_in_slack_by_email(c, slack):
    with c.uow_factory() as uow:
        ana = uow.people.by_key("ana")
    enqueue(c, "dm:1", "psst", destination=dm(ana.id))
    c.dispatcher.drain()
    assert [m["text"] for m in slack.messages("D_ANA")] == ["psst"]
    assert len(slack.calls("users.lookupByEmail")) == 1
    enqueue(c, "dm:2", "again", destination=dm(ana.id))
    c.dispatcher.drain()
    assert len(slack.calls("users.lookupByEmail")) == 1  # remembered


def test_an_update_replaces_the_posted_message_in_place(c, slack):
    enqueue(c, "orig:1", "Lead cooling")
    c.dispatcher.drain()
    with c.uow_factory() as uow:
        uow.outbox.add(key="upd:1", op="update", target_key="orig:1", destination=channel("wins"),
                       payload=Message(text="Followed up by Ana").to_json(), at=c.deps.now())
        uow.commit()
    c.dispatcher.drain()
    assert [m["text"] for m in slack.messages("C_WINS")] == ["Followed up by Ana"]
    assert status(c, "orig:1").payload["text"] == "Followed up by Ana"


def test_the_running_dispatcher_delivers_pending_work_after_a_restart(make_container, slack):
    first = make_container(slack_mock=slack)
    enqueue(first, "restart:1", "queued before the restart")
    first.close()  # stopped before it delivered anything
    second = make_container(slack_mock=slack)
    second.dispatcher.start(poll=0.05)
    slack.wait_for("chat.postMessage", 1)
    second.dispatcher.stop()
    assert [m["text"] for m in slack.messages("C_WINS")] == ["queued before the restart"]


def test_drain_beside_the_running_loop_returns_only_once_the_loops_delivery_is_recorded(c, slack):
    import threading

    arrived, release = slack.hold_next("chat.postMessage")
    enqueue(c, "slow:1", "Ana closed Acme")
    c.dispatcher.start(poll=0.05)
    try:
        assert arrived.wait(10)  # the loop has claimed the message and Slack is answering slowly
        drained = threading.Event()
        threading.Thread(target=lambda: (c.dispatcher.drain(), drained.set()), daemon=True).start()
        assert not drained.wait(0.3)  # drain waits for the loop's pass rather than reporting "done"
        release.set()
        assert drained.wait(10)
        assert status(c, "slow:1").status == "sent"  # recorded by the time drain returned
        assert [m["text"] for m in slack.messages("C_WINS")] == ["Ana closed Acme"]
    finally:
        release.set()
        c.dispatcher.stop()
