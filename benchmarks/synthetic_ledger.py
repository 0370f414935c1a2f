"""Generate a SYNTHETIC ledger (every figure made up, labelled as such) for benchmarks and scale tests.

Rows mix currencies, every date shape, name variants of registered entities and about 1% bad rows.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pandas as pd

from etl.schema import LEDGER_COLUMNS

CURRENCIES = np.array(["USD", "EUR", "GBP", "$", "€", "CHF", "JPY", "SEK", "usd"])
COUNTRIES = np.array(["GB", "AZ", "US", "DE", "IT", "UK", "Hungary", "BVI", "multiple", "FR", "BE", "RU", ""])
KINDS = np.array(["payment", "payment", "payment", "total", "at_least", "estimate", "monthly", "yearly"])
CONFIDENCE = np.array(["reported", "reported", "alleged", "confirmed", "official_record", "admitted"])
BAD_AMOUNTS = np.array(["lots", "1.234", "-5", "", "12.345678"])


def _thousands(values: np.ndarray) -> pd.Series:
    """253150 → '253,150' without a Python loop."""
    text = pd.Series(values.astype(str))
    millions, thousands, units = values // 1_000_000, (values // 1000) % 1000, values % 1000
    return pd.Series(np.select(
        [millions > 0, thousands > 0],
        [pd.Series(millions.astype(str)) + "," + pd.Series(thousands.astype(str)).str.zfill(3) + ","
         + pd.Series(units.astype(str)).str.zfill(3),
         pd.Series(thousands.astype(str)) + "," + pd.Series(units.astype(str)).str.zfill(3)], text))


def synthetic_entities(count: int) -> pd.DataFrame:
    names = [f"Synthetic Entity {i:04d} Ltd" for i in range(count)]
    aliases = [f"SYNTHETIC ENTITY {i:04d} LTD.|Synth Ent {i:04d}" for i in range(count)]
    return pd.DataFrame({"name": names, "kind": "company", "country": "GB", "aliases": aliases,
                         "notes": "SYNTHETIC benchmark entity"})


def synthetic_ledger(rows: int, seed: int = 0, bad_share: float = 0.01, entities: int = 500, start: int = 0
                     ) -> pd.DataFrame:
    """`rows` SYNTHETIC rows; `start` numbers them from there (ids synthetic-<start>…), for a ledger written in
    parts, each drawn with its own seed."""
    rng = np.random.default_rng(seed if not start else (seed, start))
    idx = np.arange(rows) + start
    year = rng.integers(2000, 2024, rows)
    month = rng.integers(1, 13, rows)
    day = rng.integers(1, 29, rows)
    shape = rng.integers(0, 6, rows)
    y, m, d = (pd.Series(v.astype(str)) for v in (year, month, day))
    m2, d2 = m.str.zfill(2), d.str.zfill(2)
    dates = np.select(
        [shape == 0, shape == 1, shape == 2, shape == 3, shape == 4],
        [y + "-" + m2 + "-" + d2, y + "-" + m2, y, y + "/" + (year + 1).astype(str), y + "-" + m2 + "/.."],
        "n.d.")
    whole = rng.integers(1, 5_000_000, rows)
    cents = rng.integers(0, 100, rows)
    style = rng.integers(0, 5, rows)
    plain = pd.Series(whole.astype(str))
    amounts = np.select(
        [style == 0, style == 1, style == 2, style == 3],
        [plain, plain + "." + pd.Series(cents.astype(str)).str.zfill(2),
         _thousands(whole),
         pd.Series((whole % 90 + 1).astype(str)) + "," + pd.Series((cents % 10).astype(str)) + " Mio."],
        plain + " k")
    base_names = np.array([f"Synthetic Entity {i:04d} Ltd" for i in range(entities)])
    variants = np.array([f"SYNTHETIC ENTITY {i:04d} LTD." for i in range(entities)])
    unregistered = np.array([f"Unregistered Synthetic Payer {i:03d}" for i in range(300)])
    pick = rng.integers(0, entities, rows)
    payer = np.where(rng.random(rows) < 0.5, base_names[pick], variants[pick])
    payer = np.where(rng.random(rows) < 0.02, unregistered[pick % 300], payer)
    recipient = base_names[rng.integers(0, entities, rows)]
    frame = pd.DataFrame({
        "id": pd.Series(idx.astype(str)).radd("synthetic-"),
        "date": dates,
        "date_note": np.where(dates == "n.d.", "SYNTHETIC: undated on purpose", ""),
        "amount": amounts,
        "currency": CURRENCIES[rng.integers(0, len(CURRENCIES), rows)],
        "amount_kind": KINDS[rng.integers(0, len(KINDS), rows)],
        "payer": payer,
        "payer_country": COUNTRIES[rng.integers(0, len(COUNTRIES), rows)],
        "intermediary": np.where(rng.random(rows) < 0.2, "Synth Ent 0001; Synthetic Entity 0002 Ltd", ""),
        "recipient": recipient,
        "recipient_country": COUNTRIES[rng.integers(0, len(COUNTRIES), rows)],
        "part_of": "",
        "same_as": "",
        "confidence": CONFIDENCE[rng.integers(0, len(CONFIDENCE), rows)],
        "status_note": "",
        "sources": pd.Series(idx.astype(str)).radd("https://example.org/synthetic/"),
        "source_publisher": "SYNTHETIC",
        "source_date": "",
        "purpose": "SYNTHETIC benchmark row",
        "notes": "",
        "visibility": np.where(rng.random(rows) < 0.05, "internal", "public"),
    })
    # Nested and restated rows point at earlier rows, so links never loop.
    linked = rng.random(rows) < 0.1
    linked[0] = False
    target = (idx - start - 1 - rng.integers(0, 10, rows)).clip(min=0)
    part = linked & (idx % 2 == 0)
    same = linked & (idx % 2 == 1)
    frame.loc[part, "part_of"] = frame["id"].to_numpy()[target[part]]
    frame.loc[same, "same_as"] = frame["id"].to_numpy()[target[same]]
    # Links always point at an earlier row, so they can never loop.
    bad = rng.random(rows) < bad_share
    frame.loc[bad, "amount"] = BAD_AMOUNTS[rng.integers(0, len(BAD_AMOUNTS), int(bad.sum()))]
    return frame[list(LEDGER_COLUMNS)]


PART_ROWS = 1_000_000


def write_synthetic(folder: Path, rows: int, seed: int = 0, bad_share: float = 0.01) -> Path:
    """A ledgers/ folder: one SYNTHETIC ledger plus lookups (real CPI and country spellings, synthetic entities).
    Above a million rows the ledger is drawn and appended a million rows at a time (each part with its own seed,
    links inside the part), so a 40-million-row ledger is written in bounded memory."""
    from etl.schema import LOOKUP_DIR

    folder.mkdir(parents=True, exist_ok=True)
    lookups = folder / "lookups"
    lookups.mkdir(exist_ok=True)
    for name in ("us_cpi.csv", "countries.csv", "fx_rates.csv"):
        (lookups / name).write_bytes((LOOKUP_DIR / name).read_bytes())
    synthetic_entities(500).to_csv(lookups / "entities.csv", index=False)
    path = folder / "synthetic.csv"
    for start in range(0, max(rows, 1), PART_ROWS):
        part = synthetic_ledger(min(PART_ROWS, rows - start), seed, bad_share, start=start)
        part.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL, mode="w" if start == 0 else "a", header=start == 0)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bad-share", type=float, default=0.01)
    args = parser.parse_args()
    print(write_synthetic(args.folder, args.rows, args.seed, args.bad_share))
