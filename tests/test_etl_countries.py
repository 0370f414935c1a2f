"""Country cells: everyday names through country-converter, sourced corrections and ambiguous spellings from
lookups/countries.csv, each distinct value resolved once."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from etl.countries import read_country_lookup, resolve_countries
from etl.errors import LookupInvalid
from etl.schema import ROW_FILE, ROW_NUMBER

LOOKUP = read_country_lookup(Path(__file__).resolve().parent.parent / "ledgers" / "lookups" / "countries.csv")


def resolve(values: list[str]):
    frame = pd.DataFrame({ROW_FILE: "x.csv", ROW_NUMBER: range(2, len(values) + 2)})
    return resolve_countries(pd.Series(values, dtype="str"), "payer_country", LOOKUP, frame)


@pytest.mark.parametrize("text,code", [("Turkey", "TR"), ("Türkiye", "TR"), ("Korea South", "KR"),
                                       ("South Korea", "KR"), ("Korea North", "KP"), ("Kosovo", "XK"),
                                       ("Côte d'Ivoire", "CI"), ("Ivory Coast", "CI"), ("cote d'ivoire", "CI"),
                                       ("USA", "US"), ("BVI", "VG"), ("multiple", "ZZ"), (" gb ", "GB"),
                                       ("Azerbaijan", "AZ"), ("NA", "NA")])
def test_everyday_names_resolve(text, code):
    codes, names, issues = resolve([text])
    assert (codes.tolist(), issues) == ([code], [])
    assert names.iloc[0]


@pytest.mark.parametrize("text", ["Korea", "korea", "Congo", "Virgin Islands"])
def test_an_ambiguous_name_is_a_named_issue_not_a_guess(text):
    codes, _, issues = resolve(["Azerbaijan", text, text])
    assert codes.tolist() == ["AZ", "", ""]
    assert [(i.row, i.code) for i in issues] == [(3, "country_unknown"), (4, "country_unknown")]
    assert issues[0].message.startswith("Ambiguous, so refused rather than guessed: write")


def test_an_unknown_name_is_an_issue():
    codes, _, issues = resolve(["Narnia", ""])
    assert codes.tolist() == ["", ""]
    assert [(i.row, i.value, i.code) for i in issues] == [(2, "Narnia", "country_unknown")]
    assert "lookups/countries.csv" in issues[0].message


def test_a_lookup_row_needs_a_reason(tmp_path):
    path = tmp_path / "countries.csv"
    path.write_text("spelling,code,name,reason\nKorea,,,\n", encoding="utf-8")
    with pytest.raises(LookupInvalid):
        read_country_lookup(path)
