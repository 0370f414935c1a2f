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


# Files whose cells the two CSV parsers could read differently: quotes after and inside cells, line breaks of every
# kind inside quoted cells, a BOM, NULs, blank lines, spaces, a semicolon ledger; and files Arrow must leave to
# pandas' C parser (a short row, a line of spaces, a quote left open at the end, no final line break, a bad byte).
TRICKY_CSV = {
    "quotes": b'a,b,c\n"1,x",2,3\n"4""q",5,6\n"abc"def,ab"c, "abc"\n"abc" ,"",3"\n',
    "breaks_in_cells": b'a,b,c\r\n"x\r\ny",2,3\r\n"x\ny","p\rq",""\n1,2,"ab""\n"\n7,8,9\n',
    "break_in_last_cell": b'a,b,c\n1,2,3\n4,5,"6\n"\n',
    "bom_nul_unicode": b'\xef\xbb\xbfa,b,c\n1\x002,\xc3\xbc\xe2\x82\xac,\t\x0b\n',
    "blank_lines": b'a,b,c\n1,2,3\n\n,,\n4,5,6\n\n',
    "semicolons": b'a;b;c\n1;2,5;"x;y"\n',
    "short_row": b'a,b,c\n1,2,3\n1,2\n4,5,6\n',
    "line_of_spaces": b'a,b,c\n1,2,3\n   \n4,5,6\n',
    "open_quote_at_end": b'a,b,c\n1,2,3\n4,5,"6\n',
    "no_final_break": b'a,b,c\n1,2,3\n4,5,6',
    "bad_byte": b'a,b,c\n1,2,3\n\xff,5,6\n',
    "ragged": b'a,b,c\n1,2,3\n4,5,6,7\n',
}
ARROW_READS = {"quotes", "breaks_in_cells", "bom_nul_unicode", "blank_lines", "semicolons"}


def _chunks_or_error(read, path, delimiter, rows):
    try:
        return list(read(path, delimiter, rows))
    except Exception as exc:  # the error itself is what is compared
        return type(exc)


import pytest  # noqa: E402


@pytest.mark.parametrize("name", sorted(TRICKY_CSV))
def test_large_csvs_are_read_by_arrow_exactly_as_the_c_parser_reads_them(tmp_path, name):
    from etl import load

    path = tmp_path / f"{name}.csv"
    path.write_bytes(TRICKY_CSV[name])
    delimiter = ";" if name == "semicolons" else ","
    for rows in (1, 2, 3, 100):
        read = _chunks_or_error(load.record_chunks, path, delimiter, rows)
        expected = _chunks_or_error(load._pandas_chunks, path, delimiter, rows)
        if isinstance(expected, type):
            assert read is expected
            continue
        assert len(read) == len(expected)
        for got, want in zip(read, expected):
            assert got.equals(want) and list(got.dtypes) == list(want.dtypes)
            assert list(got.columns) == list(want.columns) and got.index.equals(want.index)
        arrow = _chunks_or_error(load._arrow_chunks, path, delimiter, rows)
        assert (not isinstance(arrow, type)) == (name in ARROW_READS)


def test_a_large_csv_left_to_the_c_parser_builds_as_the_whole_file_does(tmp_path, monkeypatch):
    # A short row late in the file: Arrow refuses it after some parts were given (small blocks), the C parser
    # reads on from the first part not given.
    from etl import load

    skipped = []
    pandas_chunks = load._pandas_chunks

    def recorded(path, delimiter, chunk_rows, skip=0):
        skipped.append(skip)
        return pandas_chunks(path, delimiter, chunk_rows, skip)

    monkeypatch.setattr(load, "ARROW_BLOCK_BYTES", 512)
    monkeypatch.setattr(load, "_pandas_chunks", recorded)
    rows = [row(id=f"r{i}") for i in range(30)]
    root = ledger_folder(tmp_path, rows)
    path = root / "test.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[25] = b",".join(lines[25].split(b",")[:5]) + b"\n"
    path.write_bytes(b"".join(lines))
    streamed = build(root, part_rows=8, stream_bytes=0)
    assert skipped and skipped[0] > 0 and skipped[0] % 8 == 0
    whole = build(root)
    assert sorted(streamed.issues, key=str) == sorted(whole.issues, key=str)
    assert streamed.dataset.equals(whole.dataset)


def test_issues_of_the_global_steps_beyond_the_limit_are_counted_and_the_first_rows_listed(tmp_path, monkeypatch):
    rows = [row(id=f"r{i}", part_of=f"missing{i}") for i in range(7)]
    rows += [row(id="big", amount="100"), *[row(id=f"p{i}", amount="80", part_of="big") for i in range(2)],
             row(id="big2", amount="100"), *[row(id=f"q{i}", amount="80", part_of="big2") for i in range(2)],
             row(id="big3", amount="100"), *[row(id=f"s{i}", amount="80", part_of="big3") for i in range(2)]]
    root = ledger_folder(tmp_path, rows)
    everything = build(root, part_rows=4, stream_bytes=0)
    monkeypatch.setattr(etl.stream, "MAX_LISTED_PER_KIND", 2)
    limited = build(root, part_rows=4, stream_bytes=0)
    for code, count in (("link_unknown", 7), ("parts_exceed", 3)):
        listed = [i for i in everything.issues if i.code == code]
        assert len(listed) == count
        kept = [i for i in limited.issues if i.code == code]
        assert kept == sorted(listed, key=lambda i: i.row)[:2]
        severity = listed[0].severity
        assert limited.left_out[(severity, code)] == count - 2


def test_trees_allocated_in_small_groups_build_the_golden_outputs(tmp_path, monkeypatch):
    # The allocation in groups of whole trees of a few rows (a 40-million-row ledger's are a million rows): every
    # output is still the golden one, for the example and the SYNTHETIC 200,000-row ledger.
    import etl.allocation
    from benchmarks.synthetic_ledger import write_synthetic
    from build_digest import GOLDEN, SYNTHETIC_ROWS, SYNTHETIC_SEED, build_digest
    from etl.pipeline import run_build
    from etl.schema import LEDGER_DIR

    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    synthetic = write_synthetic(tmp_path / "ledgers", SYNTHETIC_ROWS, SYNTHETIC_SEED).parent
    for ledgers, name, group_rows in ((LEDGER_DIR, "example", 3), (synthetic, "synthetic_200k", 997)):
        monkeypatch.setattr(etl.allocation, "GROUP_ROWS", group_rows)
        out = tmp_path / f"build-{name}"
        result = run_build(ledgers, out, allow_errors=True)
        assert build_digest(current_build(out), result.issues) == expected[name]
