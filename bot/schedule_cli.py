"""``python -m bot import-ical FILE --team marketing``: a team's calendar into the weekly schedule.

Occurrences from the start of this week (in the team's timezone) to ``--weeks`` weeks ahead are
imported; running it again with the same file changes nothing, and occurrences the file no longer
has are removed. Owners of new conflicts are told (delivered at once unless ``--no-deliver``).
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers.events import SCHEDULE_KINDS


def register(subparsers) -> dict:
    p = subparsers.add_parser("import-ical", help="import a team's calendar (.ics) into the weekly schedule")
    p.add_argument("file", help="an .ics file")
    p.add_argument("--team", required=True, choices=["sales", "marketing"])
    p.add_argument("--owner", metavar="EMAIL", help="owner of every item (default: each event's organizer)")
    p.add_argument(
        "--kind",
        choices=SCHEDULE_KINDS,
        default="other",
        help="kind of events whose CATEGORIES name none (default: other)",
    )
    p.add_argument(
        "--regions",
        default="",
        help="comma-separated regions for every item (events may add their own as CATEGORIES region:EMEA)",
    )
    p.add_argument("--weeks", type=int, default=12, help="how many weeks ahead to import (default 12)")
    p.add_argument("--no-deliver", action="store_true", help="leave delivering warnings to the serving process")
    return {"import-ical": run}


def run(args, settings) -> int:
    from bot.app import build
    from bot.ical import CalendarError, read_calendar
    from handlers import schedule_rules as rules
    from handlers.schedule import import_calendar

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as e:
        print(f"cannot read {path}: {e.strerror}", file=sys.stderr)
        return 2
    if not 1 <= args.weeks <= 104:
        print("--weeks must be between 1 and 104", file=sys.stderr)
        return 2
    container = build(settings)
    try:
        if args.team not in container.config.teams:
            print(f"no team {args.team!r} in the config (teams: {', '.join(container.config.teams)})", file=sys.stderr)
            return 2
        tz = ZoneInfo(container.config.team_timezone(args.team))
        now = container.deps.now()
        start = rules.week_window(rules.monday_of(now.astimezone(tz).date()), tz)[0]
        end = start + timedelta(weeks=args.weeks)
        try:
            found = read_calendar(
                data,
                start=start,
                end=end,
                tz=tz,
                kind=args.kind,
                regions=[r for r in args.regions.split(",")],
                owner_email=args.owner.lower() if args.owner else None,
            )
        except CalendarError as e:
            print(f"cannot import {path}: {e}", file=sys.stderr)
            return 2
        print(
            f"{path.name}: {len(found.rows)} occurrences of {len(found.uids)} events between "
            f"{start.astimezone(tz):%d %b %Y} and {end.astimezone(tz):%d %b %Y} ({tz.key})"
            + (f", {found.skipped} cancelled" if found.skipped else ""),
            flush=True,
        )
        with container.uow_factory() as uow:
            saved = import_calendar(
                uow, container.deps, found.rows, team=args.team, uids=found.uids, window=(start, end)
            )
        print(
            f"imported into {args.team}'s schedule: {saved.new} new, {saved.updated} updated, "
            f"{saved.unchanged} unchanged, {saved.removed} removed; "
            + (f"{len(saved.conflicts)} conflict(s), both owners told" if saved.conflicts else "no conflicts"),
            flush=True,
        )
        if not args.no_deliver and saved.conflicts:
            container.dispatcher.drain()
        return 0
    finally:
        container.close()
