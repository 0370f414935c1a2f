"""First-visit benchmark: bytes over the wire and time to the first Sankey, compressed against uncompressed.

Each measurement is a whole process of its own: it starts the dashboard under gunicorn on 127.0.0.1 (compression on,
or off with INFLUENCE_LEDGER_COMPRESS=0), starts headless Chromium with an empty profile (nothing cached), opens
the flows page and records
- bytes over the wire: the sum of encodedDataLength of every Network.loadingFinished event in the DevTools
  performance log (headers included), once the page is quiet;
- time to first Sankey: from navigation start (performance.timeOrigin) to the moment a MutationObserver, installed
  before the page's own scripts, first sees `#sankey .sankey .sankey-node`.
Measurements run interleaved in pairs (A B A B …) so that the shared machine's drift hits both sides alike, and are
printed as medians, min–max and the per-pair ratio. `--network` adds DevTools throttling to stand in for a
reporter's connection; the default is plain loopback. `--server warm` (the default) lets one visitor and a few
bundle fetches come first, so the server holds its compressed bundles, as one that has been up a while does;
`--server cold` measures the very first visit after a start. The dataset is the shipped example (the visit's bytes are
the JavaScript bundles, whatever the rows).
Run: python benchmarks/first_visit.py --pairs 3 [--network loopback|fast|slow] [--server warm|cold]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

MAX_PAIRS = 20
SANKEY = "#sankey .sankey .sankey-node"
# DevTools throttling profiles (bytes per second, round-trip latency in ms); None is plain loopback.
NETWORKS = {"loopback": None, "fast": (50_000_000 / 8, 20), "slow": (10_000_000 / 8, 40)}
MODES = ("compressed", "uncompressed")
WARM_UP_FETCHES = 8
# Recorded before any page script runs, so the Sankey's first node is seen the moment it is inserted.
OBSERVER = """
(function () {
  function seen() {
    if (window.__sankeyAt === undefined && document.querySelector(%s)) { window.__sankeyAt = performance.now(); }
  }
  new MutationObserver(seen).observe(document, {childList: true, subtree: true});
})();
""" % json.dumps(SANKEY)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(build: Path, compressed: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "INFLUENCE_LEDGER_BUILD_DIR": str(build), "INFLUENCE_LEDGER_COMPRESS": "1" if compressed
           else "0"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "dashboard.app:server", "--workers", "2",
                               "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--log-level", "warning"],
                              cwd=PROJECT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/_dash-layout", timeout=5):
                return server, base
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("the dashboard did not start within 120 s")


def start_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-first-visit-')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
    return webdriver.Chrome(options=options)


def warm_up(base: str, timeout: float = 120.0) -> int:
    """Visit once and fetch every bundle again several times, so both workers hold their compressed copies (as on
    a server that has been up for a while); returns the number of bundle URLs."""
    driver = start_browser()
    try:
        driver.get(base + "/")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not driver.find_elements("css selector", SANKEY):
            time.sleep(0.1)
        time.sleep(1.0)
        urls = {json.loads(e["message"])["message"]["params"]["request"]["url"]
                for e in driver.get_log("performance")
                if json.loads(e["message"])["message"]["method"] == "Network.requestWillBeSent"}
    finally:
        driver.quit()
    bundles = sorted(u for u in urls if "/_dash-component-suites/" in u)
    for _ in range(WARM_UP_FETCHES):  # gunicorn hands each new connection to either worker
        for url in bundles:
            request = urllib.request.Request(url, headers={"Accept-Encoding": "br, gzip"})
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
    return len(bundles)


def measure_once(build: Path, compressed: bool, network: str, warm: bool, timeout: float = 120.0) -> dict:
    """One first visit of a browser with nothing cached, to a server started in this process (cold, or warmed by
    an earlier visitor)."""
    server, base = start_server(build, compressed)
    try:
        if warm:
            warm_up(base)
        driver = start_browser()
    except BaseException:
        server.kill()
        raise
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        if NETWORKS[network]:
            throughput, latency = NETWORKS[network]
            driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
                "offline": False, "latency": latency, "downloadThroughput": throughput,
                "uploadThroughput": throughput})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER})
        driver.get(base + "/")
        deadline = time.monotonic() + timeout
        sankey_ms = None
        while time.monotonic() < deadline and sankey_ms is None:
            sankey_ms = driver.execute_script("return window.__sankeyAt === undefined ? null : window.__sankeyAt")
            time.sleep(0.05)
        if sankey_ms is None:
            raise SystemExit(f"no Sankey within {timeout:.0f} s")
        # Let the page finish what it loads after the Sankey (table, lazy chunks) before adding up the bytes.
        total, requests, encodings, quiet_since = 0, 0, {}, time.monotonic()
        while time.monotonic() - quiet_since < 2.0 and time.monotonic() < deadline:
            entries = driver.get_log("performance")
            for entry in entries:
                message = json.loads(entry["message"])["message"]
                if message["method"] == "Network.loadingFinished":
                    total += int(message["params"]["encodedDataLength"])
                    requests += 1
                elif message["method"] == "Network.responseReceived":
                    headers = {k.lower(): v for k, v in message["params"]["response"]["headers"].items()}
                    encoding = headers.get("content-encoding", "identity")
                    encodings[encoding] = encodings.get(encoding, 0) + 1
            if entries:
                quiet_since = time.monotonic()
            time.sleep(0.25)
        return {"mode": "compressed" if compressed else "uncompressed", "bytes": total, "requests": requests,
                "sankey_ms": float(sankey_ms), "encodings": encodings}
    finally:
        driver.quit()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def spread(values: list[float], unit: str, scale: float = 1.0, digits: int = 0) -> str:
    shown = [v / scale for v in values]
    return (f"median {statistics.median(shown):,.{digits}f} {unit} "
            f"(min–max {min(shown):,.{digits}f}–{max(shown):,.{digits}f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--network", choices=sorted(NETWORKS), default="loopback")
    parser.add_argument("--server", choices=("cold", "warm"), default="warm",
                        help="cold: the visit is the server's first; warm: another visitor came first (default)")
    parser.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)  # a single measurement, as a child
    parser.add_argument("--build", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        print(json.dumps(measure_once(Path(args.build), args.one == "compressed", args.network,
                                      args.server == "warm")))
        return

    from etl.pipeline import run_build
    from etl.schema import LEDGER_DIR

    build = Path(tempfile.mkdtemp(prefix="influence-ledger-first-visit-")) / "build"
    run_build(LEDGER_DIR, build)
    pairs = min(max(args.pairs, 1), MAX_PAIRS)
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    print(f"first visit of / on the shipped example, gunicorn 2 workers on 127.0.0.1 ({args.server} server), "
          f"network {args.network}, {pairs} pairs (A = compressed, B = uncompressed, run A B A B …, one process each)")
    for pair in range(1, pairs + 1):
        for mode in MODES:
            done = subprocess.run([sys.executable, __file__, "--one", mode, "--build", str(build), "--network",
                                   args.network, "--server", args.server], cwd=PROJECT, capture_output=True,
                                  text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{mode} run {pair} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results[mode].append(result)
            print(f"  pair {pair} {mode:>12}: {result['bytes'] / 1e6:6.2f} MB in {result['requests']} responses "
                  f"({', '.join(f'{k} {v}' for k, v in sorted(result['encodings'].items()))}), "
                  f"first Sankey {result['sankey_ms']:,.0f} ms")
    for mode in MODES:
        print(f"{mode:>12}: bytes {spread([r['bytes'] for r in results[mode]], 'MB', 1e6, 2)}; "
              f"first Sankey {spread([r['sankey_ms'] for r in results[mode]], 'ms')}")
    byte_ratios = [b["bytes"] / a["bytes"] for a, b in zip(results["compressed"], results["uncompressed"])]
    time_ratios = [b["sankey_ms"] / a["sankey_ms"] for a, b in zip(results["compressed"], results["uncompressed"])]
    print("per pair, uncompressed ÷ compressed: bytes " + ", ".join(f"{r:.2f}×" for r in byte_ratios)
          + "; first Sankey " + ", ".join(f"{r:.2f}×" for r in time_ratios))


if __name__ == "__main__":
    main()
