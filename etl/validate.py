"""Row-level checks that need no parsing: required cells, allowed values, unique ids, source URLs, links."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import WARNING, LedgerIssue, issues_from_mask
from .uniques import arrow_strings, blank, first_occurrences, fullmatch, spread
from .schema import (AMOUNT_KINDS, CONFIDENCE_LEVELS, REQUIRED_COLUMNS, ROW_FILE, ROW_NUMBER, UNKNOWN_DATE_TOKENS,
                     VISIBILITIES)

ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:\-]*"
# No whitespace, separator (\p{Z}: no-break spaces, U+2028, U+2029) or control, format or unassigned character
# (\p{C}: NUL, NEL, bidi overrides, zero-width spaces) anywhere in an address.
URL_PATTERN = r"https?://[^\s|<>\"'\p{Z}\p{C}]+\.[^\s|<>\"'\p{Z}\p{C}]*"
# Columns checked elsewhere with a more precise message.
_CHECKED_BY_PARSERS = ("amount",)
ENUM_COLUMNS = {"amount_kind": AMOUNT_KINDS, "confidence": CONFIDENCE_LEVELS, "visibility": VISIBILITIES}


def normalise_enums(raw: pd.DataFrame) -> pd.DataFrame:
    """Enum cells folded to the lower-case spelling the schema uses ("Monthly" → "monthly", "at least" → "at_least")."""
    out = {}
    for column in ENUM_COLUMNS:
        codes, uniques = pd.factorize(raw[column], use_na_sentinel=False)
        folded = pd.Series(np.asarray(uniques, dtype=object), dtype="str").fillna("").str.strip().str.lower()
        folded = folded.str.replace(r"[\s\-]+", "_", regex=True)
        # Cells already written the schema's way keep sharing the ledger's column instead of a copy.
        same = bool((folded.to_numpy(dtype=object) == np.asarray(uniques, dtype=object)).all())
        out[column] = raw[column] if same and raw[column].dtype == "str" else spread(folded, codes, raw.index)
    return pd.DataFrame(out, index=raw.index)


def validate_rows(raw: pd.DataFrame, enums: pd.DataFrame | None = None, links_out: list | None = None
                  ) -> list[LedgerIssue]:
    """Every issue found in cells that are checked as text, for all ledgers at once. The resolved links are
    appended to links_out when given, so the allocation reuses them instead of hashing every id again."""
    enums = normalise_enums(raw) if enums is None else enums
    issues = validate_cells(raw, enums)
    ids = raw["id"].str.strip()
    links = resolve_links(raw, ids)
    if links_out is not None:
        links_out.append(links)
    issues += _duplicate_ids(raw, ids, links.first_any)
    issues += link_issues(raw, ids, links)
    issues += public_links_to_internal(raw, enums["visibility"], links)
    return issues


def validate_cells(raw: pd.DataFrame, enums: pd.DataFrame) -> list[LedgerIssue]:
    """The checks of validate_rows that look at each row alone: every one but unique ids and links, which
    etl/stream.py checks over all rows."""
    issues: list[LedgerIssue] = []
    for column in REQUIRED_COLUMNS:
        if column in _CHECKED_BY_PARSERS:
            continue
        empty = blank(raw[column])
        issues += issues_from_mask(raw, empty, column, raw[column], "required", f"{column} is required")

    for column, allowed in ENUM_COLUMNS.items():
        value = enums[column]
        bad = value.ne("") & ~value.isin(allowed)
        issues += issues_from_mask(raw, bad, column, raw[column], "not_allowed", f"expected one of: {' | '.join(allowed)}")

    ids = raw["id"].str.strip()
    issues += issues_from_mask(raw, ids.ne("") & ~fullmatch(ids, ID_PATTERN), "id", raw["id"], "id_format",
                               "ids use letters, digits and . _ : - only (no spaces), e.g. laundromat-volonte-2012")
    issues += _source_issues(raw)

    date = raw["date"].str.strip()
    undated = (date.eq("") | date.str.lower().isin(UNKNOWN_DATE_TOKENS)) & blank(raw["date_note"])
    issues += issues_from_mask(raw, undated, "date_note", raw["date_note"], "date_note_missing",
                               "the date is missing: say why in date_note (e.g. 'not given in the source')", WARNING)
    return issues


def public_links_to_internal(raw: pd.DataFrame, visibility: pd.Series, links: Links) -> list[LedgerIssue]:
    """A public row part_of (or same_as) an internal row: the public view would show an id it otherwise hides,
    and the money would be counted only in the hidden row, so the public totals show none of it."""
    internal = visibility.eq("internal").to_numpy(dtype=bool)
    issues: list[LedgerIssue] = []
    for column, positions in links.positions.items():
        linked = positions >= 0
        bad = ~internal & linked & internal[np.where(linked, positions, 0)]
        if not bad.any():
            continue
        # The message names the target row, so it is only built for the (few) rows concerned.
        at = positions[bad]
        where = raw[ROW_FILE].iloc[at].astype("str").to_numpy(object) + ":" + \
            raw[ROW_NUMBER].iloc[at].astype("str").to_numpy(object)
        message = pd.Series("", index=raw.index, dtype="str")
        message[bad] = (f"this public row is {column} a row that is internal (" + pd.Series(where, dtype="str")
                        + "): the public view would show the internal row's id, and the money is counted only in "
                          "that hidden row, so public totals show none of it; make both rows public or both "
                          "internal").to_numpy(object)
        issues += issues_from_mask(raw, pd.Series(bad, index=raw.index), column, raw[column],
                                   "public_links_internal", message, WARNING)
    return issues


def _duplicate_ids(raw: pd.DataFrame, ids: pd.Series, is_first: np.ndarray) -> list[LedgerIssue]:
    dup = ids.ne("") & ~is_first
    if not dup.any():
        return []
    first = raw.loc[ids.ne("") & is_first, [ROW_FILE, ROW_NUMBER]].assign(id=ids)
    first_at = dict(zip(first["id"], first[ROW_FILE] + ":" + first[ROW_NUMBER].astype("str")))
    message = "duplicate id: already used at " + ids[dup].map(first_at).astype("str")
    return issues_from_mask(raw, dup, "id", raw["id"], "id_duplicate", message.reindex(raw.index, fill_value=""))


def _encode(values: list[pd.Series]) -> list[np.ndarray]:
    """One Arrow hash pass over several text series: codes shared between them, numbered by first appearance."""
    arrays = [arrow_strings(series).cast(pa.large_string()) for series in values]
    chunks = [chunk for array in arrays for chunk in getattr(array, "chunks", [array])]
    # Missing cells share one code, as pandas' duplicated and get_indexer treat them.
    codes = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.large_string()), null_encoding="encode")
    codes = codes.combine_chunks().indices
    codes = codes.to_numpy(zero_copy_only=False).astype(np.int64)
    return np.split(codes, np.cumsum([len(series) for series in values])[:-1])


def split_sources(sources: pd.Series) -> pd.Series:
    """One source per element (exploded, index kept); ' | ' separates them, a bare '|' is tolerated."""
    parts = sources.str.split("|", regex=False).explode().astype("str").str.strip()
    return parts[parts.ne("")]


def _source_issues(raw: pd.DataFrame) -> list[LedgerIssue]:
    # Whole cells are checked at once; only cells that fail are split to name the bad part.
    cell_ok = fullmatch(raw["sources"], rf"\s*{URL_PATTERN}(\s*\|\s*{URL_PATTERN})*\s*") | blank(raw["sources"])
    if cell_ok.all():
        return []
    parts = split_sources(raw.loc[~cell_ok, "sources"])
    bad = parts[~fullmatch(parts, URL_PATTERN)]
    if bad.empty:
        return []
    first_bad = bad.groupby(level=0).first()
    mask = pd.Series(False, index=raw.index)
    mask[first_bad.index] = True
    message = ("not an http(s) URL: '" + first_bad.reindex(raw.index, fill_value="")
               + "' (each source is a full http:// or https:// address; separate several with ' | ')")
    return issues_from_mask(raw, mask, "sources", raw["sources"], "source_not_url", message)


@dataclass
class Links:
    """Where each row's part_of / same_as points (row position, -1 for none) and which rows hold an id first."""

    targets: dict[str, pd.Series]
    linked: dict[str, pd.Series]
    positions: dict[str, np.ndarray]
    first_any: np.ndarray  # first row holding each id value, "" included
    first: np.ndarray  # first row holding each non-empty id


def resolve_links(raw: pd.DataFrame, ids: pd.Series) -> Links:
    targets = {column: raw[column].str.strip() for column in ("part_of", "same_as")}
    linked = {column: target.ne("") for column, target in targets.items()}
    # Ids come first in one shared encoding, so a target's code is below the number of distinct ids exactly when
    # some row has that id, and the k-th first occurrence holds code k.
    id_codes, *target_codes = _encode([ids, *(targets[c][linked[c]] for c in targets)])
    first_any = first_occurrences(id_codes)
    row_of_code = np.flatnonzero(first_any)
    positions = {}
    for (column, target), codes in zip(targets.items(), target_codes):
        rows = np.full(len(target), -1)
        known = codes < len(row_of_code)
        rows[np.flatnonzero(linked[column].to_numpy())[known]] = row_of_code[codes[known]]
        positions[column] = rows
    return Links(targets, linked, positions, first_any, first_any & ids.ne("").to_numpy())


def link_issues(raw: pd.DataFrame, ids: pd.Series, links: Links | None = None) -> list[LedgerIssue]:
    """part_of / same_as must name another existing id, and following the links must never loop."""
    links = resolve_links(raw, ids) if links is None else links
    issues: list[LedgerIssue] = []
    for column, target in links.targets.items():
        linked = links.linked[column]
        exists = pd.Series(links.positions[column] >= 0, index=raw.index)
        issues += issues_from_mask(raw, linked & ~exists, column, raw[column], "link_unknown",
                                   "no row has this id (check the spelling; ids are unique across all ledgers)")
        issues += issues_from_mask(raw, linked & target.eq(ids), column, raw[column], "link_self",
                                   "a row cannot point at itself")
    in_cycle = rows_in_cycles(links.first, links.positions["part_of"], links.positions["same_as"])
    if in_cycle.any():  # the value quotes both links, so it is only built for rows that loop
        issues += issues_from_mask(raw, pd.Series(in_cycle, index=raw.index), "part_of",
                                   raw["part_of"] + " " + raw["same_as"], "link_cycle",
                                   "part_of/same_as links go round in a circle; the chain must end at a row that is "
                                   "counted")
    return issues


def rows_in_cycles(first: np.ndarray, part_of: np.ndarray, same_as: np.ndarray) -> np.ndarray:
    """Rows on (or leading into) a loop of links, given each row's target row positions (-1 for none).

    The links form a graph with at most two edges out of each row. Its strongly connected components of more than
    one row are the loops (scipy's csgraph, linear in rows and links); a breadth-first search from all of them
    along the reversed links finds the rows that lead into one. Self-links and unknown targets end a chain here
    (they are reported on their own); a repeated id's later rows are never a target and are not followed.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    rows = len(first)
    own = np.arange(rows)
    sources, targets = [], []
    for target in (part_of, same_as):
        followed = (target >= 0) & (target != own) & first
        sources.append(own[followed])
        targets.append(target[followed])
    source, target = np.concatenate(sources), np.concatenate(targets)
    in_cycle = np.zeros(rows, dtype=bool)
    if not len(source):
        return in_cycle
    graph = csr_matrix((np.ones(len(source), dtype=np.int8), (source, target)), shape=(rows, rows))
    _, component = connected_components(graph, directed=True, connection="strong")
    looping = np.bincount(component)[component] > 1
    if not looping.any():
        return in_cycle
    # One extra node with an edge to every looping row starts the search from all loops at once.
    start = rows
    loops = np.flatnonzero(looping)
    reverse = csr_matrix((np.ones(len(source) + len(loops), dtype=np.int8),
                          (np.concatenate([target, np.full(len(loops), start)]), np.concatenate([source, loops]))),
                         shape=(rows + 1, rows + 1))
    reached = breadth_first_order(reverse, start, directed=True, return_predecessors=False)
    in_cycle[reached[reached != start]] = True
    return in_cycle
