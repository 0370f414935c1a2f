"""Parse reported dates ("2012-07-30", "2012-07", "2012", "2012/2014", "2015-02/..", "n.d.") into periods."""
from __future__ import annotations

import pandas as pd

from .errors import LedgerIssue, issues_from_mask
from .schema import OPEN_END_TOKEN, UNKNOWN_DATE_TOKENS

DATE_DTYPE = "datetime64[us]"
_PART = r"(?P<{p}y>\d{{4}})(?:-(?P<{p}m>\d{{1,2}})(?:-(?P<{p}d>\d{{1,2}}))?)?"
DATE_PATTERN = (r"^\s*" + _PART.format(p="s") + r"\s*(?:(?P<sep>/)\s*(?:(?P<open>\.\.)|" + _PART.format(p="e")
                + r"))?\s*$")
EARLIEST_YEAR, LATEST_YEAR = 1900, 2100


def parse_dates(raw: pd.Series, label_frame: pd.DataFrame) -> tuple[pd.DataFrame, list[LedgerIssue]]:
    """Return date_start, date_end, date_precision and date_plot per row, plus one issue per unreadable date."""
    text = raw.astype("str").fillna("").str.strip()
    unknown = text.eq("") | text.str.lower().isin(UNKNOWN_DATE_TOKENS)
    parts = text.str.extract(DATE_PATTERN)
    matched = parts["sy"].notna() & ~unknown

    start, start_end, start_bad, start_precision = _period(parts["sy"], parts["sm"], parts["sd"], matched)
    is_range = matched & parts["sep"].notna()
    open_end = is_range & parts["open"].notna()
    closed_range = is_range & ~open_end
    end_start, end_end, end_bad, _ = _period(parts["ey"], parts["em"], parts["ed"], closed_range)

    date_start = start
    date_end = start_end.where(~is_range, end_end).where(~open_end, pd.NaT)
    reversed_range = closed_range & ~start_bad & ~end_bad & (end_start < start)
    bad = matched & (start_bad | (closed_range & end_bad) | reversed_range)
    good = matched & ~bad

    precision = pd.Series("unknown", index=raw.index, dtype="str")
    precision[good] = start_precision[good]
    precision[good & is_range] = "range"
    date_start = date_start.where(good, pd.NaT)
    date_end = date_end.where(good, pd.NaT)
    midpoint = date_start + (date_end - date_start) / 2
    date_plot = midpoint.where(date_end.notna(), date_start).dt.floor("D")

    issues: list[LedgerIssue] = []
    unreadable = ~unknown & ~matched
    issues += issues_from_mask(label_frame, unreadable, "date", text, "date_unreadable",
                               "expected 2012-07-30, 2012-07, 2012, a range 2012/2014 or 2012-12-17/2013-03-19, "
                               f"an open range 2015-02/{OPEN_END_TOKEN}, or n.d.; put explanations in date_note")
    issues += issues_from_mask(label_frame, matched & (start_bad | (closed_range & end_bad)), "date", text,
                               "date_invalid", f"not a real calendar date (or a year outside {EARLIEST_YEAR}–"
                                               f"{LATEST_YEAR})")
    issues += issues_from_mask(label_frame, reversed_range & ~start_bad & ~end_bad, "date", text, "date_reversed",
                               "the range ends before it starts")
    frame = pd.DataFrame({
        "date_start": date_start.astype(DATE_DTYPE),
        "date_end": date_end.astype(DATE_DTYPE),
        "date_precision": precision,
        "date_plot": date_plot.astype(DATE_DTYPE),
    }, index=raw.index)
    return frame, issues


def _period(year: pd.Series, month: pd.Series, day: pd.Series, active: pd.Series
            ) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """First day, last day, invalid flag and precision of year / year-month / year-month-day parts."""
    y = pd.to_numeric(year, errors="coerce")
    m = pd.to_numeric(month, errors="coerce")
    d = pd.to_numeric(day, errors="coerce")
    has_m, has_d = m.notna(), d.notna()
    bad_year = active & ((y < EARLIEST_YEAR) | (y > LATEST_YEAR) | y.isna())
    bad_month = active & has_m & ((m < 1) | (m > 12))
    usable = active & ~bad_year & ~bad_month
    parts = pd.DataFrame({"year": y.where(usable, 2000), "month": m.where(has_m & usable, 1).fillna(1),
                          "day": d.where(has_d & usable, 1).fillna(1)})
    first = pd.to_datetime(parts, errors="coerce")
    bad_day = usable & has_d & (first.isna() | (first.dt.day != d.where(has_d, 1)))
    last = first.copy()
    year_only = ~has_m
    last[year_only] = first[year_only] + pd.offsets.YearEnd(0)
    month_only = has_m & ~has_d
    last[month_only] = first[month_only] + pd.offsets.MonthEnd(0)
    bad = active & (bad_year | bad_month | bad_day)
    precision = pd.Series("year", index=year.index, dtype="str").where(~has_m, "month").where(~has_d, "day")
    first = first.where(active & ~bad, pd.NaT)
    last = last.where(active & ~bad, pd.NaT)
    return first, last, bad.fillna(False).astype(bool), precision
