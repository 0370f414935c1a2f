"""Resolve each row's currency to an ISO 4217 code from the currency cell and any marker inside the amount cell."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pycountry

from .errors import LedgerIssue, issues_from_mask

# Symbols and words with one clear meaning. "$" means USD unless the currency cell names another dollar.
UNAMBIGUOUS_MARKERS: dict[str, str] = {
    "$": "USD", "us$": "USD", "usd$": "USD", "dollar": "USD", "dollars": "USD",
    "€": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "pound": "GBP", "pounds": "GBP",
    "₼": "AZN", "manat": "AZN", "manats": "AZN",
    "₽": "RUB", "rouble": "RUB", "roubles": "RUB", "ruble": "RUB", "rubles": "RUB",
    "₺": "TRY", "₴": "UAH", "c$": "CAD", "a$": "AUD",
}
# Symbols shared by several currencies: acceptable only when the currency cell says which one.
AMBIGUOUS_MARKERS: dict[str, tuple[str, ...]] = {
    "¥": ("JPY", "CNY"),
    "kr": ("SEK", "NOK", "DKK", "ISK"),
}
DOLLAR_CURRENCIES = ("USD", "CAD", "AUD", "NZD", "HKD", "SGD", "TWD", "BZD", "BSD", "BBD", "FJD", "JMD", "LRD",
                     "NAD", "SBD", "SRD", "TTD", "XCD", "BMD", "KYD", "GYD", "BND", "ZWL")


# ISO 4217 codes that are not money a payer hands a recipient: the testing and "no currency" codes, precious metals,
# units of account (SDR, bond-market and development-bank units, the Sucre, the Arab Accounting Dinar) and the fund
# codes (index-linked units, next-day dollars, WIR). ISO lists them beside currencies; a ledger row needs the
# currency the money moved in.
NOT_MONEY: dict[str, str] = {
    "XXX": "the ISO code for 'no currency involved'", "XTS": "the ISO code reserved for testing",
    **{code: "a precious metal (troy ounces), not a currency" for code in ("XAU", "XAG", "XPT", "XPD")},
    **{code: "a unit of account, not a currency money is paid in"
       for code in ("XDR", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA", "XAD")},
    **{code: "an ISO fund code (an index-linked or settlement unit), not a currency"
       for code in ("BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW")},
}


@lru_cache(maxsize=1)
def iso_currency_codes() -> frozenset[str]:
    """Every ISO 4217 alphabetic code pycountry knows."""
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def resolve_currencies(currency_cell: pd.Series, marker_in_amount: pd.Series, label_frame: pd.DataFrame
                       ) -> tuple[pd.Series, list[LedgerIssue]]:
    """Return the ISO code per row ("" where unresolved) and one issue per unresolved or conflicting row."""
    cell = currency_cell.astype("str").fillna("").str.strip()
    marker = marker_in_amount.astype("str").fillna("").str.strip()
    # A row's outcome depends only on its (cell, marker) pair, and ledgers hold few distinct pairs: decide each
    # pair once, then spread the codes and flags back over the rows.
    cell_codes, cell_values = pd.factorize(cell, use_na_sentinel=False)
    marker_codes, marker_values = pd.factorize(marker, use_na_sentinel=False)
    pair_codes, pairs = pd.factorize(cell_codes.astype(np.int64) * max(len(marker_values), 1) + marker_codes)
    pair_cell = pd.Series(np.asarray(cell_values, dtype=object)[pairs // max(len(marker_values), 1)], dtype="str")
    pair_marker = pd.Series(np.asarray(marker_values, dtype=object)[pairs % max(len(marker_values), 1)], dtype="str")
    decided = _resolve_pairs(pair_cell, pair_marker)

    def spread(column: str) -> pd.Series:
        return pd.Series(decided[column].to_numpy()[pair_codes], index=cell.index)

    cell_bad, cell_ambiguous = spread("cell_bad"), spread("cell_ambiguous")
    marker_bad, marker_ambiguous, conflict = spread("marker_bad"), spread("marker_ambiguous"), spread("conflict")
    missing = spread("missing")
    not_money_cell, not_money_marker = spread("not_money_cell"), spread("not_money_marker")
    issues: list[LedgerIssue] = []
    for flags, column, values in ((not_money_cell, "currency", cell), (not_money_marker & ~not_money_cell, "amount",
                                                                      marker)):
        if flags.any():  # the message names each row's code, so it is only built when some row needs it
            issues += issues_from_mask(label_frame, flags, column, values, "currency_not_money",
                                       values.str.upper() + " is " + values.str.upper().map(NOT_MONEY).fillna("")
                                       + ": give the amount in the currency the source says was paid")
    issues += issues_from_mask(label_frame, cell_bad, "currency", cell, "currency_unknown",
                               "not an ISO 4217 currency code or a known symbol (examples: USD, EUR, GBP, AZN, $, €)")
    issues += issues_from_mask(label_frame, cell_ambiguous, "currency", cell, "currency_ambiguous",
                               "this symbol is used by several currencies; write the ISO code (JPY or CNY, SEK or NOK…)")
    issues += issues_from_mask(label_frame, marker_bad & ~cell_bad, "amount", marker, "currency_unknown",
                               "the currency written in the amount is not an ISO 4217 code or a known symbol")
    issues += issues_from_mask(label_frame, marker_ambiguous & ~cell_bad, "amount", marker, "currency_ambiguous",
                               "this symbol is used by several currencies; state the ISO code in the currency column")
    conflicting = conflict & ~cell_bad & ~marker_bad
    if conflicting.any():  # the message is per row, so it is only built when some row needs it
        issues += issues_from_mask(label_frame, conflicting, "currency", cell, "currency_conflict",
                                   "the amount cell is written in another currency (" + marker + ")")
    issues += issues_from_mask(label_frame, missing, "currency", cell, "currency_missing",
                               "a currency is required (in this column or in the amount, e.g. €2.39m)")
    code = pa.array(decided["code"].to_numpy(dtype=object), type=pa.large_string()).take(pa.array(pair_codes))
    return pd.Series(code, index=cell.index, dtype="str"), issues


def _resolve_pairs(cell: pd.Series, marker: pd.Series) -> pd.DataFrame:
    """The code ("" where unresolved) and every problem flag for each (stripped cell, stripped marker) pair."""
    from_cell, cell_bad, cell_ambiguous = _code_of(cell)
    from_marker, marker_bad, marker_ambiguous = _code_of(marker)

    # "$" in the amount with a currency cell naming another dollar currency is that dollar, as stated.
    dollar_stated = marker.eq("$") & from_cell.isin(DOLLAR_CURRENCIES)
    from_marker = from_marker.where(~dollar_stated, from_cell)
    ambiguous_resolved = marker_ambiguous & from_cell.ne("") & _marker_allows(marker, from_cell)
    from_marker = from_marker.where(~ambiguous_resolved, from_cell)
    marker_ambiguous &= ~ambiguous_resolved

    code = from_cell.where(from_cell.ne(""), from_marker)
    conflict = from_cell.ne("") & from_marker.ne("") & from_cell.ne(from_marker)
    missing = cell.eq("") & marker.eq("")
    not_money_cell, not_money_marker = from_cell.isin(NOT_MONEY), from_marker.isin(NOT_MONEY)
    # A non-money code is reported on its own, not also as a conflict with the other cell.
    conflict &= ~not_money_cell & ~not_money_marker
    bad = cell_bad | cell_ambiguous | marker_bad | marker_ambiguous | conflict | missing | not_money_cell | \
        not_money_marker
    return pd.DataFrame({"code": code.where(~bad, "").astype("str"), "not_money_cell": not_money_cell,
                         "not_money_marker": not_money_marker, "cell_bad": cell_bad,
                         "cell_ambiguous": cell_ambiguous, "marker_bad": marker_bad,
                         "marker_ambiguous": marker_ambiguous, "conflict": conflict, "missing": missing})


def _code_of(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(code, unknown, ambiguous) for a series of currency codes, symbols or words; "" stays "" and is not bad."""
    folded = text.str.lower()
    upper = text.str.upper()
    is_iso = upper.isin(iso_currency_codes())
    by_marker = folded.map(UNAMBIGUOUS_MARKERS).fillna("").astype("str")
    ambiguous = folded.isin(AMBIGUOUS_MARKERS)
    code = upper.where(is_iso, by_marker)
    unknown = text.ne("") & code.eq("") & ~ambiguous
    return code.astype("str"), unknown, ambiguous


def _marker_allows(marker: pd.Series, code: pd.Series) -> pd.Series:
    allowed = marker.str.lower().map({k: "|".join(v) for k, v in AMBIGUOUS_MARKERS.items()}).fillna("")
    return pd.Series([c in a.split("|") for a, c in zip(allowed, code)], index=marker.index, dtype=bool) \
        if bool((allowed != "").any()) else pd.Series(False, index=marker.index)
