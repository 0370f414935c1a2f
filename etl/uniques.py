"""Run a cell parser once per distinct value, then spread its results and issues back over the rows.

Ledger columns repeat heavily (the same dates, currencies, names and even amounts), so this turns a million-row
parse into a parse of the distinct values plus one vectorised take.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from .errors import LedgerIssue
from .schema import ROW_FILE, ROW_NUMBER

Parser = Callable[[pd.Series, pd.DataFrame], tuple[pd.DataFrame, list[LedgerIssue]]]


def per_unique(values: pd.Series, labels: pd.DataFrame, parse: Parser) -> tuple[pd.DataFrame, list[LedgerIssue]]:
    """parse(distinct_values, their_labels) -> (one result row per distinct value, issues about them).

    Issues found on a distinct value are repeated for every row holding it, with that row's file and number.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    distinct = pd.Series(np.asarray(uniques, dtype=object), dtype="str")
    unique_labels = pd.DataFrame({ROW_FILE: pd.Series([""] * len(distinct), dtype="str"),
                                  ROW_NUMBER: np.arange(len(distinct), dtype="int64")})
    result, found = parse(distinct, unique_labels)
    spread = result.iloc[codes].set_axis(values.index)
    if not found:
        return spread, []
    found_table = pd.DataFrame({"code": [int(i.row) for i in found], "issue": range(len(found))})
    # Only rows holding a value with issues are labelled: the file column of every row would be a million Python
    # strings.
    at = np.flatnonzero(np.isin(codes, found_table["code"].to_numpy()))
    rows = pd.DataFrame({"code": codes[at], ROW_FILE: labels[ROW_FILE].iloc[at].to_numpy(),
                         ROW_NUMBER: labels[ROW_NUMBER].iloc[at].to_numpy()})
    rows = rows.merge(found_table, on="code")
    issues = [LedgerIssue(str(file), int(number), found[k].column, found[k].value, found[k].code, found[k].message,
                          found[k].severity)
              for file, number, k in zip(rows[ROW_FILE], rows[ROW_NUMBER], rows["issue"])]
    return spread, issues


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique of an integer array, by a sort: numpy's own (hash-based since numpy 2.3) is twenty times slower
    on a million positions."""
    ordered = np.sort(values)
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(ordered) else ordered


def first_occurrences(codes: np.ndarray) -> np.ndarray:
    """True at the first row of each code, for codes numbered in order of first appearance (as factorize and
    Arrow's dictionary_encode number them): a row is first when its code exceeds every earlier one."""
    if not len(codes):
        return np.zeros(0, dtype=bool)
    earlier = np.concatenate([[-1], np.maximum.accumulate(codes)[:-1]])
    return codes > earlier


def spread(distinct, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """distinct[codes] as a text Series over index. Arrow gathers the text: building the Series from a million
    Python strings costs several times more."""
    import pyarrow as pa

    table = pa.array(np.asarray(distinct, dtype=object), type=pa.large_string(), from_pandas=True)
    return pd.Series(table.take(pa.array(np.asarray(codes, dtype=np.int64))), index=index, dtype="str")


def strip(values: pd.Series) -> pd.Series:
    """values.str.strip(), but values itself when no cell changes, so the column is shared instead of copied."""
    import pyarrow.compute as pc

    stripped = values.str.strip()
    before, after = getattr(values.array, "_pa_array", None), getattr(stripped.array, "_pa_array", None)
    if before is None or after is None:
        return stripped
    # Stripping only removes characters, so equal lengths mean equal cells.
    unchanged = pc.all(pc.equal(pc.binary_length(before), pc.binary_length(after))).as_py() is not False
    return values if unchanged and values.dtype == stripped.dtype else stripped


def blank(values: pd.Series) -> pd.Series:
    """values.str.strip().eq("") without building the stripped text (Arrow's is-space test and its trim share one
    definition of whitespace). Missing cells are not blank, as with strip."""
    import pyarrow.compute as pc

    array = getattr(values.array, "_pa_array", None)
    if array is None:
        return values.str.strip().eq("")
    empty = pc.or_(pc.equal(pc.binary_length(array), 0), pc.utf8_is_space(array))
    return pd.Series(pc.fill_null(empty, False).to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


def arrow_strings(values: pd.Series):
    import pyarrow as pa

    array = getattr(values.array, "_pa_array", None)
    return array if array is not None else pa.array(values.astype("str").to_numpy(object), type=pa.string())


def fullmatch(values: pd.Series, pattern: str) -> pd.Series:
    """Whole-cell regex match (RE2 syntax) straight through Arrow; pandas' own str.fullmatch falls back to Python
    row by row, which is many times slower on a million cells. Missing cells never match."""
    import pyarrow.compute as pc

    matched = pc.match_substring_regex(arrow_strings(values), f"^(?:{pattern})$")
    return pd.Series(matched.to_numpy(zero_copy_only=False), index=values.index).fillna(False).astype(bool)


def contains(values: pd.Series, pattern: str) -> pd.Series:
    """Regex search (RE2 syntax) straight through Arrow; missing cells never match."""
    import pyarrow.compute as pc

    matched = pc.match_substring_regex(arrow_strings(values), pattern)
    return pd.Series(matched.to_numpy(zero_copy_only=False), index=values.index).fillna(False).astype(bool)
