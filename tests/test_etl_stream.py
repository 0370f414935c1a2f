"""The streamed build's own rules: issues counted beyond the listing limit, large files read in parts that fall
back to the whole-file reader on a broken row, and a killed build's working folder removed by the next build."""
import json
import os
import subprocess
import sys

import etl.stream
from etl.__main__ import main
from etl.builds import current_build
from etl.load import read_ledger, read_ledger_parts
from etl.pipeline import build
from ledger_factory import ledger_folder, row, write_csv


def test_issues_beyond_the_limit_per_kind_are_counted_not_listed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(etl.stream, "MAX_LISTED_PER_KIND", 2)
    undated = [row(id=f"r{i}", currency="EUR", date="n.d.", date_note="not given") for i in range(6)]
    root = ledger_folder(tmp_path, undated)
    out = tmp_path / "build"
    assert main(["build", "--ledgers", str(root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((current_build(out) / "report.json").read_text())
    [kind] = [k for k in report["warnings_by_kind"] if k["code"] == "fx_undated"]
    assert kind["count"] == 6
    assert [w["row"] for w in report["warnings"] if w["code"] == "fx_undated"] == [2, 3]
    assert report["warnings_not_listed"] == 4
    text = (current_build(out) / "report.txt").read_text()
    assert "Warnings: 6" in text and "4 of them are counted above but not listed" in text
    assert "warning fx_undated × 6" in printed and "6 warning(s) (4 counted above but not listed)" in printed


def test_a_large_csv_is_read_in_parts_with_the_same_rows_and_issues(tmp_path):
    rows = [row(id=f"r{i}", amount=str(1000 + i)) for i in range(20)] + [row(id="blank", amount="")]
    root = ledger_folder(tmp_path, rows)
    path = root / "test.csv"
    whole = read_ledger(path, root)
    parts = list(read_ledger_parts(path, root, chunk_rows=6, stream_bytes=0))
    assert len(parts) > 3
    frames = [p.frame for p in parts]
    import pandas as pd

    combined = pd.concat(frames, ignore_index=True)
    assert combined.equals(whole.frame)
    assert sorted(i for p in parts for i in p.issues) == sorted(whole.issues)


def test_a_broken_row_late_in_a_large_csv_falls_back_to_the_whole_file_reader(tmp_path):
    root = ledger_folder(tmp_path, [row(id=f"r{i}") for i in range(30)])
    path = root / "test.csv"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("r99,2013,,1000,USD,payment,A,GB,,B,IT,,,reported,,https://example.org/x,,,,,,extra,cells\n")
    whole = read_ledger(path, root)
    parts = list(read_ledger_parts(path, root, chunk_rows=8, stream_bytes=0))
    import pandas as pd

    assert pd.concat([p.frame for p in parts], ignore_index=True).equals(whole.frame)
    assert sorted(i for p in parts for i in p.issues) == sorted(whole.issues)
    assert any(i.code == "ragged_row" for p in parts for i in p.issues)
    streamed = build(root, part_rows=8, stream_bytes=0)
    assert sorted(streamed.issues, key=str) == sorted(build(root).issues, key=str)


def test_the_next_build_removes_a_killed_builds_working_folder(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    left = tmp_path / f"{etl.stream.WORK_PREFIX}{dead}-abc"
    left.mkdir()
    (left / "parts.parquet").write_bytes(b"half")
    live = tmp_path / f"{etl.stream.WORK_PREFIX}{os.getpid()}-def"
    live.mkdir()
    build(ledger_folder(tmp_path / "l", [row()]), work_dir=tmp_path)
    assert not left.exists() and live.exists()
