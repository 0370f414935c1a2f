"""Map source records onto ledger rows, column by column, with the mapping's value conventions.

Everything is vectorised over the records; conventions that parse (dates with a format) run once per distinct
value. Rows the mapping leaves out (exact duplicates, blank amounts) are counted and named, never dropped
silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import WARNING, LedgerIssue
from ..schema import LEDGER_COLUMNS, ROW_FILE, ROW_NUMBER, SOURCE_SEPARATOR
from ..uniques import arrow_strings
from .mapping import Entry, Join, Mapping
from .readers import SourceTable

ID_UNSAFE = r"[^A-Za-z0-9._:\-]+"
HASH_DIGITS = 16
SOURCE_ROW_COLUMN = "x_source_row"
PARTY_COLUMNS = (("payer", "recipient"), ("payer_country", "recipient_country"))


@dataclass
class Mapped:
    """The ledger rows a mapping produced, where each came from, and what was left out."""

    frame: pd.DataFrame  # LEDGER_COLUMNS + ROW_FILE/ROW_NUMBER (the source file and row) + SOURCE_ROW_COLUMN
    issues: list[LedgerIssue] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    swapped: int = 0


def column_origin(mapping: Mapping, ledger_column: str) -> str:
    """How an issue names the place a ledger value came from: the source column(s), or the mapping entry."""
    entry = mapping.entries.get(ledger_column)
    if entry is None:
        return f"{ledger_column} (not mapped)"
    columns = entry.source_columns
    if columns:
        return "+".join(dict.fromkeys(columns))
    return f"{ledger_column} (mapping constant)"


def _from_arrow(array, index: pd.Index) -> pd.Series:
    return pd.Series(array.to_pandas(), index=index, dtype="str")


def fold_empty_values(frame: pd.DataFrame, columns: list[str], tokens: tuple[str, ...]) -> pd.DataFrame:
    """Trim the cells the mapping reads; cells that only say UNKNOWN, <SELECT ONE>, … become empty."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Arrow lower-cases the cells, so the tokens are lower-cased the same way (not casefolded).
    folded = pa.array(sorted({t.strip().lower() for t in tokens}), type=pa.string())
    out = {}
    for column in columns:
        text = pc.utf8_trim_whitespace(arrow_strings(frame[column]))
        if len(folded):
            placeholder = pc.is_in(pc.utf8_lower(text), value_set=folded)
            text = pc.if_else(placeholder, "", text)
        out[column] = _from_arrow(text, frame.index)
    return frame.assign(**out)


def exact_duplicates(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(duplicate?, position of the first row it repeats) per row, comparing every cell exactly.

    Columns are taken from the most to the least varied; after each one only rows that still have a twin stay
    candidates, so a column of unique ids settles almost every row at once and the other columns are compared
    on the few rows left. Memory stays at one column's codes, whatever the width of the table.
    """
    count = len(frame)
    if count == 0 or frame.shape[1] == 0:
        return np.zeros(count, dtype=bool), np.arange(count)
    sample = frame.iloc[:: max(1, count // 5000)]
    order = sorted(frame.columns, key=lambda c: -sample[c].nunique())
    candidates = np.arange(count)
    group = np.zeros(count, dtype=np.int64)
    for column in order:
        values = frame[column] if len(candidates) == count else frame[column].iloc[candidates]
        codes, uniques = pd.factorize(values)
        group, _ = pd.factorize(group * (len(uniques) + 1) + codes)
        twin = pd.Series(group).duplicated(keep=False).to_numpy()
        candidates, group = candidates[twin], group[twin]
        if len(candidates) == 0:
            break
    duplicate = np.zeros(count, dtype=bool)
    first = np.arange(count)
    if len(candidates):
        first_in_group = pd.Series(candidates).groupby(group).transform("min").to_numpy()
        first[candidates] = first_in_group
        duplicate[candidates] = first_in_group != candidates
    return duplicate, first


def apply_joins(frame: pd.DataFrame, joins: tuple[Join, ...], tables: dict[str, SourceTable], source_label: str,
                rows: np.ndarray) -> tuple[pd.DataFrame, list[LedgerIssue]]:
    """Left-join each second table on its key columns; its columns become `NAME.column`. A key that matches
    several rows of the joined table is an issue (it would multiply transfers); a key with no match is a warning."""
    issues: list[LedgerIssue] = []
    for join in joins:
        table = tables[join.name]
        keys = list(join.on.values())
        right = table.frame
        duplicated = right.duplicated(keys, keep="first").to_numpy()
        for row in table.rows[duplicated]:
            issues.append(LedgerIssue(table.label, int(row), ",".join(keys), "", "join_key_repeated",
                                      f"this key appears on more than one row of {table.label}: the join must "
                                      "find at most one row per source record"))
        right = right.loc[~duplicated].add_prefix(f"{join.name}.")
        right_keys = [f"{join.name}.{k}" for k in keys]
        merged = frame.merge(right, how="left", left_on=list(join.on), right_on=right_keys, indicator=True,
                             sort=False)
        unmatched = merged["_merge"].eq("left_only").to_numpy()
        merged = merged.drop(columns="_merge")
        for position in np.flatnonzero(unmatched):
            value = " ".join(str(frame.iloc[position][c]) for c in join.on)
            issues.append(LedgerIssue(source_label, int(rows[position]), ",".join(join.on), value, "join_no_match",
                                      f"no row of {table.label} matches this key; its columns are left empty",
                                      WARNING))
        for column in right.columns:
            merged[column] = merged[column].fillna("").astype("str")
        frame = merged.set_axis(frame.index)
    return frame, issues


def _template(frame: pd.DataFrame, template: str) -> pd.Series:
    import string

    result = pd.Series("", index=frame.index, dtype="str")
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            result = result + literal
        if name:
            result = result + frame[name]
    return result


def _split(values: pd.Series, separator: str, part: str) -> pd.Series:
    if part == "last":
        return values.str.rsplit(separator, n=1).str[-1].fillna("").str.strip()
    pieces = values.str.split(separator, n=1)
    chosen = pieces.str[0] if part == "first" else pieces.str[1]
    return chosen.fillna("").astype("str").str.strip()


def entry_values(frame: pd.DataFrame, entry: Entry, source_label: str, rows: np.ndarray, mapping: Mapping
                 ) -> tuple[pd.Series, list[LedgerIssue]]:
    """The text one entry gives each row, before the column-specific conventions (sign, date format)."""
    issues: list[LedgerIssue] = []
    if entry.kind == "column":
        values = frame[entry.value]
    elif entry.kind == "constant":
        values = pd.Series(entry.value, index=frame.index, dtype="str")
    elif entry.kind == "template":
        values = _template(frame, entry.value).str.strip()
    else:
        values = pd.Series("", index=frame.index, dtype="str")
    if entry.split:
        values = _split(values, entry.split, entry.part)
    if entry.lookup is not None:
        looked_up = values.map(entry.lookup)
        missing = looked_up.isna() & values.ne("")
        if entry.unmatched == "error" and missing.any():
            origin = column_origin(mapping, entry.ledger_column)
            for position in np.flatnonzero(missing.to_numpy()):
                issues.append(LedgerIssue(source_label, int(rows[position]), origin, str(values.iloc[position]),
                                          "lookup_missing", f"not in the lookup for {entry.ledger_column}: add it "
                                                            "to the mapping's lookup"))
        fallback = values if entry.unmatched == "keep" else pd.Series("", index=values.index, dtype="str")
        values = looked_up.where(~looked_up.isna(), fallback).astype("str")
    if entry.prefix or entry.suffix:
        present = values.ne("")
        values = values.where(~present, entry.prefix + values + entry.suffix)
    return values.astype("str"), issues


def split_sign(amount: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(amount without its sign, negative?) for "-535000.0", "−3,000", "(3,000)" and "3,000-"."""
    text = amount.str.strip()
    leading = text.str.startswith(("-", "\u2212"))
    bracketed = text.str.startswith("(") & text.str.endswith(")")
    trailing = text.str.endswith("-") & ~leading
    negative = leading | bracketed | trailing
    if not negative.any():
        return text, negative
    unsigned = text.where(~leading, text.str.slice(1))
    unsigned = unsigned.where(~bracketed, unsigned.str.slice(1, -1))
    unsigned = unsigned.where(~trailing, unsigned.str.slice(0, -1))
    return unsigned.str.strip().astype("str"), negative


def convert_dates(values: pd.Series, entry: Entry, source_label: str, rows: np.ndarray, origin: str
                  ) -> tuple[pd.Series, pd.Series, list[LedgerIssue]]:
    """Dates in the source's own format → ledger dates; returns (date, marked-as-period-end, issues)."""
    text = values.str.strip()
    marked = pd.Series(False, index=values.index)
    if entry.period_end_marker:
        marked = text.str.endswith(entry.period_end_marker) & text.ne("")
        text = text.where(~marked, text.str.slice(0, -len(entry.period_end_marker)).str.strip())
    issues: list[LedgerIssue] = []
    codes, uniques = pd.factorize(text, use_na_sentinel=False)
    distinct = pd.Series(np.asarray(uniques, dtype=object), dtype="str")
    converted = distinct.copy()
    bad = pd.Series(False, index=distinct.index)
    if entry.date_format:
        parsed = pd.to_datetime(distinct, format=entry.date_format, errors="coerce")
        bad = parsed.isna() & distinct.ne("")
        converted = parsed.dt.strftime("%Y-%m-%d").fillna("").astype("str")
        if entry.period_years:
            converted = parsed.dt.strftime("%Y").fillna("").astype("str")
    if entry.period_years:
        years = pd.to_numeric(converted.where(converted.str.fullmatch(r"\d{4}"), None), errors="coerce")
        not_year = years.isna() & distinct.ne("") & ~bad
        bad = bad | not_year
        first = (years - entry.period_years + 1).astype("Int64").astype("str")
        converted = (first + "/" + years.astype("Int64").astype("str")).where(years.notna(), "").astype("str")
    if bad.any():
        expected = (f"the format {entry.date_format}" if entry.date_format else "a four-digit year")
        for position in np.flatnonzero(bad.to_numpy()[codes]):
            issues.append(LedgerIssue(source_label, int(rows[position]), origin, str(values.iloc[position]),
                                      "date_format", f"does not match {expected} (set columns.date.format in "
                                                     "the mapping)"))
    return pd.Series(converted.to_numpy()[codes], index=values.index, dtype="str").where(text.ne(""), ""), marked, \
        issues


def deterministic_ids(frame: pd.DataFrame, prefix: str) -> pd.Series:
    """prefix + a 64-bit hash of the given columns: the same record always gets the same id, so importing again
    replaces rows instead of duplicating them. Records that hash alike get -2, -3, … in source order."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    # One hex string for all hashes, cut into fixed-width pieces: no per-row formatting.
    digits = np.frombuffer(hashed.astype(">u8").tobytes().hex().encode("ascii"), dtype=f"S{HASH_DIGITS}")
    hex_ids = pd.Series(digits.astype(f"U{HASH_DIGITS}"), index=frame.index, dtype="str")
    occurrence = hex_ids.groupby(hex_ids.to_numpy()).cumcount()
    ids = prefix + hex_ids
    return ids.where(occurrence.eq(0), ids + "-" + (occurrence + 1).astype("str"))


def slug(values: pd.Series) -> pd.Series:
    return values.str.strip().str.replace(ID_UNSAFE, "-", regex=True).str.strip("-")


def map_rows(mapping: Mapping, table: SourceTable, joined: dict[str, SourceTable]) -> Mapped:
    """Source records → ledger rows (text), with the rows left out counted and every problem named."""
    frame, rows, label = table.frame, table.rows, table.label
    # The caller's table lets go of the cells, so columns the mapping does not use are freed once selected out.
    table.frame = frame.iloc[:0]
    issues: list[LedgerIssue] = []
    skipped: dict[str, int] = {}
    if table.blank_rows:
        skipped["blank rows"] = table.blank_rows

    # Rows to leave out are collected first and taken out in one pass at the end of the filters.
    drop = np.zeros(len(frame), dtype=bool)
    if mapping.skip_exact_duplicates:
        duplicate, first = exact_duplicates(frame)
        if duplicate.any():
            for row, original in zip(rows[duplicate], rows[first[duplicate]]):
                issues.append(LedgerIssue(label, int(row), "", "", "skipped_duplicate",
                                          f"exact duplicate of row {int(original)}: skipped", WARNING))
            skipped["exact duplicates"] = int(duplicate.sum())
            drop |= duplicate

    frame, found = apply_joins(frame, mapping.joins, joined, label, rows)
    dropped_rows = set(rows[drop].tolist())
    issues += [i for i in found if i.row not in dropped_rows]
    used = sorted(c for c in mapping.source_columns() if c in frame.columns)
    frame = fold_empty_values(frame[used], used, mapping.empty_values) if used else frame.iloc[:, :0]

    values: dict[str, pd.Series] = {}
    constant: set[str] = set()
    for column, entry in mapping.entries.items():
        if entry.kind == "hash":
            continue
        values[column], found = entry_values(frame, entry, label, rows, mapping)
        issues += [i for i in found if i.row not in dropped_rows]
        if entry.kind == "constant":
            constant.add(column)

    amount = values["amount"].str.strip()
    digits = amount.str.replace(r"\D", "", regex=True)
    left_out = {
        "blank amounts": (mapping.skip_blank_amounts, amount.eq(""), "skipped_blank_amount", "no amount: skipped"),
        "zero amounts": (mapping.skip_zero_amounts, digits.ne("") & digits.str.fullmatch(r"0+"),
                         "skipped_zero_amount", "the amount is zero: skipped"),
    }
    for reason, (wanted, mask, code, message) in left_out.items():
        mask = mask.to_numpy(dtype=bool) & ~drop
        if not wanted or not mask.any():
            continue
        for row, value in zip(rows[mask], amount[mask]):
            issues.append(LedgerIssue(label, int(row), column_origin(mapping, "amount"), str(value), code, message,
                                      WARNING))
        skipped[reason] = int(mask.sum())
        drop |= mask
    if drop.any():
        keep = np.flatnonzero(~drop)
        frame, rows = frame.take(keep).reset_index(drop=True), rows[keep]
        values = {c: (pd.Series(v.iloc[0] if len(v) else "", index=frame.index, dtype="str") if c in constant
                      else v.take(keep).reset_index(drop=True)) for c, v in values.items()}

    notes: list[pd.Series] = []
    amount = values["amount"]
    unsigned, negative = split_sign(values["amount"])
    values["amount"] = unsigned
    rule = mapping.entries["amount"].negative
    swapped = 0
    if negative.any():
        if rule == "error":
            for position in np.flatnonzero(negative.to_numpy()):
                issues.append(LedgerIssue(label, int(rows[position]), column_origin(mapping, "amount"),
                                          str(amount.iloc[position]),
                                          "amount_negative", "negative amount: say in the mapping what the sign "
                                          "means (columns.amount.negative: absolute or swap)"))
        elif rule == "swap":
            for one, other in PARTY_COLUMNS:
                first = values.get(one, pd.Series("", index=negative.index, dtype="str"))
                second = values.get(other, pd.Series("", index=negative.index, dtype="str"))
                values[one], values[other] = first.where(~negative, second), second.where(~negative, first)
            notes.append(pd.Series("negative in the source: payer and recipient swapped", index=negative.index,
                                   dtype="str").where(negative, ""))
            swapped = int(negative.sum())

    if "date" in mapping.entries:
        entry = mapping.entries["date"]
        values["date"], marked, found = convert_dates(values["date"], entry, label, rows,
                                                      column_origin(mapping, "date"))
        issues += found
        if marked.any():
            note = f"the date is the end of the reporting period (marked {entry.period_end_marker} in the source)"
            date_note = values.get("date_note", pd.Series("", index=marked.index, dtype="str"))
            values["date_note"] = date_note.where(~marked, (date_note + "; ").where(date_note.ne(""), "") + note)

    values["sources"] = _sources(values, frame, mapping)
    if "source_publisher" not in values and mapping.publisher:
        values["source_publisher"] = pd.Series(mapping.publisher, index=frame.index, dtype="str")
    if notes:
        existing = values.get("notes", pd.Series("", index=frame.index, dtype="str"))
        for note in notes:
            existing = existing.where(note.eq(""), (existing + "; ").where(existing.ne(""), "") + note)
        values["notes"] = existing

    values["id"] = _ids(values, frame, mapping)
    out = {c: values.get(c, pd.Series("", index=frame.index, dtype="str")).astype("str") for c in LEDGER_COLUMNS}
    ledger = pd.DataFrame(out, index=frame.index)
    ledger[ROW_FILE] = label
    ledger[ROW_NUMBER] = rows
    ledger[SOURCE_ROW_COLUMN] = label + ":" + pd.Series(rows, index=frame.index).astype("str")
    return Mapped(ledger, issues, skipped, swapped)


def _sources(values: dict[str, pd.Series], frame: pd.DataFrame, mapping: Mapping) -> pd.Series:
    """The row's own source (if mapped), the dataset's URL(s), then the row's document link when it is http(s)."""
    parts: list[pd.Series] = []
    if "sources" in values:
        parts.append(values["sources"])
    for url in mapping.dataset_urls:
        parts.append(pd.Series(url, index=frame.index, dtype="str"))
    entry = mapping.entries.get("sources")
    if entry is not None and entry.link_column:
        link = frame[entry.link_column].str.strip()
        parts.append(link.where(link.str.match(r"https?://", case=False), ""))
    if "sources" not in values and (entry is None or not entry.link_column):
        return pd.Series(SOURCE_SEPARATOR.join(mapping.dataset_urls), index=frame.index, dtype="str")
    result = pd.Series("", index=frame.index, dtype="str")
    for part in parts:
        result = result.where(part.eq(""), (result + SOURCE_SEPARATOR).where(result.ne(""), "") + part)
    return result


def _ids(values: dict[str, pd.Series], frame: pd.DataFrame, mapping: Mapping) -> pd.Series:
    entry = mapping.entries.get("id")
    prefix = re.sub(ID_UNSAFE, "-", mapping.name).strip("-") + "-"
    if entry is None:
        basis = pd.DataFrame({c: v for c, v in values.items() if c != "id"}, index=frame.index)
        return deterministic_ids(basis[sorted(basis.columns)], prefix)
    if entry.kind == "hash":
        return deterministic_ids(frame[list(entry.hash_columns)], entry.prefix or prefix)
    return slug(values["id"])
