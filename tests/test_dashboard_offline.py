"""Nothing leaves the machine: every page, download and chart export in real Chromium asks only the app's server.

Chromium records every request through the DevTools performance log (goog:loggingPrefs), and every host name
except the app's resolves to nothing (--host-resolver-rules), so the map must draw from the app's own topojson.
"""
from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import openpyxl
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.by import By

from dashboard import export, views
from tests.conftest import CHROMIUM_FLAGS

# The browser's own pages (a new tab is chrome://new-tab-page) and in-page data are not requests to a host.
LOCAL_SCHEMES = {"data", "blob", "about", "file", "chrome", "chrome-untrusted", "devtools"}
CLOUD_WORDS = re.compile(r"share|cloud|chart studio|edit in", re.IGNORECASE)


@pytest.fixture
def server(dash_thread_server, example_build):
    from dashboard.app import app
    dash_thread_server(app)
    return dash_thread_server.url.rstrip("/")


@pytest.fixture
def browser(tmp_path):
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-offline-')}")
    # No network: every name but the loopback resolves to nothing.
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
    driver = webdriver.Chrome(options=options)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    driver.requested = []
    try:
        yield driver
    finally:
        driver.quit()


def collect_requests(driver) -> list[str]:
    """Every URL Chromium was asked to fetch since the last call (the log is drained on reading)."""
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            driver.requested.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            driver.requested.append(message["params"]["url"])
    return driver.requested


def foreign(urls: list[str], server_url: str) -> list[str]:
    own = urlsplit(server_url)
    return [u for u in urls if urlsplit(u).scheme not in LOCAL_SCHEMES
            and (urlsplit(u).hostname, urlsplit(u).port) != (own.hostname, own.port)]


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # the element may be re-rendering
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def css(driver, selector: str):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def click(driver, selector: str) -> None:
    driver.execute_script("document.querySelector(arguments[0]).click()", selector)


def downloaded(driver, name: str) -> Path:
    target = driver.downloads / name
    wait_for(lambda: target.exists() and target.stat().st_size > 0
             and not list(driver.downloads.glob("*.crdownload")), what=f"download of {name}")
    return target


def modebar_titles(driver, graph_id: str) -> list[str]:
    wait_for(lambda: css(driver, f"#{graph_id} .modebar-btn"), what=f"modebar of #{graph_id}")
    return [b.get_attribute("data-title") or "" for b in css(driver, f"#{graph_id} .modebar-btn")]


def camera_png(driver, graph_id: str, name: str) -> Path:
    """The modebar's camera button, as a reader clicks it; the PNG must arrive as a real image."""
    titles = modebar_titles(driver, graph_id)
    assert any(t.lower().startswith("download plot as a png") for t in titles), titles
    driver.execute_script(
        "Array.from(document.querySelectorAll(arguments[0])).find(function (b) {"
        "  return (b.getAttribute('data-title') || '').toLowerCase().startsWith('download plot as a png');"
        "}).click()", f"#{graph_id} .modebar-btn")
    target = downloaded(driver, name)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return target


def assert_no_cloud_buttons(driver, graph_ids) -> None:
    for graph_id in graph_ids:
        titles = modebar_titles(driver, graph_id)
        assert not [t for t in titles if CLOUD_WORDS.search(t)], (graph_id, titles)
        assert not css(driver, f"#{graph_id} a.js-plot-link-container, #{graph_id} .js-plot-link-container")


def map_country_paths(driver, root: str = "#map") -> int:
    return len(css(driver, f"{root} .geolayer .choroplethlocation, {root} .choroplethlayer path"))


def test_no_page_download_or_export_asks_another_host(server, browser):
    # Flows: the Sankey, its table downloads and both chart exports.
    browser.get(server + "/?view=all")
    wait_for(lambda: css(browser, "#sankey .sankey .sankey-node"), what="the Sankey")
    assert_no_cloud_buttons(browser, ["sankey"])
    click(browser, "#flows-csv-button")
    from dashboard import data, table

    rows = data.full_rows(table.ordered(views.rows_for("?view=all")[0]))
    assert downloaded(browser, "influence-ledger_every-report.csv").read_bytes() == export.to_csv_bytes(rows)
    click(browser, "#flows-xlsx-button")
    book = openpyxl.load_workbook(downloaded(browser, "influence-ledger_every-report.xlsx"))
    column = [c.value for c in book["transfers"][1]].index("id")
    assert [r[column] for r in book["transfers"].iter_rows(min_row=2, values_only=True)] == rows["id"].tolist()
    camera_png(browser, "sankey", "influence-ledger-flows.png")
    click(browser, "#sankey-html-button")
    flows_html = downloaded(browser, "influence-ledger-flows.html")

    # Timeline & map: the map must draw its countries with no network but this server.
    browser.get(server + "/explore?view=all")
    wait_for(lambda: map_country_paths(browser) > 0, what="countries drawn on the map")
    wait_for(lambda: css(browser, "#map .geolayer path, #map .layer.land path"), what="the map's land layer")
    assert_no_cloud_buttons(browser, ["timeline", "map", "top-recipients", "top-payers"])
    click(browser, "#explore-csv-button")
    camera_png(browser, "map", "influence-ledger-map.png")
    click(browser, "#map-html-button")
    map_html = downloaded(browser, "influence-ledger-map.html")
    click(browser, "#timeline-html-button")
    downloaded(browser, "influence-ledger-timeline.html")

    # An entity and the import page (open from this machine when no login is configured).
    browser.get(server + "/entity?name=Metastar%20Invest%20LLP")
    wait_for(lambda: "Metastar Invest LLP" in browser.find_element(By.CSS_SELECTOR, "#entity-card h2").text,
             what="the entity card")
    browser.get(server + "/import")
    wait_for(lambda: css(browser, "#imp-text"), what="the import page")
    time.sleep(1)  # late requests (fonts, lazy chunks) land in the log

    requested = collect_requests(browser)
    assert any("/_dash-component-suites/plotly/" in u for u in requested), "plotly.js came from the app"
    assert any(u.endswith("/assets/topojson/world_110m.json") for u in requested), "the map's outlines too"
    assert foreign(requested, server) == []
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []

    # The standalone HTML files open offline: plotly.js and the outlines are inside, nothing is fetched.
    for page, check_map in ((flows_html, False), (map_html, True)):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<script[^>]*\bsrc=", text), "no external script"
        assert not re.search(r"mathjax[^\"']*\.js", text, re.IGNORECASE), "no MathJax reference"
        assert '"showSendToCloud": false' in text and "cdn.plot.ly/un/" not in text.split("Plotly.newPlot", 1)[1]
        before = len(collect_requests(browser))
        browser.get(page.resolve().as_uri())
        wait_for(lambda: css(browser, ".plot-container .main-svg"), what=f"{page.name} drawn")
        if check_map:
            wait_for(lambda: map_country_paths(browser, ".plot-container") > 0, what="countries in the map file")
        else:
            wait_for(lambda: css(browser, ".sankey .sankey-node"), what="the Sankey in the flows file")
        assert not [t for t in (b.get_attribute("data-title") or "" for b in css(browser, ".modebar-btn"))
                    if CLOUD_WORDS.search(t)]
        time.sleep(0.5)
        opened = collect_requests(browser)[before:]
        assert [u for u in opened if urlsplit(u).scheme not in LOCAL_SCHEMES] == [], opened
