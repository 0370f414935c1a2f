"""The three register shapes of issue 15 import with a mapping alone, and their totals match an independent
pandas reading of the same fixtures (tests/data/registers, synthetic files in the registers' shapes)."""
from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from etl.imports.run import run_import
from etl.pipeline import build

REGISTERS = Path(__file__).resolve().parent / "data" / "registers"
LOOKUPS = Path(__file__).resolve().parent.parent / "ledgers" / "lookups"


@pytest.fixture
def ledgers(tmp_path: Path) -> Path:
    root = tmp_path / "ledgers"
    shutil.copytree(LOOKUPS, root / "lookups")
    shutil.copytree(REGISTERS, root / "imports")
    return root


def imported(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(root / "imported" / f"{name}.csv", dtype="str", keep_default_na=False)


def counted_total(root: Path) -> dict[str, Decimal]:
    """What the build adds up, per currency (each transfer once)."""
    result = build(root)
    assert result.errors == []
    data = result.dataset
    counted = data[data["counts_in_totals"]]
    return {str(c): sum((Decimal(str(v)) for v in group), Decimal(0))
            for c, group in counted.groupby("currency")["total_amount"]}


def money(values: pd.Series) -> pd.Series:
    return values.str.replace(r"[^\d.]", "", regex=True).map(Decimal)


def test_foreign_agent_payments_joined_to_clients(ledgers):
    result = run_import(ledgers / "imports" / "fara.mapping.yml", ledgers)
    assert result.errors == [] and result.written
    assert result.skipped == {"lines matching skip_lines (^(<<<<<<<|=======|>>>>>>>|Page \\d+ of \\d+))": 5,
                              "rows with cells beyond the header (extra cells ignored)": 1}
    out = imported(ledgers, "fara_example").set_index("purpose")
    # Joined on the folded key: "  ministry of  tourism " finds "Ministry of Tourism"; the repeated client row
    # that agrees is no issue.
    assert out.loc["Lobbying for the ministry", "payer"] == "Ministry of Tourism"
    assert out.loc["Expenses (payment date not given)", "date"] == "2019-08-01"  # the stamped date, by fallback
    assert out.loc["Lobbying for the ministry", "recipient"] == "Podesta Group, Inc."  # address removed
    frame = build(ledgers).dataset.set_index("purpose")
    assert frame.loc["Trade promotion", "recipient_country"] == "US"
    assert frame.loc["Trade promotion", "payer_country"] == "KR"
    assert frame.loc["Media outreach", "payer_country"] == "XK"
    assert frame.loc["Media relations", "payer_country"] == "CI"
    assert frame.loc["Government relations", "payer_country"] == "TR"

    # Independent reading: pandas, keeping only lines that start with a registration number.
    raw = pd.read_csv(REGISTERS / "fara_payments.csv", dtype="str", keep_default_na=False, header=None,
                      skiprows=1, names=range(8), engine="python")
    raw = raw[raw[0].str.fullmatch(r"\d+")]
    assert counted_total(ledgers) == {"USD": money(raw[5]).sum()} == {"USD": Decimal("189750.50")}


def test_lobbying_disclosure_xml_with_amendments_in_house_and_joint_filings(ledgers):
    result = run_import(ledgers / "imports" / "lda.mapping.yml", ledgers)
    assert result.errors == [] and result.written
    assert result.skipped == {"filter: in-house filings": 1,
                              "payer is also the recipient (self_payments: drop)": 1}
    out = imported(ledgers, "lda_example").set_index("id")
    # Amendments: the original and the first amendment restate the latest one.
    assert out.loc["lda-example-F-100", "same_as"] == out.loc["lda-example-F-100A", "same_as"] == \
        "lda-example-F-100B"
    assert out.loc["lda-example-F-100B", "same_as"] == ""
    # Joint filing with shares: each registrant its own share; without shares: whole amount, counted once.
    assert out.loc[["lda-example-F-300-1", "lda-example-F-300-2"], "amount"].tolist() == ["30000", "10000"]
    assert out.loc["lda-example-F-300-2", "same_as"] == ""
    assert out.loc["lda-example-F-400-2", "same_as"] == "lda-example-F-400-1"
    assert out.loc["lda-example-F-400-2", "amount"] == "24000"
    assert "counted once, on lda-example-F-400-1" in out.loc["lda-example-F-400-2", "notes"]
    assert not out["recipient"].str.contains(";").any()  # never one entity "A; B"
    assert "Ann Example; Bob Example" in out.loc["lda-example-F-100", "notes"]

    # Independent reading: pandas' own XML reader; latest filings only, no in-house or self-filed ones.
    filings = pd.read_xml(REGISTERS / "lda_filings.xml", xpath="./filing", parser="etree", dtype=str,
                          encoding="utf-16")
    superseded = set(filings["amends"].dropna())
    keep = (filings["kind"].ne("in-house") & ~filings["id"].isin(superseded)
            & filings["client"].str.upper().str.replace("CORP", "CORPORATION").ne(filings["registrant"].str.upper()))
    assert counted_total(ledgers) == {"USD": filings.loc[keep, "income"].map(Decimal).sum()} == \
        {"USD": Decimal("129000")}


def test_electoral_commission_donations_export(ledgers):
    result = run_import(ledgers / "imports" / "donations.mapping.yml", ledgers)
    assert result.errors == [] and result.written
    assert result.skipped == {"filter: public funds": 1}
    assert not [i for i in result.issues if i.row == 5]  # the public fund row raises nothing
    out = imported(ledgers, "donations_example").set_index("id")
    assert out.loc["donations-example-NC0001", "payer"] == "John Example"  # title removed
    assert out.loc["donations-example-NC0001", "date"] == "2019-03-12"  # received
    assert out.loc["donations-example-NC0002", "date"] == "2019-04-02"  # accepted, as received is empty
    assert out.loc["donations-example-NC0002", "payer"] == "Acme Widgets Ltd"  # address removed
    assert out.loc["donations-example-NC0002", "payer_country"] == "GB"  # a company: registered in the UK
    assert out.loc["donations-example-NC0001", "payer_country"] == ""  # a person: not stated
    assert out.loc["donations-example-NC0007", "payer"] == "Société Générale Example Ltd"  # cp1252 decoded
    assert out.loc["donations-example-NC0005", "date_note"] == "reported in the return for 2019"
    assert result.proposals.table.empty  # Lord Alliance and Lord Vallance are two people

    raw = pd.read_csv(REGISTERS / "donations.csv", dtype="str", keep_default_na=False, encoding="cp1252")
    raw = raw[raw["DonorStatus"].ne("Public Fund")]
    assert counted_total(ledgers) == {"GBP": money(raw["Value"]).sum()} == {"GBP": Decimal("205100.50")}


def test_per_row_entity_kinds_reach_the_merge_proposals(ledgers):
    (ledgers / "imports" / "donations.csv").write_bytes(
        (REGISTERS / "donations.csv").read_bytes()
        + b'NC0009,Example Party [The],"\xa31,000.00",01/11/2019,01/11/2019,Q4 2019,Mr John Examples,Individual,,Cash\r\n'
        + b'NC0010,Example Party [The],"\xa31,000.00",01/11/2019,01/11/2019,Q4 2019,Acme Widgets Limited,Company,01234567,Cash\r\n')
    result = run_import(ledgers / "imports" / "donations.mapping.yml", ledgers)
    assert result.errors == []
    table = result.proposals.table.set_index("variant")
    assert table.loc["Acme Widgets Limited", "kind"] == "company"
    assert table.loc["John Examples", "kind"] == "person"  # not registered as an organisation
