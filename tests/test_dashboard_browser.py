"""Real headless Chromium (Debian's chromium + chromium-driver) against the running dashboard."""
import time
from pathlib import Path

import pandas as pd
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dashboard import export, views

SCREENSHOT = Path(__file__).resolve().parent.parent / "dashboard" / "assets" / "flows-screenshot.png"


@pytest.fixture
def dashboard(dash_duo, example_build):
    from dashboard.app import app
    dash_duo.start_server(app)
    return dash_duo


def sankey_labels(duo) -> set[str]:
    duo.wait_for_element("#sankey .sankey .node-label", timeout=20)
    return {e.text for e in duo.find_elements("#sankey .sankey .node-label")}


def severe_logs(duo) -> list:
    return [entry for entry in duo.get_logs() or [] if entry.get("level") == "SEVERE"]


def wait_until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # the element may be re-rendering
            pass
        time.sleep(0.2)
    return False


def test_flows_page_loads_without_errors_and_shows_the_money(dashboard):
    labels = sankey_labels(dashboard)
    assert {"Azerbaijani elite-linked sources", "Many companies and individuals"} <= labels
    assert "Data as of" in dashboard.find_element("#data-as-of").text
    assert wait_until(lambda: "12 transfers" in dashboard.find_element("#flows-pager-text").text)
    assert severe_logs(dashboard) == []
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    dashboard.driver.save_screenshot(str(SCREENSHOT))


def test_changing_a_filter_changes_the_sankey_and_the_url(dashboard):
    before = sankey_labels(dashboard)
    box = dashboard.find_element("#f-entity")
    box.send_keys("Lintner", Keys.ENTER)
    assert wait_until(lambda: "entity=Lintner" in dashboard.driver.current_url)
    assert wait_until(lambda: "Eduard Lintner" in sankey_labels(dashboard)
                      and "Many companies and individuals" not in sankey_labels(dashboard))
    assert sankey_labels(dashboard) != before
    assert severe_logs(dashboard) == []


def test_clicking_a_link_filters_the_table(dashboard):
    sankey_labels(dashboard)
    links = dashboard.find_elements("#sankey .sankey-link")
    assert links
    # The link's geometric centre can fall outside its curved band, so the click is dispatched on the element.
    dashboard.driver.execute_script(
        "var el = arguments[0], r = el.getBoundingClientRect();"
        "['mouseover', 'mousedown', 'mouseup', 'click'].forEach(function (type) {"
        "  el.dispatchEvent(new MouseEvent(type, {bubbles: true, clientX: r.x + r.width / 2,"
        "                                                   clientY: r.y + r.height / 2}));"
        "});", links[0])
    assert wait_until(lambda: "focus=" in dashboard.driver.current_url)
    assert wait_until(lambda: "Showing the transfers behind" in dashboard.find_element("#flow-focus").text)
    shown = dashboard.find_element("#flows-pager-text").text
    assert "12 transfers" not in shown
    query = "?" + dashboard.driver.current_url.split("?", 1)[1]
    rows, _ = views.rows_for(query)
    assert wait_until(lambda: f"· {len(rows)} transfer" in dashboard.find_element("#flows-pager-text").text)


def test_csv_download_equals_the_filtered_rows(dashboard, tmp_path):
    dashboard.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow",
                                                                  "downloadPath": str(tmp_path)})
    dashboard.wait_for_page(url=f"{dashboard.server_url}/?recipient_country=US&view=all")
    sankey_labels(dashboard)
    dashboard.find_element("#flows-csv-button").click()
    target = tmp_path / "influence-ledger-transfers.csv"
    assert wait_until(lambda: target.exists() and target.stat().st_size > 0, timeout=20)
    rows = views.full(views.rows_for("?recipient_country=US&view=all")[0])
    assert target.read_bytes() == export.to_csv_bytes(rows)
    downloaded = pd.read_csv(target, dtype="str", keep_default_na=False)
    # 11 hand-entered US rows plus the imported OCCRP payment to LINSTAR SYSTEMS CORP. (US).
    assert downloaded["id"].tolist() == rows["id"].tolist() and len(downloaded) == 12


def test_opening_a_saved_url_reproduces_the_view(dashboard):
    query = "?recipient_country=DE&view=all&levels=payer_country%2Crecipient_country&top_n=5"
    dashboard.wait_for_page(url=f"{dashboard.server_url}/{query}")
    assert wait_until(lambda: {"Azerbaijan", "Germany"} <= sankey_labels(dashboard))
    assert "United States" not in sankey_labels(dashboard)
    radio = dashboard.find_element("#f-view input[value='all']")
    assert radio.is_selected()
    rows, _ = views.rows_for(query)
    assert wait_until(lambda: f"· {len(rows)} transfers" in dashboard.find_element("#flows-pager-text").text)
    assert severe_logs(dashboard) == []
