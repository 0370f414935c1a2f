"""A published story package in real headless Chromium, opened from file:// with the network off: the chart draws,
a flow lists its transfers and sources, nothing is asked of any host, a phone's width does not overflow, the embed
takes its content's height, and hostile text stays text."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from dashboard import data, publish
from ledger_factory import build_with_planted_columns, row, write_csv, write_lookups
from tests.test_dashboard_offline import browser, collect_requests, css, wait_for  # noqa: F401 (fixture)
from tests.test_hardening_xss import no_alert
from tests.test_publish import BAGUIROV_SOURCES


# The browser's own pages (a new tab is chrome://new-tab-page) are not requests of the published page.
BROWSER_SCHEMES = {"chrome", "chrome-untrusted", "devtools"}


def hosts_asked(driver) -> list[str]:
    return [u for u in collect_requests(driver) if urlsplit(u).scheme not in BROWSER_SCHEMES and urlsplit(u).hostname]


def offline(driver) -> None:
    """No network at all, on top of the fixture's host names that resolve to nothing."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                "downloadThroughput": 0, "uploadThroughput": 0})


def viewport(driver, width: int, height: int = 900) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                                  "deviceScaleFactor": 1, "mobile": width < 700})


def dispatch(driver, element, events) -> None:
    # A link's geometric centre can fall outside its curved band, so events are dispatched on the element itself.
    driver.execute_script(
        "var el = arguments[0], r = el.getBoundingClientRect();"
        "arguments[1].forEach(function (type) {"
        "  el.dispatchEvent(new MouseEvent(type, {bubbles: true, clientX: r.x + r.width / 2,"
        "                                                   clientY: r.y + r.height / 2}));"
        "});", element, list(events))


def panel_text(driver) -> str:
    return driver.execute_script("return document.getElementById('transfers-panel').textContent")


def panel_title(driver) -> str:
    return driver.execute_script("var h = document.querySelector('#transfers-panel h3'); return h ? h.textContent : ''")


def node_labels(driver) -> list[str]:
    return [e.get_attribute("textContent") for e in css(driver, ".sankey .node-label")]


def severe(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture
def package(example_build, tmp_path):
    out = tmp_path / "story"
    assert publish.main(["", "-o", str(out), "--charts", "flows,timeline,map"]) == 0
    return out


def test_published_page_works_from_a_file_with_the_network_off(package, browser):  # noqa: F811
    offline(browser)
    browser.get((package / "index.html").as_uri())
    wait_for(lambda: "Adil Baguirov · $253,150" in node_labels(browser), what="the Sankey's nodes")
    labels = node_labels(browser)
    assert any(label.startswith("Inside $2.9 bn from Azerbaijani elite-linked sources") for label in labels)
    assert any(label.endswith("· more than $7.6 m") for label in labels)
    # The map draws its countries from the outlines inside the page.
    wait_for(lambda: css(browser, "#chart-map .choroplethlocation, #chart-map .choroplethlayer path"),
             what="the map's countries")
    wait_for(lambda: css(browser, "#chart-timeline .bars path, #chart-timeline .point path"), what="the timeline")

    # Hover, then click, the Baguirov flow: its one transfer and its three sources are listed.
    target = None
    for link in css(browser, ".sankey .sankey-link"):
        dispatch(browser, link, ("mouseover", "mousemove"))
        if panel_title(browser).startswith("Laundromat shell companies (unnamed) → Adil Baguirov"):
            target = link
            break
        dispatch(browser, link, ("mouseout",))
    assert target is not None, "no link lists the Baguirov transfer"
    # Hovering elsewhere changes the list; clicking the flow brings it back.
    dispatch(browser, css(browser, ".sankey .sankey-link")[0], ("mouseover", "mousemove"))
    assert not panel_title(browser).startswith("Laundromat shell companies (unnamed) → Adil Baguirov")
    dispatch(browser, target, ("mousedown", "mouseup", "click"))
    text = panel_text(browser)
    assert text.startswith("Laundromat shell companies (unnamed) → Adil Baguirov: $253,150")
    assert "$253,150 · 2013/2014 · Laundromat shell companies (unnamed) → Adil Baguirov" in text
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('#transfers-panel a')).map(a => "
        "[a.getAttribute('href'), a.target, a.rel, a.textContent])")
    assert [l[0] for l in links] == BAGUIROV_SOURCES
    assert all(l[1] == "_blank" and "noopener" in l[2] for l in links)
    assert links[1][3] == "The California Courier (H. Sassounian)"

    # Nothing was asked of any host: every request was for a file (the page, plotly.min.js) or in-page data.
    requested = collect_requests(browser)
    assert any(u.endswith("/plotly.min.js") and u.startswith("file://") for u in requested)
    assert hosts_asked(browser) == []
    assert severe(browser) == []

    # A phone: the chart keeps the first and last level, and nothing is wider than the screen.
    viewport(browser, 390)
    browser.get((package / "index.html").as_uri())
    wait_for(lambda: css(browser, ".sankey .node-label"), what="the phone's Sankey")
    assert browser.execute_script("return window.innerWidth") == 390
    wait_for(lambda: browser.execute_script("return document.documentElement.scrollWidth") <= 390,
             what="the page within 390 px")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    assert not any(label.startswith("Inside ") for label in node_labels(browser))
    chart = browser.execute_script("return document.getElementById('chart-flows').getBoundingClientRect().right")
    assert chart <= 390
    assert hosts_asked(browser) == []


def test_the_embed_takes_the_height_of_its_content(package, browser):  # noqa: F811
    offline(browser)
    host = package / "story-host.html"
    host.write_text("<!doctype html><html><body><p>A story.</p>" + publish.embed_snippet(
        publish.resolve_view("")) + "<p>More story.</p></body></html>", encoding="utf-8")
    browser.get(host.as_uri())
    frame = css(browser, "iframe")[0]
    wait_for(lambda: int(frame.size["height"]) > 1000, what="the iframe grown to its content")
    browser.switch_to.frame(frame)
    wait_for(lambda: css(browser, ".sankey .node-label"), what="the embedded chart")
    content = browser.execute_script("return document.documentElement.scrollHeight")
    assert not css(browser, "#edit-form")
    browser.switch_to.default_content()
    wait_for(lambda: abs(int(frame.size["height"]) - content) <= 2, what="the iframe's height = its content's")


# --- hostile text ---------------------------------------------------------------------------------------------------

SCRIPT_NAME = "<script>window.__published_xss = 'payer'</script>"
IMG_NAME = "<img src=x onerror=\"window.__published_xss = 'recipient'\">"
NOTE = "</script><script>window.__published_xss = 'note'</script><b>bold?</b>"
LINK_NAME = "<a href=\"javascript:window.__published_xss = 'label'\">click</a>"
BAD_SOURCES = ("javascript:window.__published_xss='source' | data:text/html,<script>alert('data')</script> | "
               "https://ok.example/story\"onmouseover=\"window.__published_xss='attr'")
PUBLISHERS = "<img src=x onerror=alert('pub')> | Safe Outlet | <script>alert('pub2')</script>"


@pytest.fixture
def hostile_package(tmp_path, monkeypatch):
    root = tmp_path / "ledgers"
    write_lookups(root)
    write_csv(root / "hostile.csv", [
        row(id="hostile", payer=SCRIPT_NAME, recipient=IMG_NAME, notes=NOTE, purpose=NOTE, amount="5000"),
        row(id="hostile-2", payer=LINK_NAME, recipient=SCRIPT_NAME, amount="3000", status_note=NOTE)])
    # The ETL refuses non-http sources, so they are planted in the dataset: the page must not rely on the ETL.
    out = build_with_planted_columns(root, tmp_path / "build", sources=BAD_SOURCES, source_publisher=PUBLISHERS)
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(out))
    story = tmp_path / "story"
    assert publish.main(["?view=all", "-o", str(story), "--title", SCRIPT_NAME, "--dek", IMG_NAME,
                         "--credit", NOTE]) == 0
    return story


def test_hostile_names_notes_and_sources_stay_text_in_the_published_page(hostile_package, browser):  # noqa: F811
    offline(browser)
    for page in ("index.html", "embed.html"):
        browser.get((hostile_package / page).as_uri())
        wait_for(lambda: css(browser, ".sankey .sankey-link"), what="the hostile Sankey")
        for element in css(browser, ".sankey .sankey-link") + css(browser, ".sankey .node-rect"):
            dispatch(browser, element, ("mouseover", "mousemove", "mousedown", "mouseup", "click"))
        # The panel lists the hostile transfer, as typed.
        assert "<img src=x onerror" in panel_text(browser) or "<script>" in panel_text(browser)
        state = browser.execute_script(
            "return [window.__published_xss === undefined, document.querySelectorAll('img').length,"
            " document.querySelectorAll('iframe').length, document.scripts.length,"
            " Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))"
            "   .filter(h => !/^https?:/i.test(h || '')),"
            " Array.from(document.querySelectorAll('[onerror], [onmouseover], [onclick]')).length,"
            " document.querySelector('h1').textContent, document.body.innerText]")
        ran, images, frames, scripts, odd_links, handlers, title, body = state
        assert ran, "a script from the data ran"
        assert (images, frames, scripts, odd_links, handlers) == (0, 0, 3, [], 0)
        assert title == SCRIPT_NAME
        assert NOTE in body and LINK_NAME in body and "javascript:window.__published_xss='source'" in body
        assert no_alert(browser)
        assert hosts_asked(browser) == []
        # The only link from the hostile sources is the http(s) one, whole, in its attribute.
        hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a')).map(a => a.href)")
        assert set(hrefs) == {"https://ok.example/story%22onmouseover=%22window.__published_xss='attr'"}
    assert severe(browser) == []


def test_the_publish_button_downloads_the_package_of_the_view_on_screen(dash_duo, example_build, tmp_path):
    from dashboard.app import app

    dash_duo.start_server(app)
    dash_duo.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    query = "?recipient_country=US"
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/{query}")
    dash_duo.wait_for_element("#sankey .sankey .node-label", timeout=20)
    dash_duo.find_element("#publish-button").click()
    target = tmp_path / "influence-ledger-story.zip"
    wait_for(lambda: target.exists() and target.stat().st_size > 1_000_000
             and not list(tmp_path.glob("*.crdownload")), what="the package's zip")
    # This browser is on the server's machine (it may see every row): the same package as the command line's.
    expected = publish.package_files(query, ("flows",))
    assert target.read_bytes() == publish.zip_bytes(expected, data.load().report["built_at"])
    assert [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"] == []
