"""Candidate files in and out: write candidates (.csv or .xlsx, atomically) and read back a reviewed file."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write_bytes
from ..errors import LedgerIssue
from ..load import sniff_delimiter
from ..safety import FORMULA_TRIGGERS, NEUTRALISING_PREFIX, xlsx_safe_value
from .candidates import CANDIDATE_COLUMNS, STATUS, STATUSES
from .text import ArticleError, decode_article

CANDIDATE_SHEET = "candidates"
CANDIDATE_SUFFIXES = (".csv", ".xlsx")


class ReviewFileError(ArticleError):
    """The reviewed file cannot be read; reported as a message."""


@dataclass(frozen=True)
class ReviewedRow:
    """A row of the reviewed file with its spreadsheet row number (header = 1)."""

    number: int
    cells: dict[str, str]


def candidates_bytes(rows: list[dict[str, str]], suffix: str) -> bytes:
    """The candidate file's content: UTF-8 CSV with a BOM (Excel shows accents right) or an .xlsx workbook."""
    if suffix == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(CANDIDATE_COLUMNS), extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: inert(str(row.get(c, ""))) for c in CANDIDATE_COLUMNS})
        return buffer.getvalue().encode("utf-8-sig")
    if suffix == ".xlsx":
        from openpyxl import Workbook
        from openpyxl.worksheet.datavalidation import DataValidation

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = CANDIDATE_SHEET
        for number, values in enumerate([list(CANDIDATE_COLUMNS)] + [[str(r.get(c, "")) for c in CANDIDATE_COLUMNS]
                                         for r in rows], start=1):
            for position, value in enumerate(values, start=1):
                text_cell(sheet, number, position, value)
        if rows:
            choice = DataValidation(type="list", formula1='"' + ",".join(STATUSES) + '"', allow_blank=False)
            sheet.add_data_validation(choice)
            choice.add(f"A2:A{len(rows) + 1}")
        sheet.freeze_panes = "B2"
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()
    raise ReviewFileError(f"candidates are written as .csv or .xlsx, not {suffix!r}")


def inert(text: str) -> str:
    """A CSV cell Excel will not run as a formula (a quote from an article may start with '=' or '-')."""
    return NEUTRALISING_PREFIX + text if text.startswith(FORMULA_TRIGGERS) else text


def restore(text: str) -> str:
    """Undo inert() when reading a reviewed CSV back."""
    if text.startswith(NEUTRALISING_PREFIX) and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def text_cell(sheet, row: int, column: int, value: str) -> None:
    """Write an Excel cell as text: never a formula, a float (253150) or a date (2012-07)."""
    cell = sheet.cell(row=row, column=column)
    cell.value = xlsx_safe_value(value)  # an article's stray control character must not break the file
    cell.data_type = "s"
    cell.number_format = "@"


def write_candidates(path: Path, rows: list[dict[str, str]]) -> None:
    """Write the candidate file atomically."""
    path = Path(path)
    atomic_write_bytes(path, candidates_bytes(rows, path.suffix.lower()))


def read_reviewed(path: Path) -> tuple[list[ReviewedRow], list[LedgerIssue]]:
    """Rows of a reviewed candidate file with their row numbers, and issues for a malformed file or status."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CANDIDATE_SUFFIXES:
        raise ReviewFileError(f"{path.name}: a reviewed file is .csv or .xlsx, not {suffix or '(none)'!r}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ReviewFileError(f"{path}: no such file") from exc
    except OSError as exc:
        raise ReviewFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    table = _csv_table(raw, path.name) if suffix == ".csv" else _xlsx_table(raw, path.name)
    if not table or not any(c.strip() for c in table[0]):
        raise ReviewFileError(f"{path.name}: the file is empty; it needs the header row the extractor wrote")
    header = [c.strip().lower() for c in table[0]]
    issues: list[LedgerIssue] = []
    missing = [c for c in (STATUS, "id", "amount") if c not in header]
    if missing:
        raise ReviewFileError(f"{path.name}: column(s) {', '.join(missing)} missing; is this a file written by "
                              "'python -m etl extract'?")
    rows = []
    for number, record in enumerate(table[1:], start=2):
        cells = {name: (record[i] if i < len(record) else "") for i, name in enumerate(header) if name}
        if suffix == ".csv":
            cells = {name: restore(value) for name, value in cells.items()}
        if not any(v.strip() for v in cells.values()):
            continue
        status = cells[STATUS].strip().lower()
        if status not in STATUSES:
            issues.append(LedgerIssue(path.name, number, STATUS, cells[STATUS], "status_unknown",
                                      f"expected one of: {' | '.join(STATUSES)}"))
        cells[STATUS] = status
        rows.append(ReviewedRow(number, cells))
    return rows, issues


def _csv_table(raw: bytes, name: str) -> list[list[str]]:
    text = decode_article(raw, name)
    try:
        return [row for row in csv.reader(io.StringIO(text), delimiter=sniff_delimiter(text))]
    except csv.Error as exc:
        raise ReviewFileError(f"{name}: the CSV cannot be parsed ({exc})") from exc


def _xlsx_table(raw: bytes, name: str) -> list[list[str]]:
    from ..load import excel_cell_text  # one rendering of typed Excel cells for ledgers and reviewed files
    from python_calamine import CalamineWorkbook

    from ..xlsx_guard import guarded_sheet

    def chosen(names: list[str]) -> str | None:
        return next((n for n in names if n.strip().lower() == CANDIDATE_SHEET), names[0] if names else None)

    guarded, problems = guarded_sheet(raw, name, chosen)
    if problems:
        raise ReviewFileError(f"{name}: {problems[0].message}")
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(raw))
    except Exception as exc:  # calamine has its own error type for every kind of broken workbook
        raise ReviewFileError(f"{name}: not a readable .xlsx workbook ({type(exc).__name__})") from exc
    names = workbook.sheet_names
    if not names:
        raise ReviewFileError(f"{name}: the workbook has no sheets")
    sheet = chosen(names)
    if guarded is None or sheet != guarded.name:  # only the sheet the guard measured may be read
        raise ReviewFileError(f"{name}: the workbook's sheet list is inconsistent: save it again from Excel")
    return [[excel_cell_text(c) for c in row] for row in workbook.get_sheet_by_name(sheet).to_python()]
