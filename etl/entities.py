"""Map name variants to canonical entities from the register (lookups/entities.csv), with deterministic ids."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from .errors import WARNING, LedgerIssue, LookupInvalid
from .uniques import first_occurrences, spread
from .schema import (ALIAS_SEPARATOR, ENTITY_COLUMNS, ENTITY_KINDS, ENTITY_REGISTER_COLUMNS, INTERMEDIARY_SEPARATOR,
                     ROW_FILE, ROW_NUMBER)

# "Did you mean" needs this similarity (rapidfuzz ratio, 0-100, of the names with case, accents, punctuation and
# legal forms folded away) and words that agree one by one (words_agree). Chosen on tests/data/name_pairs.csv: see
# tests/test_import_entities.py, which measures precision and recall there.
SUGGESTION_CUTOFF = 90
ENTITY_OUTPUT_COLUMNS = tuple(ENTITY_REGISTER_COLUMNS)


def name_key(names: pd.Series) -> pd.Series:
    """Fold a name for matching: accents, case, punctuation and spacing do not distinguish entities."""
    return (names.astype("str").str.normalize("NFKD").str.replace(r"[\u0300-\u036f]", "", regex=True)
            .str.casefold().str.replace(r"[^\w]+", " ", regex=True).str.strip())


# Legal forms written in many ways; folded to one spelling so they neither block nor fake a match.
LEGAL_FORMS = {
    "CORPORATION": "CORP", "CORP": "CORP", "INCORPORATED": "INC", "INC": "INC", "LIMITED": "LTD", "LTD": "LTD",
    "COMPANY": "CO", "CO": "CO", "LLP": "LLP", "LLC": "LLC", "GMBH": "GMBH", "KG": "KG", "AG": "AG", "SA": "SA",
    "SPA": "SPA", "SRL": "SRL", "SL": "SL", "AS": "AS", "MMC": "MMC", "OOO": "OOO", "PLC": "PLC", "BV": "BV",
    "NV": "NV", "AB": "AB", "OY": "OY", "SARL": "SARL", "SAS": "SAS", "LP": "LP", "SE": "SE",
}
def company_key(names: pd.Series) -> pd.Series:
    """Fold a name for comparison: accents, case and punctuation removed, '&' kept as a word, runs of single
    letters joined (S.R.L → SRL), legal forms spelled one way."""
    text = (names.astype("str").str.normalize("NFKD").str.replace(r"[\u0300-\u036f]", "", regex=True).str.upper()
            .str.replace("&", " & ", regex=False).str.replace(r"[^\w&]+", " ", regex=True)
            .str.replace(r"\b(\w) (?=\w\b)", r"\1", regex=True).str.split())
    forms = LEGAL_FORMS
    return text.map(lambda words: " ".join(forms.get(w, w) for w in words), na_action="ignore").fillna("") \
        .astype("str")


def core_key(keys: pd.Series) -> pd.Series:
    """A company key without its legal forms ("GREENBERG TRAURIG LLP" → "GREENBERG TRAURIG"): what the name says
    apart from the form of company. A name that is only a legal form keeps it."""
    forms = set(LEGAL_FORMS.values())
    core = keys.map(lambda key: " ".join(w for w in key.split() if w not in forms), na_action="ignore")
    return core.where(core.fillna("").ne(""), keys).astype("str")


# Aligned words longer than SHORT_WORD letters must be at least this similar (rapidfuzz ratio); shorter words
# (US / UK, initials) must be equal.
WORD_SIMILARITY = 80
SHORT_WORD = 3


def words_agree(left: str, right: str) -> bool:
    """Two folded names (legal forms removed) may be one entity only word for word: the same first letter on
    every word — a typo rarely changes a first letter, while a different person's name often does ("Alliance" /
    "Vallance") — short words equal ("US" / "UK"), longer ones similar ("Bank" / "Bahn" are not)."""
    a, b = left.split(), right.split()
    if len(a) != len(b) or [w[0] for w in a] != [w[0] for w in b]:
        return False
    return all(x == y if min(len(x), len(y)) <= SHORT_WORD else fuzz.ratio(x, y) >= WORD_SIMILARITY
               for x, y in zip(a, b))


def entity_ids(keys: pd.Series) -> pd.Series:
    """Deterministic ids from folded names, so links and bookmarks survive rebuilds."""
    unique = pd.unique(keys)
    ids = {k: "ent-" + hashlib.sha1(k.encode("utf-8")).hexdigest()[:12] for k in unique}
    return keys.map(ids).astype("str")


@dataclass(frozen=True)
class EntityRegister:
    """The register: one row per canonical entity, and every folded spelling pointing at its canonical name."""

    entities: pd.DataFrame
    canonical_by_key: dict[str, str]


def read_register(path: Path) -> EntityRegister:
    """Read entities.csv; two entities claiming the same spelling is a LookupInvalid error."""
    if not path.exists():
        return EntityRegister(pd.DataFrame(columns=list(ENTITY_COLUMNS)), {})
    table = pd.read_csv(path, dtype="str", keep_default_na=False)
    missing = [c for c in ENTITY_COLUMNS if c not in table.columns]
    if missing:
        raise LookupInvalid(f"{path.name}: missing column(s) {', '.join(missing)}")
    table["name"] = table["name"].str.strip()
    problems = []
    for idx in table.index[table["name"].eq("") | ~table["kind"].isin(ENTITY_KINDS)]:
        problems.append(f"{path.name}:{idx + 2}: each entity needs a name and a kind ({' | '.join(ENTITY_KINDS)})")
    spellings = pd.concat([
        pd.DataFrame({"spelling": table["name"], "canonical": table["name"], "row": table.index + 2}),
        table.assign(spelling=table["aliases"].str.split(ALIAS_SEPARATOR, regex=False), row=table.index + 2)
        .explode("spelling").rename(columns={"name": "canonical"})[["spelling", "canonical", "row"]],
    ], ignore_index=True)
    spellings["spelling"] = spellings["spelling"].astype("str").str.strip()
    spellings = spellings[spellings["spelling"].ne("")]
    spellings["key"] = name_key(spellings["spelling"])
    claims = spellings.drop_duplicates(["key", "canonical"])
    clash = claims[claims.duplicated("key", keep=False)]
    for key, group in clash.groupby("key"):
        problems.append(f"{path.name}:{int(group['row'].max())}: the spelling '{group['spelling'].iloc[0]}' "
                        f"belongs to several entities ({', '.join(group['canonical'])}); keep it on one")
    if problems:
        raise LookupInvalid("\n".join(problems))
    return EntityRegister(table, dict(zip(claims["key"], claims["canonical"])))


UNREGISTERED_COLUMNS = ("key", "name", ROW_FILE, ROW_NUMBER, "n")


def resolve_names(raw: pd.Series, column: str, register: EntityRegister, label_frame: pd.DataFrame
                  ) -> tuple[pd.Series, pd.Series, list[LedgerIssue]]:
    """(canonical name, entity id, warnings) per row. Unregistered names keep their spelling, with a warning
    (one per distinct name) and a "did you mean" suggestion when the register holds a close name."""
    canonical, ids, unregistered = resolve_names_part(raw, register, label_frame)
    return canonical, ids, unregistered_warnings(unregistered, column, register)


def resolve_names_part(raw: pd.Series, register: EntityRegister, label_frame: pd.DataFrame
                       ) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """(canonical name, entity id, unregistered names) per row of one part of the ledgers: the unregistered
    names as one row per folded key (UNREGISTERED_COLUMNS: its first spelling, file and row, and how many rows
    hold it), which merge_unregistered adds up over the parts and unregistered_warnings words."""
    # Names repeat heavily: fold and look up each distinct spelling once, then spread back over the rows.
    codes, uniques = pd.factorize(raw, use_na_sentinel=False)
    text, keys = _folded(pd.Series(np.asarray(uniques, dtype=object), dtype="str"))
    canonical = keys.map(register.canonical_by_key)
    known = canonical.notna()
    canonical = canonical.fillna(text).astype("str")
    ids = entity_ids(name_key(canonical)).where(text.ne(""), "")
    unknown = ~known & text.ne("")
    table = pd.DataFrame({c: pd.Series([], dtype="int64" if c in ("n", ROW_NUMBER) else "str")
                          for c in UNREGISTERED_COLUMNS})
    if unknown.any():
        # Only the rows holding an unknown name are labelled: the file column of every row would be a million
        # Python strings.
        at = np.flatnonzero(unknown.to_numpy()[codes])
        rows = pd.DataFrame({"code": codes[at], ROW_FILE: label_frame[ROW_FILE].iloc[at].to_numpy(),
                             ROW_NUMBER: label_frame[ROW_NUMBER].iloc[at].to_numpy()}, index=at)
        counts = rows.groupby("code").size()
        first_rows = rows.drop_duplicates("code")
        first_rows = first_rows.assign(name=text.to_numpy()[first_rows["code"]],
                                       key=keys.to_numpy()[first_rows["code"]],
                                       n=counts.reindex(first_rows["code"]).to_numpy())
        table = merge_unregistered([first_rows[list(UNREGISTERED_COLUMNS)]])
    return spread(canonical, codes, raw.index), spread(ids, codes, raw.index), table


def merge_unregistered(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Unregistered-name tables of parts in row order as one: spellings that differ only in case or accents (one
    folded key) are one name, first seen where its first spelling is, in as many rows as all of them."""
    table = pd.concat(tables, ignore_index=True)
    counts = table.groupby("key", sort=False)["n"].sum()
    first = table.drop_duplicates("key")
    return first.assign(n=counts.reindex(first["key"]).to_numpy()).reset_index(drop=True)


def unregistered_warnings(table: pd.DataFrame, column: str, register: EntityRegister) -> list[LedgerIssue]:
    """One warning per unregistered name, with its row count and a "did you mean" suggestion."""
    if table.empty:
        return []
    issues: list[LedgerIssue] = []
    suggestions = suggest(table["key"], register)
    for file, number, name, times, suggestion in zip(table[ROW_FILE], table[ROW_NUMBER], table["name"],
                                                     table["n"], suggestions):
        where = "" if times == 1 else f" (in {int(times)} rows; reported once)"
        hint = f"; did you mean '{suggestion}'?" if suggestion else "; add it to lookups/entities.csv"
        issues.append(LedgerIssue(str(file), int(number), column, str(name), "entity_unregistered",
                                  f"not in the entity register{where}{hint}", WARNING))
    return issues


def suggest(keys: pd.Series, register: EntityRegister, cutoff: float = SUGGESTION_CUTOFF) -> list[str]:
    """The closest registered canonical name per folded key, or "" when none is close enough: a similarity of at
    least `cutoff` without legal forms, and words that agree one by one (words_agree)."""
    if not register.canonical_by_key or keys.empty:
        return [""] * len(keys)
    choices = list(register.canonical_by_key)
    choice_cores = core_key(company_key(pd.Series(choices, dtype="str"))).tolist()
    cores = core_key(company_key(keys)).tolist()
    scores = process.cdist(cores, choice_cores, scorer=fuzz.ratio, workers=-1, score_cutoff=cutoff)
    out = []
    # One pass per unknown distinct name (the warnings are per distinct name too), best candidate first.
    for i, core in enumerate(cores):
        candidates = np.flatnonzero(scores[i])
        ranked = candidates[np.argsort(-scores[i][candidates], kind="stable")]
        best = next((c for c in ranked if words_agree(core, choice_cores[c])), None)
        out.append(register.canonical_by_key[choices[best]] if best is not None else "")
    return out


def resolve_intermediaries(raw: pd.Series, register: EntityRegister, label_frame: pd.DataFrame
                           ) -> tuple[pd.Series, list[LedgerIssue]]:
    """Canonical intermediary names joined by '; ' (the cell may name several, separated by ';')."""
    joined, table = resolve_intermediaries_part(raw, register, label_frame)
    return joined, unregistered_warnings(merge_intermediaries([table]), "intermediary", register)


def resolve_intermediaries_part(raw: pd.Series, register: EntityRegister, label_frame: pd.DataFrame
                                ) -> tuple[pd.Series, pd.DataFrame]:
    """resolve_intermediaries for one part of the ledgers: the joined names per row, and one row per unregistered
    name in each distinct cell (with the cell and the name's place in it), which merge_intermediaries counts over
    every part, each distinct cell once."""
    codes, uniques = pd.factorize(raw.astype("str").fillna(""), use_na_sentinel=False)
    cells = pd.Series(np.asarray(uniques, dtype=object), dtype="str")
    parts = cells.str.split(INTERMEDIARY_SEPARATOR, regex=False).explode().astype("str").str.strip()
    parts = parts[parts.ne("")]
    columns = (*UNREGISTERED_COLUMNS, "cell", "slot")
    if parts.empty:
        return pd.Series("", index=raw.index, dtype="str"), \
            pd.DataFrame({c: pd.Series([], dtype="int64" if c in ("n", "slot", ROW_NUMBER) else "str")
                          for c in columns})
    # Warnings point at the first row holding each distinct cell.
    first_row = np.flatnonzero(first_occurrences(codes))
    labels = label_frame[[ROW_FILE, ROW_NUMBER]].iloc[first_row[parts.index.to_numpy()]].reset_index(drop=True)
    flat = parts.reset_index(drop=True)
    canonical, _, _ = resolve_names_part(flat, register, labels)
    text, keys = _folded(flat)
    unknown = (~keys.map(register.canonical_by_key).notna() & text.ne("")).to_numpy()
    slot = pd.Series(parts.index.to_numpy()).groupby(parts.index.to_numpy()).cumcount().to_numpy()
    table = pd.DataFrame({"key": keys[unknown].to_numpy(), "name": text[unknown].to_numpy(),
                          ROW_FILE: labels[ROW_FILE].to_numpy()[unknown], ROW_NUMBER: labels[ROW_NUMBER].to_numpy()[unknown],
                          "n": np.ones(int(unknown.sum()), dtype=np.int64),
                          "cell": cells.to_numpy(dtype=object)[parts.index.to_numpy()][unknown], "slot": slot[unknown]})
    joined = pd.Series(canonical.to_numpy(), index=parts.index).groupby(level=0, sort=False).agg("; ".join)
    joined = joined.reindex(range(len(cells)), fill_value="").astype("str")
    return spread(joined, codes, raw.index), table


def merge_intermediaries(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Unregistered intermediaries of every part, in row order, as merge_unregistered's table: a distinct cell
    counts once, where it is first seen."""
    table = pd.concat(tables, ignore_index=True).drop_duplicates(["cell", "slot"])
    return merge_unregistered([table[list(UNREGISTERED_COLUMNS)]])


def _folded(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(the name as written, whitespace collapsed; its folded key) of each value."""
    text = values.astype("str").fillna("").str.strip().str.replace(r"\s+", " ", regex=True)
    return text, name_key(text)


def entity_table(register: EntityRegister, dataset: pd.DataFrame) -> pd.DataFrame:
    """Every registered entity plus every unregistered name seen in the dataset, with ids and aliases."""
    return entity_table_of(register, [unregistered_seen(register, dataset)])


def unregistered_seen(register: EntityRegister, dataset: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first row of each unregistered payer and recipient of one part of the dataset (name, entity_id)."""
    registered_ids = _registered_ids(register)
    return (_first_unregistered(dataset["payer"], dataset["payer_id"], registered_ids),
            _first_unregistered(dataset["recipient"], dataset["recipient_id"], registered_ids))


def _registered_ids(register: EntityRegister) -> pd.Series:
    reg = register.entities
    return entity_ids(name_key(reg["name"])) if len(reg) else pd.Series(dtype="str")


def entity_table_of(register: EntityRegister, seen: list[tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    """The entity table from the unregistered names of every part, in row order (payers before recipients)."""
    reg = register.entities
    registered = pd.DataFrame({
        "entity_id": _registered_ids(register),
        "name": reg["name"], "kind": reg["kind"], "country": reg["country"],
        "aliases": reg["aliases"], "notes": reg["notes"], "registered": True,
    })
    found = pd.concat([payers for payers, _ in seen] + [recipients for _, recipients in seen])
    found = found.drop_duplicates("entity_id")
    unregistered = found.assign(kind="", country="", aliases="", notes="not in the entity register", registered=False)
    table = pd.concat([registered, unregistered[list(ENTITY_OUTPUT_COLUMNS)]], ignore_index=True)
    return table[list(ENTITY_OUTPUT_COLUMNS)].sort_values("name", kind="stable").reset_index(drop=True)


def _first_unregistered(names: pd.Series, ids: pd.Series, registered_ids: pd.Series) -> pd.DataFrame:
    """The first row of each unregistered entity id (name and id), in row order. Ids repeat heavily, so the rows
    are reduced to first occurrences through integer codes before any text is copied."""
    rows = np.flatnonzero((names.ne("") & ~ids.isin(registered_ids)).to_numpy(dtype=bool))
    codes, _ = pd.factorize(ids, use_na_sentinel=False)
    rows = rows[~pd.Series(codes[rows]).duplicated().to_numpy()]
    return pd.DataFrame({"name": names.iloc[rows], "entity_id": ids.iloc[rows]})
