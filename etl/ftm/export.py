"""`python -m etl export ftm`: the built dataset as FollowTheMoney entities, one JSON object per line.

Every entity is built and validated with the `followthemoney` package: a value FtM does not accept, or an entity
that fails its schema, stops the export with every such problem named (nothing is written). Only public rows are
exported unless internal ones are asked for, and only the parties those rows name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from followthemoney import EntityProxy, model
from followthemoney.exc import InvalidData
from followthemoney.util import make_entity_id

from ..dates import DATE_PATTERN
from ..emit import read_dataset
from ..errors import EtlError
from ..schema import ALIAS_SEPARATOR, DATASET_PARQUET, ENTITIES_OUTPUT, SOURCE_SEPARATOR
from ..validate import split_sources
from .model import (DESCRIPTION_COLUMNS, DOCUMENT, PARTY_COUNTRY_COLUMNS, PARTY_PROPERTIES, PAYMENT,
                    PAYMENT_KEY, PLAIN_PROPERTIES, SOURCE_KEY, description_lines, schema_for_kind)

PUBLIC = "public"
# FtM 3.5 (pinned by Aleph 4.x) has no Payment.proof: --ftm3 leaves out the links and the source Documents they
# point at (every source URL stays in the Payment's sourceUrl).


class FtmExportInvalid(EtlError):
    """Some value or entity was refused by FollowTheMoney; carries every problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} value(s) FollowTheMoney refused; nothing was written:\n  "
                         + "\n  ".join(problems))


@dataclass
class FtmExport:
    """The entities of one export, and what it left out."""

    entities: list[EntityProxy] = field(default_factory=list)
    payments: int = 0
    parties: int = 0
    documents: int = 0
    internal_left_out: int = 0

    def jsonl(self) -> str:
        return "".join(json.dumps(entity.to_dict(), ensure_ascii=False) + "\n" for entity in self.entities)


def decimal_text(values: pd.Series) -> pd.Series:
    """Exact decimals as plain text without trailing zeros ("2900000000.0000" -> "2900000000"); missing -> ""."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(values.array) if not hasattr(values.array, "_pa_array") else values.array._pa_array
    text = pd.Series(pc.cast(array, pa.string()).to_pandas(), index=values.index, dtype="str").fillna("")
    fractional = text.str.contains(".", regex=False)
    return text.where(~fractional, text.str.replace(r"0+$", "", regex=True).str.replace(r"\.$", "", regex=True))


def _date_part(parts: pd.DataFrame, prefix: str) -> pd.Series:
    """An FtM date prefix (2012, 2012-07, 2012-07-30) from the year/month/day a ledger date wrote."""
    year, month, day = parts[f"{prefix}y"], parts[f"{prefix}m"], parts[f"{prefix}d"]
    text = year.fillna("")
    text = text.where(month.isna(), text + "-" + month.fillna("").str.zfill(2))
    return text.where(day.isna(), text + "-" + day.fillna("").str.zfill(2)).astype("str")


def ftm_dates(rows: pd.DataFrame) -> pd.DataFrame:
    """date (one day, month or year) or startDate/endDate (a range, each end in the precision the ledger wrote it;
    an open range has no endDate); nothing for an unknown date."""
    parts = rows["date_raw"].astype("str").str.extract(DATE_PATTERN)
    known = rows["date_precision"].ne("unknown")
    is_range = known & rows["date_precision"].eq("range")
    start = _date_part(parts, "s")
    end = _date_part(parts, "e")
    return pd.DataFrame({
        "date": start.where(known & ~is_range, ""),
        "startDate": start.where(is_range, ""),
        "endDate": end.where(is_range & parts["open"].isna(), ""),
    }, index=rows.index)


def _join_lines(lines: list[pd.Series], index: pd.Index) -> pd.Series:
    result = pd.Series("", index=index, dtype="str")
    for line in lines:
        result = result.where(line.eq(""), (result + "\n").where(result.ne(""), "") + line)
    return result


def _column_text(rows: pd.DataFrame, column: str) -> pd.Series:
    values = rows[column]
    if isinstance(values.dtype, pd.ArrowDtype):
        return decimal_text(values)
    if values.dtype == bool:
        return values.map({True: "true", False: "false"}).astype("str")
    return values.astype("str").fillna("")


def party_table(rows: pd.DataFrame, register: pd.DataFrame) -> pd.DataFrame:
    """The parties the rows name: id, name, FtM schema, aliases, notes and countries (the register's country, or
    the countries the rows give when the register has none)."""
    seen = pd.concat([pd.DataFrame({"entity_id": rows[f"{column}_id"], "name": rows[column],
                                    "row_country": rows[f"{column}_country"]}) for column in PARTY_PROPERTIES],
                     ignore_index=True)
    seen = seen[seen["entity_id"].ne("")]
    row_countries = (seen[seen["row_country"].ne("")].groupby("entity_id")["row_country"]
                     .agg(lambda codes: tuple(sorted(set(codes)))))
    first = seen.drop_duplicates("entity_id")[["entity_id", "name"]]
    table = first.merge(register.drop(columns="name"), on="entity_id", how="left").fillna("")
    register_country = table["country"].str.strip().str.upper()
    from_rows = table["entity_id"].map(row_countries)
    table["countries"] = [(code,) if code else (found if isinstance(found, tuple) else ())
                          for code, found in zip(register_country, from_rows)]
    table["schema"] = table["kind"].map(schema_for_kind)
    return table.reset_index(drop=True)


def payment_description(rows: pd.DataFrame, parties: pd.DataFrame) -> pd.Series:
    """The description lines: every DESCRIPTION_COLUMNS value, and a party's row country where the party
    entity cannot give it exactly."""
    texts = {column: _column_text(rows, column) for column in DESCRIPTION_COLUMNS}
    lines = [description_lines(column, text, text.ne("")) for column, text in texts.items()]
    single = parties.set_index("entity_id")["countries"].map(lambda codes: codes[0] if len(codes) == 1 else None)
    for column, prop in PARTY_COUNTRY_COLUMNS.items():
        party = column.removesuffix("_country")
        entity_country = rows[f"{party}_id"].map(single)
        differs = entity_country.isna() | entity_country.ne(rows[column])
        lines.append(description_lines(column, rows[column], differs & (rows[column].ne("") | entity_country.notna())))
    return _join_lines(lines, rows.index)


def _file_name(url: str) -> str:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    return segments[-1] if segments else parts.netloc or url


class _Builder:
    """Adds values to entities through FtM's own cleaning, noting every value it refuses."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def entity(self, schema: str, entity_id: str) -> EntityProxy:
        entity = model.make_entity(schema)
        entity.id = entity_id
        return entity

    def put(self, entity: EntityProxy, prop: str, values: str | list[str], where: str) -> None:
        found = entity.schema.properties[prop]
        for value in [values] if isinstance(values, str) else values:
            if value == "":
                continue
            if entity.unsafe_add(found, value) is None:
                self.problems.append(f"{where}: {entity.schema.name}.{prop} {value!r} is not a valid "
                                     f"{found.type.name}")

    def check(self, entity: EntityProxy, where: str) -> None:
        try:
            entity.schema.validate(entity.to_dict())
        except InvalidData as exc:
            self.problems.append(f"{where}: {entity.schema.name} {exc} {getattr(exc, 'errors', '')}")


def without_hidden_links(rows: pd.DataFrame) -> pd.DataFrame:
    """Exported rows as if the rows left out did not exist: a part_of / same_as naming a row that is not exported
    is blanked (its id would tell that unpublished data exists), and a row it made a part then counts on its own,
    so an FtM consumer still counts each exported transfer once."""
    exported = set(rows["id"].astype("str"))
    out = rows.copy()
    # What each row draws, as the public rows alone allocate it.
    for column in ("tree_root", "drawn_role", "drawn_usd", "drawn_eur"):
        if f"public_{column}" in out:
            out[column] = out[f"public_{column}"]
    hidden = np.zeros(len(out), dtype=bool)
    for column in ("part_of", "same_as"):
        values = out[column].astype("str")
        unseen = (values.ne("") & ~values.isin(exported)).to_numpy()
        out.loc[unseen, column] = ""
        hidden |= unseen
    if hidden.any():
        roots = hidden & out["part_of"].eq("").to_numpy() & out["same_as"].eq("").to_numpy() \
            & out["total_amount"].notna().to_numpy()
        out.loc[roots, "counts_in_totals"] = True
        out.loc[hidden, "totals_note"] = np.where(roots[hidden], "counted", "not counted")
    return out


def export_ftm(build_dir: Path, ftm3: bool = False, include_internal: bool = False) -> FtmExport:
    """The build under build_dir as FtM entities: parties, source Documents (FtM 4 only) and one Payment per row."""
    dataset = read_dataset(Path(build_dir) / DATASET_PARQUET)
    register = pd.read_csv(Path(build_dir) / ENTITIES_OUTPUT, dtype="str", keep_default_na=False)
    # Fail closed: a row is exported only when it says public (or internal rows were asked for).
    visible = dataset["visibility"].eq(PUBLIC) if not include_internal else pd.Series(True, index=dataset.index)
    rows = dataset.loc[visible].reset_index(drop=True)
    if not include_internal:
        rows = without_hidden_links(rows)
    result = FtmExport(internal_left_out=int((~visible).sum()))
    build = _Builder()

    parties = party_table(rows, register)
    for party in parties.itertuples(index=False):
        entity = build.entity(party.schema, party.entity_id)
        where = f"entity {party.name!r}"
        build.put(entity, "name", party.name, where)
        build.put(entity, "alias", [a.strip() for a in party.aliases.split(ALIAS_SEPARATOR)], where)
        build.put(entity, "country", list(party.countries), where)
        build.put(entity, "notes", party.notes, where)
        build.check(entity, where)
        result.entities.append(entity)
    result.parties = len(parties)

    # Every value as a plain list, prepared for all rows at once; the loop only hands them to FtM.
    dates = ftm_dates(rows)
    values: dict[str, list] = {prop: _column_text(rows, column).tolist() for column, prop in PLAIN_PROPERTIES.items()}
    # Split as the ledger check splits them (' | ', or a bare '|').
    urls = split_sources(rows["sources"].astype("str")).groupby(level=0).agg(list)
    values["sourceUrl"] = urls.reindex(rows.index).map(lambda found: found if isinstance(found, list) else []).tolist()
    values.update({prop: dates[prop].tolist() for prop in dates.columns})
    values.update({prop: rows[f"{column}_id"].tolist() for column, prop in PARTY_PROPERTIES.items()})
    values["description"] = payment_description(rows, parties).tolist()
    publishers = rows["source_publisher"].astype("str").str.split(SOURCE_SEPARATOR, regex=False).tolist()
    published = rows["source_date"].astype("str").str.split(SOURCE_SEPARATOR, regex=False).tolist()
    proofs: dict[str, EntityProxy] = {}
    link_proof = not ftm3 and PAYMENT.get("proof") is not None
    published_at = DOCUMENT.get("publishedAt").type

    payments: list[EntityProxy] = []
    for position, row_id in enumerate(rows["id"].tolist()):
        where = f"row {row_id!r}"
        payment = build.entity(PAYMENT.name, make_entity_id(PAYMENT_KEY, row_id))
        for prop, column in values.items():
            build.put(payment, prop, column[position], where)
        if link_proof:
            urls = values["sourceUrl"][position]
            names = publishers[position] if len(publishers[position]) == len(urls) else [""] * len(urls)
            days = published[position] if len(published[position]) == len(urls) else [""] * len(urls)
            for url, publisher, day in zip(urls, names, days):
                document = proofs.get(url)
                if document is None:
                    document = proofs[url] = build.entity(DOCUMENT.name, make_entity_id(SOURCE_KEY, url))
                    build.put(document, "sourceUrl", url, f"source {url}")
                    build.put(document, "fileName", _file_name(url), f"source {url}")
                build.put(document, "publisher", publisher.strip(), f"source {url}")
                # "n.d." and other undated markers are kept in the Payment's source_date line only.
                if published_at.clean(day.strip()) is not None:
                    build.put(document, "publishedAt", day.strip(), f"source {url}")
                build.put(payment, "proof", document.id, where)
        build.check(payment, where)
        payments.append(payment)
    for url, document in proofs.items():
        build.check(document, f"source {url}")
    if build.problems:
        raise FtmExportInvalid(build.problems)
    result.entities += [*proofs.values(), *payments]
    result.payments, result.documents = len(payments), len(proofs)
    return result
