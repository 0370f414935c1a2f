"""The shipped mappings on the two real public files (ledgers/imports/), and entity merges at import time."""
from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from etl.imports.resolve import apply_merges, company_key, read_merges
from etl.imports.run import run_import
from etl.pipeline import build
from etl.schema import LEDGER_COLUMNS, LEDGER_DIR
from ledger_factory import ledger_folder, row

IMPORTS = LEDGER_DIR / "imports"
OCCRP = IMPORTS / "occrp_laundromat.mapping.yml"
PACS = IMPORTS / "opensecrets_pacs.mapping.yml"


@pytest.fixture(scope="module")
def occrp():
    return run_import(OCCRP, write=False)


@pytest.fixture(scope="module")
def pacs():
    return run_import(PACS, write=False)


def test_occrp_excerpt_imports_every_row(occrp):
    assert occrp.errors == [] and occrp.issues == []
    assert (occrp.rows_read, occrp.rows_mapped, occrp.skipped) == (43, 43, {})


def test_occrp_rows_keep_direction_figures_and_provenance():
    result = run_import(OCCRP, write=False)
    source = pd.read_csv(IMPORTS / "occrp_laundromat_excerpt.csv", dtype="str", keep_default_na=False)
    shipped = pd.read_csv(LEDGER_DIR / "imported" / "occrp_laundromat.csv", dtype="str", keep_default_na=False)
    by_id = shipped.set_index("id")
    outgoing = by_id.loc["occrp-laundromat-6050"]  # -535000.0 on LCM ALLIANCE's own statement: LCM paid MOBILA
    assert (outgoing["payer"], outgoing["recipient"], outgoing["amount"], outgoing["currency"]) == \
        ("LCM ALLIANCE LLP", "MOBILA LLP", "535000.0", "USD")
    assert outgoing["part_of"] == "laundromat-total-2012-2014" and outgoing["x_source_row"].endswith(":3")
    assert by_id.loc["occrp-laundromat-15589", "recipient_country"] == "VG"
    # "UNKNOWN" jurisdictions become empty countries rather than an unresolvable country.
    unknown = source.loc[source["beneficiary_jurisdiction"].eq("UNKNOWN"), "id"]
    assert (by_id.loc["occrp-laundromat-" + unknown, "recipient_country"] == "").all() and len(unknown) == 4
    # Every amount is the source's figure without its sign, exactly.
    assert [Decimal(a) for a in shipped["amount"]] == [abs(Decimal(a)) for a in source["amount_orig"]]
    assert shipped["sources"].str.startswith("https://github.com/DerwenAI/azeri_laverie | ").all()
    # The shipped ledger is exactly what the mapping produces today.
    fresh = result_frame(result)
    pd.testing.assert_frame_equal(fresh, shipped[fresh.columns.tolist()])


def result_frame(result) -> pd.DataFrame:
    from etl.imports.readers import read_table
    from etl.imports.transform import SOURCE_ROW_COLUMN, map_rows

    table, _ = read_table(result.mapping.source)
    frame = map_rows(result.mapping, table, {}).frame
    return frame[[*LEDGER_COLUMNS, SOURCE_ROW_COLUMN]].reset_index(drop=True)


def test_occrp_variants_are_proposed_as_one_entity(occrp):
    proposals = occrp.proposals.table
    inmaxo = proposals[proposals["canonical"].str.startswith("INMAXO")]
    assert inmaxo[["canonical", "variant", "country", "score"]].values.tolist() == [
        ["INMAXO CAPITAL CORP.", "INMAXO CAPITAL CORP", "VG", "100"]]


def test_pacs_import_every_row_once(pacs):
    source = pd.read_csv(IMPORTS / "opensecrets_foreign_connected_pacs.csv", dtype="str", keep_default_na=False)
    money = source["total"].str.replace(r"[$,]", "", regex=True).map(Decimal)
    assert pacs.errors == []
    assert pacs.rows_read == len(source) == 2156
    assert pacs.skipped == {"zero amounts": int((money == 0).sum())}
    assert pacs.rows_mapped == int((money != 0).sum())
    assert pacs.swapped == int((money < 0).sum()) > 0


def test_pacs_money_strings_cycles_and_parents(tmp_path):
    root = copy_example(tmp_path)
    mapping = root / "imports" / "opensecrets_pacs.mapping.yml"
    result = run_import(mapping, root)
    assert result.written
    out = pd.read_csv(root / "imported" / "opensecrets_pacs.csv", dtype="str", keep_default_na=False)
    first = out.iloc[0]
    assert (first["payer"], first["payer_country"], first["amount"], first["date"]) == \
        ("7-Eleven", "Japan", "$8,500", "1999/2000")
    assert first["sources"] == ("https://www.opensecrets.org/political-action-committees-pacs/foreign-connected-pacs/"
                                "2000 | https://github.com/tidyverse/dsbox")
    assert "Ito-Yokado" in first["notes"] and "Democrats $1,500" in first["notes"]
    # The hash id depends only on the PAC, its parent and the cycle: pinned so a library upgrade cannot
    # silently renumber every imported row.
    assert first["id"] == PINNED_7_ELEVEN_ID
    refunds = out[out["notes"].str.contains("swapped")]
    assert (refunds["recipient"] != "US federal candidates and party committees").all()
    assert (refunds["payer"] == "US federal candidates and party committees").all()

    built = build(root)
    assert built.errors == []
    rows = built.dataset[built.dataset["ledger_file"].eq("imported/opensecrets_pacs.csv")]
    source = pd.read_csv(root / "imports" / "opensecrets_foreign_connected_pacs.csv", dtype="str",
                         keep_default_na=False)
    expected = source["total"].str.replace(r"[$,]", "", regex=True).map(Decimal).map(abs).sum()
    assert rows["amount"].sum() == expected
    assert set(rows["payer_country"]) >= {"JP", "GB", "CA", "KR", "TW"}
    assert rows["date_start"].min().date().isoformat() == "1999-01-01"


PINNED_7_ELEVEN_ID = "opensecrets-pac-cdbbda759147df91"


def copy_example(tmp_path: Path) -> Path:
    root = tmp_path / "ledgers"
    shutil.copytree(LEDGER_DIR, root)
    return root


def test_legal_forms_and_punctuation_fold_alike():
    keys = company_key(pd.Series(["MERTIK MAXITROL GMBH&CO KG", "MERTIK MAXITROL GMBH & CO.KG",
                                  "INMAXO CAPITAL CORP.", "Inmaxo Capital Corporation", "FASEPHARMATEK S.R.L",
                                  "Fasepharmatek SRL", "Eleatex Trading S.L."]))
    assert keys[0] == keys[1] == "MERTIK MAXITROL GMBH & CO KG"
    assert keys[2] == keys[3] == "INMAXO CAPITAL CORP"
    assert keys[4] == keys[5] == "FASEPHARMATEK SRL" and keys[6] == "ELEATEX TRADING SL"


def test_merges_are_proposed_confirmed_applied_and_never_across_countries(tmp_path):
    root = ledger_folder(tmp_path, [row(id="anchor")])
    (root / "imports").mkdir()
    (root / "imports" / "wires.csv").write_text(
        "ref,payer,payer_cc,payee,payee_cc,amount,date\n"
        "1,Metastar Invest LLP,GB,MERTIK MAXITROL GMBH&CO KG,DE,100,2012-07-16\n"
        "2,Metastar Invest LLP,GB,MERTIK MAXITROL GMBH & CO.KG,DE,200,2012-07-17\n"
        "3,Metastar Invest LLP,GB,ACME TRADING LIMITED,GB,300,2012-07-18\n"
        "4,Metastar Invest LLP,GB,ACME TRADING LTD.,CY,400,2012-07-18\n"
        "5,METASTAR INVEST L.L.P.,GB,Jetfield Networks Limited,NZ,500,2012-07-19\n"
        "6,Metastar Invest LLP,GB,Jetfeld Networks Limited,NZ,600,2012-07-19\n", encoding="utf-8")
    mapping = root / "imports" / "wires.mapping.yml"
    mapping.write_text(
        "source: {file: wires.csv, url: 'https://example.org/wires'}\n"
        "columns:\n  id: {column: ref, prefix: w-}\n  date: date\n  amount: amount\n"
        "  currency: {constant: USD}\n  amount_kind: {constant: payment}\n  payer: payer\n  payer_country: payer_cc\n"
        "  recipient: payee\n  recipient_country: payee_cc\n  confidence: {constant: reported}\n", encoding="utf-8")
    result = run_import(mapping, root)
    assert result.written
    merges = read_merges(root / "imports" / "wires.merges.csv")
    pairs = {(r.canonical, r.variant, r.country) for r in merges.itertuples()}
    assert ("MERTIK MAXITROL GMBH&CO KG", "MERTIK MAXITROL GMBH & CO.KG", "DE") in pairs or \
        ("MERTIK MAXITROL GMBH & CO.KG", "MERTIK MAXITROL GMBH&CO KG", "DE") in pairs
    assert ("Metastar Invest LLP", "METASTAR INVEST L.L.P.", "GB") in pairs  # onto the registered entity
    assert any(r.variant.startswith("Jetf") and r.score != "100" for r in merges.itertuples())
    assert not any("ACME" in r.variant for r in merges.itertuples())  # GB and CY: never merged
    across = result.proposals.across_countries  # listed for review, with the countries
    assert len(across) == 1 and "ACME" in across["names"].iloc[0] and across["countries"].iloc[0] == "CY, GB"

    # The reporter confirms Mertik and the Metastar spelling, rejects the Jetfield pair.
    merges.loc[merges["variant"].str.startswith(("MERTIK", "METASTAR")), "decision"] = "yes"
    merges.loc[merges["variant"].str.startswith("Jetf"), "decision"] = "no"
    merges.to_csv(root / "imports" / "wires.merges.csv", index=False)
    outcome = apply_merges(root / "imports" / "wires.merges.csv", root / "lookups")
    # Mertik's two spellings already fold to one register key, so confirming it creates the entity without an
    # alias; the dotted L.L.P. spelling needs one.
    assert (outcome.aliases, outcome.entities, outcome.problems) == (1, 1, [])
    register = pd.read_csv(root / "lookups" / "entities.csv", dtype="str", keep_default_na=False)
    assert register["name"].str.startswith("MERTIK").sum() == 1
    assert "METASTAR INVEST L.L.P." in register.set_index("name").loc["Metastar Invest LLP", "aliases"]
    built = build(root)
    mertik = built.dataset[built.dataset["recipient_raw"].str.startswith("MERTIK")]
    assert mertik["recipient"].nunique() == 1 and mertik["recipient_id"].nunique() == 1
    assert set(built.dataset.loc[built.dataset["payer_raw"].str.startswith("METASTAR"), "payer"]) == \
        {"Metastar Invest LLP"}

    # Re-importing keeps the decisions: the rejected pair stays rejected, applied ones stay applied.
    run_import(mapping, root)
    again = read_merges(root / "imports" / "wires.merges.csv")
    decisions = dict(zip(again["variant"], again["decision"]))
    assert decisions.get("Jetfeld Networks Limited", decisions.get("Jetfield Networks Limited")) == "no"
    assert "yes" not in set(again["decision"])


def test_a_bad_decision_changes_nothing(tmp_path):
    merges = tmp_path / "x.merges.csv"
    merges.write_text("decision,canonical,variant,country,kind,score,reason,rows\n"
                      "maybe,A Ltd,A Limited,GB,company,100,same,1\n", encoding="utf-8")
    lookups = tmp_path / "lookups"
    lookups.mkdir()
    outcome = apply_merges(merges, lookups)
    assert outcome.aliases == 0 and "decision 'maybe'" in outcome.problems[0]
    assert not (lookups / "entities.csv").exists()
