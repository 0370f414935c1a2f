"""Benchmark: build a SYNTHETIC ledger of N rows and compare with a bare pandas.read_csv of the same file.

Prints read seconds, build seconds (load + validate + normalise), write seconds, the build/read ratio, rows/s and
the process's peak memory. Run: python benchmarks/etl_build.py --rows 1000000
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from benchmarks.synthetic_ledger import write_synthetic  # noqa: E402
from etl.emit import write_outputs  # noqa: E402
from etl.pipeline import build  # noqa: E402


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ledgers"
        started = time.perf_counter()
        path = write_synthetic(folder, args.rows, args.seed)
        print(f"generated SYNTHETIC ledger: {args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB "
              f"in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        bare = pd.read_csv(path, dtype="str", keep_default_na=False)
        read_seconds = time.perf_counter() - started
        del bare

        started = time.perf_counter()
        result = build(folder)
        build_seconds = time.perf_counter() - started
        started = time.perf_counter()
        write_outputs(result, Path(tmp) / "build")
        write_seconds = time.perf_counter() - started
        print(f"bare pandas.read_csv: {read_seconds:.2f} s")
        print(f"build (load, validate, normalise): {build_seconds:.2f} s "
              f"-> ratio {build_seconds / read_seconds:.2f}x the bare read, {args.rows / build_seconds:,.0f} rows/s")
        print(f"write (parquet, csv, report): {write_seconds:.2f} s")
        print(f"issues: {len(result.errors):,} errors (about 1% bad rows on purpose), "
              f"{len(result.warnings):,} warnings")
        print(f"peak memory (process RSS): {peak_memory_mb():,.0f} MB")


if __name__ == "__main__":
    main()
