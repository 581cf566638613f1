"""Nothing lost, nothing said twice, in order: the real server under faults, kill -9 and replicas.

A CI-sized run of ``tests/chaos.py``: signed CRM events in, 20% of Slack calls failing (500, 429
with Retry-After, resets before and after Slack acted), the server killed mid-delivery three
times. ``bench/bench_delivery_chaos.py`` is the long run (2,000 events, two replicas)."""

from __future__ import annotations

import pytest

from tests.chaos import ChaosRun

pytestmark = pytest.mark.slow


def test_under_faults_and_kill_9_every_post_reaches_slack_once_and_in_order(engine, database_url, tmp_path):
    report = ChaosRun(database_url, tmp_path, events=120, kills=3, fault_rate=0.2, seed=7).run()
    print(report.summary())
    assert report.kills == ["held-act", "held-reset", "random"]
    assert sum(report.faults.values()) > 20  # the faults really happened, of every kind
    assert all(report.faults[k] for k in ("500", "429", "reset_before", "reset_after"))
    assert report.queued_posts == report.expected_posts
    assert report.lost == []
    assert report.doubled == {}
    assert report.out_of_order == {}
    assert report.unknown == []
    assert report.delivered == report.expected_posts


def test_two_replicas_killed_in_turn_still_post_everything_once_and_in_order(engine, database_url, tmp_path):
    if not database_url.startswith("postgres"):
        pytest.skip("replicas share a PostgreSQL database; SQLite is for one process")
    report = ChaosRun(database_url, tmp_path, replicas=2, events=120, kills=3, fault_rate=0.2, seed=11).run()
    print(report.summary())
    assert len(report.kills) == 3
    assert report.lost == [] and report.doubled == {} and report.out_of_order == {} and report.unknown == []
    assert report.delivered == report.queued_posts == report.expected_posts
