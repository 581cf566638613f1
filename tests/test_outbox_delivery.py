"""Outbox delivery to Slack (the local stand-in): nothing lost, nothing said twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.messages import Message, Section
from handlers.ports import channel, dm


def enqueue(c, key: str, text: str = "hello", destination: str = channel("wins")) -> None:
    with c.uow_factory() as uow:
        assert uow.outbox.add(
            key=key,
            destination=destination,
            payload=Message(text=text, blocks=[Section(text=text)]).to_json(),
            at=c.deps.now(),
        )
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
        assert (
            uow.outbox.add(key="k1", destination=channel("wins"), payload={"text": "again"}, at=c.deps.now()) is False
        )
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
        uow.outbox.add(
            key="upd:1",
            op="update",
            target_key="orig:1",
            destination=channel("wins"),
            payload=Message(text="Followed up by Ana").to_json(),
            at=c.deps.now(),
        )
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


# --- every way a delivery can fail, by design (issue: nothing lost, nothing said twice) ----------


@pytest.fixture
def slack_on_test_time(slack, clock):
    """Slack stamps messages with the test's clock (strictly increasing), as it would with ours."""
    slack.clock = lambda: clock.now().timestamp()
    yield slack
    import time

    slack.clock = time.time


def other_posts(slack, channel_id: str, n: int) -> None:
    """People and other apps posting in a busy channel."""
    from slack_sdk import WebClient

    client = WebClient(token="xoxb-test", base_url=slack.base_url)
    for i in range(n):
        client.chat_postMessage(channel=channel_id, text=f"chatter {i}")


def texts(slack, channel_id: str, key_prefix: str = "") -> list[str]:
    return [
        m["text"]
        for m in slack.messages(channel_id)
        if ((m.get("metadata") or {}).get("event_payload") or {}).get("key", "").startswith(key_prefix)
    ]


def test_a_post_whose_answer_was_lost_is_found_in_a_busy_channel_by_searching_from_the_attempt(
    c, slack_on_test_time, clock
):
    """The check reads the history from the attempt's start, page by page: 315 newer posts do not
    hide the first one, and it is not posted again."""
    slack = slack_on_test_time
    other_posts(slack, "C_WINS", 250)  # the channel's older history: not read
    clock.advance(timedelta(minutes=5))
    slack.lose_answer_next("chat.postMessage")
    enqueue(c, "busy:1", "Ana closed Acme")
    attempt = clock.now()
    c.dispatcher.run_once()  # posted, but the answer never came back
    other_posts(slack, "C_WINS", 315)
    clock.advance(timedelta(minutes=1))
    c.dispatcher.run_once()
    assert texts(slack, "C_WINS", "busy:") == ["Ana closed Acme"]
    searches = slack.successful_calls("conversations.history")
    assert len(searches) == 2 and all(s["channel"] == "C_WINS" for s in searches)
    assert {float(s["oldest"]) for s in searches} == {(attempt - timedelta(seconds=60)).timestamp()}
    assert searches[1]["cursor"]  # the second page, where the post is
    [posted] = [m for m in slack.messages("C_WINS") if m["text"] == "Ana closed Acme"]
    row = status(c, "busy:1")
    assert row.status == "sent" and row.platform_ref == posted["ts"]


def test_when_the_search_itself_fails_the_message_waits_and_is_not_posted_blind(c, slack_on_test_time, clock):
    slack = slack_on_test_time
    slack.lose_answer_next("chat.postMessage")
    enqueue(c, "blind:1", "Celebrate once")
    c.dispatcher.run_once()
    slack.fail_next("conversations.history", status=500, times=3)  # 500 to the check and its 2 quick retries
    clock.advance(timedelta(minutes=1))
    c.dispatcher.run_once()
    assert len(slack.successful_calls("chat.postMessage")) == 1  # no second post
    row = status(c, "blind:1")
    assert row.status == "pending" and "500" in row.last_error
    clock.advance(timedelta(minutes=1))
    c.dispatcher.run_once()  # the search works now and finds it
    assert texts(slack, "C_WINS") == ["Celebrate once"] and status(c, "blind:1").status == "sent"


def test_a_post_reset_before_slack_acted_is_searched_for_then_posted_once(c, slack_on_test_time, clock):
    slack = slack_on_test_time
    slack.reset_next("chat.postMessage")
    enqueue(c, "reset:1", "Once")
    c.dispatcher.run_once()
    assert slack.messages("C_WINS") == [] and status(c, "reset:1").attempt_started_at is not None
    clock.advance(timedelta(minutes=1))
    c.dispatcher.run_once()
    assert texts(slack, "C_WINS") == ["Once"]
    assert len(slack.successful_calls("conversations.history")) == 1  # it looked before posting


def test_a_429_on_a_post_is_known_not_to_have_posted_and_does_not_count_as_an_attempt(c, slack, clock):
    slack.rate_limit_next("chat.postMessage", retry_after=5)
    enqueue(c, "rl:2")
    c.dispatcher.run_once()
    row = status(c, "rl:2")
    assert row.status == "pending" and row.attempts == 0 and row.attempt_started_at is None
    clock.advance(timedelta(seconds=6))
    c.dispatcher.run_once()
    assert len(slack.messages("C_WINS")) == 1
    assert slack.calls("conversations.history") == []  # nothing to look for


def test_a_reaction_that_fails_after_the_post_never_causes_a_second_post(c, slack):
    from handlers.messages import Message as Msg

    slack.reset_next("reactions.add", times=3)  # the reaction and its two quick retries
    with c.uow_factory() as uow:
        uow.outbox.add(
            key="tada:1",
            destination=channel("wins"),
            at=c.deps.now(),
            payload=Msg(text="A win", blocks=[Section(text="A win")], reaction="tada").to_json(),
        )
        uow.commit()
    c.dispatcher.drain()
    assert texts(slack, "C_WINS") == ["A win"] and len(slack.calls("chat.postMessage")) == 1
    row = status(c, "tada:1")
    assert row.status == "sent" and row.attempts == 1
    assert b'smarketing_delivery_side_effect_failures_total{platform="slack",what="reaction"} 1.0' in c.metrics.render()


def test_a_failed_look_up_by_email_keeps_the_dm_waiting_instead_of_calling_the_person_unknown(c, slack, clock):
    with c.uow_factory() as uow:
        ana = uow.people.by_key("ana")
    slack.fail_next("users.lookupByEmail", status=500, times=3)
    enqueue(c, "dm:lookup", "psst", destination=dm(ana.id))
    c.dispatcher.run_once()
    row = status(c, "dm:lookup")
    assert row.status == "pending" and row.attempt_started_at is None  # nothing was posted
    slack.rate_limit_next("users.lookupByEmail", retry_after=30)
    clock.advance(timedelta(minutes=1))
    c.dispatcher.run_once()
    assert status(c, "dm:lookup").next_attempt_at >= clock.now() + timedelta(seconds=30)
    clock.advance(timedelta(minutes=1))
    c.dispatcher.run_once()
    assert texts(slack, "D_ANA") == ["psst"] and status(c, "dm:lookup").status == "sent"
    with c.uow_factory() as uow:
        assert uow.people.by_key("ana").slack_user_id == "U_ANA"


def test_someone_slack_says_is_not_there_gets_no_dm_and_the_message_is_dead(c, slack):
    with c.uow_factory() as uow:
        diego = uow.people.by_key("diego")  # not in the stand-in's directory
    enqueue(c, "dm:nobody", "psst", destination=dm(diego.id))
    c.dispatcher.drain()
    row = status(c, "dm:nobody")
    assert row.status == "dead" and "is not in Slack" in row.last_error


def test_a_claim_whose_lease_ran_out_is_not_posted_by_the_worker_that_lost_it(make_container, slack, clock):
    """A worker slow on one message keeps another claimed past its lease; the other replica takes
    that one over and posts it; the first checks its claim right before posting, and lets it go."""
    import threading

    slow = make_container(slack_mock=slack, delivery_workers=1, delivery_lease=60)
    other = make_container(slack_mock=slack)
    with slow.uow_factory() as uow:
        ana = uow.people.by_key("ana")
    enqueue(slow, "lease:dm", "first", destination=dm(ana.id))
    enqueue(slow, "lease:sales", "second", destination=channel("sales"))
    lookup, let_lookup_go = slack.hold_next("users.lookupByEmail")
    post, let_post_go = slack.hold_next("chat.postMessage")
    done = threading.Event()
    threading.Thread(target=lambda: (slow.dispatcher.run_once(), done.set()), daemon=True).start()
    assert lookup.wait(10)  # "slow" claimed both and is busy with the first (Slack answers slowly)
    clock.advance(timedelta(seconds=30))
    let_lookup_go.set()
    assert post.wait(10)  # the first's post began at +30 s: its claim runs to +90 s
    clock.advance(timedelta(seconds=40))  # +70 s: the claim on the second (to +60 s) ran out
    assert other.dispatcher.run_once() == 1  # the other replica takes the second over, posts it
    let_post_go.set()
    assert done.wait(10)
    assert texts(slack, "C_SALES") == ["second"] and texts(slack, "D_ANA") == ["first"]
    assert status(slow, "lease:sales").status == "sent" and status(slow, "lease:dm").status == "sent"


def test_posts_to_one_channel_keep_their_order_through_failures_and_retries(c, slack, clock):
    slack.faults(0.3, seed=3, methods=["chat.postMessage", "conversations.history"])
    for i in range(40):
        enqueue(c, f"order:{i:02d}", f"post {i:02d}")
    for _ in range(400):
        c.dispatcher.drain()
        with c.uow_factory() as uow:
            if uow.outbox.counts().get("pending", 0) == 0:
                break
        clock.advance(timedelta(seconds=5))
    slack.faults(0)
    assert sum(slack.fault_counts.values()) >= 10
    assert texts(slack, "C_WINS") == [f"post {i:02d}" for i in range(40)]


def test_replicas_share_a_channels_pace(make_container, slack, clock):
    a = make_container(slack_mock=slack, delivery_channel_interval=1.0)
    b = make_container(slack_mock=slack, delivery_channel_interval=1.0)
    for i in range(3):
        enqueue(a, f"pace:{i}", f"m{i}")
    assert a.dispatcher.run_once() == 1
    assert b.dispatcher.run_once() == 0  # the other replica waits for the channel's slot too
    clock.advance(timedelta(seconds=1))
    assert b.dispatcher.run_once() == 1 and a.dispatcher.run_once() == 0
    assert texts(slack, "C_WINS") == ["m0", "m1"]


def hold(c, key: str, text: str, destination: str, until) -> None:
    """Queue a post the delivery policy held for the reader's next opening (quiet hours)."""
    with c.uow_factory() as uow:
        assert uow.outbox.add(
            key=key,
            destination=destination,
            not_before=until,
            payload=Message(text=text, blocks=[Section(text=text)]).to_json(),
            at=c.deps.now(),
        )
        uow.commit()


def test_a_post_held_for_quiet_hours_does_not_hold_up_an_urgent_one_queued_after_it(c, slack, clock):
    with c.uow_factory() as uow:
        ana = uow.people.by_key("ana")
    hold(c, "held:1", "a warning for the morning", dm(ana.id), clock.now() + timedelta(hours=12))
    enqueue(c, "urgent:1", "hot lead breached", destination=dm(ana.id))
    c.dispatcher.drain()
    assert [m["text"] for m in slack.messages("D_ANA")] == ["hot lead breached"]
    assert status(c, "held:1").status == "pending"
    clock.advance(timedelta(hours=12))
    c.dispatcher.drain()
    assert [m["text"] for m in slack.messages("D_ANA")] == ["hot lead breached", "a warning for the morning"]


def test_the_dispatcher_wakes_for_a_held_post_when_its_time_comes(c, clock):
    hold(c, "held:2", "morning", channel("wins"), clock.now() + timedelta(hours=3))
    with c.uow_factory() as uow:
        due, next_at = uow.outbox.due_heads(now=clock.now(), limit=10)
    assert due == [] and next_at == clock.now() + timedelta(hours=3)


def test_an_update_of_a_held_post_changes_it_before_it_goes_out_once(c, slack, clock):
    hold(c, "held:3", "Lead cooling: no follow-up", channel("wins"), clock.now() + timedelta(hours=2))
    with c.uow_factory() as uow:
        uow.outbox.add(
            key="held:3:v2",
            op="update",
            target_key="held:3",
            destination=channel("wins"),
            payload=Message(text="Followed up by Ana").to_json(),
            at=c.deps.now(),
        )
        assert uow.outbox.updates_queued_here() == {"held:3": Message(text="Followed up by Ana").to_json()}
        uow.commit()
    enqueue(c, "after:3", "a later post")
    c.dispatcher.drain()
    assert texts(slack, "C_WINS") == ["a later post"]  # the update waits in no queue
    clock.advance(timedelta(hours=2))
    c.dispatcher.drain()
    assert texts(slack, "C_WINS") == ["a later post", "Followed up by Ana"]
    assert slack.calls("chat.update") == []


def test_a_retry_keeps_its_place_in_its_channels_order(c, slack, clock):
    slack.fail_next("chat.postMessage", status=500, times=1)
    enqueue(c, "first:4", "first")
    c.dispatcher.run_once()  # fails: retried later
    enqueue(c, "second:4", "second")
    c.dispatcher.drain()
    assert texts(slack, "C_WINS") == []
    clock.advance(timedelta(minutes=5))
    c.dispatcher.drain()
    assert texts(slack, "C_WINS") == ["first", "second"]
