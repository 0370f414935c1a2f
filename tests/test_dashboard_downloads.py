"""The table downloads the server's route serves (dashboard/downloads.py): streamed in parts of a few rows, yet byte
for byte the file of all rows at once; one dataset version per file, whatever is rebuilt meanwhile; only the rows
the visibility gate lets through, and 403 exactly where the page's callbacks answer 403; every cell inert."""
from __future__ import annotations

import io
import math
import threading

import dash
import openpyxl
import pandas as pd
import pytest

from dashboard import access, auth, data, downloads, export, views
from dashboard import table as transfers_table
from dashboard.app import app
from etl.pipeline import run_build
from ledger_factory import row, write_csv, write_lookups
from dash_requests import fetch_download, flows_page_payload

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
# No login is configured in these tests: a request from another machine may see public rows only.
ANONYMOUS = {"REMOTE_ADDR": "198.51.100.7"}
SECRET = "internal-secret-row"
SECRET_PARENT = "internal-parent-row"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PUBLIC_ROWS = 20
PART_ROWS = 3


def ledger_rows(generation: int = 0, internal_first: bool = False) -> list[dict]:
    """Public rows whose notes and purpose start with every formula trigger and name their generation, a public
    row part of an internal one, and internal rows (first or last, so positions move between generations)."""
    public = [row(id=f"pub-{i:02d}", amount=str(1000 + 37 * i), date=f"{2012 + i % 3}-{1 + i % 12:02d}",
                  # The ETL trims a name's leading tab or line break, so names start with the other triggers.
                  recipient=f"{TRIGGERS[i % 4]}Recipient {i % 4}",
                  notes=f"{TRIGGERS[i % 6]}HYPERLINK(\"http://evil.example\") generation {generation}",
                  purpose=f"{TRIGGERS[(i + 1) % 6]}SUM(A1:A9)") for i in range(PUBLIC_ROWS)]
    public.append(row(id="pub-child", amount="50", part_of=SECRET_PARENT))
    internal = [row(id=SECRET, amount="2000", visibility="internal", notes="unpublished investigation"),
                row(id=SECRET_PARENT, amount="5000", visibility="internal", notes="unpublished parent")]
    return internal + public if internal_first else public + internal


@pytest.fixture
def build(tmp_path, monkeypatch):
    root = tmp_path / "ledgers"
    write_lookups(root)
    write_csv(root / "mixed.csv", ledger_rows())
    run_build(root, tmp_path / "build")
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "build"))
    monkeypatch.delenv(data.PUBLIC_MODE_ENV, raising=False)
    monkeypatch.delenv(auth.USERS_ENV, raising=False)
    # Parts of three rows: every view below spans several.
    monkeypatch.setattr(downloads, "CHUNK_ROWS", PART_ROWS)
    return root, tmp_path / "build"


def whole_file(search: str, sort_by: str, environ: dict, excel: bool = False) -> tuple[bytes, pd.DataFrame]:
    """(the file of the view's rows exported at once, those rows), as the same request would see them."""
    with app.server.test_request_context("/", environ_base=environ):
        chart_rows, state = views.rows_for(search)
        rows = data.full_rows(transfers_table.ordered(chart_rows, sort_by))
        if excel:
            return export.to_xlsx_bytes(rows, views.about_rows(state, len(rows), sort_by)), rows
        return export.to_csv_bytes(rows), rows


def streamed(client, search: str, sort_by: str, environ: dict, excel: bool = False) -> list[bytes]:
    """The route's body as the chunks it was sent in."""
    href, _ = downloads.link("flows", search, sort_by, excel)
    response = client.get(href, environ_base=environ, buffered=False)
    assert response.status_code == 200
    try:
        return list(response.response)
    finally:
        response.close()


def workbook_cells(content: bytes) -> dict:
    """Everything a reader of the workbook sees: each cell's value, type, number format and boldness in both
    sheets, and the transfers sheet's frozen header, filter and widths."""
    book = openpyxl.load_workbook(io.BytesIO(content))
    sheet = book["transfers"]
    cells = {name: [[(c.value, type(c.value).__name__, c.number_format, bool(c.font.b)) for c in r]
                    for r in book[name].iter_rows()] for name in book.sheetnames}
    return {"cells": cells, "frozen": sheet.freeze_panes, "filter": sheet.auto_filter.ref,
            "widths": {k: v.width for k, v in sheet.column_dimensions.items()}}


@pytest.mark.parametrize("environ", [LOCAL, ANONYMOUS], ids=["local", "anonymous"])
@pytest.mark.parametrize("search, sort_by", [("?view=all", "value_usd"), ("", "date_start"), ("?view=all", "payer"),
                                             ("?entity=nobody at all", "value_usd")])
def test_the_streamed_csv_is_byte_for_byte_the_csv_of_all_rows_at_once(build, environ, search, sort_by):
    chunks = streamed(app.server.test_client(), search, sort_by, environ)
    expected, rows = whole_file(search, sort_by, environ)
    assert b"".join(chunks) == expected
    # One chunk per part of PART_ROWS rows (one for an empty view: its header), so this did stream.
    assert len(chunks) == max(math.ceil(len(rows) / PART_ROWS), 1)
    assert search == "?entity=nobody at all" or len(chunks) > 3
    body = b"".join(chunks)
    header = body[3:].split(b"\r\n", 1)[0]
    assert body.startswith(b"\xef\xbb\xbf") and body.count(b"\xef\xbb\xbf") == 1 and body.count(header) == 1
    assert pd.read_csv(io.BytesIO(body), dtype="str", keep_default_na=False)["id"].tolist() == rows["id"].tolist()


@pytest.mark.parametrize("environ", [LOCAL, ANONYMOUS], ids=["local", "anonymous"])
def test_the_xlsx_written_in_parts_holds_what_the_whole_file_export_holds(build, environ):
    chunks = streamed(app.server.test_client(), "?view=all", "payer", environ, excel=True)
    expected, rows = whole_file("?view=all", "payer", environ, excel=True)
    assert len(rows) > 3 * PART_ROWS
    assert workbook_cells(b"".join(chunks)) == workbook_cells(expected)


def test_the_xlsx_stops_at_excels_row_limit_and_says_so(build, monkeypatch):
    monkeypatch.setattr(export, "XLSX_MAX_ROWS", 7)
    sent = fetch_download(app.server.test_client(), "flows", "?view=all", excel=True, environ_base=LOCAL)
    expected, rows = whole_file("?view=all", "value_usd", LOCAL, excel=True)
    assert workbook_cells(sent.get_data()) == workbook_cells(expected)
    book = openpyxl.load_workbook(io.BytesIO(sent.get_data()))
    column = [c.value for c in book["transfers"][1]].index("id")
    ids = [r[column] for r in book["transfers"].iter_rows(min_row=2, values_only=True)]
    assert ids == rows["id"].tolist()[:7] and len(rows) > 7
    assert book["transfers"].auto_filter.ref.endswith("8")
    assert dict(book["about"].iter_rows(values_only=True))["note"] == (
        f"Only the first 7 of {len(rows):,} rows fit in Excel; use the CSV.")


def test_formulas_are_neutralised_in_every_part_of_the_csv_and_the_xlsx(build):
    client = app.server.test_client()
    csv = pd.read_csv(io.BytesIO(b"".join(streamed(client, "?view=all", "value_usd", LOCAL))), dtype="str",
                      keep_default_na=False)
    public = csv[csv["id"].str.startswith("pub-") & csv["id"].ne("pub-child")]
    assert len(public) == PUBLIC_ROWS
    for column in ("notes", "purpose", "recipient", "recipient_raw"):
        assert public[column].str.startswith("'").all(), column
        assert public[column].str[1:].str.startswith(TRIGGERS).all(), column
    assert not csv.drop(columns=["amount", "amount_raw"]).apply(lambda c: c.str.startswith(TRIGGERS)).any().any()
    book = openpyxl.load_workbook(io.BytesIO(b"".join(streamed(client, "?view=all", "value_usd", LOCAL,
                                                               excel=True))))
    cells = [c for name in book.sheetnames for r in book[name].iter_rows() for c in r]
    assert not [c.coordinate for c in cells if isinstance(c.value, str) and c.value.startswith(TRIGGERS)]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    sheet = book["transfers"]
    header = [c.value for c in sheet[1]]
    notes = [r[header.index("notes")] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert sum(1 for n in notes if n and n.startswith("'") and n[1:].startswith(TRIGGERS)) == PUBLIC_ROWS
    amounts = [r[header.index("amount_usd")] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in amounts)  # numbers stay numbers


ANONYMOUS_CASES = {"another machine, no login": (ANONYMOUS, False), "public mode, this machine": (LOCAL, True)}


@pytest.mark.parametrize("case", list(ANONYMOUS_CASES))
def test_a_visitor_who_may_not_see_internal_rows_downloads_public_rows_only(build, monkeypatch, case):
    environ, public_mode = ANONYMOUS_CASES[case]
    client = app.server.test_client()
    # The control: this machine, no public mode, finds the internal rows through the very same route.
    control = fetch_download(client, "flows", "?view=all", environ_base=LOCAL).get_data().decode("utf-8-sig")
    assert SECRET in control and SECRET_PARENT in control and "unpublished" in control
    if public_mode:
        monkeypatch.setenv(data.PUBLIC_MODE_ENV, "1")
    for table in downloads.TABLE_PAGES:
        csv = fetch_download(client, table, "?view=all", environ_base=environ).get_data()
        book = openpyxl.load_workbook(io.BytesIO(
            fetch_download(client, table, "?view=all", excel=True, environ_base=environ).get_data()))
        texts = [csv.decode("utf-8-sig")] + [str(c.value) for name in book.sheetnames
                                             for r in book[name].iter_rows() for c in r]
        for marker in (SECRET, SECRET_PARENT, "unpublished"):
            assert not [t for t in texts if marker in t], (table, marker)
        rows = pd.read_csv(io.BytesIO(csv), dtype="str", keep_default_na=False).set_index("id")
        assert set(rows.index) == {f"pub-{i:02d}" for i in range(PUBLIC_ROWS)} | {"pub-child"}
        assert rows.loc["pub-child", "part_of"] == ""
        assert dict(book["about"].iter_rows(values_only=True))["visibility"] == "public rows only"


def test_a_table_on_an_internal_page_answers_403_exactly_where_the_pages_callbacks_do(build, monkeypatch):
    monkeypatch.setitem(dash.page_registry[downloads.TABLE_PAGES["flows"]], "access", access.INTERNAL)
    client = app.server.test_client()

    def answers(environ: dict) -> list[int]:
        callback = client.post("/_dash-update-component", json=flows_page_payload("?view=all"), environ_base=environ)
        files = [fetch_download(client, "flows", "?view=all", excel=excel, environ_base=environ)
                 for excel in (False, True)]
        for refused in [f for f in files if f.status_code == 403]:
            assert b"pub-" not in refused.get_data() and SECRET.encode() not in refused.get_data()
        return [callback.status_code] + [f.status_code for f in files]

    assert answers(ANONYMOUS) == [403, 403, 403]
    assert answers(LOCAL) == [200, 200, 200]
    # The other page is public: its table still answers, with public rows.
    assert fetch_download(client, "explore", "?view=all", environ_base=ANONYMOUS).status_code == 200
    monkeypatch.setenv(data.PUBLIC_MODE_ENV, "1")
    assert answers(LOCAL) == [403, 403, 403]
    assert client.get("/download/nothing.csv", environ_base=LOCAL).status_code == 404


def test_a_rebuild_while_a_file_streams_changes_nothing_in_it(build):
    """The rows are filtered in one build; three rebuilds while the file is being sent (moving the internal rows,
    renaming every row's generation, pruning the first build from the disk and pushing it out of the worker's
    cache) change nothing in it: the rest of the file comes from the build it started with."""
    root, out = build
    client = app.server.test_client()
    href, _ = downloads.link("flows", "?view=all", "value_usd", excel=False)
    expected, _ = whole_file("?view=all", "value_usd", ANONYMOUS)
    with app.server.test_request_context("/", environ_base=ANONYMOUS):
        first_build = data.load().folder
    response = client.get(href, environ_base=ANONYMOUS, buffered=False)
    body = iter(response.response)
    head = [next(body), next(body)]
    later: list[bytes] = []

    def rebuild_and_download() -> None:
        # On a thread of its own, as another request would be: this thread is inside the streaming request.
        for generation in (1, 2, 3):
            write_csv(root / "mixed.csv", ledger_rows(generation, internal_first=generation % 2 == 1))
            run_build(root, out)
            later.append(client.get(href, environ_base=ANONYMOUS).get_data())

    rebuilder = threading.Thread(target=rebuild_and_download)
    rebuilder.start()
    rebuilder.join(timeout=300)
    assert not rebuilder.is_alive() and len(later) == 3
    assert not first_build.exists()
    try:
        sent = b"".join(head + list(body))
    finally:
        response.close()
    assert sent == expected
    assert b"generation 0" in sent and b"generation 3" not in sent
    assert SECRET.encode() not in sent and b"unpublished" not in sent
    # The requests made meanwhile did see each new build.
    assert [b"generation %d" % g in file for g, file in zip((1, 2, 3), later)] == [True] * 3


def test_the_links_carry_the_parsed_view_and_the_sort_never_the_urls_own_text(build):
    href, name = downloads.link("flows", '?entity=<script>"x"&page=4&recipient_country=US&evil=1', "payer", False)
    assert href == "/download/flows.csv?recipient_country=US&entity=%3Cscript%3E%22x%22&sort=payer"
    assert name == "influence-ledger_recipient-US_script-x.csv"
    assert downloads.link("explore", "", "'; drop", True) == ("/download/explore.xlsx?sort=value_usd",
                                                             "influence-ledger.xlsx")
    sent = fetch_download(app.server.test_client(), "flows", '?entity=Volont"è;\r\nX: y', environ_base=LOCAL)
    assert sent.status_code == 200
    assert sent.headers["Content-Disposition"] == "attachment; filename=influence-ledger_Volont-X-y.csv"
    assert sent.headers["Cache-Control"] == "no-store"


def test_the_page_sets_its_links_from_the_url_and_the_sort(build):
    names = ["flows-csv-button.href", "flows-csv-button.download", "flows-xlsx-button.href",
             "flows-xlsx-button.download"]
    payload = {"output": ".." + "...".join(names) + "..",
               "outputs": [{"id": n.split(".")[0], "property": n.split(".")[1]} for n in names],
               "inputs": [{"id": "url", "property": "search", "value": "?recipient_country=US&page=2"},
                          {"id": "flows-sort", "property": "value", "value": "date_start"}],
               "changedPropIds": ["flows-sort.value"], "state": []}
    response = app.server.test_client().post("/_dash-update-component", json=payload, environ_base=ANONYMOUS)
    links = response.get_json()["response"]
    assert links["flows-csv-button"] == {"href": "/download/flows.csv?recipient_country=US&sort=date_start",
                                         "download": "influence-ledger_recipient-US.csv"}
    assert links["flows-xlsx-button"] == {"href": "/download/flows.xlsx?recipient_country=US&sort=date_start",
                                          "download": "influence-ledger_recipient-US.xlsx"}
