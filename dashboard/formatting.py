"""Amounts and dates written for people, as the sources give them: more than $7.6 m, about €3.4 m, $50,000 a month,
July 2012, 2012/2014, n.d."""
from __future__ import annotations

import math
import re

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
# How an amount kind qualifies a single figure, and a sum that contains such a figure.
QUALIFIERS = {"at_least": "more than", "estimate": "about"}
RATE_UNITS = {"monthly": "a month", "yearly": "a year"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
SIGNIFICANT = 3


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def round_significant(value: float, digits: int = SIGNIFICANT) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


# Millions and more are written to three significant figures with their unit.
SCALES = ((1e12, "tn"), (1e9, "bn"), (1e6, "m"))


def _scaled(magnitude: float) -> str | None:
    """'2.9 bn', '7.6 m', '2.11 tn'; a figure that rounds up to the next unit takes it ('$1 bn', never '$1e+03 m'),
    and one beyond a thousand trillion keeps its digits ('1,240 tn'). None below a million."""
    for scale, unit in SCALES:
        if magnitude >= scale or (scale > 1e6 and magnitude >= 1e6 and round_significant(magnitude) >= scale):
            short = magnitude / scale
            return f"{short:.3g} {unit}" if round_significant(short) < 1000 else f"{short:,.0f} {unit}"
    return None


def money(value: float | None, currency: str = "USD", approx: bool = False) -> str:
    """$2.9 bn, $7.6 m, €819,500, GBP 6,000; '—' when unknown. approx=True rounds to three significant figures at
    every size (a converted figure is no more precise than that): $81,100, not $81,132.47."""
    if _missing(value):
        return "—"
    symbol = SYMBOLS.get(currency)
    prefix = symbol if symbol else f"{currency} "
    magnitude = abs(float(value))
    sign = "-" if value < 0 else ""
    scaled = _scaled(magnitude)
    if scaled:
        text = scaled
    elif approx:
        text = f"{round_significant(magnitude):,.0f}"
    elif magnitude == int(magnitude):
        text = f"{int(magnitude):,}"
    else:
        text = f"{magnitude:,.2f}"
    return f"{sign}{prefix}{text}"


def figure(value: float | None, currency: str, kind: str, approx: bool = False) -> str:
    """One figure with its kind: 'more than $7.6 m', 'about €3.4 m', '$50,000 a month', '$253,150'."""
    text = money(value, currency, approx)
    if kind in RATE_UNITS:
        return f"{text} {RATE_UNITS[kind]}"
    qualifier = QUALIFIERS.get(kind)
    return f"{qualifier} {text}" if qualifier and text != "—" else text


def sum_figure(value: float | None, currency: str = "USD", at_least: int = 0, estimate: int = 0,
               approx: bool = False) -> str:
    """A sum that contains any 'more than' figure is 'at least …'; one that contains estimates is 'about …'."""
    text = money(value, currency, approx)
    if text == "—":
        return text
    if at_least and estimate:
        return f"about {text} or more"
    if at_least:
        return f"at least {text}"
    if estimate:
        return f"about {text}"
    return text


def exact_money(value: object, currency: str) -> str:
    """The exact figure with thousands separators: 253,150 USD, 1,234.5 EUR."""
    if value is None or str(value) in ("", "nan", "None", "<NA>"):
        return "—"
    whole, _, frac = format(value, "f").partition(".")
    frac = frac.rstrip("0")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}{'.' + frac if frac else ''} {currency}"


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_OPEN = re.compile(r"^(.+?)\s*/\s*\.\.$")


def date_as_written(raw: str) -> str:
    """The ledger's date as a reader says it: '2012-07' → 'July 2012', '2015-02/..' → 'from February 2015',
    '' → 'n.d.'; days, years and ranges stay as written (2012/2014, 2012-07-30)."""
    text = (raw or "").strip()
    if not text:
        return "n.d."
    opened = _OPEN.match(text)
    if opened:
        return "from " + date_as_written(opened.group(1))
    month = _MONTH.match(text)
    if month and 1 <= int(month.group(2)) <= 12:
        return f"{MONTHS[int(month.group(2)) - 1]} {month.group(1)}"
    if "/" in text:
        parts = [p.strip() for p in text.split("/")]
        if len(parts) == 2 and all(_MONTH.match(p) for p in parts):
            return f"{date_as_written(parts[0])} – {date_as_written(parts[1])}"
    return text


def span(first, last) -> str:
    """A date span for hovers, only as precise as the dates are: 2012–2014, July 2012 – November 2013,
    2012-07-30, or 'undated'."""
    import pandas as pd

    if first is None or str(first) in ("NaT", "nan", "None"):
        return "undated"
    a = pd.Timestamp(first)
    b = pd.Timestamp(last) if last is not None and str(last) not in ("NaT", "nan", "None") else None
    if b is None:
        return f"from {a:%Y-%m-%d}"
    if a.month == 1 and a.day == 1 and b.month == 12 and b.day == 31:
        return str(a.year) if a.year == b.year else f"{a.year}–{b.year}"
    if a.day == 1 and b.is_month_end:
        left, right = f"{MONTHS[a.month - 1]} {a.year}", f"{MONTHS[b.month - 1]} {b.year}"
        return left if left == right else f"{left} – {right}"
    return f"{a:%Y-%m-%d}" if a == b else f"{a:%Y-%m-%d} – {b:%Y-%m-%d}"
