"""Import article: paste or upload an article, review the money mentions it holds, add ticked rows to a ledger.

Callbacks only unpack inputs and call the pure functions below, which call etl.extract (extraction, duplicates,
the locked and validated append) and etl.pipeline.run_build; nothing here parses a ledger or writes a file itself.
"""
from __future__ import annotations

import base64
import binascii
from pathlib import Path

import dash
import dash_ag_grid as dag
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard import access, data
from etl.errors import ERROR, EtlError, LedgerInvalid, LedgerIssue
from etl.extract.append import append_rows
from etl.extract.candidates import (CANDIDATE_COLUMNS, DEFAULT_VISIBILITY, STATUS, STATUS_ACCEPTED, STATUS_KNOWN,
                                    extract_candidates)
from etl.extract.known import known_rows, mark_known
from etl.extract.parties import gazetteer_for
from etl.extract.review import ReviewedRow
from etl.extract.text import ArticleError, article_from_text, article_kind, decode_article
from etl.load import discover_ledgers, ledger_label
from etl.schema import AMOUNT_KINDS, CONFIDENCE_LEVELS, LEDGER_DIR, VISIBILITIES

# Internal: the access gate refuses this page's callbacks to anyone who may not see internal rows.
dash.register_page(__name__, path="/import", name="Import article", title="Import article · Influence Ledger",
                   order=9, access=access.INTERNAL)

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".htm")
MAX_PASTE_CHARS = MAX_UPLOAD_BYTES
TABLE_LABEL = "the table"
GRID_COLUMNS = [
    dict(field="mention", headerName="Mention", checkboxSelection=True, headerCheckboxSelection=True, minWidth=170,
         pinned="left"),
    dict(field="amount", headerName="Amount (exact)", editable=True, minWidth=130),
    dict(field="currency", headerName="Currency", editable=True, minWidth=90),
    dict(field="amount_kind", headerName="Kind", editable=True, minWidth=110, cellEditor="agSelectCellEditor",
         cellEditorParams={"values": list(AMOUNT_KINDS)}),
    dict(field="date", headerName="Date", editable=True, minWidth=110),
    dict(field="payer", headerName="Payer", editable=True, minWidth=170),
    dict(field="intermediary", headerName="Via", editable=True, minWidth=140),
    dict(field="recipient", headerName="Recipient", editable=True, minWidth=170),
    dict(field="confidence", headerName="Confidence", editable=True, minWidth=120, cellEditor="agSelectCellEditor",
         cellEditorParams={"values": list(CONFIDENCE_LEVELS)}),
    # Rows from an article start internal (unpublished); a reporter makes one public here, deliberately.
    dict(field="visibility", headerName="Visibility", editable=True, minWidth=110, cellEditor="agSelectCellEditor",
         cellEditorParams={"values": list(VISIBILITIES)}),
    dict(field="sources", headerName="Sources", editable=True, minWidth=200),
    dict(field="purpose", headerName="Purpose", editable=True, minWidth=160),
    dict(field="notes", headerName="Notes", editable=True, minWidth=220, wrapText=True, autoHeight=True),
    dict(field="date_note", headerName="Date note", editable=True, minWidth=180),
    dict(field="citation", headerName="Citation", minWidth=90),
    dict(field="status", headerName="Status", minWidth=140),
    dict(field="ledger_id", headerName="Already in ledger as", minWidth=160),
    dict(field="id", headerName="id", editable=True, minWidth=190),
]


def layout(**_query) -> html.Div:
    if not may_add_rows():
        return html.Div(className="page import-article", children=[
            html.H1("Import article"),
            html.P("The import page writes to ledgers, so it needs a signed-in user (or, without a login, this "
                   "machine) and is off in public mode."),
            html.A("Sign in", href="/login")])
    return html.Div(className="page import-article", children=[
        html.H1("Import article"),
        html.P("Paste an article or upload a file (.txt, .md, .html; at most 2 MB). Every money mention becomes a "
               "candidate row: check it against the quote, edit the cells, tick the rows to keep and add them to a "
               "ledger. Rows are validated like a build; nothing is written if any ticked row has an issue.",
               className="hint"),
        html.Div(className="import-inputs", children=[
            html.Label("Article text", htmlFor="imp-text"),
            dcc.Textarea(id="imp-text", className="import-text", placeholder="Paste the article here…",
                         maxLength=MAX_PASTE_CHARS),
            dcc.Upload(id="imp-upload", className="import-upload", max_size=4 * MAX_UPLOAD_BYTES, multiple=False,  # larger: refused with a message below
                       accept=",".join(UPLOAD_SUFFIXES),
                       children=html.Div(["Drop a file here or ", html.A("choose one"), " (.txt .md .html)"])),
            html.Label("Source URL (becomes each row's sources)", htmlFor="imp-source"),
            dcc.Input(id="imp-source", type="url", className="text", placeholder="https://…", debounce=True),
            html.Button("Find money mentions", id="imp-extract"),
        ]),
        html.Div(id="imp-message", className="note", role="status"),
        dag.AgGrid(id="imp-grid", columnDefs=GRID_COLUMNS, rowData=[], getRowId="params.data.row_key",
                   defaultColDef=dict(resizable=True, sortable=False, filter=False),
                   dashGridOptions=dict(rowSelection="multiple", suppressRowClickSelection=True,
                                        domLayout="autoHeight", stopEditingWhenCellsLoseFocus=True),
                   className="ag-theme-alpine import-grid"),
        html.H2("Quotes"),
        html.Ol(id="imp-quotes", className="import-quotes"),
        html.Div(className="import-append", children=[
            html.Label("Ledger", htmlFor="imp-ledger"),
            dcc.Dropdown(id="imp-ledger", options=ledger_options(LEDGER_DIR), clearable=False,
                         placeholder="Choose a ledger"),
            html.Button("Add ticked rows to the ledger", id="imp-append"),
        ]),
        dcc.Loading(html.Div(id="imp-result", role="status")),
    ])


def ledger_options(ledger_dir: Path) -> list[dict]:
    return [{"label": ledger_label(p, ledger_dir), "value": ledger_label(p, ledger_dir)}
            for p in discover_ledgers(Path(ledger_dir))]


def read_upload(contents: str, filename: str) -> tuple[str, str]:
    """Decoded text and kind of an uploaded file; an ArticleError with a clear message when it is refused."""
    name = filename or "upload"
    if not name.lower().endswith(UPLOAD_SUFFIXES):
        raise ArticleError(f"{name}: only {' '.join(UPLOAD_SUFFIXES)} files can be imported")
    try:
        _, encoded = contents.split(",", 1)
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ArticleError(f"{name}: the upload arrived damaged; try again") from exc
    if len(raw) > MAX_UPLOAD_BYTES:
        raise ArticleError(f"{name} is {len(raw) / 1024 / 1024:.1f} MB; the limit is "
                           f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB")
    return decode_article(raw, name), article_kind(name)


def find_candidates(text: str | None, upload: str | None, filename: str | None, source_url: str | None,
                    use_upload: bool, ledger_dir: Path = LEDGER_DIR) -> tuple[list[dict], str]:
    """Rows for the grid (each with a row_key) and a message; never raises on user input."""
    if not may_add_rows():
        # Matching against ledgers tells which rows they hold: only for those who may see every ledger row.
        return [], "Finding money mentions is switched off here (public mode, or you are not signed in)."
    source_url = (source_url or "").strip()
    try:
        if use_upload and upload:
            body, kind = read_upload(upload, filename or "")
            name = filename or "upload"
        else:
            body, kind, name = text or "", "text", "pasted text"
            if len(body) > MAX_PASTE_CHARS:
                raise ArticleError("the pasted text is longer than 2 MB; upload it as a file in parts")
        article = article_from_text(body, kind, name)
        candidates = extract_candidates(article, source_url, gazetteer_for(Path(ledger_dir) / "lookups"))
        rows = mark_known([c.row for c in candidates], known_rows(Path(ledger_dir)))
    except EtlError as exc:
        return [], str(exc)
    for key, row in enumerate(rows):
        row["row_key"] = str(key)
    known = sum(1 for r in rows if r[STATUS] == STATUS_KNOWN)
    message = f"{name}: {len(rows)} money mention(s) found" if rows else f"{name}: no money mentions found."
    if known:
        message += f"; {known} already in a ledger (see the last columns)"
    if rows and not source_url:
        message += ". Add a source URL (above, then search again, or in the Sources column) before adding rows."
    return rows, message


def highlighted_quote(row: dict) -> list:
    """The quote as text with the mention inside an html.Mark (components, never raw HTML)."""
    quote, mention = str(row.get("quote", "")), str(row.get("mention", ""))
    at = quote.find(mention) if mention else -1
    if at < 0:
        return [quote]
    return [quote[:at], html.Mark(mention), quote[at + len(mention):]]


def quote_items(rows: list[dict]) -> list:
    items = []
    for row in rows:
        citation = f" {row['citation']}" if row.get("citation") else ""
        known = f" — already in the ledger as {row['ledger_id']}" if row.get("ledger_id") else ""
        items.append(html.Li([*highlighted_quote(row),
                              html.Span(f"{citation}{known}", className="hint")]))
    return items


def may_add_rows() -> bool:
    """Writing to ledgers needs the same standing as seeing internal rows: never in public mode, and signed in
    when a login is configured."""
    # The same rule as internal rows: never in public mode; signed in when a login is configured; and
    # without a login, only from this machine and not through a proxy.
    return access.may_use(access.page_access(__name__))


def add_to_ledger(selected: list[dict] | None, ledger: str | None, ledger_dir: Path = LEDGER_DIR,
                  build_dir: Path | None = None, rebuild: bool = True) -> list:
    """Append the ticked rows through the same function as the command line, then rebuild the dataset."""
    if not may_add_rows():
        return [html.P("Adding rows is switched off here (public mode, or you are not signed in).",
                       className="error")]
    if not selected:
        return [html.P("Tick at least one row first.", className="error")]
    if not ledger:
        return [html.P("Choose a ledger first.", className="error")]
    ledger_dir = Path(ledger_dir)
    target = (ledger_dir / ledger).resolve()
    if target not in {p.resolve() for p in discover_ledgers(ledger_dir)}:
        return [html.P(f"{ledger} is not a ledger under {ledger_dir}.", className="error")]
    reviewed = [ReviewedRow(int(row.get("row_key", i)) + 1,
                            {**{c: str(row.get(c) or "") for c in CANDIDATE_COLUMNS}, STATUS: STATUS_ACCEPTED,
                             # An empty cell would mean public in a ledger: a row from an article fails closed.
                             "visibility": str(row.get("visibility") or "").strip() or DEFAULT_VISIBILITY})
                for i, row in enumerate(selected)]
    try:
        result = append_rows(reviewed, target, ledger_dir, TABLE_LABEL)
    except EtlError as exc:
        return [html.P(str(exc), className="error")]
    if result.errors:
        return [html.P(f"Nothing was added to {ledger}: fix these cells and try again.", className="error"),
                *issue_sections(result.issues)]
    internal = sum(1 for r in reviewed if r.cells["visibility"] == "internal")
    done = [html.P(f"Added {len(result.appended)} row(s) to {ledger}: {', '.join(result.appended)}"
                   f" ({internal} internal, {len(reviewed) - internal} public).")]
    done += issue_sections(result.issues)
    if not rebuild:
        return done
    from etl.pipeline import run_build

    try:
        built = run_build(ledger_dir, Path(build_dir) if build_dir else data.build_dir())
    except LedgerInvalid as exc:
        return done + [html.P("The dataset was not rebuilt:", className="error"),
                       *issue_sections(exc.issues, "stop the rebuild")]
    except EtlError as exc:
        return done + [html.P(f"The dataset was not rebuilt: {exc}", className="error")]
    return done + [html.P([f"Dataset rebuilt: {len(built.dataset)} transfers. ",
                           dcc.Link("See the flows", href="/"), " · ",
                           dcc.Link("Explore the rows", href="/explore")])]


def issue_sections(issues: list[LedgerIssue], blocking_note: str = "also stop any append") -> list:
    """The issues of the rows being added first and alone; problems elsewhere that block the append next; the
    warnings about rows already in the ledgers (dozens, for an imported dataset) only as a count that opens."""
    own = [i for i in issues if i.file == TABLE_LABEL]
    elsewhere = [i for i in issues if i.file != TABLE_LABEL]
    blocking = [i for i in elsewhere if i.severity == ERROR]
    warnings = [i for i in elsewhere if i.severity != ERROR]
    sections: list = []
    if own:
        sections += [html.P("In the rows you are adding:", className="issues-own-title"),
                     issue_list(own, "issues issues-own")]
    if blocking:
        sections += [html.P(f"{len(blocking)} problem(s) in the ledgers themselves {blocking_note}:",
                            className="error"), issue_list(blocking, "issues issues-blocking")]
    if warnings:
        sections.append(html.Details(className="issues-elsewhere", children=[
            html.Summary(f"{len(warnings)} warning(s) about rows already in the ledgers, not about these rows"),
            issue_list(warnings, "issues issues-elsewhere-list")]))
    return sections


def issue_list(issues: list[LedgerIssue], class_name: str = "issues") -> html.Ul:
    def where(issue: LedgerIssue) -> str:
        if issue.file == TABLE_LABEL and issue.row is not None:
            return f"table row {issue.row}, {issue.column}"
        row = "" if issue.row is None else f" row {issue.row}"
        return f"{issue.file}{row}{', ' + issue.column if issue.column else ''}"

    return html.Ul(className=class_name, children=[
        html.Li([html.Strong(where(i)), f": {i.value!r} — " if i.value else ": ",
                 ("" if i.severity == ERROR else "warning: ") + i.message]) for i in issues])


@callback(Output("imp-grid", "rowData"), Output("imp-quotes", "children"), Output("imp-message", "children"),
          Output("imp-grid", "selectedRows"),
          Input("imp-extract", "n_clicks"), Input("imp-upload", "contents"),
          State("imp-text", "value"), State("imp-upload", "filename"), State("imp-source", "value"),
          prevent_initial_call=True)
def on_extract(_clicks, upload, text, filename, source_url):
    rows, message = find_candidates(text, upload, filename, source_url, ctx.triggered_id == "imp-upload",
                                    ledger_dir=LEDGER_DIR)
    return rows, quote_items(rows), message, []


@callback(Output("imp-result", "children"), Input("imp-append", "n_clicks"),
          State("imp-grid", "selectedRows"), State("imp-ledger", "value"), prevent_initial_call=True)
def on_append(_clicks, selected, ledger):
    if not _clicks:
        return no_update
    return add_to_ledger(selected, ledger, ledger_dir=LEDGER_DIR)
