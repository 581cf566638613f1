"""Safe by default: the local workspace has no login, so it serves only on a loopback address and
never alongside real Slack or Teams credentials unless asked for."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import Settings
from tests.conftest import ROOT, make_settings


def clean_env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TEAMS_", "LOCAL_WORKSPACE", "ALLOW_REMOTE", "HOST", "PORT"))
    }
    env.update(extra)
    return env


def test_python_m_bot_on_a_public_host_without_permission_exits_with_a_clear_message(tmp_path):
    env = clean_env(HOST="0.0.0.0", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    proc = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Refusing to serve the local workspace on HOST=0.0.0.0" in proc.stderr
    assert "ALLOW_REMOTE_LOCAL_WORKSPACE=true" in proc.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching anything


@pytest.mark.parametrize(
    "values, enabled",
    [
        ({}, True),
        ({"slack_bot_token": "xoxb-1", "slack_signing_secret": "s"}, False),
        ({"slack_bot_token": "xoxb-1", "slack_app_token": "xapp-1"}, False),
        ({"teams_client_id": "app-id"}, False),
        ({"slack_bot_token": "xoxb-1", "slack_signing_secret": "s", "local_workspace": True}, True),
        ({"local_workspace": False}, False),
    ],
    ids=["no credentials", "slack http", "slack socket mode", "teams", "slack but asked for", "switched off"],
)
def test_the_local_workspace_runs_only_without_chat_credentials_unless_asked_for(values, enabled):
    assert Settings(_env_file=None, **values).local_enabled is enabled


@pytest.fixture
def served(monkeypatch, engine, database_url):
    """Run ``bot.cli.serve`` up to the point where uvicorn would start, and keep the app."""
    import uvicorn

    from bot import cli

    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append((app, kw)))

    def run(**over) -> tuple[int, object, dict]:
        settings = make_settings(database_url, demo_data=False, **over)
        code = cli.serve(settings)
        app, kw = apps[-1] if apps else (None, {})
        return code, app, kw

    return run


def paths(app) -> set[str]:
    return {getattr(r, "path", "") for r in app.routes}


def test_serve_mounts_the_page_when_no_chat_credentials_are_set(served):
    code, app, kw = served(local_workspace=None)
    assert code == 0
    assert {"/", "/local/api/command", "/local/static"} <= paths(app)
    assert kw["host"] == "127.0.0.1" and kw["port"] == 3000


def test_serve_leaves_the_page_out_when_slack_is_configured(served, slack):
    code, app, _ = served(
        local_workspace=None, slack_bot_token="xoxb-1", slack_signing_secret="s", slack_api_url=slack.base_url
    )
    assert code == 0
    assert "/" not in paths(app) and "/local/api/command" not in paths(app)
    assert "/slack/events" in paths(app)


def test_serve_mounts_the_page_next_to_slack_when_asked_for(served, slack):
    code, app, _ = served(
        local_workspace=True, slack_bot_token="xoxb-1", slack_signing_secret="s", slack_api_url=slack.base_url
    )
    assert code == 0 and "/" in paths(app) and "/slack/events" in paths(app)


def test_a_public_host_is_allowed_for_the_local_workspace_only_when_explicitly_allowed(served):
    refused, _, _ = served(local_workspace=None, host="0.0.0.0")
    allowed, app, kw = served(local_workspace=None, host="0.0.0.0", allow_remote_local_workspace=True)
    assert refused == 2
    assert allowed == 0 and kw["host"] == "0.0.0.0" and "/" in paths(app)


def test_a_public_host_is_fine_when_the_local_workspace_is_off(served, slack):
    code, app, kw = served(
        local_workspace=None,
        host="0.0.0.0",
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        slack_api_url=slack.base_url,
    )
    assert code == 0 and kw["host"] == "0.0.0.0" and "/" not in paths(app)
