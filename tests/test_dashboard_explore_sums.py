"""The timeline, the map and the top payers and recipients, summed on category codes and bundles of alike rows,
equal the same sums spelled out row by row with pandas: each dated range spread over its periods one row at a time,
each country and name grouped with groupby. Run on the shipped example and a SYNTHETIC ledger, unfiltered and
under the benchmark's random filter sets.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.dashboard_callbacks import random_queries, vocabulary
from dashboard import data, figures, filters
from etl.builds import current_build


def reference_timeline(frame: pd.DataFrame, period: str, top_n: int = 8) -> pd.DataFrame:
    """USD per (period, country), each dated row spread evenly over the periods from its start to its last day;
    countries beyond the top N by USD gathered as Other."""
    freq = "Y" if period == "year" else "M"
    spread = []
    for row in frame.itertuples():
        if pd.isna(row.date_start) or pd.isna(row.value_usd):
            continue
        first, last = pd.Period(row.date_start, freq), pd.Period(row.date_last, freq)
        periods = pd.period_range(first, max(first, last), freq=freq)
        country = row.recipient_country_label
        for p in periods:
            spread.append((p, None if pd.isna(country) else str(country), row.value_usd / len(periods)))
    table = pd.DataFrame(spread, columns=["period", "country", "value"]).dropna(subset=["country"])
    if table.empty:
        return pd.DataFrame({"period": [], "country": [], "value": []})
    totals = table.groupby("country")["value"].sum().sort_index()
    top = set(totals.nlargest(top_n).index)
    table["country"] = table["country"].where(table["country"].isin(top), figures.OTHER)
    out = table.groupby(["period", "country"], as_index=False)["value"].sum()
    return out.assign(period=out["period"].astype("str")).sort_values(["period", "country"]).reset_index(drop=True)


def reference_countries(frame: pd.DataFrame, side: str) -> pd.DataFrame:
    iso = frame[side + "_iso3"].astype("object")
    rows = frame[iso.notna() & iso.ne("")]
    grouped = rows.groupby(rows[side + "_iso3"].astype("str"))
    return pd.DataFrame({"value": grouped["value_usd"].sum().astype("float64"), "count": grouped.size(),
                         "name": grouped[side + "_name"].first().astype("str")})


def reference_top(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    names = frame[column].astype("object")
    rows = frame[names.notna() & names.ne("")]
    kind = rows["amount_kind"].astype("str")
    grouped = rows.assign(at_least=kind.eq("at_least"), estimate=kind.eq("estimate")).groupby(
        rows[column].astype("str"))
    return pd.DataFrame({"value": grouped["value_usd"].sum().astype("float64"), "count": grouped.size(),
                         "at_least": grouped["at_least"].sum(), "estimate": grouped["estimate"].sum(),
                         "converted": grouped["converted"].sum()})


def frames_of(build) -> list[tuple[str, pd.DataFrame]]:
    dataset = data._load.__wrapped__(str(current_build(build)), 0)
    frame = dataset.chart
    out = [("every report", frame), ("none", frame.iloc[:0])]
    for query in random_queries(vocabulary(build), 10, seed=7):
        out.append((query, frame[filters.mask(frame, filters.from_query("?" + query), dataset.aliases)]))
    return out


@pytest.mark.parametrize("which", ["example", "synthetic"])
def test_the_timeline_spreads_bundles_as_it_would_spread_each_row(which, example_build, synthetic_build):
    spread = 0
    for what, frame in frames_of(example_build if which == "example" else synthetic_build):
        for period in ("year", "month"):
            got = figures.timeline_data(frame, period)
            expected = reference_timeline(frame, period)
            got = got.sort_values(["period", "country"]).reset_index(drop=True)
            assert got["period"].tolist() == expected["period"].tolist(), (what, period)
            assert got["country"].tolist() == expected["country"].tolist(), (what, period)
            assert np.allclose(got["value"], expected["value"], rtol=1e-9), (what, period)
            # Each period's bar starts on its first day.
            assert (got["start"] == pd.PeriodIndex(got["period"], freq="Y" if period == "year" else "M")
                    .to_timestamp()).all(), (what, period)
            spread += len(got)
    assert spread > 100


@pytest.mark.parametrize("which", ["example", "synthetic"])
def test_the_map_and_the_top_bars_sum_what_groupby_sums(which, example_build, synthetic_build):
    checked = 0
    for what, frame in frames_of(example_build if which == "example" else synthetic_build):
        for side in ("recipient_country", "payer_country"):
            got = figures._per_country(frame, side).set_index(side + "_iso3")
            expected = reference_countries(frame, side)
            assert sorted(got.index) == sorted(expected.index), (what, side)
            got = got.loc[expected.index]
            assert np.allclose(got["value"], expected["value"], rtol=1e-12), (what, side)
            assert got["count"].tolist() == expected["count"].tolist(), (what, side)
            assert got["name"].tolist() == expected["name"].tolist(), (what, side)
            checked += len(got)
        for column in ("recipient", "payer"):
            fig = figures.top_bars(frame, column)
            expected = reference_top(frame, column)
            if expected.empty:
                assert not fig.data or fig.data[0].type != "bar", what
                continue
            shown = expected.nlargest(15, "value")
            bars = fig.data[0]
            assert sorted(bars.y) == sorted(shown.index), (what, column)
            assert np.allclose(np.asarray(bars.x, float), shown.loc[list(bars.y), "value"], rtol=1e-12)
            for name, text in zip(bars.y, bars.customdata):
                g = shown.loc[name]
                assert text == figures.group_figure(
                    g["value"], 1 if g["count"] == 1 else max(int(g["count"]), 2), int(g["at_least"]),
                    int(g["estimate"]), int(g["converted"]),
                    "at_least" if g["at_least"] else "estimate" if g["estimate"] else ""), (what, name)
            checked += len(bars.y)
    assert checked > 50


@pytest.mark.parametrize("value, approx, text", [
    (2.9e9, False, "$2.9 bn"), (7.6e6, False, "$7.6 m"), (253150, False, "$253,150"), (253150, True, "$253,000"),
    (999.4e6, False, "$999 m"), (999.6e6, False, "$1 bn"), (999.96e9, True, "$1 tn"), (2.11e12, True, "$2.11 tn"),
    (1.24e15, True, "$1,240 tn"), (999999.99, False, "$999,999.99"), (-3.2e9, False, "-$3.2 bn")])
def test_large_sums_read_in_their_unit_never_in_exponents(value, approx, text):
    from dashboard.formatting import money

    # A view of ten million SYNTHETIC rows sums to trillions: its bars read "$2.11 tn", not "$2.11e+03 bn".
    assert money(value, approx=approx) == text
