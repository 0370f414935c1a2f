"""build/datapackage.json: generated from etl/schema.py and accepted by frictionless on a fresh build."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.synthetic_ledger import synthetic_ledger
from etl.pipeline import run_build
from etl.schema import (AMOUNT_KINDS, COLUMN_TYPES, CONFIDENCE_LEVELS, DATAPACKAGE_JSON, DATASET_CSV, LEDGER_DIR,
                        NORMALISED_COLUMNS, OUTPUT_COLUMNS)
from tests.ledger_factory import write_lookups

FRICTIONLESS = Path(sys.executable).parent / "frictionless"


def frictionless_validate(descriptor: Path) -> dict:
    """`frictionless validate --json` on the descriptor, as the report it prints."""
    done = subprocess.run([str(FRICTIONLESS), "validate", "--json", descriptor.name], cwd=descriptor.parent,
                          capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout)


def field_errors(report: dict) -> list[tuple[str, str]]:
    return sorted((error.get("fieldName", ""), error["type"]) for task in report["tasks"] for error in task["errors"])


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("build")
    run_build(LEDGER_DIR, build, with_csv=True)
    return build


def test_fresh_build_of_the_shipped_ledgers_is_a_valid_data_package(example):
    report = frictionless_validate(example / DATAPACKAGE_JSON)
    assert field_errors(report) == []
    assert report["valid"] is True
    assert report["tasks"][0]["stats"]["rows"] > 50


def test_synthetic_build_is_a_valid_data_package(tmp_path):
    root = tmp_path / "ledgers"
    write_lookups(root)
    synthetic_ledger(600, seed=7, bad_share=0.0).to_csv(root / "synthetic.csv", index=False)
    run_build(root, tmp_path / "build", with_csv=True)
    report = frictionless_validate(tmp_path / "build" / DATAPACKAGE_JSON)
    assert field_errors(report) == []
    assert report["tasks"][0]["stats"]["rows"] == 600


def test_table_schema_is_derived_from_the_schema_module(example):
    package = json.loads((example / DATAPACKAGE_JSON).read_text(encoding="utf-8"))
    resource = package["resources"][0]
    assert resource["path"] == DATASET_CSV
    fields = {field["name"]: field for field in resource["schema"]["fields"]}
    assert list(fields) == list(OUTPUT_COLUMNS)
    assert all(fields[name]["description"] == NORMALISED_COLUMNS[name] for name in OUTPUT_COLUMNS)
    assert all(fields[name]["type"] == COLUMN_TYPES[name].type for name in OUTPUT_COLUMNS)
    assert fields["amount_kind"]["constraints"] == {"required": True, "enum": list(AMOUNT_KINDS)}
    assert fields["confidence"]["constraints"]["enum"] == list(CONFIDENCE_LEVELS)
    assert fields["amount_usd"]["unit"] == "USD" and fields["amount_usd"]["type"] == "number"
    assert fields["counts_in_totals"]["type"] == "boolean"
    assert resource["schema"]["primaryKey"] == ["id"]
    assert {tuple(key["fields"]) for key in resource["schema"]["foreignKeys"]} == {("part_of",), ("same_as",)}
    # The header of the CSV is the schema's field list.
    header = (example / DATASET_CSV).read_text(encoding="utf-8").splitlines()[0]
    assert header.replace('"', "").split(",") == list(OUTPUT_COLUMNS)


def test_the_package_catches_a_broken_transfers_file(example, tmp_path):
    for name in (DATAPACKAGE_JSON, DATASET_CSV):
        (tmp_path / name).write_bytes((example / name).read_bytes())
    header, *rows = list(csv.reader(io.StringIO((tmp_path / DATASET_CSV).read_text(encoding="utf-8"))))
    rows[0][header.index("confidence")] = "rumour"
    rows[1][header.index("amount")] = "lots"
    rows[2][header.index("part_of")] = "no-such-row"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows[:3])
    (tmp_path / DATASET_CSV).write_text(out.getvalue(), encoding="utf-8")
    report = frictionless_validate(tmp_path / DATAPACKAGE_JSON)
    assert report["valid"] is False
    assert field_errors(report) == [("", "foreign-key"), ("amount", "type-error"), ("confidence", "constraint-error")]
