"""Entity resolution at import scale: propose merges of name variants, let a reporter confirm them, apply them.

Names are compared after folding accents, case, punctuation and legal forms ("GMBH&CO KG" = "GMBH & CO.KG",
"CORP." = "CORPORATION"), then with rapidfuzz among names of the same country. Nothing is merged by the import
itself: proposals go to NAME.merges.csv, a reporter writes yes or no in its decision column, and
`python -m etl merges apply FILE` adds the confirmed spellings as aliases in lookups/entities.csv. Names of
different countries are never proposed as one entity.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from ..atomic import atomic_write_bytes
from ..entities import name_key
from ..errors import LookupInvalid
from ..safety import csv_bytes
from ..schema import ALIAS_SEPARATOR, ENTITIES_FILE, ENTITY_COLUMNS, ENTITY_KINDS

MERGE_COLUMNS = ("decision", "canonical", "variant", "country", "kind", "score", "reason", "rows")
DECISIONS = ("", "yes", "no", "applied")
# Legal forms written in many ways; folded to one spelling so they neither block nor fake a match.
LEGAL_FORMS = {
    "CORPORATION": "CORP", "CORP": "CORP", "INCORPORATED": "INC", "INC": "INC", "LIMITED": "LTD", "LTD": "LTD",
    "COMPANY": "CO", "CO": "CO", "LLP": "LLP", "LLC": "LLC", "GMBH": "GMBH", "KG": "KG", "AG": "AG", "SA": "SA",
    "SPA": "SPA", "SRL": "SRL", "SL": "SL", "AS": "AS", "MMC": "MMC", "OOO": "OOO", "PLC": "PLC", "BV": "BV",
    "NV": "NV", "AB": "AB", "OY": "OY", "SARL": "SARL", "SAS": "SAS", "LP": "LP", "SE": "SE",
}
# Blocks of names compared with each other: country plus the first letter of the folded name. A block larger
# than this is split further by the second letter, so the comparisons stay bounded on very large imports.
MAX_BLOCK = 4000


def company_key(names: pd.Series) -> pd.Series:
    """Fold a name for comparison: accents, case and punctuation removed, '&' kept as a word, runs of single
    letters joined (S.R.L → SRL), legal forms spelled one way."""
    text = (names.astype("str").str.normalize("NFKD").str.replace(r"[\u0300-\u036f]", "", regex=True).str.upper()
            .str.replace("&", " & ", regex=False).str.replace(r"[^\w&]+", " ", regex=True)
            .str.replace(r"\b(\w) (?=\w\b)", r"\1", regex=True).str.split())
    forms = LEGAL_FORMS
    return text.map(lambda words: " ".join(forms.get(w, w) for w in words), na_action="ignore").fillna("") \
        .astype("str")


@dataclass
class Proposals:
    table: pd.DataFrame  # MERGE_COLUMNS
    across_countries: int  # names that fold alike but are registered under different countries (not proposed)


def _names_with_country(frame: pd.DataFrame) -> pd.DataFrame:
    """Every (name, country) pair the imported rows use, with how many rows use it."""
    pairs = pd.concat([
        pd.DataFrame({"name": frame["payer"], "country": frame["payer_country"]}),
        pd.DataFrame({"name": frame["recipient"], "country": frame["recipient_country"]}),
    ], ignore_index=True)
    pairs["name"] = pairs["name"].str.strip()
    pairs["country"] = pairs["country"].str.strip().str.upper()
    pairs = pairs[pairs["name"].ne("")]
    return pairs.groupby(["name", "country"], sort=False).size().rename("rows").reset_index()


def propose_merges(frame: pd.DataFrame, register_keys: dict[str, str], similarity: int, kind: str) -> Proposals:
    """Merge proposals for the names of the imported rows (vectorised per distinct name, fuzzy within blocks)."""
    names = _names_with_country(frame)
    empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in MERGE_COLUMNS})
    if names.empty:
        return Proposals(empty, 0)
    names["key"] = company_key(names["name"])
    names["folded"] = name_key(names["name"])
    names["registered"] = names["folded"].map(register_keys)
    across = names.drop_duplicates(["key", "country"]).groupby("key")["country"].nunique()
    across_countries = int((across > 1).sum())

    # Clusters: same folded key within a country, then fuzzy links between keys of a block.
    keys = names.drop_duplicates(["key", "country"])[["key", "country"]].reset_index(drop=True)
    parent = np.arange(len(keys))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    scores = np.full(len(keys), 100.0)
    for _, block in keys.groupby([keys["country"], keys["key"].str[:1]], sort=False):
        for sub in _bounded(block):
            if len(sub) < 2:
                continue
            matrix = process.cdist(sub["key"].tolist(), sub["key"].tolist(), scorer=fuzz.ratio,
                                   score_cutoff=similarity, workers=-1)
            left, right = np.nonzero(np.triu(matrix, k=1))
            positions = sub.index.to_numpy()
            for i, j in zip(left, right):
                a, b = positions[i], positions[j]
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
                scores[a] = min(scores[a], float(matrix[i, j]))
                scores[b] = min(scores[b], float(matrix[i, j]))
    keys["cluster"] = [find(i) for i in range(len(keys))]
    keys["score"] = scores
    names = names.merge(keys, on=["key", "country"], how="left")

    rows = []
    for _, group in names.groupby("cluster", sort=False):
        if len(group) < 2 and group["registered"].isna().all():
            continue
        registered = group["registered"].dropna()
        if not registered.empty:
            canonical = registered.iloc[0]
            reason_base = "matches a registered entity once punctuation and legal form are folded"
        else:
            canonical = group.sort_values("rows", ascending=False, kind="stable")["name"].iloc[0]
            reason_base = None
        canonical_key = company_key(pd.Series([canonical])).iloc[0]
        for name, country, count, key, score, reg in zip(group["name"], group["country"], group["rows"],
                                                         group["key"], group["score"], group["registered"]):
            if name == canonical or (isinstance(reg, str) and reg == canonical):
                continue
            if reason_base:
                reason = reason_base if key == canonical_key else f"similar to a registered entity (score {score:.0f})"
            elif key == canonical_key:
                reason = "same name once punctuation and legal form are folded"
            else:
                reason = f"similar name (score {score:.0f} of 100)"
            rows.append({"decision": "", "canonical": canonical, "variant": name, "country": country,
                         "kind": kind, "score": f"{100 if key == canonical_key else score:.0f}", "reason": reason,
                         "rows": str(int(count))})
    table = pd.DataFrame(rows, columns=list(MERGE_COLUMNS)).astype("str") if rows else empty
    return Proposals(table.sort_values(["canonical", "variant"], kind="stable").reset_index(drop=True),
                     across_countries)


def _bounded(block: pd.DataFrame) -> list[pd.DataFrame]:
    if len(block) <= MAX_BLOCK:
        return [block]
    return [sub for _, sub in block.groupby(block["key"].str[:2], sort=False)]


def keep_decisions(proposals: pd.DataFrame, previous_path: Path) -> pd.DataFrame:
    """A re-import keeps the reporter's earlier decisions (and rejected pairs stay rejected)."""
    if not previous_path.exists():
        return proposals
    previous = read_merges(previous_path)
    decided = previous[previous["decision"].ne("")]
    merged = proposals.merge(decided[["canonical", "variant", "country", "decision"]],
                             on=["canonical", "variant", "country"], how="left", suffixes=("", "_before"))
    merged["decision"] = merged["decision_before"].fillna(merged["decision"]).astype("str")
    kept = merged.drop(columns="decision_before")
    # Decisions about pairs this import no longer proposes are kept too: they record what was decided.
    missing = decided.merge(kept[["canonical", "variant", "country"]], how="left", indicator=True)
    missing = missing[missing["_merge"].eq("left_only")].drop(columns="_merge")
    return pd.concat([kept, missing[list(MERGE_COLUMNS)]], ignore_index=True)[list(MERGE_COLUMNS)]


def read_merges(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in MERGE_COLUMNS if c not in table.columns]
    if missing:
        raise LookupInvalid(f"{path.name}: missing column(s) {', '.join(missing)}")
    table = table[list(MERGE_COLUMNS)].copy()
    table["decision"] = table["decision"].str.strip().str.lower()
    return table


def write_merges(table: pd.DataFrame, path: Path) -> None:
    atomic_write_bytes(path, csv_bytes(table[list(MERGE_COLUMNS)], byte_order_mark=True))


def apply_merges(merges_path: Path, lookup_dir: Path) -> tuple[int, list[str]]:
    """Add every confirmed (yes) variant as an alias of its canonical entity in entities.csv; new canonical names
    become entities. Returns (aliases added, problems). Writes nothing when there is a problem."""
    merges = read_merges(merges_path)
    problems = [f"{merges_path.name}:{n + 2}: decision {d!r}: write yes, no or leave it empty"
                for n, d in enumerate(merges["decision"]) if d not in DECISIONS]
    bad_kind = merges["decision"].eq("yes") & ~merges["kind"].isin(ENTITY_KINDS)
    problems += [f"{merges_path.name}:{n + 2}: kind {k!r}: expected one of {' | '.join(ENTITY_KINDS)}"
                 for n, k in zip(np.flatnonzero(bad_kind.to_numpy()), merges.loc[bad_kind, "kind"])]
    if problems:
        return 0, problems
    register_path = lookup_dir / ENTITIES_FILE
    register = (pd.read_csv(register_path, dtype="str", keep_default_na=False) if register_path.exists()
                else pd.DataFrame({c: pd.Series([], dtype="str") for c in ENTITY_COLUMNS}))
    register = register.copy()
    confirmed = merges[merges["decision"].eq("yes")]
    added = 0
    for canonical, group in confirmed.groupby("canonical", sort=False):
        match = np.flatnonzero(name_key(register["name"]).eq(name_key(pd.Series([canonical])).iloc[0]).to_numpy())
        if len(match) == 0:
            countries = sorted(set(group["country"]) - {""})
            register.loc[len(register)] = {"name": canonical, "kind": group["kind"].iloc[0],
                                           "country": countries[0] if len(countries) == 1 else "",
                                           "aliases": "", "notes": f"added from {merges_path.name}"}
            match = [len(register) - 1]
        position = match[0]
        aliases = [a.strip() for a in str(register.at[position, "aliases"]).split(ALIAS_SEPARATOR) if a.strip()]
        known = set(name_key(pd.Series([*aliases, register.at[position, "name"]])))
        for variant in group["variant"]:
            if name_key(pd.Series([variant])).iloc[0] not in known:
                aliases.append(variant)
                known.add(name_key(pd.Series([variant])).iloc[0])
                added += 1
        register.at[position, "aliases"] = ALIAS_SEPARATOR.join(aliases)
    # Written the way the register is kept in git (plain CSV, LF line ends) so the diff shows only the change.
    atomic_write_bytes(register_path, register.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    merges.loc[merges["decision"].eq("yes"), "decision"] = "applied"
    write_merges(merges, merges_path)
    return added, []
