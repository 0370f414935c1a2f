"""`python -m etl import-ftm FILE`: FollowTheMoney entities (one JSON object a line: an Aleph collection export, an
OpenSanctions slice, our own export) -> ledgers/imported/NAME.csv, checked as the build will check it.

Values are taken as the file writes them and parsed by the ledger's own parsers (FtM itself reads "2.9bn" as 2.9
and "2012/2014" as 2012). Every Payment becomes a row or a named issue; the parties' names, aliases and countries
become merge proposals (ledgers/imports/NAME.merges.csv) exactly as for dataset imports. With any error nothing
is written. Issues name the file, its line and the FtM property the value came from.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pycountry
from followthemoney import EntityProxy, model
from followthemoney.exc import InvalidData

from ..atomic import atomic_write_with
from ..entities import name_key
from ..errors import ERROR, WARNING, LedgerIssue, sort_issues
from ..imports.mapping import DEFAULT_SIMILARITY, IMPORTED_DIR, file_label
from ..imports.resolve import MERGE_COLUMNS, Proposals, keep_decisions, propose_merges, write_merges
from ..imports.run import check_rows, other_ledger_ids
from ..imports.transform import SOURCE_ROW_COLUMN, slug
from ..pipeline import load_lookups
from ..safety import write_csv
from ..schema import (CONFIDENCE_LEVELS, LEDGER_COLUMNS, LEDGER_DIR, LOOKUP_DIR, OPEN_END_TOKEN, ROW_FILE, ROW_NUMBER,
                      SOURCE_SEPARATOR, VISIBILITIES)
from ..validate import ID_PATTERN
from .model import (COUNTING_MARKER, DATE_COLUMN, DESCRIPTION_COLUMNS, LEDGER_DESCRIPTION_COLUMNS, LEDGER_FTM,
                    PARTY_COUNTRY_COLUMNS, PARTY_PROPERTIES, PAYMENT, PLAIN_PROPERTIES, kind_for_schema,
                    parse_description)

MERGES_DIR = "imports"
# Dataset columns of converted amounts and their currency, read when a Payment has no amount of its own.
CONVERTED_AMOUNTS = {"amount_usd": "USD", "amount_eur": "EUR"}
DEFAULT_AMOUNT_KIND = "payment"  # an FtM Payment is one payment unless its description says otherwise
DEFAULT_VISIBILITY = "internal"  # fail closed: what an FtM file does not mark public stays behind the login
# Payment properties read on purpose: the build converts amounts itself, and the others are index metadata.
IGNORED_PROPERTIES = frozenset({"amountUsd", "amountEur", "indexText", "modifiedAt", "retrievedAt"})
HANDLED_PROPERTIES = frozenset({*PLAIN_PROPERTIES.values(), *PARTY_PROPERTIES.values(), "date", "startDate",
                                "endDate", "description", "summary", "proof", "publisher"})
PARTY_COUNTRY_PROPERTIES = ("country", "jurisdiction", "mainCountry", "nationality")
INCOMPLETE = "payments without amount or parties"


@dataclass
class FtmImportResult:
    """What an FtM import read, wrote and found."""

    label: str
    output: Path
    merges_path: Path
    entities_read: int = 0
    payments: int = 0
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    issues: list[LedgerIssue] = field(default_factory=list)
    proposals: Proposals | None = None
    written: bool = False

    @property
    def errors(self) -> list[LedgerIssue]:
        return [i for i in self.issues if i.severity == ERROR]


def read_entities(path: Path, label: str) -> tuple[dict[str, tuple[int, EntityProxy]], list[LedgerIssue]]:
    """Every entity of a JSON-lines file by id, with the line it starts on; fragments of one id are merged."""
    entities: dict[str, tuple[int, EntityProxy]] = {}
    issues: list[LedgerIssue] = []

    def problem(line: int, value: str, code: str, message: str) -> None:
        issues.append(LedgerIssue(label, line, "", value[:120], code, message))

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [LedgerIssue(label, None, "", "", "ftm_unreadable", f"cannot be read as UTF-8 text: {exc}")]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problem(number, line, "ftm_json", f"not a JSON object: {exc.msg}")
            continue
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            problem(number, line, "ftm_entity", "expected an FtM entity: a JSON object with an id, a schema and "
                                                "properties")
            continue
        schema = model.get(data.get("schema") or "")
        if schema is None:
            problem(number, str(data.get("schema")), "ftm_schema", "not a FollowTheMoney schema")
            continue
        properties = data.get("properties", {})
        if not isinstance(properties, dict) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in properties.values()):
            problem(number, data["id"], "ftm_properties", "properties must map each name to a list of texts")
            continue
        # Values stay as written (cleaned=True means "do not clean"): the ledger's parsers judge them.
        entity = model.get_proxy({"id": data["id"], "schema": schema.name, "properties": properties}, cleaned=True)
        if entity.id in entities:
            first_line, first = entities[entity.id]
            try:
                first.merge(entity)
            except InvalidData as exc:
                problem(number, entity.id, "ftm_merge", f"a second fragment of this id cannot be merged with the "
                                                        f"one on line {first_line}: {exc}")
            continue
        entities[entity.id] = (number, entity)
    return entities, issues


def ledger_country(code: str, spellings: dict[str, str]) -> str:
    """An FtM country code as a ledger country cell: ISO codes upper-cased; codes pycountry does not know but the
    country lookup does (zz: several countries) as that lookup's spelling."""
    upper = code.strip().upper()
    if not upper or pycountry.countries.get(alpha_2=upper) is not None:
        return upper
    return spellings.get(upper, upper)


class _Row:
    """One Payment being turned into a ledger row, collecting its issues."""

    def __init__(self, label: str, line: int, payment: EntityProxy, issues: list[LedgerIssue]):
        self.label, self.line, self.payment, self.issues = label, line, payment, issues
        self.incomplete: list[str] = []

    def issue(self, prop: str, value: str, code: str, message: str, severity: str = ERROR) -> None:
        self.issues.append(LedgerIssue(self.label, self.line, f"{self.payment.schema.name}.{prop}", value, code,
                                       message, severity))

    def one(self, prop: str) -> str:
        """The property's single value ("" when absent); several values are an issue (one per ledger cell)."""
        values = [v.strip() for v in self.payment.get(prop, quiet=True) if v.strip()]
        if len(values) > 1:
            self.issue(prop, " | ".join(values), "ftm_several_values",
                       "several values, but a ledger row holds one: split the payment or keep one value")
        return values[0] if values else ""


def _date_cell(row: _Row, ours: bool) -> tuple[str, str]:
    """(ledger date, date_note addition) from date / startDate / endDate."""
    day, start, end = (row.one(prop)[:10] for prop in ("date", "startDate", "endDate"))
    if start and end:
        cell, note = f"{start}/{end}", ""
    elif start:
        cell = f"{start}/{OPEN_END_TOKEN}"
        note = "" if ours else "FtM gives a start date only"
    elif end:
        row.issue("endDate", end, "ftm_end_only", "only an end date: the ledger cannot hold a range without a "
                                                  "start, so the row is undated (the end is kept in date_note)",
                  WARNING)
        cell, note = "", f"ended by {end} (FtM endDate)"
    else:
        cell, note = day, ""
    if day and cell != day and (start or end):
        note = "; ".join(filter(None, [note, f"FtM date {day}"]))
    return cell, note


def payment_row(row: _Row, entities: dict[str, tuple[int, EntityProxy]], spellings: dict[str, str],
                confidence: str, visibility: str, dataset_urls: tuple[str, ...]) -> tuple[dict[str, str], dict]:
    """The ledger cells of one Payment, and its parties (canonical name, variants, country, kind)."""
    payment = row.payment
    description = "\n".join(payment.get("description"))
    ours = any(line.startswith(f"{COUNTING_MARKER}:") for line in description.split("\n"))
    lines, rest = parse_description(description, (*DESCRIPTION_COLUMNS, *PARTY_COUNTRY_COLUMNS))
    cells = {column: "" for column in LEDGER_COLUMNS}
    cells.update({column: value for column, value in lines.items() if column in LEDGER_DESCRIPTION_COLUMNS})

    # The id is settled for all rows at once (ledger_ids): the recordId when it is a valid ledger id.
    cells["id"] = row.one(PLAIN_PROPERTIES["id"])
    for column in ("amount", "currency"):
        cells[column] = row.one(PLAIN_PROPERTIES[column])
    if not cells["amount"]:
        # Some datasets give only the converted figure; it is then the row's amount, in its own currency.
        for column, code in CONVERTED_AMOUNTS.items():
            converted = row.one(PLAIN_PROPERTIES[column])
            if converted and cells["currency"] in ("", code):
                cells["amount"], cells["currency"] = converted, code
                row.issue(PLAIN_PROPERTIES[column], converted, "ftm_converted_amount",
                          f"no amount in the original currency: the {code} figure is used", WARNING)
                break
    if not cells["amount"]:
        row.incomplete.append(PLAIN_PROPERTIES["amount"])
    cells[DATE_COLUMN], date_note = _date_cell(row, ours)
    cells["date_note"] = "; ".join(filter(None, [cells["date_note"], date_note]))
    cells["purpose"] = "; ".join(v.strip() for v in payment.get(PLAIN_PROPERTIES["purpose"]) if v.strip())

    urls = [v.strip() for v in payment.get(PLAIN_PROPERTIES["sources"])]
    for proof in payment.get("proof"):
        document = entities.get(proof)
        if document is None:
            row.issue("proof", proof, "ftm_missing_entity", "points at a document that is not in the file; its "
                                                            "source URL is missing from the row", WARNING)
            continue
        urls += [v.strip() for v in document[1].get("sourceUrl", quiet=True)]
    cells["sources"] = SOURCE_SEPARATOR.join(dict.fromkeys(u for u in [*urls, *dataset_urls] if u))
    if "source_publisher" not in lines:
        cells["source_publisher"] = SOURCE_SEPARATOR.join(v.strip() for v in payment.get("publisher"))
    if not cells["amount_kind"]:
        cells["amount_kind"] = DEFAULT_AMOUNT_KIND
    if not cells["confidence"]:
        cells["confidence"] = confidence
    if not cells["visibility"]:
        cells["visibility"] = visibility
    summary = "" if ours else "; ".join(payment.get("summary"))
    cells["notes"] = "; ".join(filter(None, [cells["notes"], rest, summary]))

    parties = {}
    for column, prop in PARTY_PROPERTIES.items():
        reference = row.one(prop)
        if not reference:
            row.incomplete.append(prop)
            continue
        found = entities.get(reference)
        if found is None:
            row.issue(prop, reference, "ftm_missing_entity", "points at an entity that is not in the file")
            continue
        party = found[1]
        names = [v.strip() for v in party.get("name", quiet=True) if v.strip()]
        if not names:
            row.issue(prop, reference, "ftm_party_unnamed", f"the {party.schema.name} it points at has no name")
            continue
        canonical = party.caption if party.caption in names else names[0]
        countries = sorted({ledger_country(v, spellings) for p in PARTY_COUNTRY_PROPERTIES
                            for v in party.get(p, quiet=True) if v.strip()})
        country_column = next(c for c, p in PARTY_COUNTRY_COLUMNS.items() if p == prop)
        if country_column in lines:
            country = ledger_country(lines[country_column], spellings) if lines[country_column] else ""
        elif len(countries) == 1:
            country = countries[0]
        else:
            country = ""
            if countries:
                row.issue(prop, " | ".join(countries), "ftm_several_countries",
                          f"the {party.schema.name} has several countries; {country_column} is left empty",
                          WARNING)
        cells[column] = canonical
        cells[country_column] = country
        variants = [*names, *[v.strip() for v in party.get("alias", quiet=True) if v.strip()]]
        parties[column] = {"canonical": canonical, "variants": variants, "country": country,
                           "kind": kind_for_schema(party.schema), "schema": party.schema.name}
    return cells, parties


def ledger_ids(records: pd.Series, ftm_ids: pd.Series, name: str) -> pd.Series:
    """The Payment's recordId when it is a valid ledger id (our own export writes the row id there), else the
    import's name and the FtM id, so importing the same file again gives the same ids."""
    valid = records.ne("") & records.str.fullmatch(ID_PATTERN).fillna(False).astype(bool)
    return records.where(valid, name + "-" + slug(ftm_ids)).astype("str")


def ftm_proposals(parties: pd.DataFrame, register_keys: dict[str, str], label: str) -> pd.DataFrame:
    """Register proposals from the FtM parties themselves: every name and alias of a party the register does not
    hold, as a variant of the party's canonical name (a party without aliases is proposed as itself).
    parties: canonical, variants (list), country, kind, schema, rows; one row per distinct party."""
    if parties.empty:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in MERGE_COLUMNS})
    pairs = parties.explode("variants").rename(columns={"variants": "variant"})
    pairs = pairs.drop_duplicates(["canonical", "variant", "country"]).reset_index(drop=True)
    # As objects: with an empty register every lookup misses and map() would give floats.
    registered = name_key(pairs["canonical"]).map(register_keys).astype("object")
    canonical = registered.where(registered.notna(), pairs["canonical"]).astype("str")
    already = name_key(pairs["variant"]).map(register_keys).eq(canonical)
    what = pd.Series("a name or alias", index=pairs.index).where(pairs["variant"].ne(canonical), "the name")
    reason = (what + " of an FtM " + pairs["schema"] + " in " + label
              + pd.Series("", index=pairs.index).where(registered.isna(), " (registered entity)")
              + pd.Series("", index=pairs.index).where(pairs["kind"].ne(""), "; write its kind before confirming"))
    table = pd.DataFrame({"decision": "", "canonical": canonical, "variant": pairs["variant"],
                          "country": pairs["country"], "kind": pairs["kind"], "score": "100", "reason": reason,
                          "rows": pairs["rows"].astype("str")})
    return table.loc[~already, list(MERGE_COLUMNS)].astype("str").reset_index(drop=True)


def _relabel(issues: list[LedgerIssue]) -> list[LedgerIssue]:
    """Issues of ledger columns restated against the FtM property the value came from."""
    origin = {column: f"Payment.{prop}" + ("" if prop == column else f" → {column}")
              for column, prop in LEDGER_FTM.items() if PAYMENT.get(prop) is not None}
    origin.update({column: f"Payment.{prop}.country → {column}" for column, prop in PARTY_COUNTRY_COLUMNS.items()})
    origin.update({column: f"Payment.description → {column}" for column in LEDGER_DESCRIPTION_COLUMNS})
    origin["confidence"] = "Payment.description → confidence (or --confidence)"
    return [LedgerIssue(i.file, i.row, origin[i.column], i.value, i.code, i.message, i.severity)
            if i.column in origin else i for i in issues]


def run_ftm_import(path: Path, ledger_dir: Path = LEDGER_DIR, name: str | None = None, confidence: str = "",
                   dataset_urls: tuple[str, ...] = (), skip_incomplete: bool = False, write: bool = True,
                   lookup_dir: Path | None = None, visibility: str = DEFAULT_VISIBILITY) -> FtmImportResult:
    """Import one FtM file. Never raises on bad data: everything is in result.issues. Payments that do not say
    their visibility (anything but our own export) get `visibility`: internal unless asked otherwise, since an
    Aleph collection is often not public."""
    path, ledger_dir = Path(path), Path(ledger_dir)
    label = file_label(path)
    name = slug(pd.Series([name or path.name.split(".")[0]])).iat[0] or "ftm"
    result = FtmImportResult(label, ledger_dir / IMPORTED_DIR / f"{name}.csv",
                             ledger_dir / MERGES_DIR / f"{name}.merges.csv")
    for option, value, allowed in (("confidence", confidence, CONFIDENCE_LEVELS),
                                   ("visibility", visibility, VISIBILITIES)):
        if value and value not in allowed:
            result.issues.append(LedgerIssue(f"--{option}", None, option, value, "not_allowed",
                                             f"expected one of: {' | '.join(allowed)}"))
    if result.issues:
        return result
    entities, issues = read_entities(path, label)
    result.entities_read = len(entities)
    lookup_dir = Path(lookup_dir) if lookup_dir is not None else ledger_dir / LOOKUP_DIR.name
    lookups = load_lookups(lookup_dir)
    spellings = dict(zip(lookups.countries["code"].str.upper(), lookups.countries["spelling"]))

    payments = [(line, entity) for line, entity in entities.values() if entity.schema.is_a(PAYMENT.name)]
    result.payments = len(payments)
    if not payments and not issues:
        issues.append(LedgerIssue(label, None, "", "", "ftm_no_payments", "no Payment entities in the file"))
    ignored: dict[str, int] = {}
    rows, row_files, row_lines, row_ftm_ids, party_rows = [], [], [], [], []
    for line, payment in sorted(payments, key=lambda pair: pair[0]):
        for prop in payment.properties:
            if prop not in HANDLED_PROPERTIES and prop not in IGNORED_PROPERTIES:
                ignored[prop] = ignored.get(prop, 0) + 1
        row = _Row(label, line, payment, issues)
        cells, parties = payment_row(row, entities, spellings, confidence, visibility, dataset_urls)
        if row.incomplete:
            missing = " and ".join(row.incomplete)
            severity = WARNING if skip_incomplete else ERROR
            hint = "left out" if skip_incomplete else "a ledger row needs an amount, a payer and a beneficiary; " \
                                                      "run with --skip-incomplete to leave such payments out"
            row.issue(row.incomplete[0], payment.id, "ftm_incomplete", f"no {missing}: {hint}", severity)
            if skip_incomplete:
                result.skipped[INCOMPLETE] = result.skipped.get(INCOMPLETE, 0) + 1
            continue
        rows.append(cells)
        row_files.append(label)
        row_lines.append(line)
        row_ftm_ids.append(payment.id)
        party_rows += parties.values()
    for prop, count in sorted(ignored.items()):
        issues.append(LedgerIssue(label, None, f"{PAYMENT.name}.{prop}", "", "ftm_property_ignored",
                                  f"not imported ({count} payment(s)): the ledger has no column for it", WARNING))

    frame = pd.DataFrame(rows, columns=list(LEDGER_COLUMNS)).astype("str")
    frame["id"] = ledger_ids(frame["id"], pd.Series(row_ftm_ids, dtype="str"), name)
    frame[ROW_FILE] = pd.Series(row_files, dtype="str")
    frame[ROW_NUMBER] = pd.Series(row_lines, dtype="int64")
    frame[SOURCE_ROW_COLUMN] = frame[ROW_FILE] + ":" + frame[ROW_NUMBER].astype("str")
    result.rows = len(frame)
    if len(frame):
        issues += _relabel(check_rows(frame, other_ledger_ids(ledger_dir, result.output), lookups))
    result.issues = sort_issues(issues)

    register_keys = lookups.register.canonical_by_key
    if party_rows:
        parties = pd.DataFrame(party_rows)
        parties["rows"] = parties.groupby("canonical")["canonical"].transform("size")
        parties = parties.drop_duplicates(["canonical", "country"])
        table = ftm_proposals(parties, register_keys, label)
        fuzzy = propose_merges(frame, register_keys, DEFAULT_SIMILARITY, "").table
        kinds = parties.drop_duplicates("canonical").set_index("canonical")["kind"]
        fuzzy["kind"] = fuzzy["canonical"].map(kinds).fillna(fuzzy["kind"]).astype("str")
        table = pd.concat([table, fuzzy], ignore_index=True).drop_duplicates(["canonical", "variant", "country"])
        table = keep_decisions(table.reset_index(drop=True), result.merges_path)
        result.proposals = Proposals(table, 0)
    if write and not result.errors and len(frame):
        result.output.parent.mkdir(parents=True, exist_ok=True)
        ledger = frame[[*LEDGER_COLUMNS, SOURCE_ROW_COLUMN]]
        atomic_write_with(result.output, lambda tmp: write_csv(ledger, tmp))
        if result.proposals is not None and not result.proposals.table.empty:
            result.merges_path.parent.mkdir(parents=True, exist_ok=True)
            write_merges(result.proposals.table, result.merges_path)
        result.written = True
    return result


def ftm_import_report(result: FtmImportResult) -> str:
    """The summary the command prints (issues are printed separately)."""
    lines = [f"FtM file {result.label}",
             f"  entities read: {result.entities_read:,}",
             f"  payments:      {result.payments:,}",
             f"  ledger rows:   {result.rows:,}"]
    for reason, count in result.skipped.items():
        lines.append(f"  skipped, {reason}: {count:,}")
    errors = len(result.errors)
    lines.append(f"  issues: {errors:,}; warnings: {len(result.issues) - errors:,}")
    if result.proposals is not None:
        open_count = int(result.proposals.table["decision"].eq("").sum())
        if open_count:
            lines.append(f"  entity register proposals to confirm: {open_count:,} in {result.merges_path.name} "
                         "(write yes or no in the decision column, then: python -m etl merges apply FILE)")
    if result.written:
        lines.append(f"Wrote {result.output}")
    elif errors:
        lines.append("Nothing was written: fix the issues above (in the file or with the options) and import again.")
    return "\n".join(lines) + "\n"
