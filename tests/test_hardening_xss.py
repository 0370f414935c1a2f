"""Untrusted names, notes and sources are rendered as inert text in a real headless Chromium."""
import time

import pytest
from selenium.common.exceptions import NoAlertPresentException

from dashboard import data
from ledger_factory import build_with_planted_columns, row, write_csv, write_lookups

SCRIPT_NAME = "<script>alert('payer')</script>"
IMG_NAME = "<img src=x onerror=alert('recipient')>"
NOTE = "<b>bold?</b><iframe src=javascript:alert('note')></iframe>"
BAD_SOURCES = "javascript:alert('source') | data:text/html,<script>alert('data')</script> | https://ok.example/story"


@pytest.fixture
def hostile_build(tmp_path, monkeypatch):
    root = tmp_path / "ledgers"
    write_lookups(root)
    write_csv(root / "hostile.csv", [row(id="hostile", payer=SCRIPT_NAME, recipient=IMG_NAME, notes=NOTE,
                                         purpose=NOTE, amount="5000")])
    # The ETL refuses non-http sources, so they are planted in the dataset directly: the dashboard must not
    # rely on the ETL for its own safety.
    out = build_with_planted_columns(root, tmp_path / "build", sources=BAD_SOURCES)
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(out))
    return out


def no_alert(driver) -> bool:
    try:
        driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def test_hostile_text_is_shown_as_typed_and_never_runs(dash_duo, hostile_build):
    from dashboard.app import app
    dash_duo.start_server(app)
    # The notes are in the row detail by default; the columns chosen in the URL bring them into the table.
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/?cols=date%2Cflow%2Camount%2Cnotes%2Csources")
    dash_duo.wait_for_element("#sankey .sankey .node-label", timeout=20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "alert(" not in dash_duo.find_element("#flows-grid").text:
        time.sleep(0.2)
    grid_text = dash_duo.find_element("#flows-grid").text
    assert SCRIPT_NAME in grid_text and IMG_NAME in grid_text
    assert "<b>bold?</b>" in grid_text
    labels = {e.text for e in dash_duo.find_elements("#sankey .sankey .node-label")}
    assert any(label.startswith("<script>") for label in labels)
    anchors = dash_duo.find_elements("#flows-grid a")
    assert [a.get_attribute("href") for a in anchors] == ["https://ok.example/story"]
    assert all(a.get_attribute("rel") == "noopener noreferrer" and a.get_attribute("target") == "_blank"
               for a in anchors)
    assert "javascript:alert('source')" in grid_text  # shown, not linked
    assert dash_duo.find_elements("#flows-grid img") == [] and dash_duo.find_elements("#flows-grid iframe") == []
    assert dash_duo.find_elements("script[src*='alert']") == []
    assert no_alert(dash_duo.driver)
    url = dash_duo.driver.current_url
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/entity?name=" + "%3Cscript%3Ealert('payer')%3C%2Fscript%3E")
    time.sleep(1.5)
    assert no_alert(dash_duo.driver)
    assert dash_duo.driver.current_url.startswith(dash_duo.server_url)
    assert url.startswith(dash_duo.server_url)
