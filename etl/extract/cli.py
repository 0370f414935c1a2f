"""python -m etl extract: candidates from an article, or --append reviewed candidates to a ledger."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import pandas as pd

from .. import errors as errors_module
from ..errors import EtlError, LedgerIssue
from ..load import NON_LEDGER_DIRS
from ..schema import LEDGER_DIR
from ..uniques import fullmatch
from ..validate import URL_PATTERN
from .append import append_reviewed
from .candidates import STATUS, STATUS_KNOWN, Candidate, extract_candidates
from .known import known_rows, mark_known
from .parties import gazetteer_for
from .review import CANDIDATE_SUFFIXES, write_candidates
from .text import read_article

QUOTE_WIDTH = 160


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m etl extract",
        description="Find money mentions in an article and write them as candidate ledger rows to review; "
                    "then append the rows you accepted to a ledger.",
        epilog="Review: open the candidate file, set status to 'accepted' on the rows to keep (fill in payer, "
               "recipient and sources where empty), then run: python -m etl extract --append REVIEWED.csv "
               "--ledger ledgers/X.csv")
    parser.add_argument("article", nargs="?", help="article as .txt, .md or .html")
    parser.add_argument("--source-url", default="", help="the article's URL (becomes each row's sources)")
    parser.add_argument("-o", "--output", help="candidate file to write, .csv or .xlsx "
                                               "(default: ARTICLE.candidates.csv beside the article)")
    parser.add_argument("--append", metavar="REVIEWED", help="reviewed candidate file (.csv or .xlsx) to append")
    parser.add_argument("--ledger", help="ledger to append to (with --append)")
    parser.add_argument("--ledgers", default=None,
                        help="ledger folder used for the register, duplicates and validation "
                             "(default: ledgers/, or the folder above --ledger holding lookups/)")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has already printed the usage and the problem
        return int(exc.code or 0)
    try:
        if args.append:
            if args.article:
                print("Give either an ARTICLE to extract from or --append REVIEWED, not both.")
                return 1
            if not args.ledger:
                print("--append needs --ledger PATH (the ledger to add the accepted rows to).")
                return 1
            return run_append(Path(args.append), Path(args.ledger), Path(args.ledgers) if args.ledgers else None)
        if not args.article:
            parser.print_usage()
            print("Give an ARTICLE file (.txt, .md or .html), or --append REVIEWED --ledger LEDGER.")
            return 1
        return run_extract(Path(args.article), args.source_url.strip(), args.output,
                           Path(args.ledgers) if args.ledgers else LEDGER_DIR)
    except EtlError as exc:
        print(f"error: {exc}")
        return 1


def run_extract(article_path: Path, source_url: str, output: str | None, ledger_dir: Path,
                out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if source_url and not fullmatch(pd.Series([source_url], dtype="str"), URL_PATTERN).iloc[0]:
        print(f"--source-url must be a full http(s) address, not {source_url!r}", file=out)
        return 1
    target = Path(output) if output else article_path.with_name(article_path.stem + ".candidates.csv")
    if target.suffix.lower() not in CANDIDATE_SUFFIXES:
        print(f"-o must end in .csv or .xlsx, not {target.suffix or '(none)'!r}", file=out)
        return 1
    problem = inside_ledgers(target, ledger_dir)
    if problem:
        print(problem, file=out)
        return 1
    article = read_article(article_path)
    candidates = extract_candidates(article, source_url, gazetteer_for(ledger_dir / "lookups"))
    rows = mark_known([c.row for c in candidates], known_rows(ledger_dir))
    write_candidates(target, rows)
    print(readable_list(article.name, candidates, rows), file=out)
    print(f"Wrote {len(rows)} candidate(s) to {target}", file=out)
    if rows and not source_url:
        print("Note: no --source-url given; fill in sources before appending.", file=out)
    return 0


def inside_ledgers(target: Path, ledger_dir: Path) -> str:
    """A candidate file inside ledgers/ (outside imports/) would be read as a ledger by every build."""
    try:
        rel = target.resolve().relative_to(Path(ledger_dir).resolve())
    except ValueError:
        return ""
    if rel.parts and rel.parts[0] in NON_LEDGER_DIRS:
        return ""
    return (f"{target} is inside the ledger folder, where every build would read it as a ledger: write candidates "
            f"elsewhere (or under {Path(ledger_dir) / 'imports'}/)")


def readable_list(name: str, candidates: list[Candidate], rows: list[dict[str, str]]) -> str:
    """One block per candidate: number, amount, kind, date, parties, citation, and the quote."""
    if not rows:
        return f"{name}: no money mentions found."
    lines = [f"{name}: {len(rows)} money mention(s)"]
    for number, row in enumerate(rows, start=1):
        parties = f"{row['payer'] or '?'} → {row['recipient'] or '?'}"
        if row["intermediary"]:
            parties += f" (via {row['intermediary']})"
        known = f"  [already in ledger: {row['ledger_id']}]" if row[STATUS] == STATUS_KNOWN else ""
        lines.append(f"{number:>3}. {row['currency']} {_grouped(row['amount'])} ({row['amount_kind']})"
                     f"  date {row['date'] or '—'}  {parties}  {row['citation']}{known}")
        quote = row["quote"] if len(row["quote"]) <= QUOTE_WIDTH else row["quote"][:QUOTE_WIDTH - 1] + "…"
        lines.append(f"     “{quote}”  [{row['mention']}, chars {row['char_start']}–{row['char_end']}]")
    return "\n".join(lines)


def _grouped(amount: str) -> str:
    whole, _, fraction = amount.partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")


def run_append(reviewed: Path, ledger: Path, ledger_dir: Path | None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    result = append_reviewed(reviewed, ledger, ledger_dir)
    print_issues(result.issues, out)
    if result.errors:
        print(f"Nothing was appended to {ledger}: fix the rows above in {reviewed.name} and run again.", file=out)
        return 1
    print(f"Appended {len(result.appended)} row(s) to {ledger}: {', '.join(result.appended)}", file=out)
    print("Run 'python -m etl build' to rebuild the dataset.", file=out)
    return 0


def print_issues(issues: list[LedgerIssue], out: TextIO | None = None) -> None:
    errors_module.print_issues(issues, out)
