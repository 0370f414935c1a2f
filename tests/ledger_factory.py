"""Small helpers that write fixture ledgers and lookups into a temporary folder for ETL tests."""
from __future__ import annotations

import csv
from pathlib import Path

from etl.schema import LEDGER_COLUMNS

CPI_SOURCE = "https://data.bls.gov/timeseries/CUUR0000SA0"
# Real BLS CPI-U annual averages, as shipped in ledgers/lookups/us_cpi.csv.
CPI = {2008: 215.303, 2012: 229.594, 2013: 232.957, 2014: 236.736, 2024: 313.689}


def write_lookups(root: Path, entities: list[dict] | None = None, fx_rates: str = "") -> Path:
    lookups = root / "lookups"
    lookups.mkdir(parents=True, exist_ok=True)
    (lookups / "us_cpi.csv").write_text("year,cpi,source\n" + "".join(
        f"{y},{c},{CPI_SOURCE}\n" for y, c in CPI.items()), encoding="utf-8")
    (lookups / "countries.csv").write_text(
        "spelling,code,name,reason\nUK,GB,United Kingdom,common abbreviation\n"
        "BVI,VG,British Virgin Islands,common abbreviation\nmultiple,ZZ,Multiple countries,spread over several\n",
        encoding="utf-8")
    rows = entities if entities is not None else [
        {"name": "Luca Volontè", "kind": "person", "country": "IT", "aliases": "Volonte|Volonté|Luca Volonte"},
        {"name": "Metastar Invest LLP", "kind": "company", "country": "GB", "aliases": "Metastar"},
        {"name": "Azerbaijani Laundromat", "kind": "group", "country": "", "aliases": ""},
    ]
    with open(lookups / "entities.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["name", "kind", "country", "aliases", "notes"])
        writer.writeheader()
        for row in rows:
            writer.writerow({"notes": "", **row})
    (lookups / "fx_rates.csv").write_text("currency,date_start,date_end,usd_per_unit,source\n" + fx_rates,
                                          encoding="utf-8")
    return lookups


def row(**cells: str) -> dict:
    """A valid ledger row; keyword arguments override cells."""
    base = {"id": "r1", "date": "2013-05", "amount": "1000", "currency": "USD", "amount_kind": "payment",
            "payer": "Metastar Invest LLP", "payer_country": "GB", "recipient": "Luca Volontè",
            "recipient_country": "IT", "confidence": "reported", "sources": "https://example.org/story"}
    base.update(cells)
    return base


def write_csv(path: Path, rows: list[dict], columns: tuple[str, ...] | list[str] = LEDGER_COLUMNS,
              delimiter: str = ",", encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), delimiter=delimiter, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "") for c in columns})
    return path


def ledger_folder(tmp_path: Path, rows: list[dict], name: str = "test.csv") -> Path:
    """A ledgers/ folder with lookups and one CSV ledger holding rows."""
    root = tmp_path / "ledgers"
    write_lookups(root)
    write_csv(root / name, rows)
    return root


def build_with_planted_columns(root: Path, out: Path, **columns) -> Path:
    """Build root into out, then publish a new build whose dataset has `columns` replaced by the given values:
    what the ETL would refuse (a javascript: source, say) planted directly, to test that readers do not rely on
    the ETL for their own safety."""
    from etl.builds import current_build, publish
    from etl.emit import read_dataset
    from etl.pipeline import run_build

    run_build(root, out)
    built = current_build(out)
    dataset = read_dataset(built / "transfers.parquet")
    for name, values in columns.items():
        dataset[name] = values

    def planted(folder: Path) -> None:
        for name in ("entities.csv", "report.json"):
            (folder / name).write_bytes((built / name).read_bytes())
        dataset.to_parquet(folder / "transfers.parquet", index=False)

    publish(out, planted)
    return out
