"""Every page as a reader meets it, in real headless Chromium with a fresh profile per test: a saved URL reproduces
the view exactly, a phone shows the chart first and nothing wider than the screen, the table is one line per row and
the timeline runs in date order."""
from __future__ import annotations

import importlib
import tempfile
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options

from dashboard import table as transfers_table
from dashboard import views
from dashboard.figures import LEVEL_LABELS
from dashboard.filters import from_query
from tests.conftest import CHROMIUM_FLAGS

PHONE, DESKTOP = (390, 844), (1366, 900)


@pytest.fixture
def server(dash_thread_server, example_build):
    from dashboard.app import app
    dash_thread_server(app)
    return dash_thread_server.url.rstrip("/")


@pytest.fixture
def new_browser():
    """A factory of browsers, each with a new empty profile (nothing remembered from an earlier visit)."""
    drivers = []

    def start(width: int, height: int):
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-pages-')}")
        driver = webdriver.Chrome(options=options)
        driver.set_window_size(width, height)
        # The viewport exactly (a headless window's outer size does not always shrink its inner one).
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700})
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


def page(name: str):
    """A page module as Dash registered it (importing it under another name would register the page twice)."""
    return importlib.import_module(f"pages.{name}")


def wait_for(predicate, what: str, timeout: float = 25.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # an element re-rendering
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f" ({last})" if last else ""))


def wait_equal(read, expected, what: str, timeout: float = 25.0):
    """Wait until read() returns expected; on time-out, say what was shown instead."""
    deadline, shown = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            shown = read()
        except Exception as exc:  # an element re-rendering
            shown = exc
        if shown == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: expected {expected!r}, shown {shown!r}")


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def text_of(driver, selector: str) -> str:
    return js(driver, "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : null;",
              selector)


def settled(driver, selector: str) -> str:
    """An element's text once it has stopped changing (a callback may rewrite it once after the first paint)."""
    previous = None
    for _ in range(60):
        now = text_of(driver, selector)
        if now and now == previous:
            return now
        previous = now
        time.sleep(0.25)
    raise AssertionError(f"{selector} never settled (last: {previous!r})")


def query_of(driver) -> dict:
    return parse_qs(urlsplit(driver.current_url).query)


def shown_filters(driver) -> dict:
    """What the filter panel shows, read from the page (inputs, the ticked rows choice, chosen dropdown items)."""
    return js(driver, """
        const value = id => document.getElementById(id).value;
        const chosen = id => Array.from(document.querySelectorAll('#' + id + ' .dash-dropdown-value-item'))
                               .map(e => e.textContent.trim()).filter(t => t);
        const ticked = document.querySelector('#f-view input:checked');
        return {date_from: value('f-date-from'), date_to: value('f-date-to'), entity: value('f-entity'),
                view: ticked ? ticked.value : null, recipient_country: chosen('f-recipient-country'),
                ledger: chosen('f-ledger')};""")


def header_names(driver, grid: str) -> list[str]:
    return js(driver, "return Array.from(document.querySelectorAll(arguments[0] + ' .ag-header-cell-text'))"
                      ".map(e => e.textContent.trim());", grid)


def node_labels(driver) -> list[str]:
    return sorted(js(driver, "return Array.from(document.querySelectorAll('#sankey .sankey .node-label'))"
                             ".map(e => e.textContent);"))


def expected_pager(query: str) -> str:
    return transfers_table.table_page(query)[1]


def column_headers(query: str) -> list[str]:
    return [c["headerName"] for c in transfers_table.table_page(query)[3]]


def assert_url_kept(driver, saved: str) -> None:
    """The page did not rewrite the URL it was opened with (no filter, focus, page or setting dropped)."""
    wanted = from_query(saved).to_query()
    assert from_query("?" + urlsplit(driver.current_url).query).to_query() == wanted, driver.current_url


FLOWS_SAVED = ["?date_from=2012&date_to=2014&view=all&levels=payer%2Crecipient&top_n=5&focus=payer%3ASOCAR",
               "?view=all&traced=0&page=2&cols=date%2Cflow%2Cusd%2Cid&ledger=azerbaijan.csv&ledger="
               "imported%2Foccrp_laundromat.csv"]


@pytest.mark.parametrize("saved", FLOWS_SAVED)
def test_a_saved_flows_url_reproduces_the_view_in_a_fresh_browser(server, new_browser, saved):
    flows_outputs = page("flows").flows_outputs
    driver = new_browser(*DESKTOP)
    driver.get(server + "/" + saved)
    state = from_query(saved)
    width = min(DESKTOP[0], 1280) - 34
    figure = flows_outputs(saved, width)[0]
    expected_nodes = sorted(figure.data[0].node.label)
    wait_equal(lambda: node_labels(driver), expected_nodes, "the saved view's Sankey nodes")
    assert settled(driver, "#flows-pager-text") == expected_pager(saved)
    assert header_names(driver, "#flows-grid") == column_headers(saved)
    shown = shown_filters(driver)
    assert (shown["date_from"], shown["date_to"], shown["view"]) == (state.date_from, state.date_to, state.view)
    assert shown["ledger"] == list(state.ledger)
    assert text_of(driver, "#flow-focus") == (views.focus_text(state) or
                                              "Click a node or a link, or a flow below, to see the transfers behind it.")
    levels = js(driver, "return Array.from(document.querySelectorAll('#flow-levels .dash-dropdown-value-item'))"
                        ".map(e => e.textContent.trim())")
    assert levels == [LEVEL_LABELS[level] for level in state.levels]
    traced = js(driver, "return document.querySelector('#flow-traced input').checked")
    assert traced == state.traced_only
    assert_url_kept(driver, saved)


EXPLORE_SAVED = ["?period=month&scale=log&map_side=payer_country&focus=year%3A2012&view=all",
                 "?view=all&page=2&recipient_country=US&recipient_country=DE&date_from=2008"]


@pytest.mark.parametrize("saved", EXPLORE_SAVED)
def test_a_saved_timeline_and_map_url_reproduces_the_view_in_a_fresh_browser(server, new_browser, saved):
    driver = new_browser(*DESKTOP)
    driver.get(server + "/explore" + saved)
    state = from_query(saved)
    assert settled(driver, "#explore-pager-text") == expected_pager(saved)
    wait_for(lambda: js(driver, "const g = document.querySelector('#timeline .js-plotly-plot');"
                                "return !!(g && g._fullLayout && g._fullLayout.xaxis);"), "the timeline")
    axes = js(driver, "const l = document.querySelector('#timeline .js-plotly-plot')._fullLayout;"
                      "return [l.xaxis.type, l.yaxis.type];")
    assert axes == ["date", "log" if state.scale == "log" else "linear"]
    # The world map is centred on Greenwich whatever the countries shown (plotly.js would centre it on their mean).
    centre = wait_for(lambda: js(driver, "const g = document.querySelector('#map .js-plotly-plot');"
                                         "return g && g._fullLayout.geo && [g._fullLayout.geo.projection.rotation.lon,"
                                         " document.querySelectorAll('#map .choroplethlocation').length];"), "the map")
    assert centre[0] == 0 and centre[1] > 0
    ticked = js(driver, "return ['timeline-period', 'timeline-scale', 'map-side'].map(id => "
                        "document.querySelector('#' + id + ' input:checked').value)")
    assert ticked == [state.period, state.scale, state.map_side]
    assert text_of(driver, "#explore-focus") == (views.focus_text(state) or
                                                 "Click a period, a country or a bar to see the transfers behind it.")
    countries = [label.rsplit("(", 1)[-1].rstrip(")") for label in shown_filters(driver)["recipient_country"]]
    assert countries == list(state.recipient_country)
    assert_url_kept(driver, saved)


def test_a_saved_entity_url_reproduces_the_view_in_a_fresh_browser(server, new_browser):
    entity_outputs = page("entity").entity_outputs
    saved = "?name=SOCAR&date_from=2013"
    driver = new_browser(*DESKTOP)
    driver.get(server + "/entity" + saved)
    wait_for(lambda: text_of(driver, "#entity-card h2") == "SOCAR", "the entity card")
    card, rows = entity_outputs("SOCAR", saved)
    assert wait_for(lambda: js(driver, "return document.querySelectorAll('#entity-grid .ag-center-cols-container "
                                       ".ag-row').length") == len(rows), "the entity's transfers")
    # The entity page ignores the entity search and the rows choice: they are not offered there.
    hidden = js(driver, "return ['fw-f-entity', 'fw-f-view', 'fw-f-date-from'].map(id => "
                        "getComputedStyle(document.getElementById(id)).display)")
    assert hidden == ["none", "none", "block"]
    assert shown_filters(driver)["date_from"] == "2013"
    assert_url_kept(driver, saved)


PAGES = ["/", "/explore", "/entity?name=SOCAR", "/import"]


@pytest.mark.parametrize("page", PAGES)
def test_no_page_is_wider_than_a_phone(server, new_browser, page):
    driver = new_browser(*PHONE)
    driver.get(server + page)
    wait_for(lambda: js(driver, "return document.querySelector('main') && "
                                "document.querySelector('main').innerText.length > 50"), "the page")
    time.sleep(1.5)  # charts and grids lay out after their data arrives
    widths = js(driver, "return [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert widths[0] <= PHONE[0] and widths[1] <= PHONE[0], widths


def test_on_a_phone_the_filters_fold_into_a_summary_and_the_chart_comes_first(server, new_browser):
    driver = new_browser(*PHONE)
    driver.get(server + "/?date_from=2012&recipient_country=US")
    assert wait_for(lambda: text_of(driver, "#filter-summary") == "from 2012 \u00b7 recipient US", "the summary")
    display = "return getComputedStyle(document.getElementById(arguments[0])).display"
    assert js(driver, display, "filter-controls") == "none"
    assert js(driver, display, "flow-options-body") == "none"
    top = wait_for(lambda: js(driver, "const e = document.querySelector('#sankey .sankey .node-rect');"
                                      "return e && e.getBoundingClientRect().top + window.scrollY;"), "the chart")
    assert top < PHONE[1] - 200, f"the chart starts {top} px down"
    # Every entry of the colour legend is inside the chart (a legend wider than a phone is cut off, not scrolled).
    inside = js(driver, "const c = document.querySelector('#sankey').getBoundingClientRect();"
                        "return Array.from(document.querySelectorAll('#sankey .legend .traces')).map(t => {"
                        "  const r = t.getBoundingClientRect(); return r.right <= c.right + 1 && r.left >= c.left; })")
    assert len(inside) == 5 and all(inside), inside
    driver.find_element("css selector", "#filter-panel-toggle").click()
    assert wait_for(lambda: js(driver, display, "filter-controls") != "none", "the filters to open")
    assert driver.find_element("css selector", "#filter-panel-toggle").get_attribute("aria-expanded") == "true"
    assert js(driver, "return document.getElementById('f-date-from').value") == "2012"


def test_on_a_wide_screen_the_filters_stay_open(server, new_browser):
    driver = new_browser(*DESKTOP)
    driver.get(server + "/")
    wait_for(lambda: node_labels(driver), "the chart")
    display = "return getComputedStyle(document.getElementById(arguments[0])).display"
    assert js(driver, display, "filter-controls") == "grid"
    assert js(driver, display, "filter-panel-toggle") == "none"


def test_table_rows_are_one_line_by_default(server, new_browser):
    driver = new_browser(*DESKTOP)
    driver.get(server + "/?view=all")
    wait_for(lambda: js(driver, "return document.querySelectorAll('#flows-grid .ag-center-cols-container .ag-row')"
                                ".length") >= 20, "the table's rows")
    line = js(driver, "const c = document.querySelector('#flows-grid .ag-cell');"
                      "return parseFloat(getComputedStyle(c).lineHeight) || 20;")
    heights = js(driver, "return Array.from(document.querySelectorAll('#flows-grid .ag-center-cols-container "
                         ".ag-row')).map(r => r.getBoundingClientRect().height)")
    # At most two lines of text (plus the cell's padding) in every row; most are exactly one.
    assert max(heights) <= 2 * line + 12, (max(heights), line)
    # Every story column is on screen at 1366 px: payer → recipient, amount, USD and sources are not cut off.
    right = js(driver, "const g = document.querySelector('#flows-grid').getBoundingClientRect();"
                       "return Array.from(document.querySelectorAll('#flows-grid .ag-header-cell'))"
                       ".map(h => h.getBoundingClientRect().right <= g.right + 1);")
    assert right and all(right)


def test_the_timeline_runs_in_date_order(server, new_browser):
    driver = new_browser(*DESKTOP)
    driver.get(server + "/explore?view=all")
    wait_for(lambda: js(driver, "return document.querySelectorAll('#timeline .xtick text').length") > 2,
             "the timeline's axis")
    ticks = js(driver, "return Array.from(document.querySelectorAll('#timeline .xtick text'))"
                       ".map(t => [t.getBoundingClientRect().left, t.textContent])")
    years = [int(text[:4]) for _, text in sorted(ticks)]
    assert years == sorted(years) and len(set(years)) == len(years), ticks
    # Bars sit at their dates: left to right, each bar's date is later than the one before.
    dates = js(driver, "const g = document.querySelector('#timeline .js-plotly-plot');"
                       "return g.data.map(t => t.x).flat().map(String)")
    assert dates and all(len(d) >= 4 for d in dates)
