"""Entity names at import scale: "did you mean" only when close, merge proposals measured on a labelled sample
(tests/data/name_pairs.csv: pairs that are / are not one entity), countries compared as ISO codes, the canonical
spelling chosen sensibly, and same-name-different-country pairs listed."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from etl.countries import read_country_lookup
from etl.entities import SUGGESTION_CUTOFF, EntityRegister, name_key, suggest
from etl.imports.resolve import propose_merges

PAIRS = pd.read_csv(Path(__file__).resolve().parent / "data" / "name_pairs.csv", dtype="str",
                    keep_default_na=False)
COUNTRIES = read_country_lookup(Path(__file__).resolve().parent.parent / "ledgers" / "lookups" / "countries.csv")


def precision_recall(predicted: pd.Series) -> tuple[float, float]:
    truth = PAIRS["same"].eq("yes")
    hits = int((predicted & truth).sum())
    return hits / max(int(predicted.sum()), 1), hits / int(truth.sum())


def suggested(left: str, right: str, cutoff: float = SUGGESTION_CUTOFF) -> bool:
    register = EntityRegister(pd.DataFrame(), {name_key(pd.Series([left])).iloc[0]: left})
    return suggest(name_key(pd.Series([right])), register, cutoff)[0] == left


def proposed(left: str, right: str, similarity: int = 92) -> bool:
    frame = pd.DataFrame({"payer": [left, left], "payer_country": ["GB", "GB"], "recipient": [right, "Other"],
                          "recipient_country": ["GB", "GB"]})
    table = propose_merges(frame, {}, similarity, "company").table
    return bool(table["variant"].isin([left, right]).any())


def test_did_you_mean_on_the_labelled_sample():
    predicted = pd.Series([suggested(l, r) for l, r in zip(PAIRS["left"], PAIRS["right"])])
    precision, recall = precision_recall(predicted)
    # Measured at SUGGESTION_CUTOFF = 90: precision 0.83, recall 1.00 (20 true pairs, 4 false suggestions, all
    # people whose surnames differ by one letter, which no string measure can tell from a typo). A cutoff of 96
    # gives precision 1.00 but recall 0.75; a hint a reporter checks is worth more than a missed variant.
    print(f"did you mean: precision {precision:.2f}, recall {recall:.2f}")
    assert (round(precision, 2), round(recall, 2)) == (0.83, 1.0)


@pytest.mark.parametrize("left,right", [("Greenberg Traurig LLP", "LOTA SALES LLP"),
                                        ("Members of Congress and staff (2013 Baku trip)", "Baku-based Fund"),
                                        ("Lord Alliance", "Lord Vallance"), ("Deutsche Bank", "Deutsche Bahn"),
                                        ("Embassy of Azerbaijan in the US", "Embassy of Azerbaijan in the UK")])
def test_far_names_get_no_suggestion(left, right):
    assert not suggested(left, right)


def test_merge_proposals_on_the_labelled_sample():
    predicted = pd.Series([proposed(l, r) for l, r in zip(PAIRS["left"], PAIRS["right"])])
    precision, recall = precision_recall(predicted)
    print(f"merge proposals: precision {precision:.2f}, recall {recall:.2f}")
    # Measured at the default similarity 92: precision 0.83, recall 0.95 (Greenberg Traurig LLP / GREENBERG
    # TRAURIG is missed: the legal form makes the folded names differ by more than the cutoff).
    assert (round(precision, 2), round(recall, 2)) == (0.83, 0.95)
    assert not proposed("Lord Alliance", "Lord Vallance")


def test_countries_are_compared_as_iso_codes_and_the_best_cased_spelling_is_canonical():
    frame = pd.DataFrame({
        "payer": ["ACME HOLDINGS INC", "Acme Holdings Inc.", "Acme Holdings Inc.", "ACME HOLDINGS INC"],
        "payer_country": ["USA", "United States", "US", "U.S."],
        "recipient": ["Beta"] * 4, "recipient_country": ["GB"] * 4})
    table = propose_merges(frame, {}, 92, "company", None, COUNTRIES).table
    assert table[["canonical", "variant", "country"]].values.tolist() == [
        ["Acme Holdings Inc.", "ACME HOLDINGS INC", "US"]]


def test_same_name_in_different_countries_is_listed_not_proposed():
    frame = pd.DataFrame({"payer": ["Acme Ltd", "ACME LTD."], "payer_country": ["GB", "Cyprus"],
                          "recipient": ["Beta", "Beta"], "recipient_country": ["GB", "GB"]})
    proposals = propose_merges(frame, {}, 92, "company", None, COUNTRIES)
    assert proposals.table.empty
    assert proposals.across_countries.values.tolist() == [["ACME LTD. / Acme Ltd", "CY, GB"]]
