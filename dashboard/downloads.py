"""The table downloads as plain HTTP routes: GET /download/<table>.csv or .xlsx ?<the view's URL query>&sort=<key>.

A callback answer would carry the file base64-encoded in JSON, built whole in the worker (several GB at a million
rows). Here the CSV streams to the browser part by part and the XLSX is written part by part to a temporary file,
so a worker holds the full columns of one part of the rows at a time. Rows come only through views.rows_for
(data.load() and data.visible_rows(), the visibility gate every callback passes), all from the one dataset snapshot
the request pinned, and a table on a page the request may not use answers 403, exactly as that page's callbacks do.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlencode

import dash
import flask
import numpy as np
import pandas as pd

from . import access, data, export, views
from . import table as transfers_table
from .filters import from_query

# Rows per part: each part's full columns (sources, notes …) are looked up and encoded on their own. A module
# constant so a test can make parts tiny.
CHUNK_ROWS = 50_000
ROUTE = "download/<table>.<any(csv, xlsx):extension>"
# Which page shows each table (prefix → the page module's name), filled as the pages register their tables; a
# download answers whoever may use that page.
TABLE_PAGES: dict[str, str] = {}


def register_table(prefix: str, page: str) -> None:
    TABLE_PAGES[prefix] = page


def link(prefix: str, search: str | None, sort_by: str | None, excel: bool) -> tuple[str, str]:
    """(href, file name) of a table's download for a view: a path on this app's server (under Dash's requests
    prefix) whose query is the parsed view written again, never the URL's own text, plus the sort key."""
    state = replace(from_query(search), page=1)
    sort_key = sort_by if sort_by in transfers_table.SORTABLE else "value_usd"
    query = state.to_query()
    path = dash.get_relative_path(f"/download/{prefix}.{'xlsx' if excel else 'csv'}")
    return (f"{path}{query}{'&' if query else '?'}{urlencode({'sort': sort_key})}",
            transfers_table.download_name(state, excel))


def full_row_parts(chart_rows: pd.DataFrame, order: np.ndarray, dataset: data.Dataset) -> Iterator[pd.DataFrame]:
    """The full rows behind chart rows in `order`, CHUNK_ROWS at a time, from `dataset` (at least one part, empty
    for an empty view, so a file always has its header). One read of the build's rows for the whole file, however
    many parts (data.full_row_batches)."""
    if not len(order):
        yield data.full_rows(chart_rows.iloc[:0], dataset)
        return
    yield from data.full_row_batches(chart_rows.iloc[order], CHUNK_ROWS, dataset)


def _attachment(response: flask.Response, name: str) -> flask.Response:
    # Werkzeug quotes the name; download_name has already reduced it to letters, digits, '-', '_' and '.'.
    response.headers.set("Content-Disposition", "attachment", filename=name)
    # The rows depend on who asks: no cache may keep them for someone else.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def table_download(table: str, extension: str) -> flask.Response:
    """The rows of the view the query describes, every column, in the table's order, as CSV or XLSX."""
    page = TABLE_PAGES.get(table)
    if page is None:
        flask.abort(404)
    if not access.may_use(access.page_access(page)):
        return access.refusal()
    excel = extension == "xlsx"
    sort_by = flask.request.args.get("sort", "value_usd")
    # The view's own parameters (from_query ignores 'sort' and anything else it does not know).
    search = "?" + urlencode(list(flask.request.args.items(multi=True)))
    # One snapshot for the whole file: load() pins it to this request, and the parts below take it explicitly, so a
    # body generated after this function returns still reads the build the rows were filtered in.
    dataset = data.load()
    chart_rows, state = views.rows_for(search, dataset=dataset)
    order = transfers_table.sorted_positions(chart_rows, sort_by)
    name = transfers_table.download_name(state, excel)
    if not excel:
        # stream_with_context keeps this request (its pinned snapshot, who is asking) for the body's generator.
        body = flask.stream_with_context(export.csv_parts(full_row_parts(chart_rows, order, dataset)))
        return _attachment(flask.Response(body, mimetype=export.CSV_MIMETYPE), name)
    # An unnamed temporary file (gone from the disk as soon as it is closed, which send_file does once sent), so
    # the workbook is never held in memory and nothing is left behind, whatever happens to the request.
    handle = tempfile.TemporaryFile(prefix="influence-ledger-", suffix=".xlsx")
    try:
        parts = full_row_parts(chart_rows, order[:export.XLSX_MAX_ROWS], dataset)
        export.write_xlsx(parts, len(chart_rows), views.about_rows(state, len(chart_rows), sort_by), handle)
        size = os.fstat(handle.fileno()).st_size
        handle.seek(0)
        response = flask.send_file(handle, mimetype=export.XLSX_MIMETYPE, as_attachment=True, download_name=name,
                                   conditional=False, etag=False, max_age=0)
    except BaseException:
        handle.close()
        raise
    response.content_length = size
    return _attachment(response, name)


def install(app: dash.Dash) -> None:
    """Register the download route on the app's Flask server, under Dash's routes prefix."""
    app.server.add_url_rule(app.config.routes_pathname_prefix + ROUTE, "table_download", table_download,
                            methods=["GET"])
