"""The transfers table: one server-side page of rows at a time, so the browser never holds the dataset."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from dash import html
import dash_ag_grid as dag

from . import data
from etl.schema import DRAWN_ROLE_MEANINGS

from .formatting import QUALIFIERS, RATE_UNITS, exact_money

PAGE_SIZE = 50
SORTABLE = {"value_usd": "USD", "date_start": "Date", "amount_f": "Original amount", "payer": "Payer",
            "recipient": "Recipient"}
COLUMNS = [
    dict(field="amount_text", headerName="Amount as written", minWidth=130),
    dict(field="amount_exact", headerName="Amount (exact)", minWidth=150),
    dict(field="usd", headerName="USD", minWidth=130, type="rightAligned"),
    dict(field="drawn", headerName="Counted once (USD)", minWidth=200, wrapText=True, autoHeight=True),
    dict(field="eur", headerName="EUR", minWidth=130, type="rightAligned"),
    dict(field="rate", headerName="Rate (USD per unit) and its date", minWidth=220, wrapText=True, autoHeight=True),
    dict(field="date_raw", headerName="Date as written", minWidth=120),
    dict(field="payer", headerName="Payer", minWidth=170, wrapText=True, autoHeight=True),
    dict(field="intermediary", headerName="Via", minWidth=150, wrapText=True, autoHeight=True),
    dict(field="recipient", headerName="Recipient", minWidth=170, wrapText=True, autoHeight=True),
    dict(field="countries", headerName="Countries", minWidth=150),
    dict(field="confidence", headerName="Confidence", minWidth=120),
    dict(field="status_note", headerName="Legal status", minWidth=180, wrapText=True, autoHeight=True),
    dict(field="sources", headerName="Sources", minWidth=220, cellRenderer="SourceLinks", autoHeight=True),
    dict(field="totals_note", headerName="Part of / restates", minWidth=200, wrapText=True, autoHeight=True),
    dict(field="notes", headerName="Notes", minWidth=260, wrapText=True, autoHeight=True),
    dict(field="id", headerName="id", minWidth=150),
]


def grid(grid_id: str) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=COLUMNS, rowData=[],
        defaultColDef=dict(resizable=True, sortable=False, filter=False, suppressMovable=True),
        dashGridOptions=dict(domLayout="autoHeight", suppressCellFocus=True, enableCellTextSelection=True),
        style={"width": "100%"}, className="ag-theme-alpine")


def table_section(prefix: str) -> list:
    """The pager, sort, download buttons and grid of a page's transfers table; ids start with prefix."""
    from dash import dcc

    return [
        html.Div(className="table-bar", children=[
            html.Span(id=f"{prefix}-pager-text", className="pager-text"),
            html.Button("‹ Previous", id=f"{prefix}-prev", className="secondary"),
            html.Button("Next ›", id=f"{prefix}-next", className="secondary"),
            dcc.Dropdown(id=f"{prefix}-sort", value="value_usd", clearable=False, className="sort",
                         options=[{"label": f"Sort by {v}", "value": k} for k, v in SORTABLE.items()]),
            html.Button("Download CSV", id=f"{prefix}-csv-button"),
            html.Button("Download Excel", id=f"{prefix}-xlsx-button"),
            dcc.Download(id=f"{prefix}-download"),
        ]),
        grid(f"{prefix}-grid"),
    ]


def table_page(search: str | None, sort_by: str = "value_usd") -> tuple[list[dict], str]:
    """The grid rows and pager text for the URL's filters and page."""
    from . import views

    rows, state = views.rows_for(search)
    shown, page, pages = page_of(rows, state.page, sort_by)
    return shown, pager_text(page, pages, len(rows))


def download(search: str | None, excel: bool) -> dict:
    """dcc.Download data: exactly the filtered rows, every column, as CSV or Excel."""
    from dash import dcc

    from . import export, views

    chart_rows, state = views.rows_for(search)
    rows = views.full(chart_rows)
    if excel:
        return dcc.send_bytes(export.to_xlsx_bytes(rows, views.about_rows(state, len(rows))),
                              "influence-ledger-transfers.xlsx")
    return dcc.send_bytes(export.to_csv_bytes(rows), "influence-ledger-transfers.csv")


def sort_rows(frame: pd.DataFrame, sort_by: str, descending: bool) -> pd.DataFrame:
    column = sort_by if sort_by in SORTABLE else "value_usd"
    return frame.sort_values(column, ascending=not descending, na_position="last", kind="stable")


def page_of(frame: pd.DataFrame, page: int, sort_by: str = "value_usd", descending: bool = True,
            page_size: int = PAGE_SIZE) -> tuple[list[dict], int, int]:
    """(rows for the grid, page actually shown, number of pages). Only page_size rows are formatted."""
    pages = max(math.ceil(len(frame) / page_size), 1)
    page = min(max(page, 1), pages)
    column = sort_by if sort_by in SORTABLE else "value_usd"
    values = frame[column]
    end = page * page_size
    if values.dtype.kind in "fiM":
        numbers = values.to_numpy(dtype="float64", na_value=np.nan) if values.dtype.kind != "M" else \
            values.to_numpy(dtype="datetime64[us]").astype("int64").astype("float64")
        if values.dtype.kind == "M":
            numbers[values.isna().to_numpy()] = np.nan
        # Missing values go last either way; only the first `end` rows need ordering (argpartition).
        key = np.where(np.isnan(numbers), np.inf, -numbers if descending else numbers)
        if end < len(key):
            head = np.argpartition(key, end - 1)[:end]
            order = head[np.argsort(key[head], kind="stable")]
        else:
            order = np.argsort(key, kind="stable")
    else:
        order = np.argsort(values.astype("str").to_numpy(), kind="stable")
        order = order[::-1] if descending else order
    chosen = frame.iloc[order[(page - 1) * page_size: end]]
    return rows_for_grid(data.full_rows(chosen)), page, pages


def rows_for_grid(rows: pd.DataFrame) -> list[dict]:
    def cell(value: object) -> str:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)

    out = []
    for r in rows.itertuples(index=False):
        rate = "" if pd.isna(r.fx_rate_usd) else f"{r.fx_rate_usd:.6g} ({r.fx_rate_date}; {r.fx_source})"
        countries = " → ".join(x for x in (r.payer_country_name, r.recipient_country_name) if x)
        exact = exact_money(r.amount, r.currency)
        # The figure's kind travels with it: 'more than 7,600,000 USD', '25,000 USD a month'.
        if exact != "—" and r.amount_kind in QUALIFIERS:
            exact = f"{QUALIFIERS[r.amount_kind]} {exact}"
        elif exact != "—" and r.amount_kind in RATE_UNITS:
            exact = f"{exact} {RATE_UNITS[r.amount_kind]}"
        drawn = exact_money(r.drawn_usd, "USD")
        out.append(dict(
            id=r.id, amount_text=f"{r.amount_raw} {r.currency_raw}".strip(),
            amount_exact=exact, usd=exact_money(r.amount_usd, "USD"),
            drawn=f"{drawn}: {DRAWN_ROLE_MEANINGS.get(r.drawn_role, '')}" if r.drawn_role != "own" else drawn,
            eur=exact_money(r.amount_eur, "EUR"), rate=rate, date_raw=r.date_raw + (
                f" ({r.date_note})" if r.date_note else ""), payer=r.payer, intermediary=r.intermediary,
            recipient=r.recipient, countries=countries, confidence=r.confidence.replace("_", " "),
            status_note=r.status_note, sources=r.sources, totals_note=r.totals_note, notes=r.notes))
    return [{k: cell(v) for k, v in row.items()} for row in out]


def pager_text(page: int, pages: int, total: int) -> str:
    return f"Page {page} of {pages} · {total:,} transfer{'s' if total != 1 else ''}"


def empty_note(total: int) -> html.Div | None:
    return html.Div("No transfers match these filters.", className="empty") if total == 0 else None
