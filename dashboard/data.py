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
from etl.schema import BUILD_DIR, DATASET_PARQUET, ENTITIES_OUTPUT, REPORT_JSON

BUILD_DIR_ENV = "INFLUENCE_LEDGER_BUILD_DIR"
PUBLIC_MODE_ENV = "INFLUENCE_LEDGER_PUBLIC"
CATEGORY_COLUMNS = ("payer", "recipient", "intermediary", "payer_country", "recipient_country", "confidence",
                    "amount_kind", "ledger_file", "currency", "visibility")


@dataclass(frozen=True)
class Dataset:
    """The normalised rows plus what the dashboard derives once: float USD for charts, category codes, search."""

    frame: pd.DataFrame
    entities: pd.DataFrame
    report: dict
    folder: Path


def build_dir() -> Path:
    return Path(os.environ.get(BUILD_DIR_ENV) or BUILD_DIR)


def _iso3(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    return country.alpha_3 if country else ""


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Add chart helpers: value_usd (total where counted, else the reported amount) as float, ISO-3 codes,
    category dtypes for fast filtering and grouping. Exact decimal columns are left untouched."""
    out = frame.copy()
    total = out["total_usd"].astype("float64")
    amount = out["amount_usd"].astype("float64")
    out["value_usd"] = total.where(total.notna(), amount)
    out["total_amount_f"] = out["total_amount"].astype("float64")
    out["amount_f"] = out["amount"].astype("float64")
    for side in ("payer_country", "recipient_country"):
        codes = out[side].astype("str")
        mapping = {c: _iso3(c) for c in pd.unique(codes)}
        out[side + "_iso3"] = codes.map(mapping).astype("str")
    out["date_last"] = out["date_end"].where(out["date_end"].notna(), out["date_start"])
    for column in CATEGORY_COLUMNS:
        out[column + "_cat"] = out[column].astype("category")
    out["row_key"] = np.arange(len(out), dtype="int64")
    return out


@lru_cache(maxsize=4)
def _load(folder: str, stamp: float) -> Dataset:
    path = Path(folder)
    frame = prepare(read_dataset(path / DATASET_PARQUET))
    entities_path = path / ENTITIES_OUTPUT
    entities = pd.read_csv(entities_path, dtype="str", keep_default_na=False) if entities_path.exists() else \
        pd.DataFrame(columns=["entity_id", "name", "kind", "country", "aliases", "notes", "registered"])
    report_path = path / REPORT_JSON
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    return Dataset(frame, entities, report, path)


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
        return True
    return auth.current_user_is_authenticated()


def visible_rows(dataset: Dataset | None = None) -> pd.DataFrame:
    """The rows the current request may see. Every callback and download goes through this function."""
    dataset = dataset or load()
    frame = dataset.frame
    if may_see_internal():
        return frame
    return frame[frame["visibility"].eq("public").to_numpy()]


def alias_index(dataset: Dataset) -> pd.DataFrame:
    """Every spelling (canonical name and alias, lower case) → canonical name, for alias-aware search."""
    entities = dataset.entities
    spellings = entities.assign(alias=entities["aliases"].str.split("|")).explode("alias")
    table = pd.concat([
        pd.DataFrame({"spelling": entities["name"], "name": entities["name"]}),
        pd.DataFrame({"spelling": spellings["alias"].fillna(""), "name": spellings["name"]}),
    ])
    table = table[table["spelling"].astype("str").str.strip().ne("")]
    return table.assign(spelling=table["spelling"].astype("str").str.lower()).drop_duplicates()
