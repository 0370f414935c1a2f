"""Command line: python -m etl build | check | template | extract | import | merges | export | import-ftm."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ERROR, EtlError, LedgerInvalid, LedgerIssue, print_issues
from .schema import BUILD_DIR, LEDGER_DIR

MAX_WARNINGS_SHOWN = 50


def _print_issues(issues: list[LedgerIssue], stream=None, not_listed: dict | None = None) -> None:
    print_issues(issues, stream, MAX_WARNINGS_SHOWN, not_listed=not_listed)


def cmd_build(args: argparse.Namespace) -> int:
    from .emit import readable_report
    from .pipeline import run_build

    options = {"part_rows": args.part_rows} if args.part_rows else {}
    client = None
    if args.dask:
        from .distributed import connect, dask_mapper

        client = connect(args.dask)
        options["mapper"] = dask_mapper(client)
    try:
        result = run_build(Path(args.ledgers), Path(args.out), with_csv=args.csv, **options)
    except LedgerInvalid as exc:
        _print_issues(exc.issues, not_listed=exc.not_listed)
        print("Nothing was written: fix the issues above and run the build again.")
        return 1
    finally:
        if client is not None:
            client.close()
    report = readable_report(result.summary, result.issues, include_warnings=False)
    print(report, end="")
    _print_issues(result.warnings, not_listed={k: n for k, n in result.left_out.items() if k[0] != ERROR})
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
        result = build(root, paths=[*paths, *others], with_dataset=False)
        wanted = {p.resolve() for p in paths}
        labels = {ledger.label for ledger in result.ledgers if ledger.path.resolve() in wanted}
        issues = [i for i in result.issues if i.file in labels or i.row is None and i.file not in
                  {ledger.label for ledger in result.ledgers}]
    else:
        result = build(root, with_dataset=False)
        issues = result.issues
    _print_issues(issues)
    errors = sum(1 for i in issues if i.severity == ERROR)
    print(f"Checked {len(result.ledgers)} ledger(s), {result.rows} rows: "
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


def cmd_import(args: argparse.Namespace) -> int:
    from .imports.run import import_report, run_import

    result = run_import(Path(args.mapping), Path(args.ledgers), write=not args.dry_run)
    print_issues(result.issues, None, None if args.all_warnings else MAX_WARNINGS_SHOWN,
                 "run with --all-warnings to list them")
    print(import_report(result), end="")
    return 1 if result.errors or result.mapping is None else 0


def cmd_merges(args: argparse.Namespace) -> int:
    from .imports.resolve import apply_merges

    path = Path(args.file)
    if not path.exists():
        print(f"No such file: {path}")
        return 1
    outcome = apply_merges(path, Path(args.ledgers) / "lookups")
    for problem in outcome.problems:
        print(f"  {problem}")
    if outcome.problems:
        print("Nothing was changed: fix the decisions above and apply again.")
        return 1
    print(f"{Path(args.ledgers) / 'lookups' / 'entities.csv'}: {outcome.entities} entit(ies) created, "
          f"{outcome.aliases} alias(es) added; confirmed rows are now marked 'applied' in {path.name}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .atomic import atomic_write_text
    from .ftm.export import export_ftm
    from .schema import DATASET_PARQUET

    if not (Path(args.build) / DATASET_PARQUET).exists():
        print(f"No dataset in {args.build}: run python -m etl build first")
        return 1
    export = export_ftm(Path(args.build), ftm3=args.ftm3, include_internal=args.include_internal)
    if args.output == "-":
        sys.stdout.write(export.jsonl())
    else:
        atomic_write_text(Path(args.output), export.jsonl())
    left_out = f"; {export.internal_left_out} internal row(s) left out" if export.internal_left_out else ""
    print(f"{export.payments} Payment(s), {export.parties} part(ies), {export.documents} source Document(s)"
          f"{left_out}" + ("" if args.output == "-" else f": wrote {args.output}"), file=sys.stderr)
    return 0


def cmd_import_ftm(args: argparse.Namespace) -> int:
    from .ftm.ingest import ftm_import_report, run_ftm_import

    result = run_ftm_import(Path(args.file), Path(args.ledgers), name=args.name, confidence=args.confidence,
                            dataset_urls=tuple(args.source), skip_incomplete=args.skip_incomplete,
                            write=not args.dry_run, visibility=args.visibility)
    print_issues(result.issues, None, None if args.all_warnings else MAX_WARNINGS_SHOWN,
                 "run with --all-warnings to list them")
    print(ftm_import_report(result), end="")
    return 1 if result.errors else 0


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
    p_build.add_argument("--csv", action="store_true", help="also write the dataset as CSV (build/transfers.csv); "
                                                             "by default it is written as Parquet only")
    p_build.add_argument("--dask", metavar="SCHEDULER-ADDRESS", help="normalise the ledgers' parts on this Dask "
                                                                     "distributed cluster (tcp://host:8786)")
    p_build.add_argument("--part-rows", type=int, default=0, help="rows per part (default: 200,000)")
    p_build.set_defaults(func=cmd_build)
    p_check = sub.add_parser("check", help="validate ledgers only (for a newsroom's CI)")
    p_check.add_argument("paths", nargs="*", help="ledger files (default: every ledger under --ledgers)")
    p_check.add_argument("--ledgers", default=str(LEDGER_DIR), help="ledger folder (default: ledgers/)")
    p_check.set_defaults(func=cmd_check)
    p_template = sub.add_parser("template", help="write an Excel template a journalist can fill in")
    p_template.add_argument("path", help="where to write it, e.g. my-ledger.xlsx")
    p_template.set_defaults(func=cmd_template)
    p_import = sub.add_parser("import", help="turn a public dataset into a ledger through a mapping "
                                             "(ledgers/imports/NAME.mapping.yml)")
    p_import.add_argument("mapping", help="the mapping file, e.g. ledgers/imports/occrp_laundromat.mapping.yml")
    p_import.add_argument("--ledgers", default=str(LEDGER_DIR), help="ledger folder (default: ledgers/)")
    p_import.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    p_import.add_argument("--all-warnings", action="store_true", help="list every warning (e.g. every skipped row)")
    p_import.set_defaults(func=cmd_import)
    p_merges = sub.add_parser("merges", help="apply the entity merges a reporter confirmed")
    p_merges.add_argument("action", choices=["apply"], help="apply: add confirmed variants as aliases")
    p_merges.add_argument("file", help="the merges file an import wrote, e.g. ledgers/imports/NAME.merges.csv")
    p_merges.add_argument("--ledgers", default=str(LEDGER_DIR), help="ledger folder (default: ledgers/)")
    p_merges.set_defaults(func=cmd_merges)
    p_export = sub.add_parser("export", help="write the built dataset for another tool (ftm: FollowTheMoney)")
    p_export.add_argument("format", choices=["ftm"], help="ftm: FollowTheMoney entities, one JSON object a line")
    p_export.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")
    p_export.add_argument("--ftm3", action="store_true", help="FtM 3.5 compatible (Aleph 4.x): no source Documents "
                                                              "or proof links")
    p_export.add_argument("--include-internal", action="store_true", help="export internal rows too (default: "
                                                                          "public rows only)")
    p_export.add_argument("--build", default=str(BUILD_DIR), help="build folder to read (default: build/)")
    p_export.set_defaults(func=cmd_export)
    p_import_ftm = sub.add_parser("import-ftm", help="turn FollowTheMoney entities (JSON lines) into a ledger "
                                                     "under ledgers/imported/")
    p_import_ftm.add_argument("file", help="FtM entities, one JSON object a line (Aleph, OpenSanctions, our export)")
    p_import_ftm.add_argument("--name", help="ledger name: writes ledgers/imported/NAME.csv (default: file name)")
    p_import_ftm.add_argument("--ledgers", default=str(LEDGER_DIR), help="ledger folder (default: ledgers/)")
    p_import_ftm.add_argument("--confidence", default="", help="confidence of payments that do not state one")
    p_import_ftm.add_argument("--visibility", default="internal", choices=["internal", "public"],
                              help="visibility of payments that do not state one (default: internal)")
    p_import_ftm.add_argument("--source", action="append", default=[], help="URL of the dataset, added to every "
                                                                            "row's sources (repeatable)")
    p_import_ftm.add_argument("--skip-incomplete", action="store_true", help="leave out payments without amount "
                                                                            "or parties (listed as warnings)")
    p_import_ftm.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    p_import_ftm.add_argument("--all-warnings", action="store_true", help="list every warning")
    p_import_ftm.set_defaults(func=cmd_import_ftm)
    sub.add_parser("extract", help="extract candidate transfers from an article (see: python -m etl extract -h)")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except EtlError as exc:
        print(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
