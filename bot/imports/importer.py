"""The spreadsheet importer: a file's rows, in batches, through the product's own event path.

Each row becomes one CRM event (``bot/imports/kinds.py``), validated by ``validate_events``
and ingested by ``handlers.ingest.ingest_events`` under the source ``import``, so every flow
reacts to an imported row exactly as to the same event from the webhook (a qualified lead hands
off, a won deal is celebrated, ...). Per batch (``batch_size`` rows, one transaction):

1. rows with a problem (a bad date or amount, an unknown owner, a repeated id, ...) are left
   out and reported (row, column, value, problem); the good rows go on;
2. the batch's campaign and lead references are resolved and what it would change is planned
   (created, updated, unchanged) — a dry run stops here;
3. the batch is ingested in one transaction: all of it or none of it. Should that fail (the
   database went away), the import stops there; rows before were loaded in whole batches, and
   running it again loads the rest (loaded rows are recognised by their event ids).

The file is streamed (``bot/imports/read.py``) and batches are bounded, so memory stays flat
whatever the file's size; only the ids seen so far are kept, to report repeated ones.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import SQLAlchemyError

from bot.imports import headers as H
from bot.imports.kinds import KINDS, Context, Kind, Row, team_dates
from bot.imports.read import FileProblem, Sheet, is_blank, open_sheet
from bot.imports.values import Dates, People, day_order_hint, shown, text
from handlers.errors import UserError
from handlers.events import validate_events
from handlers.imports import CREATED, SOURCE, UNCHANGED, UPDATED, plan, resolve
from handlers.ingest import ingest_events
from handlers.money import is_currency

log = logging.getLogger(__name__)

BATCH = 2000
SINGULAR = {"leads": "lead", "deals": "deal", "campaigns": "campaign", "touches": "touch", "schedule": "schedule item"}
DATE_FIELDS = {"deals": ("closed_at",), "touches": ("touched_at",), "schedule": ("start", "end")}


class ImportProblem(ValueError):
    """The import cannot start (the file, its columns or an option); nothing was written."""


@dataclass
class Options:
    kind: str | None = None
    overrides: dict[str, str | None] = field(default_factory=dict)  # --map: header -> field (None: leave out)
    dry_run: bool = False
    order: str | None = None  # "dmy" (--dayfirst), "mdy" (--monthfirst), None: from the file, else refuse
    timezone: str | None = None  # naive times (default: the sales team's; schedule rows: their team's)
    currency: str | None = None  # amounts with no currency of their own (default: wins.currency)
    team: str | None = None  # schedule rows with no team column
    sheet: str | None = None  # XLSX: which sheet (default: the first)
    batch_size: int = BATCH


@dataclass
class RowError:
    row: int
    column: str
    value: str
    problem: str
    id: str = ""

    FIELDS = ("row", "id", "column", "value", "problem")

    def as_dict(self) -> dict:
        return {"row": self.row, "id": self.id, "column": self.column, "value": self.value, "problem": self.problem}


@dataclass
class Report:
    file: str
    dry_run: bool
    format: str = ""
    kind: str = ""
    guessed_by: str = ""
    columns: list[tuple[str, str]] = field(default_factory=list)  # (header, field)
    extras: list[str] = field(default_factory=list)
    extras_kept: bool = False
    ignored: list[str] = field(default_factory=list)
    rows: int = 0  # data rows read (blank rows not counted)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> rows (deals not won)
    error_rows: int = 0
    problems: int = 0
    warnings: list[str] = field(default_factory=list)
    stopped: str | None = None

    @property
    def loaded(self) -> int:
        return self.created + self.updated + self.unchanged

    def counts(self) -> str:
        skipped = sum(self.skipped.values())
        if self.dry_run:
            text_ = (
                f"would create {self.created}, update {self.updated}, unchanged {self.unchanged}; "
                f"errors {self.error_rows}"
            )
        else:
            text_ = (
                f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}; errors {self.error_rows}"
            )
        if skipped:
            why = ", ".join(f"{n} {r}" for r, n in self.skipped.most_common(3))
            text_ += f"; skipped {skipped} ({why}{', …' if len(self.skipped) > 3 else ''})"
        return f"{self.kind}: {text_}"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "format": self.format,
            "kind": self.kind,
            "guessed_by": self.guessed_by,
            "dry_run": self.dry_run,
            "columns": [{"header": h, "field": f} for h, f in self.columns],
            "extras": self.extras,
            "extras_kept": self.extras_kept,
            "ignored": self.ignored,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": sum(self.skipped.values()),
            "error_rows": self.error_rows,
            "problems": self.problems,
            "warnings": self.warnings,
            "stopped": self.stopped,
            "summary": self.counts(),
        }


class _Stop(Exception):
    pass


class Importer:
    """Runs imports for one container (its registry, unit of work, clock and config)."""

    def __init__(self, *, registry, uow_factory, deps):
        self.registry = registry
        self.uow_factory = uow_factory
        self.deps = deps
        self.config = deps.config

    def run(
        self,
        path: Path,
        opts: Options,
        *,
        on_error: Callable[[RowError], None],
        on_start: Callable[[Report, Sheet], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
        filename: str | None = None,
    ) -> Report:
        """Import ``path``; problems with rows go to ``on_error``. Raises ``ImportProblem`` when the
        import cannot start (nothing is written then)."""
        path = Path(path)
        tz, currency = self._options(opts)
        try:
            sheet = open_sheet(path, opts.sheet)
        except FileProblem as e:
            raise ImportProblem(str(e)) from None
        try:
            try:
                if opts.kind:
                    if opts.kind not in H.KINDS:
                        raise H.MappingError(f"unknown kind {opts.kind!r}: use one of {', '.join(H.KINDS)}")
                    kind, why = opts.kind, "as given"
                else:
                    kind, why = H.guess_kind(sheet.headers, filename or path.name)
                mapping = H.build_mapping(sheet.headers, kind, opts.overrides, why)
            except H.MappingError as e:
                raise ImportProblem(str(e)) from None
            report = Report(
                file=filename or path.name,
                dry_run=opts.dry_run,
                format=sheet.format,
                kind=kind,
                guessed_by=why,
                columns=mapping.described(),
                extras=[sheet.headers[i] for i in mapping.extras],
                extras_kept=kind in H.EXTRAS_KEPT,
                ignored=[sheet.headers[i] for i in mapping.ignored],
            )
            order = opts.order or self._infer_order(path, opts.sheet, mapping, report)
            dates = Dates(tz, order)
            ctx = Context(
                dates=dates,
                people=People(self.config.people),
                now=self.deps.now(),
                default_currency=self.config.wins.currency,
                currency=currency,
                team=opts.team,
                team_dates=team_dates(self.config, order, tz if opts.timezone else None),
            )
            if report.extras:
                where = (
                    "kept as attributes of each lead"
                    if report.extras_kept
                    else f"ignored ({kind} have nowhere to keep them)"
                )
                report.warnings.insert(0, f"columns not recognised, {where}: {', '.join(report.extras)}")
            if on_start:
                on_start(report, sheet)
            try:
                self._rows(sheet, mapping, KINDS[kind], ctx, report, opts, on_error, on_progress)
            except FileProblem as e:  # the CSV broke off mid-way: what was read before is loaded
                report.stopped = str(e)
            except _Stop:
                pass
            return report
        finally:
            sheet.close()

    # -- options and the file's date order ------------------------------------------------------
    def _options(self, opts: Options) -> tuple[ZoneInfo, str | None]:
        name = opts.timezone or self.config.team_timezone("sales")
        try:
            tz = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ImportProblem(f"unknown timezone {name!r} (use an IANA name like America/New_York)") from None
        currency = opts.currency.upper() if opts.currency else None
        if currency and not is_currency(currency):
            raise ImportProblem(f"unknown currency {opts.currency!r} (use an ISO code like USD or EUR)")
        if opts.team and opts.team not in ("sales", "marketing"):
            raise ImportProblem("--team must be sales or marketing")
        if not 1 <= opts.batch_size <= 10_000:
            raise ImportProblem("the batch size must be between 1 and 10,000 rows")
        return tz, currency

    def _infer_order(self, path: Path, sheet_name: str | None, mapping: H.Mapping, report: Report) -> str | None:
        """Day or month first, from the file's own unambiguous dates (``23/11/2026`` shows day
        first): one streaming pass over the date columns. None when nothing shows it (ambiguous
        dates are then refused) or when both orders appear."""
        cols = [mapping.fields[f] for f in DATE_FIELDS.get(mapping.kind, ()) if f in mapping.fields]
        if not cols:
            return None
        seen: Counter = Counter()
        sheet = open_sheet(path, sheet_name)
        try:
            for _, cells in sheet.rows:
                for i in cols:
                    if i < len(cells) and (hint := day_order_hint(cells[i])):
                        seen[hint] += 1
        except FileProblem:
            pass
        finally:
            sheet.close()
        if seen["dmy"] and seen["mdy"]:
            report.warnings.append(
                "dates are written both day first and month first in this file; dates like "
                "03/04/2026 are refused (pass --dayfirst or --monthfirst)"
            )
            return None
        if seen["dmy"] or seen["mdy"]:
            order = "dmy" if seen["dmy"] else "mdy"
            example = "23/11/2026" if order == "dmy" else "11/23/2026"
            report.warnings.append(
                f"dates like 03/04/2026 are read {'day' if order == 'dmy' else 'month'} first, "
                f"as this file writes its clear ones ({example})"
            )
            return order
        return None

    # -- rows -----------------------------------------------------------------------------------
    def _rows(
        self,
        sheet: Sheet,
        mapping: H.Mapping,
        kind: Kind,
        ctx: Context,
        report: Report,
        opts: Options,
        on_error,
        on_progress,
    ) -> None:
        fields = list(mapping.fields.items())
        extras = [(i, sheet.headers[i]) for i in mapping.extras] if report.extras_kept else []
        first_row: dict[str, int] = {}  # id -> the row it was first seen on
        batch: list[Row] = []
        derived = 0
        for number, cells in sheet.rows:
            if is_blank(cells):
                continue
            report.rows += 1
            n = len(cells)
            raw = {f: (cells[i] if i < n else None) for f, i in fields}
            row = Row(number)
            kind.parse(row, raw, ctx)
            row.values["_cells"] = raw
            if extras:
                row.extras = {h: v for i, h in extras if i < n and (v := text(cells[i]))}
            first = first_row.setdefault(row.id, number) if row.id else number
            if row.problems:
                self._fail(row, mapping, report, on_error)
                continue
            if row.skip:
                report.skipped[row.skip] += 1
                continue
            if first != number:
                row.problems.append(("id", row.id, _duplicate(mapping, row, first)))
                self._fail(row, mapping, report, on_error, column=_id_column(mapping, row))
                continue
            derived += row.derived_id
            batch.append(row)
            if len(batch) >= opts.batch_size:
                self._flush(batch, mapping, kind, ctx, report, opts, on_error)
                batch = []
                if on_progress:
                    on_progress(sheet.position())
        if batch:
            self._flush(batch, mapping, kind, ctx, report, opts, on_error)
        if on_progress:
            on_progress(sheet.position())
        if derived:
            report.warnings.append(_derived_note(mapping))

    def _fail(self, row: Row, mapping: H.Mapping, report: Report, on_error, column: str | None = None) -> None:
        report.error_rows += 1
        for name, value, problem in row.problems:
            report.problems += 1
            on_error(
                RowError(row.number, column or mapping.header(name) or f"({name})", shown(value), problem, id=row.id)
            )

    def _flush(
        self, batch: list[Row], mapping: H.Mapping, kind: Kind, ctx: Context, report: Report, opts: Options, on_error
    ) -> None:
        campaign_refs = {r for row in batch if (r := kind.campaign_ref(row))}
        lead_refs = {r for row in batch if (r := kind.lead_ref(row))}
        with self.uow_factory() as uow:
            refs = resolve(uow, campaigns=campaign_refs, leads=lead_refs)
            campaigns = {ref: refs.campaigns.get(ref, ref) for ref in campaign_refs}
            built: list[tuple[Row, dict]] = []
            for row in batch:
                ref = kind.lead_ref(row)
                if ref and ref not in refs.leads:
                    row.problems.append(
                        (
                            "lead_id" if row.values.get("lead_id") else "email",
                            ref,
                            f"no lead {ref!r} here: import the leads first",
                        )
                    )
                    self._fail(row, mapping, report, on_error)
                    continue
                built.append((row, kind.event(row, campaigns, refs.leads, ctx)))
            events, problems = validate_events([e for _, e in built])
            if problems:
                bad: dict[int, list] = {}
                for p in problems:
                    bad.setdefault(p.index, []).append(p)
                for index, found in bad.items():
                    row = built[index][0]
                    cells = row.values["_cells"]
                    for p in found:
                        name = kind.field_of(p.field)
                        value = (
                            cells.get(name)
                            if name in cells
                            else (
                                " ".join(text(cells.get(f)) for f in ("first_name", "last_name"))
                                if name == "name"
                                else ""
                            )
                        )
                        row.problems.append((name, value, p.problem))
                    self._fail(row, mapping, report, on_error)
                built = [b for i, b in enumerate(built) if i not in bad]
                events, problems = validate_events([e for _, e in built])
                assert not problems, problems
            statuses = plan(uow, events, SOURCE)
        if not opts.dry_run and events:
            try:
                ingest_events(self.registry, self.uow_factory, self.deps, events, source=SOURCE)
            except (UserError, SQLAlchemyError) as e:
                reason = e.text if isinstance(e, UserError) else f"the database refused the batch ({type(e).__name__})"
                if not isinstance(e, UserError):
                    log.exception("import: a batch failed")
                report.stopped = (
                    f"stopped at row {batch[0].number}: {reason}. Nothing of that batch was written; "
                    "the rows before it were loaded. Run the import again to load the rest "
                    "(rows already loaded are recognised)."
                )
                raise _Stop from None
        for status in statuses.values():
            if status == CREATED:
                report.created += 1
            elif status == UPDATED:
                report.updated += 1
            elif status == UNCHANGED:
                report.unchanged += 1


def _id_column(mapping: H.Mapping, row: Row) -> str:
    if not row.derived_id:
        return mapping.header("id")
    return {"leads": mapping.header("email"), "campaigns": mapping.header("name")}.get(mapping.kind, "(row)")


def _duplicate(mapping: H.Mapping, row: Row, first: int) -> str:
    if not row.derived_id:
        return f"duplicate id, first seen on row {first}"
    if mapping.kind == "leads":
        return f"duplicate email (the file has no ids, so the email is the lead's id), first seen on row {first}"
    if mapping.kind == "campaigns":
        return f"duplicate campaign name (the file has no ids), first seen on row {first}"
    return f"the same row as row {first}"


def _derived_note(mapping: H.Mapping) -> str:
    if mapping.kind == "leads":
        return "no id column: leads are known by their email (a lead's id is its email)"
    if mapping.kind == "campaigns":
        return "no id column: campaigns are known by their name"
    return (
        f"no id column: each {SINGULAR[mapping.kind]} is known by its content, so an edited row is "
        "imported as a new one"
    )
