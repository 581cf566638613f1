"""Reading a CSV or XLSX file row by row, never whole: memory stays flat whatever its size.

CSV with the standard library: the encoding is UTF-8 (with or without a byte-order mark),
UTF-16 with a byte-order mark (Excel's "Unicode text"), else Windows-1252 / Latin-1; the
delimiter (``,`` ``;`` tab ``|``) is sniffed, and Excel's ``sep=;`` first line is honoured.
XLSX with openpyxl in read-only mode (rows streamed from the sheet's XML). The first non-empty
row is the header. Row numbers are the ones a spreadsheet shows (the header's row, then each row
after it, blank ones counted), so an error can be found in Excel by its number.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

SAMPLE = 64 * 1024
DELIMITERS = ",;\t|"
csv.field_size_limit(10 * 1024 * 1024)  # one cell up to 10 MB (a long note), not the 128 kB default


class FileProblem(ValueError):
    """The file as a whole cannot be read; the message says why."""


@dataclass
class Sheet:
    """A file's header and a stream of its rows."""

    name: str
    headers: list[str]
    rows: Iterator[tuple[int, list[Any]]]  # (row number, cells)
    total: int | None  # progress total: bytes (CSV) or rows (XLSX), when known
    unit: str  # "B" or "rows"
    position: Callable[[], int]  # progress so far, in ``unit``
    close: Callable[[], None]
    format: str  # "CSV (utf-8, ',')" or "XLSX (sheet 'Leads')"


class _Counting(io.RawIOBase):
    """A raw file that counts the bytes read through it (the CSV progress bar)."""

    def __init__(self, f):
        self.f = f
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self.f.readinto(b)
        self.count += n or 0
        return n

    def close(self) -> None:
        self.f.close()
        super().close()


def _encoding(path: Path) -> str:
    """The file's encoding, checking the whole file for UTF-8 in chunks (a Latin-1 character on
    row 90,000 would otherwise fail the import there)."""
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := f.read(1 << 20):
                if b"\x00" in chunk:
                    raise FileProblem("this is not a text CSV file (it has NUL bytes): save it as CSV or XLSX")
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
        f.seek(0)
        try:
            decoder = codecs.getincrementaldecoder("cp1252")()
            while chunk := f.read(1 << 20):
                decoder.decode(chunk)
            return "cp1252"
        except UnicodeDecodeError:
            return "latin-1"


def _open_text(path: Path, encoding: str) -> tuple[_Counting, io.TextIOWrapper]:
    raw = _Counting(open(path, "rb"))
    return raw, io.TextIOWrapper(io.BufferedReader(raw, 1 << 16), encoding=encoding, newline="")


def _dialect(sample: str) -> str:
    first = sample.split("\n", 1)[0]
    try:
        d = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
        if d in first:
            return d
    except csv.Error:
        pass
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def is_blank(cells: list[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _headers(cells: list[Any]) -> list[str]:
    out: list[str] = []
    seen: dict[str, int] = {}
    for c in cells:
        h = ("" if c is None else str(c)).strip().lstrip("\ufeff")
        if h:
            seen[h] = seen.get(h, 0) + 1
            if seen[h] > 1:
                h = f"{h} ({seen[h]})"
        out.append(h)
    while out and not out[-1]:
        out.pop()
    return out


def open_csv(path: Path) -> Sheet:
    encoding = _encoding(path)
    raw, text = _open_text(path, encoding)
    sample = text.read(SAMPLE)
    text.close()
    skip_first = False
    first_line = sample.split("\n", 1)[0].strip().strip('"')
    if first_line.lower().startswith("sep=") and len(first_line) == 5:  # Excel's delimiter hint
        delimiter, skip_first = first_line[4], True
    else:
        delimiter = _dialect(sample)
    raw, text = _open_text(path, encoding)
    reader = csv.reader(text, delimiter=delimiter)
    number = 0
    if skip_first:
        next(reader, None)
        number += 1
    try:
        for cells in reader:
            number += 1
            if not is_blank(cells):
                headers = _headers(cells)
                break
        else:
            text.close()
            raise FileProblem("the file is empty: no header row")
    except csv.Error as e:
        text.close()
        raise FileProblem(f"not a readable CSV file ({e})") from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        n = number
        try:
            for cells in reader:
                n += 1
                yield n, cells
        except csv.Error as e:
            raise FileProblem(f"row {n + 1}: the CSV is malformed ({e}); nothing after row {n} was read") from None

    size = path.stat().st_size
    shown = {"\t": "tab", ",": "','", ";": "';'", "|": "'|'"}[delimiter] if delimiter in DELIMITERS else repr(delimiter)
    return Sheet(
        path.name, headers, rows(), size, "B", lambda: raw.count, text.close, f"CSV ({encoding}, delimiter {shown})"
    )


def open_xlsx(path: Path, sheet: str | None = None) -> Sheet:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise FileProblem(f"not a readable XLSX workbook ({type(e).__name__}: {e})") from None
    if sheet is not None and sheet not in wb.sheetnames:
        wb.close()
        raise FileProblem(f"no sheet {sheet!r} in the workbook (sheets: {', '.join(wb.sheetnames)})")
    ws = wb[sheet] if sheet else wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    number = 0
    headers: list[str] | None = None
    for cells in it:
        number += 1
        if not is_blank(list(cells)):
            headers = _headers(list(cells))
            break
    if not headers:
        wb.close()
        raise FileProblem(f"sheet {ws.title!r} is empty: no header row")
    read = [number]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for cells in it:
            read[0] += 1
            yield read[0], list(cells)

    total = ws.max_row if isinstance(ws.max_row, int) and ws.max_row > 1 else None
    return Sheet(path.name, headers, rows(), total, "rows", lambda: read[0], wb.close, f"XLSX (sheet {ws.title!r})")


def open_sheet(path: Path, sheet: str | None = None) -> Sheet:
    """The file's header and rows: XLSX when it is one (by content, not name), else CSV."""
    try:
        with open(path, "rb") as f:
            magic = f.read(8)
    except OSError as e:
        raise FileProblem(f"cannot read {path}: {e.strerror}") from None
    if magic.startswith(b"PK\x03\x04"):
        return open_xlsx(path, sheet)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileProblem("this is an old Excel .xls workbook: save it as .xlsx or .csv and import that")
    if sheet is not None:
        raise FileProblem("--sheet is for XLSX workbooks; this file is CSV")
    return open_csv(path)
