"""Load the dataset the ETL wrote, read-only, and the visibility gate: what the current request may see.

One request sees one build from start to end: the first load() of a request resolves build/current once, and the
Dataset it gets (cached per build folder, never changed) is pinned to the request in flask.g. A rebuild while the
request runs switches the pointer for later requests only. Each snapshot comes in two audiences: every row, or the
public rows alone with only what they reveal (entity register, ledger names and counts, references to other rows).
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pycountry

from etl.builds import current_build
from etl.emit import arrow_to_frame, read_dataset

# Where a transfer's rest is not yet traced to anyone, the diagram says so instead of naming the vague recipient.
from .filters import UNTRACED_LABEL
from etl.schema import BUILD_DIR, DATASET_PARQUET, ENTITIES_OUTPUT, REPORT_JSON

BUILD_DIR_ENV = "INFLUENCE_LEDGER_BUILD_DIR"
PUBLIC_MODE_ENV = "INFLUENCE_LEDGER_PUBLIC"
CATEGORY_COLUMNS = ("payer", "recipient", "intermediary", "payer_country", "recipient_country", "confidence",
                    "amount_kind", "ledger_file", "currency", "visibility", "date_raw")


@dataclass(frozen=True)
class Dataset:
    """The normalised rows (held or fetched, see FullRows) plus what the dashboard derives once: float USD for
    charts, category codes, search."""

    rows: "FullRows"
    chart: pd.DataFrame
    entities: pd.DataFrame
    report: dict
    folder: Path
    aliases: pd.DataFrame
    # "internal": every row of the build; "public": public rows only (see public_view).
    audience: str = "internal"
    # id → (short, long) label of every transfer that has documented parts (see parent_labels), and of those
    # the public rows alone show.
    parents: dict = field(default_factory=dict)
    public_parents: dict = field(default_factory=dict)
    # The chart holds its public rows first (see public_first): the first `public_count` rows are the public ones,
    # so the public's rows are a slice of the chart, not a copy.
    public_count: int = 0


INTERNAL, PUBLIC = "internal", "public"
SNAPSHOT_KEY = "influence_ledger_snapshot"
REFERENCE_COLUMNS = ("part_of", "same_as")
HIDDEN_REFERENCE_NOTE = "not counted in totals"


def build_dir() -> Path:
    return Path(os.environ.get(BUILD_DIR_ENV) or BUILD_DIR)


def _iso3(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    return country.alpha_3 if country else ""


def as_category(values: pd.Series) -> pd.Series:
    """A categorical built by Arrow's dictionary encoding, without materialising a Python string per row; its
    categories in order of first appearance, however the column was read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values.dtype, pd.CategoricalDtype):
        # Read as a dictionary already (a large build, see CHART_SOURCE_COLUMNS): only the codes are renumbered, and
        # a missing value stays missing.
        read = values.cat.codes.to_numpy()
        codes = np.full(len(read), -1, dtype="int32")
        codes[read >= 0], first_seen = pd.factorize(read[read >= 0])
        categories = pd.Index(values.cat.categories.astype("str").to_numpy()[first_seen], dtype="str")
        return pd.Series(pd.Categorical.from_codes(codes, categories), index=values.index)
    array = _arrow_array(values)
    encoded = pc.dictionary_encode(array).combine_chunks() if isinstance(array, pa.ChunkedArray) else \
        pc.dictionary_encode(array)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    categories = pd.Index(encoded.dictionary.to_pylist(), dtype="str")
    return pd.Series(pd.Categorical.from_codes(codes.astype("int32"), categories), index=values.index)


def through_codes(per_category: np.ndarray, codes: np.ndarray, missing) -> np.ndarray:
    """Per row, its category's entry of per_category (`missing` for a row without a category, code -1)."""
    return np.append(per_category, np.asarray([missing], dtype=per_category.dtype))[
        np.where(codes < 0, len(per_category), codes)]


def recode(categorical: pd.Series, translate) -> pd.Series:
    """Apply translate to each category (not each row) of a categorical; rows follow through their codes."""
    old = [translate(str(c)) for c in categorical.cat.categories]
    new_categories = sorted(set(old))
    position = {c: i for i, c in enumerate(new_categories)}
    lookup = np.array([position[c] for c in old], dtype="int32")
    return pd.Series(pd.Categorical.from_codes(through_codes(lookup, categorical.cat.codes.to_numpy(), -1),
                                               pd.Index(new_categories, dtype="str")), index=categorical.index)


def _arrow_array(values: pd.Series):
    """A column's Arrow array: the one an Arrow-backed column holds already, else made from its values."""
    import pyarrow as pa

    return values.array._pa_array if hasattr(values.array, "_pa_array") else pa.array(values.array)


def _arrow(values: pd.Series):
    """A text column as one Arrow string array, without a Python string per row."""
    import pyarrow as pa

    array = _arrow_array(values)
    return array.combine_chunks().cast(pa.string()) if isinstance(array, pa.ChunkedArray) else array.cast(pa.string())


def to_float(values: pd.Series) -> pd.Series:
    """Exact decimals as float64 for charts, cast by Arrow (pandas' own path goes through Python objects)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    floats = pc.cast(_arrow_array(values), pa.float64())
    return pd.Series(floats.to_numpy(zero_copy_only=False), index=values.index, dtype="float64")


def prepare(frame: pd.DataFrame, parents: dict | None = None, public_parents: dict | None = None
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(full, chart): the dataset with a row_key, and a narrow frame of cheap dtypes for filtering and charts.

    The chart frame holds numbers, dates, booleans and categories only, so filtering a million rows copies no
    text; the full rows (exact decimals, sources, notes) are fetched by row_key only for what is shown or
    downloaded. prepare_in_parts makes the same chart from a Parquet file a part at a time.
    """
    full = frame.reset_index(drop=True)
    full["row_key"] = np.arange(len(full), dtype="int64")
    # The parents' labels: given by _load (which keeps them on the Dataset), or worked out here.
    parents = parent_labels(full) if parents is None else parents
    public = (full["visibility"] == "public").to_numpy()
    if public.all():
        public_parents = None
    elif public_parents is None:
        public_parents = parent_labels(full, public)
    return full, finish_chart(row_columns(full, 0, ParentIndex.of(parents), ParentIndex.of(public_parents)),
                              reference_columns(full))


# Rows a large build's chart is made from at a time (about 0.1 GB of its columns per part).
LOAD_PART_ROWS = 250_000
# What parent_labels and reference_columns read of every row: the links and the parents' own figures.
LINK_COLUMNS = ("id", "part_of", "same_as", "visibility", "amount", "currency", "amount_kind", "payer", "recipient",
                "date_raw")


def prepare_in_parts(parquet: Path) -> tuple[pd.DataFrame, dict, dict]:
    """(chart, parents, public_parents) of a build's Parquet file, equal to prepare's, holding at most the link
    columns of every row and the chart columns of one part at a time beside the chart being made."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    links = read_dataset(parquet, columns=LINK_COLUMNS,
                         dictionaries=tuple(c for c in LINK_COLUMNS if c in REPEATED_TEXT_COLUMNS))
    public = (links["visibility"] == "public").to_numpy()
    texts: dict = {}
    parents, public_parents = parent_labels(links, texts=texts), parent_labels(links, public, texts)
    references = reference_columns(links)
    # Made once: each part's tree and parent labels share these categories instead of holding a copy each.
    labels, public_labels = ParentIndex.of(parents), None if public.all() else ParentIndex.of(public_parents)
    del links, public
    _give_back_freed_memory()
    source = pq.ParquetFile(parquet, read_dictionary=list(REPEATED_TEXT_COLUMNS))
    pieces, first_key = [], 0
    for batch in source.iter_batches(batch_size=LOAD_PART_ROWS, columns=list(CHART_SOURCE_COLUMNS)):
        part = arrow_to_frame(pa.Table.from_batches([batch]))
        pieces.append(row_columns(part.reset_index(drop=True), first_key, labels, public_labels))
        first_key += len(part)
        del part
        _give_back_freed_memory()
    if not pieces:
        empty = arrow_to_frame(source.schema_arrow.empty_table().select(list(CHART_SOURCE_COLUMNS)))
        pieces.append(row_columns(empty, 0, labels, public_labels))
    return finish_chart(_concat_parts(pieces), references), parents, public_parents


def _concat_parts(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts' rows in order; each categorical's categories in order of first appearance over all parts (what
    as_category gives the whole column)."""
    from pandas.api.types import union_categoricals

    if len(pieces) == 1:
        return pieces[0]
    out = pd.DataFrame(index=pd.RangeIndex(sum(len(p) for p in pieces)))
    for name in list(pieces[0].columns):
        # A column at a time, each part's copy let go once merged: the parts and the chart are never both whole.
        parts = [p.pop(name) for p in pieces]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            merged = union_categoricals(parts, sort_categories=False)
            out[name] = pd.Categorical.from_codes(merged.codes,
                                                  pd.Index(merged.categories.astype("str").to_numpy(), dtype="str"))
        else:
            out[name] = np.concatenate([part.to_numpy() for part in parts])
        del parts
    return out


@dataclass(frozen=True)
class ParentIndex:
    """parent_labels as the chart uses them: the parents' ids, and their short and long labels as categories."""

    ids: pd.Index
    short: pd.CategoricalDtype
    long: pd.CategoricalDtype

    @classmethod
    def of(cls, parents: dict[str, tuple[str, str]] | None) -> "ParentIndex | None":
        if parents is None:
            return None
        return cls(pd.Index(list(parents), dtype="str"),
                   pd.CategoricalDtype(pd.Index([labels[0] for labels in parents.values()], dtype="str")),
                   pd.CategoricalDtype(pd.Index([labels[1] for labels in parents.values()], dtype="str")))


def row_columns(full: pd.DataFrame, first_key: int, parents: ParentIndex, public_parents: ParentIndex | None
                ) -> pd.DataFrame:
    """The chart columns each row gives on its own (numbers, dates, its categories as written, what it draws), for
    rows that start at row_key first_key; public_parents None when every row is public."""
    total = to_float(full["total_usd"])
    amount = to_float(full["amount_usd"])
    chart = pd.DataFrame({
        "row_key": np.arange(first_key, first_key + len(full), dtype="int64"),
        "counts_in_totals": full["counts_in_totals"].astype(bool).to_numpy(),
        # What the row reported (its total, or its amount when it has none): shown when every report is listed.
        "value_usd": total.where(total.notna(), amount).to_numpy(),
        "total_amount_f": to_float(full["total_amount"]).to_numpy(),
        "amount_f": to_float(full["amount"]).to_numpy(),
        "date_start": full["date_start"].to_numpy(), "date_end": full["date_end"].to_numpy(),
        "date_plot": full["date_plot"].to_numpy(),
        "date_last": full["date_end"].where(full["date_end"].notna(), full["date_start"]).to_numpy(),
        "is_open_rate": full["totals_note"].str.contains("rate without", regex=False).to_numpy(dtype=bool),
    })
    for column in (*CATEGORY_COLUMNS, "payer_country_name", "recipient_country_name"):
        chart[column] = as_category(full[column]).array
    chart["converted"] = (chart["currency"] != "USD").to_numpy()
    # The public rows' own allocation, kept beside the whole one: public_view swaps it in.
    for prefix, labels in (("", parents), ("public_", public_parents)):
        if labels is None:
            continue
        for name, values in allocation_columns(full, chart, prefix, labels).items():
            chart[prefix + name] = values.array
    return chart


def finish_chart(chart: pd.DataFrame, references: dict[str, np.ndarray]) -> pd.DataFrame:
    """The chart columns worked out over all rows at once: countries' codes and names, labels, the untraced
    rests' label, integer dates, and what each row's references point at."""
    for side in ("payer_country", "recipient_country"):
        chart[side + "_iso3"] = recode(chart[side], _iso3)
        pairs = pd.DataFrame({"code": chart[side].cat.codes, "name": chart[side + "_name"].cat.codes})
        pairs = pairs.drop_duplicates("code")
        codes, names = chart[side].cat.categories, chart[side + "_name"].cat.categories
        name_of = {str(codes[c]): (str(names[n]) if n >= 0 else "") for c, n in zip(pairs["code"], pairs["name"])
                   if c >= 0}
        chart[side + "_label"] = recode(chart[side], lambda c: name_of.get(c, "") if c else "Country not stated")
    for level in ("payer", "intermediary"):
        chart[level + "_label"] = chart[level]
    # Where a transfer's rest is not yet traced to anyone, the diagram says so instead of naming the recipient
    # (each allocation its own rests: a public transfer whose rest is untraced only because its parts are internal
    # keeps its recipient in the public view, where the untraced label would tell that such parts exist).
    plain = {"recipient_label": chart["recipient"], "recipient_country_label": chart["recipient_country_label"]}
    for prefix in ("public_", ""):
        if prefix + "drawn_role" not in chart:
            continue
        untraced = (chart[prefix + "drawn_role"] == "untraced").to_numpy()
        for column, labels in plain.items():
            if untraced.any():
                labels = labels.cat.add_categories([UNTRACED_LABEL]) if UNTRACED_LABEL not in \
                    labels.cat.categories else labels.copy()
                labels[untraced] = UNTRACED_LABEL
            chart[prefix + column] = labels
    # Dates as plain integers for the figures' per-node minimum and maximum (a conversion per request would cost
    # more than the sums).
    for column in ("date_start", "date_last"):
        chart[column + "_us"] = chart[column].to_numpy(dtype="datetime64[us]").astype("int64")
    for name, values in references.items():
        chart[name] = values
    return chart


def _text_codes(values: pd.Series):
    """A text column as codes into its distinct values (-1 where missing) and those values as an Arrow string
    array: a categorical's own categories, else as_category's (no Python string per row)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = as_category(values)
    return values.cat.codes.to_numpy().astype("int64"), _arrow(pd.Series(values.cat.categories.astype("str")))


def _position_in(values, names) -> np.ndarray:
    """For each of `values` (an Arrow string array), the position of its text among `names` (distinct), -1 for
    none: a scan of the values against a hash of the few names, never a hash of the values."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.index_in(values, value_set=names), -1).to_numpy(zero_copy_only=False).astype("int64")


def reference_columns(full: pd.DataFrame) -> dict[str, np.ndarray]:
    """Where each row's references lead, over every row of a build (`full` needs id, visibility, part_of and
    same_as): preferred_key, the row_key of the row a restated report restates (-1 for none: a search that finds
    one finds both), and unseen_part_of / unseen_same_as, references a viewer of public rows may not follow (to
    a row that is not public, or not in the build).

    Worked out per distinct reference: the ids (one per row, millions) are scanned against the references named,
    which are far fewer, so no table of every id is ever made."""
    import pyarrow as pa

    ids = _arrow(full["id"])
    public = (full["visibility"] == "public").to_numpy()
    out = {}
    preferred = np.full(len(full), -1, dtype="int64")
    codes, names = _text_codes(full["same_as"])
    restated = through_codes(_non_empty(names), codes, False)
    if restated.any():
        # The first row bearing each id a report restates (rows in order, so np.unique's first index is it).
        name_of_row = _position_in(ids, names)
        rows = np.flatnonzero(name_of_row >= 0)
        first_row = np.full(len(names), -1, dtype="int64")
        found, first = np.unique(name_of_row[rows], return_index=True)
        first_row[found] = rows[first]
        preferred[restated] = first_row[codes[restated]]
    out["preferred_key"] = preferred
    public_ids = ids.filter(pa.array(public))
    for column in REFERENCE_COLUMNS:
        codes, names = _text_codes(full[column])
        # A reference is seen when some public row bears its id.
        seen = np.zeros(len(names), dtype=bool)
        hit = _position_in(public_ids, names)
        seen[hit[hit >= 0]] = True
        # A missing reference names nothing.
        out["unseen_" + column] = through_codes(_non_empty(names) & ~seen, codes, False)
    return out


def _non_empty(names) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.fill_null(pc.not_equal(names, ""), False).to_numpy(zero_copy_only=False)


ALLOCATION_COLUMNS = ("drawn_usd", "drawn_role", "drawn_amount_f", "recipient_label", "recipient_country_label",
                      "tree_label", "parent_label")


def allocation_columns(full: pd.DataFrame, chart: pd.DataFrame, prefix: str,
                       parents: ParentIndex) -> dict[str, pd.Series]:
    """The chart columns a row gets from one allocation of the ETL (prefix "" for every row, "public_" for the
    public rows' own): what it draws, its role, its tree and its parent (the untraced rest's label is
    finish_chart's)."""
    drawn = to_float(full[prefix + "drawn_usd"])
    out = {"drawn_usd": drawn, "drawn_role": as_category(full[prefix + "drawn_role"])}
    # What a row draws in its own currency, for hovers' "as sourced" sums: the whole total when it draws its own
    # value, the same share of it as in dollars when it draws only a rest, nothing when it draws nothing. The ETL
    # allocates in dollars and euros exactly, so rows in those currencies take its figures as they are.
    value = chart["value_usd"].to_numpy()
    share = np.where(value > 0, drawn.to_numpy() / np.where(value > 0, value, 1), np.nan)
    own = (full[prefix + "drawn_role"] == "own").to_numpy()
    draws_nothing = full[prefix + "drawn_role"].isin(["covered", "restated", "no_total", ""]).to_numpy()
    currency = full["currency"].to_numpy()
    rest = np.where(currency == "USD", drawn.to_numpy(),
                    np.where(currency == "EUR", to_float(full[prefix + "drawn_eur"]).to_numpy(),
                             chart["total_amount_f"].to_numpy() * share))
    out["drawn_amount_f"] = pd.Series(np.where(own, chart["total_amount_f"], np.where(draws_nothing, 0.0, rest)),
                                      index=full.index)
    for column, source, names in (("tree_label", prefix + "tree_root", parents.short),
                                  ("parent_label", "part_of", parents.long)):
        codes = parents.ids.get_indexer(full[source].to_numpy()) if len(parents.ids) else np.full(len(full), -1)
        out[column] = pd.Series(pd.Categorical.from_codes(codes.astype("int32"), dtype=names), index=full.index)
    return out


def parent_labels(full: pd.DataFrame, among: np.ndarray | None = None, texts: dict | None = None
                  ) -> dict[str, tuple[str, str]]:
    """id → (short, long) label of every row that has documented parts: 'Inside $2.9 bn from Azerbaijani
    elite-linked sources' for the diagram's grouping column, and '$2.9 bn from … to …, 2012/2014 (id)' for hovers.
    `among` limits parents and parts to some rows (the public ones). Only rows with parts are labelled, so this
    costs one vectorised membership test plus the parents. `texts` keeps each parent row's two texts for the next
    call (the public labels are mostly the same rows': only which of two alike short labels needs its id differs)."""
    from .formatting import date_as_written, figure

    among = np.ones(len(full), dtype=bool) if among is None else among
    wanted = full["part_of"].ne("").to_numpy() & among
    if not wanted.any():
        return {}
    ids = pd.unique(full.loc[wanted, "part_of"].to_numpy())
    import pyarrow as pa
    import pyarrow.compute as pc

    every_id = _arrow(full["id"])
    is_parent = pc.is_in(every_id, value_set=pa.array(np.asarray(ids, dtype=object), type=pa.string()))
    positions = np.flatnonzero(is_parent.to_numpy(zero_copy_only=False) & among)
    parent_ids = every_id.take(pa.array(positions)).to_pylist()
    texts = {} if texts is None else texts
    missing = [p for p in positions.tolist() if p not in texts]
    if missing:
        rows = full.iloc[missing][["amount", "currency", "amount_kind", "payer", "recipient", "date_raw"]]
        for position, r in zip(missing, rows.itertuples(index=False)):
            amount = figure(float(r.amount) if r.amount is not None and not pd.isna(r.amount) else None,
                            r.currency, r.amount_kind)
            texts[position] = (f"Inside {amount} from {r.payer}",
                               f"{amount} from {r.payer} to {r.recipient}, {date_as_written(r.date_raw)}")
    labels: dict[str, tuple[str, str]] = {}
    seen: set[str] = set()
    for position, parent in zip(positions.tolist(), parent_ids):
        if parent in labels:
            continue  # the first row bearing an id labels it
        short, long = texts[position]
        # Two parents may read alike; the diagram needs one node each.
        short = short if short not in seen else f"{short} ({parent})"
        seen.add(short)
        labels[parent] = (short, f"{long} ({parent})")
    return labels


# Builds up to this many rows keep their full rows in the worker (about 1.1 GB at a million SYNTHETIC rows), so a
# page of rows is a lookup in memory. Larger ones leave them in transfers.parquet and fetch only the rows a page
# shows or a download holds: a worker then holds the chart columns alone (0.19 GB per million rows), and a table
# page costs a read of the file's row groups that hold its rows (about a second at 10M rows).
FULL_ROWS_IN_MEMORY = 1_000_000


class FullRows:
    """The complete dataset rows of one build (exact decimals, sources, notes), looked up by row_key."""

    def take(self, keys: np.ndarray) -> pd.DataFrame:
        raise NotImplementedError

    def batches(self, keys: np.ndarray, size: int) -> Iterator[pd.DataFrame]:
        """take(keys) in the same order, `size` rows at a time, so a large download never holds every row."""
        raise NotImplementedError


@dataclass(frozen=True)
class HeldRows(FullRows):
    frame: pd.DataFrame

    def take(self, keys: np.ndarray) -> pd.DataFrame:
        return self.frame.iloc[keys]

    def batches(self, keys: np.ndarray, size: int) -> Iterator[pd.DataFrame]:
        for start in range(0, len(keys), size):
            yield self.frame.iloc[keys[start:start + size]]


@dataclass(frozen=True)
class ParquetRows(FullRows):
    """Rows read from the build's Parquet file by their position in it (a build folder is never rewritten, so a
    row_key names one row for good). DuckDB reads only the row groups and pages holding the wanted rows."""

    path: Path
    memory_limit: str = "512MB"

    def _query(self, keys: np.ndarray):
        import duckdb
        import pyarrow as pa

        connection = duckdb.connect(config={"memory_limit": self.memory_limit, "threads": 2})
        wanted = pa.table({"wanted_key": pa.array(np.asarray(keys, dtype="int64")),
                           "wanted_position": pa.array(np.arange(len(keys), dtype="int64"))})
        connection.register("wanted", wanted)
        result = connection.sql(
            "SELECT d.* EXCLUDE (file_row_number) FROM read_parquet(?, file_row_number = true) d "
            "JOIN wanted w ON d.file_row_number = w.wanted_key ORDER BY w.wanted_position", params=[str(self.path)])
        return connection, result

    def _as_frame(self, table, keys: np.ndarray) -> pd.DataFrame:
        # The file's own schema (its pandas metadata included): the dtypes read_dataset gives; the row_key column
        # and index as prepare gives the held rows.
        frame = arrow_to_frame(table.cast(_parquet_schema(str(self.path))))
        frame.index = pd.Index(keys, dtype="int64")
        frame["row_key"] = keys
        return frame

    def take(self, keys: np.ndarray) -> pd.DataFrame:
        keys = np.asarray(keys, dtype="int64")
        if not len(keys):
            return self._as_frame(_parquet_schema(str(self.path)).empty_table(), keys)
        connection, result = self._query(keys)
        try:
            return self._as_frame(result.to_arrow_table(), keys)
        finally:
            connection.close()

    def batches(self, keys: np.ndarray, size: int) -> Iterator[pd.DataFrame]:
        import pyarrow as pa

        keys = np.asarray(keys, dtype="int64")
        if not len(keys):
            return
        connection, result = self._query(keys)
        try:
            start = 0
            for batch in result.to_arrow_reader(size):
                yield self._as_frame(pa.Table.from_batches([batch]), keys[start:start + batch.num_rows])
                start += batch.num_rows
        finally:
            connection.close()


@lru_cache(maxsize=4)
def _parquet_schema(path: str):
    import pyarrow.parquet as pq

    return pq.read_schema(path)


# What prepare and parent_labels read of a row: a build too large to hold its full rows reads these columns only,
# the text ones that repeat (every column but the ids) as dictionaries: a code per row instead of a string.
REPEATED_TEXT_COLUMNS = (*CATEGORY_COLUMNS, "part_of", "same_as", "totals_note", "payer_country_name",
                         "recipient_country_name", "drawn_role", "public_drawn_role")
CHART_SOURCE_COLUMNS = (
    *REPEATED_TEXT_COLUMNS, "id", "tree_root", "public_tree_root", "counts_in_totals", "total_usd", "amount_usd",
    "total_amount", "amount", "date_start", "date_end", "date_plot", "drawn_usd", "drawn_eur", "public_drawn_usd",
    "public_drawn_eur")


def _give_back_freed_memory() -> None:
    """Return what loading freed to the system: Arrow's pool and the C allocator keep freed pages for reuse, so a
    worker would otherwise stay at the size loading peaked at."""
    import ctypes
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the allocator keeps its pages


# Two builds: the current one and the one requests still running may have pinned; older ones are let go.
@lru_cache(maxsize=2)
def _load(folder: str, stamp: int) -> Dataset:
    import pyarrow.parquet as pq

    path = Path(folder)
    parquet = path / DATASET_PARQUET
    if pq.ParquetFile(parquet).metadata.num_rows <= FULL_ROWS_IN_MEMORY:
        frame = read_dataset(parquet)
        public = (frame["visibility"] == "public").to_numpy()
        texts: dict = {}
        parents, public_parents = parent_labels(frame, texts=texts), parent_labels(frame, public, texts)
        frame, chart = prepare(frame, parents, public_parents)
        rows: FullRows = HeldRows(frame)
        del frame
    else:
        chart, parents, public_parents = prepare_in_parts(parquet)
        rows = ParquetRows(parquet)
    public_count = public_first(chart)
    _give_back_freed_memory()
    # Row keys are positions in this build's rows: a chart row may only be looked up in the build it came from.
    chart.attrs["build"] = folder
    entities_path = path / ENTITIES_OUTPUT
    entities = pd.read_csv(entities_path, dtype="str", keep_default_na=False) if entities_path.exists() else \
        pd.DataFrame(columns=["entity_id", "name", "kind", "country", "aliases", "notes", "registered"])
    report_path = path / REPORT_JSON
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    # The build's warnings (one per row at worst, 39 MB at a million rows) are for the command line and
    # report.txt; no page shows them, so a worker does not keep them.
    report.pop("warnings", None)
    return Dataset(rows, chart, entities, report, path, _alias_table(entities), parents=parents,
                   public_parents=public_parents, public_count=public_count)


def _is_public(chart: pd.DataFrame) -> np.ndarray:
    from .filters import in_categories

    return in_categories(chart["visibility"], ("public",))


def public_first(chart: pd.DataFrame) -> int:
    """Put the chart's public rows first, in place, each group in build order, and return how many there are.

    Every request of a reader who may not see internal rows starts from the public rows; as the chart's first rows
    they are a view of it (pandas slices without copying), where picking them out would copy most of the chart per
    request. Rows are found by their row_key, never by their position, so the order changes nothing else. The
    columns are moved one at a time, so the chart is never held twice."""
    public = _is_public(chart)
    count = int(public.sum())
    if not public[:count].all():
        order = np.concatenate([np.flatnonzero(public), np.flatnonzero(~public)])
        for name in list(chart.columns):
            column = chart[name]
            chart[name] = column.take(order).to_numpy() if not isinstance(column.dtype, pd.CategoricalDtype) \
                else pd.Categorical.from_codes(column.cat.codes.to_numpy()[order], dtype=column.dtype)
            del column
    # The order the public view relies on: checked once per build, so a request can trust the slice.
    if not (_is_public(chart.iloc[:count]).all() and not _is_public(chart.iloc[count:]).any()):
        raise RuntimeError("the chart's public rows are not all first")
    return count


def public_rows_of(dataset: "Dataset") -> pd.DataFrame:
    """The chart rows of a dataset that the public may see: the whole chart of a public view, the first
    public_count rows of a whole build."""
    return dataset.chart if dataset.audience == PUBLIC else dataset.chart.iloc[:dataset.public_count]


PublicParts = tuple[pd.DataFrame, dict, pd.DataFrame]


def derive_public_parts(full: Dataset) -> PublicParts:
    """(entities, report, aliases) as the public rows of a build reveal them."""
    public = public_rows_of(full)
    names = _names_in(public)
    entities = full.entities[full.entities["name"].isin(names).to_numpy()].reset_index(drop=True)
    counts = {str(k): int(v) for k, v in public["ledger_file"].value_counts().items()}
    ledgers = [{"file": ledger["file"], "rows": counts[ledger["file"]]}
               for ledger in full.report.get("ledgers", []) if counts.get(ledger["file"], 0) > 0]
    report = {"built_at": full.report.get("built_at", ""), "ledgers": ledgers}
    return entities, report, _alias_table(entities)


@lru_cache(maxsize=2)
def _public_parts(folder: str, stamp: int) -> PublicParts:
    # Small (a register and a report), so kept per build.
    return derive_public_parts(_load(folder, stamp))


def public_view(full: Dataset, parts: PublicParts | None = None) -> Dataset:
    """The build as someone who may not see internal rows sees it: nothing in it tells that internal rows exist.

    The chart holds public rows only; the entity register only names that occur in them (a name known only from
    internal rows answers like a name never heard of); the report only names ledgers with public rows and counts
    those rows. The full rows are shared, reached only through full_rows with chart rows of this view. The chart
    is filtered per request (as visible_rows always did) rather than kept: a second chart per worker would cost
    nearly as much memory as the first.
    """
    entities, report, aliases = parts if parts is not None else derive_public_parts(full)
    chart = public_rows_of(full)
    if "public_drawn_usd" in chart:
        # The public rows' own allocation: no figure drawn for the public is lessened by internal parts, and no
        # tree or parent label names an internal transfer.
        chart = chart.assign(**{c: chart["public_" + c] for c in ALLOCATION_COLUMNS})
    chart = _without_public_allocation(chart)
    chart.attrs = dict(full.chart.attrs)
    return Dataset(full.rows, chart, entities, report, full.folder, aliases, PUBLIC, full.public_parents,
                   public_count=len(chart))


def _names_in(chart: pd.DataFrame) -> set[str]:
    """Every payer, recipient and intermediary named in the chart rows (per category, not per row)."""
    def present(column: str) -> set[str]:
        return {str(c) for c in chart[column].cat.remove_unused_categories().cat.categories}

    names = present("payer") | present("recipient")
    for cell in present("intermediary"):
        names |= {n.strip() for n in cell.split(";")}
    return names - {""}


def current_folder() -> Path:
    """The folder of the current build (resolved through build/current)."""
    return current_build(build_dir())


# Threads of one worker that ask for a build not yet loaded wait for the one loading it, rather than each loading
# its own copy (a worker would briefly hold a 10M-row build several times over).
_LOADING = threading.Lock()


def _snapshot(folder: Path | None, audience: str) -> Dataset:
    for attempt in (1, 2):
        resolved = current_build(Path(folder)) if folder is not None else current_folder()
        try:
            stamp = (resolved / DATASET_PARQUET).stat().st_mtime_ns
            with _LOADING:
                full = _load(str(resolved), stamp)
            return full if audience == INTERNAL else public_view(full, _public_parts(str(resolved), stamp))
        except FileNotFoundError:
            # The build was pruned between resolving and reading (several rebuilds in a moment): resolve again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def load(folder: Path | None = None) -> Dataset:
    """The dataset this request may see, the same object for the whole request; a new build shows from the next.

    Outside a request (the command line, tests calling functions) each call resolves the current build.
    """
    import flask

    audience = INTERNAL if may_see_internal() else PUBLIC
    if folder is not None or not flask.has_request_context():
        return _snapshot(folder, audience)
    pinned = flask.g.get(SNAPSHOT_KEY)
    if pinned is None or pinned.audience != audience:
        pinned = _snapshot(None, audience)
        setattr(flask.g, SNAPSHOT_KEY, pinned)
    return pinned


def preload_current_build() -> str:
    """Load the current build, with what its public view and filter panel need, into this process's caches (the
    ones every request reads) and name its folder; "" when there is no build yet. gunicorn's master process calls
    this before it forks the workers (dashboard/gunicorn_config.py)."""
    try:
        folder = current_folder()
        whole = _snapshot(folder, INTERNAL)
    except FileNotFoundError:
        return ""
    public = _snapshot(folder, PUBLIC)
    for dataset in (whole, public):
        control_options(dataset)
    return str(whole.folder)


def forget_loaded_builds() -> None:
    """Empty this process's caches of builds (gunicorn's master before it loads a new build for new workers)."""
    for cache in (_load, _public_parts, _control_options):
        cache.cache_clear()
    _give_back_freed_memory()


def _country_options(chart: pd.DataFrame, side: str) -> list[dict]:
    table = chart[[side, side + "_name"]].astype("str").drop_duplicates()
    table = table[table[side].ne("")].sort_values(side + "_name")
    return [{"label": f"{n} ({c})", "value": c} for c, n in zip(table[side], table[side + "_name"])]


@lru_cache(maxsize=16)
def _control_options(folder: str, audience: str) -> dict:
    # A build folder is never rewritten (etl/builds.py makes a new one per build), so (folder, audience) names
    # one set of rows for good.
    chart = _snapshot(Path(folder), audience).chart
    return {"payer_country": _country_options(chart, "payer_country"),
            "recipient_country": _country_options(chart, "recipient_country"),
            "ledger": sorted(chart["ledger_file"].astype("str").unique().tolist())}


def control_options(dataset: Dataset | None = None) -> dict:
    """The filter panel's choices (countries, ledgers) among the rows this request may see, worked out once per
    build and audience: a page view never scans the rows."""
    dataset = dataset or load()
    return _control_options(str(dataset.folder), dataset.audience)


def publishing_snapshots() -> tuple[Dataset, Dataset | None]:
    """(public, whole) for a published package: the public view of this request's snapshot, whoever publishes (a
    package is for readers, so it never holds an internal row), and the whole build only when the publisher may
    see it, to count the rows left out as unpublished (None for anyone else: they may not learn that such rows
    exist). Outside a request (the command line, run by whoever holds the ledgers) the whole build is the current
    one."""
    import flask

    if not flask.has_request_context():
        whole = _snapshot(None, INTERNAL)
        return public_view(whole), whole
    pinned = load()
    if pinned.audience == PUBLIC:
        return pinned, None
    return public_view(pinned), pinned


def public_mode() -> bool:
    return os.environ.get(PUBLIC_MODE_ENV, "") == "1"


def may_see_internal() -> bool:
    """Internal rows are shown only outside public mode, and only to a logged-in user when login is configured."""
    if public_mode():
        return False
    from . import auth

    if not auth.login_configured():
        # Without a login, internal rows are for the machine's own user only (never through a proxy).
        return auth.request_is_local()
    return auth.current_user_is_authenticated()


def visible_rows(dataset: Dataset | None = None) -> pd.DataFrame:
    """The (chart) rows the current request may see. Every callback and download starts from this function."""
    dataset = dataset or load()
    if dataset.audience == PUBLIC:
        return dataset.chart
    if may_see_internal():
        # The public rows' own allocation is for public_view; a request's rows leave it out (a view, not a copy),
        # so filtering them copies only the columns pages use.
        return _without_public_allocation(dataset.chart)
    return public_rows_of(dataset)


def _without_public_allocation(chart: pd.DataFrame) -> pd.DataFrame:
    """The chart without the public rows' own allocation columns (a view: pandas copies no column to drop some)."""
    return chart.drop(columns=[c for c in chart.columns if c.startswith("public_")])


def _check_build(rows: pd.DataFrame, dataset: Dataset) -> None:
    came_from = rows.attrs.get("build")
    if came_from is not None and came_from != dataset.chart.attrs.get("build"):
        raise ValueError(f"rows of build {came_from} looked up in build {dataset.chart.attrs.get('build')}")


def _as_the_viewer_may_see(full: pd.DataFrame, chart_rows: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    if dataset.audience == PUBLIC or not may_see_internal():
        full = hide_internal_references(full, chart_rows)
        # Downloads and tables show the public rows' own allocation under the usual names.
        full = full.assign(**{c: full["public_" + c] for c in PUBLIC_DATASET_COLUMNS if "public_" + c in full})
    return full


def full_rows(rows: pd.DataFrame, dataset: Dataset | None = None) -> pd.DataFrame:
    """The complete dataset rows (exact amounts, sources, notes) behind chart rows, in the same order."""
    dataset = dataset or load()
    _check_build(rows, dataset)
    return _as_the_viewer_may_see(dataset.rows.take(rows["row_key"].to_numpy()), rows, dataset)


def full_rows_soon(rows: pd.DataFrame, dataset: Dataset | None = None) -> Callable[[], pd.DataFrame]:
    """full_rows(rows), with the reading started now: a build whose full rows stay in its Parquet file is read on
    a thread (DuckDB works without Python's lock) while the caller draws its charts, and calling the returned
    function waits for it. Only the reading of the rows' keys runs there: what the viewer may see of them is
    decided here, in the request's own thread, as full_rows decides it."""
    dataset = dataset or load()
    _check_build(rows, dataset)
    keys = rows["row_key"].to_numpy()
    if isinstance(dataset.rows, HeldRows) or not len(keys):
        return lambda: _as_the_viewer_may_see(dataset.rows.take(keys), rows, dataset)
    result: dict = {}

    def read() -> None:
        try:
            result["rows"] = dataset.rows.take(keys)
        except BaseException as exc:  # handed to the request's thread, which raises it
            result["error"] = exc

    # A thread per page rather than a pool: gunicorn forks workers from a process that has loaded the app, and a
    # pool made before the fork would have no threads in them.
    reader = threading.Thread(target=read, name="full-rows", daemon=True)
    reader.start()

    def finish() -> pd.DataFrame:
        reader.join()
        if "error" in result:
            raise result["error"]
        return _as_the_viewer_may_see(result["rows"], rows, dataset)

    return finish


def full_row_batches(rows: pd.DataFrame, size: int, dataset: Dataset | None = None) -> Iterator[pd.DataFrame]:
    """full_rows(rows) `size` rows at a time, in the same order: what a download streams."""
    dataset = dataset or load()
    _check_build(rows, dataset)
    start = 0
    for batch in dataset.rows.batches(rows["row_key"].to_numpy(), size):
        yield _as_the_viewer_may_see(batch, rows.iloc[start:start + len(batch)], dataset)
        start += len(batch)


PUBLIC_DATASET_COLUMNS = ("tree_root", "drawn_role", "drawn_usd", "drawn_eur")


def hide_internal_references(rows: pd.DataFrame, chart_rows: pd.DataFrame) -> pd.DataFrame:
    """Blank part_of/same_as that name a row the viewer may not see, and the totals note that names it.

    prepare() worked out once per build which references name no public row (`unseen_` columns of the chart), so
    a page of rows costs a lookup of its own flags only.
    """
    out = rows.copy(deep=False)
    hidden = np.zeros(len(rows), dtype=bool)
    for column in REFERENCE_COLUMNS:
        unseen = chart_rows["unseen_" + column].to_numpy(dtype=bool)
        if unseen.any():
            out[column] = rows[column].astype("str").mask(unseen, "")
            hidden |= unseen
    if hidden.any():
        out["totals_note"] = out["totals_note"].astype("str").mask(hidden, HIDDEN_REFERENCE_NOTE)
    return out


def alias_index(dataset: Dataset) -> pd.DataFrame:
    """Every spelling (canonical name and alias, lower case) → canonical name, for alias-aware search."""
    return dataset.aliases


def _alias_table(entities: pd.DataFrame) -> pd.DataFrame:
    spellings = entities.assign(alias=entities["aliases"].str.split("|")).explode("alias")
    table = pd.concat([
        pd.DataFrame({"spelling": entities["name"], "name": entities["name"]}),
        pd.DataFrame({"spelling": spellings["alias"].fillna(""), "name": spellings["name"]}),
    ])
    table = table[table["spelling"].astype("str").str.strip().ne("")]
    table = table.assign(spelling=table["spelling"].astype("str").str.lower()).drop_duplicates()
    from .filters import fold_all

    # Folded once per dataset, so a search compares without case or accents at no cost per request.
    return table.assign(folded=fold_all(table["spelling"]).to_numpy())
