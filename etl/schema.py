"""The single source of truth for ledger columns, normalised columns, enums and lookup files."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LEDGER_DIR = PROJECT_ROOT / "ledgers"
LOOKUP_DIR = LEDGER_DIR / "lookups"
BUILD_DIR = PROJECT_ROOT / "build"

# Ledger cell conventions
SOURCE_SEPARATOR = " | "
INTERMEDIARY_SEPARATOR = ";"
UNKNOWN_DATE_TOKENS = ("n.d.", "nd", "n/d", "unknown", "undated")
OPEN_END_TOKEN = ".."
LEDGER_SHEET_NAME = "ledger"

AMOUNT_KINDS = ("total", "payment", "monthly", "yearly", "at_least", "estimate")
RATE_KINDS = ("monthly", "yearly")
CONFIDENCE_LEVELS = ("confirmed", "official_record", "reported", "alleged", "admitted")
CONFIDENCE_MEANINGS = {
    "confirmed": "Established by a court judgment, a guilty plea or an official finding.",
    "official_record": "Stated in an official filing or register (FARA, a parliament's disclosures, a company register).",
    "reported": "Reported by a named news outlet or investigation from documents it has seen (bank records, leaks).",
    "alleged": "Claimed by prosecutors, an indictment or a complaint, not (yet) proven.",
    "admitted": "Acknowledged by the payer or the recipient.",
}
VISIBILITIES = ("public", "internal")
ENTITY_KINDS = ("person", "company", "organisation", "public_body", "government", "group")
DATE_PRECISIONS = ("day", "month", "year", "range", "unknown")
# What a row draws on charts and adds to sums (etl/allocation.py decides; every chart, total and export reads it).
DRAWN_ROLES = ("own", "rest", "untraced", "covered", "restated", "no_total")
DRAWN_ROLE_MEANINGS = {
    "own": "draws its own total: a transfer with no documented parts, or a part of a larger one",
    "rest": "has documented parts paid to the same recipient and draws only the rest they leave",
    "untraced": "has documented parts paid on to other recipients and draws only the rest, which is not yet "
                "traced to a recipient",
    "covered": "its documented parts add up to its whole value (or more), so it draws nothing itself",
    "restated": "reports the same transfer as another row, which draws instead",
    "no_total": "has no total (a rate without a closed period, or no valid amount), so it draws nothing",
}

# Amounts are kept exactly as decimals with this many places (enough for every ISO 4217 currency).
AMOUNT_SCALE = 4
# Largest amount we accept in any currency (keeps exact integer arithmetic inside int64).
MAX_AMOUNT = 10**14


# The Payment property that holds, one "column: value" line each, the columns FtM has no property for.
FTM_DESCRIPTION = "description"


@dataclass(frozen=True)
class Field:
    """One ledger column: its name, whether a value is required, what it means, and accepted header synonyms."""

    name: str
    required: bool
    description: str
    synonyms: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    example: str = ""
    # Where the FollowTheMoney export puts the column (etl/ftm): a Payment property, "payer.country" (a property of
    # the entity the Payment property points at), or FTM_DESCRIPTION: a "column: value" line of the Payment's
    # description, for what FtM has no property for (or cannot hold exactly).
    ftm_property: str = ""


LEDGER_FIELDS: tuple[Field, ...] = (
    Field("id", True, "Unique, stable identifier chosen by the journalist, unique across all ledgers.",
          ("transfer_id", "ref", "reference"), example="laundromat-volonte-2012", ftm_property="recordId"),
    Field("date", False, "Date as reported: 2012-07-30, 2012-07, 2012, a range 2012/2014 or 2012-12-17/2013-03-19, "
          "an open range 2015-02/.. ; n.d. or empty when unknown (then say why in date_note).",
          ("when", "transfer_date", "payment_date"), example="2012/2014", ftm_property="date"),
    Field("date_note", False, "Why the date is missing or approximate, as the source words it.",
          ("date_comment",), example="first instalment July 2012", ftm_property=FTM_DESCRIPTION),
    Field("amount", True, "Amount as written in the source: 2900000000, 2.9 billion, 253,150, 7,6 Mio., €2.39m, USD 1.36m.",
          ("value", "sum", "amount_orig"), example="2.9 billion", ftm_property="amount"),
    Field("currency", False, "ISO 4217 code or symbol ($ means USD). May be empty when the amount carries it (€2.39m).",
          ("ccy", "currency_code", "amount_currency"), example="USD", ftm_property="currency"),
    Field("amount_kind", True, "total | payment | monthly | yearly | at_least | estimate.",
          ("kind", "amount_type"), AMOUNT_KINDS, example="total", ftm_property=FTM_DESCRIPTION),
    Field("payer", True, "Who paid (one entity; use the register's canonical name or an alias).",
          ("sender", "from", "donor", "payer_name", "originator"), example="Metastar Invest LLP", ftm_property="payer"),
    Field("payer_country", False, "Payer's country: ISO 3166 code or name.",
          ("payer_jurisdiction", "sender_country", "from_country"), example="GB", ftm_property="payer.country"),
    Field("intermediary", False, "Accounts, banks or companies the money passed through; several separated by ';'.",
          ("via", "intermediaries", "channel"), example="Danske Bank Estonia", ftm_property=FTM_DESCRIPTION),
    Field("recipient", True, "Who received the money (one entity).",
          ("beneficiary", "payee", "to", "receiver", "recipient_name"), example="Velasco International",
          ftm_property="beneficiary"),
    Field("recipient_country", False, "Recipient's country: ISO 3166 code or name.",
          ("beneficiary_country", "payee_country", "to_country", "beneficiary_jurisdiction"), example="HU",
          ftm_property="beneficiary.country"),
    Field("part_of", False, "id of a larger transfer this one is included in (counted once, in the larger one).",
          ("parent", "included_in"), example="laundromat-total-2012-2014", ftm_property=FTM_DESCRIPTION),
    Field("same_as", False, "id of the preferred row reporting the same transfer with another figure or source.",
          ("duplicate_of", "restates"), example="volonte-prosecution-total", ftm_property=FTM_DESCRIPTION),
    Field("confidence", True, "confirmed | official_record | reported | alleged | admitted.",
          ("certainty", "status"), CONFIDENCE_LEVELS, example="reported", ftm_property=FTM_DESCRIPTION),
    Field("status_note", False, "Legal status: conviction not final, pardoned, time-barred, cleared.",
          ("legal_status",), example="conviction not final (appeal filed)",
          ftm_property=FTM_DESCRIPTION),
    Field("sources", True, "One or more http(s) URLs separated by ' | '.",
          ("source", "source_url", "source_urls", "url", "urls"), example="https://www.occrp.org/...",
          ftm_property="sourceUrl"),
    Field("source_publisher", False, "Publishers of the sources, in the same order, separated by ' | '.",
          ("publisher", "outlet"), example="OCCRP | The Guardian", ftm_property=FTM_DESCRIPTION),
    Field("source_date", False, "Publication dates of the sources, in the same order, separated by ' | '.",
          ("published", "publication_date"), example="2017-09-04", ftm_property=FTM_DESCRIPTION),
    Field("purpose", False, "What the money was for, as the sources describe it.",
          ("description", "reason"), example="consulting fee", ftm_property="purpose"),
    Field("notes", False, "Anything else: conflicting figures, caveats.", ("note", "comment", "comments"),
          example="EUobserver gives $1.1m", ftm_property=FTM_DESCRIPTION),
    Field("visibility", False, "public | internal. Empty means public. Internal rows need a login in the dashboard.",
          ("access",), VISIBILITIES, example="public", ftm_property=FTM_DESCRIPTION),
)

LEDGER_COLUMNS: tuple[str, ...] = tuple(f.name for f in LEDGER_FIELDS)
# Columns of prose, where a line break belongs to the text (everywhere else a cell is one line).
PROSE_COLUMNS: tuple[str, ...] = ("date_note", "status_note", "purpose", "notes")
REQUIRED_COLUMNS: tuple[str, ...] = tuple(f.name for f in LEDGER_FIELDS if f.required)
FIELD_BY_NAME = {f.name: f for f in LEDGER_FIELDS}


def header_aliases() -> dict[str, str]:
    """Map every accepted header spelling (lower case, spaces and dashes as underscores) to its column."""
    aliases: dict[str, str] = {}
    for f in LEDGER_FIELDS:
        for spelling in (f.name, *f.synonyms):
            aliases[spelling] = f.name
    return aliases


def canonical_header(text: str) -> str:
    """Fold a header cell the way we match it: trimmed, lower case, spaces and dashes as underscores."""
    return "_".join(str(text).strip().lower().replace("-", " ").split())


# Columns added by the ETL beside the ledger's own (the normalised dataset).
ROW_FILE = "ledger_file"
ROW_NUMBER = "ledger_row"

NORMALISED_COLUMNS: dict[str, str] = {
    # provenance
    ROW_FILE: "Ledger file the row comes from (path relative to ledgers/).",
    ROW_NUMBER: "Spreadsheet row number in that file (header = 1).",
    "id": "The row's id as written.",
    # date
    "date_raw": "Date cell as written.",
    "date_note": "Why the date is missing or approximate.",
    "date_start": "First day the date covers (ISO date).",
    "date_end": "Last day the date covers (ISO date); empty for an open range.",
    "date_precision": "day | month | year | range | unknown.",
    "date_plot": "Date used to place the row on a timeline: the middle of its period.",
    # amount
    "amount_raw": "Amount cell as written.",
    "currency_raw": "Currency cell as written.",
    "amount": "Exact amount in the original currency (decimal).",
    "currency": "ISO 4217 code.",
    "amount_kind": "total | payment | monthly | yearly | at_least | estimate.",
    "total_amount": "Exact amount the row adds to totals in the original currency: the amount, or a rate times its "
                    "period when the period is closed; empty for a rate without a closed period.",
    "amount_usd": "amount in US dollars at the historical rate (rounded to the cent).",
    "amount_eur": "amount in euros at the historical rate (rounded to the cent).",
    "total_usd": "total_amount in US dollars.",
    "total_eur": "total_amount in euros.",
    "fx_rate_usd": "US dollars per unit of the original currency used for the conversion.",
    "fx_rate_eur": "Euros per unit of the original currency used for the conversion.",
    "fx_rate_date": "Day or period of the rate (a period means the mean of the daily rates over it).",
    "fx_source": "Where the rate comes from.",
    "amount_usd_real": "amount_usd in constant dollars of the CPI base year (US CPI-U of the date_plot year).",
    "total_usd_real": "total_usd in constant dollars of the CPI base year.",
    "cpi_base_year": "Base year of total_usd_real.",
    # parties
    "payer_raw": "Payer as written.",
    "payer": "Canonical payer name from the entity register (or as written when not registered).",
    "payer_id": "Deterministic entity id.",
    "payer_country_raw": "Payer country as written.",
    "payer_country": "ISO 3166 alpha-2 code.",
    "payer_country_name": "Country name.",
    "intermediary_raw": "Intermediaries as written.",
    "intermediary": "Canonical intermediary names separated by '; '.",
    "recipient_raw": "Recipient as written.",
    "recipient": "Canonical recipient name.",
    "recipient_id": "Deterministic entity id.",
    "recipient_country_raw": "Recipient country as written.",
    "recipient_country": "ISO 3166 alpha-2 code.",
    "recipient_country_name": "Country name.",
    # overlaps
    "part_of": "id of the larger transfer that includes this one.",
    "same_as": "id of the preferred row reporting the same transfer.",
    "counts_in_totals": "True when the row adds to totals (each transfer counted once).",
    "totals_note": "Why the row does or does not count in totals.",
    "tree_root": "id of the outermost transfer this row is part of, through part_of (its own id when it is part of "
                 "none; a restated row's preferred row stands for it).",
    "drawn_role": "What the row draws on charts and adds to sums: " + "; ".join(
        f"{role} = {meaning}" for role, meaning in DRAWN_ROLE_MEANINGS.items()) + ".",
    "drawn_usd": "US dollars the row draws on charts and adds to sums (exact, cents): its own total_usd, or for a "
                 "row with documented parts the rest they leave (never below zero), or 0; empty when it has no "
                 "conversion. Summed over any rows, each dollar is counted once.",
    "drawn_eur": "The same in euros.",
    "public_tree_root": "tree_root as the public rows alone see it: the same allocation run as if internal rows did "
                        "not exist (a public part of an internal transfer is then a transfer of its own).",
    "public_drawn_role": "drawn_role in the public rows' own allocation ('' for internal rows).",
    "public_drawn_usd": "drawn_usd in the public rows' own allocation, so nothing public reveals internal parts "
                        "(0 for internal rows).",
    "public_drawn_eur": "The same in euros.",
    # status and sources
    "confidence": "confirmed | official_record | reported | alleged | admitted.",
    "status_note": "Legal status.",
    "sources": "Source URLs separated by ' | '.",
    "source_publisher": "Publishers of the sources.",
    "source_date": "Publication dates of the sources.",
    "purpose": "What the money was for.",
    "notes": "Caveats and conflicting figures.",
    "visibility": "public | internal.",
}
OUTPUT_COLUMNS: tuple[str, ...] = tuple(NORMALISED_COLUMNS)


@dataclass(frozen=True)
class ColumnType:
    """How a dataset column is typed, for the Frictionless table schema of build/datapackage.json (etl/datapackage)
    and for FtM: `type` is a Table Schema type, `required` means every row has a value, `unit` says what a number
    counts, `ftm_property` places a derived column in the FtM export (ledger columns use Field.ftm_property)."""

    type: str
    required: bool = False
    unit: str = ""
    choices: tuple[str, ...] = ()
    pattern: str = ""
    ftm_property: str = ""


_TEXT = ColumnType("string")
_ISO_DATE = ColumnType("date")
_CURRENCY_UNIT = "the row's currency (ISO 4217 code in the currency column)"
_COUNTRY = ColumnType("string", pattern="[A-Z]{2}")
CURRENCY_PATTERN = "[A-Z]{3}"

COLUMN_TYPES: dict[str, ColumnType] = {
    ROW_FILE: ColumnType("string", required=True),
    ROW_NUMBER: ColumnType("integer", required=True),
    "id": ColumnType("string", required=True),
    "date_raw": _TEXT,
    "date_note": _TEXT,
    "date_start": _ISO_DATE,
    "date_end": _ISO_DATE,
    "date_precision": ColumnType("string", required=True, choices=DATE_PRECISIONS),
    "date_plot": _ISO_DATE,
    "amount_raw": ColumnType("string", required=True),
    "currency_raw": _TEXT,
    "amount": ColumnType("number", required=True, unit=_CURRENCY_UNIT),
    "currency": ColumnType("string", required=True, pattern=CURRENCY_PATTERN),
    "amount_kind": ColumnType("string", required=True, choices=AMOUNT_KINDS),
    "total_amount": ColumnType("number", unit=_CURRENCY_UNIT, ftm_property=FTM_DESCRIPTION),
    "amount_usd": ColumnType("number", unit="USD", ftm_property="amountUsd"),
    "amount_eur": ColumnType("number", unit="EUR", ftm_property="amountEur"),
    "total_usd": ColumnType("number", unit="USD", ftm_property=FTM_DESCRIPTION),
    "total_eur": ColumnType("number", unit="EUR", ftm_property=FTM_DESCRIPTION),
    "fx_rate_usd": ColumnType("number", unit="USD per unit of the row's currency"),
    "fx_rate_eur": ColumnType("number", unit="EUR per unit of the row's currency"),
    "fx_rate_date": _TEXT,
    "fx_source": _TEXT,
    "amount_usd_real": ColumnType("number", unit="USD of the CPI base year (cpi_base_year)"),
    "total_usd_real": ColumnType("number", unit="USD of the CPI base year (cpi_base_year)"),
    "cpi_base_year": ColumnType("integer", required=True),
    "payer_raw": ColumnType("string", required=True),
    "payer": ColumnType("string", required=True),
    "payer_id": ColumnType("string", required=True),
    "payer_country_raw": _TEXT,
    "payer_country": _COUNTRY,
    "payer_country_name": _TEXT,
    "intermediary_raw": _TEXT,
    "intermediary": _TEXT,
    "recipient_raw": ColumnType("string", required=True),
    "recipient": ColumnType("string", required=True),
    "recipient_id": ColumnType("string", required=True),
    "recipient_country_raw": _TEXT,
    "recipient_country": _COUNTRY,
    "recipient_country_name": _TEXT,
    "part_of": _TEXT,
    "same_as": _TEXT,
    # Together with part_of / same_as this is what lets an FtM consumer count each transfer once.
    "counts_in_totals": ColumnType("boolean", required=True, ftm_property=FTM_DESCRIPTION),
    "totals_note": ColumnType("string", required=True, ftm_property="summary"),
    # What each row draws (etl/allocation.py): in the FtM export as description lines, from the public rows' own
    # allocation when only public rows are exported (so no figure tells of internal parts).
    "tree_root": ColumnType("string", required=True, ftm_property=FTM_DESCRIPTION),
    "drawn_role": ColumnType("string", required=True, choices=DRAWN_ROLES, ftm_property=FTM_DESCRIPTION),
    "drawn_usd": ColumnType("number", unit="USD", ftm_property=FTM_DESCRIPTION),
    "drawn_eur": ColumnType("number", unit="EUR", ftm_property=FTM_DESCRIPTION),
    "public_tree_root": _TEXT,
    "public_drawn_role": ColumnType("string", choices=DRAWN_ROLES),
    "public_drawn_usd": ColumnType("number", unit="USD"),
    "public_drawn_eur": ColumnType("number", unit="EUR"),
    "confidence": ColumnType("string", required=True, choices=CONFIDENCE_LEVELS),
    "status_note": _TEXT,
    "sources": ColumnType("string", required=True),
    "source_publisher": _TEXT,
    "source_date": _TEXT,
    "purpose": _TEXT,
    "notes": _TEXT,
    "visibility": ColumnType("string", required=True, choices=VISIBILITIES),
}

# The entity register as a build writes it (entities.csv, etl/entities.py) and a published package carries it
# (without notes: the register's notes are the newsroom's, not a reader's).
ENTITY_REGISTER_COLUMNS: dict[str, str] = {
    "entity_id": "Deterministic entity id (the payer_id / recipient_id of the transfers).",
    "name": "Canonical name, as registered in ledgers/lookups/entities.csv (or as written when not registered).",
    "kind": "person | company | organisation | public_body | government | group; empty when not registered.",
    "country": "ISO 3166 alpha-2 code of the entity's country, when registered.",
    "aliases": "Other spellings of the name found in sources, separated by '|'.",
    "notes": "Register notes.",
    "registered": "True when the name is in the entity register.",
}
ENTITY_REGISTER_TYPES: dict[str, ColumnType] = {
    "entity_id": ColumnType("string", required=True),
    "name": ColumnType("string", required=True),
    "kind": ColumnType("string", choices=ENTITY_KINDS),
    "country": _COUNTRY,
    "aliases": _TEXT,
    "notes": _TEXT,
    "registered": ColumnType("boolean", required=True),
}
# Columns holding ids of other rows of the dataset (foreign keys onto id).
ROW_LINK_COLUMNS = ("part_of", "same_as")

# The FollowTheMoney schema for each kind of registered entity; names outside the register are LegalEntity.
FTM_SCHEMA_BY_KIND = {"person": "Person", "company": "Company", "organisation": "Organization",
                      "public_body": "PublicBody", "government": "PublicBody", "group": "LegalEntity"}
FTM_UNKNOWN_KIND_SCHEMA = "LegalEntity"

# A downloaded dataset (CSV/XLSX export) is itself a valid ledger: its "as written" columns are read back as the
# ledger's cells and every derived column is ignored, so exports round-trip through the ETL.
EXPORT_RAW_COLUMNS = {"date_raw": "date", "amount_raw": "amount", "currency_raw": "currency", "payer_raw": "payer",
                      "payer_country_raw": "payer_country", "intermediary_raw": "intermediary",
                      "recipient_raw": "recipient", "recipient_country_raw": "recipient_country"}
EXPORT_MARKER_COLUMNS = ("ledger_file", "ledger_row", "amount_raw", "date_raw")

# Lookup tables (corrections are data, not code)
ENTITIES_FILE = "entities.csv"
ENTITY_COLUMNS = ("name", "kind", "country", "aliases", "notes")
ALIAS_SEPARATOR = "|"
COUNTRIES_FILE = "countries.csv"
COUNTRY_LOOKUP_COLUMNS = ("spelling", "code", "name", "reason")
FX_RATES_FILE = "fx_rates.csv"
FX_RATE_COLUMNS = ("currency", "date_start", "date_end", "usd_per_unit", "source")
CPI_FILE = "us_cpi.csv"
CPI_COLUMNS = ("year", "cpi", "source")
CPI_BASE_YEAR = 2024

# Dataset outputs
DATASET_PARQUET = "transfers.parquet"
DATASET_CSV = "transfers.csv"
# The same rows as Arrow IPC: the dashboard memory-maps it, so a worker holds only the pages it reads.
DATASET_ARROW = "transfers.arrow"
ENTITIES_OUTPUT = "entities.csv"
REPORT_JSON = "report.json"
REPORT_TEXT = "report.txt"
DATAPACKAGE_JSON = "datapackage.json"
