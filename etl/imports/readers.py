"""Read a source table (CSV, XLSX, JSON, JSONL or XML) as text cells, keeping each record's row number.

Every cell is text exactly as the source writes it (numbers in JSON keep their written digits), so the mapping
and the ledger see the same figures the publisher printed. Problems are issues naming the file and the line or
record, never a traceback.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import LedgerIssue
from ..load import blank_rows, excel_cell_text, physical_line_issues, read_ragged_csv, unclosed_quote_issues
from .mapping import MULTI_VALUE_MARK, ReadOptions

SNIFF_BYTES = 65536


@dataclass
class SourceTable:
    """Source records as text columns; rows[i] is the row (or record) number issues use for record i."""

    label: str
    frame: pd.DataFrame
    rows: np.ndarray
    blank_rows: int = 0
    left_out: dict[str, int] = field(default_factory=dict)  # lines the read options left out, by reason


def read_table(options: ReadOptions) -> tuple[SourceTable | None, list[LedgerIssue]]:
    """Read one table; (None, issues) when it cannot be read at all."""
    label = options.label
    try:
        reader = {"csv": _read_csv, "xlsx": _read_xlsx, "json": _read_json, "jsonl": _read_jsonl,
                  "xml": _read_xml}[options.format]
        table, issues = reader(options, label)
    except OSError as exc:
        return None, [_file_issue(label, f"cannot read the file: {exc.strerror or exc}", "unreadable")]
    if table is None:
        return None, issues
    return _drop_blank_rows(table), issues


def _file_issue(label: str, message: str, code: str, row: int | None = None, value: str = "") -> LedgerIssue:
    return LedgerIssue(label, row, "", value, code, message)


def _drop_blank_rows(table: SourceTable) -> SourceTable:
    frame = table.frame
    if frame.empty or frame.shape[1] == 0:
        return table
    blank = blank_rows(frame)
    if not blank.any():
        return table
    keep = ~blank
    return SourceTable(table.label, frame.loc[keep].reset_index(drop=True), table.rows[keep],
                       table.blank_rows + int(blank.sum()), table.left_out)


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text with no missing cells, header names trimmed."""
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in frame.columns:
        values = frame[column]
        if str(values.dtype) != "str" or values.hasnans:
            frame[column] = values.fillna("").astype("str")
    return frame


def _decoding_issue(raw: bytes, options: ReadOptions, label: str) -> LedgerIssue:
    try:
        raw.decode(options.encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return _file_issue(label, f"not valid {options.encoding} (byte 0x{raw[exc.start]:02x} on line {line}): "
                                  "set source.encoding in the mapping (often cp1252, latin-1 or utf-16)",
                           "encoding", line)
    return _file_issue(label, f"cannot be decoded as {options.encoding}: set source.encoding in the mapping",
                       "encoding")


def _read_csv(options: ReadOptions, label: str) -> tuple[SourceTable | None, list[LedgerIssue]]:
    raw = options.path.read_bytes()
    if not raw.strip():
        return None, [_file_issue(label, "the file is empty", "empty_file")]
    delimiter = options.delimiter
    if delimiter is None:
        head = raw[:SNIFF_BYTES].decode(options.encoding, errors="ignore").lstrip("\ufeff")
        first = head.split("\n", 1)[0]
        counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
        delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    encoding = "utf-8-sig" if options.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else options.encoding
    if options.header or options.skip_lines or options.extra_cells == "ignore":
        return _read_dirty_csv(raw, encoding, delimiter, options, label)
    # Line breaks are counted in the raw bytes, which is exact for encodings where a byte 0x0A is always "\n".
    count_lines = encoding == "utf-8-sig" or "\n".encode(encoding) == b"\n"
    fast = _read_csv_with_arrow(raw, delimiter, options) if encoding == "utf-8-sig" else None
    if fast is not None:
        swallowed = physical_line_issues(raw, fast, delimiter, label, list(fast.columns), options.header_row,
                                         options.header_row + 1)
        if swallowed:
            return None, swallowed
        rows = np.arange(options.header_row + 1, options.header_row + 1 + len(fast), dtype="int64")
        return SourceTable(label, _text_frame(fast), rows), []
    try:
        # header=None: a row with more cells than the header is then an error, never a silent shift of the
        # columns into an index.
        table = pd.read_csv(io.BytesIO(raw), sep=delimiter, dtype="str", keep_default_na=False, na_filter=False,
                            header=None, skiprows=options.header_row - 1, skip_blank_lines=False, engine="c",
                            encoding=encoding, encoding_errors="strict")
    except UnicodeDecodeError:
        return None, [_decoding_issue(raw, options, label)]
    except pd.errors.ParserError as exc:
        # pandas numbers records from the start of the file, skipped title lines included.
        unclosed = unclosed_quote_issues(str(exc), label)
        if unclosed:
            return None, unclosed
        table, issues = _read_ragged(raw, encoding, delimiter, options, label)
        if table is None:
            return None, issues
    except pd.errors.EmptyDataError:
        return None, [_file_issue(label, "no header row where source.header_row says", "empty_file")]
    header = _unique_header([str(c) if isinstance(c, str) else "" for c in table.iloc[0].tolist()])
    if count_lines:
        swallowed = physical_line_issues(raw, table, delimiter, label, header, options.header_row - 1,
                                         options.header_row)
        if swallowed:
            return None, swallowed
    del raw
    frame = table.iloc[1:].reset_index(drop=True)
    frame.columns = header
    rows = np.arange(options.header_row + 1, options.header_row + 1 + len(frame), dtype="int64")
    return SourceTable(label, _text_frame(frame), rows), []


def _read_dirty_csv(raw: bytes, encoding: str, delimiter: str, options: ReadOptions, label: str
                    ) -> tuple[SourceTable | None, list[LedgerIssue]]:
    """The read options for ragged and dirty exports: lines matching `skip_lines` (merge-conflict markers, page
    footers) are left out, `header:` names the columns, `extra_cells: ignore` drops cells beyond the header.
    Row numbers stay those of the file, and every line or cell left out is counted."""
    import re

    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        return None, [_decoding_issue(raw, options, label)]
    lines = text.splitlines()
    start = max(options.header_row - 1, 0)
    numbers = np.arange(1, len(lines) + 1, dtype="int64")[start:]
    lines = lines[start:]
    left_out: dict[str, int] = {}
    if options.skip_lines:
        pattern = re.compile(options.skip_lines)
        keep = np.array([not pattern.search(line) for line in lines], dtype=bool)
        if (~keep).any():
            left_out[f"lines matching skip_lines ({options.skip_lines})"] = int((~keep).sum())
        lines = [line for line, kept in zip(lines, keep) if kept]
        numbers = numbers[keep]
    # One record per line here: the line numbers must stay those of the file after lines are left out.
    try:
        records = list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as exc:
        return None, [_file_issue(label, f"the CSV cannot be parsed: {exc}", "csv_syntax")]
    if options.header_row == 0:
        names, body, body_numbers = list(options.header), records, numbers
    else:
        if not records:
            return None, [_file_issue(label, "no header row where source.header_row says", "empty_file")]
        names = list(options.header) if options.header else records[0]
        body, body_numbers = records[1:], numbers[1:]
    header = _unique_header([str(n) for n in names])
    width = len(header)
    issues: list[LedgerIssue] = []
    extra = [n for n, record in enumerate(body) if len(record) > width and any(c.strip() for c in record[width:])]
    if extra and options.extra_cells == "ignore":
        left_out["rows with cells beyond the header (extra cells ignored)"] = len(extra)
    elif extra:
        for n in extra:
            issues.append(_file_issue(label, f"the row has {len(body[n])} cells but the header has {width}: a "
                                             "delimiter inside a cell needs quotes (or write extra_cells: ignore)",
                                      "ragged_row", int(body_numbers[n]), delimiter.join(body[n][width:])))
        return None, issues
    frame = pd.DataFrame([(r + [""] * width)[:width] for r in body], columns=header, dtype="str") if body else \
        pd.DataFrame({h: pd.Series([], dtype="str") for h in header})
    return SourceTable(label, _text_frame(frame), body_numbers, 0, left_out), []


def _read_ragged(raw: bytes, encoding: str, delimiter: str, options: ReadOptions, label: str
                 ) -> tuple[pd.DataFrame | None, list[LedgerIssue]]:
    """Slow path for files pandas refuses: the ledger loader's reader names every row with more (non-empty)
    cells than the header, here numbered from the source's header row."""
    text = raw.decode(encoding, errors="replace")
    skipped = options.header_row - 1
    body = text.split("\n", skipped)[-1] if skipped else text
    table, issues = read_ragged_csv(body, delimiter, label)
    if issues:
        return None, [replace(i, row=i.row + skipped) if i.row is not None else i for i in issues]
    return table, []


def _read_csv_with_arrow(raw: bytes, delimiter: str, options: ReadOptions) -> pd.DataFrame | None:
    """Arrow's multi-threaded CSV reader, for well-formed UTF-8 files: several times faster than pandas' on a
    large export. Anything unusual (a blank line, a ragged row, a repeated header, bad UTF-8) returns None and the
    pandas reader, which numbers and explains every such case, takes over."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    try:
        first = body.split(b"\n", options.header_row)[options.header_row - 1]
        names = next(csv.reader([first.decode("utf-8").rstrip("\r")], delimiter=delimiter))
        if len(set(names)) != len(names) or not all(n.strip() for n in names):
            return None
        table = pa_csv.read_csv(
            io.BytesIO(body),
            pa_csv.ReadOptions(skip_rows=options.header_row - 1, use_threads=True),
            pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False),
            pa_csv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                  quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError, StopIteration, IndexError):
        return None
    if table.column_names != names:
        return None
    return table.to_pandas()


def _read_xlsx(options: ReadOptions, label: str) -> tuple[SourceTable | None, list[LedgerIssue]]:
    from ..xlsx_guard import guarded_sheet

    def chosen(names: list[str]) -> str | None:
        wanted = options.sheet or (names[0] if names else None)
        return wanted if wanted in names else None

    guarded, issues = guarded_sheet(options.path, label, chosen)
    if issues:
        return None, issues
    try:
        from python_calamine import CalamineWorkbook

        workbook = CalamineWorkbook.from_path(str(options.path))
    except Exception as exc:  # calamine raises its own error types for every kind of broken file
        return None, [_file_issue(label, f"not a readable .xlsx workbook ({type(exc).__name__})", "unreadable")]
    names = workbook.sheet_names
    sheet = options.sheet or (names[0] if names else None)
    if sheet not in names:
        return None, [_file_issue(label, f"no sheet named {sheet!r}; the workbook has: {', '.join(names)}",
                                  "missing_sheet")]
    if guarded is None or guarded.name != sheet:  # only the sheet the guard measured may be read
        return None, [_file_issue(label, "the workbook's sheet list is inconsistent: save it again from Excel",
                                  "unreadable")]
    cells = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    if len(cells) < options.header_row:
        return None, [_file_issue(label, f"sheet {sheet!r} has no row {options.header_row} for the header",
                                  "empty_file")]
    width = max(len(r) for r in cells)
    text = [[excel_cell_text(c) for c in r] + [""] * (width - len(r)) for r in cells[options.header_row - 1:]]
    header = _unique_header(text[0])
    frame = pd.DataFrame(text[1:], columns=header, dtype="str") if len(text) > 1 else \
        pd.DataFrame({h: pd.Series([], dtype="str") for h in header})
    rows = np.arange(options.header_row + 1, options.header_row + 1 + len(frame), dtype="int64")
    return SourceTable(label, _text_frame(frame), rows), []


def _unique_header(names: list[str]) -> list[str]:
    """Blank or repeated header cells get a position-based name so no column is lost."""
    seen: dict[str, int] = {}
    out = []
    for position, name in enumerate(names, start=1):
        name = name.strip() or f"column_{position}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _json_text(value: object) -> str:
    """A JSON value as cell text: numbers keep their written digits (parsed as text); list elements are kept
    apart by MULTI_VALUE_MARK until the mapping says what they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return MULTI_VALUE_MARK.join(_json_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flatten(record: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = _json_text(value)
    return out


def _records_frame(records: list[dict], rows: np.ndarray, label: str) -> SourceTable:
    flat = [_flatten(r) for r in records]
    columns = list(dict.fromkeys(k for r in flat for k in r))
    frame = pd.DataFrame({c: pd.Series([r.get(c, "") for r in flat], dtype="str") for c in columns})
    return SourceTable(label, frame, rows)


def _decode_text(options: ReadOptions, label: str) -> tuple[str | None, list[LedgerIssue]]:
    raw = options.path.read_bytes()
    encoding = "utf-8-sig" if options.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else options.encoding
    try:
        return raw.decode(encoding), []
    except UnicodeDecodeError:
        return None, [_decoding_issue(raw, options, label)]


def _read_json(options: ReadOptions, label: str) -> tuple[SourceTable | None, list[LedgerIssue]]:
    text, issues = _decode_text(options, label)
    if text is None:
        return None, issues
    try:
        document = json.loads(text, parse_float=str, parse_int=str)
    except json.JSONDecodeError as exc:
        return None, [_file_issue(label, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                                  "json_syntax", exc.lineno)]
    records = document
    for step in [s for s in options.records.split(".") if s]:
        if not isinstance(records, dict) or step not in records:
            return None, [_file_issue(label, f"source.records: no key {step!r} on the path {options.records!r}",
                                      "json_path")]
        records = records[step]
    if not isinstance(records, list):
        return None, [_file_issue(label, "source.records must lead to a list of records (objects)", "json_path")]
    bad = [n for n, r in enumerate(records, start=1) if not isinstance(r, dict)]
    issues = [_file_issue(label, "this record is not an object ({...}); it is left out", "json_record", n)
              for n in bad]
    if bad:
        return None, issues
    return _records_frame(records, np.arange(1, len(records) + 1, dtype="int64"), label), []


def _read_jsonl(options: ReadOptions, label: str) -> tuple[SourceTable | None, list[LedgerIssue]]:
    text, issues = _decode_text(options, label)
    if text is None:
        return None, issues
    records, rows = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_float=str, parse_int=str)
        except json.JSONDecodeError as exc:
            issues.append(_file_issue(label, f"not valid JSON: {exc.msg} (column {exc.colno})", "json_syntax",
                                      number))
            continue
        if not isinstance(record, dict):
            issues.append(_file_issue(label, "the line is not a JSON object ({...})", "json_record", number))
            continue
        records.append(record)
        rows.append(number)
    if issues:
        return None, issues
    return _records_frame(records, np.asarray(rows, dtype="int64"), label), []


def _local(tag: str) -> str:
    """An XML tag without its namespace ({http://...}amount → amount)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _read_xml(options: ReadOptions, label: str) -> tuple[SourceTable | None, list[LedgerIssue]]:
    # defusedxml refuses entity expansion and external entities, so a hostile file cannot exhaust memory or
    # read local files.
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, parse

    try:
        tree = parse(str(options.path))
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        return None, [_file_issue(label, f"not well-formed XML: {exc}", "xml_syntax", line)]
    except DefusedXmlException as exc:
        return None, [_file_issue(label, f"refused: the XML uses {type(exc).__name__} (entity declarations are "
                                         "not accepted)", "xml_unsafe")]
    records = []
    for element in tree.getroot().iter():
        if _local(element.tag) != options.record:
            continue
        fields: dict[str, list[str]] = {}
        _collect_xml(element, "", fields)
        records.append({k: MULTI_VALUE_MARK.join(v) for k, v in fields.items()})
    if not records:
        return None, [_file_issue(label, f"no <{options.record}> elements: check source.record", "xml_record")]
    return _records_frame(records, np.arange(1, len(records) + 1, dtype="int64"), label), []


def _collect_xml(element, prefix: str, fields: dict[str, list[str]]) -> None:
    """Attributes as `@name`, child text as `child`, deeper levels as `child/grandchild` and `child/@name`."""
    for name, value in element.attrib.items():
        fields.setdefault(f"{prefix}@{_local(name)}", []).append(value.strip())
    for child in element:
        name = f"{prefix}{_local(child.tag)}"
        text = (child.text or "").strip()
        if text or not len(child):
            fields.setdefault(name, []).append(text)
        _collect_xml(child, f"{name}/", fields)
