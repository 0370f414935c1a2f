"""Write the dataset, the entity table and the report as one new build under build/, published in one switch."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .builds import publish
from .datapackage import datapackage_json
from .errors import LedgerIssue
from .issue_groups import group_issues, group_lines
from .pipeline import BuildResult
from .safety import csv_bytes, write_csv
from .schema import (CPI_BASE_YEAR, DATAPACKAGE_JSON, DATASET_CSV, DATASET_PARQUET, DRAWN_ROLES,
                     ENTITIES_OUTPUT, REPORT_JSON, REPORT_TEXT)


def _decimal_text(value: object) -> str:
    return "" if value is None or pd.isna(value) else format(value, "f")


def summary_part(data: pd.DataFrame) -> dict:
    """The summary's figures for some rows of the dataset (all of them, or one row group), exact: parts add up
    (etl.stream.merge_summaries)."""
    # Only the columns the totals need: filtering the whole dataset would copy most of it.
    counted = data.loc[data["counts_in_totals"], ["currency", "total_amount", "total_usd", "total_eur"]]
    by_currency = counted.groupby("currency", sort=True)["total_amount"].sum()
    roles = data["drawn_role"].value_counts()
    return {
        "rows": int(len(data)),
        "rows_counted_in_totals": int(len(counted)),
        "rows_not_counted": {
            "part_of_a_larger_transfer": int(data["part_of"].ne("").sum()),
            "same_transfer_as_another_row": int((data["same_as"].ne("") & data["part_of"].eq("")).sum()),
            "rate_without_closed_period": int(data["totals_note"].str.contains("rate without").sum()),
        },
        "totals_by_currency": {str(k): v for k, v in by_currency.items()},
        # What every row draws adds up to each transfer once, parts and untraced rests included.
        "total_usd": data["drawn_usd"].sum(),
        "total_eur": data["drawn_eur"].sum(),
        "counted_rows_without_usd_rate": int(counted["total_usd"].isna().sum()),
        "rows_by_drawn_role": {role: int(roles.get(role, 0)) for role in DRAWN_ROLES},
        "untraced_usd": data.loc[data["drawn_role"].eq("untraced"), "drawn_usd"].sum(),
        "fx_sources": set(data["fx_source"].unique().tolist()),
    }


def summarise(result: BuildResult, part: dict | None = None) -> dict:
    """The build's facts in numbers: ledgers, rows, what counts, exact totals by currency and in USD/EUR; from the
    summary parts of its rows (summary_part of the whole dataset when not given)."""
    part = summary_part(result.dataset) if part is None else part
    warnings = result.warnings
    left_out = {key: n for key, n in result.left_out.items() if key[0] != "error"}
    return {
        "built_at": result.built_at,
        "ledgers": [{"file": ledger.label, "rows": ledger.rows, "blank_rows_skipped": ledger.blank_rows}
                    for ledger in result.ledgers],
        "rows": part["rows"],
        "rows_counted_in_totals": part["rows_counted_in_totals"],
        "rows_not_counted": part["rows_not_counted"],
        "totals_by_currency": {k: _decimal_text(v) for k, v in sorted(part["totals_by_currency"].items())},
        "total_usd": _decimal_text(part["total_usd"]),
        "total_eur": _decimal_text(part["total_eur"]),
        "counted_rows_without_usd_rate": part["counted_rows_without_usd_rate"],
        "rows_by_drawn_role": part["rows_by_drawn_role"],
        "untraced_usd": _decimal_text(part["untraced_usd"]),
        "cpi_base_year": CPI_BASE_YEAR,
        "fx_sources": sorted(s for s in part["fx_sources"] if s),
        "warnings": [issue.as_dict() for issue in warnings],
        "warnings_by_kind": group_issues(warnings, left_out),
        **({"warnings_not_listed": sum(left_out.values())} if left_out else {}),
    }


def format_money(value: str, code: str, cents: bool = False) -> str:
    """'2900000000.0000' → '2,900,000,000 USD'; with cents=True always two decimals ('1,234.50 USD')."""
    if not value:
        return f"— {code}"
    whole, _, frac = value.partition(".")
    frac = (frac + "00")[:2] if cents else frac.rstrip("0")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}{'.' + frac if frac else ''} {code}"


def readable_report(summary: dict, issues: list[LedgerIssue], include_warnings: bool = True) -> str:
    """The summary a journalist reads after a build."""
    lines = [f"Influence Ledger build {summary['built_at']}", ""]
    lines.append(f"Ledgers read: {len(summary['ledgers'])}")
    for ledger in summary["ledgers"]:
        blank = f" ({ledger['blank_rows_skipped']} blank rows skipped)" if ledger["blank_rows_skipped"] else ""
        lines.append(f"  {ledger['file']}: {ledger['rows']} rows{blank}")
    not_counted = summary["rows_not_counted"]
    lines += [
        f"Rows: {summary['rows']}, counted in totals: {summary['rows_counted_in_totals']} "
        f"(each transfer once: {not_counted['part_of_a_larger_transfer']} included in a larger transfer, "
        f"{not_counted['same_transfer_as_another_row']} restating another row, "
        f"{not_counted['rate_without_closed_period']} rates without a closed period)",
        "Totals by original currency:",
        *[f"  {format_money(v, k)}" for k, v in summary["totals_by_currency"].items()],
        f"Total in USD at historical rates: {format_money(summary['total_usd'], 'USD', cents=True)}",
        f"Total in EUR at historical rates: {format_money(summary['total_eur'], 'EUR', cents=True)}",
    ]
    if summary["counted_rows_without_usd_rate"]:
        lines.append(f"  ({summary['counted_rows_without_usd_rate']} counted rows have no USD rate and are not in "
                     "the USD/EUR totals)")
    warnings = [i for i in issues if i.severity == "warning"]
    not_listed = summary.get("warnings_not_listed", 0)
    lines.append(f"Warnings: {len(warnings) + not_listed}")
    lines += [f"  {line}" for line in group_lines(summary["warnings_by_kind"])]
    if not_listed:
        lines.append(f"  ({not_listed:,} of them are counted above but not listed: the first "
                     f"{len(warnings):,} are)")
    if include_warnings:
        lines += [f"  {w}" for w in warnings]
    return "\n".join(lines) + "\n"


def write_outputs(result: BuildResult, build_dir: Path, with_csv: bool = False) -> dict:
    """Write a build held in memory (result.dataset) as a new build folder and make it current; returns the
    summary. run_build streams its dataset instead and writes the rest with write_reports."""
    def write(folder: Path) -> None:
        result.dataset.to_parquet(folder / DATASET_PARQUET, index=False)
        result.summary = write_reports(folder, result, summary_part(result.dataset), with_csv)

    publish(Path(build_dir), write)
    return result.summary


def write_reports(folder: Path, result: BuildResult, part: dict, with_csv: bool = False) -> dict:
    """Beside the folder's transfers.parquet: entities, reports and the data package (and the dataset's CSV copy
    with with_csv, made from the Parquet file a row group at a time). The summary is computed once, here."""
    summary = summarise(result, part)
    (folder / ENTITIES_OUTPUT).write_bytes(csv_bytes(result.entities))
    if with_csv:
        write_csv_from_parquet(folder / DATASET_PARQUET, folder / DATASET_CSV)
    (folder / REPORT_TEXT).write_text(readable_report(summary, result.issues), encoding="utf-8")
    # Compact: the report holds every warning, and indenting a hundred thousand of them costs time and space.
    (folder / REPORT_JSON).write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    (folder / DATAPACKAGE_JSON).write_text(datapackage_json(result.built_at, with_csv), encoding="utf-8")
    return summary


def write_csv_from_parquet(source: Path, target: Path) -> None:
    """The spreadsheet-safe CSV of a Parquet dataset (etl.safety.write_csv), one row group at a time."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    with open(target, "wb") as handle:
        for group in range(max(1, parquet.num_row_groups)):
            table = parquet.read_row_group(group) if parquet.num_row_groups else parquet.schema_arrow.empty_table()
            write_csv(arrow_to_frame(table), handle, header=group == 0)


def arrow_to_frame(table) -> pd.DataFrame:
    """An Arrow table of the dataset as the frame the build made (decimals stay Arrow decimals)."""
    import pyarrow as pa

    return table.to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if pa.types.is_decimal(t) else None)


def read_dataset(path: Path, columns: tuple[str, ...] | None = None, dictionaries: tuple[str, ...] = ()
                 ) -> pd.DataFrame:
    """Read a written dataset back with the exact dtypes it was built with (decimals stay Arrow decimals);
    `columns` reads only those, and `dictionaries` as categoricals instead of text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=list(columns) if columns is not None else None,
                          read_dictionary=list(dictionaries) or None)
    # One chunk per column (taking a few rows from a many-chunk Arrow column is slow), column by column, each
    # column's row-group chunks freed as soon as it is merged: combining the whole table at once holds every
    # column twice (0.9 GB more at a million rows).
    pool = pa.default_memory_pool()
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        if column.num_chunks > 1:
            table = table.set_column(i, name, pa.chunked_array([column.combine_chunks()], type=column.type))
            del column
            pool.release_unused()
    return arrow_to_frame(table)
