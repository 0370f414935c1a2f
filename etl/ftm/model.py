"""Which dataset column becomes which FtM property, derived from etl/schema.py (Field.ftm_property and
ColumnType.ftm_property), and the "column: value" lines of a Payment's description that carry the rest."""
from __future__ import annotations

import re

import pandas as pd
from followthemoney import model, registry
from followthemoney.schema import Schema

from ..schema import (COLUMN_TYPES, FTM_DESCRIPTION, FTM_SCHEMA_BY_KIND, FTM_UNKNOWN_KIND_SCHEMA, LEDGER_FIELDS,
                      OUTPUT_COLUMNS)

PAYMENT = model.get("Payment")
DOCUMENT = model.get("Document")
# Payment ids are derived from the row id under this prefix, so a re-export updates the same entities.
PAYMENT_KEY = "influence-ledger-payment"
SOURCE_KEY = "influence-ledger-source"

# Ledger columns (what the import writes back) and derived dataset columns (recomputed by every build).
LEDGER_FTM: dict[str, str] = {f.name: f.ftm_property for f in LEDGER_FIELDS if f.ftm_property}
DERIVED_FTM: dict[str, str] = {name: column.ftm_property for name, column in COLUMN_TYPES.items()
                               if column.ftm_property and name not in LEDGER_FTM}


def _is_party(prop: str) -> bool:
    found = PAYMENT.get(prop)
    return found is not None and found.type == registry.entity and found.range.is_a("LegalEntity")


# payer -> payer, recipient -> beneficiary: the Payment properties that point at a party entity.
PARTY_PROPERTIES: dict[str, str] = {column: prop for column, prop in LEDGER_FTM.items() if _is_party(prop)}
# payer_country -> payer: the row's country of a party is the `country` of the entity it points at.
PARTY_COUNTRY_COLUMNS: dict[str, str] = {
    column: prop.split(".", 1)[0] for column, prop in LEDGER_FTM.items()
    if "." in prop and prop.split(".", 1)[0] in PARTY_PROPERTIES.values() and prop.endswith(".country")}
DATE_COLUMN = next(column for column, prop in LEDGER_FTM.items() if prop == "date")
# Plain Payment properties (recordId, amount, currency, sourceUrl, purpose, amountUsd, amountEur, summary).
PLAIN_PROPERTIES: dict[str, str] = {
    column: prop for column, prop in {**LEDGER_FTM, **DERIVED_FTM}.items()
    if column in OUTPUT_COLUMNS and PAYMENT.get(prop) is not None and prop != FTM_DESCRIPTION
    and column not in PARTY_PROPERTIES and column != DATE_COLUMN}
# Lines of the description, in this order: ledger columns first, then the derived columns that say how the row
# counts (so an FtM consumer can count each transfer once without our code).
DESCRIPTION_COLUMNS: tuple[str, ...] = tuple(
    [f.name for f in LEDGER_FIELDS if f.ftm_property == FTM_DESCRIPTION]
    + [name for name in OUTPUT_COLUMNS if DERIVED_FTM.get(name) == FTM_DESCRIPTION])
LEDGER_DESCRIPTION_COLUMNS = tuple(c for c in DESCRIPTION_COLUMNS if c in LEDGER_FTM)
# A row's party country is written as a description line too when the party entity cannot hold it exactly
# (the entity has no country, several, or another one than the row).
PARTY_COUNTRY_LINES = tuple(PARTY_COUNTRY_COLUMNS)
# The derived line that marks a description written by our own export.
COUNTING_MARKER = next(c for c in DESCRIPTION_COLUMNS if COLUMN_TYPES[c].type == "boolean")

_LINE = re.compile(r"^(?P<column>[a-z_]+): ?(?P<value>.*)$")
_CONTINUATION = "  "


def description_lines(column: str, values: pd.Series, present: pd.Series) -> pd.Series:
    """`column: value` per row where present ("" elsewhere); further lines of a value are indented by two spaces,
    so notes keep their line breaks and parse_description reads them back."""
    text = values.astype("str").str.replace("\r\n", "\n", regex=False)
    line = column + ": " + text.str.replace("\n", "\n" + _CONTINUATION, regex=False)
    return line.where(present, "").astype("str")


def parse_description(text: str, known: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """The `column: value` lines of known columns, and the rest of the text (kept as notes)."""
    values: dict[str, str] = {}
    rest: list[str] = []
    current: str | None = None
    for line in str(text).replace("\r\n", "\n").split("\n"):
        if current is not None and line.startswith(_CONTINUATION):
            values[current] += "\n" + line[len(_CONTINUATION):]
            continue
        match = _LINE.match(line)
        if match and match["column"] in known:
            current = match["column"]
            values[current] = match["value"]
        else:
            current = None
            rest.append(line)
    return values, "\n".join(rest).strip()


def schema_for_kind(kind: str) -> str:
    return FTM_SCHEMA_BY_KIND.get(kind, FTM_UNKNOWN_KIND_SCHEMA)


def kind_for_schema(schema: Schema) -> str:
    """The register kind of an FtM party schema; "" for LegalEntity (group or unknown: the reporter decides)."""
    candidates = [(kind, model.get(name)) for kind, name in FTM_SCHEMA_BY_KIND.items()
                  if name != FTM_UNKNOWN_KIND_SCHEMA and schema.is_a(name)]
    if not candidates:
        return ""
    # The most specific match: PublicBody is an Organization too, and is then a public body.
    candidates.sort(key=lambda pair: -len(pair[1].schemata))
    return candidates[0][0]
