"""Compose the steps: the lookups, one part of the ledgers normalised (normalise_part), and the build's entry points
(build, check, run_build), which etl/stream.py runs part by part; collect every issue, then decide."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import amounts, controls, countries, currency, dates, dedupe, entities, fx, validate
from .errors import ERROR, WARNING, LedgerInvalid, LedgerIssue, LookupInvalid, issues_from_mask
from .uniques import first_occurrences, per_unique, strip
from .load import LoadedLedger, discover_ledgers
from .schema import (AMOUNT_SCALE, BUILD_DIR, COUNTRIES_FILE, CPI_BASE_YEAR, CPI_COLUMNS, CPI_FILE, DATASET_PARQUET,
                     ENTITIES_FILE, FX_RATES_FILE, LEDGER_DIR, LOOKUP_DIR, ROW_FILE, ROW_NUMBER, UNKNOWN_DATE_TOKENS)


@dataclass(frozen=True)
class Lookups:
    """Every correction table under ledgers/lookups, read once per build."""

    register: entities.EntityRegister
    countries: pd.DataFrame
    fx_rates: fx.LookupRates
    cpi: pd.DataFrame
    folder: Path


def read_cpi(path: Path) -> pd.DataFrame:
    """US CPI by year with its source; the base year must be present."""
    if not path.exists():
        raise LookupInvalid(f"{path.name} is missing: constant dollars need a US CPI table with its source")
    table = pd.read_csv(path, dtype="str", keep_default_na=False)
    missing = [c for c in CPI_COLUMNS if c not in table.columns]
    if missing:
        raise LookupInvalid(f"{path.name}: missing column(s) {', '.join(missing)}")
    year = pd.to_numeric(table["year"], errors="coerce")
    cpi = pd.to_numeric(table["cpi"], errors="coerce")
    bad = year.isna() | cpi.isna() | (cpi <= 0) | table["source"].str.strip().eq("")
    if bad.any():
        raise LookupInvalid(f"{path.name}:{int(bad.to_numpy().nonzero()[0][0]) + 2}: expected a year, a positive cpi "
                            "and a source")
    out = pd.DataFrame({"year": year.astype("int64"), "cpi": cpi, "source": table["source"]})
    if CPI_BASE_YEAR not in set(out["year"]):
        raise LookupInvalid(f"{path.name}: the base year {CPI_BASE_YEAR} is missing")
    return out


def load_lookups(lookup_dir: Path = LOOKUP_DIR) -> Lookups:
    """Read every lookup table; a table that cannot be parsed is a LookupInvalid naming it, never a traceback."""
    try:
        return _read_lookups(lookup_dir)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise LookupInvalid(f"a lookup table in {lookup_dir} cannot be read (save it as UTF-8 CSV with a header "
                            f"and quote cells that contain commas): {exc}") from exc


def _read_lookups(lookup_dir: Path) -> Lookups:
    return Lookups(
        register=entities.read_register(lookup_dir / ENTITIES_FILE),
        countries=countries.read_country_lookup(lookup_dir / COUNTRIES_FILE),
        fx_rates=fx.read_lookup_rates(lookup_dir / FX_RATES_FILE),
        cpi=read_cpi(lookup_dir / CPI_FILE),
        folder=lookup_dir,
    )


def cent_ints(scaled: pd.Series, rate: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Exact original amount times a stated rate, rounded half-even to the cent: (int64 cents, known mask)."""
    product = scaled.astype("float64").to_numpy(na_value=np.nan) * rate.to_numpy(dtype="float64", na_value=np.nan)
    cents = np.rint(product / 10 ** (AMOUNT_SCALE - 2))
    valid = np.isfinite(cents)
    return np.where(valid, cents, 0).astype("int64"), valid


def cents_decimal(cents: np.ndarray, valid: np.ndarray, index: pd.Index) -> pd.Series:
    """int64 cents (with their known mask) as an exact Arrow decimal of two places."""
    return amounts.scaled_to_decimal(pd.Series(pd.arrays.IntegerArray(cents, ~valid), index=index), 2)


def _cents(scaled: pd.Series, rate: pd.Series) -> pd.Series:
    """Exact original amount times a stated rate, rounded half-even to the cent, as an Arrow decimal."""
    return cents_decimal(*cent_ints(scaled, rate), scaled.index)


def rates_by_pair(raw: pd.DataFrame, code: pd.Series, period: pd.DataFrame, fx_rates: fx.LookupRates
                  ) -> tuple[pd.DataFrame, np.ndarray, list[LedgerIssue]]:
    """Exchange rates per distinct (currency, date cell) pair, each row's pair, and an fx_missing issue for every
    dated row whose currency has no rate. A rate depends only on the currency and the date cell, so each distinct
    pair is converted once; spread the rates over the rows with distinct.iloc[pair_codes]."""
    currency_codes, _ = pd.factorize(code, use_na_sentinel=False)
    date_codes, _ = pd.factorize(raw["date"], use_na_sentinel=False)
    pair_codes, _ = pd.factorize(currency_codes.astype(np.int64) * (date_codes.max(initial=0) + 1) + date_codes)
    first = np.flatnonzero(first_occurrences(pair_codes))
    distinct = fx.convert_rates(code.iloc[first], period["date_start"].iloc[first], period["date_end"].iloc[first],
                                period["date_precision"].iloc[first], fx_rates)
    # The problem text only feeds this mask, so it is decided per pair and never spread over the rows.
    problem = distinct["fx_problem"]
    dated_problem = problem.ne("") & ~problem.str.startswith("undated") & code.iloc[first].ne("").to_numpy()
    no_rate = pd.Series(dated_problem.to_numpy()[pair_codes], index=raw.index) & period["date_start"].notna()
    issues: list[LedgerIssue] = []
    if no_rate.any():  # the per-row value text is only built when some row needs it
        issues = issues_from_mask(raw, no_rate, "currency", code + " on " + raw["date"], "fx_missing",
                                  "no exchange rate for this currency and date in the ECB history or "
                                  "lookups/fx_rates.csv; add a sourced rate to lookups/fx_rates.csv")
    return distinct.drop(columns="fx_problem"), pair_codes, issues


@dataclass
class Part:
    """One part of the ledgers normalised: every dataset column but the allocation's (decided over all rows), the
    raw cells the global checks quote where they differ from the stripped ones, the part's own issues, and what the
    whole build's warnings are assembled from (first row lacking a CPI per year, unregistered names)."""

    frame: pd.DataFrame
    issues: list[LedgerIssue]
    cpi_missing: dict[int, LedgerIssue]
    unregistered: dict[str, pd.DataFrame]
    seen_entities: tuple[pd.DataFrame, pd.DataFrame]


# Cells the global checks quote as written; kept beside the dataset only where they differ from the stripped cell.
RAW_COLUMNS = {"_id_raw": "id", "_part_of_raw": "part_of", "_same_as_raw": "same_as"}


def normalise_part(raw: pd.DataFrame, lookups: Lookups) -> Part:
    """Ledger rows as text (LEDGER_COLUMNS + ROW_FILE + ROW_NUMBER) → the normalised rows of this part and the
    issues found in them alone. Independent of every other part: the global steps are in etl/stream.py."""
    raw, issues = controls.clean_controls(raw.reset_index(drop=True))
    enums = validate.normalise_enums(raw)
    issues += validate.validate_cells(raw, enums)

    # Amounts are nearly all distinct, and the parser already works per shape, so a per-value pass would only
    # add a factorize and a spread.
    scaled, marker, found = amounts.parse_amounts(raw["amount"], raw)
    issues += found
    code, found = currency.resolve_currencies(raw["currency"], marker, raw)
    issues += found
    period, found = per_unique(raw["date"], raw, dates.parse_dates)
    issues += found

    distinct, pair_codes, found = rates_by_pair(raw, code, period, lookups.fx_rates)
    issues += found
    rates = distinct.iloc[pair_codes].set_axis(raw.index)
    date_text = raw["date"].str.strip()
    undated = date_text.eq("") | date_text.str.lower().isin(UNKNOWN_DATE_TOKENS)
    issues += issues_from_mask(raw, undated & code.ne("") & code.ne("USD"), "date", raw["date"], "fx_undated",
                               "undated, so it cannot be converted to USD at a historical rate; it stays out of the "
                               "USD totals", WARNING)

    part_of = strip(raw["part_of"])
    same_as = strip(raw["same_as"])
    # A copy: dedupe.totals multiplies rates by their periods in a numpy view of what it is given (pandas 3 hands
    # out a view when no amount is missing), which would turn the row's own amount into its total.
    counted = dedupe.totals(scaled.copy(), enums["amount_kind"], period["date_start"], period["date_end"], part_of,
                            same_as)

    cpi = lookups.cpi.set_index("year")["cpi"]
    year = period["date_plot"].dt.year
    deflator = cpi.loc[CPI_BASE_YEAR] / year.map(cpi)
    lacking_cpi = year.notna() & deflator.isna() & rates["fx_rate_usd"].notna()
    first_per_year = lacking_cpi & ~year.where(lacking_cpi).duplicated(keep="first")
    cpi_missing = dict(zip(year[first_per_year].astype("int64").tolist(), issues_from_mask(
        raw, first_per_year, "date", raw["date"], "cpi_missing",
        "no US CPI for this year in lookups/us_cpi.csv; constant dollars left empty", WARNING)))

    payer_country, payer_country_name, found = countries.resolve_countries(
        raw["payer_country"], "payer_country", lookups.countries, raw)
    issues += found
    recipient_country, recipient_country_name, found = countries.resolve_countries(
        raw["recipient_country"], "recipient_country", lookups.countries, raw)
    issues += found
    payer, payer_id, payers_unregistered = entities.resolve_names_part(raw["payer"], lookups.register, raw)
    recipient, recipient_id, recipients_unregistered = entities.resolve_names_part(raw["recipient"],
                                                                                   lookups.register, raw)
    intermediary, intermediaries_unregistered = entities.resolve_intermediaries_part(
        raw["intermediary"], lookups.register, raw)
    visibility = enums["visibility"]
    if not visibility.ne("").all():  # where() would copy the column even when nothing is empty
        visibility = visibility.where(visibility.ne(""), "public")

    usd_rate = rates["fx_rate_usd"]
    usd_real_rate = usd_rate * deflator
    dataset = pd.DataFrame({
        ROW_FILE: raw[ROW_FILE].astype("str"),
        ROW_NUMBER: raw[ROW_NUMBER].astype("int64"),
        "id": strip(raw["id"]),
        "date_raw": raw["date"],
        "date_note": raw["date_note"],
        "date_start": period["date_start"],
        "date_end": period["date_end"],
        "date_precision": period["date_precision"],
        "date_plot": period["date_plot"],
        "amount_raw": raw["amount"],
        "currency_raw": raw["currency"],
        "amount": amounts.scaled_to_decimal(scaled),
        "currency": code,
        "amount_kind": enums["amount_kind"],
        "total_amount": amounts.scaled_to_decimal(counted["total_scaled"]),
        "amount_usd": _cents(scaled, usd_rate),
        "amount_eur": _cents(scaled, rates["fx_rate_eur"]),
        "total_usd": _cents(counted["total_scaled"], usd_rate),
        "total_eur": _cents(counted["total_scaled"], rates["fx_rate_eur"]),
        "fx_rate_usd": usd_rate,
        "fx_rate_eur": rates["fx_rate_eur"],
        "fx_rate_date": rates["fx_rate_date"],
        "fx_source": rates["fx_source"],
        "amount_usd_real": _cents(scaled, usd_real_rate),
        "total_usd_real": _cents(counted["total_scaled"], usd_real_rate),
        "cpi_base_year": pd.Series(CPI_BASE_YEAR, index=raw.index, dtype="int64"),
        "payer_raw": raw["payer"],
        "payer": payer,
        "payer_id": payer_id,
        "payer_country_raw": raw["payer_country"],
        "payer_country": payer_country,
        "payer_country_name": payer_country_name,
        "intermediary_raw": raw["intermediary"],
        "intermediary": intermediary,
        "recipient_raw": raw["recipient"],
        "recipient": recipient,
        "recipient_id": recipient_id,
        "recipient_country_raw": raw["recipient_country"],
        "recipient_country": recipient_country,
        "recipient_country_name": recipient_country_name,
        "part_of": part_of,
        "same_as": same_as,
        "counts_in_totals": counted["counts_in_totals"],
        "totals_note": counted["totals_note"],
        "confidence": enums["confidence"],
        "status_note": raw["status_note"],
        "sources": strip(raw["sources"]),
        "source_publisher": raw["source_publisher"],
        "source_date": raw["source_date"],
        "purpose": raw["purpose"],
        "notes": raw["notes"],
        "visibility": visibility,
    }, index=raw.index)
    # Text is never missing in the dataset; only columns that need it are rewritten (a copy of every text column
    # would double a large build's memory).
    for column in dataset.columns:
        values = dataset[column]
        if values.dtype == object or (str(values.dtype) == "str" and values.hasnans):
            dataset[column] = values.fillna("").astype("str")
    for hidden, column in RAW_COLUMNS.items():
        dataset[hidden] = raw[column].where(raw[column].ne(dataset[column]))
    seen = entities.unregistered_seen(lookups.register, dataset)
    return Part(dataset, issues, cpi_missing, {"payer": payers_unregistered, "recipient": recipients_unregistered,
                                               "intermediary": intermediaries_unregistered}, seen)


@dataclass
class BuildResult:
    """What one build produced: issues, entities, a report, and the dataset (only meaningful without errors),
    read from its Parquet file when first asked for."""

    entities: pd.DataFrame
    issues: list[LedgerIssue]
    ledgers: list[LoadedLedger] = field(default_factory=list)
    built_at: str = ""
    # The summary written to report.json, once the outputs are written (etl.emit computes it).
    summary: dict = field(default_factory=dict)
    # Issues counted but not listed, per (severity, code): see etl.stream.MAX_LISTED_PER_KIND.
    left_out: dict = field(default_factory=dict)
    rows: int = 0
    dataset_path: Path | None = None
    loaded: pd.DataFrame | None = None

    @property
    def dataset(self) -> pd.DataFrame:
        if self.loaded is None:
            from .emit import read_dataset

            if self.dataset_path is None:
                raise FileNotFoundError("this build wrote no dataset (a check, or a build with errors)")
            self.loaded = read_dataset(self.dataset_path)
        return self.loaded

    @property
    def errors(self) -> list[LedgerIssue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[LedgerIssue]:
        return [i for i in self.issues if i.severity == WARNING]


def _result(built, dataset_path: Path | None = None) -> BuildResult:
    return BuildResult(built.entities, built.issues, built.ledgers, built.built_at, left_out=built.left_out,
                       rows=built.rows, dataset_path=dataset_path)


def build(ledger_dir: Path = LEDGER_DIR, lookup_dir: Path | None = None, paths: list[Path] | None = None,
          with_dataset: bool = True, **options) -> BuildResult:
    """Read and normalise every ledger; never raises on ledger content (issues are returned). The dataset is
    built (errors or not) and held in memory unless with_dataset is False (a check). options: those of
    etl.stream.streamed (part_rows, mapper, stream_bytes, work_dir)."""
    import tempfile

    from .stream import streamed

    with streamed(Path(ledger_dir), lookup_dir, paths, **options) as built:
        result = _result(built)
        if with_dataset:
            with tempfile.TemporaryDirectory(prefix="influence-ledger-dataset-") as folder:
                built.write(Path(folder))
                result.dataset_path = Path(folder) / DATASET_PARQUET
                result.dataset  # read while the file exists
                result.dataset_path = None
    return result


def check(paths: list[Path], root: Path, lookup_dir: Path | None = None) -> list[LedgerIssue]:
    """Validate exactly these ledgers together (ids, links and lookups included); write nothing."""
    return build(Path(root), lookup_dir, [Path(p) for p in paths], with_dataset=False).issues


def run_build(ledger_dir: Path = LEDGER_DIR, build_dir: Path = BUILD_DIR, lookup_dir: Path | None = None,
              with_csv: bool = False, allow_errors: bool = False, **options) -> BuildResult:
    """Build and write the dataset (and its CSV copy with with_csv); raises LedgerInvalid (with every issue) and
    writes nothing on any error (allow_errors, for benchmarks, writes all the same). The written summary is
    result.summary; result.dataset is read from the published file when asked for. options: those of
    etl.stream.streamed."""
    from .builds import publish
    from .emit import write_reports
    from .stream import streamed

    with streamed(Path(ledger_dir), lookup_dir, **options) as built:
        result = _result(built)
        if result.errors and not allow_errors:
            raise LedgerInvalid(result.issues, result.left_out)

        def write(folder: Path) -> None:
            built.write(folder)
            result.summary = write_reports(folder, result, built.summary_parts, with_csv)

        final = publish(Path(build_dir), write)
    result.dataset_path = final / DATASET_PARQUET
    return result


def dataset_is_stale(ledger_dir: Path = LEDGER_DIR, build_dir: Path = BUILD_DIR) -> bool:
    """True when there is no current build or it is older than any ledger or lookup table."""
    from .builds import NoBuild, current_build

    try:
        dataset = current_build(Path(build_dir)) / DATASET_PARQUET
    except NoBuild:
        return True
    if not dataset.exists():
        return True
    built = dataset.stat().st_mtime
    inputs = [*discover_ledgers(Path(ledger_dir)), *sorted((Path(ledger_dir) / LOOKUP_DIR.name).glob("*.csv"))]
    return any(path.stat().st_mtime > built for path in inputs)
