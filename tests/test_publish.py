"""dashboard/publish.py: the story package of a view — public rows only whoever publishes, byte-identical when
published twice, a valid Frictionless data package, the same chart as the flows page."""
from __future__ import annotations

import base64
import csv
import io
import json
import zipfile

import pytest
from frictionless import validate
from werkzeug.security import generate_password_hash

from dashboard import auth, data, figures, publish, views
from etl.datapackage import table_schema
from etl.pipeline import run_build
from ledger_factory import row, write_csv, write_lookups

BAGUIROV_SOURCES = [
    "https://oc-media.org/azerbaijan-paid-to-influence-american-congress",
    "https://www.thecaliforniacourier.com/azeri-american-adil-baguirov-receives-250000-to-lobby-for-azerbaijan/",
    "https://docslib.org/doc/5862395/hon-john-c-demers-assistant-attorney-general-national-security-division-u-s-"
    "department-of-justice-950-pennsylvania-avenue-nw-washington-d-c",
]


@pytest.fixture(scope="module")
def example_package(example_build, tmp_path_factory):
    """The default view of the shipped ledgers, published through the command line."""
    out = tmp_path_factory.mktemp("package")
    assert publish.main(["", "-o", str(out), "--charts", "flows,timeline,map"]) == 0
    return out


def story_data(page: str) -> dict:
    start = page.index('<script type="application/json" id="story-data">') + len(
        '<script type="application/json" id="story-data">')
    return json.loads(page[start:page.index("</script>", start)])


def test_package_holds_every_file_the_desk_needs(example_package, capsys):
    names = sorted(str(p.relative_to(example_package)) for p in example_package.rglob("*") if p.is_file())
    assert names == ["README.txt", "data/datapackage.json", "data/entities.csv", "data/exchange_rates.csv",
                     "data/transfers.csv", "data/view.json", "embed-snippet.html", "embed.html", "index.html",
                     "plotly.min.js"]
    # Plotly's bundle, from the installed package, is the only large file.
    from plotly.offline import get_plotlyjs
    assert (example_package / "plotly.min.js").read_text(encoding="utf-8") == get_plotlyjs()
    sizes = {p.name: p.stat().st_size for p in example_package.rglob("*") if p.is_file()}
    assert max(sizes, key=sizes.get) == "plotly.min.js"
    assert all(size < 500_000 for name, size in sizes.items() if name != "plotly.min.js")
    readme = (example_package / "README.txt").read_text(encoding="utf-8")
    for words in ("How to embed", "How the figures are counted", "each dollar", "Conversions", "<iframe",
                  "python -m dashboard publish"):
        assert words.lower() in readme.lower()
    assert "GBP: 1.5744053426748983 USD per unit, 2012-01-01/2013-12-31" in readme


def test_the_published_chart_is_the_flows_page_chart(example_package):
    """Same figure functions, same rows, same widths: the published figure equals the dashboard's."""
    import importlib

    from dashboard.app import app  # noqa: F401 (registers the pages)

    flows = importlib.import_module("pages.flows")
    story = story_data((example_package / "index.html").read_text(encoding="utf-8"))
    rows, state = views.rows_for("")
    on_screen = figures.sankey_figure(rows, state.levels, state.top_n, width=publish.WIDE_WIDTH)
    assert story["sankey"]["wide"]["figure"] == publish.figure_json(on_screen)
    assert flows.DEFAULT_WIDTH == publish.WIDE_WIDTH
    labels = story["sankey"]["wide"]["figure"]["data"][0]["node"]["label"]
    assert "Adil Baguirov · $253,150" in labels
    # The Baguirov link lists exactly its one transfer, with its three sources.
    titles = story["sankey"]["wide"]["linkTitles"]
    flow = "Laundromat shell companies (unnamed) → Adil Baguirov"
    baguirov = [i for i, t in enumerate(titles) if t.startswith(flow)]
    assert len(baguirov) == 1
    listed = [story["transfers"][i] for i in story["sankey"]["wide"]["links"][baguirov[0]]]
    assert [(t["amount"], t["date"]) for t in listed] == [("$253,150", "2013/2014")]
    assert [s["url"] for s in listed[0]["sources"]] == BAGUIROV_SOURCES
    # Every link's transfers add up to the link's value (each dollar once).
    link = story["sankey"]["wide"]["figure"]["data"][0]["link"]
    values = rows["value_usd"].to_numpy()
    order = {key: i for i, key in enumerate(publish.ordered(rows)["row_key"])}
    by_position = {order[k]: v for k, v in zip(rows["row_key"], values)}
    assert len(story["transfers"]) == len(rows)
    for value, members in zip(link["value"], story["sankey"]["wide"]["links"]):
        assert sum(by_position[m] for m in members) == pytest.approx(value)
    assert "timeline" in story["charts"] and "map" in story["charts"]
    page = (example_package / "index.html").read_text(encoding="utf-8")
    assert "window.PlotlyGeoAssets" in page  # the map's outlines are inside the page


def test_publishing_twice_gives_byte_identical_files(example_build, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    args = ["?recipient_country=US&view=all", "--charts", "flows,map", "--title", "Lobbying in Washington"]
    assert publish.main([args[0], "-o", str(first), *args[1:]]) == 0
    assert publish.main([args[0], "-o", str(second), *args[1:]]) == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    package = publish.package_files("?recipient_country=US&view=all", ("flows", "map"))
    built_at = data.load().report["built_at"]
    assert publish.zip_bytes(package, built_at) == publish.zip_bytes(
        publish.package_files("?recipient_country=US&view=all", ("flows", "map")), built_at)
    # No clock but the dataset's: the build time is the only time in the files.
    view = json.loads((first / "data" / "view.json").read_text(encoding="utf-8"))
    assert view["dataset_built_at"] == built_at and view["title"] == "Lobbying in Washington"
    assert view["query"] == "?recipient_country=US&view=all"


def test_a_view_without_rows_still_gives_a_valid_package(example_build, tmp_path):
    assert publish.main(["?entity=nobody-ever-heard-of", "-o", str(tmp_path), "--charts", "flows,timeline"]) == 0
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.count("No transfers match these filters.") >= 2
    assert validate(str(tmp_path / "data" / "datapackage.json")).valid


def test_the_data_package_is_valid_and_its_schema_comes_from_the_schema_module(example_package):
    report = validate(str(example_package / "data" / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    descriptor = json.loads((example_package / "data" / "datapackage.json").read_text(encoding="utf-8"))
    transfers = descriptor["resources"][0]
    assert transfers["schema"] == table_schema(publish.READER_COLUMNS, row_links=False)
    fields = {f["name"]: f for f in transfers["schema"]["fields"]}
    assert fields["drawn_usd"]["unit"] == "USD" and fields["confidence"]["constraints"]["enum"][0] == "confirmed"
    with open(example_package / "data" / "transfers.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(publish.READER_COLUMNS)
    baguirov = next(r for r in rows if r["id"] == "baguirov-253150")
    assert baguirov["amount"].startswith("253150") and baguirov["drawn_usd"] == "253150.00"
    assert baguirov["sources"].split(" | ") == BAGUIROV_SOURCES
    rows_shown, _ = views.rows_for("")
    assert len(rows) == len(rows_shown)
    with open(example_package / "data" / "entities.csv", encoding="utf-8-sig", newline="") as handle:
        entities = {r["name"]: r for r in csv.DictReader(handle)}
    assert entities["Adil Baguirov"]["aliases"] == "Baguirov|Barguirov|Adil Barguirov"
    with open(example_package / "data" / "exchange_rates.csv", encoding="utf-8-sig", newline="") as handle:
        rates = list(csv.DictReader(handle))
    assert {r["currency"] for r in rates} >= {"EUR", "GBP", "USD"}
    assert all(r["fx_source"] for r in rates)


def test_the_plain_table_gives_the_chart_figures_without_javascript(example_package):
    page = (example_package / "index.html").read_text(encoding="utf-8")
    assert "<caption>The flows in the chart, with their figures</caption>" in page
    assert "<td>Laundromat shell companies (unnamed)</td><td>Adil Baguirov</td><td>$253,150</td>" in page
    for url in BAGUIROV_SOURCES:
        assert f'href="{url}" target="_blank" rel="noopener noreferrer"' in page
    embed = (example_package / "embed.html").read_text(encoding="utf-8")
    assert 'id="edit-form"' not in embed and 'id="edit-form"' in page
    snippet = (example_package / "embed-snippet.html").read_text(encoding="utf-8")
    assert snippet.startswith('<iframe id="influence-ledger-') and publish.HEIGHT_MESSAGE in snippet


# --- public rows only, whoever publishes ---------------------------------------------------------------------------

SECRET_ID = "secret-publish-row"
SECRET_PARENT = "secret-publish-parent"
SECRET_LEDGER = "zz_unpublished_probe"
SECRET_ENTITY = "Shadow Fund SA"
SECRET_SOURCE = "https://example.org/secret-story"
SECRET_NOTE = "unpublished investigation"
# Every form the internal amounts could take on a page, in a CSV or in a sum (9,137.53 and 64,813 USD).
MARKERS = (SECRET_ID, SECRET_PARENT, SECRET_LEDGER, SECRET_ENTITY, "Shadow", SECRET_SOURCE, SECRET_NOTE,
           "9137.53", "9,137.53", "9,140", "64813", "64,813", "64,800", "64.8", "zz-secret-1")
ENTITIES = [{"name": "Luca Volontè", "kind": "person", "country": "IT", "aliases": "Volonte"},
            {"name": "Metastar Invest LLP", "kind": "company", "country": "GB", "aliases": "Metastar"},
            {"name": SECRET_ENTITY, "kind": "company", "country": "LU", "aliases": "Shadow"}]


@pytest.fixture
def build_with_internal_rows(tmp_path, monkeypatch):
    root = tmp_path / "ledgers"
    write_lookups(root, entities=ENTITIES)
    write_csv(root / "public.csv", [
        row(id="public-row", amount="1000"), row(id="public-nested", amount="100", part_of="public-row"),
        # A public part of an internal transfer: published as a transfer of its own.
        row(id="public-child", amount="500", part_of=SECRET_PARENT),
        row(id=SECRET_ID, amount="9137.53", visibility="internal", notes=SECRET_NOTE, sources=SECRET_SOURCE),
        row(id=SECRET_PARENT, amount="64813", visibility="internal", recipient=SECRET_ENTITY)])
    write_csv(root / f"{SECRET_LEDGER}.csv", [row(id="zz-secret-1", amount="7000", payer=SECRET_ENTITY,
                                                  visibility="internal", sources=SECRET_SOURCE)])
    run_build(root, tmp_path / "build")
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "build"))
    monkeypatch.delenv(data.PUBLIC_MODE_ENV, raising=False)
    monkeypatch.delenv(auth.USERS_ENV, raising=False)
    return tmp_path


def without_outlines(text: str) -> str:
    """The page without the map's inlined country outlines (numbers only, which could read like an amount)."""
    start = text.find("window.PlotlyGeoAssets = ")
    return text if start < 0 else text[:start] + text[text.index("</script>", start):]


def leaks(files: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(name, marker) for name, content in files.items() for marker in MARKERS
            if marker.lower() in without_outlines(content.decode("utf-8", "replace")).lower()]


@pytest.mark.parametrize("query", ["", "?view=all", "?view=excluded", "?traced=0", "?entity=Metastar"])
def test_the_command_line_publishes_public_rows_only_and_says_how_many_are_left_out(build_with_internal_rows,
                                                                                    query):
    out = build_with_internal_rows / "package"
    assert publish.main([query, "-o", str(out), "--charts", "flows,timeline,map"]) == 0
    files = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    files.pop("plotly.min.js")
    assert leaks(files) == []
    if query in ("?view=all", ""):
        shown = {r["id"] for r in csv.DictReader(io.StringIO(files["data/transfers.csv"].decode("utf-8-sig")))}
        assert shown == {"public-row", "public-nested", "public-child"} if query == "?view=all" else \
            shown <= {"public-row", "public-nested", "public-child"}
    if query == "?view=all":
        # The three internal rows match the view: the desk is told, with no detail of them.
        page = files["index.html"].decode("utf-8")
        assert "3 unpublished rows of the ledgers matching this view are left out of this package" in page
        assert "3 unpublished (internal) row(s)" in files["README.txt"].decode("utf-8")
        # The control: a package of every row would show them, so the search above can find what it looks for.
        _, whole = data.publishing_snapshots()
        control = publish.package_files(query, ("flows",), snapshots=(whole, whole))
        control.pop("plotly.min.js")
        assert {marker for _, marker in leaks(control)} >= {SECRET_ID, SECRET_ENTITY, SECRET_SOURCE,
                                                            SECRET_NOTE, "9,137.53"}


def callback_answer(headers: dict | None = None, remote: str = "127.0.0.1") -> dict[str, bytes]:
    """The Publish button's answer over HTTP, as the browser asks it, unzipped."""
    from dashboard.app import app

    client = app.server.test_client()
    client.get("/_dash-dependencies")
    payload = {"output": "..publish-download.data...publish-status.children..",
               "outputs": [{"id": "publish-download", "property": "data"},
                           {"id": "publish-status", "property": "children"}],
               "inputs": [{"id": "publish-button", "property": "n_clicks", "value": 1}],
               "state": [{"id": "url", "property": "search", "value": "?view=all"}],
               "changedPropIds": ["publish-button.n_clicks"]}
    response = client.post("/_dash-update-component", json=payload, headers=headers or {},
                           environ_base={"REMOTE_ADDR": remote})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    download = response.get_json()["response"]["publish-download"]["data"]
    assert download["filename"] == "influence-ledger-story.zip"
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(download["content"]))) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


def test_the_publish_button_gives_public_rows_only_to_a_reader_who_may_see_everything(build_with_internal_rows):
    # A direct local request sees internal rows on every page; its package still holds none.
    files = callback_answer()
    assert {"index.html", "embed.html", "data/datapackage.json", "plotly.min.js"} <= set(files)
    files.pop("plotly.min.js")
    assert leaks(files) == []
    assert "3 unpublished rows" in files["index.html"].decode("utf-8")
    # The same package as the command line's for the same view.
    public, whole = data.publishing_snapshots()
    assert files == {k: v for k, v in publish.package_files("?view=all", snapshots=(public, whole)).items()
                     if k != "plotly.min.js"}


def test_the_publish_button_tells_an_anonymous_reader_nothing_of_internal_rows(build_with_internal_rows,
                                                                               monkeypatch):
    users = build_with_internal_rows / "users.json"
    users.write_text(json.dumps({"editor": generate_password_hash("correct horse")}), encoding="utf-8")
    monkeypatch.setenv(auth.USERS_ENV, str(users))
    files = callback_answer(remote="198.51.100.7")
    files.pop("plotly.min.js")
    assert leaks(files) == []
    page = files["index.html"].decode("utf-8")
    # Not even that unpublished rows exist.
    assert "unpublished" not in page.lower() and "unpublished" not in files["README.txt"].decode("utf-8").lower()


def test_the_readme_shows_the_default_view_s_embed_snippet(example_build):
    from etl.schema import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Publishing a chart" in readme and "dashboard/assets/published-screenshot.png" in readme
    assert (PROJECT_ROOT / "dashboard" / "assets" / "published-screenshot.png").read_bytes()[:4] == b"\x89PNG"
    assert publish.embed_snippet(publish.resolve_view("")) in readme


def test_a_view_too_large_for_a_page_is_refused_with_the_reason_and_nothing_written(example_build, tmp_path,
                                                                                  monkeypatch, capsys):
    """A whole register is not a story page: the command line and the button refuse it and say how to narrow it."""
    import dash

    monkeypatch.setattr(publish, "MAX_PUBLISHED_TRANSFERS", 10)
    out = tmp_path / "story"
    assert publish.main(["", "-o", str(out)]) == 2
    message = capsys.readouterr().err
    assert "Not published: This view lists" in message and "at most 10" in message and "Narrow the filters" in message
    assert not out.exists()
    download, status = publish.button_response("")
    assert download is dash.no_update and "at most 10" in status
    # A view within the bound still publishes, from the button too.
    download, status = publish.button_response("?entity=Baguirov")
    assert status == "" and download["filename"] == "influence-ledger-story.zip"
