"""Nasty files: every one must become issues naming file, row and column, never a traceback."""
import openpyxl
import pandas as pd
import pytest

from etl.load import discover_ledgers, read_ledger
from etl.pipeline import build
from ledger_factory import ledger_folder, row, write_csv, write_lookups

HEADER = "id,date,amount,currency,amount_kind,payer,recipient,confidence,sources\n"
GOOD = "a1,2013,1000,USD,payment,Metastar,Volonte,reported,https://example.org/a\n"


def read(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return read_ledger(path, tmp_path)


def codes(ledger):
    return [i.code for i in ledger.issues]


def test_utf8_bom_and_semicolons(tmp_path):
    text = (HEADER + GOOD).replace(",", ";")
    ledger = read(tmp_path, "a.csv", b"\xef\xbb\xbf" + text.encode())
    assert ledger.issues == []
    assert ledger.frame.loc[0, "amount"] == "1000" and ledger.frame.loc[0, "id"] == "a1"


def test_semicolon_file_with_decimal_commas(tmp_path):
    text = HEADER.replace(",", ";") + "a1;2013;7,6 Mio.;EUR;total;Metastar;Volonte;reported;https://example.org/a\n"
    ledger = read(tmp_path, "a.csv", text.encode())
    assert ledger.issues == [] and ledger.frame.loc[0, "amount"] == "7,6 Mio."


@pytest.mark.parametrize("data, code", [
    (b"", "empty_file"), (b"  \n\n", "empty_file"), ((HEADER + GOOD).encode("utf-16"), "encoding"),
    ((HEADER + "a1,2013,1000,USD,payment,Müller GmbH,Volonte,reported,https://e.org/a\n").encode("cp1252"),
     "encoding"),
    (b"PK\x03\x04\x00\x00binary", "not_text"),
])
def test_unreadable_files(tmp_path, data, code):
    ledger = read(tmp_path, "bad.csv", data)
    assert code in codes(ledger)
    assert all(i.file == "bad.csv" for i in ledger.issues)


def test_cp1252_issue_names_the_line(tmp_path):
    data = (HEADER + GOOD + "a2,2013,5,USD,payment,Müller,Volonte,reported,https://e.org/a\n").encode("cp1252")
    ledger = read(tmp_path, "bad.csv", data)
    assert ledger.issues[0].row == 3 and "UTF-8" in ledger.issues[0].message


def test_header_problems(tmp_path):
    text = "id,date,amount,currency,kind,payer,payer,recipient,confidence,colour,x_private\n"
    ledger = read(tmp_path, "h.csv", (text + "a,2013,1,USD,total,A,B,C,reported,red,mine\n").encode())
    found = {(i.code, i.column) for i in ledger.issues}
    assert ("duplicate_column", "payer") in found
    assert ("unknown_column", "colour") in found
    assert ("missing_column", "sources") in found
    assert not any(i.column == "x_private" for i in ledger.issues)


def test_synonym_headers_are_matched_case_insensitively(tmp_path):
    text = "ID,Date,Amount,Currency,Amount Kind,Payer,Beneficiary,Confidence,Source URL\n"
    ledger = read(tmp_path, "s.csv", (text + GOOD).encode())
    assert ledger.issues == [] and ledger.frame.loc[0, "recipient"] == "Volonte"


def test_ragged_rows_and_blank_rows(tmp_path):
    text = HEADER + GOOD + "\n,,,,,,,,\n" + "a2,2013,5,USD,payment,Metastar,Volonte,reported,https://e.org/a,extra\n"
    ledger = read(tmp_path, "r.csv", text.encode())
    assert ledger.blank_rows == 2
    assert any(i.code == "ragged_row" and i.row == 5 for i in ledger.issues)


def test_total_row_at_the_bottom(tmp_path):
    text = HEADER + GOOD + "TOTAL,,1000,USD,,,,,\n"
    ledger = read(tmp_path, "t.csv", text.encode())
    assert [(i.code, i.row) for i in ledger.issues] == [("total_row", 3)]


def test_xlsx_ledger_sheet_formulas_and_merged_cells(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "notes"
    sheet = book.create_sheet("ledger")
    sheet.append(HEADER.strip().split(","))
    sheet.append(GOOD.strip().split(","))
    sheet.append(["a2", "2013", "=B2*2", "USD", "payment", "Metastar", "Volonte", "reported", "https://e.org/b"])
    sheet.append(["a3", "2014", 2500000, "USD", "payment", "Metastar", "Volonte", "reported", "https://e.org/c"])
    sheet.merge_cells("F4:G4")
    path = tmp_path / "x.xlsx"
    book.save(path)
    ledger = read_ledger(path, tmp_path)
    found = {(i.code, i.row) for i in ledger.issues}
    assert ("formula", 3) in found and ("merged_cells", 4) in found
    assert ledger.frame.loc[ledger.frame["id"] == "a3", "amount"].item() == "2500000"


def test_xlsx_empty_sheet(tmp_path):
    path = tmp_path / "e.xlsx"
    openpyxl.Workbook().save(path)
    ledger = read_ledger(path, tmp_path)
    assert codes(ledger) == ["empty_file"]


def test_discovery_skips_lookups_imports_lock_and_dot_files(tmp_path):
    root = ledger_folder(tmp_path, [row()])
    (root / "imports").mkdir()
    (root / "imports" / "source.csv").write_text("a,b\n")
    (root / "~$test.xlsx").write_bytes(b"lock")
    (root / ".test.csv.tmp.csv").write_text("x")
    (root / "imported").mkdir()
    write_csv(root / "imported" / "more.csv", [row(id="r2")])
    assert [p.relative_to(root).as_posix() for p in discover_ledgers(root)] == ["imported/more.csv", "test.csv"]


def test_a_folder_of_broken_files_reports_everything_at_once(tmp_path):
    root = tmp_path / "ledgers"
    write_lookups(root)
    (root / "empty.csv").write_bytes(b"")
    (root / "utf16.csv").write_bytes((HEADER + GOOD).encode("utf-16"))
    write_csv(root / "ok.csv", [row(), row(id="r2", amount="abc"), row(id="r1")])
    result = build(root)
    files = {i.file for i in result.errors}
    assert files == {"empty.csv", "utf16.csv", "ok.csv"}
    assert {(i.row, i.code) for i in result.errors if i.file == "ok.csv"} == {(3, "amount_unreadable"),
                                                                              (4, "id_duplicate")}
