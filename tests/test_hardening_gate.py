"""The access gate: every Dash callback the app declares, asked anonymously over HTTP, returns nothing internal.

The callbacks are enumerated from /_dash-dependencies, so a callback added later is covered without editing this
test; the table downloads (routes of their own) from the tables the pages register. Anonymous means: login configured but not signed in, public mode, and local mode reached through a proxy on
the same host (the request comes from 127.0.0.1 but carries a forwarding header). A direct local request in local
mode is the control: it must find the internal rows through the same requests, or the test proves nothing.
"""
from __future__ import annotations

import base64
import importlib
import io
import json
import zipfile

import dash
import pytest
from werkzeug.security import generate_password_hash

from dashboard import auth, data, downloads
from dashboard.app import app
from etl.pipeline import run_build
from ledger_factory import row, write_csv, write_lookups

SECRET_ID = "internal-secret-row"
SECRET_SOURCE = "https://example.org/secret-story"
SECRET_LEDGER = "zz_secret_investigation"
SECRET_ENTITY = "Shadow Fund SA"
INTERNAL_PARENT = "internal-parent"
MARKERS = (SECRET_ID, SECRET_LEDGER, "unpublished investigation", SECRET_ENTITY, INTERNAL_PARENT, "zz-1")
ARTICLE = "In May 2013 Metastar Invest LLP paid Luca Volontè $2,000 for his advice, the records show."
ENTITIES = [{"name": "Luca Volontè", "kind": "person", "country": "IT", "aliases": "Volonte"},
            {"name": "Metastar Invest LLP", "kind": "company", "country": "GB", "aliases": "Metastar"},
            {"name": SECRET_ENTITY, "kind": "company", "country": "LU", "aliases": "Shadow"}]


def public_rows(with_internal: bool = True) -> list[dict]:
    # Without internal rows the child has no parent to be part of (the link would not resolve).
    return [row(id="public-row", amount="1000"), row(id="public-nested", amount="100", part_of="public-row"),
            row(id="public-child", amount="500", part_of=INTERNAL_PARENT if with_internal else "")]


def internal_rows() -> list[dict]:
    return [row(id=SECRET_ID, amount="2000", visibility="internal", notes="unpublished investigation",
                sources=SECRET_SOURCE),
            row(id=INTERNAL_PARENT, amount="5000", visibility="internal")]


def write_ledgers(root, with_internal: bool = True) -> None:
    write_lookups(root, entities=ENTITIES)
    write_csv(root / "public.csv", public_rows(with_internal) + (internal_rows() if with_internal else []))
    if with_internal:
        write_csv(root / f"{SECRET_LEDGER}.csv", [row(id="zz-1", amount="7000", payer=SECRET_ENTITY,
                                                      visibility="internal")])


@pytest.fixture
def leaky_build(tmp_path, monkeypatch):
    """Public and internal rows, an internal-only ledger and entity, a public row part of an internal one."""
    root = tmp_path / "ledgers"
    write_ledgers(root)
    run_build(root, tmp_path / "build")
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "build"))
    monkeypatch.delenv(data.PUBLIC_MODE_ENV, raising=False)
    monkeypatch.delenv(auth.USERS_ENV, raising=False)
    # The import page reads and writes these ledgers, never the repository's.
    monkeypatch.setattr(importlib.import_module("pages.import_article"), "LEDGER_DIR", root)
    return tmp_path


def configure_login(tmp_path, monkeypatch) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"editor": generate_password_hash("correct horse")}), encoding="utf-8")
    monkeypatch.setenv(auth.USERS_ENV, str(users))


def split_outputs(output: str):
    """The outputs field of a callback request, as the renderer sends it, from the dependency's output key."""
    def one(key: str) -> dict:
        identifier, prop = key.rsplit(".", 1)
        return {"id": identifier, "property": prop.split("@")[0]}

    if output.startswith("..") and output.endswith(".."):
        return [one(key) for key in output[2:-2].split("...")]
    return one(output)


def value_for(identifier: str, prop: str, pathname: str):
    """A value for an input or state that makes each callback do its real work."""
    if (identifier, prop) == ("url", "search") or (identifier, prop) == ("_pages_location", "search"):
        return "?view=all"
    if (identifier, prop) == ("_pages_location", "pathname"):
        return pathname
    if prop == "n_clicks":
        return 1
    if prop == "clickData":
        return {"points": [{"pointNumber": 0, "label": "x", "x": "2013", "location": "ITA", "y": "Luca Volontè"}]}
    known = {
        ("imp-text", "value"): ARTICLE, ("imp-source", "value"): SECRET_SOURCE, ("imp-upload", "filename"): "a.txt",
        ("imp-upload", "contents"): "data:text/plain;base64," + base64.b64encode(ARTICLE.encode()).decode(),
        ("imp-ledger", "value"): "public.csv", ("entity-name", "value"): "Luca Volontè",
        ("imp-grid", "selectedRows"): [{"row_key": "0", "id": "gate-test-row", "amount": "1", "currency": "USD",
                                        "amount_kind": "payment", "date": "2013", "payer": "Metastar Invest LLP",
                                        "recipient": "Luca Volontè", "confidence": "reported",
                                        "sources": "https://example.org/x"}],
        ("flows-sort", "value"): "value_usd", ("explore-sort", "value"): "value_usd",
        ("timeline-period", "value"): "year", ("map-side", "value"): "recipient_country",
        ("flow-preset", "value"): "recipient", ("flow-levels", "value"): ["payer", "recipient"],
        ("flow-top", "value"): 10, ("f-view", "value"): "all", ("_pages_store", "data"): {},
    }
    return known.get((identifier, prop))


def callback_requests(client) -> list[dict]:
    """One request per (callback, triggering input), and per page for the page-content callback."""
    dependencies = client.get("/_dash-dependencies").get_json()
    assert len(dependencies) >= 15
    paths = [page["path"] for page in dash.page_registry.values()]
    requests = []
    for dependency in dependencies:
        pages = paths if any(i["id"] == "_pages_location" for i in dependency["inputs"]) else ["/"]
        for pathname in pages:
            for trigger in dependency["inputs"]:
                def item(spec):
                    return {**spec, "value": value_for(spec["id"], spec["property"], pathname)}
                requests.append({"output": dependency["output"], "outputs": split_outputs(dependency["output"]),
                                 "inputs": [item(i) for i in dependency["inputs"]],
                                 "state": [item(s) for s in dependency["state"]],
                                 "changedPropIds": [f"{trigger['id']}.{trigger['property']}"]})
    return requests


def file_text(raw: bytes) -> str:
    """A downloaded file as text: CSV or HTML as it is, the XML of every part of an XLSX or a zip."""
    if raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as book:
            return "\n".join(book.read(n).decode("utf-8", "replace") for n in book.namelist())
    return raw.decode("utf-8-sig", "replace")


def readable(body: str) -> str:
    """The response with every download's content decoded (CSV text, the XML inside an XLSX, HTML)."""
    texts = [body]
    try:
        parsed = json.loads(body)
    except ValueError:
        return body

    def walk(node) -> None:
        if isinstance(node, dict):
            if "content" in node and node.get("base64"):
                texts.append(file_text(base64.b64decode(node["content"])))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(parsed)
    return "\n".join(texts)


def everything_served(headers: dict, remote: str = "127.0.0.1") -> tuple[str, list[tuple[str, int]]]:
    """Every callback's answer and the page shell, as one text; plus (output, status) of each callback request."""
    client = app.server.test_client()
    environ = {"REMOTE_ADDR": remote}
    texts = [client.get("/", headers=headers, environ_base=environ).get_data(as_text=True),
             client.get("/_dash-layout", headers=headers, environ_base=environ).get_data(as_text=True)]
    statuses = []
    for payload in callback_requests(client):
        response = client.post("/_dash-update-component", json=payload, headers=headers, environ_base=environ)
        statuses.append((payload["output"] + " " + payload["changedPropIds"][0], response.status_code))
        texts.append(readable(response.get_data(as_text=True)))
    # Every table's downloads, which are routes of their own rather than callbacks.
    assert {"flows", "explore"} <= set(downloads.TABLE_PAGES)
    for table in downloads.TABLE_PAGES:
        for excel in (False, True):
            href, _ = downloads.link(table, "?view=all", "value_usd", excel)
            response = client.get(href, headers=headers, environ_base=environ)
            statuses.append((href, response.status_code))
            texts.append(file_text(response.get_data()))
    return "\n".join(texts), statuses


ANONYMOUS = {
    "login configured, not signed in": ("login", {}),
    "public mode": ("public", {}),
    "local mode through a proxy (X-Forwarded-For)": ("local", {"X-Forwarded-For": "203.0.113.5"}),
    "local mode through a proxy (Forwarded)": ("local", {"Forwarded": "for=203.0.113.5;proto=https"}),
    "local mode through a proxy (X-Real-IP)": ("local", {"X-Real-IP": "203.0.113.5"}),
}


@pytest.mark.parametrize("case", list(ANONYMOUS))
def test_no_callback_gives_anything_internal_to_an_anonymous_request(leaky_build, monkeypatch, case):
    mode, headers = ANONYMOUS[case]
    if mode == "login":
        configure_login(leaky_build, monkeypatch)
    if mode == "public":
        monkeypatch.setenv(data.PUBLIC_MODE_ENV, "1")
    served, statuses = everything_served(headers)
    found = [marker for marker in MARKERS if marker in served]
    assert found == [], f"{case}: internal data served: {found}"
    assert [s for s in statuses if s[1] >= 500] == []
    # The import page's callbacks are refused outright; nothing was appended to a ledger.
    refused = {output.split(" ")[0] for output, status in statuses if status == 403}
    assert any(o.startswith("..imp-grid.rowData") for o in refused) and "imp-result.children" in refused
    assert "gate-test-row" not in (leaky_build / "ledgers" / "public.csv").read_text(encoding="utf-8")
    assert "public-row" in served


def test_control_a_direct_local_request_does_see_internal_rows_through_the_same_requests(leaky_build):
    served, statuses = everything_served({})
    assert [s for s in statuses if s[1] >= 500] == []
    assert SECRET_ID in served and SECRET_LEDGER in served and SECRET_ENTITY in served
    # The article matched the internal row: that is what an anonymous request must never learn.
    assert "already in a ledger" in served


def test_unknown_callbacks_are_refused(leaky_build):
    client = app.server.test_client()
    client.get("/_dash-dependencies")
    response = client.post("/_dash-update-component", json={"output": "nothing.here", "outputs": {
        "id": "nothing", "property": "here"}, "inputs": [], "state": [], "changedPropIds": []})
    assert response.status_code == 403


def test_the_page_says_how_to_configure_a_login_to_a_proxied_visitor(leaky_build):
    client = app.server.test_client()
    page = client.get("/_dash-layout", headers={"X-Forwarded-For": "203.0.113.5"},
                      environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert "Internal rows and the import page are hidden" in page and auth.USERS_ENV in page
    direct = client.get("/_dash-layout", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert "Local mode" in direct


# --- what the public view reveals: the same as a build that never had internal rows -------------------------------


@pytest.fixture
def twin_builds(tmp_path):
    """The same public rows built twice: once beside internal rows and an internal ledger, once alone."""
    write_ledgers(tmp_path / "with" / "ledgers", with_internal=True)
    write_ledgers(tmp_path / "without" / "ledgers", with_internal=False)
    run_build(tmp_path / "with" / "ledgers", tmp_path / "with" / "build")
    run_build(tmp_path / "without" / "ledgers", tmp_path / "without" / "build")
    return tmp_path / "with" / "build", tmp_path / "without" / "build"


def anonymous_view(build, monkeypatch, what):
    from dashboard import views
    from dashboard.app import data_as_of
    from dashboard.filters import from_query

    entity = importlib.import_module("pages.entity")
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(build))
    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.7"}):
        if what == "banner":
            return data_as_of().split(" · ", 1)[1]
        if what == "about":
            return [pair for pair in views.about_rows(from_query("?view=all"), 2) if pair[0] != "dataset built at"]
        if what == "entity":
            return json.dumps(entity.entity_outputs(SECRET_ENTITY, "?view=all"), default=str)
        if what == "unknown entity":
            return json.dumps(entity.entity_outputs("Nobody Ever Heard Of", "?view=all"), default=str).replace(
                "Nobody Ever Heard Of", SECRET_ENTITY)
        if what == "rows":
            rows = views.full(views.rows_for("?view=all")[0])
            return rows[["id", "part_of", "same_as", "totals_note"]].to_dict("records")
    raise AssertionError(what)


def test_banner_and_excel_about_sheet_name_only_public_ledgers_and_rows(twin_builds, monkeypatch):
    with_internal, without = twin_builds
    assert anonymous_view(with_internal, monkeypatch, "banner") == anonymous_view(without, monkeypatch, "banner")
    assert anonymous_view(with_internal, monkeypatch, "banner") == "ledgers: public.csv (3 rows)"
    assert anonymous_view(with_internal, monkeypatch, "about") == anonymous_view(without, monkeypatch, "about")


def test_an_entity_known_only_from_internal_rows_answers_like_an_unknown_name(twin_builds, monkeypatch):
    with_internal, _ = twin_builds
    assert anonymous_view(with_internal, monkeypatch, "entity") == \
        anonymous_view(with_internal, monkeypatch, "unknown entity")


def test_a_public_row_part_of_an_internal_one_does_not_name_it(twin_builds, monkeypatch):
    with_internal, _ = twin_builds
    rows = {r["id"]: r for r in anonymous_view(with_internal, monkeypatch, "rows")}
    assert set(rows) == {"public-row", "public-nested", "public-child"}
    assert rows["public-child"]["part_of"] == ""
    assert INTERNAL_PARENT not in json.dumps(rows)
    # A reference to a row the viewer may see stays, with its note.
    assert rows["public-nested"]["part_of"] == "public-row" and "public-row" in rows["public-nested"]["totals_note"]
    # Those who may see internal rows still see the link.
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(with_internal))
    from dashboard import views
    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        full = views.full(views.rows_for("?view=all")[0]).set_index("id")
        assert full.loc["public-child", "part_of"] == INTERNAL_PARENT


def test_a_public_transfer_with_internal_parts_keeps_its_recipient_for_anonymous_readers(tmp_path, monkeypatch):
    """Counted with every row, a public transfer whose part went elsewhere draws a rest not yet traced; its public
    allocation draws its own value, so the public label must be its recipient, not "Not yet traced" (that label
    would tell an anonymous reader that unpublished parts exist)."""
    from dashboard import views
    from dashboard.filters import UNTRACED_LABEL

    root = tmp_path / "ledgers"
    write_lookups(root, entities=ENTITIES)
    write_csv(root / "public.csv", [row(id="public-fund", amount="1000", amount_kind="total"),
                                    row(id="internal-part", amount="400", part_of="public-fund",
                                        recipient=SECRET_ENTITY, recipient_country="LU", visibility="internal")])
    run_build(root, tmp_path / "build")
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "build"))
    monkeypatch.delenv(data.PUBLIC_MODE_ENV, raising=False)
    monkeypatch.delenv(auth.USERS_ENV, raising=False)

    def labels(address: str) -> dict:
        with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": address}):
            rows = views.rows_for("?traced=0")[0]
            return dict(zip(views.full(rows)["id"], rows["recipient_label"].astype("str")))

    # Anonymous (through a proxy, no login): the public row alone, drawn in full, with its recipient.
    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.7"}):
        assert not data.may_see_internal()
    assert labels("198.51.100.7") == {"public-fund": "Luca Volontè"}
    # The control: on this machine every row counts, and the fund's rest is untraced.
    assert labels("127.0.0.1")["public-fund"] == UNTRACED_LABEL
