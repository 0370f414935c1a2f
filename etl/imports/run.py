"""`python -m etl import MAPPING`: read the source, map it, check the rows as the build will, write the ledger.

The generated ledger is checked with the build's own parsers (amounts, currencies, dates, countries, exchange
rates, ids, links), so a ledger that imports cleanly also builds. Issues name the SOURCE file, its row and the
source column the value came from. With any issue nothing is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import amounts, countries, currency, dates, validate
from ..atomic import atomic_write_with
from ..errors import ERROR, WARNING, LedgerIssue, issues_from_mask, sort_issues
from ..issue_groups import issue_counts
from ..load import discover_ledgers, read_ledger
from ..pipeline import load_lookups, rates_by_pair
from ..safety import write_csv
from ..schema import LEDGER_COLUMNS, LEDGER_DIR, LOOKUP_DIR
from ..uniques import per_unique
from .mapping import Mapping, MappingInvalid, load_mapping
from .readers import SourceTable, read_table
from .resolve import Proposals, keep_decisions, propose_merges, write_merges
from .transform import SOURCE_ROW_COLUMN, Mapped, column_origin, map_rows

MAX_ACROSS_SHOWN = 20


@dataclass
class ImportResult:
    """What an import read, wrote and found."""

    mapping: Mapping | None
    rows_read: int = 0
    rows_mapped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    swapped: int = 0
    issues: list[LedgerIssue] = field(default_factory=list)
    proposals: Proposals | None = None
    written: bool = False
    self_payments: int = 0

    @property
    def errors(self) -> list[LedgerIssue]:
        return [i for i in self.issues if i.severity == ERROR]


def _missing_columns(mapping: Mapping, table: SourceTable, joined: dict[str, SourceTable]) -> list[LedgerIssue]:
    """Every source column the mapping names must exist (joined columns as NAME.column)."""
    from rapidfuzz import process

    available = set(table.frame.columns)
    for join in mapping.joins:
        if join.name in joined:
            available |= {f"{join.name}.{c}" for c in joined[join.name].frame.columns}
    issues = []
    for column, entry in mapping.entries.items():
        for name in entry.source_columns:
            if name not in available:
                match = process.extractOne(name, sorted(available)) if available else None
                hint = f" (did you mean {match[0]!r}?)" if match and match[1] >= 70 else ""
                issues.append(LedgerIssue(mapping.label, None, f"columns.{column}", name, "mapping_column",
                                          f"{table.label} has no column {name!r}{hint}"))
    # Fields read by filters, explode, amendments and per-row kinds.
    other = [(f"filters[{n}]", f) for n, rule in enumerate(mapping.filters, start=1) for f in rule.condition.fields]
    other += [("explode.fields", f) for f in (mapping.explode.fields if mapping.explode else ())]
    if mapping.amendments is not None:
        other += [("amendments.key", mapping.amendments.key), ("amendments.amends", mapping.amendments.amends)]
    other += [(f"entities.{side}", f) for side, entry in mapping.kind_entries.items() for f in entry.source_columns]
    for where, name in other:
        if name not in available:
            match = process.extractOne(name, sorted(available)) if available else None
            hint = f" (did you mean {match[0]!r}?)" if match and match[1] >= 70 else ""
            issues.append(LedgerIssue(mapping.label, None, where, name, "mapping_column",
                                      f"{table.label} has no column {name!r}{hint}"))
    for join in mapping.joins:
        for left, right in join.on.items():
            if left not in table.frame.columns:
                issues.append(LedgerIssue(mapping.label, None, f"join.{join.name}.on", left, "mapping_column",
                                          f"{table.label} has no column {left!r}"))
            if join.name in joined and right not in joined[join.name].frame.columns:
                issues.append(LedgerIssue(mapping.label, None, f"join.{join.name}.on", right, "mapping_column",
                                          f"{joined[join.name].label} has no column {right!r}"))
    return issues


def other_ledger_ids(ledger_dir: Path, output: Path) -> pd.Series:
    """Ids of every other ledger, so links to them are valid and collisions with them are caught."""
    ids = [read_ledger(path, ledger_dir).frame["id"].str.strip()
           for path in discover_ledgers(ledger_dir) if path.resolve() != output.resolve()]
    return pd.concat(ids, ignore_index=True) if ids else pd.Series([], dtype="str")


def check_rows(frame: pd.DataFrame, known_ids: pd.Series, lookups) -> list[LedgerIssue]:
    """The build's checks that can fail on imported cells; entity names are left to the merge proposals."""
    known = pd.Index(known_ids[known_ids.ne("")].unique())
    # Links to rows of other ledgers are fine; blanking them first keeps the link check to what is unknown.
    linked_outside = {column: frame[column].str.strip().isin(known) for column in ("part_of", "same_as")}
    issues = validate.validate_rows(frame.assign(**{column: frame[column].where(~outside, "")
                                                    for column, outside in linked_outside.items()}))
    ids = frame["id"].str.strip()
    taken = ids.isin(known) & ids.ne("")
    issues += issues_from_mask(frame, taken, "id", frame["id"], "id_duplicate",
                               "this id is already used by another ledger: give the mapping's id a prefix")

    _, marker, found = amounts.parse_amounts(frame["amount"], frame)
    issues += found
    code, found = currency.resolve_currencies(frame["currency"], marker, frame)
    issues += found
    period, found = per_unique(frame["date"], frame, dates.parse_dates)
    issues += found
    for column in ("payer_country", "recipient_country"):
        _, _, found = countries.resolve_countries(frame[column], column, lookups.countries, frame)
        issues += found

    _, _, found = rates_by_pair(frame, code, period, lookups.fx_rates)
    issues += found
    return issues


def _relabel(issues: list[LedgerIssue], mapping: Mapping) -> list[LedgerIssue]:
    """Issues found on ledger columns are restated against the source column the value came from."""
    out = []
    for issue in issues:
        if issue.column in LEDGER_COLUMNS:
            origin = column_origin(mapping, issue.column)
            column = issue.column if origin == issue.column else f"{origin} → {issue.column}"
            issue = LedgerIssue(issue.file, issue.row, column, issue.value, issue.code, issue.message,
                                issue.severity)
        out.append(issue)
    return out


def run_import(mapping_path: Path, ledger_dir: Path = LEDGER_DIR, lookup_dir: Path | None = None,
               write: bool = True) -> ImportResult:
    """Import one mapping. Never raises on bad mappings or data: everything is in result.issues."""
    try:
        mapping = load_mapping(Path(mapping_path))
    except MappingInvalid as exc:
        return ImportResult(None, issues=exc.issues)
    result = ImportResult(mapping)
    table, issues = read_table(mapping.source)
    joined: dict[str, SourceTable] = {}
    for join in mapping.joins:
        other, found = read_table(join.read)
        issues += found
        if other is not None:
            joined[join.name] = other
    if table is None or issues:
        result.issues = issues
        return result
    result.rows_read = len(table.frame) + table.blank_rows
    issues = _missing_columns(mapping, table, joined)
    if issues:
        result.issues = issues
        return result

    lookup_dir = Path(lookup_dir) if lookup_dir is not None else Path(ledger_dir) / LOOKUP_DIR.name
    lookups = load_lookups(lookup_dir)
    mapped: Mapped = map_rows(mapping, table, joined, lookups.register.canonical_by_key)
    del table
    result.skipped, result.swapped, result.self_payments = mapped.skipped, mapped.swapped, mapped.self_payments
    frame = mapped.frame
    result.rows_mapped = len(frame)
    found = check_rows(frame, other_ledger_ids(Path(ledger_dir), mapping.output), lookups)
    result.issues = sort_issues([*mapped.issues, *_relabel(found, mapping)])

    if mapping.propose_merges:
        proposals = propose_merges(frame, lookups.register.canonical_by_key, mapping.similarity,
                                   mapping.entity_kind, mapped.kinds, lookups.countries)
        proposals.table = keep_decisions(proposals.table, mapping.merges_path)
        result.proposals = proposals
        # Listed for review: they may be one entity with a wrong country, or two entities.
        result.issues += [LedgerIssue(mapping.source.label, None, "payer/recipient", names, "same_name_other_country",
                                      f"these spellings fold alike but sit in different countries ({countries}): "
                                      "not proposed as one entity; check them", WARNING)
                          for names, countries in zip(proposals.across_countries["names"],
                                                      proposals.across_countries["countries"])]
    if write and not result.errors:
        ledger = frame[[*LEDGER_COLUMNS, SOURCE_ROW_COLUMN]]
        atomic_write_with(mapping.output, lambda tmp: write_csv(ledger, tmp))
        if result.proposals is not None and not result.proposals.table.empty:
            write_merges(result.proposals.table, mapping.merges_path)
        result.written = True
    return result


def import_report(result: ImportResult) -> str:
    """The summary the command prints (issues are printed separately)."""
    if result.mapping is None:
        return "The mapping cannot be used: fix the problems above.\n"
    mapping = result.mapping
    lines = [f"Mapping {mapping.label}: {mapping.source.label}",
             f"  rows read:    {result.rows_read:,}",
             f"  rows mapped:  {result.rows_mapped:,}"]
    for reason, count in result.skipped.items():
        lines.append(f"  skipped, {reason}: {count:,}")
    if result.swapped:
        lines.append(f"  negative amounts (payer and recipient swapped): {result.swapped:,}")
    if result.self_payments and mapping.self_payments != "drop":
        lines.append(f"  rows whose payer is also the recipient (kept): {result.self_payments:,}")
    errors = len(result.errors)
    warnings = len(result.issues) - errors
    lines.append(f"  issues: {errors:,}; warnings: {warnings:,}")
    lines += [f"    {line}" for line in issue_counts(result.issues)]
    if result.proposals is not None:
        table = result.proposals.table
        open_count = int(table["decision"].eq("").sum()) if not table.empty else 0
        # A dry run writes no merges file, so it names none: the proposals are only counted.
        where = f"in {mapping.merges_path.name} " if result.written else "(a run without --dry-run writes them to " \
            f"{mapping.merges_path.name}) "
        if open_count:
            lines.append(f"  entity merges to confirm: {open_count:,} {where}"
                         + ("(write yes or no in the decision column, then: python -m etl merges apply FILE)"
                            if result.written else ""))
        across = result.proposals.across_countries
        if len(across):
            lines.append(f"  names that fold alike but sit in different countries (not proposed; check them): "
                         f"{len(across):,}")
            lines += [f"    {name} — {countries}" for name, countries in
                      zip(across["names"].head(MAX_ACROSS_SHOWN), across["countries"].head(MAX_ACROSS_SHOWN))]
            if len(across) > MAX_ACROSS_SHOWN:
                lines.append(f"    … and {len(across) - MAX_ACROSS_SHOWN:,} more (each is a warning above; "
                             "--all-warnings lists them all)")
    if result.written:
        lines.append(f"Wrote {mapping.output}")
    elif errors:
        lines.append("Nothing was written: fix the issues above (in the source or the mapping) and import again.")
    return "\n".join(lines) + "\n"
