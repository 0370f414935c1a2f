import pandas as pd
import pytest

from etl.currency import resolve_currencies
from etl.dates import parse_dates
from etl.schema import ROW_FILE, ROW_NUMBER


def labels(n):
    return pd.DataFrame({ROW_FILE: "f.csv", ROW_NUMBER: range(2, 2 + n)})


@pytest.mark.parametrize("text, start, end, precision, plot", [
    ("2012-07-30", "2012-07-30", "2012-07-30", "day", "2012-07-30"),
    ("2012-07", "2012-07-01", "2012-07-31", "month", "2012-07-16"),
    ("2012", "2012-01-01", "2012-12-31", "year", "2012-07-01"),
    ("2012/2014", "2012-01-01", "2014-12-31", "range", "2013-07-01"),
    ("2012-12-17/2013-03-19", "2012-12-17", "2013-03-19", "range", "2013-02-01"),
    ("2008-04/2014-10", "2008-04-01", "2014-10-31", "range", "2011-07-17"),
    (" 2016 ", "2016-01-01", "2016-12-31", "year", "2016-07-01"),
])
def test_date_shapes(text, start, end, precision, plot):
    frame, issues = parse_dates(pd.Series([text], dtype="str"), labels(1))
    assert issues == []
    got = frame.iloc[0]
    assert str(got["date_start"].date()) == start and str(got["date_end"].date()) == end
    assert got["date_precision"] == precision and str(got["date_plot"].date()) == plot


def test_open_range_and_unknown():
    frame, issues = parse_dates(pd.Series(["2015-02/..", "n.d.", "", "unknown"], dtype="str"), labels(4))
    assert issues == []
    assert str(frame["date_start"][0].date()) == "2015-02-01" and pd.isna(frame["date_end"][0])
    assert frame["date_precision"].tolist() == ["range", "unknown", "unknown", "unknown"]


@pytest.mark.parametrize("text, code", [("July 2012", "date_unreadable"), ("2013-02-30", "date_invalid"),
                                        ("2012-13", "date_invalid"), ("2014/2012", "date_reversed"),
                                        ("1850", "date_invalid"), ("30/07/2012", "date_unreadable"),
                                        ("2012 and 2014", "date_unreadable")])
def test_bad_dates(text, code):
    frame, issues = parse_dates(pd.Series([text], dtype="str"), labels(1))
    assert [(i.code, i.row, i.column, i.value) for i in issues] == [(code, 2, "date", text)]
    assert frame["date_precision"][0] == "unknown"


@pytest.mark.parametrize("cell, marker, expected", [
    ("USD", "", "USD"), ("usd", "", "USD"), ("$", "", "USD"), ("", "€", "EUR"), ("EUR", "€", "EUR"),
    ("CAD", "$", "CAD"), ("", "US$", "USD"), ("GBP", "", "GBP"), ("", "manat", "AZN"), ("JPY", "¥", "JPY"),
    ("AZN", "", "AZN"), ("", "GBP", "GBP"),
])
def test_currencies_resolve(cell, marker, expected):
    codes, issues = resolve_currencies(pd.Series([cell], dtype="str"), pd.Series([marker], dtype="str"), labels(1))
    assert issues == [] and codes[0] == expected


@pytest.mark.parametrize("cell, marker, code", [
    ("XYZ", "", "currency_unknown"), ("", "", "currency_missing"), ("¥", "", "currency_ambiguous"),
    ("EUR", "$", "currency_conflict"), ("", "kr", "currency_ambiguous"), ("dollars", "£", "currency_conflict"),
])
def test_currency_problems(cell, marker, code):
    codes, issues = resolve_currencies(pd.Series([cell], dtype="str"), pd.Series([marker], dtype="str"), labels(1))
    assert [i.code for i in issues] == [code] and codes[0] == ""
