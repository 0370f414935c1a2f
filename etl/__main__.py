"""Command line: python -m etl build | check | template | extract."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ERROR, EtlError, LedgerInvalid, LedgerIssue, print_issues
from .schema import BUILD_DIR, LEDGER_DIR

MAX_WARNINGS_SHOWN = 50


def _print_issues(issues: list[LedgerIssue], stream=None) -> None:
    print_issues(issues, stream, MAX_WARNINGS_SHOWN)


def cmd_build(args: argparse.Namespace) -> int:
    from .emit import readable_report, summarise
    from .pipeline import run_build

    try:
        result = run_build(Path(args.ledgers), Path(args.out))
    except LedgerInvalid as exc:
        _print_issues(exc.issues)
        print("Nothing was written: fix the issues above and run the build again.")
        return 1
    report = readable_report(summarise(result), result.issues, include_warnings=False)
    print(report, end="")
    _print_issues(result.warnings)
    print(f"Wrote {Path(args.out) / 'transfers.parquet'} and the report in {args.out}/")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .load import discover_ledgers
    from .pipeline import build

    root = Path(args.ledgers)
    paths = [Path(p) for p in args.paths] if args.paths else None
    if paths:
        missing = [p for p in paths if not p.exists()]
        if missing:
            print("No such file: " + ", ".join(map(str, missing)))
            return 1
        # Other ledgers under the root are loaded too, so ids and links are checked against the whole collection.
        others = [p for p in discover_ledgers(root) if p.resolve() not in {q.resolve() for q in paths}]
        result = build(root, paths=[*paths, *others])
        wanted = {p.resolve() for p in paths}
        labels = {ledger.label for ledger in result.ledgers if ledger.path.resolve() in wanted}
        issues = [i for i in result.issues if i.file in labels or i.row is None and i.file not in
                  {ledger.label for ledger in result.ledgers}]
    else:
        result = build(root)
        issues = result.issues
    _print_issues(issues)
    errors = sum(1 for i in issues if i.severity == ERROR)
    print(f"Checked {len(result.ledgers)} ledger(s), {len(result.dataset)} rows: "
          + ("OK" if not errors else f"{errors} issue(s)"))
    return 1 if errors else 0


def cmd_template(args: argparse.Namespace) -> int:
    from .template import write_template

    path = Path(args.path)
    if path.suffix.lower() != ".xlsx":
        print("The template is an Excel file: give a path ending in .xlsx")
        return 1
    write_template(path)
    print(f"Wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # extract owns its arguments; hand it everything after the sub-command.
    if argv and argv[0] == "extract":
        from .extract.cli import main as extract_main
        return extract_main(argv[1:])

    parser = argparse.ArgumentParser(prog="python -m etl", description="Validate and normalise the ledgers.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="validate every ledger and write the dataset to build/")
    p_build.add_argument("--ledgers", default=str(LEDGER_DIR), help="ledger folder (default: ledgers/)")
    p_build.add_argument("--out", default=str(BUILD_DIR), help="output folder (default: build/)")
    p_build.set_defaults(func=cmd_build)
    p_check = sub.add_parser("check", help="validate ledgers only (for a newsroom's CI)")
    p_check.add_argument("paths", nargs="*", help="ledger files (default: every ledger under --ledgers)")
    p_check.add_argument("--ledgers", default=str(LEDGER_DIR), help="ledger folder (default: ledgers/)")
    p_check.set_defaults(func=cmd_check)
    p_template = sub.add_parser("template", help="write an Excel template a journalist can fill in")
    p_template.add_argument("path", help="where to write it, e.g. my-ledger.xlsx")
    p_template.set_defaults(func=cmd_template)
    sub.add_parser("extract", help="extract candidate transfers from an article (see: python -m etl extract -h)")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except EtlError as exc:
        print(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
