"""Benchmark: part_of / same_as link checks (missing targets, self-links, loops) on SYNTHETIC chains of N rows.

Three shapes, each the worst of its kind for a round-by-round check: one part_of chain N rows long, the same chain
ending in a loop, and a chain whose links alternate part_of and same_as. Prints seconds, rows/s and the issues
found per shape; a linear check takes about the same rows/s at every N.
Run: python -m benchmarks.link_checks --rows 250000
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from etl.schema import LEDGER_COLUMNS, ROW_FILE, ROW_NUMBER  # noqa: E402
from etl.validate import link_issues  # noqa: E402


def chain(rows: int, shape: str) -> pd.DataFrame:
    """Synthetic rows c0 → c1 → … → c(N-1): 'loop' points the last back at the middle, 'mixed' alternates the
    link columns."""
    raw = pd.DataFrame({c: pd.Series([""] * rows, dtype="str") for c in LEDGER_COLUMNS})
    raw["id"] = pd.Series([f"c{k}" for k in range(rows)], dtype="str")
    targets = pd.Series([f"c{k + 1}" for k in range(rows - 1)] + [f"c{rows // 2}" if shape == "loop" else ""],
                        dtype="str")
    if shape == "mixed":
        odd = pd.Series(np.arange(rows) % 2 == 1)
        raw["part_of"] = targets.where(~odd, "")
        raw["same_as"] = targets.where(odd, "")
    else:
        raw["part_of"] = targets
    raw[ROW_FILE] = "synthetic.csv"
    raw[ROW_NUMBER] = np.arange(2, rows + 2)
    return raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000)
    args = parser.parse_args(argv)
    for shape in ("chain", "loop", "mixed"):
        raw = chain(args.rows, shape)
        started = time.perf_counter()
        issues = link_issues(raw, raw["id"])
        seconds = time.perf_counter() - started
        print(f"{shape:>5}: {args.rows:,} rows in {seconds:.3f} s = {args.rows / seconds:,.0f} rows/s, "
              f"{len(issues):,} issue(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
