"""Exports are inert in spreadsheets and round-trip through the ETL to the cent, row for row."""
import io
import os
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from benchmarks.synthetic_ledger import synthetic_ledger
from dashboard import data, export
from etl.emit import read_dataset
from etl.pipeline import build, run_build
from etl.schema import LEDGER_DIR, OUTPUT_COLUMNS
from ledger_factory import row, write_csv, write_lookups

TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]
PROVENANCE = ("ledger_file", "ledger_row")


def dataset_from(ledger_root: Path, out: Path) -> pd.DataFrame:
    run_build(ledger_root, out)
    return read_dataset(out / "transfers.parquet")


def exported_rows(build_dir: Path) -> pd.DataFrame:
    _, chart = data.prepare(read_dataset(build_dir / "transfers.parquet"))
    full, _ = data.prepare(read_dataset(build_dir / "transfers.parquet"))
    return full


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_formula_trigger_is_neutralised_and_numbers_stay_numbers(tmp_path, trigger):
    root = tmp_path / "ledgers"
    write_lookups(root)
    nasty = f"{trigger}HYPERLINK(\"http://evil.example\",\"click\")"
    write_csv(root / "a.csv", [row(notes=nasty, purpose=nasty, recipient=f"{trigger}cmd|' /C calc'!A0",
                                   amount="253,150")])
    full = exported_rows(_built(root, tmp_path))
    csv = pd.read_csv(io.BytesIO(export.to_csv_bytes(full)), dtype="str", keep_default_na=False)
    assert csv.loc[0, "notes"] == "'" + nasty and csv.loc[0, "recipient_raw"].startswith("'" + trigger)
    assert csv.loc[0, "amount"] == "253150.0000"
    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx_bytes(full, [("filters", "=1+1")])))
    sheet = book["transfers"]
    header = [c.value for c in sheet[1]]
    values = dict(zip(header, [c.value for c in sheet[2]]))
    assert values["notes"] == "'" + nasty and values["purpose"] == "'" + nasty
    assert all(not (isinstance(c.value, str) and c.value.startswith(tuple(TRIGGERS))) for r in sheet.iter_rows()
               for c in r)
    assert all(c.data_type != "f" for r in sheet.iter_rows() for c in r)
    assert values["amount"] == 253150 and values["amount_usd"] == 253150 and values["ledger_row"] == 2
    assert book["about"]["B1"].value == "'=1+1"
    # The build's own CSV is neutralised too.
    built = pd.read_csv(tmp_path / "build" / "transfers.csv", dtype="str", keep_default_na=False)
    assert built.loc[0, "notes"] == "'" + nasty


def _built(root: Path, tmp_path: Path) -> Path:
    run_build(root, tmp_path / "build", with_csv=True)
    return tmp_path / "build"


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in OUTPUT_COLUMNS if c not in PROVENANCE]].reset_index(drop=True)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("source", ["example", "synthetic"])
def test_download_reloaded_as_a_ledger_rebuilds_the_same_dataset(tmp_path, fmt, source):
    if source == "example":
        root = LEDGER_DIR
    else:
        root = tmp_path / "ledgers"
        write_lookups(root)
        ledger = synthetic_ledger(400, seed=5, bad_share=0.0)
        ledger.loc[ledger.index[:20], "notes"] = "=SUM(A1:A9) and +tricky -text"
        ledger.to_csv(root / "synthetic.csv", index=False)
    first_build = tmp_path / "first"
    first = dataset_from(root, first_build)
    full, _ = data.prepare(first)
    content = export.to_csv_bytes(full) if fmt == "csv" else export.to_xlsx_bytes(full, [("about", "test")])
    again = tmp_path / "again"
    write_lookups(again) if source == "synthetic" else None
    if source == "example":
        (again / "lookups").mkdir(parents=True)
        for lookup in (LEDGER_DIR / "lookups").iterdir():
            (again / "lookups" / lookup.name).write_bytes(lookup.read_bytes())
    (again / f"downloaded.{fmt}").write_bytes(content)
    result = build(again)
    assert result.errors == []
    second = result.dataset
    assert len(second) == len(first)
    pd.testing.assert_frame_equal(comparable(second), comparable(first), check_dtype=False)
    assert second["amount"].sum() == first["amount"].sum()
    assert second["total_usd"].sum() == first["total_usd"].sum()
