"""Benchmark: build a SYNTHETIC ledger of N rows and compare with a bare pandas.read_csv of the same file.

Each measurement runs in its own fresh process so its peak memory is its own. Prints the bare read seconds,
build seconds (load, validate, normalise), write seconds, the build/read ratio, rows/s and peak memory.
Run: python benchmarks/etl_build.py --rows 1000000
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

STEP = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, {project!r})
from benchmarks import peak_memory_mb
import pandas as pd
from etl.emit import write_outputs
from etl.pipeline import build
folder = Path({folder!r})
extra = {{}}
started = time.perf_counter()
if {step!r} == "read":
    pd.read_csv(folder / "synthetic.csv", dtype="str", keep_default_na=False)
    seconds = time.perf_counter() - started
else:
    result = build(folder)
    seconds = time.perf_counter() - started
    write_outputs(result, folder.parent / "build")
    extra = {{"write": time.perf_counter() - started - seconds, "errors": len(result.errors),
              "warnings": len(result.warnings)}}
print(json.dumps({{"seconds": seconds, "peak_mb": peak_memory_mb(), **extra}}))
"""


def run_step(step: str, folder: Path) -> dict:
    from benchmarks import run_in_fresh_process

    return run_in_fresh_process(STEP.format(project=str(PROJECT), folder=str(folder), step=step))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from benchmarks.synthetic_ledger import write_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ledgers"
        started = time.perf_counter()
        path = write_synthetic(folder, args.rows, args.seed)
        print(f"generated SYNTHETIC ledger: {args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB "
              f"in {time.perf_counter() - started:.1f} s")
        bare = run_step("read", folder)
        built = run_step("build", folder)
        print(f"bare pandas.read_csv: {bare['seconds']:.2f} s, peak memory {bare['peak_mb']:,.0f} MB")
        print(f"build (load, validate, normalise): {built['seconds']:.2f} s -> "
              f"{built['seconds'] / bare['seconds']:.2f}x the bare read, {args.rows / built['seconds']:,.0f} rows/s")
        print(f"write (parquet, arrow, csv, report): {built['write']:.2f} s")
        print(f"issues: {built['errors']:,} errors (about 1% bad rows on purpose), {built['warnings']:,} warnings")
        print(f"peak memory of the build process (RSS): {built['peak_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
