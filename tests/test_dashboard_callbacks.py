"""Dashboard callbacks called as plain functions on the built example ledger, asserting the figures' data."""
import importlib
import io
import json
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest

from dashboard import data, export, figures, views
from dashboard.filters import FilterState, from_query, mask


@pytest.fixture(scope="module")
def pages(example_build):
    from dashboard.app import app  # noqa: F401  (registers the pages)
    return {name: importlib.import_module(f"pages.{name}") for name in ("flows", "explore", "entity")}


def sankey_links(fig):
    sankey = fig.data[0]
    labels = list(sankey.node.label)
    return labels, list(sankey.link.source), list(sankey.link.target), list(sankey.link.value)


def drawn_into_last_level(fig) -> float:
    labels, sources, targets, values = sankey_links(fig)
    levels = [c[0] for c in fig.data[0].node.customdata]
    last = levels[-1]
    return sum(v for t, v in zip(targets, values) if levels[t] == last)


def test_drawn_values_sum_to_the_counted_total_to_the_cent(pages):
    # With untraced money shown, the diagram draws every counted dollar once: parts and rests add up to the total.
    rows, _ = views.rows_for("?traced=0")
    drawn = views.full(rows)["drawn_usd"].sum()
    assert drawn == Decimal(data.load().report["total_usd"])
    fig = pages["flows"].flows_outputs("?traced=0")[0]
    assert drawn_into_last_level(fig) == pytest.approx(float(drawn), rel=1e-12)
    # The default view hides exactly the untraced rest, and says how much that is.
    default, _, left = views.rows_with_left_out("")
    assert views.full(default)["drawn_usd"].sum() + Decimal(str(left["untraced_usd"])) == drawn
    fig, note, _, _ = pages["flows"].flows_outputs("")
    assert drawn_into_last_level(fig) == pytest.approx(float(drawn) - left["untraced_usd"], rel=1e-12)
    text = " ".join(str(n) for n in note)
    assert "Not drawn: $2.88 bn not yet traced to a recipient" in text and "laundromat-total-2012-2014" in text


def test_traced_only_removes_exactly_the_untraced_rests(pages):
    shown = set(views.full(views.rows_for("")[0])["id"])
    every = views.full(views.rows_for("?traced=0")[0])
    assert set(every["id"]) - shown == set(every.loc[every["drawn_role"].eq("untraced"), "id"]) == {
        "laundromat-total-2012-2014"}
    labels = list(pages["flows"].flows_outputs("?traced=0")[0].data[0].node.label)
    assert any(label.startswith("Not yet traced to a recipient · $2.88 bn") for label in labels)


def link_hovers(fig) -> list[str]:
    return list(fig.data[0].link.customdata)


def test_documented_parts_are_links_of_their_own_with_their_kind(pages):
    fig = pages["flows"].flows_outputs("")[0]
    labels = list(fig.data[0].node.label)
    assert "Adil Baguirov · $253,150" in labels
    assert any(label.startswith("Velasco Internation") and label.endswith("· more than $7.6 m") for label in labels)
    assert any(label.startswith("Novae Terrae Foundation") for label in labels)  # Volontè's court-proven bribes
    assert any(label.startswith("Eduard Lintner · about") for label in labels)
    hovers = link_hovers(fig)
    velasco = [h for h in hovers if "→ Velasco International Inc.</b>" in h]
    assert velasco and "more than $7.6 m" in velasco[0] and "2012/2013" in velasco[0]
    baguirov = [h for h in hovers if "→ Adil Baguirov</b>" in h][0]
    assert baguirov.startswith("<b>Laundromat shell companies (unnamed) → Adil Baguirov</b>")
    assert "$253,150" in baguirov and "part of: $2.9 bn from Azerbaijani elite-linked sources" in baguirov
    assert "(laundromat-total-2012-2014)" in baguirov
    # The parts hang under the larger transfer they belong to.
    assert "Inside $2.9 bn from Azerbaijani elite-linked sources · about $15.9 m or more shown" in labels


def test_the_flow_list_ranks_every_flow_and_drills_down_like_a_click(pages):
    items = pages["flows"].flows_outputs("")[3][0].children
    texts = [" ".join(str(c.children) for c in item.children.children) for item in items]
    assert texts[0].startswith("Metastar Invest LLP → Velasco International Inc. more than $7.6 m")
    baguirov = next(item.children for item in items if "Adil Baguirov" in str(item.children.children[0].children))
    table, pager = pages["flows"].table_outputs(baguirov.href.lstrip("/"))
    assert pager.endswith("1 transfer") and [r["id"] for r in table] == ["baguirov-253150"]


def test_entity_search_finds_parts_aliases_and_accents(pages):
    assert set(views.full(views.rows_for("?entity=Baguirov")[0])["id"]) == {"baguirov-253150"}
    assert set(views.full(views.rows_for("?entity=BARGUIROV")[0])["id"]) == {"baguirov-253150"}
    # Volontè's own report restates the court's: searching him finds the row that draws the money.
    for spelling in ("Volonte", "volonté", "VOLONTÈ"):
        assert set(views.full(views.rows_for(f"?entity={spelling}")[0])["id"]) == {"volonte-court-2012-2013"}
    fig = pages["flows"].flows_outputs("?entity=Baguirov")[0]
    assert "Adil Baguirov · $253,150" in list(fig.data[0].node.label)
    # USAN is registered but no transfer names it: the page says so rather than drawing nothing in silence.
    assert len(views.rows_for("?entity=USAN")[0]) == 0
    card, _ = pages["entity"].entity_outputs("US Azeris Network", "")
    assert "US Azeris Network: registered, no transfers in the ledgers." in str(card)
    card, _ = pages["entity"].entity_outputs("Adil Baguirov", "")
    assert "Received $253,150, 2013/2014; part of $2.9 bn from Azerbaijani elite-linked sources" in str(card)
    options = pages["entity"].entity_options()
    usan = next(o for o in options if o["value"] == "US Azeris Network")
    assert "usan" in usan["search"] and any(o["value"] == "Luca Volontè" and "volonte" in o["search"]
                                            for o in options)


def test_the_seed_transfers_appear_with_their_amounts(pages):
    chart_rows, _ = views.rows_for("?view=all")
    by_id = chart_rows.set_index(views.full(chart_rows)["id"].to_numpy())
    assert by_id.loc["laundromat-total-2012-2014", "value_usd"] == 2.9e9
    assert by_id.loc["baguirov-253150", "value_usd"] == 253150
    assert by_id.loc["velasco-mkb-2012-2013", "value_usd"] == 7.6e6
    table, pager = pages["flows"].table_outputs("?view=all&entity=baguirov")
    assert pager.endswith("1 transfer")
    assert table[0]["amount"] == "253,150 USD" and table[0]["recipient"] == "Adil Baguirov"
    assert table[0]["sources_text"].startswith("https://oc-media.org/")
    assert table[0]["sources"].startswith("OC Media (summarising OCCRP")


def test_filters_narrow_correctly(pages):
    everything = views.full(views.rows_for("?view=all")[0])
    germany = views.full(views.rows_for("?view=all&recipient_country=DE")[0])
    assert set(germany["recipient_country"]) == {"DE"} and 0 < len(germany) < len(everything)
    alias = views.full(views.rows_for("?view=all&entity=USAN")[0])  # alias of the network, not of Baguirov
    assert len(alias) == 0
    volonte = views.full(views.rows_for("?view=all&entity=volonte")[0])
    assert set(volonte["id"]) == {"volonte-prosecution-2012-2014", "volonte-court-2012-2013"}
    by_alias = views.full(views.rows_for("?view=all&entity=Hillux")[0])  # a misspelling registered as an alias
    assert "mitrev-2012-2014" in set(by_alias["id"])
    dated = views.full(views.rows_for("?view=all&date_from=2015&date_to=2016")[0])
    assert "fischer-2016" in set(dated["id"]) and "laundromat-total-2012-2014" not in set(dated["id"])
    big = views.rows_for("?view=all&min_usd=1000000")[0]
    assert (big["value_usd"] >= 1e6).all()
    confirmed = views.full(views.rows_for("?view=all&confidence=confirmed&amount_kind=total")[0])
    assert set(confirmed["confidence"]) == {"confirmed"} and set(confirmed["amount_kind"]) == {"total"}


def test_url_round_trips_the_filters():
    state = FilterState(date_from="2012", date_to="2014-06-30", payer_country=("AZ", "GB"), recipient_country=("DE",),
                        entity="Lintner", confidence=("alleged", "confirmed"), amount_kind=("total",),
                        min_usd=2500.5, ledger=("azerbaijan.csv",), view="all", traced_only=False,
                        focus=(("recipient", "Eduard Lintner"),), levels=("payer_country", "recipient_country"),
                        top_n=7, page=2)
    assert from_query(state.to_query()) == state
    assert from_query("?min_usd=abc&view=zzz&top_n=9999&levels=nope&confidence=sure&page=-3") == FilterState(
        top_n=50)


def test_clicking_a_sankey_link_filters_the_table(pages):
    flows = pages["flows"]
    fig = flows.flows_outputs("")[0]
    hovers = link_hovers(fig)
    number = next(i for i, h in enumerate(hovers) if "→ Adil Baguirov</b>" in h)
    # What Dash hands the callback for a link click: scalar fields only.
    label = fig.data[0].link.label[number]
    state = flows.focus_from_click(from_query(""), {"points": [{"pointNumber": number, "label": label, "value": 1}]})
    assert dict(state.focus) == {"payer": "Laundromat shell companies (unnamed)", "recipient": "Adil Baguirov"}
    table, pager = flows.table_outputs(state.to_query())
    assert pager.endswith("1 transfer") and table[0]["id"] == "baguirov-253150"
    node = flows.focus_from_click(from_query(""), {"points": [{"pointNumber": 0, "label": "x", "value": 1}]})
    assert dict(node.focus) == {"tree": "Inside $2.9 bn from Azerbaijani elite-linked sources"}
    inside, _ = views.rows_for(node.to_query())
    assert set(views.full(inside)["tree_root"]) == {"laundromat-total-2012-2014"}
    # On a phone the chart keeps the first and last level: a click there means the same nodes.
    phone = flows.flows_outputs("", 356)[0]
    assert [c[0] for c in phone.data[0].node.customdata][0] == "payer"
    clicked = flows.focus_from_click(from_query(""), {"points": [{"pointNumber": 0, "label": "x", "value": 1}]}, 356)
    assert dict(clicked.focus) == {"payer": phone.data[0].node.customdata[0][1]}


def test_country_preset_and_top_n(pages):
    fig = pages["flows"].flows_outputs("?levels=payer_country,recipient_country&top_n=2")[0]
    labels = list(fig.data[0].node.label)
    assert any(label.startswith("Azerbaijan · ") for label in labels) and any(
        label.startswith("Other · ") for label in labels)


def test_explore_outputs_and_drill_down(pages):
    explore = pages["explore"]
    timeline, world, recipients, payers, _, note = explore.explore_outputs("", "year", "recipient_country")
    bars = dict(zip(recipients.data[0].y, recipients.data[0].text))
    assert bars["Velasco International Inc."] == "more than $7.6 m" and bars["Eduard Lintner"] == "about $5.28 m"
    assert "Not shown: $2.88 bn not yet traced to a recipient" in str(note)
    assert timeline.layout.xaxis.type == "date"
    years = sorted({pd.Timestamp(x).year for trace in timeline.data for x in trace.x})
    assert {2012, 2013, 2014} <= set(years)
    for trace in timeline.data:  # each series in time order, on one chronological axis
        assert list(trace.x) == sorted(trace.x)
    log = explore.explore_outputs("?scale=log")[0]
    assert log.layout.yaxis.type == "log"
    assert "USA" in list(world.data[0].locations)
    state = explore.focus_for_click(from_query(""), "map", {"points": [{"location": "DEU"}]}, "year",
                                    "recipient_country")
    rows, _ = views.rows_for(state.to_query())
    assert set(rows["recipient_country"]) == {"DE"}
    state = explore.focus_for_click(from_query(""), "timeline", {"points": [{"x": "2016-01-01"}]}, "year", "")
    rows, _ = views.rows_for(state.to_query())
    assert set(rows["date_plot"].dt.year) == {2016}


def test_timeline_spreads_ranges_over_their_period(example_build):
    rows, _ = views.rows_for("?view=all&entity=Many companies")
    table = figures.timeline_data(rows, "year")
    assert table["value"].tolist() == pytest.approx([2.9e9 / 3] * 3)
    # Counted once, the fund's rest is what it spreads; with its parts the years add up to the fund again.
    rows, _ = views.rows_for("?traced=0&date_from=2012&date_to=2014")
    tree = rows[views.full(rows)["tree_root"].eq("laundromat-total-2012-2014").to_numpy()]
    assert figures.timeline_data(tree, "year")["value"].sum() == pytest.approx(2.9e9, rel=1e-9)


def test_entity_page_lists_aliases_totals_and_sources(pages):
    card, table = pages["entity"].entity_outputs("Luca Volontè", "")
    text = str(card)
    assert "Volonte" in text and "repubblica.it" in text
    assert [r["id"] for r in table] == ["volonte-prosecution-2012-2014"]
    card, _ = pages["entity"].entity_outputs("Eduard Lintner", "")
    assert "Received about $5.28 m in 4 transfers, 2 of them parts of larger transfers" in str(card)


def download(search: str, excel: bool = False, sort_by: str = "value_usd"):
    """A table download as the page's link fetches it from the server's route."""
    from dashboard.app import app
    from dash_requests import fetch_download

    response = fetch_download(app.server.test_client(), "flows", search, sort_by, excel)
    assert response.status_code == 200
    return response


def test_csv_and_xlsx_downloads_hold_exactly_the_filtered_rows(pages):
    from dashboard import table as transfers_table

    rows = views.full(transfers_table.ordered(views.rows_for("?recipient_country=US")[0]))
    sent = download("?recipient_country=US")
    assert sent.mimetype == "text/csv" and sent.get_data() == export.to_csv_bytes(rows)
    csv = pd.read_csv(io.BytesIO(sent.get_data()), dtype="str", keep_default_na=False)
    assert csv["id"].tolist() == rows["id"].tolist()
    assert csv["amount"].tolist() == [str(v) for v in rows["amount"]]
    book = openpyxl.load_workbook(io.BytesIO(download("?recipient_country=US", excel=True).get_data()))
    sheet = book["transfers"]
    header = [c.value for c in sheet[1]]
    ids = [r[header.index("id")] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == rows["id"].tolist()
    amounts = [r[header.index("amount_usd")] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert amounts == [float(v) for v in rows["amount_usd"]]  # numbers stay numbers
    about = dict(book["about"].iter_rows(values_only=True))
    assert about["filters (URL query)"] == "?recipient_country=US" and "azerbaijan.csv" in about["ledgers"]


def test_the_table_keeps_each_figure_with_its_kind_and_what_it_draws(pages):
    table, _ = pages["flows"].table_outputs("?entity=Velasco")
    assert table[0]["amount"] == "more than 7,600,000 USD" and table[0]["counted"] == "7,600,000 USD"
    assert table[0]["usd"] == "more than $7.6 m" and table[0]["date"].startswith("2012/2013")
    table, _ = pages["flows"].table_outputs("?view=excluded&entity=Podesta")
    assert {r["amount"] for r in table} >= {"50,000 USD a month", "75,000 USD a month"}
    table, _ = pages["flows"].table_outputs("?traced=0&entity=Many companies")
    assert table[0]["counted"].startswith("2,884,066,519.06 USD: has documented parts paid on to other recipients")
    table, _ = pages["flows"].table_outputs("?entity=Lintner")
    converted = next(r for r in table if r["id"] == "lintner-61000-2013")
    assert converted["usd"] == "$82,800" and converted["usd_exact"] == "82,759.67 USD"  # chart-rounded, exact kept


def test_the_page_says_when_parts_add_up_to_more_than_their_transfer(tmp_path, monkeypatch):
    from etl.pipeline import run_build
    from ledger_factory import ledger_folder, row

    folder = ledger_folder(tmp_path, [row(id="whole", amount="1000", amount_kind="at_least"),
                                      row(id="a", amount="700", part_of="whole"),
                                      row(id="b", amount="600", part_of="whole")])
    run_build(folder, tmp_path / "build")
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "build"))
    from dashboard.app import app  # noqa: F401
    flows = importlib.import_module("pages.flows")
    _, note, _, _ = flows.flows_outputs("")
    text = " ".join(str(n) for n in note)
    assert "Each dollar is counted once: $1,300 in 2 transfers" in text
    assert "1 are larger transfers whose documented parts add up to as much or more" in text


def test_the_table_shows_the_chosen_columns_one_line_each_and_downloads_keep_its_order(pages):
    from dashboard import table as transfers_table

    rows, pager, cards, defs = transfers_table.table_page("")
    assert [d["field"] for d in defs] == list(transfers_table.DEFAULT_COLUMNS)
    assert not any(d.get("wrapText") or d.get("autoHeight") for d in defs)
    _, _, _, defs = transfers_table.table_page("?cols=notes,flow,nonsense")
    assert [d["field"] for d in defs] == ["notes", "flow"]
    assert from_query("?cols=notes,flow").to_query() == "?cols=notes%2Cflow"
    detail = str(transfers_table.detail(rows, 0))
    assert "Rate, its period and source" not in detail or "USD per" in detail
    assert "Ledger and row" in detail and len(cards) == len(rows)
    # Downloads come out in the table's order, and are named after the view.
    by_date = download("?recipient_country=US&date_from=2012&date_to=2014", sort_by="date_start")
    assert by_date.headers["Content-Disposition"] == "attachment; filename=influence-ledger_recipient-US_2012-2014.csv"
    downloaded = pd.read_csv(io.BytesIO(by_date.get_data()), dtype="str", keep_default_na=False)
    starts = pd.to_datetime(downloaded["date_start"].replace("", None))
    assert starts.dropna().is_monotonic_decreasing and len(downloaded) > 3
    by_usd = download("?recipient_country=US")
    downloaded = pd.read_csv(io.BytesIO(by_usd.get_data()), dtype="str", keep_default_na=False)
    drawn = downloaded["drawn_usd"].replace("", None).dropna().astype(float)
    assert drawn.is_monotonic_decreasing


def test_xlsx_has_number_formats_a_frozen_header_a_filter_and_the_filters_in_words(pages):
    sent = download("?recipient_country=US&date_from=2012&date_to=2014", excel=True)
    assert sent.headers["Content-Disposition"] == "attachment; filename=influence-ledger_recipient-US_2012-2014.xlsx"
    assert sent.mimetype == export.XLSX_MIMETYPE
    book = openpyxl.load_workbook(io.BytesIO(sent.get_data()))
    sheet = book["transfers"]
    header = [c.value for c in sheet[1]]
    usd = sheet.cell(row=2, column=header.index("amount_usd") + 1)
    assert isinstance(usd.value, (int, float)) and usd.number_format == "#,##0.00"
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
    assert sheet.column_dimensions["A"].width > 8
    about = dict(book["about"].iter_rows(values_only=True))
    assert about["what this file holds"] == ("Transfers counted once, without money not yet traced to a recipient: "
                                             "dated from 2012 to 2014; recipient country US.")
    assert about["sorted by"] == "USD, largest first"


def test_the_navigation_carries_the_filters_to_every_page(pages):
    from dashboard.app import nav_hrefs

    hrefs = nav_hrefs("?recipient_country=US&entity=Lintner&focus=year%3A2012&page=3&traced=0",
                      ("/", "/explore", "/entity"))
    assert hrefs == ["/?recipient_country=US&entity=Lintner&traced=0",
                     "/explore?recipient_country=US&entity=Lintner&traced=0",
                     "/entity?recipient_country=US&entity=Lintner&traced=0"]


def test_the_filter_panel_shows_only_where_it_applies_and_empty_dates_look_empty(pages):
    from dashboard.app import filter_panel, filter_panel_style

    assert filter_panel_style("/import") == {"display": "none"}
    assert filter_panel_style("/") == {} and filter_panel_style("/explore") == {}
    text = str(filter_panel())
    assert "placeholder='any date'" in text.replace('"', "'") and "'2012'" not in text


def test_each_page_offers_only_the_filters_it_uses_and_sums_them_up_in_one_line(pages):
    from dashboard.app import FILTER_IDS, filter_panel_state

    query = "?date_from=2012&date_to=2014&recipient_country=US&entity=Lintner&view=all&min_usd=10000"
    panel, summary, *fields = filter_panel_state("/", query)
    assert panel == {} and all(style == {} for style in fields)
    assert summary == ("2012 to 2014 \u00b7 recipient US \u00b7 naming \u2018Lintner\u2019 \u00b7 at least $10,000 "
                       "\u00b7 every report")
    # An entity page lists every report naming the picked entity: the entity search and the rows choice do nothing.
    panel, summary, *fields = filter_panel_state("/entity", query)
    hidden = {i for i, style in zip(FILTER_IDS, fields) if style == {"display": "none"}}
    assert panel == {} and hidden == {"f-entity", "f-view"}
    assert summary == "2012 to 2014 \u00b7 recipient US \u00b7 at least $10,000"
    assert filter_panel_state("/import", query)[0] == {"display": "none"}
    assert filter_panel_state("/", "")[1] == "none applied"


def test_a_figure_as_sourced_keeps_its_kind_in_the_flow_list(pages):
    from dashboard import figures, views

    rows, _ = views.rows_for("?recipient_country=US")
    flows, _ = figures.flow_list(rows)
    as_sourced = dict(zip(flows["recipient"].astype("str"), flows["currencies"]))
    # "more than 1,360,000 USD" in the ledger: the lower bound is said wherever the figure appears.
    assert as_sourced["BGR Group"] == "more than $1.36 m"
    assert as_sourced["Henry Cuellar"] == "more than $360,000"
    assert as_sourced["Adil Baguirov"] == "$253,150"


def test_the_filter_panel_options_are_worked_out_once_per_build(pages):
    from dashboard import data
    from dashboard.app import filter_panel

    data._control_options.cache_clear()
    first = str(filter_panel())
    for _ in range(3):
        assert str(filter_panel()) == first
    info = data._control_options.cache_info()
    assert (info.misses, info.hits) == (1, 3)
    options = data.control_options()
    assert {"label": "United States (US)", "value": "US"} in options["recipient_country"]
    assert options["ledger"] == ["azerbaijan.csv", "imported/occrp_laundromat.csv"]


def _post_page_callback(outputs: list[dict], inputs: list[dict], changed: str) -> dict:
    """A page's callback over HTTP, as the browser asks it (a local request: every row)."""
    from dashboard.app import app

    client = app.server.test_client()
    client.get("/_dash-dependencies")
    payload = {"output": ".." + "...".join(f"{o['id']}.{o['property']}" for o in outputs) + "..",
               "outputs": outputs, "inputs": inputs, "changedPropIds": [changed], "state": []}
    response = client.post("/_dash-update-component", json=payload, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]


TABLE_OUTPUTS = ("grid.rowData", "pager-text.children", "cards.children", "grid.columnDefs", "columns.value",
                 "detail.children")


@pytest.mark.parametrize("page, charts, extra_inputs", [
    ("flows", ("sankey.figure", "flow-left-out.children", "flow-focus.children", "flow-list.children"),
     [{"id": "viewport", "property": "data", "value": 1246}]),
    ("explore", ("timeline.figure", "map.figure", "top-recipients.figure", "top-payers.figure",
                 "explore-focus.children", "explore-left-out.children"), []),
])
def test_a_change_filters_the_rows_once_for_the_charts_and_the_table(pages, monkeypatch, page, charts, extra_inputs):
    """One filter computation per change: the page's one callback draws its charts and its table page from one
    filtering, and a new sort order redraws only the table."""
    calls = []
    real_mask = views.mask
    monkeypatch.setattr(views, "mask", lambda *a, **k: calls.append(1) or real_mask(*a, **k))
    names = [*charts, *(f"{page}-{o}" for o in TABLE_OUTPUTS)]
    outputs = [{"id": n.split(".")[0], "property": n.split(".")[1]} for n in names]
    query = "?recipient_country=US&view=all"
    url = {"id": "url", "property": "search", "value": query}
    sort = {"id": f"{page}-sort", "property": "value", "value": "date_start"}
    answer = _post_page_callback(outputs, [url, *extra_inputs, sort], "url.search")
    assert len(calls) == 1
    assert set(answer) == {n.split(".")[0] for n in names}
    # The table page is the one table_page gives for the URL on its own.
    grid_rows, pager, _, _ = pages["flows"].table_page(query, "date_start")
    assert answer[f"{page}-grid"]["rowData"] == grid_rows and answer[f"{page}-pager-text"]["children"] == pager
    assert len(grid_rows) > 1 and "transfers" in pager
    calls.clear()
    answer = _post_page_callback(outputs, [url, *extra_inputs, sort], f"{page}-sort.value")
    assert len(calls) == 1
    assert set(answer) == {f"{page}-{o.split('.')[0]}" for o in TABLE_OUTPUTS}


def test_the_landing_view_is_worked_out_once_per_build_and_audience(tmp_path, monkeypatch):
    """Every visit opens the unfiltered view: a worker answers it again from what it kept, for the same build and
    audience only. A reader of public rows never gets the answer kept for the internal ones, and a new build is
    worked out afresh."""
    from etl.pipeline import run_build
    from ledger_factory import ledger_folder, row

    from dashboard import table as transfers_table

    secret = "Zz Unpublished Payer Ltd"
    root = ledger_folder(tmp_path, [row(id="seen", amount="1000"),
                                    row(id="hidden", amount="2000", payer=secret, visibility="internal")])
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "build"))
    run_build(root, tmp_path / "build")
    calls = []
    real_mask = views.mask
    monkeypatch.setattr(views, "mask", lambda *a, **k: calls.append(1) or real_mask(*a, **k))
    names = ["sankey.figure", "flow-left-out.children", "flow-focus.children", "flow-list.children",
             *(f"flows-{o}" for o in TABLE_OUTPUTS)]
    outputs = [{"id": n.split(".")[0], "property": n.split(".")[1]} for n in names]
    inputs = [{"id": "url", "property": "search", "value": ""}, {"id": "viewport", "property": "data", "value": 1246},
              {"id": "flows-sort", "property": "value", "value": "value_usd"}]
    first = _post_page_callback(outputs, inputs, "url.search")
    again = _post_page_callback(outputs, inputs, "url.search")
    assert len(calls) == 1 and again == first and secret in json.dumps(first)
    # Another width is another drawing; a filter is never kept.
    _post_page_callback(outputs, [inputs[0], {**inputs[1], "value": 390}, inputs[2]], "url.search")
    filtered = [{**inputs[0], "value": "?min_usd=10"}, *inputs[1:]]
    _post_page_callback(outputs, filtered, "url.search")
    _post_page_callback(outputs, filtered, "url.search")
    assert len(calls) == 4
    # The public's landing view: its own, without the internal row.
    monkeypatch.setenv(data.PUBLIC_MODE_ENV, "1")
    public = _post_page_callback(outputs, inputs, "url.search")
    assert len(calls) == 5 and secret not in json.dumps(public) and public != first
    monkeypatch.delenv(data.PUBLIC_MODE_ENV)
    # A new build (here the same ledgers built again) is a new folder: worked out afresh.
    run_build(root, tmp_path / "build")
    assert _post_page_callback(outputs, inputs, "url.search") == first and len(calls) == 6
    assert len(transfers_table._landing_answers(str(data.current_folder()), data.INTERNAL)) == 1


def test_another_width_of_the_landing_view_redraws_the_kept_sums(tmp_path, monkeypatch):
    """The landing view's flow diagram sums (and its flow list and table page) are kept per build and audience: a
    reader whose window has another width waits for the drawing only, and gets what working it all out gives."""
    from etl.pipeline import run_build
    from ledger_factory import ledger_folder, row

    from dashboard import figures
    from dashboard import table as transfers_table

    long_name = "A Payer Registered Under A Remarkably Long Name Of Many Words Holdings Ltd"
    root = ledger_folder(tmp_path, [row(id="one", amount="1000"), row(id="two", amount="2500", payer=long_name),
                                    row(id="three", amount="700", recipient="Third Recipient")])
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "build"))
    run_build(root, tmp_path / "build")
    summed = []
    real_sankey_data = figures.sankey_data
    monkeypatch.setattr(figures, "sankey_data", lambda *a, **k: summed.append(a[1:]) or real_sankey_data(*a, **k))
    names = ["sankey.figure", "flow-left-out.children", "flow-focus.children", "flow-list.children",
             *(f"flows-{o}" for o in TABLE_OUTPUTS)]
    outputs = [{"id": n.split(".")[0], "property": n.split(".")[1]} for n in names]

    def landing(width: int) -> dict:
        inputs = [{"id": "url", "property": "search", "value": ""},
                  {"id": "viewport", "property": "data", "value": width},
                  {"id": "flows-sort", "property": "value", "value": "value_usd"}]
        return _post_page_callback(outputs, inputs, "url.search")

    wide = landing(1246)
    narrower = landing(700)
    assert len(summed) == 1 and narrower != wide  # the same sums, drawn for less room
    phone = landing(390)
    landing(420)
    # A phone's diagram has fewer levels: summed once more, then kept for every phone.
    assert len(summed) == 2 and summed[1][0] != summed[0][0]
    for width, kept in ((700, narrower), (390, phone)):
        transfers_table._landing_answers.cache_clear()
        transfers_table._landing_parts.cache_clear()
        assert landing(width) == kept
