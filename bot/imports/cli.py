"""``python -m bot import FILE``: load a CSV or XLSX export (leads, deals, campaigns, touches,
schedule) through the product's own event path; ``--samples`` loads the demo CSVs."""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

from bot.imports.headers import FIELDS, KINDS

EPILOG = (
    'fields of each kind (for --map "Your header=field"):\n'
    + "\n".join(f"  {kind}: {', '.join(FIELDS[kind])}" for kind in KINDS)
    + """

examples:
  python -m bot import leads.csv --dry-run
  python -m bot import export.xlsx --kind deals --currency EUR --dayfirst
  python -m bot import contacts.csv --map "Lead Owner=owner_email" --map "Phone="
  python -m bot import --samples        # the demo CSVs, dated this week

exit status: 0 every row loaded; 1 some rows were not (see the errors file); 2 nothing was
imported (the file, its columns or an option is wrong)."""
)


def register(sub) -> dict:
    p = sub.add_parser(
        "import",
        help="load a CSV or XLSX export: leads, deals, campaigns, touches or schedule",
        description="Load a spreadsheet export (HubSpot, Salesforce, Pipedrive or your own columns) through the "
        "same events the CRM webhook takes: qualified leads hand off, won deals are celebrated, "
        "... Rows with a problem are left out and listed in an errors file; the others are loaded.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", nargs="?", help="a .csv or .xlsx file")
    p.add_argument("--kind", choices=KINDS, help="what the file holds (default: guessed from its name and columns)")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar='"HEADER=FIELD"',
        help='use column HEADER for FIELD (repeatable); "HEADER=" leaves the column out',
    )
    p.add_argument("--dry-run", action="store_true", help="check everything and say what would change; write nothing")
    p.add_argument(
        "--errors",
        metavar="FILE",
        help="where to write the rows' problems (default: <file name>.errors.csv here, when there are any)",
    )
    order = p.add_mutually_exclusive_group()
    order.add_argument(
        "--dayfirst", action="store_const", const="dmy", dest="order", help="read dates like 03/04/2026 as 3 April"
    )
    order.add_argument(
        "--monthfirst", action="store_const", const="mdy", dest="order", help="read dates like 03/04/2026 as March 4"
    )
    p.add_argument(
        "--timezone",
        help="timezone of times written without one (default: the sales team's; schedule rows: their team's)",
    )
    p.add_argument("--currency", help="currency of amounts written without one (default: the config's wins.currency)")
    p.add_argument("--team", choices=["sales", "marketing"], help="schedule: the team of rows without a team column")
    p.add_argument("--sheet", help="XLSX: the sheet to read (default: the first)")
    p.add_argument("--batch-size", type=int, default=2000, help="rows per transaction (default 2000)")
    p.add_argument(
        "--deliver",
        action="store_true",
        help="deliver the messages the import causes now (default: a running `python -m bot` does)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal anyway)")
    p.add_argument(
        "--samples",
        action="store_true",
        help="load the demo CSVs in docs/samples (campaigns, leads, touches, deals, schedule), dated this week",
    )
    return {"import": run}


def run(args, settings) -> int:
    from bot.app import build
    from bot.imports.headers import MappingError, parse_overrides
    from bot.imports.importer import Importer, ImportProblem, Options

    if bool(args.file) == bool(args.samples):
        print("give a file to import, or --samples (not both)", file=sys.stderr)
        return 2
    if args.samples and (args.kind or args.map):
        print("--samples loads five files of known kinds: --kind and --map do not apply", file=sys.stderr)
        return 2
    try:
        overrides = parse_overrides(args.map)
    except MappingError as e:
        print(str(e), file=sys.stderr)
        return 2
    if args.file and not Path(args.file).is_file():
        print(f"no file {args.file!r}", file=sys.stderr)
        return 2
    container = build(settings)
    try:
        if settings.local_enabled:  # the local workspace's simulated time, as the page shows it
            from bot.local import clock

            clock.restore(container)
        importer = Importer(registry=container.registry, uow_factory=container.uow_factory, deps=container.deps)
        with container.uow_factory() as uow:
            before = uow.outbox.last_id()
        opts = Options(
            kind=args.kind,
            overrides=overrides,
            dry_run=args.dry_run,
            order=args.order,
            timezone=args.timezone,
            currency=args.currency,
            team=args.team,
            sheet=args.sheet,
            batch_size=args.batch_size,
        )
        status = 0
        with tempfile.TemporaryDirectory(prefix="smarketing-samples-") as tmp:
            if args.samples:
                from bot.imports.samples import redated

                files = redated(Path(tmp), container.deps.now())
            else:
                files = [Path(args.file)]
            for path in files:
                try:
                    status = max(
                        status, _one(importer, path, opts, args, errors_path=None if args.samples else args.errors)
                    )
                except ImportProblem as e:
                    print(f"{path.name}: {e}", file=sys.stderr)
                    print("nothing was imported", file=sys.stderr)
                    return 2
        if not args.dry_run:
            with container.uow_factory() as uow:
                queued = uow.outbox.count_since(before)
            if queued and args.deliver:
                sent = container.dispatcher.drain(max_passes=10_000)
                print(f"{queued} message(s) from the import (hand-offs, celebrations, ...); {sent} delivered now")
            elif queued:
                print(
                    f"{queued} message(s) from the import (hand-offs, celebrations, ...) are queued: a running "
                    "`python -m bot` delivers them (or run again with --deliver)"
                )
        return status
    finally:
        container.close()


def _one(importer, path: Path, opts, args, errors_path: str | None) -> int:
    from tqdm import tqdm

    from bot.imports.importer import RowError

    sink = _ErrorsFile(Path(errors_path) if errors_path else Path(f"{path.stem}.errors.csv"))
    bar = None
    printed = 0

    def start(report, sheet):
        nonlocal bar, printed
        print(f"{report.file}: {report.format}; {report.kind} ({report.guessed_by})")
        print("  columns: " + ", ".join(f"{h} → {f}" for h, f in report.columns))
        if report.ignored:
            print("  left out (--map): " + ", ".join(report.ignored))
        for w in report.warnings:
            print(f"  note: {w}")
        printed = len(report.warnings)
        bar = tqdm(
            total=sheet.total,
            unit=sheet.unit,
            unit_scale=sheet.unit == "B",
            desc="  importing" if not opts.dry_run else "  checking",
            file=sys.stderr,
            leave=False,
            disable=True if args.no_progress else None,
        )

    def progress(position: int):
        if bar is not None:
            bar.update(max(0, position - bar.n))

    def error(e: RowError):
        sink.add(e)

    try:
        report = importer.run(path, opts, on_error=error, on_start=start, on_progress=progress)
    finally:
        if bar is not None:
            bar.close()
        sink.close()
    for w in report.warnings[printed:]:
        print(f"  note: {w}")
    print(("dry run, nothing written: " if opts.dry_run else "") + report.counts() + f" ({report.rows} rows read)")
    if sink.first:
        for e in sink.first:
            print(f"  row {e.row}, {e.column}: {e.problem}" + (f" ({e.value!r})" if e.value else ""))
        more = sink.count - len(sink.first)
        print(
            ("  … and " + str(more) + " more; all " if more > 0 else "  all ") + f"{sink.count} problem(s) are "
            f"in {sink.path} (row, id, column, value, problem)"
        )
    if report.stopped:
        print(report.stopped, file=sys.stderr)
        return 1
    return 1 if report.error_rows else 0


class _ErrorsFile:
    """The rows' problems as CSV (opened at the first one), and the first few to print."""

    SHOW = 10

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        self.first: list = []
        self._f = None
        self._w = None

    def add(self, e) -> None:
        if self._f is None:
            self._f = open(self.path, "w", newline="", encoding="utf-8")
            self._w = csv.writer(self._f)
            self._w.writerow(e.FIELDS)
        self._w.writerow([e.row, e.id, e.column, e.value, e.problem])
        self.count += 1
        if len(self.first) < self.SHOW:
            self.first.append(e)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
