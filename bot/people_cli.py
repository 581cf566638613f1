"""``python -m bot people-sync [--source slack|teams|salesforce|hubspot]``: read the people now.

The nightly jobs read the Slack directory and its user groups, the Teams rosters and the CRM's users
once a day. After changing a user group, adding someone to a team or deactivating an account, an
admin need not wait for the night: this reads every configured source (or the ones named) at once,
applies it as the nightly sync would (people created, updated, linked, leavers and returners), and
says what changed. Messages it causes (a manager told someone left) are delivered before it ends.
"""

from __future__ import annotations

import sys

SOURCES = ("slack", "teams", "salesforce", "hubspot")


def register(subparsers) -> dict:
    p = subparsers.add_parser(
        "people-sync", help="read people now from the chat directory and the CRM (not waiting for the night)"
    )
    p.add_argument(
        "--source",
        choices=SOURCES,
        action="append",
        help="only this source (may be given more than once; default: every one configured)",
    )
    return {"people-sync": run}


def run(args, settings) -> int:
    from bot.app import build

    container = build(settings)
    try:
        config = container.config
        syncs = {
            "slack": (container.extras.get("slack_directory"), config.directory.slack, "SLACK_BOT_TOKEN"),
            "teams": (container.extras.get("teams_directory"), config.directory.teams, "TEAMS_CLIENT_ID"),
            "salesforce": (container.extras.get("salesforce"), True, "SALESFORCE_CLIENT_ID"),
            "hubspot": (container.extras.get("hubspot"), True, "HUBSPOT_ACCESS_TOKEN"),
        }
        wanted = args.source or [name for name, (source, on, _) in syncs.items() if source is not None and on]
        if not wanted:
            print(
                "No people source is configured: connect Slack or Teams, or a CRM (HubSpot, Salesforce), "
                "or list people in the config's people:.",
                file=sys.stderr,
            )
            return 2
        for name in wanted:
            source, on, setting = syncs[name]
            if source is None:
                print(f"{name}: not connected (set {setting}); nothing read", file=sys.stderr)
                return 2
            if not on:
                print(f"{name}: its directory sync is off in the config (directory.{name}: false); nothing read")
                continue
            print(f"{name}: {_sync(name, source)}", flush=True)
        sent = container.dispatcher.drain()
        print(f"delivery: {sent} message(s) handled")
        return 0
    finally:
        container.close()


def _sync(name: str, source) -> str:
    if name in ("slack", "teams"):
        return str(source.sync())
    if name == "salesforce":
        return f"{source.sync_people()} people changed from Salesforce users"
    return f"{len(source.owners(refresh=True))} HubSpot owners read"
