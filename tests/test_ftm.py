"""FollowTheMoney interchange: export validity (FtM's own validation), --ftm3, import of an Aleph-shaped file, and
the round trip export -> import into an empty ledger folder -> build, on the shipped ledgers and a synthetic one."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from followthemoney import model, registry

from benchmarks.synthetic_ledger import synthetic_entities, synthetic_ledger
from etl.__main__ import main
from etl.emit import read_dataset
from etl.ftm.export import export_ftm
from etl.ftm.ingest import run_ftm_import
from etl.ftm.model import DESCRIPTION_COLUMNS, parse_description
from etl.imports.resolve import apply_merges, read_merges
from etl.pipeline import run_build
from etl.schema import DATASET_PARQUET, LEDGER_DIR, REPORT_JSON
from tests.ledger_factory import ledger_folder, row, write_lookups

DATA = Path(__file__).parent / "data"
ALEPH_FILE = DATA / "aleph_payments.ftm.jsonl"
FTM35 = json.loads((DATA / "ftm35_properties.json").read_text(encoding="utf-8"))["schemata"]
# What a round trip must keep (the build recomputes every other column from these).
ROUND_TRIP_COLUMNS = ["amount", "currency", "amount_kind", "date_start", "date_end", "date_precision", "payer",
                      "recipient", "payer_country", "recipient_country", "intermediary", "sources", "part_of",
                      "same_as", "confidence", "status_note", "purpose", "notes", "date_note", "source_publisher",
                      "source_date", "visibility", "amount_usd", "amount_eur", "total_amount", "total_usd",
                      "total_eur", "counts_in_totals", "totals_note"]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_valid_ftm(entities: list[dict]) -> None:
    """FtM's own checks on every entity: a valid id, the schema's validation (required properties, every value
    valid for its type), values that FtM's cleaning leaves unchanged, and references that resolve to an entity of
    the property's range in the same file."""
    by_id = {entity["id"]: entity for entity in entities}
    assert len(by_id) == len(entities), "duplicate entity ids"
    for entity in entities:
        schema = model.get(entity["schema"])
        assert schema is not None and registry.entity.validate(entity["id"]), entity["id"]
        assert schema.validate(entity) is None
        recleaned = model.get_proxy(entity, cleaned=False).to_dict()["properties"]
        assert recleaned == entity["properties"], entity["id"]
        for name, values in entity["properties"].items():
            prop = schema.get(name)
            if prop.type == registry.entity:
                for value in values:
                    assert value in by_id, f"{entity['id']}.{name} -> {value}"
                    assert model.get(by_id[value]["schema"]).is_a(prop.range), f"{name} -> {by_id[value]['schema']}"


def copy_lookups(source: Path, target: Path) -> Path:
    """An empty ledger folder: the lookup tables the build needs, no ledgers and no entity register."""
    lookups = target / "lookups"
    lookups.mkdir(parents=True)
    for name in ("us_cpi.csv", "countries.csv", "fx_rates.csv"):
        (lookups / name).write_bytes((source / "lookups" / name).read_bytes())
    return target


def round_trip(ledgers: Path, tmp_path: Path, include_internal: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    first = tmp_path / "first"
    run_build(ledgers, first)
    export = tmp_path / "export.ftm.jsonl"
    argv = ["export", "ftm", "--build", str(first), "-o", str(export)]
    assert main(argv + (["--include-internal"] if include_internal else [])) == 0
    empty = copy_lookups(ledgers, tmp_path / "empty")
    result = run_ftm_import(export, empty, name="roundtrip")
    assert result.errors == [] and result.written
    run_build(empty, tmp_path / "second")
    before = read_dataset(first / DATASET_PARQUET)
    after = read_dataset(tmp_path / "second" / DATASET_PARQUET)
    report = [json.loads((folder / REPORT_JSON).read_text()) for folder in (first, tmp_path / "second")]
    for key in ("total_usd", "total_eur", "totals_by_currency", "rows_counted_in_totals", "rows_not_counted"):
        assert report[0][key] == report[1][key], key
    return before, after


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("id").sort_index()[ROUND_TRIP_COLUMNS]


@pytest.fixture(scope="module")
def example_export(tmp_path_factory) -> tuple[Path, list[dict]]:
    build = tmp_path_factory.mktemp("build")
    run_build(LEDGER_DIR, build)
    path = build / "export.ftm.jsonl"
    assert main(["export", "ftm", "--build", str(build), "-o", str(path)]) == 0
    return build, lines(path)


def test_export_of_the_shipped_ledgers_passes_ftm_validation(example_export):
    build, entities = example_export
    assert_valid_ftm(entities)
    dataset = read_dataset(build / DATASET_PARQUET)
    payments = [e for e in entities if e["schema"] == "Payment"]
    public = dataset[dataset["visibility"].eq("public")]
    assert sorted(p["properties"]["recordId"][0] for p in payments) == sorted(public["id"])
    assert {e["schema"] for e in entities} >= {"Payment", "Document", "Person", "Company", "PublicBody"}
    # Payment ids are derived from the row id: the same row always gets the same entity id.
    again = export_ftm(build).entities
    assert [e.id for e in again] == [e["id"] for e in entities]


def test_ftm_validate_reparses_the_export_unchanged(example_export, tmp_path):
    build, entities = example_export
    source, checked = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entities), encoding="utf-8")
    done = subprocess.run([str(Path(sys.executable).parent / "ftm"), "validate", "-i", str(source), "-o",
                           str(checked)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # It writes FtM 4's empty referents/datasets beside each entity; the entities themselves come back unchanged.
    assert [{key: e[key] for key in ("id", "schema", "properties")} for e in lines(checked)] == entities


def test_an_ftm_consumer_can_count_each_transfer_once(example_export):
    build, entities = example_export
    counted = 0
    for payment in (e for e in entities if e["schema"] == "Payment"):
        lines_, _ = parse_description(payment["properties"]["description"][0], DESCRIPTION_COLUMNS)
        if lines_["counts_in_totals"] == "true":
            counted += int(round(float(lines_["total_usd"]) * 100)) if lines_.get("total_usd") else 0
        else:
            assert lines_.get("part_of") or lines_.get("same_as") or lines_["amount_kind"] in ("monthly", "yearly")
    report = json.loads((build / REPORT_JSON).read_text())
    assert counted == int(report["total_usd"].replace(".", ""))


def test_payment_properties_carry_the_ledger_row(example_export):
    build, entities = example_export
    by_record = {e["properties"]["recordId"][0]: e for e in entities if e["schema"] == "Payment"}
    by_id = {e["id"]: e for e in entities}
    baguirov = by_record["baguirov-253150"]["properties"]
    assert baguirov["amount"] == ["253150"] and baguirov["currency"] == ["USD"]
    assert baguirov["startDate"] == ["2013"] and baguirov["endDate"] == ["2014"] and "date" not in baguirov
    assert by_id[baguirov["beneficiary"][0]]["properties"]["name"] == ["Adil Baguirov"]
    assert by_id[baguirov["beneficiary"][0]]["schema"] == "Person"
    assert len(baguirov["sourceUrl"]) == 3 and len(baguirov["proof"]) == 3
    assert {by_id[d]["properties"]["sourceUrl"][0] for d in baguirov["proof"]} == set(baguirov["sourceUrl"])
    lines_, rest = parse_description(baguirov["description"][0], DESCRIPTION_COLUMNS)
    assert lines_["part_of"] == "laundromat-total-2012-2014" and lines_["confidence"] == "reported"
    assert lines_["counts_in_totals"] == "false" and rest == ""
    # An open range keeps its start only; a single day stays a day.
    podesta = by_record["podesta-2015"]["properties"]
    assert podesta["startDate"] == ["2015-02"] and "endDate" not in podesta


def test_ftm3_mode_uses_only_what_ftm_35_has(example_export, tmp_path):
    build, _ = example_export
    path = tmp_path / "aleph4.jsonl"
    assert main(["export", "ftm", "--ftm3", "--build", str(build), "-o", str(path)]) == 0
    entities = lines(path)
    assert_valid_ftm(entities)
    assert "Document" not in {e["schema"] for e in entities}
    for entity in entities:
        assert set(entity) == {"id", "schema", "properties"}
        unknown = set(entity["properties"]) - set(FTM35[entity["schema"]])
        assert unknown == set(), (entity["schema"], unknown)
    payments = [e for e in entities if e["schema"] == "Payment"]
    assert payments and all("proof" not in p["properties"] and p["properties"]["sourceUrl"] for p in payments)


def test_internal_rows_stay_out_unless_asked_for(tmp_path):
    root = ledger_folder(tmp_path, [row(id="open"), row(id="secret", visibility="internal",
                                                         recipient="Hidden Recipient Ltd")])
    run_build(root, tmp_path / "build")
    public = export_ftm(tmp_path / "build")
    assert public.internal_left_out == 1
    text = public.jsonl()
    assert "secret" not in text and "Hidden Recipient" not in text
    everything = export_ftm(tmp_path / "build", include_internal=True)
    records = [e.get("recordId")[0] for e in everything.entities if e.schema.name == "Payment"]
    assert sorted(records) == ["open", "secret"]
    assert "visibility: internal" in everything.jsonl()


def test_import_of_an_aleph_export_names_every_problem_and_writes_nothing(tmp_path):
    empty = copy_lookups(LEDGER_DIR, tmp_path / "ledgers")
    result = run_ftm_import(ALEPH_FILE, empty, confidence="reported")
    problems = {(i.row, i.column, i.value, i.code) for i in result.errors}
    assert problems == {
        (8, "Payment.currency", "BTC", "currency_unknown"),
        (9, "Payment.amount", "pay-no-amount", "ftm_incomplete"),
    }
    assert not result.written and not (empty / "imported").exists()
    warnings = {(i.row, i.column, i.code) for i in result.issues if i.severity == "warning"}
    assert (None, "Payment.transactionNumber", "ftm_property_ignored") in warnings
    assert (7, "Payment.payer", "ftm_several_countries") in warnings


def test_import_command_reports_and_exits_with_an_error(tmp_path, capsys):
    empty = copy_lookups(LEDGER_DIR, tmp_path / "ledgers")
    code = main(["import-ftm", str(ALEPH_FILE), "--ledgers", str(empty), "--confidence", "reported"])
    out = capsys.readouterr().out
    assert code == 1
    assert "aleph_payments.ftm.jsonl:8:Payment.currency: 'BTC'" in out
    assert "Nothing was written" in out


def test_import_of_an_aleph_export_writes_rows_and_register_proposals(tmp_path):
    empty = copy_lookups(LEDGER_DIR, tmp_path / "ledgers")
    source = tmp_path / "aleph.jsonl"
    source.write_text("".join(line + "\n" for line in ALEPH_FILE.read_text(encoding="utf-8").splitlines()
                              if '"pay-bitcoin"' not in line), encoding="utf-8")
    result = run_ftm_import(source, empty, confidence="reported", skip_incomplete=True)
    assert result.errors == [] and result.written
    assert result.skipped == {"payments without amount or parties": 1}
    ledger = pd.read_csv(empty / "imported" / "aleph.csv", dtype="str", keep_default_na=False).set_index("id")
    assert len(ledger) == 2
    full = ledger.loc["aleph-pay-full"]
    assert (full["amount"], full["currency"], full["date"]) == ("253,150.00", "USD", "2013-05-02")
    assert (full["payer"], full["payer_country"]) == ("Northwind Holdings Ltd", "GB")
    assert (full["recipient"], full["recipient_country"]) == ("Jana Kowalczyk", "PL")
    assert full["sources"] == "https://example.org/fictional/story | https://example.org/fictional/contract.pdf"
    assert (full["amount_kind"], full["confidence"], full["purpose"]) == ("payment", "reported", "consulting fee")
    assert full["x_source_row"] == "aleph.jsonl:6"
    # Nothing in an Aleph collection says it is public: the rows stay behind the login.
    assert set(ledger["visibility"]) == {"internal"}
    start_only = ledger.loc["aleph-pay-start-only"]
    assert (start_only["date"], start_only["amount"]) == ("2015-02/..", "2.9bn")
    assert start_only["date_note"] == "FtM gives a start date only"
    assert start_only["notes"] == "monthly retainer, end not reported"
    # The entity with several names: one canonical name, the others proposed as aliases of it.
    proposals = read_merges(empty / "imports" / "aleph.merges.csv")
    jana = proposals[proposals["canonical"].eq("Jana Kowalczyk")]
    assert set(jana["variant"]) == {"Jana Kowalczyk", "Jana Kowalczykova", "J. Kowalczyk"}
    assert set(jana["kind"]) == {"person"} and set(jana["country"]) == {"PL"}
    # Confirmed proposals go into the register through the importer's own merges command.
    proposals.loc[proposals["canonical"].eq("Jana Kowalczyk"), "decision"] = "yes"
    proposals.to_csv(empty / "imports" / "aleph.merges.csv", index=False)
    assert apply_merges(empty / "imports" / "aleph.merges.csv", empty / "lookups").problems == []
    register = pd.read_csv(empty / "lookups" / "entities.csv", dtype="str", keep_default_na=False)
    assert register.loc[0, ["name", "kind", "country"]].tolist() == ["Jana Kowalczyk", "person", "PL"]
    assert set(register.loc[0, "aliases"].split("|")) == {"Jana Kowalczykova", "J. Kowalczyk"}
    # The imported ledger builds.
    run_build(empty, tmp_path / "build")


def test_import_asks_for_a_confidence_the_file_does_not_state(tmp_path):
    result = run_ftm_import(ALEPH_FILE, copy_lookups(LEDGER_DIR, tmp_path / "ledgers"), skip_incomplete=True)
    missing = [i for i in result.errors if i.code == "required"]
    assert [(i.row, i.column) for i in missing] == [
        (row, "Payment.description → confidence (or --confidence)") for row in (6, 7, 8)]
    assert run_ftm_import(ALEPH_FILE, tmp_path / "ledgers", confidence="rumour").issues[0].code == "not_allowed"


def test_import_uses_a_converted_amount_only_when_the_payment_has_no_other(tmp_path):
    source = tmp_path / "usd_only.jsonl"
    payment = {"id": "p1", "schema": "Payment", "properties": {
        "amountUsd": ["1200"], "date": ["2014"], "payer": ["a"], "beneficiary": ["b"],
        "sourceUrl": ["https://example.org/fictional/usd-only"]}}
    parties = [{"id": key, "schema": "Company", "properties": {"name": [f"Fictional {key.upper()} Ltd"]}}
               for key in ("a", "b")]
    source.write_text("".join(json.dumps(e) + "\n" for e in [*parties, payment]), encoding="utf-8")
    result = run_ftm_import(source, copy_lookups(LEDGER_DIR, tmp_path / "ledgers"), confidence="reported")
    assert result.errors == [] and result.written
    assert [(i.column, i.code) for i in result.issues] == [("Payment.amountUsd", "ftm_converted_amount")]
    ledger = pd.read_csv(tmp_path / "ledgers" / "imported" / "usd_only.csv", dtype="str", keep_default_na=False)
    assert ledger.loc[0, ["amount", "currency"]].tolist() == ["1200", "USD"]


def test_import_rejects_a_file_that_is_not_ftm(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "schema": "Payment", "properties": {"amount": "12"}}\nnot json\n'
                   '{"id": "y", "schema": "Invoice", "properties": {}}\n', encoding="utf-8")
    result = run_ftm_import(bad, copy_lookups(LEDGER_DIR, tmp_path / "ledgers"))
    assert {(i.row, i.code) for i in result.errors} == {(1, "ftm_properties"), (2, "ftm_json"), (3, "ftm_schema")}
    assert not result.written


def test_round_trip_of_the_shipped_ledgers(tmp_path):
    before, after = round_trip(LEDGER_DIR, tmp_path)
    public = before[before["visibility"].eq("public")]
    pd.testing.assert_frame_equal(comparable(after), comparable(public), check_dtype=False)


def test_round_trip_of_a_synthetic_ledger(tmp_path):
    root = tmp_path / "ledgers"
    write_lookups(root)
    synthetic_entities(500).to_csv(root / "lookups" / "entities.csv", index=False)
    synthetic_ledger(500, seed=11, bad_share=0.0).to_csv(root / "synthetic.csv", index=False)
    before, after = round_trip(root, tmp_path, include_internal=True)
    assert len(after) == len(before) == 500
    pd.testing.assert_frame_equal(comparable(after), comparable(before), check_dtype=False)


def test_a_public_part_of_an_unpublished_transfer_names_nothing_of_it(tmp_path):
    from etl.ftm.export import without_hidden_links

    rows = pd.DataFrame({"id": ["public-part", "public-root"], "part_of": ["secret-parent", ""],
                         "same_as": ["", ""], "total_amount": [100, 50], "counts_in_totals": [False, True],
                         "totals_note": ["part of secret-parent: drawn on its own", "counted"]})
    out = without_hidden_links(rows)
    assert "secret-parent" not in out.to_csv()
    assert out["counts_in_totals"].tolist() == [True, True] and out["totals_note"].tolist() == ["counted", "counted"]
