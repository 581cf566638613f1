"""``python -m bot hubspot check|import|sync|poll``."""

from __future__ import annotations

import sys
from datetime import date, datetime, timezone


def register(sub) -> dict:
    p = sub.add_parser("hubspot", help="HubSpot: check the token, import the quarter, read waiting changes")
    cmds = p.add_subparsers(dest="hubspot_cmd", required=True)
    cmds.add_parser("check", help="what the access token can read, and which scopes are missing")
    imp = cmds.add_parser(
        "import", help="import owners, campaigns, contacts and won deals (resumable; a second run changes nothing)"
    )
    imp.add_argument(
        "--since",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="contacts changed and deals closed since this day (default: the quarter's first day)",
    )
    imp.add_argument("--restart", action="store_true", help="start over instead of resuming an unfinished import")
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")
    cmds.add_parser("sync", help="read the changes HubSpot's webhooks queued, now")
    cmds.add_parser("poll", help="poll HubSpot's search API for changes once")
    return {"hubspot": run}


def run(args, settings) -> int:
    from bot.app import build
    from bot.connectors.base import quarter_start

    if not settings.hubspot_access_token:
        print(
            'HubSpot is not configured: set HUBSPOT_ACCESS_TOKEN (see the README, "Connecting HubSpot")',
            file=sys.stderr,
        )
        return 2
    container = build(settings)
    try:
        connector = container.extras["hubspot"]
        if args.hubspot_cmd == "check":
            report = connector.check()
            for line in report.lines():
                print(line)
            if report.ok:
                print("HubSpot: OK")
            return 0 if report.ok else 1
        if args.hubspot_cmd == "import":
            report = connector.check()
            if report.error:
                print(report.error, file=sys.stderr)
                return 1
            since = (
                datetime.combine(args.since, datetime.min.time(), tzinfo=timezone.utc)
                if args.since
                else quarter_start(container.deps.now())
            )
            result = connector.run_import(
                connector.import_stages(since),
                since=since.date().isoformat(),
                restart=args.restart,
                progress=not args.no_progress,
            )
            for line in result.lines("HubSpot"):
                print(line)
            return 0
        if args.hubspot_cmd == "sync":
            print(f"HubSpot: {connector.sync()} change(s) read")
            return 0
        if args.hubspot_cmd == "poll":
            print(f"HubSpot: {connector.poll_once()} record(s) read")
            return 0
        return 2
    finally:
        container.close()
