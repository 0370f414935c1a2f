"""Amounts and dates written for people: $2.9 bn, €819,500, 2012–2014."""
from __future__ import annotations

import math

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def money(value: float | None, currency: str = "USD") -> str:
    """$2.9 bn, $7.6 m, €819,500, GBP 6,000; '—' when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    symbol = SYMBOLS.get(currency)
    prefix = symbol if symbol else f"{currency} "
    magnitude = abs(value)
    sign = "-" if value < 0 else ""
    if magnitude >= 1e9:
        text = f"{magnitude / 1e9:.3g} bn"
    elif magnitude >= 1e7:
        text = f"{magnitude / 1e6:.3g} m"
    elif magnitude >= 1e6:
        text = f"{magnitude / 1e6:.3g} m"
    elif magnitude == int(magnitude):
        text = f"{int(magnitude):,}"
    else:
        text = f"{magnitude:,.2f}"
    return f"{sign}{prefix}{text}"


def exact_money(value: object, currency: str) -> str:
    """The exact figure with thousands separators: 253,150 USD, 1,234.5 EUR."""
    if value is None or str(value) in ("", "nan", "None", "<NA>"):
        return "—"
    whole, _, frac = format(value, "f").partition(".")
    frac = frac.rstrip("0")
    return f"{int(whole):,}{'.' + frac if frac else ''} {currency}"


def span(first, last) -> str:
    """A date span for hovers: 2012-01-01–2014-12-31, or 'undated'."""
    if first is None or str(first) in ("NaT", "nan", "None"):
        return "undated"
    a = str(first)[:10]
    b = str(last)[:10] if last is not None and str(last) not in ("NaT", "nan", "None") else "…"
    return a if a == b else f"{a} – {b}"
