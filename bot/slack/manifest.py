"""The Slack app manifest (``python -m bot manifest``): paste it at api.slack.com/apps."""

from __future__ import annotations

from bot.slack.app import EVENTS

BOT_SCOPES = [
    "chat:write",  # post wins, alerts, digests
    "chat:write.public",  # post to public channels without being invited first
    "commands",  # /smarketing
    "reactions:write",  # the celebration reaction
    "users:read",
    "users:read.email",  # match CRM owners to Slack users by email
    "usergroups:read",  # who is in sales and marketing (teams.<team>.members.slack_usergroup)
    "im:write",  # open DMs for alerts
    "im:history",  # read DMs sent to the bot (commands by DM)
    "channels:history",  # find a post after a lost answer (dedupe on retry)
    "groups:history",
    "app_mentions:read",
    "files:write",  # upload the weekly scoreboard chart (files.getUploadURLExternal / completeUploadExternal)
]


def manifest(name: str = "Smarketing Bot", url: str | None = None) -> dict:
    """With ``url`` the app uses HTTP (``<url>/slack/events``); without it, Socket Mode."""
    events_url = f"{url.rstrip('/')}/slack/events" if url else None
    command = {
        "command": "/smarketing",
        "description": "Leads, wins, bounce-backs and the week ahead",
        "usage_hint": "help | leads | touch <lead> | bounce <lead> [reason] | won <deal> <amount> | schedule | sla | prefs",
        "should_escape": False,
    }
    settings: dict = {
        "event_subscriptions": {
            "bot_events": sorted(
                {e if e != "message" else "message.im" for e in EVENTS} - {"tokens_revoked", "app_uninstalled"}
            )
        },
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": url is None,
        "token_rotation_enabled": False,
    }
    if events_url:
        command["url"] = events_url
        settings["event_subscriptions"]["request_url"] = events_url
        settings["interactivity"]["request_url"] = events_url
    return {
        "display_information": {
            "name": name[:35],
            "description": "Keeps sales and marketing in step",
            "background_color": "#1d4ed8",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name[:80], "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": settings,
    }
