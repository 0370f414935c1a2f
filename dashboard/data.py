"""Load the dataset the ETL wrote, once per process and read-only, plus the entity register and build report."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pycountry

from etl.emit import read_dataset

# Where a transfer's rest is not yet traced to anyone, the diagram says so instead of naming the vague recipient.
from .filters import UNTRACED_LABEL
from etl.schema import BUILD_DIR, DATASET_ARROW, DATASET_PARQUET, ENTITIES_OUTPUT, REPORT_JSON

BUILD_DIR_ENV = "INFLUENCE_LEDGER_BUILD_DIR"
PUBLIC_MODE_ENV = "INFLUENCE_LEDGER_PUBLIC"
CATEGORY_COLUMNS = ("payer", "recipient", "intermediary", "payer_country", "recipient_country", "confidence",
                    "amount_kind", "ledger_file", "currency", "visibility", "drawn_role", "date_raw")


@dataclass(frozen=True)
class Dataset:
    """The normalised rows plus what the dashboard derives once: float USD for charts, category codes, search."""

    frame: pd.DataFrame
    chart: pd.DataFrame
    entities: pd.DataFrame
    report: dict
    folder: Path
    aliases: pd.DataFrame
    # id → (short, long) label of every transfer that has documented parts (see parent_labels).
    parents: dict = field(default_factory=dict)


def build_dir() -> Path:
    return Path(os.environ.get(BUILD_DIR_ENV) or BUILD_DIR)


def _iso3(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    return country.alpha_3 if country else ""


def as_category(values: pd.Series) -> pd.Series:
    """A categorical built by Arrow's dictionary encoding, without materialising a Python string per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(values.array) if not hasattr(values.array, "_pa_array") else values.array._pa_array
    encoded = pc.dictionary_encode(array).combine_chunks() if isinstance(array, pa.ChunkedArray) else \
        pc.dictionary_encode(array)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    categories = pd.Index(encoded.dictionary.to_pylist(), dtype="str")
    return pd.Series(pd.Categorical.from_codes(codes.astype("int32"), categories), index=values.index)


def recode(categorical: pd.Series, translate) -> pd.Series:
    """Apply translate to each category (not each row) of a categorical; rows follow through their codes."""
    old = [translate(str(c)) for c in categorical.cat.categories]
    new_categories = sorted(set(old))
    position = {c: i for i, c in enumerate(new_categories)}
    lookup = np.array([position[c] for c in old] + [-1], dtype="int32")
    codes = categorical.cat.codes.to_numpy()
    return pd.Series(pd.Categorical.from_codes(lookup[np.where(codes < 0, len(old), codes)],
                                               pd.Index(new_categories, dtype="str")), index=categorical.index)


def to_float(values: pd.Series) -> pd.Series:
    """Exact decimals as float64 for charts, cast by Arrow (pandas' own path goes through Python objects)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = values.array._pa_array if hasattr(values.array, "_pa_array") else pa.array(values)
    floats = pc.cast(array, pa.float64())
    return pd.Series(floats.to_numpy(zero_copy_only=False), index=values.index, dtype="float64")


def prepare(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(full, chart): the dataset with a row_key, and a narrow frame of cheap dtypes for filtering and charts.

    The chart frame holds numbers, dates, booleans and categories only, so filtering a million rows copies no
    text; the full rows (exact decimals, sources, notes) are fetched by row_key only for what is shown or
    downloaded.
    """
    full = frame.reset_index(drop=True)
    full["row_key"] = np.arange(len(full), dtype="int64")
    total = to_float(full["total_usd"])
    amount = to_float(full["amount_usd"])
    chart = pd.DataFrame({
        "row_key": full["row_key"],
        "counts_in_totals": full["counts_in_totals"].astype(bool),
        # What the row reported (its total, or its amount when it has none): shown when every report is listed.
        "value_usd": total.where(total.notna(), amount),
        # What the row draws when each dollar is counted once (the ETL's allocation).
        "drawn_usd": to_float(full["drawn_usd"]),
        "total_amount_f": to_float(full["total_amount"]),
        "amount_f": to_float(full["amount"]),
        "date_start": full["date_start"], "date_end": full["date_end"], "date_plot": full["date_plot"],
        "date_last": full["date_end"].where(full["date_end"].notna(), full["date_start"]),
        "is_open_rate": full["totals_note"].str.contains("rate without", regex=False).to_numpy(),
    })
    for column in CATEGORY_COLUMNS:
        chart[column] = as_category(full[column])
    for side in ("payer_country", "recipient_country"):
        chart[side + "_iso3"] = recode(chart[side], _iso3)
        chart[side + "_name"] = as_category(full[side + "_name"])
        pairs = pd.DataFrame({"code": chart[side].cat.codes, "name": chart[side + "_name"].cat.codes})
        pairs = pairs.drop_duplicates("code")
        codes, names = chart[side].cat.categories, chart[side + "_name"].cat.categories
        name_of = {str(codes[c]): (str(names[n]) if n >= 0 else "") for c, n in zip(pairs["code"], pairs["name"])
                   if c >= 0}
        chart[side + "_label"] = recode(chart[side], lambda c: name_of.get(c, "") if c else "Country not stated")
    for level in ("payer", "intermediary", "recipient"):
        chart[level + "_label"] = chart[level]
    untraced = (chart["drawn_role"] == "untraced").to_numpy()
    if untraced.any():
        for column in ("recipient_label", "recipient_country_label"):
            labels = chart[column].cat.add_categories([UNTRACED_LABEL]) \
                if UNTRACED_LABEL not in chart[column].cat.categories else chart[column]
            labels[untraced] = UNTRACED_LABEL
            chart[column] = labels
    chart["converted"] = (chart["currency"] != "USD").to_numpy()
    # What a row draws in its own currency, for hovers' "as sourced" sums: the whole total when it draws its own
    # value, the same share of it as in dollars when it draws only a rest, nothing when it draws nothing.
    share = np.where(chart["value_usd"].to_numpy() > 0, chart["drawn_usd"].to_numpy() /
                     np.where(chart["value_usd"].to_numpy() > 0, chart["value_usd"].to_numpy(), 1), np.nan)
    own = (full["drawn_role"] == "own").to_numpy()
    draws_nothing = full["drawn_role"].isin(["covered", "restated", "no_total"]).to_numpy()
    # The ETL allocates in dollars and euros exactly, so rows in those currencies take its figures as they are.
    currency = full["currency"].to_numpy()
    rest = np.where(currency == "USD", chart["drawn_usd"].to_numpy(),
                    np.where(currency == "EUR", to_float(full["drawn_eur"]).to_numpy(),
                             chart["total_amount_f"].to_numpy() * share))
    chart["drawn_amount_f"] = np.where(own, chart["total_amount_f"], np.where(draws_nothing, 0.0, rest))
    # The row a restated report restates (its row_key, -1 for none): a search that finds one finds both.
    preferred = np.full(len(full), -1, dtype="int64")
    restated = full["same_as"].ne("").to_numpy()
    if restated.any():
        first = ~full["id"].duplicated().to_numpy()
        ids = pd.Index(full["id"].to_numpy()[first])
        found = ids.get_indexer(full["same_as"].to_numpy()[restated])
        preferred[restated] = np.where(found >= 0, np.flatnonzero(first)[np.clip(found, 0, None)], -1)
    chart["preferred_key"] = preferred
    parents = parent_labels(full)
    codes = pd.Index(list(parents)).get_indexer(full["tree_root"].to_numpy()) if parents else \
        np.full(len(full), -1)
    names = [short for short, _ in parents.values()]
    chart["tree_label"] = pd.Categorical.from_codes(codes.astype("int32"), pd.Index(names, dtype="str"))
    # The larger transfer a row is a direct part of, as hovers name it.
    codes = pd.Index(list(parents)).get_indexer(full["part_of"].to_numpy()) if parents else np.full(len(full), -1)
    chart["parent_label"] = pd.Categorical.from_codes(codes.astype("int32"),
                                                      pd.Index([long for _, long in parents.values()], dtype="str"))
    return full, chart


def parent_labels(full: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """id → (short, long) label of every row that has documented parts: 'Inside $2.9 bn from Azerbaijani
    elite-linked sources' for the diagram's grouping column, and '$2.9 bn from … to …, 2012/2014 (id)' for hovers.
    Only rows with parts are labelled, so this costs one vectorised membership test plus the (few) parents."""
    from .formatting import date_as_written, figure

    wanted = full["part_of"].ne("").to_numpy()
    if not wanted.any():
        return {}
    ids = pd.unique(full.loc[wanted, "part_of"].to_numpy())
    rows = full.loc[full["id"].isin(ids).to_numpy(), ["id", "amount", "currency", "amount_kind", "payer", "recipient",
                                                      "date_raw"]].drop_duplicates("id")
    labels: dict[str, tuple[str, str]] = {}
    seen: set[str] = set()
    for r in rows.itertuples(index=False):
        amount = figure(float(r.amount) if r.amount is not None and not pd.isna(r.amount) else None, r.currency,
                        r.amount_kind)
        short = f"Inside {amount} from {r.payer}"
        # Two parents may read alike; the diagram needs one node each.
        short = short if short not in seen else f"{short} ({r.id})"
        seen.add(short)
        labels[r.id] = (short, f"{amount} from {r.payer} to {r.recipient}, {date_as_written(r.date_raw)} ({r.id})")
    return labels


@lru_cache(maxsize=4)
def _load(folder: str, stamp: float) -> Dataset:
    path = Path(folder)
    arrow = path / DATASET_ARROW
    frame, chart = prepare(read_dataset(arrow if arrow.exists() else path / DATASET_PARQUET))
    entities_path = path / ENTITIES_OUTPUT
    entities = pd.read_csv(entities_path, dtype="str", keep_default_na=False) if entities_path.exists() else \
        pd.DataFrame(columns=["entity_id", "name", "kind", "country", "aliases", "notes", "registered"])
    report_path = path / REPORT_JSON
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    return Dataset(frame, chart, entities, report, path, _alias_table(entities), parent_labels(frame))


def load(folder: Path | None = None) -> Dataset:
    """The dataset of the given build folder; reloaded only when the ETL has written a new one."""
    folder = Path(folder or build_dir())
    parquet = folder / DATASET_PARQUET
    return _load(str(folder), parquet.stat().st_mtime)


def public_mode() -> bool:
    return os.environ.get(PUBLIC_MODE_ENV, "") == "1"


def may_see_internal() -> bool:
    """Internal rows are shown only outside public mode, and only to a logged-in user when login is configured."""
    if public_mode():
        return False
    from . import auth

    if not auth.login_configured():
        # Without a login, internal rows are for the machine's own user only.
        return auth.request_is_local()
    return auth.current_user_is_authenticated()


def visible_rows(dataset: Dataset | None = None) -> pd.DataFrame:
    """The (chart) rows the current request may see. Every callback and download starts from this function."""
    dataset = dataset or load()
    chart = dataset.chart
    if may_see_internal():
        return chart
    return chart[(chart["visibility"] == "public").to_numpy()]


def full_rows(rows: pd.DataFrame, dataset: Dataset | None = None) -> pd.DataFrame:
    """The complete dataset rows (exact amounts, sources, notes) behind chart rows, in the same order."""
    dataset = dataset or load()
    return dataset.frame.iloc[rows["row_key"].to_numpy()]


def alias_index(dataset: Dataset) -> pd.DataFrame:
    """Every spelling (canonical name and alias, lower case) → canonical name, for alias-aware search."""
    return dataset.aliases


def _alias_table(entities: pd.DataFrame) -> pd.DataFrame:
    spellings = entities.assign(alias=entities["aliases"].str.split("|")).explode("alias")
    table = pd.concat([
        pd.DataFrame({"spelling": entities["name"], "name": entities["name"]}),
        pd.DataFrame({"spelling": spellings["alias"].fillna(""), "name": spellings["name"]}),
    ])
    table = table[table["spelling"].astype("str").str.strip().ne("")]
    table = table.assign(spelling=table["spelling"].astype("str").str.lower()).drop_duplicates()
    from .filters import fold_all

    # Folded once per dataset, so a search compares without case or accents at no cost per request.
    return table.assign(folded=fold_all(table["spelling"]).to_numpy())
