"""The callback benchmark runs end to end on the shipped example and its floor computes the dashboard's sums.

No assertion on time: only that the summary has its fields and that the numbers it compares are the same.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
CALLBACKS = ("sync_url", "nav_hrefs", "filter_panel_state", "update_flows", "update_explore",
             "flows page, all its callbacks")


def test_the_callback_benchmark_prints_its_figures_and_its_floor_sums_what_the_dashboard_sums(example_build,
                                                                                            tmp_path):
    from dashboard import views

    # Its temporary folder goes under tmp_path, to see that nothing is left there.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done = subprocess.run([sys.executable, "benchmarks/dashboard_callbacks.py", "--rows", "0", "--pairs", "1",
                           "--queries", "5"], cwd=PROJECT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"machine load at start \(1, 5, 15 min\): [\d.]+, [\d.]+, [\d.]+ on \d+ cores", out)
    assert re.search(r"machine load at end \(1, 5, 15 min\): [\d.]+, [\d.]+, [\d.]+", out)
    assert "dataset: the shipped example (ledgers/)" in out and "73 rows (ledgers:" in out and "SYNTHETIC" not in out
    assert "1 interleaved pairs (floor, callbacks)" in out and "5 random filter sets" in out
    assert re.search(r"pair 1: floor p95 [\d,.]+ \(median [\d,.]+\)", out)
    for name in CALLBACKS:
        assert re.search(rf"{re.escape(name)} +p95 +[\d,.]+ \(median +[\d,.]+\) +÷ floor p95 +[\d.e+-]+x", out), name
        assert re.search(rf"{re.escape(name)} +p95 [\d,.]+ \([\d,.]+–[\d,.]+\); ÷ floor p95 [\d.e+-]+x", out), name
    assert re.search(r"floor p95 [\d,.]+ \([\d,.]+–[\d,.]+\); landing view cold .* [\d,.]+ \(.*\), warm [\d,.]+", out)
    for name in ("update_flows", "update_explore"):
        assert re.search(rf"{name} +cold [\d,.]+ \([\d,.]+–[\d,.]+\), warm [\d,.]+ \([\d,.]+–[\d,.]+\)", out), name
    assert re.search(r"peak memory \(VmHWM\) per pair: callbacks worker [\d,]+ MB; floor worker [\d,]+ MB", out)
    assert "link sums equal to the Sankey's: landing view yes; filter sets 5 of 5" in out

    # The floor's sums for the unfiltered view, beside the Sankey's, as printed …
    line = re.search(r"landing view link sums \(USD\), floor .*?: (.*)", out).group(1)
    sums = {pair: (float(floor), float(sankey))
            for pair, floor, sankey in re.findall(r"(\w+>\w+) ([\d.]+) \| ([\d.]+)", line)}
    assert set(sums) == {"tree>payer", "payer>recipient"}
    for floor, sankey in sums.values():
        assert abs(floor - sankey) < 0.01
    # … and what the dashboard itself reports for that view: every dollar counted once ("Each dollar is counted
    # once: … in 64 transfers"), and the part of it inside larger transfers.
    rows, _, _ = views.rows_with_left_out("")
    assert abs(sums["payer>recipient"][0] - views.total_usd(rows)) < 0.01
    in_trees = float(rows.loc[rows["tree_label"].notna().to_numpy(), "value_usd"].sum())
    assert abs(sums["tree>payer"][0] - in_trees) < 0.01
    assert sums["payer>recipient"][0] > 1_000_000  # the example's money, not an empty view
    # Its ledger copy, build and filter sets are gone.
    assert list(scratch.iterdir()) == []
