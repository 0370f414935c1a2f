"""Dashboard callbacks called as plain functions on the built example ledger, asserting the figures' data."""
import importlib
import io
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


def test_sankey_links_into_recipients_sum_to_the_usd_total(pages):
    fig, note, _ = pages["flows"].flows_outputs("")
    labels, sources, targets, values = sankey_links(fig)
    levels = [c[0] for c in fig.data[0].node.customdata]
    into_recipients = sum(v for t, v in zip(targets, values) if levels[t] == "recipient")
    rows, _ = views.rows_for("")
    assert into_recipients == pytest.approx(float(views.full(rows)["total_usd"].astype("float64").sum()), rel=1e-12)
    assert into_recipients == pytest.approx(float(Decimal(data.load().report["total_usd"])), rel=1e-12)
    assert "Azerbaijani elite-linked sources" in labels and "Many companies and individuals" in labels
    every_row, _ = views.rows_for("?view=all")
    left_out = int((~views.full(every_row)["counts_in_totals"]).sum())
    assert left_out == 18 + 43 and f"{left_out} report(s)" in note[0]


def test_the_seed_transfers_appear_with_their_amounts(pages):
    chart_rows, _ = views.rows_for("?view=all")
    by_id = chart_rows.set_index(views.full(chart_rows)["id"].to_numpy())
    assert by_id.loc["laundromat-total-2012-2014", "value_usd"] == 2.9e9
    assert by_id.loc["baguirov-253150", "value_usd"] == 253150
    assert by_id.loc["velasco-mkb-2012-2013", "value_usd"] == 7.6e6
    table, pager = pages["flows"].table_outputs("?view=all&entity=baguirov")
    assert pager.endswith("1 transfer")
    assert table[0]["amount_exact"] == "253,150 USD" and table[0]["recipient"] == "Adil Baguirov"
    assert table[0]["sources"].startswith("https://oc-media.org/")


def test_filters_narrow_correctly(pages):
    everything = views.full(views.rows_for("?view=all")[0])
    germany = views.full(views.rows_for("?view=all&recipient_country=DE")[0])
    assert set(germany["recipient_country"]) == {"DE"} and 0 < len(germany) < len(everything)
    alias = views.full(views.rows_for("?view=all&entity=USAN")[0])  # alias of the network, not of Baguirov
    assert len(alias) == 0
    volonte = views.full(views.rows_for("?view=all&entity=volonte")[0])
    assert set(volonte["id"]) == {"volonte-prosecution-2012-2014"}
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
                        min_usd=2500.5, ledger=("azerbaijan.csv",), view="all",
                        focus=(("recipient", "Eduard Lintner"),), levels=("payer_country", "recipient_country"),
                        top_n=7, page=2)
    assert from_query(state.to_query()) == state
    assert from_query("?min_usd=abc&view=zzz&top_n=9999&levels=nope&confidence=sure&page=-3") == FilterState(
        top_n=50)


def test_clicking_a_sankey_link_filters_the_table(pages):
    flows = pages["flows"]
    fig, _, _ = flows.flows_outputs("")
    # What Dash hands the callback for a link click: scalar fields only.
    label = fig.data[0].link.label[0]
    state = flows.focus_from_click(from_query(""), {"points": [{"pointNumber": 0, "label": label, "value": 1}]})
    assert dict(state.focus) == {"payer": "Azerbaijani elite-linked sources",
                                 "intermediary": "Metastar Invest LLP; Hilux Services LP; Polux Management LP; "
                                                 "LCM Alliance LLP; Danske Bank Estonia"}
    table, pager = flows.table_outputs(state.to_query())
    assert pager.endswith("1 transfer") and table[0]["id"] == "laundromat-total-2012-2014"
    node = flows.focus_from_click(from_query(""), {"points": [{"pointNumber": 0, "label": "x", "value": 1}]})
    assert dict(node.focus) == {"payer": "Azerbaijani elite-linked sources"}


def test_country_preset_and_top_n(pages):
    fig, _, _ = pages["flows"].flows_outputs("?levels=payer_country,recipient_country&top_n=2")
    labels = list(fig.data[0].node.label)
    assert "Azerbaijan" in labels and "Other" in labels


def test_explore_outputs_and_drill_down(pages):
    explore = pages["explore"]
    timeline, world, recipients, payers, _ = explore.explore_outputs("", "year", "recipient_country")
    years = {x for trace in timeline.data for x in trace.x}
    assert {"2012", "2013", "2014"} <= years
    assert "USA" in list(world.data[0].locations)
    state = explore.focus_for_click(from_query(""), "map", {"points": [{"location": "DEU"}]}, "year",
                                    "recipient_country")
    rows, _ = views.rows_for(state.to_query())
    assert set(rows["recipient_country"]) == {"DE"}
    state = explore.focus_for_click(from_query(""), "timeline", {"points": [{"x": "2016"}]}, "year", "")
    rows, _ = views.rows_for(state.to_query())
    assert set(rows["date_plot"].dt.year) == {2016}


def test_timeline_spreads_ranges_over_their_period(example_build):
    rows, _ = views.rows_for("?view=all&entity=Many companies")
    table = figures.timeline_data(rows, "year")
    assert table["value"].tolist() == pytest.approx([2.9e9 / 3] * 3)


def test_entity_page_lists_aliases_totals_and_sources(pages):
    card, table = pages["entity"].entity_outputs("Luca Volontè", "")
    text = str(card)
    assert "Volonte" in text and "repubblica.it" in text
    assert [r["id"] for r in table] == ["volonte-prosecution-2012-2014"]


def test_csv_and_xlsx_downloads_hold_exactly_the_filtered_rows(pages):
    chart_rows, state = views.rows_for("?recipient_country=US")
    rows = views.full(chart_rows)
    csv = pd.read_csv(io.BytesIO(export.to_csv_bytes(rows)), dtype="str", keep_default_na=False)
    assert csv["id"].tolist() == rows["id"].tolist()
    assert csv["amount"].tolist() == [str(v) for v in rows["amount"]]
    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx_bytes(rows, views.about_rows(state, len(rows)))))
    sheet = book["transfers"]
    header = [c.value for c in sheet[1]]
    ids = [r[header.index("id")] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == rows["id"].tolist()
    amounts = [r[header.index("amount_usd")] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert amounts == [float(v) for v in rows["amount_usd"]]  # numbers stay numbers
    about = dict(book["about"].iter_rows(values_only=True))
    assert about["filters (URL query)"] == "?recipient_country=US" and "azerbaijan.csv" in about["ledgers"]
