"""Operations: health, metrics, the CLI, and request ids in the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_healthz_reports_the_database_and_adapters(make_container, live_server):
    app = live_server(make_container())
    with app.client() as http:
        resp = http.get("/healthz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["ok"] is True and body["database"] is True and body["adapters"]["dispatcher"] is True


def test_healthz_is_503_when_the_dispatcher_is_not_running(make_container, live_server):
    app = live_server(make_container())
    app.container.dispatcher.stop()
    with app.client() as http:
        resp = http.get("/healthz")
    assert resp.status_code == 503 and resp.json()["ok"] is False


def test_metrics_are_prometheus_text_with_requests_and_outbox_depth(make_container, live_server):
    app = live_server(make_container())
    with app.client() as http:
        http.get("/healthz")
        resp = http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert 'smarketing_requests_total{route="/healthz",status="200"} 1.0' in text
    assert "smarketing_outbox_messages" in text
    assert "smarketing_deliveries_total" in text or "smarketing_deliveries" in text


def test_every_response_carries_a_request_id_that_the_log_line_names(make_container, live_server, caplog):
    app = live_server(make_container())
    caplog.set_level("INFO")
    with app.client() as http:
        resp = http.get("/healthz", headers={"X-Request-Id": "req-abc123"})
    assert resp.headers["x-request-id"] == "req-abc123"
    assert any("GET /healthz -> 200" in r.getMessage() for r in caplog.records)


def run_cli(*args: str, env_over: dict | None = None, tmp_path=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_"))}
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db" if tmp_path else "sqlite:///./cli-test.db")
    env.update(env_over or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_manifest_declares_the_command_scopes_events_and_interactivity(tmp_path):
    out = run_cli("manifest", "--url", "https://bot.example.com", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)
    assert m["features"]["slash_commands"][0]["command"] == "/smarketing"
    assert m["features"]["slash_commands"][0]["url"] == "https://bot.example.com/slack/events"
    hint = m["features"]["slash_commands"][0]["usage_hint"]  # what Slack's autocomplete shows
    assert {"help", "leads", "touch", "bounce", "sla", "prefs"} <= {w for w in hint.replace("|", " ").split()}
    assert {"chat:write", "commands", "users:read.email"} <= set(m["oauth_config"]["scopes"]["bot"])
    assert "app_mention" in m["settings"]["event_subscriptions"]["bot_events"]
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["socket_mode_enabled"] is False


def test_manifest_without_a_url_is_for_socket_mode(tmp_path):
    m = json.loads(run_cli("manifest", tmp_path=tmp_path).stdout)
    assert m["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in m["settings"]["event_subscriptions"]


def test_migrate_builds_the_schema_and_is_idempotent(tmp_path):
    first = run_cli("migrate", tmp_path=tmp_path)
    again = run_cli("migrate", tmp_path=tmp_path)
    assert first.returncode == 0 and again.returncode == 0
    assert "up to date" in again.stdout


def test_running_an_unknown_job_names_the_known_ones(tmp_path):
    out = run_cli("jobs", "run", "nope", tmp_path=tmp_path)
    assert out.returncode == 2
    assert "no job named 'nope'" in out.stderr


def test_a_broken_config_stops_the_bot_with_the_file_key_and_problem(tmp_path):
    cfg = tmp_path / "acme.yaml"
    cfg.write_text("channels: {wins: {}}\nteams:\n  sales: {channel: wins, timezone: Mars/Olympus}\n")
    out = run_cli("check-config", env_over={"SMARKETING_CONFIG": str(cfg)}, tmp_path=tmp_path)
    assert out.returncode == 2
    assert f"config error in {cfg}" in out.stderr
    assert "teams.sales.timezone: unknown timezone 'Mars/Olympus'" in out.stderr


def test_serving_the_local_workspace_on_a_public_address_is_refused(tmp_path):
    out = run_cli("serve", env_over={"HOST": "0.0.0.0"}, tmp_path=tmp_path)
    assert out.returncode == 2
    assert "Refusing to serve the local workspace on HOST=0.0.0.0" in out.stderr
