"""Load benchmark: the dashboard under gunicorn (2 workers, 127.0.0.1) on a SYNTHETIC 100,000-row dataset.

N simulated users (N = 1, 5, 20) change filters and download for --seconds each: every step posts the callback
the flows page fires on a filter change (Sankey, notes, flow list and table page) and, one step in ten, a CSV
download. Meanwhile the dataset
is rebuilt every --rebuild-every seconds (`python -m etl build` in its own process, a new SYNTHETIC generation each
time, so the internal rows move). A login is configured and the users are anonymous, so an error is a failed or
non-200 request, or a response holding an internal row. Prints requests/s, p50/p95/p99 latency, rebuilds and errors
per N. Loopback only; the user count and duration are bounded.
Run: python benchmarks/load.py --seconds 60
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
# The requests tests and benchmarks send as a browser would (tests/dash_requests.py).
sys.path.insert(0, str(PROJECT / "tests"))

from benchmarks.synthetic_ledger import write_synthetic  # noqa: E402

MAX_USERS = 50
MAX_SECONDS = 600
INTERNAL_MARKER = "internal-benchmark-row"


def random_queries(rng, count: int) -> list[str]:
    """The filter sets simulated users pick from (SYNTHETIC names and countries), as the callback benchmark drew
    them before it drew them from the build; kept as they were so this benchmark's figures stay comparable."""
    countries = ["GB", "AZ", "US", "DE", "IT", "HU", "VG", "FR", "BE", "RU"]
    queries = []
    for _ in range(count):
        parts = []
        if rng.random() < 0.6:
            start = int(rng.integers(2000, 2020))
            parts += [f"date_from={start}", f"date_to={start + int(rng.integers(0, 5))}"]
        if rng.random() < 0.5:
            parts.append(f"recipient_country={rng.choice(countries)}")
        if rng.random() < 0.4:
            parts.append(f"payer_country={rng.choice(countries)}")
        if rng.random() < 0.3:
            parts.append(f"entity=Synthetic Entity 00{int(rng.integers(10, 99))}")
        if rng.random() < 0.3:
            parts.append("confidence=reported&confidence=alleged")
        if rng.random() < 0.3:
            parts.append(f"min_usd={int(rng.integers(1, 500)) * 1000}")
        if rng.random() < 0.3:
            parts.append("levels=payer_country,recipient_country")
        queries.append("?" + "&".join(parts))
    return queries


def write_generation(folder: Path, rows: int, seed: int) -> None:
    """A SYNTHETIC ledger generation whose internal rows say so in their notes (to spot one in a response)."""
    import pandas as pd

    path = write_synthetic(folder, rows, seed=seed, bad_share=0.0)
    frame = pd.read_csv(path, dtype="str", keep_default_na=False)
    frame.loc[frame["visibility"] == "internal", "notes"] = INTERNAL_MARKER
    frame.to_csv(path, index=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dash_payload(kind: str, query: str) -> dict | str:
    """What a browser asks for: the flows page's one callback (Sankey, notes, flow list and the table page, from
    one filtering of the rows), or the table's CSV download."""
    from dash_requests import flows_page_payload

    if kind == "flows":
        return flows_page_payload(query)
    from dashboard.filters import from_query

    # The table's CSV download: a GET of the server's download route, its query encoded as the page's link has it.
    query = from_query(query).to_query()
    return f"/download/flows.csv{query}{'&' if query else '?'}{urlencode({'sort': 'value_usd'})}"


def post(base: str, payload: dict | str) -> tuple[float, bool, bool]:
    """(seconds, answered 200, response held an internal row) for a callback request (a payload) or a download (a
    path)."""
    request = urllib.request.Request(base + payload) if isinstance(payload, str) else urllib.request.Request(
        base + "/_dash-update-component", data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    leaked = False
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read().decode("utf-8-sig")
            ok = response.status == 200
        leaked = INTERNAL_MARKER in body
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        ok = False
    return time.perf_counter() - started, ok, leaked


def rebuild_loop(ledgers: Path, build: Path, rows: int, every: float, stop: threading.Event,
                 done: list[int]) -> None:
    """Rebuild the dataset every `every` seconds until stopped, each time a new generation."""
    generation = len(done)
    while not stop.wait(every):
        generation += 1
        write_generation(ledgers, rows, seed=11 + generation)
        subprocess.run([sys.executable, "-m", "etl", "build", "--ledgers", str(ledgers), "--out", str(build)],
                       cwd=PROJECT, check=True, stdout=subprocess.DEVNULL)
        done.append(generation)


def run_users(base: str, users: int, seconds: float, queries: list[str], rebuild=None) -> dict:
    latencies: list[float] = []
    failed = leaks = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def user(seed: int) -> None:
        nonlocal failed, leaks
        rng = random.Random(seed)
        while time.monotonic() < stop:
            query = rng.choice(queries)
            kinds = ["flows"] + (["download"] if rng.random() < 0.1 else [])
            for kind in kinds:
                elapsed, ok, leaked = post(base, dash_payload(kind, query))
                with lock:
                    latencies.append(elapsed)
                    failed += 0 if ok else 1
                    leaks += 1 if leaked else 0

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    rebuilds: list[int] = []
    stop_rebuilds = threading.Event()
    rebuilder = threading.Thread(target=rebuild_loop, args=(*rebuild, stop_rebuilds, rebuilds)) if rebuild else None
    started = time.perf_counter()
    if rebuilder:
        rebuilder.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop_rebuilds.set()
    if rebuilder:
        rebuilder.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000 if ordered else float("nan")

    return {"users": users, "requests": len(latencies), "rps": len(latencies) / wall, "p50": pct(0.50),
            "p95": pct(0.95), "p99": pct(0.99), "errors": failed + leaks, "failed": failed, "leaks": leaks,
            "rebuilds": len(rebuilds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--users", type=int, nargs="*", default=[1, 5, 20])
    parser.add_argument("--rebuild-every", type=float, default=10.0,
                        help="seconds between rebuilds during each level (0: no rebuilds)")
    args = parser.parse_args()
    seconds = min(args.seconds, MAX_SECONDS)
    users = [min(max(u, 1), MAX_USERS) for u in args.users]

    from werkzeug.security import generate_password_hash

    from etl.pipeline import run_build
    tmp = Path(tempfile.mkdtemp(prefix="influence-ledger-load-"))
    write_generation(tmp / "ledgers", args.rows, seed=11)
    run_build(tmp / "ledgers", tmp / "build")
    # A login is configured and nobody signs in: no response may hold an internal row.
    users_file = tmp / "users.json"
    users_file.write_text(json.dumps({"editor": generate_password_hash(os.urandom(16).hex())}), encoding="utf-8")
    port = free_port()
    env = {**os.environ, "INFLUENCE_LEDGER_BUILD_DIR": str(tmp / "build"), "INFLUENCE_LEDGER_USERS": str(users_file),
           "INFLUENCE_LEDGER_SECRET_KEY": os.urandom(32).hex()}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "dashboard.app:server", "--workers", "2",
                               "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--log-level", "warning"],
                              cwd=PROJECT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(base + "/", timeout=5):
                    break
            except OSError:
                time.sleep(0.5)
        queries = random_queries(__import__("numpy").random.default_rng(5), 40)
        for query in queries[:4]:  # warm both workers' dataset caches
            post(base, dash_payload("flows", query))
        rebuild = (tmp / "ledgers", tmp / "build", args.rows, args.rebuild_every) if args.rebuild_every > 0 else None
        print(f"gunicorn, 2 workers, SYNTHETIC dataset of {args.rows:,} rows (5 % internal), anonymous users, "
              f"{seconds:.0f} s per level, " + (f"rebuilt every {args.rebuild_every:g} s" if rebuild else
                                                "no rebuilds"))
        for count in users:
            result = run_users(base, count, seconds, queries, rebuild)
            print(f"  N={result['users']:>2}: {result['rps']:6.1f} requests/s  p50 {result['p50']:7.1f} ms  "
                  f"p95 {result['p95']:7.1f} ms  p99 {result['p99']:7.1f} ms  rebuilds {result['rebuilds']}  "
                  f"errors {result['errors']} of {result['requests']} ({result['failed']} failed, "
                  f"{result['leaks']} with internal rows)")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
