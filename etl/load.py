"""Read ledgers (CSV or XLSX) as text, with each row's file and spreadsheet row number attached."""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from .errors import LedgerIssue
from .schema import (EXPORT_MARKER_COLUMNS, EXPORT_RAW_COLUMNS, LEDGER_COLUMNS, LEDGER_SHEET_NAME, REQUIRED_COLUMNS,
                     ROW_FILE, ROW_NUMBER, canonical_header, header_aliases)

LEDGER_SUFFIXES = (".csv", ".xlsx")
# Folders under ledgers/ that hold something other than ledgers.
NON_LEDGER_DIRS = ("lookups", "imports")
PRIVATE_COLUMN_PREFIXES = ("x_", "_")
TOTAL_ROW_WINDOW = 5
TOTAL_ROW_PATTERN = r"(?i)^\s*(?:grand\s+)?(?:total|sum|summe|totale?|subtotal)\b"


@dataclass
class LoadedLedger:
    """One ledger read as text: the frame (ledger columns + provenance) and what was wrong with the file."""

    path: Path
    label: str
    frame: pd.DataFrame
    issues: list[LedgerIssue] = field(default_factory=list)
    blank_rows: int = 0
    row_count: int | None = None  # kept when the cells are released

    @property
    def rows(self) -> int:
        return self.row_count if self.row_count is not None else len(self.frame)

    def release_cells(self) -> None:
        """Drop the cell text once it has been combined (keeps the row count): halves a large build's memory."""
        self.row_count = len(self.frame)
        # Built anew: a zero-length slice of an Arrow column still holds all of the column's buffers.
        self.frame = pd.DataFrame({column: pd.Series([], dtype=self.frame[column].dtype) for column in self.frame})


def discover_ledgers(root: Path) -> list[Path]:
    """Every ledger file under root, in a stable order (lookups, import sources and Excel lock files excluded)."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.suffix.lower() not in LEDGER_SUFFIXES or not path.is_file():
            continue
        if rel.parts[0] in NON_LEDGER_DIRS or path.name.startswith(("~$", ".")):
            continue
        found.append(path)
    return found


def ledger_label(path: Path, root: Path | None) -> str:
    """The name issues and the dataset use for a ledger: its path relative to ledgers/ when inside it."""
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def _lexically_inside(path: Path, root: Path) -> bool:
    try:
        Path(path).absolute().relative_to(Path(root).absolute())
        return True
    except ValueError:
        return False


def leaves_root(path: Path, root: Path) -> bool:
    """True for a path inside root (as written) that a symlink, of the file or of a folder on the way, leads out
    of root. A file named on the command line from elsewhere is not inside root to begin with."""
    if not _lexically_inside(path, root):
        return False
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return False
    except ValueError:
        return True


def read_ledger(path: Path, root: Path | None = None) -> LoadedLedger:
    """Read one ledger file; never raises on bad content, every problem becomes an issue."""
    label = ledger_label(path, root)
    suffix = path.suffix.lower()
    if root is not None and leaves_root(path, root):
        # The target is never opened, so nothing of it (not even a first line in an issue) reaches the output.
        return _failed(path, Path(path).absolute().relative_to(Path(root).absolute()).as_posix(),
                       "a link to a file outside the ledger folder: ledgers are read only from inside it; copy the "
                       "file in instead", "outside_ledgers")
    try:
        if suffix == ".csv":
            table, issues = _read_csv_cells(path, label)
        elif suffix == ".xlsx":
            table, issues = _read_xlsx_cells(path, label)
        else:
            return _failed(path, label, f"unsupported file type {suffix!r}: use .csv or .xlsx")
    except OSError as exc:
        return _failed(path, label, f"cannot read the file: {exc.strerror or exc}")
    if table is None:
        return LoadedLedger(path, label, _empty_frame(), issues)
    return _frame_from_table(path, label, table, issues)


def _failed(path: Path, label: str, message: str, code: str = "unreadable") -> LoadedLedger:
    return LoadedLedger(path, label, _empty_frame(), [LedgerIssue(label, None, "", "", code, message)])


def _empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype="str") for c in LEDGER_COLUMNS})
    frame[ROW_FILE] = pd.Series([], dtype="str")
    frame[ROW_NUMBER] = pd.Series([], dtype="int64")
    return frame


def _decode(raw: bytes, label: str) -> tuple[str | None, list[LedgerIssue]]:
    """Decode UTF-8 (with or without BOM); anything else is an issue naming the first bad line."""
    if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
        return None, [LedgerIssue(label, None, "", "", "encoding",
                                  "the file is UTF-16: save it as 'CSV UTF-8 (comma delimited)'")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        snippet = raw[max(0, exc.start - 20): exc.start + 20].decode("utf-8", "replace")
        return None, [LedgerIssue(label, line, "", snippet, "encoding",
                                  f"not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}): "
                                  "save the file as 'CSV UTF-8' (it may be Windows-1252 or Latin-1)")]


def sniff_delimiter(text: str | bytes) -> str:
    """';' when the header line has more semicolons than commas (European Excel exports), else ','."""
    newline = "\n" if isinstance(text, str) else b"\n"
    end = text.find(newline)
    header = text[: end if end >= 0 else len(text)]
    semicolon, comma = (";", ",") if isinstance(text, str) else (b";", b",")
    return ";" if header.count(semicolon) > header.count(comma) else ","


# Zip (an .xlsx or .docx), OLE (an old .xls), PDF and gzip files renamed to .csv.
BINARY_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF", b"\x1f\x8b")
BINARY_NULS = 8


def _looks_binary(raw: bytes) -> bool:
    """A binary file, not a CSV: a known signature, or NUL bytes all over its start (UTF-16 is told apart by its
    byte order mark). A stray NUL or two in a text file is reported on its cell instead."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return raw.startswith(BINARY_SIGNATURES) or raw.count(b"\x00", 0, 4096) > BINARY_NULS


def _read_csv_cells(path: Path, label: str) -> tuple[pd.DataFrame | None, list[LedgerIssue]]:
    raw = path.read_bytes()
    if not raw or raw.isspace():
        return None, [LedgerIssue(label, None, "", "", "empty_file", "the file is empty: it needs a header row")]
    if _looks_binary(raw):
        return None, [LedgerIssue(label, None, "", "", "not_text",
                                  "this is not a text CSV file (is it an Excel file renamed to .csv?)")]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode(raw, label)
    delimiter = sniff_delimiter(raw)
    # The C parser reads the bytes directly (no decoded copy); any bad byte falls back to _decode's message.
    try:
        table = pd.read_csv(io.BytesIO(raw), sep=delimiter, dtype="str", keep_default_na=False, header=None,
                            skip_blank_lines=False, engine="c", encoding="utf-8-sig", encoding_errors="strict")
        issues: list[LedgerIssue] = []
    except UnicodeDecodeError:
        return _decode(raw, label)
    except pd.errors.ParserError as exc:
        text, issues = _decode(raw, label)
        if text is None:
            return None, issues
        table, issues = read_ragged_csv(text, delimiter, label)
        unclosed = unclosed_quote_issues(str(exc), label)
        if table is None or unclosed:
            # Everything after an unclosed quote sits in one cell: counting its lines would only repeat the issue.
            return table, unclosed + issues
    except pd.errors.EmptyDataError:
        return None, [LedgerIssue(label, None, "", "", "empty_file", "the file is empty: it needs a header row")]
    return table, issues + physical_line_issues(raw, table, delimiter, label)


# pandas' C tokenizer names the record where a quote opened and the file ended before it closed.
_EOF_IN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


def unclosed_quote_issues(parser_message: str, label: str) -> list[LedgerIssue]:
    """The issue for a quote that never closes, from the CSV parser's message (none for other parse errors)."""
    found = _EOF_IN_QUOTE.search(parser_message)
    if found is None:
        return []
    # The tokenizer counts records from 0, at the start of the file (rows it was told to skip included).
    return [LedgerIssue(label, int(found.group(1)) + 1, "", "", "unclosed_quote",
                        "a quote (\") opens in this row and never closes, so every line below it would be read as "
                        "one cell: remove the stray quote, or close it")]


def _line_breaks(data: bytes) -> int:
    # \r\n, \r and \n each end a line, as the CSV parsers read them.
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def physical_line_issues(raw: bytes, table: pd.DataFrame, delimiter: str, label: str,
                         header: list[str] | None = None, lines_before: int = 0, first_row: int = 1
                         ) -> list[LedgerIssue]:
    """Check the records read against the file's physical lines: every line is a record or a line break inside a
    quoted cell. A quoted cell whose later lines look like ledger rows (about half the header's delimiters or more)
    is a stray quote that swallowed those rows; other line breaks in cells (an address, a note in paragraphs) are
    kept. Linear: the file's breaks are counted in C, the cells' by Arrow; only cells that look wrong are read in
    Python.

    For a ledger, table holds every record, the header first. A source table (the importer's) passes its header
    names, the lines above its first record (title lines and the header) and the spreadsheet row of that record.
    """
    lines = _line_breaks(raw) + (0 if raw.endswith((b"\n", b"\r")) else 1) - lines_before
    if lines == len(table):
        return []
    ledger = header is None
    names = [str(h) for h in (table.iloc[0].tolist() if ledger else header)]
    issues, in_cells = cell_line_breaks(table, names, delimiter, label, first_row, ledger)
    return line_count_issues(lines, len(table), in_cells, issues, lines_before, label)


def line_count_issues(lines: int, records: int, in_cells: int, swallowing: list[LedgerIssue], lines_before: int,
                      label: str) -> list[LedgerIssue]:
    """The verdict of physical_line_issues once lines, records and line breaks inside cells are counted."""
    if lines == records:
        return []
    if swallowing:
        return swallowing
    if records + in_cells != lines:
        return [LedgerIssue(label, None, "", "", "row_count_mismatch",
                            f"the file has {lines + lines_before} lines but {records} records were read "
                            f"after line {lines_before}, with {in_cells} line break(s) inside cells: save "
                            "the file again as 'CSV UTF-8' and check it")]
    return []


def _line_feeds(cells) -> int | None:
    """The line feeds in an Arrow text column, counted in its bytes at once (a line feed byte is never part of
    another UTF-8 character); None when a carriage return is among them, whose \r\n pairs must be told apart
    cell by cell."""
    total = 0
    for chunk in getattr(cells, "chunks", [cells]):
        data = chunk.buffers()[2] if len(chunk) else None
        if data is None:
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)
        first, last = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
        text = np.frombuffer(data, dtype=np.uint8)[first:last]
        if np.count_nonzero(text == 13):
            return None
        total += int(np.count_nonzero(text == 10))
    return total


def cell_line_breaks(table: pd.DataFrame, names: list[str], delimiter: str, label: str, first_row: int,
                     ledger: bool) -> tuple[list[LedgerIssue], int]:
    """(rows_inside_cell issues, line breaks inside cells) of table's records, record k being row k + first_row."""
    import pyarrow.compute as pc

    from .uniques import arrow_strings

    row_like = max(2, (len(names) - 1) // 2)
    swallowing = r"(?:\r\n|\r|\n)(?:[^\r\n" + re.escape(delimiter) + r"]*" + re.escape(delimiter) + "){" + \
        str(row_like) + "}"
    in_cells = 0
    issues: list[LedgerIssue] = []
    for position in range(table.shape[1]):
        cells = pc.fill_null(arrow_strings(table.iloc[:, position]), "")
        count = _line_feeds(cells)
        if count is None:
            # \r\n, \r and \n each one break (as _line_breaks counts them), by plain substring counts: the regex
            # engine costs several times more over every cell of a large ledger.
            count = sum(pc.sum(pc.count_substring(cells, text)).as_py() or 0 for text in ("\n", "\r")) - \
                (pc.sum(pc.count_substring(cells, "\r\n")).as_py() or 0)
        if not count:
            continue
        in_cells += count
        suspicious = pc.match_substring_regex(cells, swallowing).to_numpy(zero_copy_only=False)
        for record in np.flatnonzero(suspicious):
            text = str(table.iat[record, position])
            later = re.split(r"\r\n|\r|\n", text)[1:]
            rows = sum(1 for line in later if line.count(delimiter) >= row_like)
            name = names[position].strip() if position < len(names) else ""
            name = name or f"column {position + 1}"
            column = header_aliases().get(canonical_header(name), name) if ledger else name
            issues.append(LedgerIssue(label, int(record) + first_row, column,
                                      re.split(r"\r\n|\r|\n", text, maxsplit=1)[0], "rows_inside_cell",
                                      f"a quote (\") opens in this cell and runs over {len(later)} more line(s); "
                                      f"{rows} of those lines look like rows of the table, which would be read as "
                                      "this cell's text: remove the stray quote, or close it where the cell ends"))
    return issues, in_cells


def read_ragged_csv(text: str, delimiter: str, label: str) -> tuple[pd.DataFrame | None, list[LedgerIssue]]:
    """Slow path, only for files pandas refuses: name every row with the wrong number of cells."""
    rows: list[list[str]] = []
    issues: list[LedgerIssue] = []
    try:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        for record in reader:
            rows.append(record)
    except csv.Error as exc:
        return None, [LedgerIssue(label, len(rows) + 1, "", "", "csv_syntax", f"the CSV cannot be parsed: {exc}")]
    if not rows:
        return None, [LedgerIssue(label, None, "", "", "empty_file", "the file is empty: it needs a header row")]
    width = len(rows[0])
    for number, record in enumerate(rows[1:], start=2):
        if len(record) > width and any(cell.strip() for cell in record[width:]):
            issues.append(LedgerIssue(label, number, "", delimiter.join(record[width:]), "ragged_row",
                                      f"the row has {len(record)} cells but the header has {width}: "
                                      "a delimiter inside a cell needs quotes"))
    padded = [(r + [""] * width)[:width] for r in rows]
    return pd.DataFrame(padded, dtype="str"), issues


def ledger_sheet(names: list[str]) -> str | None:
    """The sheet a workbook ledger is read from: the one named 'ledger' (any case), else the first tab."""
    return next((n for n in names if n.strip().lower() == LEDGER_SHEET_NAME), names[0] if names else None)


def _read_xlsx_cells(path: Path, label: str) -> tuple[pd.DataFrame | None, list[LedgerIssue]]:
    from .xlsx_guard import guarded_sheet

    guarded, issues = guarded_sheet(path, label, ledger_sheet)
    if issues:
        return None, issues
    try:
        from python_calamine import CalamineWorkbook

        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for every kind of broken file
        return None, [LedgerIssue(label, None, "", "", "unreadable",
                                  f"not a readable .xlsx workbook ({type(exc).__name__}): save it again from Excel")]
    names = workbook.sheet_names
    if not names or guarded is None:
        return None, [LedgerIssue(label, None, "", "", "empty_file", "the workbook has no sheets")]
    sheet = ledger_sheet(names)
    if sheet != guarded.name:  # only the sheet the guard measured may be read
        return None, [LedgerIssue(label, None, "", "", "unreadable",
                                  "the workbook's sheet list is inconsistent: save it again from Excel")]
    rows = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    issues = xlsx_structure_issues(guarded.xml, label)
    if not rows or not any(str(c).strip() for c in rows[0]):
        issues.append(LedgerIssue(label, None, "", "", "empty_file",
                                  f"sheet {sheet!r} is empty or its first row is blank: it needs a header row"))
        return None, issues
    width = max(len(r) for r in rows)
    table = pd.DataFrame([[excel_cell_text(c) for c in r] + [""] * (width - len(r)) for r in rows], dtype="str")
    return table, issues


def excel_cell_text(value: object) -> str:
    """Render a typed Excel cell as the text a journalist sees (no float noise, dates as ISO)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ""
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# A self-closing <c .../> holds no formula, so the scan for <f> never runs on into the next cell.
_CELL_REF = re.compile(r'<c r="([A-Z]+)(\d+)"[^>]*(?<!/)>(?:(?!</c>).)*?<f[ >/]', re.S)
_MERGE_REF = re.compile(r'<mergeCell ref="([A-Z]+)(\d+):([A-Z]+\d+)"')


def xlsx_structure_issues(sheet_xml: bytes, label: str) -> list[LedgerIssue]:
    """Formulas and merged cells hide what a cell really says: find them in the XML of the sheet that is read,
    without a full parse."""
    xml = sheet_xml.decode("utf-8", "replace")
    issues = []
    for col, row in _CELL_REF.findall(xml):
        issues.append(LedgerIssue(label, int(row), f"cell {col}{row}", "", "formula",
                                  "the cell holds a formula: paste its value instead, so the ledger states the "
                                  "figure the source gives"))
    for col, row, end in _MERGE_REF.findall(xml):
        issues.append(LedgerIssue(label, int(row), f"cells {col}{row} to {end}", "", "merged_cells",
                                  "merged cells: unmerge them and fill in every row"))
    return issues


def _frame_from_table(path: Path, label: str, table: pd.DataFrame, issues: list[LedgerIssue], first_row: int = 2,
                      total_rows: bool = True) -> LoadedLedger:
    """Map the header to ledger columns, drop wholly blank rows (counted), attach provenance. A part of a large
    file passes the spreadsheet row of its first record, and checks for a total row only at the file's end."""
    header = [str(h) for h in table.iloc[0].tolist()]
    body = table.iloc[1:].reset_index(drop=True)
    body.columns = range(body.shape[1])
    aliases = header_aliases()
    if all(marker in header for marker in EXPORT_MARKER_COLUMNS):
        header, body = _exported_dataset_as_ledger(header, body)
    mapping: dict[int, str] = {}
    seen: dict[str, str] = {}
    for position, cell in enumerate(header):
        folded = canonical_header(cell)
        if not folded:
            if body[position].str.strip().ne("").any():
                issues.append(LedgerIssue(label, 1, f"column {position + 1}", "", "missing_header",
                                          "this column has values but no header"))
            continue
        if folded.startswith(PRIVATE_COLUMN_PREFIXES):
            continue
        column = aliases.get(folded)
        if column is None:
            issues.append(LedgerIssue(label, 1, cell, cell, "unknown_column",
                                      "unknown column: rename it to a ledger column (see ledgers/README.md) or start "
                                      "its name with 'x_' to keep it as a private note"))
            continue
        if column in seen:
            issues.append(LedgerIssue(label, 1, cell, cell, "duplicate_column",
                                      f"two columns mean {column!r} ({seen[column]!r} and {cell!r}): keep one"))
            continue
        seen[column] = cell
        mapping[position] = column
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    for column in missing:
        issues.append(LedgerIssue(label, 1, column, "", "missing_column",
                                  f"required column {column!r} is missing from the header"))

    frame = pd.DataFrame({column: without_text_marker(body[position].fillna("").astype("str"))
                          for position, column in mapping.items()})
    for column in LEDGER_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series([""] * len(body), dtype="str")
    frame = frame[list(LEDGER_COLUMNS)]
    frame[ROW_FILE] = label
    frame[ROW_NUMBER] = pd.RangeIndex(first_row, len(body) + first_row, dtype="int64")
    blank = blank_rows(body)
    frame = frame.loc[~blank].reset_index(drop=True)
    if total_rows:
        issues.extend(_total_row_issues(frame, label))
    return LoadedLedger(path, label, frame, issues, blank_rows=int(blank.sum()))


def blank_rows(body: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is blank. Each column is checked only on rows still blank so far, so a ledger whose
    first column is filled in costs one column's check, not all of them."""
    candidates = np.arange(len(body))
    for position in body.columns:
        if not len(candidates):
            break
        cells = body[position] if len(candidates) == len(body) else body[position].iloc[candidates]
        candidates = candidates[cells.fillna("").astype("str").str.strip().eq("").to_numpy(dtype=bool)]
    blank = np.zeros(len(body), dtype=bool)
    blank[candidates] = True
    return blank


def without_text_marker(cells: pd.Series) -> pd.Series:
    """Drop the apostrophe a spreadsheet (or our own exports and imports) puts before text that starts with
    = + - @ so it is not run as a formula: the ledger means the text after it."""
    import pyarrow.compute as pc

    from .uniques import arrow_strings

    if not pc.any(pc.starts_with(arrow_strings(cells), "'")).as_py():
        return cells
    marked = cells.str.match(r"^'[=+\-@\t\r]")
    return cells.where(~marked, cells.str[1:])


def _exported_dataset_as_ledger(header: list[str], body: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """Read a dataset export back as a ledger: original cells under ledger names, derived columns dropped (the
    quote our exports put before formula-like text is removed for every ledger, in without_text_marker)."""
    keep: list[tuple[int, str]] = []
    for position, name in enumerate(header):
        if name in EXPORT_RAW_COLUMNS:
            keep.append((position, EXPORT_RAW_COLUMNS[name]))
        elif name in LEDGER_COLUMNS and name not in EXPORT_RAW_COLUMNS.values():
            keep.append((position, name))
    columns = {number: body[position] for number, (position, _) in enumerate(keep)}
    return [name for _, name in keep], pd.DataFrame(columns, index=body.index)


def _total_row_issues(frame: pd.DataFrame, label: str) -> list[LedgerIssue]:
    """A 'Total' line under the data would be counted as a transfer: refuse it by name."""
    if frame.empty:
        return []
    # Spreadsheet totals sit under the data, so only the last few rows are candidates.
    tail = frame.tail(TOTAL_ROW_WINDOW)
    looks_total = pd.Series(False, index=tail.index)
    for column in ("id", "date", "payer", "recipient", "amount_kind", "currency"):
        looks_total |= tail[column].str.contains(TOTAL_ROW_PATTERN, regex=True, na=False)
    looks_total &= tail["sources"].str.strip().eq("")
    return [LedgerIssue(label, int(r), "", "", "total_row",
                        "this looks like a total or summary row: remove it, totals are computed by the ETL")
            for r in tail.loc[looks_total, ROW_NUMBER]]


def non_blank(frame: pd.DataFrame, column: str) -> pd.Series:
    """True where the column has visible text."""
    return frame[column].str.strip().ne("")


# A CSV ledger larger than this is read in parts of chunk_rows records (read_ledger_parts), so a build never holds
# the whole file; smaller ones (and every workbook) are read whole, as read_ledger does.
STREAM_BYTES = 32 * 2**20
_HEAD_BYTES = 1 << 16


def read_ledger_parts(path: Path, root: Path | None, chunk_rows: int, stream_bytes: int = STREAM_BYTES):
    """Yield one ledger as LoadedLedger parts in row order, each with its own rows and issues (file-level issues
    once); together they hold what read_ledger returns for the file. A CSV up to stream_bytes is one part."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or (root is not None and leaves_root(path, root)):
        yield read_ledger(path, root)
        return
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        yield read_ledger(path, root)
        return
    newline = head.find(b"\n")
    # Whatever read_ledger refuses or reads slowly (empty, binary, UTF-16, a header longer than the first block) is
    # read by it: such files stop the build with an issue anyway.
    if size <= stream_bytes or not head.strip() or _looks_binary(head) or head.startswith((b"\xff\xfe", b"\xfe\xff")) \
            or newline < 0:
        yield read_ledger(path, root)
        return
    yield from _csv_parts(path, ledger_label(path, root), root, chunk_rows, sniff_delimiter(head[:newline + 1]))


class _Unsure(Exception):
    """Arrow's reading of a file may differ from the C parser's: read it with the C parser instead."""


def _pandas_chunks(path: Path, delimiter: str, chunk_rows: int, skip: int = 0) -> Iterator[pd.DataFrame]:
    """The file's records (header first) as text frames of chunk_rows records, by pandas' C parser, as read_ledger
    reads them; the first `skip` records (a multiple of chunk_rows) are read but not given."""
    reader = pd.read_csv(path, sep=delimiter, dtype="str", keep_default_na=False, header=None,
                         skip_blank_lines=False, engine="c", encoding="utf-8-sig", encoding_errors="strict",
                         chunksize=chunk_rows)
    with reader:
        for chunk in reader:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            yield chunk.reset_index(drop=True)


ARROW_BLOCK_BYTES = 1 << 21


def _arrow_chunks(path: Path, delimiter: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The same chunks as _pandas_chunks, parsed by Arrow's CSV reader (several times faster, no Python object per
    cell, and it releases the GIL). Raises where the two parsers could disagree: Arrow refuses a short row, a
    blank line of spaces, an invalid UTF-8 byte and a record longer than a block (the C parser pads or names
    them), and accepts a quote left open at the end of the file, which the C parser refuses; such a quote leaves a
    line break in the last cell, or a file that does not end with one, so either makes the reading unsure."""
    import pyarrow.csv as pa_csv

    with open(path, "rb") as handle:
        width = len(pd.read_csv(handle, sep=delimiter, dtype="str", keep_default_na=False, header=None,
                                engine="c", encoding="utf-8-sig", nrows=1).columns)
        handle.seek(-1, 2)
        if handle.read(1) not in (b"\n", b"\r"):
            raise _Unsure("no line break at the end of the file")
    names = [str(i) for i in range(width)]
    reader = pa_csv.open_csv(
        path, read_options=pa_csv.ReadOptions(column_names=names, block_size=ARROW_BLOCK_BYTES),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                              quoted_strings_can_be_null=False))
    pending: list = []
    size = 0
    last = None
    for batch in reader:
        pending.append(batch)
        size += batch.num_rows
        while size >= chunk_rows:
            table = pa.Table.from_batches(pending)
            if last is not None:
                yield _text_frame(last)
            last = table.slice(0, chunk_rows)
            rest = table.slice(chunk_rows)
            pending, size = rest.to_batches(), rest.num_rows
    if size:
        if last is not None:
            yield _text_frame(last)
        last = pa.Table.from_batches(pending)
    if last is not None:
        final = last.column(width - 1)[last.num_rows - 1].as_py()
        if "\n" in final or "\r" in final:
            raise _Unsure("a line break in the file's last cell")
        yield _text_frame(last)


def _text_frame(table) -> pd.DataFrame:
    """An Arrow table of text cells as the frame pandas' C parser gives (columns 0…n-1, text dtype)."""
    frame = pd.DataFrame({i: pd.Series(table.column(i), dtype="str") for i in range(table.num_columns)})
    frame.columns = pd.Index(range(table.num_columns), dtype="int64")
    return frame


def record_chunks(path: Path, delimiter: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The file's records (header first) as text frames of chunk_rows records: by Arrow while it can be sure to
    read what pandas' C parser reads, else (from the first chunk not yet given) by the C parser itself."""
    given = 0
    try:
        for chunk in _arrow_chunks(path, delimiter, chunk_rows):
            yield chunk
            given += len(chunk)
        return
    except (pa.ArrowException, _Unsure, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        pass
    yield from _pandas_chunks(path, delimiter, chunk_rows, skip=given)


def _csv_parts(path: Path, label: str, root: Path | None, chunk_rows: int, delimiter: str):
    """The parts of a large CSV ledger, chunk_rows records at a time, read as read_ledger's C parser reads them
    (record_chunks)."""
    header: pd.DataFrame | None = None
    names: list[str] = []
    records = in_cells = 0
    swallowing: list[LedgerIssue] = []
    reported: set[LedgerIssue] = set()
    tail = None
    last_row = 1
    blanks = 0
    try:
        for chunk in record_chunks(path, delimiter, chunk_rows):
            if header is None:
                header = chunk.iloc[:1]
                names = [str(h) for h in header.iloc[0].tolist()]
                found, breaks = cell_line_breaks(chunk, names, delimiter, label, 1, True)
                table, first_row = chunk, 2
            else:
                found, breaks = cell_line_breaks(chunk, names, delimiter, label, last_row + 1, True)
                table, first_row = pd.concat([header, chunk], ignore_index=True), last_row + 1
            records += len(chunk)
            in_cells += breaks
            swallowing += found
            part = _frame_from_table(path, label, table, [], first_row, total_rows=False)
            last_row = first_row + len(table) - 2
            # The header's issues come with every part; each is reported once.
            part.issues = [i for i in part.issues if i not in reported]
            reported.update(part.issues)
            blanks += part.blank_rows
            tail = part.frame.tail(TOTAL_ROW_WINDOW) if tail is None or len(part.frame) >= TOTAL_ROW_WINDOW \
                else pd.concat([tail, part.frame]).tail(TOTAL_ROW_WINDOW)
            yield part
    except (UnicodeDecodeError, pd.errors.ParserError):
        # The parts read so far were fine; the whole-file reader names every problem of the file (its slow path is
        # only for broken files, which never build). Its rows after the parts already given follow, so no row is
        # lost or repeated.
        whole = read_ledger(path, root)
        rest = whole.frame[whole.frame[ROW_NUMBER] > last_row].reset_index(drop=True)
        yield LoadedLedger(path, label, rest, [i for i in whole.issues if i not in reported],
                           blank_rows=max(0, whole.blank_rows - blanks))
        return
    issues = _total_row_issues(tail.reset_index(drop=True), label) if tail is not None else []
    lines = _count_lines(path)
    issues += line_count_issues(lines, records, in_cells, swallowing, 0, label)
    yield LoadedLedger(path, label, _empty_frame(), issues)


def _count_lines(path: Path) -> int:
    """Physical lines of a file as read_ledger counts them, read in blocks."""
    lines = 0
    previous = b""
    with open(path, "rb") as handle:
        while block := handle.read(1 << 24):
            lines += _line_breaks(block)
            if previous == b"\r" and block.startswith(b"\n"):
                lines -= 1
            previous = block[-1:]
    return lines + (0 if previous in (b"\n", b"\r") else 1)
