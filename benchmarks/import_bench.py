"""Benchmark: import a SYNTHETIC source in the OCCRP Laundromat raw-data layout through the shipped mapping.

Every figure and name in the source is made up (generated here, and labelled synthetic in its purpose column);
only the layout copies the real file's. Each measurement runs in its own fresh process, so its peak memory is
its own. Prints a bare `pandas.read_csv` of the same file, then the import (read, map, check, propose merges,
write the ledger) in seconds, rows/s, the ratio and peak memory.
Run: python benchmarks/import_bench.py --rows 1000000
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from etl.schema import LEDGER_DIR  # noqa: E402

LAYOUT = ("payer_name", "payer_jurisdiction", "payer_account", "source_file", "amount_orig", "id",
          "beneficiary_type", "beneficiary_core", "amount_orig_currency", "beneficiary_name",
          "beneficiary_jurisdiction", "investigation", "beneficiary_bank_country", "beneficiary_name_norm",
          "payer_core", "beneficiary_account", "purpose", "date", "amount_usd", "amount_eur", "payer_type",
          "payer_name_norm", "payer_bank_country")
JURISDICTIONS = np.array(["GB", "AZ", "VG", "EE", "DE", "IT", "TR", "RU", "NZ", "AE", "PA", "CZ", "UNKNOWN"])
CURRENCIES = np.array(["USD", "USD", "USD", "EUR", "EUR", "GBP", "RUB", "CHF"])
SUFFIXES = np.array([" LLP", " LIMITED", " LTD", " LTD.", " CORP", " CORP.", " GMBH&CO KG", " GMBH & CO.KG", " SRL",
                     " S.R.L", " AS", " MMC"])
NAMES = 20_000

STEP = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, {project!r})
from benchmarks import peak_memory_mb
import pandas as pd
started = time.perf_counter()
extra = {{}}
if {step!r} == "read":
    pd.read_csv({source!r}, dtype="str", keep_default_na=False)
else:
    from etl.imports.run import run_import
    result = run_import(Path({mapping!r}), Path({ledgers!r}))
    extra = {{"mapped": result.rows_mapped, "skipped": result.skipped, "errors": len(result.errors),
              "warnings": len(result.issues) - len(result.errors), "written": result.written,
              "proposals": 0 if result.proposals is None else len(result.proposals.table)}}
print(json.dumps({{"seconds": time.perf_counter() - started, "peak_mb": peak_memory_mb(), **extra}}))
"""


def write_source(path: Path, rows: int, seed: int) -> None:
    """A SYNTHETIC Laundromat-layout table: shell names with spelling variants, signed amounts, 1% exact
    duplicates, 0.5% blank amounts, some UNKNOWN jurisdictions."""
    rng = np.random.default_rng(seed)
    base = pd.Series([f"SYNTHETIC COMPANY {n:05d}" for n in range(NAMES)])
    name_country = JURISDICTIONS[rng.integers(0, len(JURISDICTIONS) - 1, NAMES)]

    def names(count: int) -> tuple[pd.Series, np.ndarray]:
        which = rng.integers(0, NAMES, count)
        suffix = SUFFIXES[(which % (len(SUFFIXES) // 2)) * 2 + rng.integers(0, 2, count)]
        return base.to_numpy()[which] + suffix, name_country[which]

    payer, payer_country = names(rows)
    beneficiary, beneficiary_country = names(rows)
    cents = rng.integers(100, 5_000_000_00, rows)
    sign = np.where(rng.random(rows) < 0.6, "-", "")
    amount = pd.Series(sign) + pd.Series(cents // 100).astype("str") + "." + pd.Series(cents % 100).astype(
        "str").str.zfill(2)
    amount[rng.random(rows) < 0.005] = ""
    days = pd.to_datetime("2012-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, rows), unit="D")
    ids = pd.Series(np.arange(1, rows + 1)).astype("str")
    frame = pd.DataFrame({
        "payer_name": payer, "payer_jurisdiction": payer_country,
        "payer_account": pd.Series(rng.integers(10**11, 10**12, rows)).astype("str"),
        "source_file": "pdf/SYNTHETIC statement " + pd.Series(rng.integers(0, 200, rows)).astype("str") + ".xml",
        "amount_orig": amount, "id": ids, "beneficiary_type": "Company", "beneficiary_core": "False",
        "amount_orig_currency": CURRENCIES[rng.integers(0, len(CURRENCIES), rows)],
        "beneficiary_name": beneficiary, "beneficiary_jurisdiction": beneficiary_country, "investigation": "az",
        "beneficiary_bank_country": "EE", "beneficiary_name_norm": beneficiary, "payer_core": "True",
        "beneficiary_account": pd.Series(rng.integers(10**11, 10**12, rows)).astype("str"),
        "purpose": "SYNTHETIC " + pd.Series(rng.integers(10**15, 10**16, rows)).astype("str") + " INVOICE",
        "date": days.strftime("%Y-%m-%d"), "amount_usd": pd.Series(cents // 100).astype("str"),
        "amount_eur": "$" + pd.Series(cents // 130).astype("str"), "payer_type": "Company",
        "payer_name_norm": payer, "payer_bank_country": "EE",
    })[list(LAYOUT)]
    unique_rows = rows - rows // 100
    duplicates = frame.iloc[:unique_rows].sample(n=rows - unique_rows, random_state=seed)
    frame = pd.concat([frame.iloc[:unique_rows], duplicates], ignore_index=True)
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path,
                     pa_csv.WriteOptions(quoting_style="all_valid"))


def setup(folder: Path, rows: int, seed: int) -> tuple[Path, Path, Path]:
    """A ledger folder with the shipped lookups and the hand-entered ledger (for the part_of link), the
    synthetic source, and the shipped OCCRP mapping pointed at it."""
    ledgers = folder / "ledgers"
    shutil.copytree(LEDGER_DIR / "lookups", ledgers / "lookups")
    shutil.copy(LEDGER_DIR / "azerbaijan.csv", ledgers / "azerbaijan.csv")
    (ledgers / "imports").mkdir()
    source = ledgers / "imports" / "synthetic_laundromat.csv"
    write_source(source, rows, seed)
    mapping_text = (LEDGER_DIR / "imports" / "occrp_laundromat.mapping.yml").read_text(encoding="utf-8")
    mapping_text = mapping_text.replace("file: occrp_laundromat_excerpt.csv", "file: synthetic_laundromat.csv")
    mapping = ledgers / "imports" / "synthetic_laundromat.mapping.yml"
    mapping.write_text(mapping_text, encoding="utf-8")
    return ledgers, source, mapping


def run_step(step: str, ledgers: Path, source: Path, mapping: Path) -> dict:
    from benchmarks import run_in_fresh_process

    return run_in_fresh_process(STEP.format(project=str(PROJECT), step=step, source=str(source),
                                            mapping=str(mapping), ledgers=str(ledgers)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    from benchmarks import interleaved_pairs, print_pairs

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ledgers, source, mapping = setup(Path(tmp), args.rows, args.seed)
        print(f"generated SYNTHETIC Laundromat-layout source: {args.rows:,} rows, "
              f"{source.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s")
        pairs = interleaved_pairs(args.pairs, lambda: run_step("read", ledgers, source, mapping),
                                  lambda: run_step("import", ledgers, source, mapping))
        imported = pairs[-1][1]
        print_pairs(pairs, "import (read, map, check, merge proposals, write)", args.rows)
        print(f"  rows mapped: {imported['mapped']:,}; skipped: {imported['skipped']}; "
              f"errors: {imported['errors']:,}; warnings: {imported['warnings']:,}; "
              f"merge proposals: {imported['proposals']:,}; ledger written: {imported['written']}")
        print(f"  peak memory of the import process (RSS): {max(i['peak_mb'] for _, i in pairs):,.0f} MB")


if __name__ == "__main__":
    main()
