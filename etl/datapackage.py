"""The build's Frictionless Data Package descriptor (build/datapackage.json), generated from etl/schema.py."""
from __future__ import annotations

import json

from .schema import (COLUMN_TYPES, DATASET_CSV, DATASET_PARQUET, ENTITY_REGISTER_COLUMNS, ENTITY_REGISTER_TYPES,
                     NORMALISED_COLUMNS, OUTPUT_COLUMNS, ROW_LINK_COLUMNS, ColumnType)

PACKAGE_NAME = "influence-ledger"
TRANSFERS_RESOURCE = "transfers"


def table_field(name: str, column: ColumnType, descriptions: dict[str, str] = NORMALISED_COLUMNS) -> dict:
    """One Table Schema field: name, type, description, unit and constraints, all from the schema module."""
    field: dict = {"name": name, "type": column.type, "description": descriptions[name]}
    if column.unit:
        # Not a Table Schema keyword; frictionless keeps custom properties, and PUDL names the same idea "unit".
        field["unit"] = column.unit
    constraints: dict = {}
    if column.required:
        constraints["required"] = True
    if column.choices:
        constraints["enum"] = list(column.choices)
    if column.pattern:
        constraints["pattern"] = column.pattern
    if constraints:
        field["constraints"] = constraints
    return field


def table_schema(columns: tuple[str, ...] = OUTPUT_COLUMNS, row_links: bool = True) -> dict:
    """The Table Schema of the dataset (build/transfers.parquet, and transfers.csv when written), or of a table
    holding some of its columns, as a published package does: the columns in order, the id as primary key and,
    with row_links, the row links (part_of, same_as) as foreign keys onto it (a package holding some rows only may
    name rows it does not hold)."""
    missing = [name for name in columns if name not in COLUMN_TYPES]
    if missing:
        raise KeyError(f"etl/schema.py COLUMN_TYPES has no type for {', '.join(missing)}")
    schema = {"fields": [table_field(name, COLUMN_TYPES[name]) for name in columns], "missingValues": [""]}
    if "id" in columns:
        schema["primaryKey"] = ["id"]
    if row_links:
        schema["foreignKeys"] = [{"fields": [column], "reference": {"resource": "", "fields": ["id"]}}
                                 for column in ROW_LINK_COLUMNS if column in columns]
    return schema


def entity_schema(columns: tuple[str, ...]) -> dict:
    """The Table Schema of (some columns of) the entity register, from etl/schema.py."""
    return {"fields": [table_field(name, ENTITY_REGISTER_TYPES[name], ENTITY_REGISTER_COLUMNS) for name in columns],
            "missingValues": [""], "primaryKey": ["entity_id"] if "entity_id" in columns else []}


def transfers_resource(with_csv: bool) -> dict:
    """Where the dataset is: the CSV copy when the build wrote one (frictionless reads and checks it), otherwise
    the Parquet file, the only copy there is (the descriptor never names a file the build did not write).
    frictionless 5.21's own Parquet reader stops at the first empty date, so a package to validate with
    `frictionless validate` is built with `python -m etl build --csv`."""
    if with_csv:
        return {"path": DATASET_CSV, "profile": "tabular-data-resource", "format": "csv", "mediatype": "text/csv",
                "encoding": "utf-8"}
    return {"path": DATASET_PARQUET, "profile": "tabular-data-resource", "format": "parquet",
            "mediatype": "application/vnd.apache.parquet"}


def datapackage_json(built_at: str, with_csv: bool = False) -> str:
    """The descriptor of one build as JSON text (written beside the dataset file it describes)."""
    package = {
        "profile": "tabular-data-package",
        "name": PACKAGE_NAME,
        "title": "Influence Ledger: documented influence and lobbying money transfers",
        "description": "One row per reported transfer, normalised from the ledgers: exact amounts in the original "
                       "currency, USD and EUR at historical rates, parsed dates, canonical parties and every source. "
                       "Each transfer is counted once: sum total_usd over the rows where counts_in_totals is true. "
                       "Text cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) "
                       "carry a leading apostrophe.",
        "created": built_at,
        "resources": [{
            "name": TRANSFERS_RESOURCE,
            **transfers_resource(with_csv),
            "schema": table_schema(),
        }],
    }
    return json.dumps(package, indent=2, ensure_ascii=False) + "\n"
