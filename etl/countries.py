"""Resolve country cells to ISO 3166 alpha-2 codes and names (pycountry, then lookups/countries.csv)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pycountry

from .errors import LedgerIssue, LookupInvalid, issues_from_mask
from .schema import COUNTRY_LOOKUP_COLUMNS
from .uniques import spread

# ISO 3166 reserves ZZ for user assignment; we use it for "several countries".
MULTIPLE_COUNTRIES_CODE = "ZZ"


def read_country_lookup(path: Path) -> pd.DataFrame:
    """Spellings pycountry lacks (UK, BVI, multiple…), each with a code, a name and a reason."""
    if not path.exists():
        return pd.DataFrame(columns=list(COUNTRY_LOOKUP_COLUMNS))
    table = pd.read_csv(path, dtype="str", keep_default_na=False)
    missing = [c for c in COUNTRY_LOOKUP_COLUMNS if c not in table.columns]
    if missing:
        raise LookupInvalid(f"{path.name}: missing column(s) {', '.join(missing)}")
    bad = (table["spelling"].str.strip().eq("") | ~table["code"].str.fullmatch(r"[A-Z]{2}")
           | table["reason"].str.strip().eq(""))
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0]) + 2
        raise LookupInvalid(f"{path.name}:{row}: each row needs a spelling, a two-letter upper-case code and a reason")
    return table


def _pycountry_match(text: str) -> tuple[str, str] | None:
    try:
        country = pycountry.countries.lookup(text)
    except LookupError:
        return None
    return country.alpha_2, getattr(country, "common_name", None) or country.name


def resolve_countries(raw: pd.Series, column: str, lookup: pd.DataFrame, label_frame: pd.DataFrame
                      ) -> tuple[pd.Series, pd.Series, list[LedgerIssue]]:
    """(alpha-2 code, name, issues) per row; an empty cell means "not stated" and is allowed."""
    # Countries repeat heavily: fold and resolve each distinct cell once, then spread back by position.
    positions, distinct = pd.factorize(raw.astype("str").fillna(""), use_na_sentinel=False)
    distinct_text = pd.Series(np.asarray(distinct, dtype=object), dtype="str").str.strip()
    distinct_folded = distinct_text.str.casefold()
    by_spelling = {s.strip().casefold(): (c, n) for s, c, n in zip(lookup["spelling"], lookup["code"], lookup["name"])}
    resolved: dict[str, tuple[str, str]] = {}
    # Countries repeat heavily, so each distinct spelling is resolved once.
    for value in pd.unique(distinct_folded[distinct_folded.ne("")]):
        match = by_spelling.get(value) or _pycountry_match(value)
        if match is not None:
            resolved[value] = match
    distinct_codes = np.array([resolved.get(v, ("", ""))[0] for v in distinct_folded], dtype=object)
    distinct_names = np.array([resolved.get(v, ("", ""))[1] for v in distinct_folded], dtype=object)
    codes = spread(distinct_codes, positions, raw.index)
    names = spread(distinct_names, positions, raw.index)
    unresolved = pd.Series((distinct_text.ne("") & (distinct_codes == "")).to_numpy()[positions], index=raw.index)
    issues = []
    if unresolved.any():  # the stripped cell text is only spread over the rows when an issue quotes it
        issues = issues_from_mask(label_frame, unresolved, column, spread(distinct_text, positions, raw.index),
                                  "country_unknown",
                                  "not an ISO 3166 country code or name; use a code (GB, VG), an English name, "
                                  "'multiple', or add the spelling to lookups/countries.csv with a reason")
    return codes, names, issues
