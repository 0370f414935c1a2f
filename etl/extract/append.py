"""Append reviewed candidates (status accepted) to a ledger: locked, validated like a build, written atomically.

Flow: lock the ledger (a lock file under the system temp folder, keyed by the ledger's resolved path, so no lock is
ever left in the ledger folder), build the combined ledger in memory (existing bytes kept as they are, new rows in
the file's own delimiter, line ending and column order), write it to a dot-named scratch copy, run
etl.pipeline.check on every ledger under the ledger folder with the copy standing in for the ledger, and only
without errors replace the ledger atomically. Issues in the new rows are reported against the reviewed file's
rows. Nothing is written when any error remains.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from ..atomic import atomic_write_bytes
from ..errors import ERROR, EtlError, LedgerIssue, sort_issues
from ..load import discover_ledgers, ledger_label, sniff_delimiter
from ..safety import XLSX_UNWRITABLE
from ..schema import LEDGER_COLUMNS, LEDGER_SHEET_NAME, LOOKUP_DIR, canonical_header, header_aliases
from .candidates import SOURCE_REQUIRED_NOTE, STATUS, STATUS_ACCEPTED
from .review import ReviewedRow, read_reviewed, text_cell

LOCK_TIMEOUT_SECONDS = 120
LEDGER_SUFFIXES = (".csv", ".xlsx")


@dataclass
class AppendResult:
    """What an append did: the ids it added (none when blocked) and every issue, mapped to the reviewed rows."""

    ledger: Path
    appended: list[str] = field(default_factory=list)
    issues: list[LedgerIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[LedgerIssue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.appended)


LOCK_DIR_NAME = "influence-ledger-locks"


def lock_path(ledger: Path) -> Path:
    """The lock file of a ledger, outside the ledger folder so it can never be committed with the ledgers.

    Keyed by a hash of the ledger's resolved path, so every process (command line, dashboard workers) that appends
    to the same file, under whatever relative path or symlink, takes the same lock; the name keeps the ledger's
    file name so a stale lock can be recognised by eye.
    """
    resolved = str(Path(ledger).resolve())
    digest = hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / LOCK_DIR_NAME
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{Path(ledger).name}.{digest}.lock"


def ledger_root(ledger: Path) -> Path:
    """The ledger folder a ledger belongs to: the nearest folder above it that holds lookups/, else its folder."""
    for folder in Path(ledger).resolve().parents:
        if (folder / LOOKUP_DIR.name).is_dir():
            return folder
    return Path(ledger).resolve().parent


def append_reviewed(reviewed: Path, ledger: Path, root: Path | None = None) -> AppendResult:
    """Append the accepted rows of a reviewed candidate file (.csv/.xlsx) to ledger."""
    rows, issues = read_reviewed(Path(reviewed))
    return append_rows(rows, Path(ledger), root, Path(reviewed).name, issues)


def append_rows(rows: list[ReviewedRow], ledger: Path, root: Path | None = None, reviewed_label: str = "reviewed",
                issues: list[LedgerIssue] | None = None) -> AppendResult:
    """Append the rows whose status is accepted; blocked (nothing written) by any error."""
    ledger = Path(ledger)
    root = Path(root) if root is not None else ledger_root(ledger)
    result = AppendResult(ledger, issues=list(issues or []))
    if ledger.suffix.lower() not in LEDGER_SUFFIXES:
        result.issues.append(LedgerIssue(ledger.name, None, "", "", "ledger_type", "a ledger is a .csv or .xlsx file"))
    accepted = [r for r in rows if r.cells.get(STATUS, "") == STATUS_ACCEPTED]
    if not accepted:
        result.issues.append(LedgerIssue(reviewed_label, None, STATUS, "", "nothing_accepted",
                                         "no row has status 'accepted': change the status of the rows to keep"))
    if result.errors:
        return result
    new_rows = [ledger_cells(r.cells) for r in accepted]
    try:
        with FileLock(str(lock_path(ledger)), timeout=LOCK_TIMEOUT_SECONDS):
            content, first_new_row, problems = combined_ledger(ledger, new_rows, accepted, reviewed_label)
            result.issues += problems
            if result.errors:
                return result
            found = _check_with(ledger, content, root)
            result.issues += remap_issues(found, ledger, root, first_new_row, accepted, reviewed_label)
            if result.errors:
                return result
            atomic_write_bytes(ledger, content)
    except Timeout:
        result.issues.append(LedgerIssue(ledger.name, None, "", "", "ledger_locked",
                                         "another append to this ledger is still running; try again in a minute"))
        return result
    result.appended = [row["id"] for row in new_rows]
    result.issues = sort_issues(result.issues)
    return result


def ledger_cells(cells: dict[str, str]) -> dict[str, str]:
    """The ledger columns of a reviewed row; the quote and citation are kept in notes, the review note dropped."""
    row = {c: str(cells.get(c, "") or "").strip() for c in LEDGER_COLUMNS}
    notes = "; ".join(part for part in (p.strip() for p in row["notes"].split(";"))
                      if part and part != SOURCE_REQUIRED_NOTE)
    quote = " ".join(str(cells.get("quote", "")).split())
    if quote and quote not in notes:
        citation = str(cells.get("citation", "")).strip()
        notes = (notes + " " if notes else "") + f"Quote{' ' + citation if citation else ''}: \"{quote}\""
    row["notes"] = notes
    return row


def combined_ledger(ledger: Path, new_rows: list[dict[str, str]], accepted: list[ReviewedRow],
                    reviewed_label: str) -> tuple[bytes, int, list[LedgerIssue]]:
    """The ledger's bytes with new_rows appended, the spreadsheet row number of the first new row, and issues."""
    if ledger.suffix.lower() == ".xlsx":
        return _combined_xlsx(ledger, new_rows, accepted, reviewed_label)
    return _combined_csv(ledger, new_rows, accepted, reviewed_label)


def _column_order(header: list[str], new_rows: list[dict[str, str]], accepted: list[ReviewedRow],
                  ledger_name: str, reviewed_label: str) -> tuple[list[str | None], list[LedgerIssue]]:
    """Ledger column per header cell (None for private or unknown columns) and issues for cells with no column."""
    aliases = header_aliases()
    order = [aliases.get(canonical_header(cell)) for cell in header]
    present = {c for c in order if c}
    issues = []
    for row, reviewed in zip(new_rows, accepted):
        for column in LEDGER_COLUMNS:
            if row[column] and column not in present:
                issues.append(LedgerIssue(reviewed_label, reviewed.number, column, row[column], "ledger_lacks_column",
                                          f"{ledger_name} has no {column!r} column: add the column to the ledger "
                                          "or clear this cell"))
    return order, issues


def _combined_csv(ledger: Path, new_rows: list[dict[str, str]], accepted: list[ReviewedRow],
                  reviewed_label: str) -> tuple[bytes, int, list[LedgerIssue]]:
    if ledger.exists():
        existing = ledger.read_bytes()
    else:
        existing = (",".join(LEDGER_COLUMNS) + "\n").encode("utf-8")
    try:
        text = existing.decode("utf-8-sig")
    except UnicodeDecodeError:
        return b"", 0, [LedgerIssue(ledger.name, None, "", "", "encoding",
                                    "the ledger is not UTF-8: save it as 'CSV UTF-8' first")]
    if not text.strip():
        return b"", 0, [LedgerIssue(ledger.name, None, "", "", "empty_file",
                                    "the ledger is empty: it needs a header row")]
    delimiter = sniff_delimiter(text)
    newline = "\r\n" if "\r\n" in text.split("\n", 1)[0] + "\n" else "\n"
    records = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    order, issues = _column_order(records[0], new_rows, accepted, ledger.name, reviewed_label)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    for row in new_rows:
        writer.writerow([row[c] if c else "" for c in order])
    lead = "" if text.endswith(("\n", "\r")) else newline
    return existing + (lead + buffer.getvalue()).encode("utf-8"), len(records) + 1, issues


def _combined_xlsx(ledger: Path, new_rows: list[dict[str, str]], accepted: list[ReviewedRow],
                   reviewed_label: str) -> tuple[bytes, int, list[LedgerIssue]]:
    from openpyxl import load_workbook

    if not ledger.exists():
        return b"", 0, [LedgerIssue(ledger.name, None, "", "", "no_ledger",
                                    "no such Excel ledger: create it with 'python -m etl template' first")]
    from ..load import ledger_sheet
    from ..xlsx_guard import guarded_sheet

    _, problems = guarded_sheet(ledger, ledger.name, ledger_sheet)
    if problems:
        return b"", 0, problems
    try:
        workbook = load_workbook(ledger)
    except Exception as exc:  # openpyxl raises many types for broken workbooks
        return b"", 0, [LedgerIssue(ledger.name, None, "", "", "unreadable",
                                    f"not a readable .xlsx workbook ({type(exc).__name__})")]
    sheet = next((workbook[n] for n in workbook.sheetnames if n.strip().lower() == LEDGER_SHEET_NAME),
                 workbook.worksheets[0])
    header = ["" if c.value is None else str(c.value) for c in sheet[1]]
    order, issues = _column_order(header, new_rows, accepted, ledger.name, reviewed_label)
    last = 1
    for line in sheet.iter_rows(min_row=1):
        if any(c.value not in (None, "") for c in line):
            last = line[0].row
    for row, reviewed in zip(new_rows, accepted):
        # A workbook cannot hold these characters; a CSV ledger can, and its check refuses them the same way.
        issues += [LedgerIssue(reviewed_label, reviewed.number, column, row[column], "control_character",
                               "the cell holds an invisible control character: delete it")
                   for column in LEDGER_COLUMNS if XLSX_UNWRITABLE.search(row[column])]
    for offset, row in enumerate(new_rows, start=1):
        for position, column in enumerate(order, start=1):
            if column and row[column]:
                text_cell(sheet, last + offset, position, row[column])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue(), last + 1, issues


def _check_with(ledger: Path, content: bytes, root: Path) -> list[LedgerIssue]:
    """etl.pipeline.check over every ledger under root, with a scratch copy of the combined ledger in its place."""
    from ..pipeline import check

    fd, name = tempfile.mkstemp(prefix=f".{ledger.name}.", suffix=ledger.suffix.lower(), dir=ledger.parent)
    scratch = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        target = ledger.resolve()
        paths = [scratch if p.resolve() == target else p for p in discover_ledgers(root)]
        if scratch not in paths:
            paths.append(scratch)
        try:
            return check(paths, root)
        except EtlError as exc:
            return [LedgerIssue(str(root), None, "", "", "lookup_invalid", str(exc))]
    finally:
        scratch.unlink(missing_ok=True)



def remap_issues(issues: list[LedgerIssue], ledger: Path, root: Path, first_new_row: int,
                 accepted: list[ReviewedRow], reviewed_label: str) -> list[LedgerIssue]:
    """Issues on the scratch copy point at the ledger (old rows) or the reviewed file (new rows)."""
    ledger_name = ledger_label(ledger, root)
    remapped = []
    for issue in issues:
        if not issue.file.split("/")[-1].startswith(f".{ledger.name}."):
            remapped.append(issue)
            continue
        file, row = ledger_name, issue.row
        if row is not None and row >= first_new_row and row - first_new_row < len(accepted):
            file, row = reviewed_label, accepted[row - first_new_row].number
        message = _unscratch(issue.message, ledger, ledger_name)
        remapped.append(LedgerIssue(file, row, issue.column, issue.value, issue.code, message, issue.severity))
    return [LedgerIssue(i.file, i.row, i.column, i.value, i.code, _unscratch(i.message, ledger, ledger_name),
                        i.severity) for i in remapped]


def _unscratch(message: str, ledger: Path, ledger_name: str) -> str:
    """Messages that cite the scratch copy ("already used at .x.csv.abc.csv:5") name the ledger instead."""
    return re.sub(r"(?:[\w./-]*/)?\." + re.escape(ledger.name) + r"\.\w+" + re.escape(ledger.suffix.lower()),
                  ledger_name, message)
