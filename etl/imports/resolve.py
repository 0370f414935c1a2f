"""Entity resolution at import scale: propose merges of name variants, let a reporter confirm them, apply them.

Names are compared after folding accents, case, punctuation and legal forms ("GMBH&CO KG" = "GMBH & CO.KG",
"CORP." = "CORPORATION"), then with rapidfuzz among names of the same country. Nothing is merged by the import
itself: proposals go to NAME.merges.csv, a reporter writes yes or no in its decision column, and
`python -m etl merges apply FILE` adds the confirmed spellings as aliases in lookups/entities.csv. Names of
different countries are never proposed as one entity.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from ..atomic import atomic_write_bytes
from ..entities import LEGAL_FORMS, company_key, core_key, name_key, words_agree
from ..errors import LookupInvalid
from ..safety import csv_bytes
from ..schema import ALIAS_SEPARATOR, ENTITIES_FILE, ENTITY_COLUMNS, ENTITY_KINDS

MERGE_COLUMNS = ("decision", "canonical", "variant", "country", "kind", "score", "reason", "rows")
DECISIONS = ("", "yes", "no", "applied")
# Blocks of names compared# Blocks of names compared with each other: country plus the first letter of the folded name. A block larger
# than this is split further by the second letter, so the comparisons stay bounded on very large imports.
MAX_BLOCK = 4000
# Blocks up to this size are compared pair by pair in one vectorised call; larger ones get a matrix each.
SMALL_BLOCK = 64


ACROSS_COLUMNS = ("names", "countries")


@dataclass
class Proposals:
    table: pd.DataFrame  # MERGE_COLUMNS
    # Names that fold alike but sit in different countries (not proposed; listed for review): ACROSS_COLUMNS.
    across_countries: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(ACROSS_COLUMNS)))


def _iso_countries(raw: pd.Series, country_lookup: pd.DataFrame | None) -> pd.Series:
    """Country cells as ISO codes ("USA", "United States" and "US" are one country); a cell that does not
    resolve (the import reports it) is kept upper-cased so it still separates names."""
    text = raw.astype("str").str.strip()
    if country_lookup is None:
        return text.str.upper()
    from ..countries import resolve_countries
    from ..schema import ROW_FILE, ROW_NUMBER

    labels = pd.DataFrame({ROW_FILE: "", ROW_NUMBER: 0}, index=raw.index)
    codes, _, _ = resolve_countries(text, "country", country_lookup, labels)
    return codes.where(codes.ne(""), text.str.upper()).astype("str")


def _names_with_country(frame: pd.DataFrame, kinds: pd.DataFrame | None, country_lookup: pd.DataFrame | None
                        ) -> pd.DataFrame:
    """Every (name, country) pair the imported rows use, with how many rows use it and its most given kind."""
    def side(name: str) -> pd.DataFrame:
        kind = kinds[f"{name}_kind"] if kinds is not None and f"{name}_kind" in kinds else ""
        return pd.DataFrame({"name": frame[name], "country": frame[f"{name}_country"], "row_kind": kind},
                            index=frame.index)

    pairs = pd.concat([side("payer"), side("recipient")], ignore_index=True)
    pairs["name"] = pairs["name"].str.strip()
    pairs["country"] = _iso_countries(pairs["country"], country_lookup)
    pairs = pairs[pairs["name"].ne("")]
    counted = pairs.groupby(["name", "country"], sort=False).size().rename("rows").reset_index()
    given = pairs[pairs["row_kind"].astype("str").ne("")]
    if given.empty:
        counted["row_kind"] = ""
        return counted
    common = given.groupby(["name", "country", "row_kind"], sort=False).size().rename("n").reset_index() \
        .sort_values("n", ascending=False, kind="stable").drop_duplicates(["name", "country"])
    return counted.merge(common[["name", "country", "row_kind"]], on=["name", "country"], how="left") \
        .fillna({"row_kind": ""})


def _across_countries(names: pd.DataFrame) -> pd.DataFrame:
    """Names that fold alike in several countries, one line each: the spellings and the countries."""
    distinct = names.drop_duplicates(["key", "country"])
    several = distinct.groupby("key")["country"].nunique()
    keys = several.index[several > 1]
    if len(keys) == 0:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in ACROSS_COLUMNS})
    chosen = names[names["key"].isin(keys)]
    grouped = chosen.groupby("key", sort=True).agg(
        names=("name", lambda v: " / ".join(sorted(set(v)))),
        countries=("country", lambda v: ", ".join(sorted(c or "(none)" for c in set(v)))))
    return grouped.reset_index(drop=True).astype("str")


def propose_merges(frame: pd.DataFrame, register_keys: dict[str, str], similarity: int, kind: str,
                   kinds: pd.DataFrame | None = None, country_lookup: pd.DataFrame | None = None) -> Proposals:
    """Merge proposals for the names of the imported rows (vectorised per distinct name, fuzzy within blocks).
    Countries are compared as ISO codes; names are proposed only within one country and when their words start
    with the same letters; the canonical spelling is the registered one, else the best-cased spelling of the
    most used form."""
    names = _names_with_country(frame, kinds, country_lookup)
    empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in MERGE_COLUMNS})
    if names.empty:
        return Proposals(empty)
    names["key"] = company_key(names["name"])
    names["folded"] = name_key(names["name"])
    names["registered"] = names["folded"].map(register_keys)
    across_countries = _across_countries(names)

    # Clusters: same folded key within a country, then fuzzy links between keys of a block.
    keys = names.drop_duplicates(["key", "country"])[["key", "country"]].reset_index(drop=True)
    parent = np.arange(len(keys))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    scores = np.full(len(keys), 100.0)
    # Names are compared only within a block: same country, same first letter and the same numbers, so that
    # "FUND 1 LP" and "FUND 2 LP" are never proposed as one entity however similar the rest is.
    digits = keys["key"].str.replace(r"\D+", " ", regex=True).str.strip()
    block_id, _ = pd.factorize(keys["country"] + "\x1f" + keys["key"].str[:1] + "\x1f" + digits)
    block_size = np.bincount(block_id)
    shared = block_size[block_id] > 1
    pairs = [_pairs_in_small_blocks(keys, block_id, block_size, similarity)]
    for block in np.flatnonzero(block_size > SMALL_BLOCK):
        for sub in _bounded(keys.loc[block_id == block]):
            pairs.append(_pairs_in_block(sub, similarity))
    left, right, score = (np.concatenate(parts) for parts in zip(*pairs)) if shared.any() else \
        (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))
    # Only the pairs above the cutoff (a few per thousand names) are checked word by word, without legal forms.
    involved = np.unique(np.concatenate([left, right]))
    core = np.full(len(keys), "", dtype=object)
    if len(involved):
        core[involved] = core_key(keys["key"].iloc[involved]).to_numpy(dtype=object)
    initials = np.array([words_agree(core[a], core[b]) for a, b in zip(left, right)], dtype=bool)
    left, right, score = left[initials], right[initials], score[initials]
    for a, b in zip(left, right):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    # Each name's score is the lowest similarity among the links that put it in its cluster.
    np.minimum.at(scores, left, score)
    np.minimum.at(scores, right, score)
    keys["cluster"] = [find(i) for i in range(len(keys))]
    keys["score"] = scores
    names = names.merge(keys, on=["key", "country"], how="left")

    # Canonical per cluster: the registered entity when one member is registered; else, of the folded form most
    # rows use (a misspelling is usually the rarer form), the spelling that is not ALL CAPS, then the most used.
    names["key_rows"] = names.groupby(["cluster", "key"])["rows"].transform("sum")
    names["all_caps"] = names["name"].str.upper().eq(names["name"]) & names["name"].str.contains(r"[a-z]",
                                                                                                 case=False)
    ordered = names.sort_values(["cluster", "key_rows", "all_caps", "rows"], ascending=[True, False, True, False],
                                kind="stable")
    most_used = ordered.groupby("cluster", sort=False)["name"].first()
    registered = names.dropna(subset=["registered"]).groupby("cluster", sort=False)["registered"].first()
    size = names.groupby("cluster", sort=False).size()
    canonical = registered.astype(object).reindex(most_used.index).fillna(most_used).astype("str")
    names["canonical"] = names["cluster"].map(canonical).astype("str")
    names["cluster_registered"] = names["cluster"].isin(registered.index)
    wanted = ((names["cluster"].map(size) > 1) | names["cluster_registered"]) & names["registered"].isna() \
        & names["name"].ne(names["canonical"])
    out = names.loc[wanted].copy()
    if out.empty:
        return Proposals(empty, across_countries)
    row_kind = out["row_kind"].astype("str") if "row_kind" in out else pd.Series("", index=out.index)
    distinct = pd.Series(out["canonical"].unique())
    canonical_keys = dict(zip(distinct, company_key(distinct)))
    same_key = out["key"].eq(out["canonical"].map(canonical_keys)).to_numpy()
    by_register = out["cluster_registered"].to_numpy()
    score = out["score"].round().astype("int64").astype("str")
    reason = np.select(
        [by_register & same_key, by_register, same_key],
        ["matches a registered entity once punctuation and legal form are folded",
         "similar to a registered entity (score " + score + ")",
         "same name once punctuation and legal form are folded"],
        "similar name (score " + score + " of 100)")
    table = pd.DataFrame({
        "decision": "", "canonical": out["canonical"].to_numpy(), "variant": out["name"].to_numpy(),
        "country": out["country"].to_numpy(), "kind": row_kind.where(row_kind.ne(""), kind).to_numpy(),
        "score": np.where(same_key, "100", score.to_numpy()), "reason": reason,
        "rows": out["rows"].astype("str").to_numpy()}).astype("str")
    return Proposals(table.sort_values(["canonical", "variant"], kind="stable").reset_index(drop=True),
                     across_countries)


def _pairs_in_small_blocks(keys: pd.DataFrame, block_id: np.ndarray, block_size: np.ndarray, similarity: int
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair inside blocks of 2..SMALL_BLOCK names, scored in one vectorised rapidfuzz call."""
    small = (block_size[block_id] > 1) & (block_size[block_id] <= SMALL_BLOCK)
    members = pd.DataFrame({"position": np.flatnonzero(small), "block": block_id[small]})
    pairs = members.merge(members, on="block", suffixes=("_a", "_b"))
    pairs = pairs[pairs["position_a"] < pairs["position_b"]]
    a, b = pairs["position_a"].to_numpy(), pairs["position_b"].to_numpy()
    if len(a) == 0:
        return a, b, np.zeros(0)
    key = keys["key"].to_numpy(dtype=object)
    score = process.cpdist(key[a].tolist(), key[b].tolist(), scorer=fuzz.ratio, score_cutoff=similarity,
                           workers=-1)
    keep = score >= similarity
    return a[keep], b[keep], score[keep].astype("float64")


def _pairs_in_block(sub: pd.DataFrame, similarity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs above the cutoff in one large block (a full similarity matrix of its names)."""
    matrix = process.cdist(sub["key"].tolist(), sub["key"].tolist(), scorer=fuzz.ratio, score_cutoff=similarity,
                           workers=-1, dtype=np.uint8)
    left, right = np.nonzero(matrix)
    upper = left < right
    left, right = left[upper], right[upper]
    positions = sub.index.to_numpy()
    return positions[left], positions[right], matrix[left, right].astype("float64")


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


@dataclass
class MergeOutcome:
    aliases: int = 0
    entities: int = 0
    problems: list[str] = field(default_factory=list)


def apply_merges(merges_path: Path, lookup_dir: Path) -> MergeOutcome:
    """Add every confirmed (yes) variant as an alias of its canonical entity in entities.csv; new canonical names
    become entities. Writes nothing when there is a problem."""
    merges = read_merges(merges_path)
    problems = [f"{merges_path.name}:{n + 2}: decision {d!r}: write yes, no or leave it empty"
                for n, d in enumerate(merges["decision"]) if d not in DECISIONS]
    bad_kind = merges["decision"].eq("yes") & ~merges["kind"].isin(ENTITY_KINDS)
    problems += [f"{merges_path.name}:{n + 2}: kind {k!r}: expected one of {' | '.join(ENTITY_KINDS)}"
                 for n, k in zip(np.flatnonzero(bad_kind.to_numpy()), merges.loc[bad_kind, "kind"])]
    if problems:
        return MergeOutcome(problems=problems)
    register_path = lookup_dir / ENTITIES_FILE
    register = (pd.read_csv(register_path, dtype="str", keep_default_na=False) if register_path.exists()
                else pd.DataFrame({c: pd.Series([], dtype="str") for c in ENTITY_COLUMNS}))
    register = register.copy()
    confirmed = merges[merges["decision"].eq("yes")]
    added = created = 0
    for canonical, group in confirmed.groupby("canonical", sort=False):
        match = np.flatnonzero(name_key(register["name"]).eq(name_key(pd.Series([canonical])).iloc[0]).to_numpy())
        if len(match) == 0:
            countries = sorted(set(group["country"]) - {""})
            register.loc[len(register)] = {"name": canonical, "kind": group["kind"].iloc[0],
                                           "country": countries[0] if len(countries) == 1 else "",
                                           "aliases": "", "notes": f"added from {merges_path.name}"}
            match = [len(register) - 1]
            created += 1
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
    return MergeOutcome(added, created)
