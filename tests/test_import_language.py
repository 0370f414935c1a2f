"""The mapping language of issue 15, feature by feature, on small nasty fixtures: filters, fallbacks, format
lists, when: rules, regex, explode, amendments, joins, dirty CSV options, self-payments, dry runs."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.imports.mapping import MappingInvalid, load_mapping
from etl.imports.readers import read_table
from etl.imports.run import import_report, run_import
from etl.imports.transform import map_rows
from ledger_factory import ledger_folder, row

BASE = """\
    source: {file: data.csv, url: "https://example.org/register"}
    columns:
      id: {column: ref, prefix: t-}
      amount: value
      currency: {constant: USD}
      amount_kind: {constant: payment}
      payer: from
      recipient: to
      confidence: {constant: official_record}
"""
HEADER = "ref,kind,value,from,to,when\n"


@pytest.fixture
def ledgers(tmp_path: Path) -> Path:
    root = ledger_folder(tmp_path, [row(id="hand-1")])
    (root / "imports").mkdir()
    return root


def mapping(root: Path, extra: str = "", base: str = BASE, name: str = "test") -> Path:
    path = root / "imports" / f"{name}.mapping.yml"
    path.write_text(textwrap.dedent(base) + textwrap.dedent(extra), encoding="utf-8")
    return path


def with_columns(extra_columns: str, top: str = "", source: str = "", amount: str = "value", payer: str = "from",
                 recipient: str = "to") -> str:
    """BASE with some entries replaced or added (each line of extra_columns is one `ledger_column: entry`)."""
    text = BASE.replace("amount: value", f"amount: {amount}").replace("payer: from", f"payer: {payer}") \
        .replace("recipient: to", f"recipient: {recipient}")
    if source:
        text = text.replace(BASE.splitlines()[0], "    source: " + source)
    text += textwrap.indent(textwrap.dedent(extra_columns), " " * 6)
    return text + textwrap.indent(textwrap.dedent(top), " " * 4)


def data(root: Path, text: str, name: str = "data.csv") -> None:
    (root / "imports" / name).write_text(text, encoding="utf-8")


def output(root: Path, name: str = "test") -> pd.DataFrame:
    return pd.read_csv(root / "imported" / f"{name}.csv", dtype="str", keep_default_na=False).set_index("id")


# --- filters -----------------------------------------------------------------------------------------------

def test_filters_keep_and_drop_by_rule_counted_and_dropped_rows_raise_nothing(ledgers):
    data(ledgers, HEADER +
         "a1,client,100,Alpha,Beta,\n"
         "a2,in-house,lots,Gamma,Gamma,not a date\n"  # dropped: its bad amount and self-payment are not issues
         "a3,client,5,Alpha,Beta,\n"                  # dropped by the numeric rule
         "a4,Public Fund,900,State,Beta,\n"           # dropped by the list rule
         "a5,client,250,Alpha Trust,Beta,\n"          # dropped by the regex rule
         "a6,client,300,,Beta,\n")                    # kept: the empty payer is an issue of a kept row
    result = run_import(mapping(ledgers, """\
        filters:
          - {name: in-house filings, drop: {field: kind, equals: IN-HOUSE, ignore_case: true}}
          - {name: small, drop: {all: [{field: value, below: 10}, {field: value, empty: false}]}}
          - {drop: {field: kind, in: [Public Fund, Short money]}}
          - {name: no trusts, keep: {not: {field: from, matches: "(?i)trust$"}}}
        """), ledgers)
    assert result.skipped == {"filter: in-house filings": 1, "filter: small": 1,
                              "filter: kind in [Public Fund, Short money]": 1, "filter: no trusts": 1}
    assert [(i.row, i.code) for i in result.errors] == [(7, "required")]
    assert not [i for i in result.issues if i.row in (3, 4, 5, 6)]


def test_a_numeric_filter_on_a_kept_row_that_is_not_a_number_is_an_issue(ledgers):
    data(ledgers, HEADER + "a1,client,\"£20,000.00\",Alpha,Beta,\na2,client,n/a,Alpha,Beta,\n")
    result = run_import(mapping(ledgers, "filters: [{name: big, keep: {field: value, at_least: 1000}}]\n"),
                        ledgers, write=False)
    # "£20,000.00" compares as 20000; "n/a" is no number: the row is dropped by the keep rule, so no issue.
    assert result.skipped == {"filter: big": 1} and result.rows_mapped == 1
    assert not [i for i in result.issues if i.code == "filter_not_number"]
    result = run_import(mapping(ledgers, "filters: [{name: not small, drop: {field: value, below: 10}}]\n"),
                        ledgers, write=False)
    assert [(i.row, i.code, i.value) for i in result.errors if i.code == "filter_not_number"] == [(3, "filter_not_number", "n/a")]


def test_bad_filters_are_mapping_problems(ledgers):
    data(ledgers, HEADER)
    with pytest.raises(MappingInvalid) as caught:
        load_mapping(mapping(ledgers, """\
            filters:
              - {drop: {field: kind, equals: x, in: [y]}}
              - {keep: {field: kind, matches: "([unclosed"}}
              - {drop: {field: value, above: lots}}
              - {remove: {field: kind, equals: x}}
            """))
    where = {i.column for i in caught.value.issues}
    assert {"filters[1].drop", "filters[2].keep.matches", "filters[3].drop.above", "filters[4].remove",
            "filters[4]"} <= where


FILTER_ROWS = st.lists(st.tuples(st.sampled_from(["client", "in-house", "Public Fund", ""]),
                                 st.integers(min_value=1, max_value=10**7),
                                 st.sampled_from(["Alpha", "Beta Ltd", "Gamma Trust", "Δelta"])),
                       min_size=1, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(FILTER_ROWS, st.integers(min_value=0, max_value=10**7))
def test_a_filter_never_changes_the_rows_it_keeps(tmp_path, records, threshold):
    root = tmp_path / f"p{abs(hash((tuple(records), threshold)))}"
    (root / "imports").mkdir(parents=True)
    data(root, HEADER + "".join(f"a{n},{kind},{value},{payer},Recipient,\n"
                                for n, (kind, value, payer) in enumerate(records)))
    plain = load_mapping(mapping(root, "", name="plain"))
    filtered = load_mapping(mapping(root, f"""\
        filters:
          - {{drop: {{field: kind, in: [in-house, Public Fund]}}}}
          - {{keep: {{any: [{{field: value, above: {threshold}}}, {{field: from, matches: "Trust"}}]}}}}
        """, name="filtered"))
    everything = map_rows(plain, read_table(plain.source)[0], {}).frame.set_index("id")
    kept = map_rows(filtered, read_table(filtered.source)[0], {}).frame.set_index("id")
    expected = [f"t-a{n}" for n, (kind, value, payer) in enumerate(records)
                if kind not in ("in-house", "Public Fund") and (value > threshold or "Trust" in payer)]
    assert list(kept.index) == expected
    pd.testing.assert_frame_equal(kept, everything.loc[expected])


# --- values: fallbacks, formats, when, regex ---------------------------------------------------------------

def test_fallback_columns_and_date_and_number_format_lists(ledgers):
    base = with_columns('date: {column: [received, accepted], format: ["%d/%m/%Y", "%Y-%m-%d"]}\n',
                        amount='{column: value, format: ["1.234,56", "1,234.56", "1 234,56"]}')
    data(ledgers, "ref,received,accepted,value,from,to\n"
                  "a1,12/03/2019,,\"20.000,50\",Alpha,Beta\n"
                  "a2,,2019-04-02,\"1,250.00\",Alpha,Beta\n"
                  "a3,,2019-05-01,$7 500,Alpha,Beta\n"
                  "a4,31/02/2019,,12,Alpha,Beta\n")
    result = run_import(mapping(ledgers, base=base), ledgers, write=False)
    assert [(i.row, i.code) for i in result.errors] == [(5, "date_format")]  # 31 February: no format fits
    data(ledgers, "ref,received,accepted,value,from,to\n"
                  "a1,12/03/2019,,\"20.000,50\",Alpha,Beta\n"
                  "a2,,2019-04-02,\"1,250.00\",Alpha,Beta\n"
                  "a3,,2019-05-01,$7 500,Alpha,Beta\n")
    result = run_import(mapping(ledgers, base=base), ledgers)
    assert result.errors == []
    out = output(ledgers)
    assert out["date"].tolist() == ["2019-03-12", "2019-04-02", "2019-05-01"]
    assert out["amount"].tolist() == ["20000.50", "1250.00", "$7500"]


def test_an_amount_in_no_listed_number_format_is_an_issue(ledgers):
    data(ledgers, HEADER + "a1,c,1.234.5,Alpha,Beta,\n")
    result = run_import(mapping(ledgers, base=with_columns("", amount='{column: value, format: ["1,234.56"]}')),
                        ledgers, write=False)
    assert [(i.row, i.value) for i in result.errors if i.code == "amount_format"] == [(2, "1.234.5")]


def test_when_rules_regex_extract_and_replace(ledgers):
    data(ledgers, "ref,status,company_no,value,donor,to,period\n"
                  "a1,Individual,,100,Dr. Ann Example,The Party [The],Q1 2019\n"
                  "a2,Company,0123,200,\"Acme Ltd, 1 High Street, Leeds\",The Party [The],Annual report 2020\n"
                  "a3,Company,,300,Other Ltd,The Party [The],no year\n")
    base = with_columns("""\
        payer_country:
          when:
            - {if: {field: company_no, empty: false}, constant: GB}
            - {if: {field: status, equals: Individual}, constant: ""}
          constant: multiple
        date: {column: period, extract: "(\\\\d{4})"}
        date_note: {constant: from the return's period}
        """, payer='{column: donor, replace: {"^(Mr|Mrs|Ms|Dr)\\\\.? +": "", ",.*$": ""}}',
        recipient='{column: to, replace: {" *\\\\[The\\\\]$": ""}}')
    result = run_import(mapping(ledgers, base=base), ledgers)
    assert [(i.row, i.code) for i in result.issues] == [(4, "extract_no_match")]
    out = output(ledgers)
    assert out["payer"].tolist() == ["Ann Example", "Acme Ltd", "Other Ltd"]
    assert out["recipient"].tolist() == ["The Party"] * 3
    assert out["payer_country"].tolist() == ["", "GB", "multiple"]
    assert out["date"].tolist() == ["2019", "2020", ""]


# --- explode and amendments --------------------------------------------------------------------------------

XML_BASE = """\
    source: {file: filings.xml, record: filing, url: "https://example.org/lda"}
    columns:
      id: {column: "@id", prefix: x-}
      amount: {column: [recipient/@share, income]}
      currency: {constant: USD}
      amount_kind: {constant: total}
      payer: client
      recipient: recipient
      confidence: {constant: official_record}
"""
FILINGS = """<?xml version="1.0" encoding="UTF-8"?>
<filings>
  <filing id="1"><client>Alpha</client><recipient>Beta</recipient><recipient>Gamma</recipient><income>900</income></filing>
  <filing id="2"><client>Alpha</client><recipient share="10">Beta</recipient><recipient share="20">Gamma</recipient><income>30</income></filing>
  <filing id="3" amends="1"><client>Alpha</client><recipient>Beta</recipient><income>950</income></filing>
</filings>
"""


def test_several_elements_never_become_one_entity(ledgers):
    data(ledgers, FILINGS, "filings.xml")
    result = run_import(mapping(ledgers, "", base=XML_BASE), ledgers, write=False)
    several = [(i.row, i.column, i.value) for i in result.errors if i.code == "several_values"]
    assert (1, "recipient → recipient", "Beta; Gamma") in several and not result.written


def test_explode_splits_only_when_the_source_says_how_and_amendments_restate(ledgers):
    data(ledgers, FILINGS, "filings.xml")
    result = run_import(mapping(ledgers, """\
        explode: {fields: [recipient, recipient/@share]}
        amendments: {key: "@id", amends: "@amends"}
        """, base=XML_BASE), ledgers)
    assert result.errors == []
    out = output(ledgers)
    assert list(out.index) == ["x-1-1", "x-1-2", "x-2-1", "x-2-2", "x-3"]
    assert out["recipient"].tolist() == ["Beta", "Gamma", "Beta", "Gamma", "Beta"]
    assert out["amount"].tolist() == ["900", "900", "10", "20", "950"]
    # Filing 1 (whole amount, two recipients) is restated by filing 3: every row of it is same_as x-3.
    assert out["same_as"].tolist() == ["x-3", "x-3", "", "", ""]
    assert "restated by amendment 3" in out.loc["x-1-2", "notes"]


def test_explode_without_amendments_links_the_whole_amount_once(ledgers):
    data(ledgers, FILINGS, "filings.xml")
    run_import(mapping(ledgers, "explode: {fields: [recipient, recipient/@share]}\n", base=XML_BASE), ledgers)
    out = output(ledgers)
    assert out.loc["x-1-2", "same_as"] == "x-1-1" and out.loc["x-1-1", "same_as"] == ""
    assert "counted once, on x-1-1" in out.loc["x-1-2", "notes"]


def test_explode_a_csv_cell_and_mismatched_elements(ledgers):
    data(ledgers, "ref,value,from,to,shares\na1,100,Alpha,Beta;Gamma,60;40\na2,100,Alpha,Beta;Gamma,60\n")
    result = run_import(mapping(ledgers, "explode: {fields: [to, shares], separator: \";\"}\n", base=BASE.replace(
        "amount: value", "amount: {column: [shares, value]}")), ledgers, write=False)
    assert [(i.row, i.code) for i in result.errors] == [(3, "explode_mismatch")]


def test_amendments_that_point_nowhere_or_loop(ledgers):
    data(ledgers, "ref,amends,value,from,to\na1,a9,100,Alpha,Beta\na2,a3,100,Alpha,Beta\na3,a2,100,Alpha,Beta\n")
    result = run_import(mapping(ledgers, "amendments: {key: ref, amends: amends}\n"), ledgers, write=False)
    codes = sorted(i.code for i in result.issues if i.code.startswith("amends"))
    assert codes == ["amends_loop", "amends_unknown"]


# --- joins -------------------------------------------------------------------------------------------------

def test_joins_match_folded_keys_accept_agreeing_repeats_and_name_a_conflicting_key(ledgers):
    data(ledgers, HEADER + "a1,c,100,  alpha  corp ,Beta,\n")
    data(ledgers, "name,country\nAlpha Corp,GB\nALPHA CORP,GB\n", "clients.csv")
    join = "join: [{file: clients.csv, as: client, on: {from: name}}]\n"
    base = BASE + "      payer_country: client.country\n"
    result = run_import(mapping(ledgers, join, base=base), ledgers)
    assert result.errors == [] and output(ledgers)["payer_country"].tolist() == ["GB"]
    data(ledgers, "name,country\nAlpha Corp,GB\nALPHA CORP,FR\n", "clients.csv")
    result = run_import(mapping(ledgers, join, base=base), ledgers, write=False)
    assert [(i.file, i.row, i.value, i.code) for i in result.errors] == [
        ("clients.csv", 3, "ALPHA CORP", "join_key_repeated")]
    assert "country: 'FR'" in result.errors[0].message
    result = run_import(mapping(ledgers, join.replace("}}]", "}, repeated: first}]"), base=base), ledgers)
    assert result.errors == [] and output(ledgers)["payer_country"].tolist() == ["GB"]


# --- dirty files -------------------------------------------------------------------------------------------

def test_header_override_extra_cells_and_skip_lines_are_counted(ledgers):
    data(ledgers, "a1,c,100,Alpha,Beta,\n<<<<<<< HEAD\na2,c,200,Alpha,Beta,,stray note\n=======\n>>>>>>> x\n"
                  "-- page 2 --\na3,c,300,Alpha,Beta,\n")
    source = ('{file: data.csv, url: "https://example.org/register", header_row: 0, '
              'header: [ref, kind, value, from, to, when], extra_cells: ignore, '
              'skip_lines: "^(<{7}|={7}|>{7}|-- page)"}')
    result = run_import(mapping(ledgers, base=with_columns("", source=source)), ledgers)
    assert result.errors == []
    assert result.skipped == {"lines matching skip_lines (^(<{7}|={7}|>{7}|-- page))": 4,
                              "rows with cells beyond the header (extra cells ignored)": 1}
    out = output(ledgers)
    assert out["x_source_row"].tolist() == ["data.csv:1", "data.csv:3", "data.csv:7"]


def test_extra_cells_are_an_issue_unless_ignored(ledgers):
    data(ledgers, HEADER + "a1,c,100,Alpha,Beta,,stray\n")
    source = '{file: data.csv, url: "https://example.org/register", skip_lines: "^#"}'
    result = run_import(mapping(ledgers, base=with_columns("", source=source)), ledgers)
    assert [(i.row, i.code, i.value) for i in result.errors] == [(2, "ragged_row", "stray")]
    assert "extra_cells: ignore" in result.errors[0].message


# --- self-payments, dry runs, files ------------------------------------------------------------------------

def test_self_payments_are_warned_with_a_count_kept_or_dropped(ledgers):
    data(ledgers, HEADER + "a1,c,100,Acme Corp,ACME CORPORATION,\na2,c,100,Acme Corp.,Acme Corp,\n"
                           "a3,c,100,Alpha,Beta,\n")
    result = run_import(mapping(ledgers), ledgers, write=False)
    warned = [i for i in result.issues if i.code == "self_payment"]
    assert result.self_payments == 2 and len(warned) == 2 and result.rows_mapped == 3
    assert "rows whose payer is also the recipient (kept): 2" in import_report(result)
    result = run_import(mapping(ledgers, "self_payments: keep\n"), ledgers, write=False)
    assert not [i for i in result.issues if i.code == "self_payment"] and result.rows_mapped == 3
    result = run_import(mapping(ledgers, "self_payments: drop\n"), ledgers)
    assert result.rows_mapped == 1 and result.skipped == {"payer is also the recipient (self_payments: drop)": 2}
    assert list(output(ledgers).index) == ["t-a3"]


def test_a_dry_run_never_names_a_merges_file_it_did_not_write(ledgers):
    data(ledgers, HEADER + "a1,c,100,Inmaxo Capital Corp,Beta,\na2,c,100,INMAXO CAPITAL CORP.,Beta,\n")
    result = run_import(mapping(ledgers), ledgers, write=False)
    report = import_report(result)
    assert "entity merges to confirm: 1" in report
    assert "test.merges.csv (write" not in report and "a run without --dry-run writes them" in report
    assert not (ledgers / "imports" / "test.merges.csv").exists()
    result = run_import(mapping(ledgers), ledgers)
    assert "in test.merges.csv (write yes or no" in import_report(result)


def test_written_files_are_readable_by_the_group(ledgers):
    previous = os.umask(0o022)
    try:
        data(ledgers, HEADER + "a1,c,100,Inmaxo Capital Corp,Beta,\na2,c,100,INMAXO CAPITAL CORP.,Beta,\n")
        run_import(mapping(ledgers), ledgers)
    finally:
        os.umask(previous)
    for path in (ledgers / "imported" / "test.csv", ledgers / "imports" / "test.merges.csv"):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_fields_named_by_filters_explode_amendments_and_kinds_must_exist(ledgers):
    data(ledgers, HEADER + "a1,c,100,Alpha,Beta,\n")
    result = run_import(mapping(ledgers, """\
        filters: [{keep: {field: nope, equals: x}}]
        explode: {fields: [tos]}
        amendments: {key: ref, amends: amend}
        entities: {payer_kind: kind_of_payer}
        """), ledgers, write=False)
    assert sorted((i.column, i.value, i.code) for i in result.errors) == [
        ("amendments.amends", "amend", "mapping_column"), ("entities.payer_kind", "kind_of_payer", "mapping_column"),
        ("explode.fields", "tos", "mapping_column"), ("filters[1]", "nope", "mapping_column")]


def test_a_lookup_keyed_on_several_fields_is_a_template_then_a_lookup(ledgers):
    data(ledgers, "ref,type,status,value,from,to\na1,company,active,100,Alpha,Beta\na2,person,active,100,Ann,Beta\n"
                  "a3,person,dead,100,Bob,Beta\n")
    result = run_import(mapping(ledgers, base=with_columns("", top="""\
        entities:
          payer_kind:
            template: "{type}|{status}"
            lookup: {"company|active": company, "person|active": person}
            unmatched: error
        """)), ledgers, write=False)
    assert [(i.row, i.value, i.code) for i in result.errors] == [(4, "person|dead", "lookup_missing")]


def test_a_json_list_never_becomes_one_payer(ledgers):
    (ledgers / "imports" / "data.json").write_text(
        '[{"ref": "a1", "value": "100", "from": ["Alpha", "Gamma"], "to": "Beta", "tags": ["x", "y"]}]',
        encoding="utf-8")
    source = '{file: data.json, url: "https://example.org/register"}'
    result = run_import(mapping(ledgers, base=with_columns("notes: tags\n", source=source)), ledgers, write=False)
    assert [(i.column, i.value, i.code) for i in result.errors] == [("from → payer", "Alpha; Gamma", "several_values")]
    result = run_import(mapping(ledgers, base=with_columns("notes: tags\n", source=source,
                                                           top="explode: {fields: [from]}\n")), ledgers)
    assert result.errors == []
    out = output(ledgers)
    assert out["payer"].tolist() == ["Alpha", "Gamma"] and out["notes"].iloc[0].startswith("x; y")
