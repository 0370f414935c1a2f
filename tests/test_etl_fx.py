import pandas as pd
import pytest

from etl.dates import parse_dates
from etl.fx import LookupRates, convert_rates, ecb_rates, read_lookup_rates
from etl.schema import ROW_FILE, ROW_NUMBER


def rates(dates, currencies, lookup=None):
    frame, issues = parse_dates(pd.Series(dates, dtype="str"),
                                pd.DataFrame({ROW_FILE: "f", ROW_NUMBER: range(len(dates))}))
    assert issues == []
    table = lookup or LookupRates(pd.DataFrame(columns=["currency", "date_start", "date_end", "usd_per_unit",
                                                        "source"]))
    return convert_rates(pd.Series(currencies, dtype="str"), frame["date_start"], frame["date_end"],
                         frame["date_precision"], table)


def test_single_day_uses_that_days_ecb_rate():
    out = rates(["2012-07-30"], ["EUR"])
    per_euro = ecb_rates().per_euro
    assert out["fx_rate_usd"][0] == pytest.approx(per_euro.loc["2012-07-30", "USD"])
    assert out["fx_rate_eur"][0] == 1.0
    assert out["fx_rate_date"][0] == "2012-07-30" and "ECB" in out["fx_source"][0]


def test_weekend_uses_last_publication_before():
    out = rates(["2012-07-28"], ["GBP"])  # a Saturday
    per_euro = ecb_rates().per_euro
    assert out["fx_rate_date"][0] == "2012-07-27"
    assert out["fx_rate_usd"][0] == pytest.approx(per_euro.loc["2012-07-27", "USD"] / per_euro.loc["2012-07-27", "GBP"])


def test_period_uses_mean_of_daily_rates():
    out = rates(["2012", "2012/2014"], ["EUR", "USD"])
    usd = ecb_rates().per_euro["USD"]
    assert out["fx_rate_usd"][0] == pytest.approx(usd.loc["2012"].mean())
    assert out["fx_rate_eur"][1] == pytest.approx((1 / usd.loc["2012":"2014"]).mean())
    assert out["fx_rate_date"][0].startswith("2012-01-01/2012-12-31 (mean of 25")


def test_currency_missing_from_ecb_uses_sourced_lookup(tmp_path):
    path = tmp_path / "fx.csv"
    path.write_text("currency,date_start,date_end,usd_per_unit,source\n"
                    "AZN,2017-04-01,2026-10-31,0.588235294117647,https://www.cbar.az/currency/rates\n")
    out = rates(["2020", "2012-07"], ["AZN", "AZN"], read_lookup_rates(path))
    assert out["fx_rate_usd"][0] == pytest.approx(0.588235294117647)
    assert "cbar.az" in out["fx_source"][0] and out["fx_problem"][0] == ""
    assert pd.isna(out["fx_rate_usd"][1]) and out["fx_problem"][1] != ""


def test_no_rate_is_never_a_silent_one():
    out = rates(["1995", "2026-11-20"], ["GBP", "EUR"])
    assert out["fx_rate_usd"].isna().all()
    assert (out["fx_problem"] != "").all()
