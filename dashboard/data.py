"""Load the dataset the ETL wrote, once per process and read-only, plus the entity register and build report."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pycountry

from etl.emit import read_dataset
from etl.schema import BUILD_DIR, DATASET_ARROW, DATASET_PARQUET, ENTITIES_OUTPUT, REPORT_JSON

BUILD_DIR_ENV = "INFLUENCE_LEDGER_BUILD_DIR"
PUBLIC_MODE_ENV = "INFLUENCE_LEDGER_PUBLIC"
CATEGORY_COLUMNS = ("payer", "recipient", "intermediary", "payer_country", "recipient_country", "confidence",
                    "amount_kind", "ledger_file", "currency", "visibility", "id")


@dataclass(frozen=True)
class Dataset:
    """The normalised rows plus what the dashboard derives once: float USD for charts, category codes, search."""

    frame: pd.DataFrame
    chart: pd.DataFrame
    entities: pd.DataFrame
    report: dict
    folder: Path
    aliases: pd.DataFrame


def build_dir() -> Path:
    return Path(os.environ.get(BUILD_DIR_ENV) or BUILD_DIR)


def _iso3(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    return country.alpha_3 if country else ""


def prepare(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(full, chart): the dataset with a row_key, and a narrow frame of cheap dtypes for filtering and charts.

    The chart frame holds numbers, dates, booleans and categories only, so filtering a million rows copies no
    text; the full rows (exact decimals, sources, notes) are fetched by row_key only for what is shown or
    downloaded.
    """
    full = frame.reset_index(drop=True)
    full["row_key"] = np.arange(len(full), dtype="int64")
    total = full["total_usd"].astype("float64")
    amount = full["amount_usd"].astype("float64")
    chart = pd.DataFrame({
        "row_key": full["row_key"],
        "counts_in_totals": full["counts_in_totals"].astype(bool),
        # A counted row adds its total; a row left out of totals shows what it reported.
        "value_usd": total.where(total.notna(), amount),
        "total_amount_f": full["total_amount"].astype("float64"),
        "amount_f": full["amount"].astype("float64"),
        "date_start": full["date_start"], "date_end": full["date_end"], "date_plot": full["date_plot"],
        "date_last": full["date_end"].where(full["date_end"].notna(), full["date_start"]),
        "is_nested": full["part_of"].ne("").to_numpy(),
        "is_restated": (full["same_as"].ne("") & full["part_of"].eq("")).to_numpy(),
        "is_open_rate": full["totals_note"].str.contains("rate without", regex=False).to_numpy(),
    })
    for column in CATEGORY_COLUMNS:
        chart[column] = full[column].astype("category")
    for side in ("payer_country", "recipient_country"):
        codes = full[side].astype("str")
        mapping = {c: _iso3(c) for c in pd.unique(codes)}
        chart[side + "_iso3"] = codes.map(mapping).astype("category")
        chart[side + "_name"] = full[side + "_name"].astype("category")
        names = full[side + "_name"].astype("str").where(codes.ne(""), "Country not stated")
        chart[side + "_label"] = names.astype("category")
    for level in ("payer", "intermediary", "recipient"):
        chart[level + "_label"] = chart[level]
    return full, chart


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
    return Dataset(frame, chart, entities, report, path, _alias_table(entities))


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
    return table.assign(spelling=table["spelling"].astype("str").str.lower()).drop_duplicates()
