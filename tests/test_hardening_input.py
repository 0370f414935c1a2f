"""Bad ledger input that used to be accepted, crash the ETL or exhaust its memory: each is now a clear issue."""
from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etl.errors import LedgerIssue
from etl.load import read_ledger
from etl.pipeline import build, check
from etl.schema import LEDGER_COLUMNS
from ledger_factory import ledger_folder, row, write_csv, write_lookups

PROJECT = Path(__file__).resolve().parent.parent


def codes(issues: list[LedgerIssue]) -> set[tuple[str, int | None]]:
    return {(i.code, i.row) for i in issues}


def run_etl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "etl", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=120)


# --- 1. a stray quote must not swallow the rows below it ---------------------------------------------------------

def five_rows(tmp_path: Path, **notes: str) -> Path:
    """ledgers/test.csv with rows r1..r5 (spreadsheet rows 2..6); notes={'r2': '...'} sets a notes cell."""
    rows = [row(id=f"r{n}", notes=notes.get(f"r{n}", "plain")) for n in range(1, 6)]
    return ledger_folder(tmp_path, rows)


def test_an_unclosed_quote_is_an_issue_on_the_row_where_it_opens(tmp_path):
    root = five_rows(tmp_path)
    lines = (root / "test.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace(",plain,", ',"never closed,', 1)  # r2, spreadsheet row 3
    (root / "test.csv").write_text("".join(lines), encoding="utf-8")
    result = build(root)
    assert ("unclosed_quote", 3) in codes(result.errors)
    done = run_etl("check", "--ledgers", str(root))
    assert done.returncode == 1 and "test.csv:3:" in done.stdout and "OK" not in done.stdout


def test_a_quote_closed_rows_later_is_an_issue_naming_the_opening_row(tmp_path):
    root = five_rows(tmp_path)
    lines = (root / "test.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace(",plain,", ',"opens here,', 1)  # r2: row 3
    lines[4] = lines[4].replace(",plain,", ',closes here",', 1)  # r4: the quote closes inside row 5
    (root / "test.csv").write_text("".join(lines), encoding="utf-8")
    issues = build(root).errors
    assert ("rows_inside_cell", 3) in codes(issues)
    [issue] = [i for i in issues if i.code == "rows_inside_cell"]
    assert issue.column == "notes" and "r3" not in issue.value


def test_a_quoted_cell_with_line_breaks_that_are_not_rows_is_kept(tmp_path):
    note = "First payment, via Metastar.\nSecond line, 2013.\r\nThird line"
    root = five_rows(tmp_path, r2=note)
    result = build(root)
    assert result.errors == []
    assert len(result.dataset) == 5
    assert result.dataset.loc[result.dataset["id"].eq("r2"), "notes"].tolist() == [note]


def test_row_count_is_checked_against_the_physical_lines():
    from etl.load import physical_line_issues

    table = pd.DataFrame([["id", "notes"], ["r1", "a\nb"], ["r2", "c"]], dtype="str")
    assert physical_line_issues(b'id,notes\nr1,"a\nb"\nr2,c\n', table, ",", "x.csv") == []
    # One line more than the cells account for: a parser lost a line.
    found = physical_line_issues(b'id,notes\nr1,"a\nb"\nr2,c\nr3,d\n', table, ",", "x.csv")
    assert [i.code for i in found] == ["row_count_mismatch"] and found[0].row is None


# --- 2 and 6. workbooks ------------------------------------------------------------------------------------------

def ledger_workbook(path: Path, extra=None) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "ledger"
    base = row()
    sheet.append(list(LEDGER_COLUMNS))
    sheet.append([base.get(column, "") for column in LEDGER_COLUMNS])
    if extra:
        extra(book, sheet)
    book.save(path)
    return path


def test_a_cell_at_the_last_excel_position_is_refused_before_reading(tmp_path):
    root = tmp_path / "ledgers"
    write_lookups(root)
    ledger_workbook(root / "far.xlsx", lambda book, sheet: sheet.cell(row=1048576, column=16384, value="x"))
    assert (root / "far.xlsx").stat().st_size < 20_000
    done = run_etl("check", "--ledgers", str(root))
    assert done.returncode == 1, done.stderr[-2000:]
    assert "far.xlsx:—:—:" in done.stdout and "xlsx_too_large" not in done.stderr


def test_the_importer_refuses_the_same_workbook(tmp_path):
    root = ledger_folder(tmp_path, [row()])
    (root / "imports").mkdir()
    ledger_workbook(root / "imports" / "far.xlsx", lambda book, sheet: sheet.cell(row=1048576, column=16384,
                                                                                   value="x"))
    (root / "imports" / "far.mapping.yml").write_text(textwrap.dedent("""\
        source: {file: far.xlsx, url: "https://example.org/dataset"}
        columns:
          date: date
          amount: amount
          currency: {constant: EUR}
          amount_kind: {constant: payment}
          payer: payer
          recipient: recipient
          confidence: {constant: reported}
        """), encoding="utf-8")
    done = run_etl("import", str(root / "imports" / "far.mapping.yml"), "--ledgers", str(root), "--dry-run")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "far.xlsx:—:—:" in done.stdout and "cells" in done.stdout


def with_member(path: Path, name: str, data: bytes) -> Path:
    """Add one member to an existing workbook (zip)."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return path


def test_a_zip_bomb_is_refused_from_its_declared_sizes(tmp_path, monkeypatch):
    from etl import xlsx_guard

    monkeypatch.setattr(xlsx_guard, "MAX_UNCOMPRESSED_BYTES", 2_000_000)
    book = with_member(ledger_workbook(tmp_path / "bomb.xlsx"), "xl/media/padding.bin", b"\0" * 3_000_000)
    assert book.stat().st_size < 50_000
    ledger = read_ledger(book, tmp_path)
    assert [i.code for i in ledger.issues] == ["xlsx_too_large"] and ledger.issues[0].row is None
    assert "bomb.xlsx" == ledger.issues[0].file and len(ledger.frame) == 0


def test_a_zip_member_that_lies_about_its_size_is_refused(tmp_path, monkeypatch):
    from etl import xlsx_guard

    monkeypatch.setattr(xlsx_guard, "MAX_UNCOMPRESSED_BYTES", 2_000_000)
    book = ledger_workbook(tmp_path / "liar.xlsx")
    with zipfile.ZipFile(book) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    sheet = members["xl/worksheets/sheet1.xml"]
    members["xl/worksheets/sheet1.xml"] = sheet.replace(b"</worksheet>", b" " * 3_000_000 + b"</worksheet>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    raw = bytearray(buffer.getvalue())
    # Rewrite the declared uncompressed size of the sheet (local header and central directory) to 1 KB.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := raw.find(signature, start)) >= 0:
            name_len = int.from_bytes(raw[start + offset + 4 + (2 if signature == b"PK\x01\x02" else 0):][:2],
                                      "little")
            header = 46 if signature == b"PK\x01\x02" else 30
            if bytes(raw[start + header:start + header + name_len]) == b"xl/worksheets/sheet1.xml":
                raw[start + offset:start + offset + 4] = (1024).to_bytes(4, "little")
            start += 4
    book.write_bytes(bytes(raw))
    ledger = read_ledger(book, tmp_path)
    assert ledger.issues and {i.code for i in ledger.issues} <= {"xlsx_too_large", "unreadable"}
    assert len(ledger.frame) == 0


def test_too_many_cells_are_refused_before_reading(tmp_path, monkeypatch):
    from etl import xlsx_guard

    monkeypatch.setattr(xlsx_guard, "MAX_CELLS", 1000)

    def many(book, sheet):
        for n in range(200):
            sheet.append([f"c{n}"] * 10)
    ledger = read_ledger(ledger_workbook(tmp_path / "wide.xlsx", many), tmp_path)
    assert [i.code for i in ledger.issues] == ["xlsx_too_large"]


def test_a_formula_is_found_when_the_tab_order_differs_from_the_internal_order(tmp_path):
    def sheets(book, sheet):
        sheet["C3"] = "=1+1"
        sheet["A3"] = "r2"
        book.create_sheet("notes", 0)  # tab order: notes, ledger; written as sheet1=notes, sheet2=ledger
        book["notes"]["A1"] = "nothing here"
    path = ledger_workbook(tmp_path / "tabs.xlsx", sheets)
    assert any(i.code == "formula" for i in read_ledger(path, tmp_path).issues)
    # Now move the ledger tab first in workbook.xml: the internal file names stay sheet1=notes, sheet2=ledger.
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    workbook = members["xl/workbook.xml"].decode()
    tags = re.findall(r"<sheet [^>]*/>", workbook)
    assert len(tags) == 2 and 'name="notes"' in tags[0]
    members["xl/workbook.xml"] = workbook.replace(tags[0] + tags[1], tags[1] + tags[0]).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    found = read_ledger(path, tmp_path).issues
    assert ("formula", 3) in codes(found), found


# --- 3. ambiguous amounts, non-currencies, late NUL bytes, separators in URLs, symlinks -----------------------------

@pytest.mark.parametrize("amount", ["0,123", "00,500", "0,123 million"])
def test_a_comma_and_three_digits_after_a_leading_zero_is_ambiguous(tmp_path, amount):
    found = build(ledger_folder(tmp_path, [row(amount=amount)])).errors
    assert [(i.code, i.column, i.value) for i in found] == [("amount_ambiguous", "amount", amount)]


@pytest.mark.parametrize("amount,expected", [("10,500", "10500"), ("0,5", "0.5"), ("0,12", "0.12"),
                                             ("253,150", "253150")])
def test_unambiguous_commas_still_parse(tmp_path, amount, expected):
    result = build(ledger_folder(tmp_path, [row(amount=amount)]))
    assert result.errors == [] and str(result.dataset["amount"].iloc[0]).rstrip("0").rstrip(".") == expected


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XDR", "XBA", "XSU", "XUA", "CLF"])
def test_iso_codes_that_are_not_money_are_refused(tmp_path, code):
    found = build(ledger_folder(tmp_path, [row(currency=code)])).errors
    assert [(i.code, i.column) for i in found] == [("currency_not_money", "currency")]


def test_a_nul_byte_after_the_first_4_kb_is_an_issue_naming_row_and_column(tmp_path):
    rows = [row(id=f"r{n}", notes="x" * 300) for n in range(1, 30)]
    rows.append(row(id="r30", notes="late\x00nul"))
    root = ledger_folder(tmp_path, rows)
    assert (root / "test.csv").read_bytes().index(b"\x00") > 4096
    found = build(root).errors
    assert [(i.code, i.row, i.column) for i in found] == [("control_character", 31, "notes")]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\u202e", "\u200b", "\x7f"])
def test_separators_and_control_characters_inside_a_url_are_refused(tmp_path, char):
    found = build(ledger_folder(tmp_path, [row(sources=f"https://example.org/a{char}b")])).errors
    assert found and {i.column for i in found} == {"sources"}
    assert {i.code for i in found} <= {"source_not_url", "control_character"}


def test_a_symlink_leaving_the_ledger_folder_is_refused_without_echoing_it(tmp_path):
    root = ledger_folder(tmp_path, [row()])
    secret = tmp_path / "secret.csv"
    secret.write_text("id,amount\nTOPSECRET-LINE,1\n", encoding="utf-8")
    (root / "leak.csv").symlink_to(secret)
    result = build(root)
    [issue] = [i for i in result.issues if i.file == "leak.csv"]
    assert issue.code == "outside_ledgers" and issue.row is None
    done = run_etl("check", "--ledgers", str(root))
    assert done.returncode == 1 and "leak.csv" in done.stdout and "TOPSECRET" not in done.stdout + done.stderr


def test_a_symlink_inside_the_ledger_folder_is_read(tmp_path):
    root = ledger_folder(tmp_path, [row()])
    (root / "sub").mkdir()
    write_csv(root / "sub" / "real.csv", [row(id="r2")])
    (root / "alias.csv").symlink_to(root / "sub" / "real.csv")
    assert not [i for i in build(root).issues if i.code == "outside_ledgers"]


# --- 4. control characters: cleaned or refused at the ETL, never a failing Excel download -------------------------

def test_a_soft_line_break_in_notes_becomes_a_line_break_with_a_warning(tmp_path):
    result = build(ledger_folder(tmp_path, [row(notes="first\x0bsecond", purpose="a\u2028b")]))
    assert result.errors == []
    assert {(i.code, i.column) for i in result.warnings} >= {("soft_line_break", "notes"),
                                                            ("soft_line_break", "purpose")}
    assert result.dataset["notes"].tolist() == ["first\nsecond"]
    assert result.dataset["purpose"].tolist() == ["a\nb"]


@pytest.mark.parametrize("column", ["payer", "notes", "id"])
def test_a_nul_or_other_control_character_is_an_error(tmp_path, column):
    found = build(ledger_folder(tmp_path, [row(**{column: "Metastar\x00 Invest"})])).errors
    assert ("control_character", column) in {(i.code, i.column) for i in found}
    found = build(ledger_folder(tmp_path / "b", [row(**{column: "Metastar\x1b Invest"})])).errors
    assert ("control_character", column) in {(i.code, i.column) for i in found}


def test_the_excel_download_never_fails_on_a_control_character(tmp_path):
    from openpyxl import load_workbook

    from dashboard.export import to_xlsx_bytes

    dataset = build(ledger_folder(tmp_path, [row(), row(id="r2")])).dataset
    dataset.loc[0, "notes"] = "soft\x0bbreak and \x00 nul \x1f unit"
    dataset.loc[1, "payer"] = "=cmd\x07"
    data = to_xlsx_bytes(dataset, [("filter\x0b", "value\x00")])
    sheet = load_workbook(io.BytesIO(data))["transfers"]
    header = [c.value for c in sheet[1]]
    notes, payer = sheet.cell(2, header.index("notes") + 1).value, sheet.cell(3, header.index("payer") + 1).value
    assert notes.startswith("soft\nbreak") and "\x00" not in notes and "\x1f" not in notes
    assert payer.startswith("'=cmd")


def test_xlsx_safe_text_keeps_ordinary_text():
    from etl.safety import xlsx_safe_text

    values = pd.Series(["plain", "tab\tand\nnewline", "é ü 中文", "", "a\x0bb", "c\x00d"], dtype="str")
    assert xlsx_safe_text(values).tolist() == ["plain", "tab\tand\nnewline", "é ü 中文", "", "a\nb", "c\ufffdd"]


# --- 5. link checks are linear -----------------------------------------------------------------------------------

def chain_frame(n: int, loop_back: int | None = None) -> pd.DataFrame:
    """n rows, each part_of the next; the last one points back at row loop_back (or nowhere)."""
    from etl.schema import LEDGER_COLUMNS, ROW_FILE, ROW_NUMBER

    raw = pd.DataFrame({c: pd.Series([""] * n, dtype="str") for c in LEDGER_COLUMNS})
    raw["id"] = pd.Series([f"c{k}" for k in range(n)], dtype="str")
    last = f"c{loop_back}" if loop_back is not None else ""
    raw["part_of"] = pd.Series([f"c{k + 1}" for k in range(n - 1)] + [last], dtype="str")
    raw[ROW_FILE] = "chain.csv"
    raw[ROW_NUMBER] = np.arange(2, n + 2)
    return raw


def test_a_long_part_of_chain_is_checked_right():
    from etl.validate import link_issues

    raw = chain_frame(20_000)
    assert link_issues(raw, raw["id"]) == []
    raw = chain_frame(20_000, loop_back=19_000)  # the last thousand rows loop; every row leads into the loop
    found = link_issues(raw, raw["id"])
    assert {i.code for i in found} == {"link_cycle"} and len(found) == 20_000


def test_rows_in_cycles_mixes_part_of_and_same_as():
    from etl.validate import rows_in_cycles

    # 0 -> 1 (part_of), 1 -> 2 (same_as), 2 -> 0 (part_of): a loop; 3 -> 0 leads into it; 4 -> 5 ends; 6 alone;
    # 7 points at itself (reported as link_self, not as a loop); 8 is a repeated id (never a target).
    part_of = np.array([1, -1, 0, 0, 5, -1, -1, 7, 0])
    same_as = np.array([-1, 2, -1, -1, -1, -1, -1, -1, -1])
    first = np.array([True] * 8 + [False])
    assert rows_in_cycles(first, part_of, same_as).tolist() == [True, True, True, True, False, False, False, False,
                                                                False]


def test_the_link_benchmark_prints_its_figures():
    done = subprocess.run([sys.executable, "-m", "benchmarks.link_checks", "--rows", "2000"], cwd=PROJECT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.search(r"2,000 rows.*rows/s", done.stdout)


# --- 7. every issue prints as file:row:column ----------------------------------------------------------------------

SHAPE = re.compile(r"^(?P<file>[^:]+):(?P<row>\d+|—):(?P<column>[^:]+): (?P<value>'.*'|\".*\") — (?P<message>.+)$",
                   re.S)


def test_whole_file_issues_say_so_and_keep_the_shape():
    issue = LedgerIssue("a.csv", None, "", "", "empty_file", "the file is empty")
    assert str(issue) == "a.csv:—:—: '' — the file is empty"
    assert str(LedgerIssue("a.csv", 7, "", "x", "total_row", "total")) == "a.csv:7:—: 'x' — total"


def test_every_file_level_issue_prints_in_the_shape(tmp_path):
    root = ledger_folder(tmp_path, [row()])
    (root / "empty.csv").write_bytes(b"")
    (root / "binary.csv").write_bytes(b"PK\x03\x04\x00\x00" + b"\x00" * 100)
    (root / "utf16.csv").write_bytes("id,amount\n".encode("utf-16"))
    (root / "broken.xlsx").write_bytes(b"not a zip")
    ledger_workbook(root / "merged.xlsx", lambda book, sheet: (sheet.append(["r2"]), sheet.merge_cells("C2:C3"),
                                                               sheet.__setitem__("D3", "=1+1")))
    write_csv(root / "total.csv", [row(id="t1"), row(id="Total", sources="")])
    write_csv(root / "nohead.csv", [row(id="n1")], columns=["id", "date", "amount"])
    result = build(root)
    printed = [str(i) for i in result.issues]
    assert printed and all(SHAPE.match(line) for line in printed), [p for p in printed if not SHAPE.match(p)]
    kinds = {i.code for i in result.issues}
    assert {"empty_file", "not_text", "encoding", "unreadable", "merged_cells", "formula", "total_row",
            "missing_column"} <= kinds
    merged = [p for p in printed if "merged" in p]
    assert merged and SHAPE.match(merged[0]).group("column") != "cells C2"
    write_lookups(tmp_path / "none")
    nothing = build(tmp_path / "none")  # no ledgers at all
    assert [i.code for i in nothing.issues] == ["no_ledgers"]
    assert all(SHAPE.match(str(i)) for i in nothing.issues)


# --- 8. a public row part_of an internal row ----------------------------------------------------------------------

@pytest.mark.parametrize("link", ["part_of", "same_as"])
def test_a_public_row_linked_to_an_internal_one_is_a_build_warning_naming_both(tmp_path, link):
    rows = [row(id="secret-total", amount_kind="total", visibility="internal"),
            row(id="r2", **{link: "secret-total"}),
            row(id="r3", visibility="internal", **{link: "secret-total"})]
    result = build(ledger_folder(tmp_path, rows))
    assert result.errors == []
    [warning] = [i for i in result.warnings if i.code == "public_links_internal"]
    assert (warning.file, warning.row, warning.column) == ("test.csv", 3, link)
    assert "test.csv:2" in warning.message and "secret-total" in warning.value


# --- 9. written files keep the mode a normal open() gives ---------------------------------------------------------

@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


def test_new_files_get_the_mode_open_would_give(tmp_path, umask_027):
    from etl.atomic import atomic_write_bytes

    atomic_write_bytes(tmp_path / "new.csv", b"x")
    (tmp_path / "plain.csv").write_bytes(b"x")
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "plain.csv").stat().st_mode) == 0o640


def test_replacing_a_file_keeps_its_mode(tmp_path, umask_027):
    from etl.atomic import atomic_write_text

    target = tmp_path / "kept.csv"
    target.write_text("old")
    target.chmod(0o664)
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o664


def test_an_append_keeps_the_ledger_mode(tmp_path):
    from etl.extract.append import append_rows
    from etl.extract.review import ReviewedRow

    root = ledger_folder(tmp_path, [row()])
    ledger = root / "test.csv"
    ledger.chmod(0o644)
    cells = dict(status="accepted", id="new-1", date="2013-05", amount="1000", currency="USD",
                 amount_kind="payment", payer="Metastar Invest LLP", recipient="Luca Volontè", confidence="reported",
                 sources="https://example.org/story")
    result = append_rows([ReviewedRow(2, cells)], ledger, root, "reviewed.csv")
    assert not result.errors, result.errors
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o644 and "new-1" in ledger.read_text(encoding="utf-8")


@pytest.mark.parametrize("broken", ["closed_later", "unclosed", "closed_later_blank_line", "unclosed_cp1252"])
def test_the_importer_refuses_a_stray_quote_in_a_source_csv(tmp_path, broken):
    from etl.imports.run import run_import

    root = ledger_folder(tmp_path, [row()])
    (root / "imports").mkdir()
    lines = ["Register export", "who,whom,sum,when,note"] + [f"Alpha,Beta,{n}00,2013,plain" for n in range(1, 6)]
    lines[3] = lines[3].replace("plain", '"opens here')  # source row 4
    if broken.startswith("closed_later"):
        lines[5] = lines[5].replace("plain", 'closes here"')
    if broken.endswith("blank_line"):  # Arrow's fast reader gives way to pandas'
        lines.append("")
    encoding = "cp1252" if broken.endswith("cp1252") else "utf-8"
    (root / "imports" / "data.csv").write_text("\n".join(lines) + "\n", encoding=encoding)
    mapping = root / "imports" / "data.mapping.yml"
    mapping.write_text(textwrap.dedent(f"""\
        source: {{file: data.csv, header_row: 2, encoding: {encoding}, url: "https://example.org/dataset"}}
        columns:
          date: when
          amount: sum
          currency: {{constant: EUR}}
          amount_kind: {{constant: payment}}
          payer: who
          recipient: whom
          confidence: {{constant: reported}}
          notes: note
        """), encoding="utf-8")
    result = run_import(mapping, root, write=False)
    # Arrow's reader takes an unclosed quote to the end of the file, so either issue names the row.
    assert {("rows_inside_cell", 4), ("unclosed_quote", 4)} & codes(result.issues), result.issues
    assert result.errors


def test_an_append_to_a_workbook_ledger_refuses_a_control_character_instead_of_crashing(tmp_path):
    from etl.extract.append import append_rows
    from etl.extract.review import ReviewedRow

    root = tmp_path / "ledgers"
    write_lookups(root)
    ledger = ledger_workbook(root / "book.xlsx")
    before = ledger.read_bytes()
    cells = dict(status="accepted", id="new-1", date="2013-05", amount="1000", currency="USD",
                 amount_kind="payment", payer="Metastar Invest LLP", recipient="Luca Volontè", confidence="reported",
                 sources="https://example.org/story", notes="bad\x00byte")
    result = append_rows([ReviewedRow(2, cells)], ledger, root, "reviewed.csv")
    assert [(i.code, i.file, i.row, i.column) for i in result.errors] == [("control_character", "reviewed.csv", 2,
                                                                           "notes")]
    assert ledger.read_bytes() == before


@pytest.mark.parametrize("text,expected", [("plain", False), ("tab\tline\nreturn\r", False),
                                           ("é £ \u00a0 ’ – “”", False), ("a\x00b", True), ("a\x7fb", True),
                                           ("a\x85b", True), ("a\x9fb", True), ("a\u2028b", True),
                                           ("a\u2029b", True), ("\x1b", True)])
def test_the_byte_scan_finds_every_control_character_and_nothing_else(text, expected):
    from etl.controls import may_hold_controls

    assert may_hold_controls(pd.Series(["ordinary", text, "text"], dtype="str")) is expected


def test_a_far_cell_is_found_from_its_reference_when_the_dimension_is_missing_or_lies(tmp_path):
    from etl.load import ledger_sheet
    from etl.xlsx_guard import guarded_sheet

    path = ledger_workbook(tmp_path / "far.xlsx", lambda book, sheet: sheet.cell(row=1048576, column=16384,
                                                                                  value="x"))
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    sheet = members["xl/worksheets/sheet1.xml"]
    members["xl/worksheets/sheet1.xml"] = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:V2"/>', sheet)
    assert members["xl/worksheets/sheet1.xml"] != sheet
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    guarded, issues = guarded_sheet(path, "far.xlsx", ledger_sheet)
    assert guarded is None and [i.code for i in issues] == ["xlsx_too_large"] and "XFD1048576" in issues[0].message
    guarded, issues = guarded_sheet(ledger_workbook(tmp_path / "fine.xlsx"), "fine.xlsx", ledger_sheet)
    assert issues == [] and guarded.name == "ledger" and guarded.member == "xl/worksheets/sheet1.xml"


def test_build_outputs_get_the_mode_open_would_give(tmp_path, umask_027):
    from etl.pipeline import run_build

    root = ledger_folder(tmp_path, [row()])
    out = tmp_path / "build"
    run_build(root, out)
    # Every file of the build (published as a versioned folder) reads like any file the user makes; folders
    # are what mkdir gives under the same umask.
    files = {str(path.relative_to(out)): stat.S_IMODE(path.stat().st_mode) for path in out.rglob("*")
             if path.is_file()}
    folders = {stat.S_IMODE(path.stat().st_mode) for path in out.rglob("*") if path.is_dir()}
    assert len(files) >= 6 and set(files.values()) == {0o640}, files
    assert folders == {0o750}
