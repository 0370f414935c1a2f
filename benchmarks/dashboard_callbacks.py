"""Benchmark: the flows page's callbacks on a SYNTHETIC dataset of N rows, against a bare pandas groupby.

Builds a synthetic ledger through the real ETL, then times, for >= 20 random filter sets, every callback the
flows page fires on a filter change (URL sync; then its one callback: the filtering with the Sankey, note and flow
list, and the table page from the same rows) and a bare groupby of the same rows (the floor). Prints median and p95, the JSON payload sent to the browser, and peak memory.
Run: python benchmarks/dashboard_callbacks.py --rows 1000000
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import plotly.io as pio  # noqa: E402

from benchmarks import peak_memory_mb  # noqa: E402
from benchmarks.synthetic_ledger import write_synthetic  # noqa: E402
from etl.pipeline import run_build  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def random_queries(rng: np.random.Generator, count: int) -> list[str]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--filters", type=int, default=50)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # internal: time callbacks on this build
    args = parser.parse_args()
    if args.worker:
        time_callbacks(args.worker, args.filters)
        return
    tmp = Path(tempfile.mkdtemp(prefix="influence-ledger-bench-"))
    try:
        folder = tmp / "ledgers"
        write_synthetic(folder, args.rows, seed=3, bad_share=0.0)
        out = tmp / "build"
        started = time.perf_counter()
        # The real build, so the worker reads exactly what the dashboard reads (build/current/transfers.parquet).
        summary = run_build(folder, out).summary
        print(f"SYNTHETIC dataset: {summary.get('rows', args.rows):,} rows built in "
              f"{time.perf_counter() - started:.1f} s")
        # A fresh process plays one dashboard worker, so its peak memory is the worker's alone.
        subprocess.run([sys.executable, __file__, "--worker", str(out), "--filters", str(args.filters)], check=True)
    finally:
        # The SYNTHETIC ledger and its build (hundreds of MB at a million rows) are not kept.
        shutil.rmtree(tmp, ignore_errors=True)


def time_callbacks(out: Path, filters: int) -> None:
    os.environ["INFLUENCE_LEDGER_BUILD_DIR"] = str(out)

    from dashboard import data, table, views
    from dashboard.app import sync_url  # noqa: F401  (registers pages)
    import importlib
    flows = importlib.import_module("pages.flows")

    started = time.perf_counter()
    frame = data.load().chart
    print(f"dataset loaded and prepared in {time.perf_counter() - started:.1f} s")
    rng = np.random.default_rng(7)
    timings = {"sync_url": [], "filter + chart": [], "table page": [], "all callbacks": [], "floor": []}
    payloads = []
    # The unfiltered landing view first: it is what every visitor opens, and the largest.
    for query in ["", *random_queries(rng, filters - 1)]:
        t0 = time.perf_counter()
        from dashboard.filters import from_query
        from_query(query).to_query()  # what sync_url does besides returning values
        t1 = time.perf_counter()
        # As the flows page's one callback does: one filtering for the chart and the table page.
        filtered = views.rows_with_left_out(query)
        fig, note, focus, flow_list = flows.flows_outputs(query, filtered=filtered)
        t2 = time.perf_counter()
        rows, pager, *_ = table.table_values(filtered[0], filtered[1], "value_usd")
        t3 = time.perf_counter()
        timings["sync_url"].append(t1 - t0)
        timings["filter + chart"].append(t2 - t1)
        timings["table page"].append(t3 - t2)
        timings["all callbacks"].append(t3 - t0)
        selected, _ = views.rows_for(query)
        t4 = time.perf_counter()
        selected.groupby(["payer", "recipient"], observed=True)["value_usd"].sum()
        timings["floor"].append(time.perf_counter() - t4)
        payloads.append(len(pio.to_json(fig)) + len(json.dumps(rows)) + len(json.dumps(str(note)))
                        + len(json.dumps(str(flow_list))))
    print(f"the landing view and {filters - 1} random filter sets over {len(frame):,} rows:")
    for name, values in timings.items():
        print(f"  {name:14s} median {statistics.median(values) * 1000:7.1f} ms   p95 {percentile(values, 95) * 1000:7.1f} ms"
              f"   max {max(values) * 1000:7.1f} ms   landing view {values[0] * 1000:7.1f} ms")
    ratio = percentile(timings["all callbacks"], 95) / max(percentile(timings["floor"], 95), 1e-9)
    print(f"  p95 of all callbacks / p95 of the bare groupby floor: {ratio:.1f}x")
    print(f"JSON sent to the browser per filter change: median {statistics.median(payloads) / 1024:.0f} KB, "
          f"max {max(payloads) / 1024:.0f} KB")
    print(f"peak memory of the worker process (RSS): "
          f"{peak_memory_mb():,.0f} MB")


if __name__ == "__main__":
    main()
