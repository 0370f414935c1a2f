"""Normalisation, totals, links and the command line on small fixture ledgers."""
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from etl.__main__ import main
from etl.emit import read_dataset
from etl.builds import current_build
from etl.pipeline import build, check, dataset_is_stale, run_build
from ledger_factory import ledger_folder, row, write_csv, write_lookups

PROJECT = Path(__file__).resolve().parent.parent


def by_id(result):
    return result.dataset.set_index("id")


def test_originals_kept_beside_parsed_values(tmp_path):
    root = ledger_folder(tmp_path, [row(amount="7,6 Mio.", currency="$", date="2012/2013", payer="Metastar",
                                        recipient="Volonte", payer_country="UK")])
    result = build(root)
    assert result.errors == []
    r = by_id(result).loc["r1"]
    assert (r["amount_raw"], r["amount"], r["currency_raw"], r["currency"]) == ("7,6 Mio.", Decimal("7600000"), "$",
                                                                                "USD")
    assert (r["payer_raw"], r["payer"], r["recipient_raw"], r["recipient"]) == (
        "Metastar", "Metastar Invest LLP", "Volonte", "Luca Volontè")
    assert (r["payer_country_raw"], r["payer_country"], r["payer_country_name"]) == ("UK", "GB", "United Kingdom")
    assert r["date_raw"] == "2012/2013" and r["date_precision"] == "range"
    assert r["ledger_file"] == "test.csv" and r["ledger_row"] == 2
    assert r["payer_id"] == by_id(build(ledger_folder(tmp_path / "b", [row(payer="Metastar Invest LLP")]))
                                  ).loc["r1", "payer_id"]


def test_totals_count_each_transfer_once(tmp_path):
    rows = [
        row(id="fund", amount="2.9 billion", amount_kind="total", date="2012/2014", recipient="Many",
            recipient_country="multiple"),
        row(id="part", amount="253,150", part_of="fund", date="2013/2014"),
        row(id="court", amount="500000", currency="EUR", date="2012-12-17/2013-03-19"),
        row(id="press", amount="€2.39m", currency="", same_as="court", date="2012/2014"),
        row(id="fee", amount="25000", amount_kind="monthly", date="2016-04-26"),
        row(id="retainer", amount="6000", currency="GBP", amount_kind="yearly", date="2012/2013"),
    ]
    result = build(ledger_folder(tmp_path, rows))
    assert result.errors == []
    data = by_id(result)
    assert data["counts_in_totals"].to_dict() == {"fund": True, "part": False, "court": True, "press": False,
                                                  "fee": False, "retainer": True}
    assert data.loc["retainer", "total_amount"] == Decimal("12000")
    assert "2 years" in data.loc["retainer", "totals_note"]
    assert pd.isna(data.loc["fee", "total_amount"]) and "rate without" in data.loc["fee", "totals_note"]
    counted = data[data["counts_in_totals"]]
    assert counted.groupby("currency")["total_amount"].sum().to_dict() == {
        "EUR": Decimal("500000"), "GBP": Decimal("12000"), "USD": Decimal("2900000000")}


def test_usd_conversion_states_rate_date_and_source(tmp_path):
    result = build(ledger_folder(tmp_path, [row(amount="500000", currency="EUR", date="2012-07-30")]))
    r = by_id(result).loc["r1"]
    assert r["fx_rate_usd"] == pytest.approx(1.2246)
    assert r["amount_usd"] == Decimal("612300.00")
    assert r["amount_eur"] == Decimal("500000.00")
    assert r["fx_rate_date"] == "2012-07-30" and "ECB" in r["fx_source"]
    assert r["amount_usd_real"] == Decimal(str(round(612300 * 313.689 / 229.594, 2)))


def test_links_must_exist_and_must_not_loop(tmp_path):
    rows = [row(id="a", part_of="b"), row(id="b", same_as="c"), row(id="c", part_of="a"), row(id="d", part_of="zz"),
            row(id="e", same_as="e")]
    result = build(ledger_folder(tmp_path, rows))
    found = {(i.row, i.code) for i in result.errors}
    assert {(2, "link_cycle"), (3, "link_cycle"), (4, "link_cycle"), (5, "link_unknown"), (6, "link_self")} <= found


def test_ids_are_unique_across_ledgers(tmp_path):
    root = ledger_folder(tmp_path, [row(id="same")])
    write_csv(root / "other.csv", [row(id="same")])
    result = build(root)
    [issue] = [i for i in result.errors if i.code == "id_duplicate"]
    assert issue.file == "test.csv" and "other.csv:2" in issue.message


def test_unknown_entity_is_a_warning_with_a_suggestion(tmp_path):
    result = build(ledger_folder(tmp_path, [row(payer="Metastr Invest"), row(id="r2", payer="Metastr Invest")]))
    assert result.errors == []
    [warning] = [i for i in result.warnings if i.column == "payer"]
    assert "Metastar Invest LLP" in warning.message and "2 rows" in warning.message


def test_unknown_country_and_currency_and_source(tmp_path):
    result = build(ledger_folder(tmp_path, [row(payer_country="Hungary (account) / BVI", currency="XYZ",
                                                sources="javascript:alert(1)")]))
    assert {(i.column, i.code) for i in result.errors} == {("payer_country", "country_unknown"),
                                                          ("currency", "currency_unknown"),
                                                          ("sources", "source_not_url")}


def test_missing_fx_rate_is_an_issue(tmp_path):
    result = build(ledger_folder(tmp_path, [row(currency="AZN", date="2012-07")]))
    assert [(i.code, i.column) for i in result.errors] == [("fx_missing", "currency")]


def test_build_writes_everything_or_nothing(tmp_path):
    root = ledger_folder(tmp_path, [row()])
    out = tmp_path / "build"
    run_build(root, out)
    published = current_build(out)
    before = {p.name: p.read_bytes() for p in published.iterdir()}
    assert set(before) == {"transfers.parquet", "entities.csv", "report.json", "report.txt", "datapackage.json"}
    assert not dataset_is_stale(root, out)
    write_csv(root / "test.csv", [row(), row(id="r2", amount="not money")])
    assert dataset_is_stale(root, out)
    code = main(["build", "--ledgers", str(root), "--out", str(out)])
    assert code == 1
    assert current_build(out) == published
    assert {p.name: p.read_bytes() for p in current_build(out).iterdir()} == before


def test_only_the_needed_outputs_unless_the_csv_copy_is_asked_for(tmp_path, capsys):
    root = ledger_folder(tmp_path, [row(), row(id="r2", amount="2.9 billion", amount_kind="total")])
    out = tmp_path / "build"
    assert main(["build", "--ledgers", str(root), "--out", str(out), "--csv"]) == 0
    with_csv = current_build(out)
    assert {p.name for p in with_csv.iterdir()} == {"transfers.parquet", "transfers.csv", "entities.csv",
                                                     "report.json", "report.txt", "datapackage.json"}
    [resource] = json.loads((with_csv / "datapackage.json").read_text())["resources"]
    assert (resource["path"], resource["format"]) == ("transfers.csv", "csv")
    copy = pd.read_csv(out / "transfers.csv", dtype="str", keep_default_na=False)
    assert copy["id"].tolist() == ["r1", "r2"] and list(copy.columns) == list(read_dataset(out / "transfers.parquet"))
    # The next build without --csv writes no CSV, its package names the Parquet file, and no link at the top of
    # build/ points at the CSV the previous build had.
    assert main(["build", "--ledgers", str(root), "--out", str(out)]) == 0
    folder = current_build(out)
    assert "transfers.csv" not in {p.name for p in folder.iterdir()}
    [resource] = json.loads((folder / "datapackage.json").read_text())["resources"]
    assert (resource["path"], resource["format"]) == ("transfers.parquet", "parquet")
    assert not (out / "transfers.csv").is_symlink() and not (out / "transfers.csv").exists()
    assert all((out / name).resolve().parent == folder for name in
               ("transfers.parquet", "entities.csv", "report.json", "report.txt", "datapackage.json"))
    # The report is written once, compact, and is what the command line printed.
    text = (out / "report.json").read_text()
    assert "\n" not in text and json.loads(text)["rows"] == 2
    assert "Rows: 2, counted in totals: 2" in capsys.readouterr().out


def test_dataset_round_trips_with_exact_types(tmp_path):
    root = ledger_folder(tmp_path, [row(amount="0.1"), row(id="r2", amount="0.2")])
    run_build(root, tmp_path / "build")
    data = read_dataset(tmp_path / "build" / "transfers.parquet")
    assert data["amount"].sum() == Decimal("0.3")
    report = json.loads((tmp_path / "build" / "report.json").read_text())
    assert report["totals_by_currency"] == {"USD": "0.3000"} and report["rows"] == 2


def test_check_validates_named_files_against_the_collection(tmp_path, capsys):
    root = ledger_folder(tmp_path, [row(id="parent")])
    child = write_csv(root / "child.csv", [row(id="kid", part_of="parent"), row(id="bad", amount="")])
    code = main(["check", "--ledgers", str(root), str(child)])
    out = capsys.readouterr().out
    assert code == 1
    assert "child.csv:3:amount: '' — an amount is required" in out
    assert [i.code for i in check([child, root / "test.csv"], root) if i.severity == "error"] == ["amount_missing"]


def test_cli_never_prints_a_traceback_on_user_data(tmp_path):
    root = tmp_path / "ledgers"
    write_lookups(root)
    (root / "broken.csv").write_bytes(b"\xff\xfe\x00garbage")
    (root / "x.xlsx").write_bytes(b"not a zip")
    proc = subprocess.run([sys.executable, "-m", "etl", "build", "--ledgers", str(root), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=PROJECT)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "broken.csv:—:—:" in proc.stdout and "x.xlsx:—:—:" in proc.stdout
    assert not (tmp_path / "out").exists()


def test_template_has_comments_dropdowns_and_help(tmp_path):
    path = tmp_path / "t.xlsx"
    assert main(["template", str(path)]) == 0
    book = openpyxl.load_workbook(path)
    sheet = book["ledger"]
    assert [c.value for c in sheet[1]][:3] == ["id", "date", "date_note"]
    assert all(c.comment is not None for c in sheet[1])
    formulas = {v.formula1 for v in sheet.data_validations.dataValidation}
    assert len(formulas) == 5
    assert "how to fill in" in book.sheetnames
    # The template itself is a valid (empty) ledger.
    root = tmp_path / "ledgers"
    write_lookups(root)
    path.rename(root / "t.xlsx")
    assert [i.code for i in build(root).errors] == []
