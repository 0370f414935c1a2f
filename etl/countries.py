"""Resolve country cells to ISO 3166 alpha-2 codes and names: lookups/countries.csv (sourced corrections and
ambiguous spellings), then pycountry (ISO 3166 names and codes), then country-converter (everyday names such as
Turkey, South Korea, Kosovo, Ivory Coast)."""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pycountry

from .errors import LedgerIssue, LookupInvalid, issues_from_mask
from .schema import COUNTRY_LOOKUP_COLUMNS
from .uniques import spread

# ISO 3166 reserves ZZ for user assignment; we use it for "several countries".
MULTIPLE_COUNTRIES_CODE = "ZZ"
UNKNOWN_MESSAGE = ("not an ISO 3166 country code or name; use a code (GB, VG), an English name, 'multiple', or add "
                   "the spelling to lookups/countries.csv with a reason")


def read_country_lookup(path: Path) -> pd.DataFrame:
    """Spellings the libraries lack or get wrong (UK, BVI, multiple…), each with a code, a name and a reason.
    A row with an empty code marks an ambiguous spelling (Korea): it is refused, and its reason says why."""
    if not path.exists():
        return pd.DataFrame(columns=list(COUNTRY_LOOKUP_COLUMNS))
    table = pd.read_csv(path, dtype="str", keep_default_na=False)
    missing = [c for c in COUNTRY_LOOKUP_COLUMNS if c not in table.columns]
    if missing:
        raise LookupInvalid(f"{path.name}: missing column(s) {', '.join(missing)}")
    bad = (table["spelling"].str.strip().eq("") | ~table["code"].str.fullmatch(r"[A-Z]{2}|")
           | table["reason"].str.strip().eq(""))
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0]) + 2
        raise LookupInvalid(f"{path.name}:{row}: each row needs a spelling, a two-letter upper-case code (or an "
                            "empty code for an ambiguous spelling) and a reason")
    return table


def _pycountry_match(text: str) -> tuple[str, str] | None:
    try:
        country = pycountry.countries.lookup(text)
    except LookupError:
        return None
    return country.alpha_2, getattr(country, "common_name", None) or country.name


@lru_cache(maxsize=1)
def _converter():
    """country-converter's matcher, built once. Its own loader reads Namibia's code "NA" as a missing value under
    pandas 3, so its table is read here with only empty cells as missing."""
    import country_converter

    logging.getLogger("country_converter").setLevel(logging.ERROR)
    data = pd.read_csv(Path(country_converter.__file__).with_name("country_data.tsv"), sep="\t", dtype=object,
                       keep_default_na=False, na_values=[""], encoding="utf-8")
    return country_converter.CountryConverter(country_data=data)


# country-converter searches a cell for a country's pattern, so "Hungary (account) / BVI" would become Hungary:
# only cells that look like one name (letters, spaces, dots, apostrophes, hyphens) are given to it.
ONE_NAME = r"[^\W\d_][\w .'’\-]*"


def _everyday_matches(texts: list[str]) -> dict[str, tuple[str, str]]:
    """Everyday names (one call for all distinct spellings) → (alpha-2, name); unmatched names, cells that are
    not one name, and names matching several countries are left out."""
    texts = [t for t in texts if re.fullmatch(ONE_NAME, t)]
    if not texts:
        return {}
    converter = _converter()
    codes = converter.convert(texts, src="regex", to="ISO2", not_found=None)
    codes = codes if isinstance(codes, list) else [codes]
    out = {}
    for text, code in zip(texts, codes):
        if isinstance(code, str) and len(code) == 2 and code.isalpha():
            known = pycountry.countries.get(alpha_2=code)
            name = (getattr(known, "common_name", None) or known.name) if known else \
                converter.convert(code, src="ISO2", to="name_short")
            out[text] = (code, str(name))
    return out


def resolve_countries(raw: pd.Series, column: str, lookup: pd.DataFrame, label_frame: pd.DataFrame
                      ) -> tuple[pd.Series, pd.Series, list[LedgerIssue]]:
    """(alpha-2 code, name, issues) per row; an empty cell means "not stated" and is allowed."""
    # Countries repeat heavily: fold and resolve each distinct cell once, then spread back by position.
    positions, distinct = pd.factorize(raw.astype("str").fillna(""), use_na_sentinel=False)
    distinct_text = pd.Series(np.asarray(distinct, dtype=object), dtype="str").str.strip()
    distinct_folded = distinct_text.str.casefold()
    by_spelling = {s.strip().casefold(): (c, n) for s, c, n in zip(lookup["spelling"], lookup["code"], lookup["name"])
                   if c}
    ambiguous = {s.strip().casefold(): r for s, c, r in zip(lookup["spelling"], lookup["code"], lookup["reason"])
                 if not c}
    resolved: dict[str, tuple[str, str]] = {}
    left: list[str] = []
    for value in pd.unique(distinct_folded[distinct_folded.ne("")]):
        if value in ambiguous:
            continue
        match = by_spelling.get(value) or _pycountry_match(value)
        if match is not None:
            resolved[value] = match
        else:
            left.append(value)
    resolved.update(_everyday_matches(left))
    distinct_codes = np.array([resolved.get(v, ("", ""))[0] for v in distinct_folded], dtype=object)
    distinct_names = np.array([resolved.get(v, ("", ""))[1] for v in distinct_folded], dtype=object)
    codes = spread(distinct_codes, positions, raw.index)
    names = spread(distinct_names, positions, raw.index)
    unresolved_distinct = distinct_text.ne("") & (distinct_codes == "")
    unresolved = pd.Series(unresolved_distinct.to_numpy()[positions], index=raw.index)
    issues = []
    if unresolved.any():  # the stripped cell text is only spread over the rows when an issue quotes it
        reasons = distinct_folded.map(lambda v: ambiguous[v] if v in ambiguous
                                      else UNKNOWN_MESSAGE)
        issues = issues_from_mask(label_frame, unresolved, column, spread(distinct_text, positions, raw.index),
                                  "country_unknown", spread(reasons.to_numpy(dtype=object), positions, raw.index))
    return codes, names, issues
