"""The build in bounded memory: per-part steps on parts of the ledgers, global steps on narrow columns, Parquet out.

1. Parts (etl.pipeline.normalise_part): the ledgers are read a part at a time (etl.load.read_ledger_parts), each
   part validated and normalised on its own and appended to a working Arrow IPC file. The parts are independent,
   so `run_parts` may hand them to Dask workers.
2. Global steps, over every row but only on narrow columns (ids, links, visibility, int cents), in DuckDB over the
   working file (it spills to disk past its memory limit): unique ids, links that exist, do not loop and do not
   expose internal rows, then the allocation (etl/allocation.py) of the rows that are in a tree of links; a row in
   no tree draws its own total, which is what the allocation gives a tree of one row.
3. Join: each part is read again, given its allocation columns and appended to transfers.parquet (one row group
   per part, encoded on a thread while the next part is read), while the summary is added up.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Context, Decimal
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import allocation, entities
from .amounts import decimal_to_scaled
from .errors import ERROR, WARNING, LedgerIssue, issues_from_mask, sort_issues
from .load import LoadedLedger, discover_ledgers, read_ledger_parts
from .pipeline import RAW_COLUMNS, Lookups, Part, cents_decimal, load_lookups, normalise_part
from .schema import DATASET_PARQUET, DRAWN_ROLES, LEDGER_COLUMNS, OUTPUT_COLUMNS, ROW_FILE, ROW_NUMBER
from .uniques import sorted_unique

# Rows per part: a part's working memory is about 1.4 KB per row, so 200,000 rows stay near 300 MB whatever the
# ledger's size.
PART_ROWS = 200_000
# The global steps' engine may hold this much before it spills to its temporary folder.
DUCKDB_MEMORY = "1GB"
# Issues kept per kind (severity and code); beyond it they are counted, not listed (a 40-million-row ledger can
# raise millions of one warning). Every smaller build lists every issue.
MAX_LISTED_PER_KIND = 100_000
POSITION = "_pos"
PARTS_FILE = "parts.arrow"
DRAWN_COLUMNS = tuple(f"{prefix}{name}" for prefix in ("", "public_")
                      for name in ("tree_root", "drawn_role", "drawn_usd", "drawn_eur"))
PART_COLUMNS = tuple(c for c in OUTPUT_COLUMNS if c not in DRAWN_COLUMNS)


class IssueLog:
    """Every issue of a build, listed up to MAX_LISTED_PER_KIND per kind and counted beyond."""

    def __init__(self, limit: int | None = None):
        self.limit = MAX_LISTED_PER_KIND if limit is None else limit
        self.listed: list[LedgerIssue] = []
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, issues: Iterable[LedgerIssue]) -> None:
        counts, limit, listed = self.counts, self.limit, self.listed
        for issue in issues:
            key = (issue.severity, issue.code)
            seen = counts.get(key, 0)
            counts[key] = seen + 1
            if seen < limit:
                listed.append(issue)

    def room(self, severity: str, code: str) -> int:
        """How many more issues of this kind would be listed."""
        return max(0, self.limit - self.counts.get((severity, code), 0))

    def count(self, severity: str, code: str, n: int) -> None:
        """n more issues of this kind, beyond the listing limit: counted, never built."""
        if n:
            self.counts[(severity, code)] = self.counts.get((severity, code), 0) + n

    @property
    def left_out(self) -> dict[tuple[str, str], int]:
        return {key: count - self.limit for key, count in self.counts.items() if count > self.limit}

    @property
    def errors(self) -> int:
        return sum(count for (severity, _), count in self.counts.items() if severity == ERROR)


@dataclass
class Built:
    """What the global steps and the join produced, beside transfers.parquet."""

    issues: list[LedgerIssue]
    left_out: dict[tuple[str, str], int]
    ledgers: list[LoadedLedger]
    entities: pd.DataFrame
    summary_parts: dict = field(default_factory=dict)
    rows: int = 0
    built_at: str = ""
    write: Callable[[Path], None] = lambda folder: None


Mapper = Callable[[Callable, Iterator, Lookups], Iterator]


def local_map(function: Callable, items: Iterator, lookups: Lookups) -> Iterator:
    """Run the per-part function here, one part after the other (bounded memory: one part at a time)."""
    return (function(item, lookups) for item in items)


def ledger_parts(ledger_dir: Path, paths: list[Path], part_rows: int, stream_bytes: int | None,
                 ledgers: list[LoadedLedger], log: IssueLog) -> Iterator[pd.DataFrame]:
    """The ledgers' rows as frames of about part_rows rows, in ledger and row order (small ledgers together, as one
    part); each file's rows, blank rows and file-level issues are recorded in `ledgers` and `log`."""
    from .load import STREAM_BYTES

    pending: list[pd.DataFrame] = []
    size = 0
    yielded = False
    for path in paths:
        ledger = None
        for piece in read_ledger_parts(path, ledger_dir, part_rows, STREAM_BYTES if stream_bytes is None
                                       else stream_bytes):
            if ledger is None:
                ledger = LoadedLedger(piece.path, piece.label, piece.frame.iloc[:0], [], 0, 0)
                ledgers.append(ledger)
            ledger.row_count += len(piece.frame)
            ledger.blank_rows += piece.blank_rows
            log.add(piece.issues)
            if len(piece.frame):
                pending.append(piece.frame)
                size += len(piece.frame)
            if size >= part_rows:
                yield pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
                pending, size, yielded = [], 0, True
    if pending or not yielded:
        yield pd.concat(pending, ignore_index=True) if pending else _empty_ledger_frame()


def read_ahead(ledger_dir: Path, paths: list[Path], part_rows: int, stream_bytes: int | None,
               ledgers: list[LoadedLedger], log: IssueLog) -> Iterator[pd.DataFrame]:
    """ledger_parts, with the next part read on a thread while this one is normalised (the CSV parser and Arrow
    release the GIL for much of their work; on two cores reading and normalising overlap). The issues the reader
    finds are added to log here, in the order and at the moment ledger_parts would add them, so the log (and which
    issues are listed when a kind has more than MAX_LISTED_PER_KIND) is the same. One part waits at most."""
    import queue
    import threading

    class Found(list):
        def add(self, issues: Iterable[LedgerIssue]) -> None:
            self.extend(issues)

    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        found = Found()
        try:
            for frame in ledger_parts(ledger_dir, paths, part_rows, stream_bytes, ledgers, found):
                item = (list(found), frame)
                found.clear()
                while not stop.is_set():
                    try:
                        handoff.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put((list(found), done))
        except BaseException as exc:  # handed to the consumer, which raises it where ledger_parts would have
            handoff.put((list(found), exc))

    reader = threading.Thread(target=produce, name="ledger-reader", daemon=True)
    reader.start()
    try:
        while True:
            issues, item = handoff.get()
            log.add(issues)
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # an abandoned read is drained so the thread can finish
            try:
                handoff.get(timeout=0.1)
            except queue.Empty:
                pass
        reader.join()


def _empty_ledger_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="str") for c in (*LEDGER_COLUMNS, ROW_FILE)}) \
        .assign(**{ROW_NUMBER: pd.Series([], dtype="int64")})


def _part_table(part: Part, start: int) -> pa.Table:
    frame = part.frame[[*PART_COLUMNS, *RAW_COLUMNS]]
    frame = frame.assign(**{POSITION: np.arange(start, start + len(frame), dtype=np.int64)})
    return pa.Table.from_pandas(frame, preserve_index=False)


def run_parts(raws: Iterator[pd.DataFrame], lookups: Lookups, work: Path, log: IssueLog, mapper: Mapper
              ) -> tuple[Path, dict]:
    """Normalise every part (through mapper) and append each to work/parts.arrow, an Arrow IPC file with LZ4
    buffers (written and read back in a fraction of Parquet's encoding and decoding time, at about twice Parquet's
    size on disk, for the length of the build); returns the file and what the global warnings are assembled from.
    facts["batches"] and facts["part_rows"] hold each part's record batches and rows, so the parts can be read back
    as they were."""
    path = work / PARTS_FILE
    writer = None
    start = 0
    batches: list[int] = []
    part_rows: list[int] = []
    cpi: dict[int, LedgerIssue] = {}
    unregistered: dict[str, list[pd.DataFrame]] = {"payer": [], "recipient": [], "intermediary": []}
    seen: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    sink = pa.OSFile(str(path), "wb")
    try:
        for part in mapper(normalise_part, raws, lookups):
            table = _part_table(part, start)
            if writer is None:
                schema = table.schema
                writer = pa.ipc.new_file(sink, schema, options=pa.ipc.IpcWriteOptions(compression="lz4"))
            pieces = table.cast(schema).to_batches()
            for batch in pieces:
                writer.write_batch(batch)
            batches.append(len(pieces))
            part_rows.append(len(table))
            start += len(table)
            log.add(part.issues)
            for year, issue in part.cpi_missing.items():
                cpi.setdefault(year, issue)
            for column, table_ in part.unregistered.items():
                if len(table_):
                    unregistered[column].append(table_)
            seen.append(part.seen_entities)
            del part, table, pieces
    finally:
        if writer is not None:
            writer.close()
        sink.close()
    return path, {"cpi": cpi, "unregistered": unregistered, "seen": seen, "rows": start, "batches": batches,
                  "part_rows": part_rows}


class WorkingRows:
    """The global steps' view of the working file: DuckDB's view r over every row (read through an Arrow dataset,
    so DuckDB reads only the narrow columns each query asks for), and rows fetched by position from the parts that
    hold them (a few thousand rows named in issues, or the rows in trees, without a scan of every row)."""

    def __init__(self, work: Path, path: Path, batches: list[int], part_rows: list[int]):
        self.work, self.path, self.batches = work, path, batches
        # Each part's first record batch and first row (and the counts at the end).
        self.first_batch = np.concatenate([[0], np.cumsum(batches, dtype=np.int64)])
        self.part_starts = np.concatenate([[0], np.cumsum(part_rows, dtype=np.int64)])
        self.con = None
        self.restart()

    def restart(self) -> None:
        """A new DuckDB connection: closing the old one hands back everything it held (the ids of every row are
        not needed once the links are resolved, and the allocation needs the memory)."""
        import pyarrow.dataset as ds

        self.close()
        self.con = _connect(self.work)
        self.con.register("r", ds.dataset(str(self.path), format="ipc"))

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def sql(self, query: str):
        return self.con.sql(query)

    def execute(self, query: str):
        return self.con.execute(query)

    def query_at(self, positions: np.ndarray, columns: Iterable[str], query: str) -> pa.Table:
        """query (SQL over a table named `picked`, row by row, in position order) on the rows at these positions,
        with these columns: run on each part's rows in turn, so only one part's rows are held at once."""
        positions = sorted_unique(positions)
        results = []
        with pa.OSFile(str(self.path), "rb") as source:
            names = pa.ipc.open_file(source).schema.names
            reader = pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(
                included_fields=[names.index(c) for c in columns]))
            starts = self.part_starts
            # Positions are sorted, so each part's are one slice of them.
            bounds = np.searchsorted(positions, starts)
            for part in range(len(self.batches)):
                lo, hi = bounds[part], bounds[part + 1]
                if lo == hi and (results or part < len(self.batches) - 1):
                    continue
                table = pa.Table.from_batches([reader.get_batch(b) for b in range(self.first_batch[part],
                                                                                    self.first_batch[part + 1])],
                                              schema=reader.schema)
                self.con.register("picked", table.take(pa.array(positions[lo:hi] - starts[part], type=pa.int64())))
                try:
                    results.append(self.con.sql(query).to_arrow_table())
                finally:
                    self.con.unregister("picked")
                del table
        return pa.concat_tables(results)


# What the issues of the global steps quote (ids and links as written, amounts for parts that exceed).
QUOTED_COLUMNS = (POSITION, ROW_FILE, ROW_NUMBER, "id", "part_of", "same_as", "amount_raw", *RAW_COLUMNS)


def _connect(work: Path):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit='{DUCKDB_MEMORY}'")
    con.execute(f"SET temp_directory='{work / 'duckdb.tmp'}'")
    con.execute("SET preserve_insertion_order=false")
    return con


def _rows_at(work: WorkingRows, positions: np.ndarray, columns: str) -> pd.DataFrame:
    """The rows at these positions (in position order), with ledger_file, ledger_row and the columns asked for (SQL
    over QUOTED_COLUMNS)."""
    return work.query_at(positions, QUOTED_COLUMNS, f"SELECT {POSITION}, {ROW_FILE}, {ROW_NUMBER}, {columns} "
                         f"FROM picked ORDER BY {POSITION}").to_pandas()


def _issues_at(con, positions: np.ndarray, column: str, value_sql: str, code: str, message, severity: str = ERROR,
               extra: str = "") -> list[LedgerIssue]:
    """issues_from_mask for the rows at these positions (message: text, or a function of the fetched rows)."""
    if not len(positions):
        return []
    rows = _rows_at(con, positions, f"{value_sql} AS value" + (f", {extra}" if extra else ""))
    text = message(rows) if callable(message) else message
    return issues_from_mask(rows, pd.Series(True, index=rows.index), column, rows["value"], code, text, severity)


def _log_issues_at(log: IssueLog, con, positions: np.ndarray, column: str, value_sql: str, code: str, message,
                   severity: str = ERROR) -> None:
    """One issue per distinct position, in position order, added to log: only those the log will list are built
    (a 40-million-row ledger can have millions of one kind), the others counted."""
    positions = sorted_unique(positions)
    room = log.room(severity, code)
    log.add(_issues_at(con, positions[:room], column, value_sql, code, message, severity))
    log.count(severity, code, max(0, len(positions) - room))


@dataclass
class Trees:
    """The rows in a tree of links (positions, sorted) and their allocation, full and public."""

    rows: np.ndarray
    ids: pa.Array
    full: allocation.Allocation
    public_rows: np.ndarray  # indexes into rows
    public: allocation.Allocation | None


def global_steps(con: WorkingRows, rows: int, log: IssueLog) -> Trees:
    """Unique ids and links over every row, then the allocation of the rows in a tree of links."""
    con.execute(f"CREATE TEMP TABLE firsts AS SELECT id, min({POSITION}) AS first FROM r GROUP BY id")
    dups = con.sql(f"SELECT r.{POSITION}, f.first FROM r JOIN firsts f USING (id) "
                       f"WHERE r.{POSITION} <> f.first AND r.id <> '' ORDER BY r.{POSITION}").to_arrow_table()
    dup_rows = dups.column(0).to_numpy().astype(np.int64)
    if len(dup_rows):
        firsts = _rows_at(con, dups.column(1).to_numpy(), "id")
        at = dict(zip(firsts[POSITION], firsts[ROW_FILE] + ":" + firsts[ROW_NUMBER].astype("str")))
        first_of = dict(zip(dup_rows.tolist(), dups.column(1).to_pylist()))
        _log_issues_at(log, con, dup_rows, "id", "coalesce(_id_raw, id)", "id_duplicate",
                       lambda fetched: ("duplicate id: already used at "
                                        + fetched[POSITION].map(first_of).map(at)).astype("str"))
    # The links are resolved against the first rows of the ids they name only: two joins against the first row of
    # every id would hold two hash tables of every id (DuckDB ran out of its memory on 40 million rows).
    con.execute(f"CREATE TEMP TABLE linked AS SELECT {POSITION}, id, part_of, same_as FROM r "
                "WHERE part_of <> '' OR same_as <> ''")
    con.execute("CREATE TEMP TABLE named AS SELECT id, first FROM firsts "
                "WHERE id IN (SELECT part_of FROM linked UNION SELECT same_as FROM linked)")
    con.execute("DROP TABLE firsts")
    links = con.sql(f"""
        SELECT r.{POSITION} AS pos, r.part_of <> '' AS has_part, r.same_as <> '' AS has_same,
               coalesce(p.first, -1) AS part, coalesce(s.first, -1) AS same,
               r.part_of <> '' AND r.part_of = r.id AS part_self, r.same_as <> '' AND r.same_as = r.id AS same_self
        FROM linked r LEFT JOIN named p ON r.part_of = p.id AND r.part_of <> ''
               LEFT JOIN named s ON r.same_as = s.id AND r.same_as <> ''
        ORDER BY pos""").to_arrow_table()
    column = {name: links.column(name).to_numpy(zero_copy_only=False) for name in links.column_names}
    del links
    con.restart()
    for name, has, target, self_link in (("part_of", "has_part", "part", "part_self"),
                                         ("same_as", "has_same", "same", "same_self")):
        raw = f"coalesce(_{name}_raw, {name})"
        _log_issues_at(log, con, column["pos"][column[has] & (column[target] < 0)], name, raw, "link_unknown",
                       "no row has this id (check the spelling; ids are unique across all ledgers)")
        _log_issues_at(log, con, column["pos"][column[self_link]], name, raw, "link_self",
                       "a row cannot point at itself")
    tree_rows = sorted_unique(np.concatenate([column["pos"], column["part"][column["part"] >= 0],
                                          column["same"][column["same"] >= 0]]))
    local = np.full(len(tree_rows), -1, dtype=np.int64)
    part_of, same_as = local.copy(), local.copy()
    at = np.searchsorted(tree_rows, column["pos"])
    part_of[at] = np.where(column["part"] >= 0, np.searchsorted(tree_rows, column["part"]), -1)
    same_as[at] = np.where(column["same"] >= 0, np.searchsorted(tree_rows, column["same"]), -1)
    del column
    tree = con.query_at(tree_rows, (POSITION, "id", "visibility", "total_usd", "total_eur", "total_amount",
                                    "recipient"), f"""
        SELECT id, visibility = 'public' AS public, visibility = 'internal' AS internal,
               CAST(total_usd * 100 AS BIGINT) AS usd, CAST(total_eur * 100 AS BIGINT) AS eur,
               total_amount IS NOT NULL AS has_total, recipient
        FROM picked ORDER BY {POSITION}""")
    ids = tree.column("id").combine_chunks()
    first = pc.not_equal(ids, "").to_numpy(zero_copy_only=False) & ~np.isin(tree_rows, dup_rows)
    internal = tree.column("internal").to_numpy()
    public = tree.column("public").to_numpy()
    # A public row part_of (or same_as) an internal row: see validate.public_links_to_internal.
    for name, positions in (("part_of", part_of), ("same_as", same_as)):
        linked = positions >= 0
        bad = ~internal & linked & internal[np.where(linked, positions, 0)]
        if bad.any():
            targets = dict(zip(tree_rows[bad].tolist(), tree_rows[positions[bad]].tolist()))
            where = _rows_at(con, tree_rows[positions[bad]], "id")
            where = dict(zip(where[POSITION], where[ROW_FILE] + ":" + where[ROW_NUMBER].astype("str")))
            _log_issues_at(
                log, con, tree_rows[bad], name, f"coalesce(_{name}_raw, {name})", "public_links_internal",
                lambda fetched, name=name: (f"this public row is {name} a row that is internal ("
                                            + fetched[POSITION].map(targets).map(where) + "): the public view would "
                                            "show the internal row's id, and the money is counted only in that "
                                            "hidden row, so public totals show none of it; make both rows public "
                                            "or both internal").astype("str"), WARNING)
    from .validate import rows_in_cycles

    looping = rows_in_cycles(first, part_of, same_as)
    if looping.any():
        _log_issues_at(log, con, tree_rows[looping], "part_of",
                       "coalesce(_part_of_raw, part_of) || ' ' || coalesce(_same_as_raw, same_as)", "link_cycle",
                       "part_of/same_as links go round in a circle; the chain must end at a row that is "
                       "counted")
    values, known = {}, {}
    for c in ("usd", "eur"):
        known[c] = ~tree.column(c).is_null().to_numpy(zero_copy_only=False)
        values[c] = pc.fill_null(tree.column(c), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    has_total = tree.column("has_total").to_numpy()
    recipient, _ = pd.factorize(tree.column("recipient").to_pandas())
    del tree
    full = allocation.allocate_by_trees(part_of, same_as, values, known, has_total, recipient)
    _exceeded_issues(con, full, part_of, same_as, tree_rows, ids, log)
    public_rows = np.flatnonzero(public)
    sub = None
    if len(public_rows) < len(tree_rows):
        position = np.full(len(tree_rows) + 1, -1)
        position[public_rows] = np.arange(len(public_rows))
        sub = allocation.allocate_by_trees(position[part_of[public_rows]], position[same_as[public_rows]],
                                           {c: v[public_rows] for c, v in values.items()},
                                           {c: k[public_rows] for c, k in known.items()}, has_total[public_rows],
                                           recipient[public_rows])
    return Trees(tree_rows, ids, full, public_rows, sub)


def _exceeded_issues(con, result: allocation.Allocation, part_of: np.ndarray, same_as: np.ndarray,
                     tree_rows: np.ndarray, ids: pa.Array, log: IssueLog) -> None:
    """A warning for every row whose parts add up to more than the row itself, naming its first few parts."""
    # Only the rows the log will list are named (their messages need their parts' ids); the rest are counted.
    room = log.room(WARNING, "parts_exceed")
    exceeded, excess = result.exceeded[:room], result.excess[:room]
    if len(exceeded):
        _exceeded_listed(con, exceeded, excess, part_of, same_as, tree_rows, ids, log)
    log.count(WARNING, "parts_exceed", len(result.exceeded) - len(exceeded))


def _exceeded_listed(con, exceeded: np.ndarray, excess: np.ndarray, part_of: np.ndarray, same_as: np.ndarray,
                     tree_rows: np.ndarray, ids: pa.Array, log: IssueLog) -> None:
    """The parts_exceed warnings of these rows (tree indexes, ascending), each naming its first five parts."""
    parent = allocation.effective_parents(part_of, same_as)
    chosen = np.flatnonzero(np.isin(parent, exceeded))
    chosen = chosen[np.argsort(parent[chosen], kind="stable")]
    named: dict[int, list[str]] = {}
    # One pass over the (few) parts, in plain lists.
    for p, part in zip(parent[chosen].tolist(), ids.take(pa.array(chosen)).to_pylist()):
        listed = named.setdefault(p, [])
        if len(listed) < 5:
            listed.append(part)
    own = ids.take(pa.array(exceeded)).to_pylist()
    messages = {int(tree_rows[p]): f"its documented parts ({', '.join(named.get(p, []))}) add up to {e / 100:,.2f} "
                f"USD more than this row ({i}); it draws nothing and the transfer's total is the sum of its parts"
                for p, e, i in zip(exceeded.tolist(), excess.tolist(), own)}
    _log_issues_at(log, con, tree_rows[exceeded], "amount", "amount_raw", "parts_exceed",
                   lambda fetched: fetched[POSITION].map(messages).astype("str"), WARNING)


def _role_text(codes: np.ndarray) -> pa.Array:
    roles = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), mask=codes < 0), pa.array(DRAWN_ROLES))
    return pc.fill_null(roles.cast(pa.string()), "")


def allocation_columns(frame: pd.DataFrame, start: int, trees: Trees) -> dict[str, pd.Series]:
    """tree_root, drawn_role, drawn_usd and drawn_eur (and their public_ twins) of the rows start… of one part: a
    row in no tree draws its own total (the allocation of a tree of one row); rows in a tree take their tree's."""
    n = len(frame)
    index = frame.index
    ids = pa.array(frame["id"].to_numpy(dtype=object), type=pa.large_string()) \
        if not hasattr(frame["id"].array, "_pa_array") else frame["id"].array._pa_array.combine_chunks()
    has_total = frame["total_amount"].notna().to_numpy()
    own_values, own_known = {}, {}
    for currency in ("usd", "eur"):
        total = frame[f"total_{currency}"]
        own_known[currency] = total.notna().to_numpy()
        own_values[currency] = decimal_to_scaled(total, 2).to_numpy(dtype=np.int64, na_value=0)
    lo, hi = np.searchsorted(trees.rows, [start, start + n])
    inside = trees.rows[lo:hi] - start
    public = (frame["visibility"] == "public").to_numpy()
    out: dict[str, pd.Series] = {}
    for prefix, result, members in (("", trees.full, None), ("public_", trees.public, trees.public_rows)):
        in_scope = np.ones(n, dtype=bool) if prefix == "" else public
        root = pa.array(np.arange(n), mask=~in_scope)
        codes = np.where(has_total, allocation.ROLE_CODE["own"], allocation.ROLE_CODE["no_total"]).astype(np.int64)
        codes[~in_scope] = -1
        drawn = {c: np.where(in_scope & has_total & own_known[c], own_values[c], 0) for c in own_values}
        known = {c: ~(in_scope & has_total) | own_known[c] for c in own_known}
        roots = pc.fill_null(pc.take(ids, root), "")
        if len(inside):
            if prefix == "public_" and result is None:
                result, members = trees.full, None
            if members is None:
                local, at = np.arange(lo, hi), inside
            else:
                k_lo, k_hi = np.searchsorted(members, [lo, hi])
                local = np.arange(k_lo, k_hi)
                at = trees.rows[members[local]] - start
                # Internal rows of a tree draw nothing for the public; they are outside the public allocation.
            root_ids = trees.ids.take(pa.array((result.root[local] if members is None
                                                else members[result.root[local]]), type=pa.int64()))
            roots = _replace_at(roots, at, root_ids)
            codes[at] = result.role[local]
            for c in drawn:
                drawn[c][at] = result.drawn[c][local]
                known[c][at] = result.drawn_known[c][local]
        out[f"{prefix}tree_root"] = pd.Series(roots, index=index, dtype="str")
        out[f"{prefix}drawn_role"] = pd.Series(_role_text(codes), index=index, dtype="str")
        for c in ("usd", "eur"):
            out[f"{prefix}drawn_{c}"] = cents_decimal(drawn[c], known[c], index)
    return out


def _replace_at(values: pa.Array, at: np.ndarray, replacement: pa.Array) -> pa.Array:
    """values with values[at[k]] = replacement[k], by one Arrow take over the concatenation."""
    source = np.arange(len(values), dtype=np.int64)
    source[at] = len(values) + np.arange(len(at))
    both = pa.concat_arrays([values.cast(pa.large_string()), replacement.cast(pa.large_string())])
    return both.take(pa.array(source))


# What allocation_columns and summary_part read of a part, converted to pandas; the other columns go from the
# working file to transfers.parquet as Arrow, without a round trip through pandas.
ALLOCATION_INPUTS = ("id", "total_amount", "total_usd", "total_eur", "visibility")
SUMMARY_INPUTS = ("counts_in_totals", "currency", "total_amount", "total_usd", "total_eur", "part_of", "same_as",
                  "totals_note", "drawn_role", "drawn_usd", "drawn_eur", "fx_source")


# Columns of which nearly every row differs: Parquet would build each one's dictionary only to drop it.
DISTINCT_COLUMNS = frozenset({ROW_NUMBER, "id", "amount_raw", "sources", "tree_root", "public_tree_root"})


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns of transfers.parquet written with a dictionary: every one but the amounts and DISTINCT_COLUMNS."""
    return [f.name for f in schema if f.name not in DISTINCT_COLUMNS and not pa.types.is_decimal(f.type)]


def output_schema(empty: pa.Table, trees: Trees) -> pa.Schema:
    """The schema (pandas metadata included) transfers.parquet has always had: that of the dataset frame with its
    allocation columns, in OUTPUT_COLUMNS order, as pyarrow makes it from pandas."""
    from .emit import arrow_to_frame

    frame = arrow_to_frame(empty.select(list(PART_COLUMNS)))
    frame = frame.assign(**allocation_columns(frame, 0, trees))[list(OUTPUT_COLUMNS)]
    return pa.Table.from_pandas(frame, preserve_index=False).schema


def with_allocation(table: pa.Table, start: int, trees: Trees, schema: pa.Schema) -> pa.Table:
    """One part of the working file with its allocation columns, as a table of the output schema."""
    from .emit import arrow_to_frame

    inputs = arrow_to_frame(table.select(list(ALLOCATION_INPUTS)))
    for name, values in allocation_columns(inputs, start, trees).items():
        table = table.append_column(name, pa.chunked_array([pa.array(values, type=schema.field(name).type)]))
    return table.select(list(OUTPUT_COLUMNS)).cast(schema)


def read_parts(parts_path: Path, batches: list[int]) -> Iterator[pa.Table]:
    """The parts of the working file, one table each, read one at a time (not memory-mapped: a part's pages are
    released once it is written out)."""
    with pa.OSFile(str(parts_path), "rb") as source:
        reader = pa.ipc.open_file(source)
        at = 0
        for count in batches:
            yield pa.Table.from_batches([reader.get_batch(i) for i in range(at, at + count)], schema=reader.schema)
            at += count
        if not batches:
            yield reader.schema.empty_table()


def join_allocation(parts_path: Path, batches: list[int], out_path: Path, trees: Trees,
                    on_frame: Callable[[pd.DataFrame], None]) -> None:
    """Read every part back, add its allocation columns, write it as one row group of out_path in the dataset's
    column order. The Parquet encoding of one part runs on a thread (pyarrow releases the GIL) while the next part
    is read and given its allocation; at most one part waits to be written."""
    from concurrent.futures import ThreadPoolExecutor

    from .emit import arrow_to_frame

    writer = None
    pending = None
    start = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer") as pool:
        try:
            for part in read_parts(parts_path, batches):
                if writer is None:
                    schema = output_schema(part.slice(0, 0), trees)
                    writer = pq.ParquetWriter(out_path, schema, use_dictionary=dictionary_columns(schema))
                table = with_allocation(part, start, trees, writer.schema)
                del part
                on_frame(arrow_to_frame(table.select(list(SUMMARY_INPUTS))))
                if pending is not None:
                    pending.result()
                pending = pool.submit(writer.write_table, table)
                start += table.num_rows
                del table
            if pending is not None:
                pending.result()
        finally:
            if pending is not None:
                pending.exception()  # the write has finished (or failed) before the file is closed
            if writer is not None:
                writer.close()


@contextmanager
def streamed(ledger_dir: Path, lookup_dir: Path | None = None, paths: list[Path] | None = None,
             part_rows: int = PART_ROWS, mapper: Mapper = local_map, stream_bytes: int | None = None,
             work_dir: Path | None = None) -> Iterator[Built]:
    """Read, normalise and check every ledger (parts, then the global steps) into a working folder; the Built it
    yields has every issue, and its write(folder) writes transfers.parquet there. The working folder is removed
    on leaving. Never raises on ledger content."""
    ledger_dir = Path(ledger_dir)
    lookup_dir = Path(lookup_dir) if lookup_dir is not None else ledger_dir / "lookups"
    lookups = load_lookups(lookup_dir)
    paths = discover_ledgers(ledger_dir) if paths is None else [Path(p) for p in paths]
    log = IssueLog()
    ledgers: list[LoadedLedger] = []
    if not paths:
        log.add([LedgerIssue(str(ledger_dir), None, "", "", "no_ledgers", "no ledger files (.csv or .xlsx) found")])
    remove_stale_work(work_dir)
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=work_dir))
    try:
        parts_path, facts = run_parts(read_ahead(ledger_dir, paths, part_rows, stream_bytes, ledgers, log),
                                      lookups, work, log, mapper)
        # Arrow's allocator keeps what the parts freed for reuse; the global steps' arrays are numpy's and DuckDB's.
        pa.default_memory_pool().release_unused()
        log.add(facts["cpi"].values())
        for column, tables in facts["unregistered"].items():
            if tables:
                merge = entities.merge_intermediaries if column == "intermediary" else entities.merge_unregistered
                log.add(entities.unregistered_warnings(merge(tables), column, lookups.register))
        working = WorkingRows(work, parts_path, facts["batches"], facts["part_rows"])
        try:
            trees = global_steps(working, facts["rows"], log)
        finally:
            working.close()
        built = Built(sort_issues(log.listed), log.left_out, ledgers,
                      entities.entity_table_of(lookups.register, facts["seen"]), {}, facts["rows"],
                      dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())

        def write(folder: Path) -> None:
            from .emit import summary_part

            partials: list[dict] = []
            join_allocation(parts_path, facts["batches"], Path(folder) / DATASET_PARQUET, trees,
                            lambda frame: partials.append(summary_part(frame)))
            pa.default_memory_pool().release_unused()  # the parts' buffers, before the reports are worded
            built.summary_parts = merge_summaries(partials)

        built.write = write
        yield built
    finally:
        shutil.rmtree(work, ignore_errors=True)


WORK_PREFIX = "influence-ledger-build-"


def remove_stale_work(work_dir: Path | None) -> None:
    """Remove the working folders of builds that were killed (their process is gone): a killed build never reaches
    its own clean-up, and a large one leaves gigabytes."""
    for folder in Path(work_dir or tempfile.gettempdir()).glob(f"{WORK_PREFIX}*-*"):
        pid = folder.name[len(WORK_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not folder.is_dir():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # another user's live process
            continue


def merge_summaries(parts: list[dict]) -> dict:
    """The summary parts of every row group as one (exact: decimals added at 60 digits)."""
    exact = Context(prec=60)
    merged: dict = {}
    for part in parts:
        for key, value in part.items():
            if key not in merged:
                merged[key] = value
            elif isinstance(value, dict):
                for k, v in value.items():
                    merged[key][k] = exact.add(merged[key][k], v) if k in merged[key] and \
                        isinstance(v, Decimal) else merged[key].get(k, 0) + v
            elif isinstance(value, set):
                merged[key] = merged[key] | value
            elif isinstance(value, Decimal):
                merged[key] = exact.add(merged[key], value)
            else:
                merged[key] = merged[key] + value
    return merged
