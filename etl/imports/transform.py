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

from ..errors import ERROR, WARNING, LedgerIssue
from ..schema import ENTITY_KINDS, LEDGER_COLUMNS, ROW_FILE, ROW_NUMBER, SOURCE_SEPARATOR
from ..uniques import arrow_strings
from .mapping import (MULTI_VALUE_MARK, NUMBER_FORMATS, Condition, Entry, Explode, Join, Mapping,
                      RowFilter)
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
    self_payments: int = 0  # rows whose payer is also their recipient (kept unless the mapping drops them)
    kinds: pd.DataFrame | None = None  # payer_kind / recipient_kind per ledger row, when the mapping gives them


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


def join_key(values: pd.Series, match: str) -> pd.Series:
    """A join key as compared: trimmed, case- and space-folded unless the join says `match: exact`."""
    text = values.astype("str").str.strip()
    return text if match == "exact" else text.str.casefold().str.replace(r"\s+", " ", regex=True)


def apply_joins(frame: pd.DataFrame, joins: tuple[Join, ...], tables: dict[str, SourceTable], source_label: str,
                rows: np.ndarray) -> tuple[pd.DataFrame, list[LedgerIssue]]:
    """Left-join each second table on its key columns; its columns become `NAME.column`. Keys are compared
    trimmed and case- and space-folded. A key repeated in the joined table is fine when its rows agree (or when
    the join says `repeated: first`); repeated rows that disagree are an issue naming the key, since picking one
    would be a guess. A key with no match (or an empty key) is a warning."""
    issues: list[LedgerIssue] = []
    for join in joins:
        table = tables[join.name]
        keys = list(join.on.values())
        right = table.frame
        right_key = pd.DataFrame({f"\x00key{n}": join_key(right[k], join.match) for n, k in enumerate(keys)})
        left_key = pd.DataFrame({f"\x00key{n}": join_key(frame[k], join.match) for n, k in enumerate(join.on)},
                                index=frame.index)
        usable = right_key.ne("").all(axis=1).to_numpy()
        duplicated = right_key.duplicated(keep="first").to_numpy() & usable
        if duplicated.any() and join.repeated == "agree":
            # The key columns agree by construction (they fold alike); the other columns must agree exactly.
            trimmed = right.drop(columns=keys).apply(lambda c: c.str.strip())
            first = right_key[usable].drop_duplicates().index
            keyed = pd.concat([right_key, trimmed.add_prefix("\x00v")], axis=1)
            firsts = keyed.loc[first].set_index(list(right_key.columns))
            repeats = keyed.loc[duplicated]
            reference = firsts.loc[list(repeats[list(right_key.columns)].itertuples(index=False, name=None))] \
                if len(right_key.columns) > 1 else firsts.loc[repeats[right_key.columns[0]]]
            differs = repeats[reference.columns].to_numpy() != reference.to_numpy()
            for position, row_differs in zip(np.flatnonzero(duplicated), differs):
                if not row_differs.any():
                    continue
                column = reference.columns[np.flatnonzero(row_differs)[0]][2:]
                key_text = " ".join(str(right[k].iloc[position]).strip() for k in keys)
                issues.append(LedgerIssue(
                    table.label, int(table.rows[position]), ",".join(keys), key_text, "join_key_repeated",
                    f"this key appears on more than one row of {table.label} and the rows disagree ({column}: "
                    f"{str(right[column].iloc[position]).strip()!r}); correct the table, or write `repeated: first` "
                    "in the join to take the first row"))
        keep = usable & ~duplicated
        right = right.loc[keep].add_prefix(f"{join.name}.")
        right = pd.concat([right, right_key.loc[keep]], axis=1)
        merged = frame.assign(**left_key).merge(right, how="left", on=list(right_key.columns), indicator=True,
                                                sort=False)
        unmatched = merged["_merge"].eq("left_only").to_numpy()
        merged = merged.drop(columns=["_merge", *right_key.columns])
        if unmatched.any():
            texts = frame[list(join.on)].astype("str").agg(" ".join, axis=1).to_numpy()
            empty = left_key.eq("").any(axis=1).to_numpy()
            for position in np.flatnonzero(unmatched):
                message = ("the key is empty, so no row of " + table.label + " is joined" if empty[position] else
                           f"no row of {table.label} matches this key") + "; its columns are left empty"
                issues.append(LedgerIssue(source_label, int(rows[position]), ",".join(join.on),
                                          str(texts[position]).strip(), "join_no_match", message, WARNING))
        for column in right.columns:
            if column in merged.columns:
                merged[column] = merged[column].fillna("").astype("str")
        frame = merged.set_axis(frame.index)
    return frame, issues


def _numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(number, not a number?) for a filter's comparison: currency marks, spaces and thousands commas ignored
    ("£20,000.00" → 20000.0); an empty cell is neither."""
    text = values.str.replace(r"[^\d.\-]", "", regex=True)
    number = pd.to_numeric(text.where(text.ne(""), None), errors="coerce")
    return number, number.isna() & values.ne("")


def condition_mask(frame: pd.DataFrame, condition: Condition) -> tuple[np.ndarray, np.ndarray]:
    """(rows that meet the condition, rows where a numeric test met a value that is not a number)."""
    if condition.test in ("all", "any", "not"):
        results = [condition_mask(frame, part) for part in condition.parts]
        masks = np.vstack([r[0] for r in results])
        bad = np.logical_or.reduce([r[1] for r in results])
        met = masks.all(axis=0) if condition.test == "all" else masks.any(axis=0)
        return (~met if condition.test == "not" else met), bad
    values = frame[condition.field].astype("str").str.strip()
    wanted = list(condition.values)
    if condition.ignore_case and condition.test in ("equals", "in"):
        values, wanted = values.str.casefold(), [v.casefold() for v in wanted]
    bad = np.zeros(len(frame), dtype=bool)
    if condition.test == "equals":
        met = values.eq(wanted[0])
    elif condition.test == "in":
        met = values.isin(wanted)
    elif condition.test == "matches":
        met = values.str.contains(wanted[0], regex=True, case=not condition.ignore_case)
    elif condition.test == "empty":
        met = values.eq("") if wanted == ["true"] else values.ne("")
    else:
        number, not_number = _numbers(values)
        compare = {"above": number.gt, "below": number.lt, "at_least": number.ge, "at_most": number.le}
        met = compare[condition.test](condition.number).fillna(False)
        bad = not_number.to_numpy(dtype=bool)
    return met.to_numpy(dtype=bool), bad


def apply_filters(frame: pd.DataFrame, filters: tuple[RowFilter, ...], drop: np.ndarray, label: str,
                  rows: np.ndarray) -> tuple[np.ndarray, dict[str, int], list[LedgerIssue]]:
    """The mapping's keep/drop rules in order, on rows not yet left out; (drop, count per rule, issues)."""
    counts: dict[str, int] = {}
    issues: list[LedgerIssue] = []
    drop = drop.copy()
    for rule in filters:
        met, bad = condition_mask(frame, rule.condition)
        leave = (~met if rule.action == "keep" else met) & ~drop
        if leave.any():
            counts[f"filter: {rule.name}"] = int(leave.sum())
        drop |= leave
        for position in np.flatnonzero(bad):
            fields = [f for f in rule.condition.fields if f in frame.columns]
            value = " ".join(str(frame[f].iloc[position]) for f in fields)
            issues.append(LedgerIssue(label, int(rows[position]), "+".join(fields), value, "filter_not_number",
                                      f"the filter {rule.name!r} compares numbers, and this is not one"))
    return drop, counts, issues


def explode_records(frame: pd.DataFrame, rows: np.ndarray, explode: Explode, label: str
                    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, list[LedgerIssue]]:
    """One row per element of the exploded fields; (frame, rows, element number from 0, elements in the record,
    issues). Fields exploded together must hold as many elements each (or one, which every element shares)."""
    separator = explode.separator or MULTI_VALUE_MARK
    parts = {f: frame[f].str.split(separator, regex=False) for f in explode.fields}
    lengths = pd.DataFrame({f: p.str.len() for f, p in parts.items()}, index=frame.index)
    count = lengths.max(axis=1).to_numpy()
    issues: list[LedgerIssue] = []
    for field_name, length in lengths.items():
        # An empty field is shared (empty) by every element. A field with fewer elements than the others cannot
        # be paired by position (XML drops a missing attribute silently, so guessing which is missing would be
        # wrong): an issue, and the field is padded so the rest of the import can still report everything else.
        empty = frame[field_name].eq("").to_numpy()
        mismatch = (length.to_numpy() != count) & ~empty
        for position in np.flatnonzero(mismatch):
            issues.append(LedgerIssue(label, int(rows[position]), field_name, str(frame[field_name].iloc[position])
                                      .replace(MULTI_VALUE_MARK, "; "), "explode_mismatch",
                                      f"{int(length.iloc[position])} element(s) here but {int(count[position])} in "
                                      f"another exploded field ({', '.join(explode.fields)}): they cannot be paired"))
        fix = np.flatnonzero(length.to_numpy() != count)
        if len(fix):  # only these rows are visited
            values = parts[field_name].copy()
            for position in fix:
                items, wanted = values.iloc[position], int(count[position])
                values.iloc[position] = (items + [""] * wanted)[:wanted]
            parts[field_name] = values
    exploded = frame.assign(**parts).explode(list(explode.fields), ignore_index=True)
    for field_name in explode.fields:
        exploded[field_name] = exploded[field_name].fillna("").astype("str").str.strip()
    element = pd.Series(np.arange(len(exploded))).groupby(np.repeat(np.arange(len(frame)), count)).cumcount()
    return exploded, np.repeat(rows, count), element.to_numpy(), np.repeat(count, count), issues


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


def _source_values(frame: pd.DataFrame, kind: str, value: str, alternatives: tuple[str, ...] = ()) -> pd.Series:
    if kind == "column":
        values = frame[alternatives[0] if alternatives else value]
        for other in alternatives[1:]:
            values = values.where(values.ne(""), frame[other])
        return values
    if kind == "constant":
        return pd.Series(value, index=frame.index, dtype="str")
    if kind == "template":
        return _template(frame, value).str.strip()
    return pd.Series("", index=frame.index, dtype="str")


def _once_per_value(mask: np.ndarray, values: pd.Series, rows: np.ndarray, label: str, origin: str, code: str,
                    message: str, severity: str) -> list[LedgerIssue]:
    """One issue per distinct value (at its first row, with the number of rows), not one per row."""
    if not mask.any():
        return []
    at = np.flatnonzero(mask)
    picked = pd.DataFrame({"value": values.to_numpy()[at], "row": rows[at]})
    grouped = picked.groupby("value", sort=False)["row"].agg(["first", "size"])
    return [LedgerIssue(label, int(first), origin, str(value), code,
                        message + (f" (in {int(size)} rows; reported once)" if size > 1 else ""), severity)
            for value, first, size in zip(grouped.index, grouped["first"], grouped["size"])]


def entry_values(frame: pd.DataFrame, entry: Entry, source_label: str, rows: np.ndarray, mapping: Mapping
                 ) -> tuple[pd.Series, list[LedgerIssue]]:
    """The text one entry gives each row, before the column-specific conventions (sign, date format), in the
    documented order: source (when: rules, first non-empty column) → split → extract → replace → lookup →
    prefix/suffix."""
    issues: list[LedgerIssue] = []
    values = _source_values(frame, entry.kind, entry.value, entry.alternatives)
    if entry.when:
        decided = np.zeros(len(frame), dtype=bool)
        for branch in entry.when:
            met, _ = condition_mask(frame, branch.condition)
            met = met & ~decided
            if met.any():
                values = values.where(~met, _source_values(frame, branch.kind, branch.value))
            decided |= met
    values = values.astype("str")
    if entry.split:
        values = _split(values, entry.split, entry.part)
    origin = column_origin(mapping, entry.ledger_column)
    if entry.extract:
        pattern = entry.extract if re.compile(entry.extract).groups else f"({entry.extract})"
        found = values.str.extract(pattern, expand=False)
        found = found.iloc[:, 0] if isinstance(found, pd.DataFrame) else found
        missed = found.isna().to_numpy() & values.ne("").to_numpy()
        issues += _once_per_value(missed, values, rows, source_label, origin, "extract_no_match",
                                  f"the pattern {entry.extract!r} finds nothing here: {entry.ledger_column} is left "
                                  "empty", WARNING)
        values = found.fillna("").astype("str").str.strip()
    for pattern, replacement in entry.replace:
        values = values.str.replace(pattern, replacement, regex=True).str.strip()
    if entry.lookup is not None:
        looked_up = values.map(entry.lookup)
        missing = looked_up.isna() & values.ne("")
        if entry.unmatched == "error" and missing.any():
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


NUMBER_PARTS = r"^(?P<before>[^\d]*?)\s*(?P<number>\d[\d.,' ]*?)\s*(?P<after>[^\d]*)$"


def convert_numbers(amount: pd.Series, formats: tuple[str, ...], label: str, rows: np.ndarray, origin: str
                    ) -> tuple[pd.Series, list[LedgerIssue]]:
    """Amounts written in the source's number style(s), tried in order, → plain digits with a decimal point
    ("20.000,50" → "20000.50"); a currency mark around the number is kept for the amount parser. Each distinct
    value is converted once."""
    codes, uniques = pd.factorize(amount, use_na_sentinel=False)
    distinct = pd.Series(np.asarray(uniques, dtype=object), dtype="str")
    parts = distinct.str.extract(NUMBER_PARTS)
    number = parts["number"].fillna("")
    converted = pd.Series("", index=distinct.index, dtype="str")
    done = pd.Series(False, index=distinct.index)
    for style in formats:
        thousands, decimal = NUMBER_FORMATS[style]
        grouped = rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+" if thousands else r"\d+"
        pattern = rf"(?:{grouped}|\d+)(?:{re.escape(decimal)}\d+)?"
        fits = number.str.fullmatch(pattern) & ~done
        plain = number.str.replace(thousands, "", regex=False) if thousands else number
        plain = plain.str.replace(decimal, ".", regex=False)
        converted = converted.where(~fits, parts["before"].fillna("") + plain + parts["after"].fillna(""))
        done |= fits
    bad = ~done & distinct.str.strip().ne("")
    issues = _once_per_value(bad.to_numpy()[codes], amount, rows, label, origin, "amount_format",
                             "does not match the number format(s) " + ", ".join(formats) +
                             " (columns.amount.format in the mapping)", ERROR)
    result = converted.where(done, distinct)
    return pd.Series(result.to_numpy()[codes], index=amount.index, dtype="str"), issues


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
    if entry.formats:
        parsed = pd.to_datetime(distinct, format=entry.formats[0], errors="coerce")
        for other in entry.formats[1:]:
            parsed = parsed.fillna(pd.to_datetime(distinct, format=other, errors="coerce"))
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
        expected = (f"the format {' or '.join(entry.formats)}" if entry.formats else "a four-digit year")
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


SINGLE_VALUE_COLUMNS = ("id", "date", "amount", "currency", "amount_kind", "payer", "payer_country", "recipient",
                        "recipient_country", "part_of", "same_as", "confidence", "visibility")
# Warnings about rows the import leaves out: kept even though their rows are not.
SKIP_CODES = ("skipped_duplicate", "skipped_blank_amount", "skipped_zero_amount", "skipped_self_payment")


def _several_elements(frame: pd.DataFrame, mapping: Mapping, label: str, rows: np.ndarray) -> list[LedgerIssue]:
    """A field of a record that holds several XML elements (or a JSON list) cannot become one payer, amount or
    date: "A; B" would be one entity with a made-up name. The mapping must explode it (or pick one by regex)."""
    exploded = set(mapping.explode.fields) if mapping.explode else set()
    issues = []
    for column in SINGLE_VALUE_COLUMNS:
        entry = mapping.entries.get(column)
        if entry is None:
            continue
        for name in entry.source_columns:
            if name in exploded or name not in frame.columns:
                continue
            several = frame[name].str.contains(MULTI_VALUE_MARK, regex=False).to_numpy(dtype=bool)
            issues += _once_per_value(several, frame[name].str.replace(MULTI_VALUE_MARK, "; ", regex=False), rows,
                                      label, f"{name} → {column}", "several_values",
                                      "this record holds several elements here, which cannot become one "
                                      f"{column}: add `explode: {{fields: [{name}]}}` to the mapping (one row per "
                                      "element)", ERROR)
    return issues


def _append_note(existing: pd.Series, note: pd.Series) -> pd.Series:
    return existing.where(note.eq(""), (existing + "; ").where(existing.ne(""), "") + note)


def _legal_form_suffix() -> str:
    """A regex for legal forms at the end of a folded name ("acme corp", "acme s r l", "x gmbh co kg")."""
    from ..entities import LEGAL_FORMS

    forms = sorted({f.lower() for f in LEGAL_FORMS} | {" ".join(f.lower()) for f in LEGAL_FORMS}, key=len,
                   reverse=True)
    return r"(?:\s+(?:" + "|".join(re.escape(f) for f in forms) + r"))+$"


def self_payment_mask(payer: pd.Series, recipient: pd.Series, register_keys: dict[str, str] | None) -> np.ndarray:
    """Rows whose payer and recipient are the same entity: two spellings of one registered entity, or the same
    name once case, punctuation and trailing legal forms are folded ("Acme Corp." = "ACME CORPORATION")."""
    from ..entities import name_key

    names = pd.concat([payer, recipient], ignore_index=True).astype("str").str.strip()
    codes, uniques = pd.factorize(names, use_na_sentinel=False)
    distinct = pd.Series(np.asarray(uniques, dtype=object), dtype="str")
    folded = name_key(distinct)
    if register_keys:
        registered = folded.map(register_keys)
        known = registered.notna().to_numpy()
        if known.any():  # a registered spelling stands for its canonical name, folded the same way
            folded = folded.copy()
            folded[known] = name_key(registered[known].astype("str")).to_numpy()
    # One vectorised pass over the distinct names: the legal forms at the end come off.
    bare = folded.str.replace(_legal_form_suffix(), "", regex=True).str.strip()
    bare = bare.where(bare.ne(""), folded).to_numpy(dtype=object)
    count = len(payer)
    left, right = codes[:count], codes[count:]
    return (bare[left] == bare[right]) & (bare[left] != "")


def _amendment_links(ledger: pd.DataFrame, key: pd.Series, amends: pd.Series, element: np.ndarray, label: str,
                     rows: np.ndarray) -> tuple[pd.Series, pd.Series, list[LedgerIssue]]:
    """(same_as, note, issues): every row of a record that a later record amends points at the row of the
    latest record of its chain (same element, else its first), so totals count the restated money once."""
    issues: list[LedgerIssue] = []
    same_as = pd.Series("", index=ledger.index, dtype="str")
    note = pd.Series("", index=ledger.index, dtype="str")
    key = key.astype("str").str.strip()
    amends = amends.astype("str").str.strip()
    present = set(key[key.ne("")].tolist())
    amending = amends.ne("") & amends.ne(key)
    # Only the records that amend another are visited (a few per register), never every row.
    amended_by: dict[str, str] = {}
    for position in np.flatnonzero(amending.to_numpy()):
        target, own = amends.iloc[position], key.iloc[position]
        if target not in present:
            issues.append(LedgerIssue(label, int(rows[position]), "amends", target, "amends_unknown",
                                      "amends a record that is not in this import (left out by a filter, or "
                                      "missing from the source): nothing is linked", WARNING))
            continue
        amended_by[target] = own  # records later in the source amend later
    if not amended_by:
        return same_as, note, issues
    latest: dict[str, str] = {}
    loops: set[frozenset] = set()
    for start in amended_by:
        seen, current = [start], amended_by[start]
        while current in amended_by and current not in seen:
            seen.append(current)
            current = amended_by[current]
        if current in seen:
            loop = frozenset(seen[seen.index(current):])
            if loop in loops:
                continue
            loops.add(loop)
            issues.append(LedgerIssue(label, None, "amends", " → ".join([*seen, current]), "amends_loop",
                                      "these records amend each other in a loop: correct the source's amendment "
                                      "ids"))
            continue
        latest[start] = current
    latest_key = key.map(latest)
    superseded = latest_key.notna().to_numpy()
    if not superseded.any():
        return same_as, note, issues
    ids = pd.DataFrame({"key": key, "element": element, "id": ledger["id"]})
    by_element = ids.drop_duplicates(["key", "element"]).set_index(["key", "element"])["id"]
    first = ids.drop_duplicates("key").set_index("key")["id"]
    wanted = pd.MultiIndex.from_arrays([latest_key[superseded].astype("str"), element[superseded]])
    target = pd.Series(by_element.reindex(wanted).to_numpy(), index=ledger.index[superseded])
    target = target.fillna(latest_key[superseded].map(first)).astype("str")
    same_as[superseded] = target
    note[superseded] = ("restated by amendment " + latest_key[superseded].astype("str") + ": counted once, on "
                        + target)
    return same_as, note, issues


def map_rows(mapping: Mapping, table: SourceTable, joined: dict[str, SourceTable],
             register_keys: dict[str, str] | None = None) -> Mapped:
    """Source records → ledger rows (text), with the rows left out counted and every problem named. Rows are
    left out first (duplicates, filters, blank or zero amounts), so issues are raised only for rows kept."""
    frame, rows, label = table.frame, table.rows, table.label
    # The caller's table lets go of the cells, so columns the mapping does not use are freed once selected out.
    table.frame = frame.iloc[:0]
    issues: list[LedgerIssue] = []
    skipped: dict[str, int] = dict(table.left_out)
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
    issues += found
    used = sorted(c for c in mapping.source_columns() if c in frame.columns)
    frame = fold_empty_values(frame[used], used, mapping.empty_values) if used else frame.iloc[:, :0]

    if mapping.filters:
        drop, counts, found = apply_filters(frame, mapping.filters, drop, label, rows)
        skipped.update(counts)
        issues += found

    # The amount is needed to leave out blank and zero amounts; its issues on rows left out are dropped below.
    amount_values, found = entry_values(frame, mapping.entries["amount"], label, rows, mapping)
    # Exploding or folding XML/JSON elements changes the cells, so there it is computed again on the rows kept.
    reuse_amount = mapping.explode is None and mapping.source.format not in ("xml", "json", "jsonl")
    if reuse_amount:
        issues += found
    amount = amount_values.str.strip()
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
    dropped = rows[drop]  # each source row is one record here, so none of these is among the rows kept
    if drop.any():
        keep = np.flatnonzero(~drop)
        frame, rows = frame.take(keep).reset_index(drop=True), rows[keep]
        amount_values = amount_values.take(keep).reset_index(drop=True)

    element = np.zeros(len(frame), dtype=np.int64)
    elements = np.ones(len(frame), dtype=np.int64)
    if mapping.explode is not None:
        frame, rows, element, elements, found = explode_records(frame, rows, mapping.explode, label)
        issues += found
    if mapping.source.format in ("xml", "json", "jsonl"):
        issues += _several_elements(frame, mapping, label, rows)
        marked = [c for c in frame.columns if frame[c].str.contains(MULTI_VALUE_MARK, regex=False).any()]
        if marked:
            frame = frame.assign(**{c: frame[c].str.replace(MULTI_VALUE_MARK, "; ", regex=False) for c in marked})

    values: dict[str, pd.Series] = {}
    for column, entry in mapping.entries.items():
        if entry.kind == "hash":
            continue
        if column == "amount" and reuse_amount:
            values[column] = amount_values
            continue
        values[column], found = entry_values(frame, entry, label, rows, mapping)
        issues += found

    notes: list[pd.Series] = []
    amount = values["amount"]
    unsigned, negative = split_sign(values["amount"])
    values["amount"] = unsigned
    amount_entry = mapping.entries["amount"]
    rule = amount_entry.negative
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
    if amount_entry.formats:
        values["amount"], found = convert_numbers(values["amount"], amount_entry.formats, label, rows,
                                                  column_origin(mapping, "amount"))
        issues += found

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

    values["id"] = _ids(values, frame, mapping, element if mapping.explode is not None else None, elements)
    if mapping.explode is not None:
        linked = _link_exploded(values, frame, mapping, element, elements)
        if linked is not None:
            values["same_as"], note = linked
            notes.append(note)
    if mapping.amendments is not None:
        ledger_ids = pd.DataFrame({"id": values["id"]})
        same_as, note, found = _amendment_links(ledger_ids, frame[mapping.amendments.key],
                                                frame[mapping.amendments.amends], element, label, rows)
        issues += found
        part_of = values.get("part_of", pd.Series("", index=frame.index, dtype="str"))
        restated = same_as.ne("") & part_of.eq("")
        current = values.get("same_as", pd.Series("", index=frame.index, dtype="str"))
        values["same_as"] = current.where(~restated, same_as)
        notes.append(note.where(restated, ""))
    if notes:
        existing = values.get("notes", pd.Series("", index=frame.index, dtype="str"))
        for note in notes:
            existing = _append_note(existing, note)
        values["notes"] = existing

    out = {c: values.get(c, pd.Series("", index=frame.index, dtype="str")).astype("str") for c in LEDGER_COLUMNS}
    ledger = pd.DataFrame(out, index=frame.index)
    ledger[ROW_FILE] = label
    ledger[ROW_NUMBER] = rows
    ledger[SOURCE_ROW_COLUMN] = label + ":" + pd.Series(rows, index=frame.index).astype("str")

    kinds = pd.DataFrame(index=frame.index)
    for side, entry in mapping.kind_entries.items():
        kinds[side], found = entry_values(frame, entry, label, rows, mapping)
        issues += found
        unknown = kinds[side].ne("") & ~kinds[side].isin(ENTITY_KINDS)
        issues += _once_per_value(unknown.to_numpy(), kinds[side], rows, label, f"entities.{side}", "entity_kind",
                                  f"not an entity kind; expected one of: {' | '.join(ENTITY_KINDS)}", ERROR)

    self_paid = self_payment_mask(ledger["payer"], ledger["recipient"], register_keys)
    self_payments = int(self_paid.sum())
    if self_payments and mapping.self_payments == "drop":
        pairs = ledger["payer"].str.strip()
        issues += _once_per_value(self_paid, pairs, rows, label, column_origin(mapping, "payer"),
                                  "skipped_self_payment", "the payer is also the recipient: skipped "
                                  "(self_payments: drop)", WARNING)
        skipped["payer is also the recipient (self_payments: drop)"] = self_payments
        self_dropped = rows[self_paid]
        keep = np.flatnonzero(~self_paid)
        ledger, kinds, rows = ledger.take(keep).reset_index(drop=True), kinds.take(keep).reset_index(drop=True), \
            rows[keep]
        # An exploded record may keep some of its rows: only records left out entirely count as left out.
        dropped = np.concatenate([dropped, self_dropped[~np.isin(self_dropped, rows)]])
    elif self_payments and mapping.self_payments == "warn":
        issues += _once_per_value(self_paid, ledger["payer"].str.strip(), rows, label,
                                  column_origin(mapping, "payer"), "self_payment",
                                  "the payer is also the recipient (a self-filer?): kept; write `self_payments: keep` "
                                  "or `self_payments: drop` in the mapping", WARNING)
    # Issues of source rows left out are not raised.
    left_out_rows = set(dropped.tolist())
    if left_out_rows:
        issues = [i for i in issues if i.file != label or i.row not in left_out_rows or i.code in SKIP_CODES]
    return Mapped(ledger, issues, skipped, swapped, self_payments, kinds)


def _link_exploded(values: dict[str, pd.Series], frame: pd.DataFrame, mapping: Mapping, element: np.ndarray,
                   elements: np.ndarray) -> tuple[pd.Series, pd.Series] | None:
    """When one record became several rows and the amount is the record's (the source does not split it), the
    first row carries it and the others are same_as that row, so the record's money is counted once. A row whose
    amount comes from an exploded field (each element's own share) is its own money and is not linked."""
    own = np.zeros(len(frame), dtype=bool)
    for name in set(mapping.entries["amount"].source_columns) & set(mapping.explode.fields):
        own |= frame[name].ne("").to_numpy(dtype=bool)
    record_start = element == 0
    record_own = pd.Series(own).groupby(np.cumsum(record_start)).transform("max")
    several = (elements > 1) & ~record_own.to_numpy(dtype=bool)
    if not several.any():
        return None
    ids = values["id"]
    first_id = pd.Series(np.where(element == 0, ids.to_numpy(dtype=object), None), index=ids.index).ffill()
    first_id = first_id.fillna("").astype("str")
    later = several & (element > 0)
    current = values.get("same_as", pd.Series("", index=ids.index, dtype="str"))
    same_as = current.where(~later | current.ne(""), first_id)
    count = pd.Series(elements, index=ids.index).astype("str")
    fields = ", ".join(mapping.explode.fields)
    note = pd.Series("", index=ids.index, dtype="str")
    note = note.where(~(several & (element == 0)), "one source record with " + count + f" elements in {fields}; "
                      "the amount is the whole record's (the source does not split it) and is counted on this row")
    note = note.where(~later, "one source record with " + count + f" elements in {fields}; the amount is the whole "
                      "record's, counted once, on " + first_id)
    return same_as.astype("str"), note


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


def _ids(values: dict[str, pd.Series], frame: pd.DataFrame, mapping: Mapping, element: np.ndarray | None = None,
         elements: np.ndarray | None = None) -> pd.Series:
    """Stable ids; the rows an exploded record became get -1, -2, … after the record's id."""
    entry = mapping.entries.get("id")
    prefix = re.sub(ID_UNSAFE, "-", mapping.name).strip("-") + "-"
    if entry is None:
        basis = pd.DataFrame({c: v for c, v in values.items() if c != "id"}, index=frame.index)
        return deterministic_ids(basis[sorted(basis.columns)], prefix)
    if entry.kind == "hash":
        basis = frame[list(entry.hash_columns)]
        ids = deterministic_ids(basis, entry.prefix or prefix) if element is None else \
            deterministic_ids(basis.assign(**{"\x00element": pd.Series(element, index=frame.index).astype("str")}),
                              entry.prefix or prefix)
        return ids
    ids = slug(values["id"])
    if element is not None:
        several = pd.Series(elements > 1, index=ids.index)
        ids = ids.where(~several, ids + "-" + pd.Series(element + 1, index=ids.index).astype("str"))
    return ids
