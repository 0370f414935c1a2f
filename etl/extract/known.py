"""Rows already in the ledgers, reduced to what a candidate is compared with: exact amount, currency, sources, text."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

from ..amounts import format_scaled, parse_amounts
from ..currency import resolve_currencies
from ..load import discover_ledgers, read_ledger
from ..schema import ROW_FILE, ROW_NUMBER, SOURCE_SEPARATOR
from .candidates import STATUS, STATUS_CANDIDATE, STATUS_KNOWN

KNOWN_COLUMNS = ("id", "file", "row", "amount", "currency", "sources", "text")


def known_rows(ledger_dir: Path) -> pd.DataFrame:
    """Every ledger row whose amount and currency parse, with the amount as a plain exact decimal string."""
    ledgers = [read_ledger(path, ledger_dir) for path in discover_ledgers(Path(ledger_dir))]
    frames = [ledger.frame for ledger in ledgers if len(ledger.frame)]
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in KNOWN_COLUMNS})
    raw = pd.concat(frames, ignore_index=True)
    scaled, marker, _ = parse_amounts(raw["amount"], raw)
    code, _ = resolve_currencies(raw["currency"], marker, raw)
    table = pd.DataFrame({
        "id": raw["id"].str.strip(),
        "file": raw[ROW_FILE].astype("str"),
        "row": raw[ROW_NUMBER].astype("str"),
        "amount": format_scaled(scaled),
        "currency": code,
        "sources": raw["sources"],
        "text": (raw["notes"] + " " + raw["purpose"]).map(squash),
    })
    return table[table["amount"].ne("") & table["currency"].ne("")].reset_index(drop=True)


def squash(text: str) -> str:
    """Whitespace folded, for comparing a quote with a ledger cell that may have been re-wrapped."""
    return re.sub(r"\s+", " ", str(text)).strip().casefold()


def mark_known(rows: list[dict[str, str]], known: pd.DataFrame) -> list[dict[str, str]]:
    """Mark candidates matching a ledger row (same amount and currency, and same source or same quote)."""
    if known.empty:
        return rows
    by_money: dict[tuple[str, str], list[dict]] = {}
    for record in known.to_dict("records"):
        by_money.setdefault((_exact(record["amount"]), record["currency"]), []).append(record)
    marked = []
    for row in rows:
        row = dict(row)
        amount = _exact(row["amount"])
        source = row["sources"].strip()
        quote = squash(row.get("quote", ""))
        for record in by_money.get((amount, row["currency"]), []):
            sources = {s.strip() for s in record["sources"].split(SOURCE_SEPARATOR.strip())}
            if (source and source in sources) or (quote and quote in record["text"]):
                if row.get(STATUS, STATUS_CANDIDATE) == STATUS_CANDIDATE:
                    row[STATUS] = STATUS_KNOWN
                row["ledger_id"] = record["id"]
                break
        marked.append(row)
    return marked


def _exact(amount: str) -> Decimal | None:
    """A plain decimal string as an exact value (trailing zeros do not matter); None when it is not one."""
    try:
        return Decimal(amount.strip()).normalize()
    except InvalidOperation:
        return None
