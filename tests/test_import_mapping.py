"""Mappings turn other people's tables into ledgers: readers, conventions, skips, ids, issues and writing."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from etl.imports.mapping import MappingInvalid, load_mapping
from etl.imports.run import run_import
from etl.pipeline import build
from ledger_factory import ledger_folder, row, write_lookups

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ledgers(tmp_path: Path) -> Path:
    """A ledger folder with one hand-entered total that imported rows can be part of."""
    root = ledger_folder(tmp_path, [row(id="fara-total-2019", amount="100000", date="2019", amount_kind="total")])
    (root / "imports").mkdir()
    return root


def write_mapping(root: Path, text: str, name: str = "test") -> Path:
    path = root / "imports" / f"{name}.mapping.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def read_output(root: Path, name: str = "test") -> pd.DataFrame:
    return pd.read_csv(root / "imported" / f"{name}.csv", dtype="str", keep_default_na=False)


# A register export the way US FARA-style tables look: Windows-1252, ';', two title lines above the header,
# US dates with a trailing * for "end of the reporting period", signed amounts, placeholders for empty values.
REGISTER = (
    "Foreign principal payments (export)\n"
    "Generated for the test\n"
    "Doc;Registrant;Principal;Client id;Date;Amount;Currency;Purpose\n"
    "R-1;Podesta Group;Ministry of Tourism;c1;07/15/19;25000;USD;Lobbying for the Ministry\n"
    "R-2;Podesta Group;Ministry of Tourism;c1;12/31/19*;-1500;USD;Refund of expenses\n"
    "R-3;BGR Group;Ministry of Culture;c2;03/01/19;12,000.50;EUR;<SELECT ONE>\n"
    "R-3;BGR Group;Ministry of Culture;c2;03/01/19;12,000.50;EUR;<SELECT ONE>\n"
    "R-4;BGR Group;Ministry of Tourism;c9;04/02/19;;USD;No amount reported\n"
)
CLIENTS = "id,country\nc1,Azerbaijan\nc2,UNKNOWN\n"

REGISTER_MAPPING = """\
    source:
      file: register.csv
      encoding: cp1252
      delimiter: ";"
      header_row: 3
      url: https://efile.fara.gov/ords/fara/f?p=1235:10
      publisher: FARA
    join:
      - file: clients.csv
        as: client
        on: {Client id: id}
    empty_values: [UNKNOWN, "<SELECT ONE>"]
    skip: {exact_duplicates: true, blank_amounts: true}
    columns:
      id: {column: Doc, prefix: fara-}
      date: {column: Date, format: "%m/%d/%y", period_end_marker: "*"}
      amount: {column: Amount, negative: swap}
      currency: Currency
      amount_kind: {constant: payment}
      payer: Principal
      payer_country: client.country
      recipient: Registrant
      recipient_country: {constant: US}
      part_of: {constant: fara-total-2019}
      confidence: {constant: official_record}
      purpose: {template: "{Purpose} ({Doc})"}
      notes: {column: Registrant, lookup: {Podesta Group: "Registrant closed in 2017"}, unmatched: empty}
"""


def test_a_register_export_becomes_a_ledger_that_builds(ledgers):
    (ledgers / "imports" / "register.csv").write_bytes(REGISTER.encode("cp1252"))
    (ledgers / "imports" / "clients.csv").write_text(CLIENTS, encoding="utf-8")
    result = run_import(write_mapping(ledgers, REGISTER_MAPPING), ledgers)
    assert result.errors == [] and result.written
    assert (result.rows_read, result.rows_mapped) == (5, 3)
    assert build(ledgers).errors == []  # the imported ledger builds with the hand-entered one it links to
    assert result.skipped == {"exact duplicates": 1, "blank amounts": 1}
    assert result.swapped == 1
    skipped = {(i.row, i.code) for i in result.issues}
    # Row 8 is left out (no amount), so its unmatched client is not reported: issues are for rows kept.
    assert skipped == {(7, "skipped_duplicate"), (8, "skipped_blank_amount")}

    out = read_output(ledgers).set_index("id")
    assert list(out.index) == ["fara-R-1", "fara-R-2", "fara-R-3"]
    first = out.loc["fara-R-1"]
    assert (first["date"], first["amount"], first["payer"], first["payer_country"]) == \
        ("2019-07-15", "25000", "Ministry of Tourism", "Azerbaijan")
    assert first["sources"] == "https://efile.fara.gov/ords/fara/f?p=1235:10"
    assert first["purpose"] == "Lobbying for the Ministry (R-1)" and first["notes"] == "Registrant closed in 2017"
    assert first["x_source_row"] == "register.csv:4"
    refund = out.loc["fara-R-2"]
    # Negative: the money went the other way, so payer and recipient (and their countries) swap.
    assert (refund["payer"], refund["recipient"], refund["amount"]) == ("Podesta Group", "Ministry of Tourism", "1500")
    assert (refund["payer_country"], refund["recipient_country"]) == ("US", "Azerbaijan")
    assert refund["date"] == "2019-12-31" and "end of the reporting period" in refund["date_note"]
    assert "swapped" in refund["notes"]
    media = out.loc["fara-R-3"]
    # Placeholders mean empty; cp1252 text is decoded; the amount keeps its written digits.
    assert (media["payer"], media["payer_country"], media["amount"]) == ("Ministry of Culture", "", "12,000.50")
    assert media["purpose"] == "(R-3)" and media["notes"] == ""


def test_a_placeholder_payer_is_refused_at_the_source_row(ledgers):
    text = REGISTER.replace("R-1;Podesta Group;Ministry of Tourism", "R-1;Podesta Group;UNKNOWN")
    (ledgers / "imports" / "register.csv").write_bytes(text.encode("cp1252"))
    (ledgers / "imports" / "clients.csv").write_text(CLIENTS, encoding="utf-8")
    result = run_import(write_mapping(ledgers, REGISTER_MAPPING), ledgers)
    assert [(i.file, i.row, i.column, i.code) for i in result.errors] == [
        ("register.csv", 4, "Principal → payer", "required")]
    assert not result.written and not (ledgers / "imported" / "test.csv").exists()


def test_issues_name_the_source_file_row_and_column_and_nothing_is_written(ledgers):
    (ledgers / "imports" / "data.csv").write_text(
        "ref,when,value,ccy,from,to\n"
        "a1,2019-02-30,100,USD,Alpha,Beta\n"
        "a2,2019-03-01,-5,USD,Alpha,Beta\n"
        "a3,2019-03-02,lots,XYZ,Alpha,Beta\n", encoding="utf-8")
    (ledgers / "imported").mkdir()
    (ledgers / "imported" / "test.csv").write_text("previous import\n", encoding="utf-8")
    result = run_import(write_mapping(ledgers, """\
        source: {file: data.csv, url: "https://example.org/data"}
        columns:
          id: {column: ref, prefix: t-}
          date: {column: when, format: "%Y-%m-%d"}
          amount: value
          currency: ccy
          amount_kind: {constant: payment}
          payer: from
          recipient: to
          confidence: {constant: reported}
    """), ledgers)
    found = {(i.file, i.row, i.column, i.code) for i in result.errors}
    assert ("data.csv", 2, "when → date", "date_format") in found or ("data.csv", 2, "when", "date_format") in found
    assert ("data.csv", 3, "value", "amount_negative") in found
    assert ("data.csv", 4, "value → amount", "amount_unreadable") in {(i.file, i.row, i.column, i.code)
                                                                     for i in result.errors} | found or \
        any(i.row == 4 and i.column.startswith("value") for i in result.errors)
    assert any(i.row == 4 and i.column.startswith("ccy") for i in result.errors)
    assert not result.written
    assert (ledgers / "imported" / "test.csv").read_text(encoding="utf-8") == "previous import\n"


def test_every_mapping_problem_is_reported_at_once(ledgers):
    (ledgers / "imports" / "data.csv").write_text("name,amt\nA,1\n", encoding="utf-8")
    path = write_mapping(ledgers, """\
        source: {file: data.csv, format: csvx, encoding: klingon}
        colour: blue
        columns:
          payer: {column: name, constant: X}
          beneficiary: name
          amount: {column: amt, negative: sometimes}
          date: {column: amt, format: "dd/mm/yyyy"}
    """)
    with pytest.raises(MappingInvalid) as raised:
        load_mapping(path)
    keys = {i.column for i in raised.value.issues}
    assert {"source.format", "source.encoding", "colour", "columns.payer", "columns.beneficiary",
            "columns.amount.negative", "columns.date.format", "columns.recipient"} <= keys


def test_yaml_words_like_on_and_no_stay_text(ledgers):
    (ledgers / "imports" / "data.csv").write_text("who,on,sum\nAlpha,2012,5\n", encoding="utf-8")
    result = run_import(write_mapping(ledgers, """\
        source: {file: data.csv}
        columns:
          date: on
          amount: sum
          currency: {constant: NOK}
          amount_kind: {constant: payment}
          payer: who
          payer_country: {constant: NO}
          recipient: {constant: Beta}
          confidence: {constant: reported}
          sources: {constant: "https://example.org/x"}
    """), ledgers)
    assert result.errors == []
    out = read_output(ledgers)
    assert (out["date"].iloc[0], out["payer_country"].iloc[0]) == ("2012", "NO")


def test_a_misspelt_source_column_gets_a_suggestion(ledgers):
    (ledgers / "imports" / "data.csv").write_text("payer_name,beneficiary_name,amount\nA,B,1\n", encoding="utf-8")
    result = run_import(write_mapping(ledgers, """\
        source: {file: data.csv}
        columns:
          payer: payer_nmae
          recipient: beneficiary_name
          amount: amount
    """), ledgers)
    assert [(i.column, i.value) for i in result.issues] == [("columns.payer", "payer_nmae")]
    assert "did you mean 'payer_name'" in result.issues[0].message


MINIMAL = """\
    source: {{file: {file}, {options}url: "https://example.org/dataset"}}
    columns:
      date: {date}
      amount: {amount}
      currency: {{constant: EUR}}
      amount_kind: {{constant: payment}}
      payer: {payer}
      recipient: {recipient}
      confidence: {{constant: reported}}
"""


def test_json_records_path_nested_fields_and_exact_numbers(ledgers):
    document = '{"meta": {"n": 2}, "data": {"items": [' \
               '{"from": {"name": "Alpha"}, "to": "Beta", "value": 1234.50, "on": "2015-03-02"},' \
               '{"from": {"name": "Gamma"}, "to": "Delta", "value": 0.10, "on": "2015-03"}]}}'
    (ledgers / "imports" / "data.json").write_text(document, encoding="utf-8")
    result = run_import(write_mapping(ledgers, MINIMAL.format(
        file="data.json", options="records: data.items, ", date="on", amount="value", payer="from.name",
        recipient="to")), ledgers)
    assert result.errors == []
    out = read_output(ledgers)
    assert out["amount"].tolist() == ["1234.50", "0.10"]  # the digits as written, no float round trip
    assert out["payer"].tolist() == ["Alpha", "Gamma"]
    assert out["x_source_row"].tolist() == ["data.json:1", "data.json:2"]


def test_jsonl_bad_line_is_named(ledgers):
    (ledgers / "imports" / "data.jsonl").write_text(
        '{"a": "X", "b": "Y", "v": "10", "d": "2016"}\n\n{"a": "X", "b": \n', encoding="utf-8")
    result = run_import(write_mapping(ledgers, MINIMAL.format(
        file="data.jsonl", options="", date="d", amount="v", payer="a", recipient="b")), ledgers)
    assert [(i.file, i.row, i.code) for i in result.issues] == [("data.jsonl", 3, "json_syntax")]


def test_xml_records_with_attributes_and_child_paths(ledgers):
    (ledgers / "imports" / "data.xml").write_text(
        '<?xml version="1.0"?><export xmlns="urn:test"><filing id="f1"><payment currency="EUR" amount="500">'
        '<payer><name>Alpha</name></payer><payee>Beta</payee><date>2014-06-01</date></payment></filing>'
        '<filing id="f2"><payment currency="EUR" amount="7,5 Mio.">'
        '<payer><name>Gamma</name></payer><payee>Delta</payee><date>2014</date></payment></filing></export>',
        encoding="utf-8")
    result = run_import(write_mapping(ledgers, MINIMAL.format(
        file="data.xml", options="record: payment, ", date="date", amount="'@amount'", payer="payer/name",
        recipient="payee")), ledgers)
    assert result.errors == []
    out = read_output(ledgers)
    assert out[["payer", "recipient", "amount", "date"]].values.tolist() == [
        ["Alpha", "Beta", "500", "2014-06-01"], ["Gamma", "Delta", "7,5 Mio.", "2014"]]


def test_xml_entity_expansion_is_refused(ledgers):
    (ledgers / "imports" / "bomb.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        '<r><p><x>&b;</x></p></r>', encoding="utf-8")
    result = run_import(write_mapping(ledgers, MINIMAL.format(
        file="bomb.xml", options="record: p, ", date="x", amount="x", payer="x", recipient="x")), ledgers)
    assert [i.code for i in result.issues] == ["xml_unsafe"]


def test_utf16_csv_and_xlsx_sheet_with_header_row(ledgers):
    from openpyxl import Workbook

    text = "who,whom,sum,when\nAlpha,Beta,\u20ac2.39m,2012\n"
    (ledgers / "imports" / "data.csv").write_bytes(text.encode("utf-16"))
    result = run_import(write_mapping(ledgers, MINIMAL.format(
        file="data.csv", options="encoding: utf-16, ", date="when", amount="sum", payer="who", recipient="whom")),
        ledgers)
    assert result.errors == [] and read_output(ledgers)["amount"].tolist() == ["\u20ac2.39m"]

    book = Workbook()
    book.active.title = "notes"
    sheet = book.create_sheet("payments")
    sheet.append(["Exported from a register"])
    sheet.append(["who", "whom", "sum", "when"])
    sheet.append(["Alpha", "Beta", 1500.25, "2013-04"])
    book.save(ledgers / "imports" / "data.xlsx")
    result = run_import(write_mapping(ledgers, MINIMAL.format(
        file="data.xlsx", options="sheet: payments, header_row: 2, ", date="when", amount="sum", payer="who",
        recipient="whom"), name="book"), ledgers)
    assert result.errors == []
    out = read_output(ledgers, "book")
    assert out[["amount", "x_source_row"]].values.tolist() == [["1500.25", "data.xlsx:3"]]


def test_undecodable_source_names_the_line(ledgers):
    (ledgers / "imports" / "data.csv").write_bytes("who,whom,sum,when\nAlpha,Beta,1,2012\nJos\u00e9,B,2,2012\n"
                                                   .encode("cp1252"))
    result = run_import(write_mapping(ledgers, MINIMAL.format(
        file="data.csv", options="", date="when", amount="sum", payer="who", recipient="whom")), ledgers)
    assert [(i.row, i.code) for i in result.issues] == [(3, "encoding")]
    assert "cp1252" in result.issues[0].message


def test_hash_ids_are_stable_across_reimports_and_row_order(ledgers):
    rows = ["Alpha,Beta,100,2012", "Gamma,Delta,200,2013", "Alpha,Beta,100,2012"]
    mapping = MINIMAL.format(file="data.csv", options="", date="when", amount="sum", payer="who", recipient="whom")
    (ledgers / "imports" / "data.csv").write_text("who,whom,sum,when\n" + "\n".join(rows) + "\n", encoding="utf-8")
    run_import(write_mapping(ledgers, mapping), ledgers)
    first = read_output(ledgers)
    # Rows that map to the same values (no exact-duplicate skip here) get -2, -3, … so ids stay unique.
    assert first["id"].is_unique and first["id"].iloc[2] == first["id"].iloc[0] + "-2"
    assert first["id"].str.fullmatch(r"test-[0-9a-f]{16}(-\d)?").all()
    (ledgers / "imports" / "data.csv").write_text("who,whom,sum,when\n" + "\n".join(rows[::-1][1:]) + "\n",
                                                  encoding="utf-8")
    run_import(write_mapping(ledgers, mapping), ledgers)
    again = read_output(ledgers)
    assert set(again["id"]) == set(first["id"].iloc[:2])


def test_the_command_line_reports_and_exits(ledgers):
    (ledgers / "imports" / "data.csv").write_text("who,whom,sum,when\nAlpha,Beta,100,2012\nA,B,,2012\n",
                                                  encoding="utf-8")
    mapping = write_mapping(ledgers, MINIMAL.format(
        file="data.csv", options="", date="when", amount="sum", payer="who", recipient="whom").replace(
        "    columns:", "    skip: {blank_amounts: true}\n    columns:"))
    run = subprocess.run([sys.executable, "-m", "etl", "import", str(mapping), "--ledgers", str(ledgers)],
                         cwd=PROJECT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "rows read:    2" in run.stdout and "skipped, blank amounts: 1" in run.stdout
    assert "data.csv:3:sum: '' — warning: no amount: skipped" in run.stdout
    assert (ledgers / "imported" / "test.csv").exists()
    assert "Traceback" not in run.stderr

    broken = write_mapping(ledgers, "source: [not, a, mapping\n", name="broken")
    run = subprocess.run([sys.executable, "-m", "etl", "import", str(broken), "--ledgers", str(ledgers)],
                         cwd=PROJECT, capture_output=True, text=True)
    assert run.returncode == 1 and "not valid YAML" in run.stdout and "Traceback" not in run.stderr


def test_a_blank_line_keeps_row_numbers_true(ledgers):
    # Arrow's fast reader refuses blank lines; the pandas reader takes over and numbers rows as a spreadsheet.
    (ledgers / "imports" / "data.csv").write_text("who,whom,sum,when\nAlpha,Beta,1,2012\n\nGamma,Delta,2,20x2\n",
                                                  encoding="utf-8")
    result = run_import(write_mapping(ledgers, MINIMAL.format(
        file="data.csv", options="", date="when", amount="sum", payer="who", recipient="whom")), ledgers)
    assert [(i.row, i.code) for i in result.errors] == [(4, "date_unreadable")]
    assert result.skipped == {"blank rows": 1}


@pytest.mark.parametrize("seed", range(20))
def test_exact_duplicates_agree_with_pandas(seed):
    import numpy as np

    from etl.imports.transform import exact_duplicates

    rng = np.random.default_rng(seed)
    rows, width = int(rng.integers(1, 300)), int(rng.integers(1, 6))
    frame = pd.DataFrame({f"c{i}": pd.Series(rng.choice(["", "a", "b", "a b", "\u00e9"], rows), dtype="str")
                          for i in range(width)})
    duplicate, first = exact_duplicates(frame)
    assert duplicate.tolist() == frame.duplicated(keep="first").tolist()
    for position in np.flatnonzero(duplicate):
        assert first[position] < position
        assert frame.iloc[first[position]].tolist() == frame.iloc[position].tolist()
        assert not duplicate[first[position]]


def test_sources_get_the_dataset_url_and_only_http_row_links(ledgers):
    (ledgers / "imports" / "data.csv").write_text(
        "who,whom,sum,when,doc\nAlpha,Beta,1,2012,https://example.org/doc/1.pdf\n"
        "Gamma,Delta,2,2013,javascript:alert(1)\n", encoding="utf-8")
    mapping = MINIMAL.format(file="data.csv", options="", date="when", amount="sum", payer="who", recipient="whom")
    result = run_import(write_mapping(ledgers, mapping + "      sources: {constant: 'https://example.org/register', "
                                                          "link_column: doc}\n"), ledgers)
    assert result.errors == []
    assert read_output(ledgers)["sources"].tolist() == [
        "https://example.org/register | https://example.org/dataset | https://example.org/doc/1.pdf",
        "https://example.org/register | https://example.org/dataset"]


def test_rows_with_extra_cells_are_named_and_trailing_empty_cells_are_harmless(ledgers):
    mapping = MINIMAL.format(file="data.csv", options="", date="when", amount="sum", payer="who", recipient="whom")
    (ledgers / "imports" / "data.csv").write_text(
        "who,whom,sum,when\nAlpha,Beta,1,2012\nGamma,Delta,2,2013,,\n", encoding="utf-8")
    result = run_import(write_mapping(ledgers, mapping), ledgers)
    assert result.errors == [] and read_output(ledgers)["payer"].tolist() == ["Alpha", "Gamma"]
    (ledgers / "imports" / "data.csv").write_text(
        "who,whom,sum,when\nAlpha,Beta,1,2012\nGamma,Delta,2,000,2013\nEps,Zeta,3,2014,x\n", encoding="utf-8")
    result = run_import(write_mapping(ledgers, mapping), ledgers)
    assert [(i.row, i.code) for i in result.issues] == [(3, "ragged_row"), (4, "ragged_row")]


def test_formula_like_source_text_is_neutralised_in_the_ledger_and_restored_by_the_build(ledgers):
    (ledgers / "imports" / "data.csv").write_text(
        "who,whom,sum,when,why\nAlpha,Beta,1,2012,=HYPERLINK(\"http://x\")\nGamma,Delta,2,2013,-/FEE/USD\n",
        encoding="utf-8")
    mapping = MINIMAL.format(file="data.csv", options="", date="when", amount="sum", payer="who", recipient="whom")
    run_import(write_mapping(ledgers, mapping + "      purpose: why\n"), ledgers)
    assert read_output(ledgers)["purpose"].tolist() == ["'=HYPERLINK(\"http://x\")", "'-/FEE/USD"]
    built = build(ledgers)
    rows = built.dataset[built.dataset["ledger_file"].eq("imported/test.csv")]
    assert rows["purpose"].tolist() == ["=HYPERLINK(\"http://x\")", "-/FEE/USD"]
