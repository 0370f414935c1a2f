"""Ledger issues (one per bad cell) and the small exception hierarchy the ETL raises."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import pandas as pd

ERROR = "error"
WARNING = "warning"
# LedgerIssue.as_dict spells these out in this order.
ISSUE_COLUMNS = ("file", "row", "column", "value", "code", "message", "severity")
# Printed for the row or the column of an issue about a whole file (or a whole row).
WHOLE = "—"
# Shown instead of a colon inside a column name (a source's "Amount: USD"), which looks the same and splits nothing.
RATIO = "\u2236"


@dataclass(frozen=True)
class LedgerIssue:
    """A problem with one cell (or one row, or one file) of a ledger, named so a journalist can find it."""

    file: str
    row: int | None
    column: str
    value: str
    code: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        # Always file:row:column, so a line can be split on its first two colons: a whole-file or whole-row
        # problem says so with a dash, and a colon inside the column text would shift the fields.
        row = WHOLE if self.row is None else str(self.row)
        column = self.column.replace(":", RATIO) if self.column.strip() else WHOLE
        value = self.value if len(self.value) <= 80 else self.value[:77] + "..."
        level = "" if self.severity == ERROR else "warning: "
        return f"{self.file}:{row}:{column}: {value!r} — {level}{self.message}"

    def as_dict(self) -> dict:
        # Every field is a str, int or None, so asdict's recursive copy (slow for a hundred thousand warnings)
        # would return the same.
        return {"file": self.file, "row": self.row, "column": self.column, "value": self.value, "code": self.code,
                "message": self.message, "severity": self.severity}


class EtlError(Exception):
    """Base class for errors the command line reports without a traceback."""


class LedgerInvalid(EtlError):
    """Raised when ledgers have issues: carries every issue found, never just the first."""

    def __init__(self, issues: list[LedgerIssue], not_listed: dict[tuple[str, str], int] | None = None):
        self.issues = issues
        # Issues counted but not listed, per (severity, code) (a build lists at most 100,000 of one kind).
        self.not_listed = not_listed or {}
        errors = sum(1 for i in issues if i.severity == ERROR)
        super().__init__(f"{errors} issue(s) in the ledgers")


class LookupInvalid(EtlError):
    """Raised when a lookup table under ledgers/lookups is malformed."""


def issues_from_mask(frame: pd.DataFrame, mask: pd.Series, column: str, values: pd.Series, code: str,
                     message: str | pd.Series, severity: str = ERROR) -> list[LedgerIssue]:
    """Turn the rows selected by mask into issues; only the (rare) bad rows are iterated."""
    from .schema import ROW_FILE, ROW_NUMBER

    if not bool(mask.any()):
        return []
    bad = frame.loc[mask, [ROW_FILE, ROW_NUMBER]]
    # Plain Python lists first: iterating Arrow-backed Series element by element is several times slower.
    files, rows = bad[ROW_FILE].tolist(), bad[ROW_NUMBER].tolist()
    vals = values[mask].astype("str").fillna("").tolist()
    if isinstance(message, pd.Series):
        msgs = message[mask]
        texts = [str(m) for m in msgs.reindex(bad.index).tolist()] if msgs.index.is_unique else \
            [str(msgs.loc[idx]) for idx in bad.index]
    else:
        texts = [message] * len(files)
    return [LedgerIssue(str(f), int(r), column, str(v), code, m, severity)
            for f, r, v, m in zip(files, rows, vals, texts)]


def sort_issues(issues: Iterable[LedgerIssue]) -> list[LedgerIssue]:
    """Order issues the way a journalist reads them: by file, then row, then column."""
    return sorted(issues, key=lambda i: (i.file, i.row if i.row is not None else -1, i.column, i.code))


def print_issues(issues: list[LedgerIssue], out=None, max_warnings: int | None = None,
                 where_all: str = "all of them are in build/report.txt",
                 not_listed: dict[tuple[str, str], int] | None = None) -> None:
    """Every error, then the warnings (at most max_warnings of them), one `file:row:column` line each; issues
    counted but not listed (not_listed, per severity and code) are in the counts by kind."""
    import sys

    from .issue_groups import issue_counts

    out = out or sys.stdout
    errors = [i for i in issues if i.severity == ERROR]
    warnings = [i for i in issues if i.severity != ERROR]
    not_listed = not_listed or {}
    kinds = issue_counts(issues, not_listed)
    if len(kinds) > 1 or len(issues) > 1 or not_listed:
        print("By kind:", file=out)
        for line in kinds:
            print(f"  {line}", file=out)
    errors_left = sum(n for (severity, _), n in not_listed.items() if severity == ERROR)
    warnings_left = sum(not_listed.values()) - errors_left
    if errors:
        print(f"{len(errors) + errors_left} issue(s) must be fixed"
              + (f" ({errors_left:,} counted above but not listed)" if errors_left else "") + ":", file=out)
        for issue in errors:
            print(f"  {issue}", file=out)
    if warnings:
        print(f"{len(warnings) + warnings_left} warning(s)"
              + (f" ({warnings_left:,} counted above but not listed)" if warnings_left else "") + ":", file=out)
        shown = warnings if max_warnings is None else warnings[:max_warnings]
        for issue in shown:
            print(f"  {issue}", file=out)
        if len(shown) < len(warnings):
            print(f"  … and {len(warnings) - len(shown)} more ({where_all})", file=out)
