"""The shipped Azerbaijan ledger builds cleanly, and its known figures come out exact.

The shipped ledgers also hold the imported OCCRP excerpt (ledgers/imported/); those rows are checked in
test_import_realdata.py, so these tests look at the hand-entered ledger's rows.
"""
import json
from decimal import Decimal

import pandas as pd
import pytest

from etl.emit import read_dataset
from etl.pipeline import run_build
from etl.schema import LEDGER_DIR, PROJECT_ROOT

# A copy of the researched facts list (shared/facts) the example ledger was entered from.
FACTS = PROJECT_ROOT / "tests" / "data" / "facts_azerbaijan_transfers.csv"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    result = run_build(LEDGER_DIR, out)
    dataset = read_dataset(out / "transfers.parquet")
    by_hand = dataset[dataset["ledger_file"].eq(HAND_ENTERED)].reset_index(drop=True)
    return result, by_hand, json.loads((out / "report.json").read_text())


HAND_ENTERED = "azerbaijan.csv"


def test_every_row_builds_without_issues_or_warnings(built):
    result, data, report = built
    assert result.errors == []
    assert [i for i in result.issues if i.file == HAND_ENTERED] == []
    assert len(data) == 30 and report["rows"] == 30 + 43
    assert data["id"].is_unique
    assert (data["sources"].str.len() > 0).all()


def test_the_three_facts_of_the_story(built):
    _, data, _ = built
    rows = data.set_index("id")
    fund = rows.loc["laundromat-total-2012-2014"]
    assert (fund["amount"], fund["currency"], fund["amount_raw"]) == (Decimal("2900000000"), "USD", "2.9 billion")
    assert (str(fund["date_start"].date()), str(fund["date_end"].date())) == ("2012-01-01", "2014-12-31")
    baguirov = rows.loc["baguirov-253150"]
    assert (baguirov["amount"], baguirov["currency"], baguirov["recipient"]) == (Decimal("253150"), "USD",
                                                                                 "Adil Baguirov")
    assert baguirov["part_of"] == "laundromat-total-2012-2014" and not baguirov["counts_in_totals"]
    velasco = rows.loc["velasco-mkb-2012-2013"]
    assert (velasco["amount"], velasco["amount_usd"]) == (Decimal("7600000"), Decimal("7600000.00"))
    assert "July 2012" in velasco["date_note"] and velasco["recipient_country"] == "VG"


def test_totals_count_each_transfer_once(built):
    _, data, report = built
    counted = data[data["counts_in_totals"]]
    assert sorted(counted["id"]) == sorted([
        "laundromat-total-2012-2014", "lintner-indictment-2008-2014", "lintner-indictment-2014-2016",
        "strenz-court-2014-2016", "fischer-2016", "bob-lawrence-nd", "socar-congress-trip-2013", "cuellar-2014-2021",
        "podesta-2016-extra", "bgr-2017-2019", "livingston-2008-h1", "pincher-teas-2012-2013"])
    assert report["totals_by_currency"] == {"EUR": "4124450.0000", "GBP": "7000.0000", "USD": "2904420900.0000"}
    assert Decimal(report["total_usd"]) == counted["total_usd"].sum()
    # The 43 imported Laundromat payments are all part of the USD 2.9 bn, so they add nothing to the totals.
    assert report["rows_not_counted"] == {"part_of_a_larger_transfer": 10 + 43, "same_transfer_as_another_row": 3,
                                          "rate_without_closed_period": 5}


def test_every_figure_matches_the_facts_file(built):
    _, data, _ = built
    facts = pd.read_csv(FACTS, dtype="str")
    expected = facts["amount"].str.split("/").str[0].map(Decimal).tolist()
    assert data["amount"].tolist() == expected
    assert data["currency"].tolist() == facts["currency"].tolist()
    assert [s.split(" | ") for s in data["sources"]] == [s.split(" | ") for s in facts["source_url"]]


def test_every_name_is_registered_and_every_country_resolved(built):
    _, data, _ = built
    assert (data["payer_id"] != "").all() and (data["recipient_id"] != "").all()
    assert (data["recipient_country"].str.len() == 2).all()
