"""The transfers table: one line per transfer with the columns that tell the story, every other field in a row
detail, a card per transfer on a phone; one server-side page of rows at a time, so the browser never holds the
dataset."""
from __future__ import annotations

import math
import re
import threading
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd
from dash import dcc, html
import dash_ag_grid as dag

from etl.schema import DRAWN_ROLE_MEANINGS

from . import data
from .formatting import QUALIFIERS, RATE_UNITS, date_as_written, exact_money, figure

PAGE_SIZE = 50
SORTABLE = {"value_usd": "USD", "date_start": "Date", "amount_f": "Original amount", "payer": "Payer",
            "recipient": "Recipient"}
# Every column the table can show: key -> (header, width in px). The first six tell the story and are shown by
# default; the rest are in each row's detail and can be added (the choice and its order live in the URL).
TABLE_COLUMNS: dict[str, tuple[str, int]] = {
    "date": ("Date as written", 150),
    "flow": ("Payer → recipient", 300),
    "amount": ("Amount as sourced", 200),
    "usd": ("USD", 170),
    "confidence": ("Confidence", 120),
    "sources": ("Sources", 260),
    "counted": ("Counted once", 170),
    "usd_exact": ("USD (exact)", 160),
    "eur": ("EUR (exact)", 160),
    "rate": ("Rate, its period and source", 320),
    "via": ("Via", 220),
    "countries": ("Countries", 200),
    "status": ("Legal status", 220),
    "relation": ("Part of / restates", 280),
    "purpose": ("Purpose", 320),
    "notes": ("Notes", 320),
    "written": ("Amount as written", 150),
    "date_note": ("About the date", 280),
    "id": ("id", 220),
    "ledger": ("Ledger and row", 200),
}
DEFAULT_COLUMNS = ("date", "flow", "amount", "usd", "confidence", "sources")
SAFE_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)


def chosen_columns(columns: tuple[str, ...]) -> list[str]:
    """The URL's columns that exist, in its order; the default six when it names none."""
    known = [c for c in columns if c in TABLE_COLUMNS]
    return known or list(DEFAULT_COLUMNS)


def column_defs(columns: tuple[str, ...]) -> list[dict]:
    """ag-grid column definitions: one line per row (no wrapping), the whole text in a tooltip."""
    defs = []
    for key in chosen_columns(columns):
        header, width = TABLE_COLUMNS[key]
        column = dict(field=key, headerName=header, width=width, minWidth=width, tooltipField=key)
        if key in ("flow", "sources", "notes", "purpose"):
            column["flex"] = 2 if key == "flow" else 1  # the wide columns share what the page has left
        if key in ("usd", "usd_exact", "eur", "counted"):
            column["type"] = "rightAligned"
        if key == "sources":
            column.update(cellRenderer="SourceLinks", tooltipField="sources_text")
        defs.append(column)
    return defs


def grid(grid_id: str, columns: tuple[str, ...] = ()) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=column_defs(columns), rowData=[],
        defaultColDef=dict(resizable=True, sortable=False, filter=False, suppressMovable=True),
        dashGridOptions=dict(domLayout="autoHeight", suppressCellFocus=True, enableCellTextSelection=True,
                             rowHeight=36, tooltipShowDelay=300),
        style={"width": "100%"}, className="ag-theme-alpine table-grid")


def table_section(prefix: str) -> list:
    """The pager, sort, columns, download buttons, grid, phone cards and row detail of a page's transfers table;
    ids start with prefix."""
    return [
        html.Div(className="table-bar", children=[
            html.Span(id=f"{prefix}-pager-text", className="pager-text"),
            html.Button("‹ Previous", id=f"{prefix}-prev", className="secondary"),
            html.Button("Next ›", id=f"{prefix}-next", className="secondary"),
            dcc.Dropdown(id=f"{prefix}-sort", value="value_usd", clearable=False, className="sort",
                         options=[{"label": f"Sort by {v}", "value": k} for k, v in SORTABLE.items()]),
            # Plain links to the server's download route (dashboard/downloads.py), so a file streams to the browser
            # instead of travelling base64-encoded in a callback answer; download_links sets their addresses.
            html.A("Download CSV", id=f"{prefix}-csv-button", className="button", download=""),
            html.A("Download Excel", id=f"{prefix}-xlsx-button", className="button", download=""),
        ]),
        html.Div(className="table-columns", children=[
            html.Label("Columns, in order", htmlFor=f"{prefix}-columns"),
            # No value until the table's callback sets it from the URL, so mounting the page never rewrites it.
            dcc.Dropdown(id=f"{prefix}-columns", multi=True, value=None, clearable=False,
                         options=[{"label": header, "value": key} for key, (header, _) in TABLE_COLUMNS.items()]),
        ]),
        html.P("Click a row to see every field of it.", className="hint table-hint"),
        grid(f"{prefix}-grid"),
        html.Div(id=f"{prefix}-cards", className="cards"),
        html.Div(id=f"{prefix}-detail", className="row-detail"),
    ]


def table_page(search: str | None, sort_by: str = "value_usd") -> tuple[list[dict], str, list, list[dict]]:
    """The grid rows, pager text, phone cards and column definitions for the URL's filters and page."""
    from . import views

    rows, state = views.rows_for(search)
    return page_from(rows, state, sort_by)


def page_from(rows, state, sort_by: str = "value_usd") -> tuple[list[dict], str, list, list[dict]]:
    """table_page for rows already filtered (the page's own callback filters once for its chart and its table)."""
    return page_from_soon(rows, state, sort_by)()


def page_from_soon(rows, state, sort_by: str = "value_usd") -> Callable[[], tuple[list[dict], str, list, list[dict]]]:
    """page_from, its full rows read from now on (data.full_rows_soon) while the caller draws its charts."""
    chosen, page, pages = chosen_page(rows, state.page, sort_by)
    fetched = data.full_rows_soon(chosen)

    def finish() -> tuple[list[dict], str, list, list[dict]]:
        shown = rows_for_grid(fetched())
        return shown, pager_text(page, pages, len(rows)), cards(shown), column_defs(state.columns)

    return finish


def outputs(prefix: str) -> list:
    """The table's outputs a page's callback sets beside its charts, in table_values' order."""
    from dash import Output

    return [Output(f"{prefix}-grid", "rowData"), Output(f"{prefix}-pager-text", "children"),
            Output(f"{prefix}-cards", "children"), Output(f"{prefix}-grid", "columnDefs"),
            Output(f"{prefix}-columns", "value"), Output(f"{prefix}-detail", "children")]


def table_values(rows, state, sort_by: str | None) -> tuple:
    """The values of outputs(prefix) for filtered rows: page, pager, cards, columns, chosen columns, no detail."""
    return table_values_soon(rows, state, sort_by)()


def table_values_soon(rows, state, sort_by: str | None) -> Callable[[], tuple]:
    """table_values, its page's full rows read from now on while the caller draws its charts."""
    page = page_from_soon(rows, state, sort_by or "value_usd")
    return lambda: (*page(), chosen_columns(state.columns), [])


def page_answer(prefix: str, search: str | None, sort_by: str | None, charts, landing_key: tuple = ()) -> tuple:
    """A page callback's answer: its charts (charts(filtered, parts) for views.rows_with_left_out's (rows, state,
    left)) then its table page (outputs(prefix) last), from one filtering of the rows. A new sort order redraws only
    the table. The landing view (no filter) is worked out once per build, audience, sort and `landing_key` (what
    else the charts depend on, such as the page's width) and then kept: every visit opens it. `parts` is where the
    charts keep what they work out that does not depend on landing_key (the flow diagram's sums, its flow list):
    kept per build and audience for the landing view, so a reader with another width of window waits for the
    drawing only; a new dict for any other view."""
    from dash import ctx, no_update

    from . import views
    from .filters import from_query

    if ctx.triggered_id == f"{prefix}-sort" and not views.page_just_mounted(ctx.triggered):
        rows, state = views.rows_for(search)
        return (no_update,) * (len(ctx.outputs_list) - len(outputs(prefix))) + table_values(rows, state, sort_by)

    def worked_out(parts: dict) -> tuple:
        filtered = views.rows_with_left_out(search)
        table_key = (prefix, "table", sort_by)
        if table_key in parts:
            return charts(filtered, parts) + parts[table_key]
        # The table page's rows are read (from a large build's Parquet file) while the charts are drawn.
        table_page_values = table_values_soon(filtered[0], filtered[1], sort_by)
        answer = charts(filtered, parts)
        parts[table_key] = table_page_values()
        return answer + parts[table_key]

    if from_query(search).to_query():
        return worked_out({})
    dataset = data.load()
    kept = _landing_answers(str(dataset.folder), dataset.audience)
    key = (prefix, sort_by, landing_key)
    with _LANDING_LOCK:
        answer = kept.get(key)
    if answer is None:
        answer = worked_out(_landing_parts(str(dataset.folder), dataset.audience))
        with _LANDING_LOCK:
            kept[key] = answer
            while len(kept) > LANDING_ANSWERS:
                kept.pop(next(iter(kept)))
    return answer


# Landing views kept per build and audience (by page, sort and width), and builds kept: each worker its own. A
# build folder is never rewritten and its audience is part of the key, so a kept answer is exactly what working it
# out again would give that request.
LANDING_ANSWERS = 16
_LANDING_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _landing_answers(folder: str, audience: str) -> dict:
    return {}


@lru_cache(maxsize=4)
def _landing_parts(folder: str, audience: str) -> dict:
    # Small (a diagram's nodes and links, a flow list, a table page) and bounded: one entry per page, sort and
    # diagram layout (a phone's and a wider screen's levels).
    return {}


def download_name(state, excel: bool) -> str:
    """Files named after the view: influence-ledger_recipient-US_2012-2014.csv."""
    parts = []
    if state.view != "counted":
        parts.append({"excluded": "left-out", "all": "every-report"}[state.view])
    for side, values in (("payer", state.payer_country), ("recipient", state.recipient_country)):
        if values:
            parts.append(f"{side}-{'-'.join(values)}")
    if state.date_from or state.date_to:
        parts.append(f"{state.date_from or 'start'}-{state.date_to or 'now'}")
    if state.entity:
        parts.append(state.entity)
    parts += [f"{level}-{value}" for level, value in state.focus]
    slug = "_".join(re.sub(r"[^A-Za-z0-9-]+", "-", p).strip("-")[:40] for p in parts if p)
    return "influence-ledger" + (f"_{slug}" if slug else "") + (".xlsx" if excel else ".csv")


def _sort_key(frame: pd.DataFrame, sort_by: str, descending: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A float key (missing last) for numeric and date columns, or a text order for the others."""
    column = sort_by if sort_by in SORTABLE else "value_usd"
    values = frame[column]
    if values.dtype.kind in "fiM":
        numbers = values.to_numpy(dtype="float64", na_value=np.nan) if values.dtype.kind != "M" else \
            values.to_numpy(dtype="datetime64[us]").astype("int64").astype("float64")
        if values.dtype.kind == "M":
            numbers[values.isna().to_numpy()] = np.nan
        return np.where(np.isnan(numbers), np.inf, -numbers if descending else numbers), None
    order = np.argsort(values.astype("str").to_numpy(), kind="stable")
    return None, order[::-1] if descending else order


def sorted_positions(frame: pd.DataFrame, sort_by: str = "value_usd", descending: bool = True) -> np.ndarray:
    """The positions of the frame's rows in the table's order (what downloads hold)."""
    key, order = _sort_key(frame, sort_by, descending)
    return np.argsort(key, kind="stable") if order is None else order


def ordered(frame: pd.DataFrame, sort_by: str = "value_usd", descending: bool = True) -> pd.DataFrame:
    """Every row in the table's order."""
    return frame.iloc[sorted_positions(frame, sort_by, descending)]


def chosen_page(frame: pd.DataFrame, page: int, sort_by: str = "value_usd", descending: bool = True,
                page_size: int = PAGE_SIZE) -> tuple[pd.DataFrame, int, int]:
    """(the chart rows of the page in the table's order, page actually shown, number of pages)."""
    pages = max(math.ceil(len(frame) / page_size), 1)
    page = min(max(page, 1), pages)
    end = page * page_size
    key, order = _sort_key(frame, sort_by, descending)
    if order is None:
        # Missing values go last either way; only the first `end` rows need ordering (argpartition).
        if end < len(key):
            head = np.argpartition(key, end - 1)[:end]
            order = head[np.argsort(key[head], kind="stable")]
        else:
            order = np.argsort(key, kind="stable")
    return frame.iloc[order[(page - 1) * page_size: end]], page, pages


def _sourced(amount: object, currency: str, kind: str) -> str:
    """The exact figure with its kind: 'more than 7,600,000 USD', '25,000 USD a month'."""
    exact = exact_money(amount, currency)
    if exact != "—" and kind in QUALIFIERS:
        return f"{QUALIFIERS[kind]} {exact}"
    if exact != "—" and kind in RATE_UNITS:
        return f"{exact} {RATE_UNITS[kind]}"
    return exact


def _number(value: object) -> float | None:
    return None if value is None or str(value) in ("", "nan", "None", "<NA>") else float(value)


def rows_for_grid(rows: pd.DataFrame) -> list[dict]:
    """Every table field of each row as text (the grid shows the chosen ones; the detail and cards show more)."""
    def cell(value: object) -> str:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)

    out = []
    for r in rows.itertuples(index=False):
        period = f"{r.fx_rate_date}, " if r.fx_rate_date else ""
        rate = "" if pd.isna(r.fx_rate_usd) or r.currency == "USD" else \
            f"{r.fx_rate_usd:.6g} USD per {r.currency} ({period}{r.fx_source})"
        countries = " → ".join(x for x in (r.payer_country_name, r.recipient_country_name) if x)
        usd = _number(r.amount_usd)
        publishers = [p.strip() for p in str(r.source_publisher).split("|")]
        urls = [u.strip() for u in str(r.sources).split("|") if u.strip()]
        relation = r.totals_note if (r.part_of or r.same_as) else ""
        out.append(dict(
            id=r.id, date=date_as_written(r.date_raw), date_note=r.date_note,
            flow=f"{r.payer} → {r.recipient}", payer=r.payer, recipient=r.recipient,
            amount=_sourced(r.amount, r.currency, r.amount_kind),
            usd=figure(usd, "USD", r.amount_kind, approx=r.currency != "USD") if usd is not None else "—",
            usd_exact=exact_money(r.amount_usd, "USD"), eur=exact_money(r.amount_eur, "EUR"),
            counted=exact_money(r.drawn_usd, "USD") + (
                f": {DRAWN_ROLE_MEANINGS.get(r.drawn_role, '')}" if r.drawn_role != "own" else ""),
            confidence=r.confidence.replace("_", " "), rate=rate, via=r.intermediary, countries=countries,
            status=r.status_note, relation=relation, purpose=r.purpose, notes=r.notes,
            written=f"{r.amount_raw} {r.currency_raw}".strip(), ledger=f"{r.ledger_file}, row {r.ledger_row}",
            # Sources as "url" or "publisher ⟨url⟩" pairs, separated by |; the renderer links http(s) only.
            sources=" | ".join(f"{publishers[i]}\u241f{u}" if i < len(publishers) and publishers[i] else u
                               for i, u in enumerate(urls)),
            sources_text=" | ".join(urls)))
    return [{k: cell(v) for k, v in row.items()} for row in out]


def source_links(text: str) -> list:
    """The sources of one row as links (http(s) only, new tab, no opener), named by their publisher."""
    items = []
    for part in [p.strip() for p in text.split("|") if p.strip()]:
        publisher, _, url = part.rpartition("\u241f")
        label = publisher or url
        node = html.A(label, href=url, target="_blank", rel="noopener noreferrer", title=url) \
            if SAFE_URL.match(url) else html.Span(url, className="unsafe-source")
        items.append(html.Li(node))
    return items


def cards(rows: list[dict]) -> list:
    """On a phone the table is a list of cards, one per transfer."""
    return [html.Article(className="card transfer-card", children=[
        html.P(r["flow"], className="card-flow"),
        html.P([html.Strong(r["amount"]), f" · {r['usd']}" if r["usd"] != r["amount"] else ""], className="card-amount"),
        html.P(f"{r['date']} · {r['confidence']}", className="meta"),
        html.Ul(source_links(r["sources"]), className="sources"),
    ]) for r in rows]


def detail(rows: list[dict], index: int | None) -> list:
    """Every field of one row of the page, as a definition list under the table."""
    if index is None or not (0 <= index < len(rows)):
        return []
    row = rows[index]
    items = []
    for key, (header, _) in TABLE_COLUMNS.items():
        value = row.get(key, "")
        if not value:
            continue
        items += [html.Dt(header), html.Dd(html.Ul(source_links(value), className="sources") if key == "sources"
                                           else value)]
    return [html.H3(row["flow"]), html.Dl(items)]


def pager_text(page: int, pages: int, total: int) -> str:
    return f"Page {page} of {pages} · {total:,} transfer{'s' if total != 1 else ''}"


def register_callbacks(prefix: str, page: str) -> None:
    """The table's own callbacks on a page whose ids start with prefix, and its downloads, which answer whoever may
    use `page` (the module of the page showing the table). Its rows and pager are set by the page's callback
    (outputs/table_values), which filters once for the page's charts and its table."""
    from dash import Input, Output, State, callback, no_update

    from . import downloads
    from .filters import from_query

    downloads.register_table(prefix, page)

    @callback(Output(f"{prefix}-detail", "children", allow_duplicate=True), Input(f"{prefix}-grid", "cellClicked"),
              State(f"{prefix}-grid", "rowData"), prevent_initial_call=True)
    def show_detail(clicked, rows):
        return detail(rows or [], (clicked or {}).get("rowIndex"))

    @callback(Output("url", "search", allow_duplicate=True), Input(f"{prefix}-columns", "value"),
              State("url", "search"), prevent_initial_call=True)
    def choose_columns(columns, search):
        from dataclasses import replace

        if columns is None:
            return no_update
        state = from_query(search)
        chosen = tuple(c for c in (columns or []) if c in TABLE_COLUMNS)
        state = replace(state, columns=() if chosen == DEFAULT_COLUMNS else chosen)
        query = state.to_query()
        return query if query != (search or "") else no_update

    @callback(Output(f"{prefix}-csv-button", "href"), Output(f"{prefix}-csv-button", "download"),
              Output(f"{prefix}-xlsx-button", "href"), Output(f"{prefix}-xlsx-button", "download"),
              Input("url", "search"), Input(f"{prefix}-sort", "value"))
    def download_links(search, sort_by):
        return (*downloads.link(prefix, search, sort_by, excel=False),
                *downloads.link(prefix, search, sort_by, excel=True))
