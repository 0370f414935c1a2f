"""Benchmark: build a SYNTHETIC ledger of N rows and compare with a bare pandas.read_csv of the same file.

Each measurement runs in its own fresh process so its peak memory is its own, and the bare read and the build
run interleaved (read, build, read, build, …) for several pairs. Prints medians with min–max of the bare read,
the build (load, validate, normalise) and the write, each pair's build/read ratio, rows/s and peak memory.
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
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    from benchmarks import interleaved_pairs, print_pairs, spread
    from benchmarks.synthetic_ledger import write_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ledgers"
        started = time.perf_counter()
        path = write_synthetic(folder, args.rows, args.seed)
        print(f"generated SYNTHETIC ledger: {args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB "
              f"in {time.perf_counter() - started:.1f} s")
        pairs = interleaved_pairs(args.pairs, lambda: run_step("read", folder), lambda: run_step("build", folder))
        last = pairs[-1][1]
        print_pairs(pairs, "build (load, validate, normalise)", args.rows)
        print(f"  write (parquet, arrow, csv, report): {spread([b['write'] for _, b in pairs])} s")
        print(f"  issues: {last['errors']:,} errors (about 1% bad rows on purpose), {last['warnings']:,} warnings")
        print(f"  peak memory of the build process (RSS): {max(b['peak_mb'] for _, b in pairs):,.0f} MB")


if __name__ == "__main__":
    main()
