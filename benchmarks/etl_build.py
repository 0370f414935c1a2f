"""Benchmark: build a SYNTHETIC ledger of N rows against three floors that only read the same CSV.

Floors: a bare `pandas.read_csv` (every cell as text), `pyarrow.csv.read_csv` (every column as text) and DuckDB
materialising every column of the file in a table (`CREATE TABLE … AS SELECT * FROM read_csv(…, all_varchar)`).
Each run is a fresh process (its peak memory, VmHWM, is its own); a round runs the three floors and the build one
after the other, and rounds repeat (A B C D A B C D …), so each round's ratios compare runs made under the same load.
The build is the whole `etl.pipeline.run_build` (read, validate, normalise, allocate, write Parquet and reports,
publish), with the benchmark's 1% of bad rows written all the same (allow_errors). Prints medians with min–max,
the ratio of the build to each floor per round, peak memory, and the sizes of build/ and of the CSV.

Run: python benchmarks/etl_build.py --rows 1000000 --pairs 3
     python benchmarks/etl_build.py --ledgers /work/bigdata/ledgers --pairs 1 --floors duckdb   (an existing
     SYNTHETIC ledger folder, e.g. 40 million rows made with `python -m benchmarks.synthetic_ledger`)
"""
from __future__ import annotations

import argparse
import statistics
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
folder, out, step = Path({folder!r}), Path({out!r}), {step!r}
csv = sorted(folder.glob("*.csv"))[0]
extra = {{}}
started = time.perf_counter()
if step == "pandas":
    import pandas as pd
    rows = len(pd.read_csv(csv, dtype="str", keep_default_na=False))
elif step == "pyarrow":
    import pyarrow.csv as pa_csv, pyarrow as pa
    from etl.schema import LEDGER_COLUMNS
    rows = pa_csv.read_csv(csv, convert_options=pa_csv.ConvertOptions(
        column_types={{c: pa.string() for c in LEDGER_COLUMNS}})).num_rows
elif step == "duckdb":
    import duckdb
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{{csv}}', all_varchar=true)")
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
else:
    from etl.pipeline import run_build
    result = run_build(folder, out, allow_errors=True)
    rows = result.rows
    extra = {{"errors": len(result.errors), "warnings": len(result.warnings),
              "not_listed": sum(result.left_out.values())}}
print(json.dumps({{"seconds": time.perf_counter() - started, "peak_mb": peak_memory_mb(), "rows": rows, **extra}}))
"""
FLOORS = ("pandas", "pyarrow", "duckdb")
LABELS = {"pandas": "bare pandas.read_csv", "pyarrow": "pyarrow.csv.read_csv", "duckdb": "DuckDB, every column"}


def run_step(step: str, folder: Path, out: Path) -> dict:
    from benchmarks import run_in_fresh_process

    return run_in_fresh_process(STEP.format(project=str(PROJECT), folder=str(folder), out=str(out), step=step))


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=3, help="rounds of (floors, build)")
    parser.add_argument("--ledgers", type=Path, help="an existing SYNTHETIC ledger folder instead of --rows")
    parser.add_argument("--floors", nargs="*", default=list(FLOORS), choices=FLOORS)
    parser.add_argument("--tmp", type=Path, default=None, help="where the generated ledger and build/ go")
    args = parser.parse_args()
    from benchmarks import spread
    from benchmarks.synthetic_ledger import write_synthetic

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        if args.ledgers:
            folder = args.ledgers
            csv = sorted(folder.glob("*.csv"))[0]
            print(f"SYNTHETIC ledger {csv}: {csv.stat().st_size / 1e6:,.0f} MB")
        else:
            folder = Path(tmp) / "ledgers"
            started = time.perf_counter()
            csv = write_synthetic(folder, args.rows, args.seed)
            print(f"generated SYNTHETIC ledger: {args.rows:,} rows, {csv.stat().st_size / 1e6:.1f} MB "
                  f"in {time.perf_counter() - started:.1f} s")
        out = Path(tmp) / "build"
        rounds = []
        for _ in range(args.pairs):
            rounds.append({step: run_step(step, folder, out) for step in (*args.floors, "build")})
        rows = rounds[-1]["build"]["rows"]
        print(f"{len(rounds)} interleaved round(s) ({', '.join(args.floors)}, build), each run a fresh process:")
        for step in (*args.floors, "build"):
            seconds = [r[step]["seconds"] for r in rounds]
            label = "build (whole run_build)" if step == "build" else LABELS[step]
            print(f"  {label}: {spread(seconds)} s, {rows / statistics.median(seconds):,.0f} rows/s, "
                  f"peak memory {max(r[step]['peak_mb'] for r in rounds):,.0f} MB")
        for floor in args.floors:
            ratios = [r["build"]["seconds"] / r[floor]["seconds"] for r in rounds]
            print(f"  build / {LABELS[floor]} per round: {', '.join(f'{x:.2f}x' for x in ratios)} "
                  f"(median {statistics.median(ratios):.2f}x)")
        last = rounds[-1]["build"]
        print(f"  issues: {last['errors']:,} errors listed, {last['warnings']:,} warnings listed, "
              f"{last['not_listed']:,} more counted but not listed")
        current = out / "current"
        print(f"  build/current: {folder_bytes(current.resolve()) / 1e6:,.1f} MB "
              f"({', '.join(sorted(p.name for p in current.iterdir()))}); source CSV {csv.stat().st_size / 1e6:,.1f} "
              f"MB; ratio {folder_bytes(current.resolve()) / csv.stat().st_size:.2f}")


if __name__ == "__main__":
    main()
