from decimal import Decimal

import pandas as pd
import pytest

from etl.amounts import format_scaled, parse_amounts, scaled_to_decimal
from etl.schema import ROW_FILE, ROW_NUMBER


def parse(values):
    text = pd.Series(values, dtype="str")
    labels = pd.DataFrame({ROW_FILE: "f.csv", ROW_NUMBER: range(2, 2 + len(values))})
    scaled, marker, issues = parse_amounts(text, labels)
    return scaled_to_decimal(scaled).tolist(), marker.tolist(), issues


@pytest.mark.parametrize("text, expected", [
    ("2900000000", "2900000000"), ("2.9 billion", "2900000000"), ("2.9bn", "2900000000"),
    ("253,150", "253150"), ("7,6 Mio.", "7600000"), ("7,6 Mio", "7600000"), ("1.234.567,89", "1234567.89"),
    ("1,234,567.89", "1234567.89"), ("500 000", "500000"), ("500\u00a0000", "500000"), ("2,5 Mrd.", "2500000000"),
    ("819.500,00", "819500"), ("2.39", "2.39"), ("0.5m", "500000"), ("12k", "12000"), ("1.36 million", "1360000"),
    ("1'000'000", "1000000"), ("3,4 Millionen", "3400000"), ("0.0001", "0.0001"),
])
def test_amount_shapes_parse_exactly(text, expected):
    values, _, issues = parse([text])
    assert issues == []
    assert values[0] == Decimal(expected)


@pytest.mark.parametrize("text, marker", [("€2.39m", "€"), ("USD 1.36m", "USD"), ("US$ 2.9bn", "US$"),
                                          ("819.500,00 €", "€"), ("£6,000", "£"), ("500 000 manat", "manat")])
def test_currency_written_in_the_amount_is_returned(text, marker):
    values, markers, issues = parse([text])
    assert issues == [] and values[0] is not None and markers[0] == marker


@pytest.mark.parametrize("text, code", [
    ("", "amount_missing"), ("abc", "amount_unreadable"), ("1.234", "amount_ambiguous"), ("-5", "amount_negative"),
    ("0", "amount_zero"), ("12.34567", "amount_too_precise"), ("9" * 20, "amount_too_large"),
    ("1,2,3", "amount_unreadable"), ("5..0", "amount_unreadable"), ("2 billion euros dollars", "amount_unreadable"),
    ("$5 €", "amount_two_currencies"), ("200000 billion", "amount_too_large"),
])
def test_bad_amounts_are_issues_naming_the_cell(text, code):
    values, _, issues = parse([text])
    assert [i.code for i in issues] == [code]
    issue = issues[0]
    assert (issue.file, issue.row, issue.column, issue.value) == ("f.csv", 2, "amount", text)
    if code != "amount_two_currencies":
        assert pd.isna(values[0])


def test_decimal_sum_has_no_float_drift():
    values, _, _ = parse(["0.1"] * 10 + ["0.2"] * 10)
    series = scaled_to_decimal(parse_amounts(pd.Series(["0.1"] * 10 + ["0.2"] * 10, dtype="str"),
                                             pd.DataFrame({ROW_FILE: ["f"] * 20, ROW_NUMBER: range(20)}))[0])
    assert series.sum() == Decimal("3")
    assert values[0] == Decimal("0.1")


def test_format_scaled_round_trips_text():
    scaled = pd.Series([29000000000000, 76000, 1, pd.NA], dtype="Int64")
    assert format_scaled(scaled).tolist() == ["2900000000", "7.6", "0.0001", ""]


def test_amounts_above_two_to_the_53_units_stay_exact():
    # 2**53 units of 10**-4 is about 900 billion: larger figures must not pass through float64 on the way.
    values, _, issues = parse(["123456789012.3457", "x", "98,765,432,109,876", "4.503.599.627.370,4961 €"])
    assert values[0] == Decimal("123456789012.3457")
    assert values[2] == Decimal("98765432109876")
    assert values[3] == Decimal("4503599627370.4961")
    assert [i.code for i in issues] == ["amount_unreadable"]


def test_amount_digits_beyond_four_decimals_are_too_precise_even_when_large():
    _, _, issues = parse(["8,522,352,863.0000005", "1"])
    assert [i.code for i in issues] == ["amount_too_precise"]
