"""``python -m bot salesforce check|import|poll``."""

from __future__ import annotations

import sys
from datetime import date, datetime, timezone


def register(sub) -> dict:
    p = sub.add_parser("salesforce", help="Salesforce: check the connection, import the quarter, poll once")
    cmds = p.add_subparsers(dest="salesforce_cmd", required=True)
    cmds.add_parser("check", help="sign in; what the integration user can read and write, missing fields, API usage")
    imp = cmds.add_parser(
        "import",
        help="import campaigns, leads, campaign members, won opportunities and "
        "completed tasks (Bulk API 2.0; resumable; a second run changes nothing)",
    )
    imp.add_argument(
        "--since",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="records changed (opportunities: closed) since this day (default: the quarter's first day)",
    )
    imp.add_argument("--restart", action="store_true", help="start over instead of resuming an unfinished import")
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")
    cmds.add_parser("poll", help="read what changed in Salesforce since the last poll, now")
    return {"salesforce": run}


def run(args, settings) -> int:
    from bot.app import build
    from bot.connectors.base import quarter_start
    from bot.connectors.salesforce.api import LimitExceeded, SalesforceError

    if not settings.salesforce_client_id:
        print(
            "Salesforce is not configured: set SALESFORCE_CLIENT_ID and its credentials (see the README, "
            '"Connecting Salesforce")',
            file=sys.stderr,
        )
        return 2
    container = build(settings)
    try:
        connector = container.extras["salesforce"]
        if args.salesforce_cmd == "check":
            report = connector.check()
            for line in report.lines():
                print(line)
            if report.ok:
                print("Salesforce: OK")
            return 0 if report.ok else 1
        if args.salesforce_cmd == "import":
            report = connector.check()
            if report.error:
                print(report.lines()[0], file=sys.stderr)
                return 1
            since = (
                datetime.combine(args.since, datetime.min.time(), tzinfo=timezone.utc)
                if args.since
                else quarter_start(container.deps.now())
            )
            try:
                result = connector.run_import(
                    connector.import_stages(since),
                    since=since.date().isoformat(),
                    restart=args.restart,
                    progress=not args.no_progress,
                )
            except LimitExceeded as e:
                print(
                    f"Salesforce import stopped: {e}. Run it again later: it goes on where it stopped.", file=sys.stderr
                )
                return 1
            except SalesforceError as e:
                print(f"Salesforce import stopped: {e}. Run it again: it goes on where it stopped.", file=sys.stderr)
                return 1
            for line in result.lines("Salesforce"):
                print(line)
            return 0
        if args.salesforce_cmd == "poll":
            print(f"Salesforce: {connector.poll_once()} record(s) read")
            return 0
        return 2
    finally:
        container.close()
