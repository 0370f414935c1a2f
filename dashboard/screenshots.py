"""python -m dashboard.screenshots [--out DIR]: regenerate README's screenshots of the shipped example.

Builds the shipped ledgers into a temporary folder, serves the dashboard on a free loopback port and photographs
pages with Debian's headless Chromium (chromium + chromium-driver). Run it by hand after a visible change; the test
suite never writes tracked files.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (file name, page path and query, window width, window height, element to wait for, element to scroll to the top)
SHOTS = (
    ("flows-screenshot.png", "/", 1366, 1300, "#sankey .main-svg", "#flow-left-out"),
    ("phone-screenshot.png", "/", 390, 844, "#sankey .main-svg", None),
    ("explore-screenshot.png", "/explore", 1366, 1250, "#map .choroplethlocation", "#explore-focus"),
    ("entity-screenshot.png", "/entity?name=Elkhan%20Suleymanov", 1366, 1000, "#entity-grid .ag-row", ".page"),
    ("table-screenshot.png", "/?view=all", 1366, 900, "#flows-grid .ag-row", "#flows-pager-text"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def browser(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--disable-background-networking", "--no-first-run", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_window_size(width, height)
    return driver


def wait_for(driver, selector: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.find_elements("css selector", selector):
            time.sleep(1.5)  # let a chart finish its transition
            return
        time.sleep(0.3)
    raise SystemExit(f"{selector} did not render within {timeout:.0f} s")


# A published story package (dashboard/publish.py) of the US recipients, with the Baguirov flow clicked.
PUBLISHED_SHOT = ("published-screenshot.png", "?recipient_country=US", 1200, 1500)
PUBLISHED_TITLE = "Documented transfers to recipients in the United States"
BAGUIROV_LINK = "Laundromat shell companies (unnamed) → Adil Baguirov"


def published_page(out: Path, build: Path) -> Path:
    """Publish the shot's view from the build, open its index.html from the file, click the Baguirov flow and
    photograph the top of the page: the title, the chart and the transfers it lists with their sources."""
    from . import publish

    os.environ["INFLUENCE_LEDGER_BUILD_DIR"] = str(build)
    name, query, width, height = PUBLISHED_SHOT
    folder = Path(tempfile.mkdtemp(prefix="influence-ledger-published-"))
    publish.write_package(publish.package_files(query, ("flows",), publish.StoryText(title=PUBLISHED_TITLE)), folder)
    driver = browser(width, height)
    try:
        driver.get((folder / "index.html").as_uri())
        wait_for(driver, "#chart-flows")
        clicked = driver.execute_script("""
            var links = document.querySelectorAll('#chart-flows .sankey-link');
            for (var i = 0; i < links.length; i++) {
              var r = links[i].getBoundingClientRect();
              ['mouseover', 'mousemove', 'mousedown', 'mouseup', 'click'].forEach(function (type) {
                links[i].dispatchEvent(new MouseEvent(type, {bubbles: true, clientX: r.x + r.width / 2,
                                                             clientY: r.y + r.height / 2}));
              });
              var h = document.querySelector('#transfers-panel h3');
              if (h && h.textContent.indexOf(arguments[0]) === 0) {
                links[i].dispatchEvent(new MouseEvent('mouseout', {bubbles: true}));
                return true;
              }
            }
            return false;""", BAGUIROV_LINK)
        if not clicked:
            raise SystemExit("the Baguirov flow was not found on the published chart")
        driver.execute_script("document.querySelectorAll('.hoverlayer > *').forEach(function (e) { e.remove(); });"
                              "window.scrollTo(0, 0);")
        time.sleep(0.5)
        target = out / name
        driver.save_screenshot(str(target))
        print(f"wrote {target}")
        return target
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "assets")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from etl.pipeline import run_build

    build = Path(tempfile.mkdtemp(prefix="influence-ledger-screenshots-"))
    run_build(build_dir=build)
    port = free_port()
    env = {**os.environ, "INFLUENCE_LEDGER_BUILD_DIR": str(build)}
    server = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(4)
        for name, path, width, height, selector, top in SHOTS:
            driver = browser(width, height)
            try:
                driver.get(f"http://127.0.0.1:{port}{path}")
                wait_for(driver, selector)
                if top:
                    driver.execute_script("document.querySelector(arguments[0]).scrollIntoView()", top)
                time.sleep(0.5)
                target = args.out / name
                if not driver.save_screenshot(str(target)):
                    raise SystemExit(f"could not write {target}")
                print(f"wrote {target}")
            finally:
                driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=10)
    published_page(args.out, build)
    return 0


if __name__ == "__main__":
    sys.exit(main())
