"""Real headless Chromium (Debian's chromium + chromium-driver) against the running dashboard."""
import time

import pandas as pd
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dashboard import data, export, views
from dashboard import table as transfers_table



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


def sankey_names(duo) -> set[str]:
    """Node names without their figures ('Adil Baguirov · $253,150' → 'Adil Baguirov')."""
    return {label.split(" · ")[0] for label in sankey_labels(duo)}


def hover_text(duo) -> str:
    return duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.hoverlayer .hovertext')).map(e => e.textContent).join('|')")


def set_viewport(duo, width: int, height: int) -> None:
    """The page's viewport exactly (a headless window's outer size does not always shrink its inner one)."""
    duo.driver.set_window_size(width, height)
    duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700})


def sankey_geometry(duo) -> list:
    """Every node's label and box, to tell when the chart has settled."""
    return duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#sankey .sankey .node-rect')).map(e => {"
        "  const r = e.getBoundingClientRect(); return [Math.round(r.x), Math.round(r.y + window.scrollY),"
        "  Math.round(r.height)]; })")


def node_box(duo, element) -> list:
    return duo.driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.x, r.y];", element)


def dispatch(duo, element, events=("mouseover", "mousemove")) -> None:
    # A link's geometric centre can fall outside its curved band, so events are dispatched on the element itself.
    duo.driver.execute_script(
        "var el = arguments[0], r = el.getBoundingClientRect();"
        "arguments[1].forEach(function (type) {"
        "  el.dispatchEvent(new MouseEvent(type, {bubbles: true, clientX: r.x + r.width / 2,"
        "                                                   clientY: r.y + r.height / 2}));"
        "});", element, list(events))


def test_flows_page_loads_without_errors_and_shows_the_documented_parts(dashboard):
    labels = sankey_labels(dashboard)
    assert "Adil Baguirov · $253,150" in labels
    assert "Inside $2.9 bn from Azerbaijani elite-linked sources · about $15.9 m or more shown" in labels
    assert any(label.endswith("· more than $7.6 m") for label in labels)
    assert "Data as of" in dashboard.find_element("#data-as-of").text
    rows, _ = views.rows_for("")
    assert wait_until(lambda: f"· {len(rows)} transfers" in dashboard.find_element("#flows-pager-text").text)
    assert "Not drawn: $2.88 bn not yet traced to a recipient" in dashboard.find_element("#flow-left-out").text
    assert severe_logs(dashboard) == []


def test_changing_a_filter_changes_the_sankey_and_the_url(dashboard):
    before = sankey_labels(dashboard)
    box = dashboard.find_element("#f-entity")
    box.send_keys("Lintner", Keys.ENTER)
    assert wait_until(lambda: "entity=Lintner" in dashboard.driver.current_url)
    assert wait_until(lambda: "Eduard Lintner" in sankey_names(dashboard)
                      and "Adil Baguirov" not in sankey_names(dashboard))
    assert sankey_labels(dashboard) != before
    assert severe_logs(dashboard) == []


@pytest.mark.parametrize("width,height", [(1366, 900), (390, 844)])
def test_every_node_answers_hover_and_no_labels_overlap(dashboard, width, height):
    set_viewport(dashboard, width, height)
    dashboard.wait_for_page(url=f"{dashboard.server_url}/")
    assert dashboard.driver.execute_script("return [window.innerWidth, window.innerHeight]") == [width, height]
    assert wait_until(lambda: len(sankey_labels(dashboard)) > 5)
    boxes = dashboard.driver.execute_script(
        "return Array.from(document.querySelectorAll('#sankey .sankey .node-label')).map(e => {"
        "  const r = e.getBoundingClientRect(); return [e.textContent, r.left, r.top, r.right, r.bottom]; })")
    overlapping = [(a[0], b[0]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                   if a[1] < b[3] - 1 and b[1] < a[3] - 1 and a[2] < b[4] - 1 and b[2] < a[4] - 1]
    assert overlapping == []
    # Every label stays inside the chart.
    chart = dashboard.find_element("#sankey").rect
    assert all(chart["x"] - 1 <= b[1] and b[3] <= chart["x"] + chart["width"] + 1 for b in boxes)
    # The chart may still be redrawn once for the page's width: probe it when it has stopped changing.
    previous = None
    assert wait_until(lambda: (previous := sankey_geometry(dashboard)) == sankey_geometry(dashboard)
                      if not time.sleep(1) else False, timeout=20)
    silent = []
    for i in range(len(dashboard.find_elements("#sankey .sankey .node-rect"))):
        # A real pointer over the node; on a busy machine the first move can land before the chart settles, so a
        # node counts as silent only when three moves onto it in a row show nothing.
        answered = False
        for _ in range(3):
            node = dashboard.find_elements("#sankey .sankey .node-rect")[i]
            dashboard.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", node)
            # The pointer goes where the node is once the page has stopped moving (a scroll may still be running
            # when the next command comes, and the move would land where the node was).
            wait_until(lambda: (box := node_box(dashboard, node)) == node_box(dashboard, node)
                       if not time.sleep(0.1) else False, timeout=3)
            ActionChains(dashboard.driver).move_to_element(node).perform()
            if wait_until(lambda: "$" in hover_text(dashboard), timeout=3):
                answered = True
                break
            # Away from the chart, to the note just above it.
            ActionChains(dashboard.driver).move_to_element(dashboard.find_element("#flow-left-out")).perform()
        if not answered:
            silent.append(dashboard.driver.execute_script(
                "const r = arguments[0].getBoundingClientRect(); return [window.innerWidth, window.innerHeight,"
                " window.scrollY, r.x, r.y, r.height, document.documentElement.scrollHeight];", node))
    assert silent == []


def test_clicking_the_baguirov_flow_on_the_chart_filters_the_table(dashboard):
    sankey_labels(dashboard)
    target = None
    for link in dashboard.find_elements("#sankey .sankey-link"):
        dispatch(dashboard, link)
        if "→ Adil Baguirov" in hover_text(dashboard):
            target = link
            break
        dispatch(dashboard, link, ("mouseout",))
    assert target is not None
    assert "$253,150" in hover_text(dashboard) and "part of: $2.9 bn" in hover_text(dashboard)
    dispatch(dashboard, target, ("mousedown", "mouseup", "click"))
    assert wait_until(lambda: "recipient%3AAdil+Baguirov" in dashboard.driver.current_url)
    assert wait_until(lambda: dashboard.find_element("#flows-pager-text").text.endswith("· 1 transfer"))
    assert wait_until(lambda: "253,150 USD" in dashboard.find_element("#flows-grid").text)


def test_clicking_the_baguirov_flow_in_the_list_filters_the_table(dashboard):
    sankey_labels(dashboard)
    row = next(e for e in dashboard.find_elements("#flow-list .flow-row") if "→ Adil Baguirov" in e.text)
    assert "$253,150" in row.text
    row.click()
    assert wait_until(lambda: "recipient%3AAdil+Baguirov" in dashboard.driver.current_url)
    assert wait_until(lambda: dashboard.find_element("#flows-pager-text").text.endswith("· 1 transfer"))
    assert wait_until(lambda: "253,150 USD" in dashboard.find_element("#flows-grid").text)
    assert "Adil Baguirov" in sankey_names(dashboard)


def test_csv_download_equals_the_filtered_rows(dashboard, tmp_path):
    dashboard.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow",
                                                                  "downloadPath": str(tmp_path)})
    dashboard.wait_for_page(url=f"{dashboard.server_url}/?recipient_country=US&view=all")
    sankey_labels(dashboard)
    # A link to this server's download route, for the view and the table's sort.
    link = dashboard.find_element("#flows-csv-button")
    assert wait_until(lambda: link.get_attribute("href") == (
        f"{dashboard.server_url}/download/flows.csv?recipient_country=US&view=all&sort=value_usd"))
    link.click()
    # Named after the view, in the table's order (largest first).
    target = tmp_path / "influence-ledger_every-report_recipient-US.csv"
    assert wait_until(lambda: target.exists() and target.stat().st_size > 0, timeout=20)
    rows = data.full_rows(transfers_table.ordered(views.rows_for("?recipient_country=US&view=all")[0]))
    assert target.read_bytes() == export.to_csv_bytes(rows)
    downloaded = pd.read_csv(target, dtype="str", keep_default_na=False)
    # 11 hand-entered US rows plus the imported OCCRP payment to LINSTAR SYSTEMS CORP. (US).
    assert downloaded["id"].tolist() == rows["id"].tolist() and len(downloaded) == 12


def test_opening_a_saved_url_reproduces_the_view(dashboard):
    query = "?recipient_country=DE&view=all&levels=payer_country%2Crecipient_country&top_n=5"
    dashboard.wait_for_page(url=f"{dashboard.server_url}/{query}")
    assert wait_until(lambda: {"Azerbaijan", "Germany"} <= sankey_names(dashboard))
    assert "United States" not in sankey_names(dashboard)
    radio = dashboard.find_element("#f-view input[value='all']")
    assert radio.is_selected()
    rows, _ = views.rows_for(query)
    assert wait_until(lambda: f"· {len(rows)} transfers" in dashboard.find_element("#flows-pager-text").text)
    assert severe_logs(dashboard) == []
