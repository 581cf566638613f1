"""``python -m bot demo``: load the demo company and move the local workspace's simulated clock.

    python -m bot demo --days 1      # a day passes: leads cool and escalate, the jobs run
    python -m bot demo --hours 3
    python -m bot demo --monday      # on to next Monday 09:00: the weekly digests

It works on the same database as ``python -m bot`` (a running server catches up with the moved
clock within a second) and prints what the bot posted meanwhile.
"""

from __future__ import annotations

import sys
from datetime import timedelta


def register(sub) -> dict:
    p = sub.add_parser(
        "demo",
        help="local workspace: load the demo company and move the simulated clock",
        description="Load the demo company into an empty database, move the simulated clock "
        "forward (running the scheduled jobs on the way) and deliver what the bot "
        "posts; prints what was posted.",
    )
    p.add_argument("--days", type=float, default=0, help="days to move forward")
    p.add_argument("--hours", type=float, default=0, help="hours to move forward")
    p.add_argument("--monday", action="store_true", help="move on to next Monday 09:00 (the weekly digests)")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    return {"demo": run}


def run(args, settings) -> int:
    from bot.app import build
    from bot.local import clock, demo_data
    from bot.local.workspace import LocalWorkspace

    if args.days < 0 or args.hours < 0:
        print("--days and --hours move time forward; give positive numbers", file=sys.stderr)
        return 2
    if not settings.local_enabled:
        # Moving the clock and delivering locally would swallow a real deployment's messages.
        print(
            "The demo runs only in the local workspace, and Slack or Teams credentials are configured. "
            "Unset them (or set LOCAL_WORKSPACE=true with a separate DATABASE_URL) to run it.",
            file=sys.stderr,
        )
        return 2
    container = build(settings)
    try:
        ws = LocalWorkspace(container)
        clock.restore(container)
        with container.uow_factory() as uow:
            start_cursor = uow.outbox.feed_cursor()
        loaded = demo_data.ensure(container)
        if loaded is not None:
            print(
                f"demo company loaded: {loaded.accepted} CRM events"
                + (f"; not handled yet by any flow: {', '.join(sorted(loaded.skipped))}" if loaded.skipped else "")
            )
        delta = timedelta(days=args.days, hours=args.hours)
        if args.monday:
            now = container.deps.now()
            delta = clock.next_monday(now, [tc.timezone for tc in container.config.teams.values()]) - now
        before = container.deps.now()
        if delta > timedelta(0):
            try:
                result = clock.advance(
                    container, delta, each_step=container.dispatcher.drain, life=clock.living(container)
                )
            except ValueError as e:
                print(str(e), file=sys.stderr)
                return 2
            jobs = ", ".join(f"{n}: {d}" for n, d in sorted(result.jobs.items())) or "no jobs registered"
            print(f"simulated time: {_fmt(before)} -> {_fmt(result.end)} ({result.steps} steps; jobs done: {jobs})")
            if clock.told(result):
                print(clock.told(result))
            for name, error in sorted(result.failed.items()):
                print(f"  job {name} failed: {error}", file=sys.stderr)
        else:
            print(f"simulated time: {_fmt(before)} ({clock.describe(container)['ahead']})")
        container.dispatcher.drain()
        _report(container, ws, start_cursor, quiet=args.quiet)
        return 0
    finally:
        container.close()


def _fmt(at) -> str:
    return at.strftime("%a %d %b %Y %H:%M UTC")


def _report(container, ws, after: int, *, quiet: bool) -> None:
    """What the bot posted since ``after``, by conversation."""
    posted: list = []
    cursor = after
    while True:
        with container.uow_factory() as uow:
            rows = list(uow.outbox.since(cursor, limit=500, ops=("post",)))
        if not rows:
            break
        posted.extend(r for r in rows if r.status == "sent")
        cursor = rows[-1].id
    print(f"{len(posted)} new message(s) posted" + (": open http://127.0.0.1:3000 to see them" if posted else ""))
    if quiet or not posted:
        return
    with container.uow_factory() as uow:
        names = {p.id: p.name for p in uow.people.all()}
    for row in posted[-40:]:
        kind, _, name = row.destination.partition(":")
        where = f"#{name}" if kind == "channel" else f"DM {names.get(int(name), name) if name.isdigit() else name}"
        print(f"  {where:<22} {ws.preview(row, names)}")
    if len(posted) > 40:
        print(f"  … and {len(posted) - 40} earlier")
