"""Benchmark: the callbacks a filter change fires, against a floor that computes the same link sums.

The dataset: `--rows 0` the shipped example (ledgers/, built by the ETL); `--rows N` a SYNTHETIC ledger of N rows
(benchmarks/synthetic_ledger.py) built by the real ETL (etl.pipeline.run_build); `--build-dir PATH` the build kept
there (made there first when it holds none), so a large build is made once for many runs. Then, as whole fresh
processes interleaved in pairs (floor, callbacks, floor, callbacks …), each timing the same seeded filter sets:
- callbacks: the Dash app in-process, asked through Flask's test client with the POSTs a browser sends to
  /_dash-update-component (so the access gate and the JSON encoding are timed too): the unfiltered landing view
  first (cold: the worker's first request, which lays the page out once and opens the build; then warm), then per
  filter set every callback a filter change fires: URL sync, navigation links, filter summary, the flows page's one
  callback (Sankey, note, flow list, table page) and the timeline & map page's one callback;
- floor: the link sums the flows page's Sankey draws for the same view (larger transfer → payer → recipient, or
  the view's levels; per confidence, as the links are split; drawn_usd counted once, the reported value with
  view=all), as one DuckDB query over the build's Parquet dataset with the same WHERE, without ranking, labels or
  figures (the ids of transfers with parts and the folded entity spellings are kept per build, in two small
  tables made when it connects, as a dashboard worker keeps its own).
Prints per pair the p95 and median of each callback and of the floor and their ratios, then median and min–max over
the pairs, the landing view cold and warm, answer sizes, each worker's peak memory (VmHWM), the machine's load at
start and end, and whether the floor's link sums equal the Sankey's. Generated data lives in one temporary folder,
deleted at the end.
Run: python benchmarks/dashboard_callbacks.py --rows 1000000 --pairs 3
     python benchmarks/dashboard_callbacks.py --rows 1000000 --build-dir /tmp/bench-1m   (kept for the next run)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

import numpy as np  # noqa: E402

from benchmarks import peak_memory_mb  # noqa: E402

UPDATE_PATH = "/_dash-update-component"
# A request made on this machine without proxy headers: with no login configured it may see internal rows, so
# the floor sums every row as well (dashboard.auth.request_is_local).
LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
WIDTH = 1246  # the flows page's chart width on a wide screen (pages/flows.py DEFAULT_WIDTH)
# The callbacks a filter change fires on the flows page, in the order they are timed, then the other page's.
FLOWS_PAGE = ("sync_url", "nav_hrefs", "filter_panel_state", "update_flows")
CALLBACKS = (*FLOWS_PAGE, "update_explore")
LANDING = ("update_flows", "update_explore")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


# --- the filter sets --------------------------------------------------------------------------------------------


def vocabulary(build: Path) -> dict:
    """Names, countries and years found in the build, so random filter sets name things that exist (for the
    shipped example as for SYNTHETIC data). Sorted, so the same build and seed give the same filter sets."""
    import duckdb

    from etl.builds import current_build
    from etl.schema import DATASET_PARQUET

    parquet = sql_text(current_build(build) / DATASET_PARQUET)
    con = duckdb.connect()

    def distinct(column: str) -> list[str]:
        return [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM read_parquet({parquet}) "
                                          f"WHERE {column} <> '' ORDER BY 1").fetchall()]

    low, high = con.execute(f"SELECT min(year(date_start)), max(year(date_start)) FROM read_parquet({parquet})"
                            ).fetchone()
    return {"countries": sorted(set(distinct("payer_country")) | set(distinct("recipient_country"))),
            "payers": distinct("payer"), "recipients": distinct("recipient"),
            "years": (int(low or 2000), int(high or 2020))}


def random_queries(words: dict, count: int, seed: int = 7) -> list[str]:
    """URL queries as the dashboard writes them: date ranges, countries, entity searches, confidence, a minimum,
    the country levels, every report, the untraced rests, a drill-down focus; each filter on its own chance. Each
    differs from the others and from the unfiltered view, which is timed on its own (as the landing view): drawn
    again and again among them, the heaviest view of all would be the p95."""
    from dashboard.filters import FilterState

    rng = np.random.default_rng(seed)
    countries, low, high = words["countries"], *words["years"]
    queries: list[str] = []
    while len(queries) < count:
        state: dict = {}
        if rng.random() < 0.6:
            start = int(rng.integers(low, high + 1))
            state.update(date_from=str(start), date_to=str(start + int(rng.integers(0, 5))))
        if rng.random() < 0.4 and countries:
            state["recipient_country"] = (str(rng.choice(countries)),)
        if rng.random() < 0.3 and countries:
            state["payer_country"] = tuple(str(c) for c in rng.choice(countries, size=2, replace=False)) \
                if len(countries) > 1 else (countries[0],)
        if rng.random() < 0.25:
            name = str(rng.choice(words["payers"] + words["recipients"]))
            # Typed in any case: the search ignores case and accents.
            state["entity"] = name.lower() if rng.random() < 0.5 else name
        if rng.random() < 0.3:
            state["confidence"] = ("reported", "alleged")
        if rng.random() < 0.3:
            state["min_usd"] = float(int(rng.integers(1, 500)) * 1000)
        if rng.random() < 0.3:
            state["levels"] = ("payer_country", "recipient_country")
        if rng.random() < 0.1:
            state["view"] = "all"
        elif rng.random() < 0.1:
            state["traced_only"] = False
        if rng.random() < 0.2:
            level = str(rng.choice(["payer", "recipient", "recipient_country"]))
            pool = {"payer": words["payers"], "recipient": words["recipients"],
                    "recipient_country": countries}[level]
            if pool:
                state["focus"] = ((level, str(rng.choice(pool))),)
        query = FilterState(**state).to_query()
        if query and query not in queries:
            queries.append(query)
    return queries


# --- the callbacks worker ---------------------------------------------------------------------------------------


def sankey_sums(answer: dict) -> tuple[dict[str, float], int]:
    """The Sankey's link values summed per pair of levels ("payer>recipient"), and how many links it draws, from
    the flows callback's JSON."""
    data = answer["response"]["sankey"]["figure"].get("data") or [{}]
    trace = data[0]
    if trace.get("type") != "sankey":
        return {}, 0
    levels = np.array([c[0] for c in trace["node"]["customdata"]], dtype=object)
    link = trace["link"]
    pairs = levels[np.array(link["source"], dtype="int64")] + ">" + levels[np.array(link["target"], dtype="int64")]
    sums: dict[str, float] = {}
    for pair, value in zip(pairs, link["value"]):  # one step per link drawn, not per row, and after the timing
        sums[pair] = sums.get(pair, 0.0) + float(value)
    return sums, len(pairs)


def callbacks_worker(build: Path, queries: list[str]) -> dict:
    """The landing view cold and warm, then every callback of a filter change per filter set, each over HTTP."""
    os.environ["INFLUENCE_LEDGER_BUILD_DIR"] = str(build)
    from dash_requests import callback_payload, explore_page_payload, flows_page_payload

    from dashboard.app import FILTER_IDS, NAV_PATHS, app, nav_id, state_to_controls
    from dashboard.filters import from_query

    client = app.server.test_client()

    def payloads(query: str, previous: str | None) -> dict[str, dict]:
        """What the browser posts when the URL becomes `query`: previous None is a page opened at the URL (the URL
        sync sets the filter controls), else the reader changed a filter control on a page showing `previous`."""
        controls = [(f"{i}.value", v) for i, v in zip(FILTER_IDS, state_to_controls(from_query(query)))]
        if previous is None:
            sync = callback_payload(["url.search", *(c for c, _ in controls)], [("url.search", query), *controls],
                                    ["url.search"])
        else:
            before = state_to_controls(from_query(previous))
            changed = [c for (c, v), b in zip(controls, before) if v != b] or ["f-view.value"]
            sync = callback_payload(["url.search", *(c for c, _ in controls)], [("url.search", previous), *controls],
                                    changed[:1])
        return {
            "sync_url": sync,
            "nav_hrefs": callback_payload([f"{nav_id(p)}.href" for p in NAV_PATHS], [("url.search", query)],
                                          ["url.search"]),
            "filter_panel_state": callback_payload(
                ["filter-panel.style", "filter-summary.children", *(f"fw-{i}.style" for i in FILTER_IDS)],
                [("url.pathname", "/"), ("url.search", query)], ["url.search"]),
            "update_flows": flows_page_payload(query, width=WIDTH),
            "update_explore": explore_page_payload(query),
        }

    def post(payload: dict) -> tuple[float, bytes]:
        # Encoded before the clock starts: a browser sends bytes, it does not make them on the server.
        body = json.dumps(payload).encode()
        started = time.perf_counter()
        response = client.post(UPDATE_PATH, data=body, content_type="application/json", environ_base=LOCAL)
        answer = response.get_data()
        seconds = time.perf_counter() - started
        # 204: Dash's answer when a callback changes nothing (the URL sync when the URL is already right).
        if response.status_code not in (200, 204):
            raise SystemExit(f"{payload['output'][:60]}: HTTP {response.status_code}: {answer[:300]!r}")
        return seconds, answer

    out: dict = {"landing": {}, "times": {n: [] for n in CALLBACKS}, "bytes": {n: [] for n in CALLBACKS},
                 "sums": []}
    # The landing view: the flows page first, so the worker's first request is the one that opens the build.
    landing = payloads("", None)
    for when in ("cold", "warm"):
        for name in LANDING:
            seconds, answer = post(landing[name])
            out["landing"][f"{name} {when}"] = seconds
            if name == "update_flows":
                out["landing_sums"], out["landing_links"] = sankey_sums(json.loads(answer))
    previous = ""
    for query in queries:
        for name, payload in payloads(query, previous).items():
            seconds, answer = post(payload)
            out["times"][name].append(seconds)
            out["bytes"][name].append(len(answer))
            if name == "update_flows":
                out["sums"].append(sankey_sums(json.loads(answer))[0])
        previous = query
    out["peak_mb"] = peak_memory_mb()
    return out


# --- the floor worker -------------------------------------------------------------------------------------------


def sql_text(value: object) -> str:
    """A SQL string literal (for file paths, which DuckDB's table functions take as constants)."""
    return "'" + str(value).replace("'", "''") + "'"


def _fold_sql(column: str) -> str:
    # dashboard.filters.fold without its space folding: the ETL writes names with single spaces already.
    return f"lower(strip_accents(coalesce({column}, '')))"


def floor_setup(con, parquet: Path, entities: Path) -> None:
    """What the floor keeps per build, as a dashboard worker keeps its own (dashboard.data._load: categories, parent
    labels, the alias table): the ids of the transfers that have documented parts, every distinct payer, recipient
    and intermediary folded once, and every spelling of a registered entity, folded, with its name."""
    table = f"read_parquet({sql_text(parquet)})"
    con.execute(f"CREATE TEMP TABLE parents AS SELECT DISTINCT part_of AS id FROM {table} WHERE part_of <> ''")
    con.execute("CREATE TEMP TABLE parties AS SELECT DISTINCT side, value, " + _fold_sql("value") + " AS folded FROM ("
                + " UNION ALL ".join(f"SELECT '{c}' AS side, {c} AS value FROM {table}"
                                     for c in ("payer", "recipient", "intermediary")) + ") WHERE value <> ''")
    csv = f"read_csv({sql_text(entities)}, all_varchar = true, header = true)"
    con.execute(f"CREATE TEMP TABLE spellings AS SELECT DISTINCT name, {_fold_sql('trim(spelling)')} AS folded "
                f"FROM (SELECT name, name AS spelling FROM {csv} UNION ALL "
                f"SELECT name, unnest(string_split(aliases, '|')) FROM {csv}) WHERE trim(spelling) <> ''")


def floor_query(search: str, parquet: Path) -> tuple[str, dict]:
    """(SQL, parameters): the link sums of the view's Sankey, before ranking — per pair of levels, source node,
    target node and confidence, the sum of the rows' chart value — with the WHERE of dashboard.filters.mask and
    views.rows_with_left_out, over the Parquet dataset and the tables of floor_setup. Nodes are keyed by the values
    the labels are made from (a label per value)."""
    from dashboard.filters import DRAWING_ROLES, UNTRACED_LABEL, _period_bound, fold, from_query

    state = from_query(search)
    table = f"read_parquet({sql_text(parquet)})"
    params: dict = {"untraced": UNTRACED_LABEL}

    def country(side: str) -> str:
        # "Country not stated" for no country is a node; a code without a name has an empty label, so none.
        return f"CASE WHEN t.{side} = '' OR t.{side}_name <> '' THEN t.{side} END"

    nodes = {
        # A tree's node is its root, when the root has documented parts (dashboard.data.parent_labels).
        "tree": "CASE WHEN t.tree_root IN (SELECT id FROM parents) THEN t.tree_root END",
        "payer_country": country("payer_country"),
        "payer": "NULLIF(t.payer, '')",
        "intermediary": "NULLIF(t.intermediary, '')",
        "recipient": "CASE WHEN t.drawn_role = 'untraced' THEN $untraced ELSE NULLIF(t.recipient, '') END",
        "recipient_country": f"CASE WHEN t.drawn_role = 'untraced' THEN $untraced ELSE {country('recipient_country')} "
                             "END",
    }
    # Counted once a row draws drawn_usd; listing every report (or the left-out ones) it shows what it reported.
    reported = "CAST(coalesce(t.total_usd, t.amount_usd) AS DOUBLE)"
    value = "CAST(t.drawn_usd AS DOUBLE)" if state.view == "counted" else reported
    where = []
    roles = "(" + ", ".join(sql_text(r) for r in DRAWING_ROLES) + ")"
    if state.view == "counted":
        where.append(f"t.drawn_role IN {roles}" + (" AND t.drawn_role <> 'untraced'" if state.traced_only else ""))
    elif state.view == "excluded":
        where.append(f"coalesce(t.drawn_role, '') NOT IN {roles}")
    # The same bounds as the dashboard's: a year from its first to its last day.
    start, stop = _period_bound(state.date_from, end=False), _period_bound(state.date_to, end=True)
    if start is not None:
        where.append("coalesce(t.date_end, t.date_start) >= $start")
        params["start"] = start.to_pydatetime()
    if stop is not None:
        where.append("t.date_start <= $stop")
        params["stop"] = stop.to_pydatetime()
    for column, values in (("payer_country", state.payer_country), ("recipient_country", state.recipient_country),
                           ("confidence", state.confidence), ("amount_kind", state.amount_kind),
                           ("ledger_file", state.ledger)):
        if values:
            where.append(f"list_contains(${column}, t.{column})")
            params[column] = list(values)
    if state.min_usd:
        where.append(f"{reported} >= $min_usd")
        params["min_usd"] = state.min_usd
    names = ""
    if state.entity:
        # As dashboard.filters.mask, on distinct names rather than rows: a name whose folded text contains the
        # search, a registered entity with a name or alias containing it (also inside an intermediaries cell); a
        # row naming one as payer, recipient or intermediary; and the row such a row restates.
        params["needle"] = fold(state.entity)
        names = ("names AS (SELECT DISTINCT name FROM spellings WHERE contains(folded, $needle)), "
                 "found AS (SELECT side, value FROM parties WHERE contains(folded, $needle) "
                 "OR value IN (SELECT name FROM names) OR (side = 'intermediary' AND "
                 "EXISTS (SELECT 1 FROM names WHERE contains(parties.value, names.name)))), ")

        def named(alias: str) -> str:
            return " OR ".join(f"{alias}.{c} IN (SELECT value FROM found WHERE side = '{c}')"
                               for c in ("payer", "recipient", "intermediary"))

        where.append(f"({named('t')} OR t.id IN (SELECT f.same_as FROM {table} AS f WHERE f.same_as <> '' AND "
                     f"({named('f')})))")
    for i, (level, wanted) in enumerate(state.focus):
        key = f"focus{i}"
        params[key] = wanted
        if level in ("payer", "recipient", "payer_country", "recipient_country") and not \
                (level.endswith("country") and len(wanted) == 3):
            where.append("t.drawn_role = 'untraced'" if level == "recipient" and wanted == UNTRACED_LABEL
                         else f"t.{level} = ${key}")
        elif level == "intermediary":
            where.append(f"contains(t.intermediary, ${key})")
        elif level in ("year", "month"):
            where.append(f"strftime(t.date_plot, '{'%Y' if level == 'year' else '%Y-%m'}') = ${key}")
        else:
            raise ValueError(f"the floor has no focus on {level} {wanted!r}")  # labels it does not make
    levels = state.levels
    columns = ", ".join(f"{nodes[level]} AS n{i}" for i, level in enumerate(levels))
    # Each row walks its levels that have a node: a link from one to the next present one (figures._flow_keys).
    links = []
    for i in range(len(levels)):
        for j in range(i + 1, len(levels)):
            present = [f"n{i} IS NOT NULL", f"n{j} IS NOT NULL", *(f"n{k} IS NULL" for k in range(i + 1, j))]
            links.append(f"SELECT '{levels[i]}>{levels[j]}' AS levels, n{i} AS source, n{j} AS target, confidence, "
                         f"sum(v) AS usd, count(*) AS transfers FROM chosen WHERE {' AND '.join(present)} "
                         "GROUP BY ALL")
    sql = (f"WITH {names}chosen AS MATERIALIZED (SELECT {columns}, t.confidence, coalesce({value}, 0) AS v "
           f"FROM {table} AS t WHERE {' AND '.join(where) or 'true'}) " + " UNION ALL ".join(links))
    # DuckDB refuses a parameter the statement does not use (the untraced label without a recipient level).
    return sql, {k: v for k, v in params.items() if f"${k}" in sql}


def floor_worker(build: Path, queries: list[str]) -> dict:
    """The landing view cold (connecting and floor_setup included) and warm, then each filter set's link sums, one
    query each."""
    import duckdb

    from etl.builds import current_build
    from etl.schema import DATASET_PARQUET, ENTITIES_OUTPUT

    folder = current_build(build)
    parquet, entities = folder / DATASET_PARQUET, folder / ENTITIES_OUTPUT
    # Made before the clock starts, as the callbacks' payloads are: building SQL text is not the work measured.
    statements = [floor_query(q, parquet) for q in ["", "", *queries]]
    out: dict = {"landing": {}, "times": {"floor": []}, "sums": []}
    started = time.perf_counter()
    con = duckdb.connect()
    floor_setup(con, parquet, entities)
    for i, (sql, params) in enumerate(statements):
        if i:
            started = time.perf_counter()
        # As Arrow columns: the links (tens of thousands of them, unranked) as Python tuples would cost more than
        # the query.
        links = con.sql(sql, params=params).to_arrow_table()
        seconds = time.perf_counter() - started
        by_levels = links.group_by("levels").aggregate([("usd", "sum")]).to_pydict()
        sums = dict(zip(by_levels["levels"], by_levels["usd_sum"]))
        if i < 2:
            out["landing"][f"floor {'cold' if i == 0 else 'warm'}"] = seconds
            out["landing_sums"], out["landing_links"] = sums, links.num_rows
        else:
            out["times"]["floor"].append(seconds)
            out["sums"].append(sums)
    out["threads"] = con.execute("SELECT current_setting('threads')").fetchone()[0]
    out["peak_mb"] = peak_memory_mb()
    return out


# --- the parent ---------------------------------------------------------------------------------------------------


def make_build(rows: int, folder: Path) -> str:
    """Build the shipped example (rows 0) or a SYNTHETIC ledger of `rows` rows into folder; a line saying which."""
    from etl.pipeline import run_build

    started = time.perf_counter()
    if rows == 0:
        from etl.schema import LEDGER_DIR

        run_build(LEDGER_DIR, folder)
        return f"the shipped example (ledgers/) built in {time.perf_counter() - started:.1f} s"
    from benchmarks.synthetic_ledger import write_synthetic

    ledgers = folder.parent / (folder.name + "-ledgers")
    try:
        write_synthetic(ledgers, rows, seed=3, bad_share=0.0)
        run_build(ledgers, folder)
    finally:
        # The SYNTHETIC ledger (217 MB at a million rows) is not needed once built.
        shutil.rmtree(ledgers, ignore_errors=True)
    return f"SYNTHETIC ledger of {rows:,} rows (benchmarks/synthetic_ledger.py, seed 3) built by the ETL in " \
           f"{time.perf_counter() - started:.1f} s"


def describe(build: Path) -> str:
    """'73 rows' or '1,000,000 rows, SYNTHETIC', from the build's own files."""
    import pyarrow.parquet as pq

    from etl.builds import current_build
    from etl.schema import DATASET_PARQUET, REPORT_JSON

    folder = current_build(build)
    rows = pq.ParquetFile(folder / DATASET_PARQUET).metadata.num_rows
    report = json.loads((folder / REPORT_JSON).read_text(encoding="utf-8"))
    ledgers = [str(l.get("file", "")) for l in report.get("ledgers", [])]
    synthetic = any("synthetic" in name.lower() for name in ledgers)
    return f"{rows:,} rows{', SYNTHETIC' if synthetic else ''} (ledgers: {', '.join(ledgers)})"


def run_worker(kind: str, build: Path, queries_file: Path) -> dict:
    """One whole fresh process of `kind`; its last line of output is its JSON."""
    # The project and tests/ (whose dash_requests.py holds the requests a browser posts) come first.
    paths = [str(PROJECT), str(PROJECT / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run([sys.executable, __file__, "--worker", kind, "--build-dir", str(build), "--queries-file",
                           str(queries_file)], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"the {kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def times(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.1f}x"


def spread(values: list[float], unit=ms) -> str:
    """'12.3 (10.1–15.0)': the median over pairs and their min–max."""
    return f"{unit(statistics.median(values))} ({unit(min(values))}–{unit(max(values))})"


def same_sums(a: dict[str, float], b: dict[str, float]) -> bool:
    """Equal per pair of levels, to float rounding (the floor adds up in another order)."""
    return all(abs(a.get(k, 0.0) - b.get(k, 0.0)) <= 1e-9 * max(abs(a.get(k, 0.0)), abs(b.get(k, 0.0)), 1.0)
               for k in {*a, *b})


def report(pairs: list[tuple[dict, dict]], queries: list[str]) -> None:
    def flows_change(c: dict) -> list[float]:
        # A filter change on the flows page: its callbacks one after the other (a browser sends some at once, so
        # this is what a worker spends, an upper bound on what the reader waits).
        return [sum(times) for times in zip(*(c["times"][n] for n in FLOWS_PAGE))]

    series = {n: (lambda c, n=n: c["times"][n]) for n in CALLBACKS}
    series["flows page, all its callbacks"] = flows_change
    print(f"{len(pairs)} interleaved pairs (floor, callbacks), each a fresh process; the landing view and "
          f"{len(queries)} random filter sets (seed 7); times in ms")
    floor_p95 = [percentile(f["times"]["floor"], 95) for f, _ in pairs]
    table = {name: [percentile(get(c), 95) for _, c in pairs] for name, get in series.items()}
    for k, (f, c) in enumerate(pairs, 1):
        print(f"  pair {k}: floor p95 {ms(floor_p95[k - 1])} (median {ms(statistics.median(f['times']['floor']))})")
        for name, get in series.items():
            p95 = table[name][k - 1]
            print(f"    {name:30s} p95 {ms(p95):>8s} (median {ms(statistics.median(get(c))):>7s})   "
                  f"÷ floor p95 {times(p95 / max(floor_p95[k - 1], 1e-9)):>7s}")
    print("over the pairs, median (min–max):")
    cold, warm = ([f["landing"][f"floor {when}"] for f, _ in pairs] for when in ("cold", "warm"))
    print(f"  floor p95 {spread(floor_p95)}; landing view cold (connecting, floor_setup, the query) {spread(cold)}, "
          f"warm {spread(warm)}")
    for name in series:
        ratios = [p / max(f, 1e-9) for p, f in zip(table[name], floor_p95)]
        print(f"  {name:30s} p95 {spread(table[name])}; ÷ floor p95 {spread(ratios, times)}")
    print("  landing view (no filter), cold: a fresh worker's first requests, the first of which lays the page out "
          "once and opens the build; then warm:")
    for name in LANDING:
        print(f"    {name:28s} cold {spread([c['landing'][f'{name} cold'] for _, c in pairs])}, warm "
              f"{spread([c['landing'][f'{name} warm'] for _, c in pairs])}")
    sizes = pairs[-1][1]["bytes"]
    print("  answer sizes (JSON, uncompressed): " + "; ".join(
        f"{name} median {statistics.median(sizes[name]) / 1024:,.1f} KB, max {max(sizes[name]) / 1024:,.1f} KB"
        for name in ("update_flows", "update_explore")))
    peaks = {kind: ", ".join(f"{run[kind]['peak_mb']:,.0f}" for run in
                             ({"floor": f, "callbacks": c} for f, c in pairs)) for kind in ("floor", "callbacks")}
    print(f"  peak memory (VmHWM) per pair: callbacks worker {peaks['callbacks']} MB; floor worker {peaks['floor']} "
          f"MB (DuckDB threads: {pairs[0][0]['threads']})")
    floor, callbacks = pairs[0]
    print(f"landing view link sums (USD), floor ({floor['landing_links']:,} links, unranked) | Sankey "
          f"({callbacks['landing_links']:,} links, top nodes and Other): " + "; ".join(
              f"{k} {floor['landing_sums'].get(k, 0.0):.2f} | {callbacks['landing_sums'].get(k, 0.0):.2f}"
              for k in sorted(set(floor["landing_sums"]) | set(callbacks["landing_sums"]))))
    agree = [same_sums(a, b) for a, b in zip(floor["sums"], callbacks["sums"])]
    landing = same_sums(floor["landing_sums"], callbacks["landing_sums"])
    drawn = sum(bool(s) for s in callbacks["sums"])
    print(f"link sums equal to the Sankey's: landing view {'yes' if landing else 'NO'}; filter sets {sum(agree)} of "
          f"{len(agree)} ({drawn} of them draw links, the others match no row)"
          + ("" if all(agree) else f"; differ: {[queries[i] for i, a in enumerate(agree) if not a]}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="0: the shipped example; else a SYNTHETIC ledger")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--queries", type=int, default=50, help="random filter sets (at least 50 for a figure)")
    parser.add_argument("--build-dir", type=Path, help="use the build there (made there first if there is none; "
                        "kept)")
    parser.add_argument("--worker", choices=("callbacks", "floor"), help="internal: one timed process")
    parser.add_argument("--queries-file", type=Path, help="internal: the filter sets, as JSON")
    args = parser.parse_args()
    if args.worker:
        queries = json.loads(args.queries_file.read_text(encoding="utf-8"))
        work = callbacks_worker if args.worker == "callbacks" else floor_worker
        print(json.dumps(work(args.build_dir, queries)))
        return
    print(f"machine load at start (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp(prefix="influence-ledger-bench-"))
    try:
        from etl.builds import NoBuild, current_build

        build = args.build_dir or tmp / "build"
        try:
            current_build(build)
            print(f"dataset: the build in {build}, kept")
        except NoBuild:
            print(f"dataset: {make_build(args.rows, build)}" + (f", kept in {build}" if args.build_dir else ""))
        print(f"  {describe(build)}")
        queries = random_queries(vocabulary(build), args.queries)
        queries_file = tmp / "queries.json"
        queries_file.write_text(json.dumps(queries), encoding="utf-8")
        # Floor and callbacks alternate, so each pair's ratio compares two runs made under the same load.
        pairs = [(run_worker("floor", build, queries_file), run_worker("callbacks", build, queries_file))
                 for _ in range(args.pairs)]
        report(pairs, queries)
    finally:
        # The generated ledger, its build (hundreds of MB at a million rows) and the filter sets are not kept.
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine load at end (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
