"""Issues grouped by kind (severity and code) with counts: the summary a reporter reads before the list.

An import of a large register can raise thousands of warnings of a few kinds (2,378 unregistered names, say);
the command line, report.txt and report.json all show them as one line per kind first.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from .errors import ERROR, LedgerIssue


def kind_label(message: str) -> str:
    """The part of a message that is the same for every issue of its kind: up to the first detail in brackets,
    semicolon or colon ("not in the entity register (in 3 rows…); did you mean…" → "not in the entity register")."""
    return re.split(r" \(|; |: | — ", message, maxsplit=1)[0].strip()


def group_issues(issues: Iterable[LedgerIssue], not_listed: dict[tuple[str, str], int] | None = None
                 ) -> list[dict]:
    """One entry per (severity, code): count, a label, and the first issue as an example; errors first, then
    the largest groups. not_listed: issues of a kind counted but not in the list (a build's listing limit)."""
    counts: Counter = Counter(not_listed or {})
    first: dict[tuple[str, str], LedgerIssue] = {}
    labels: dict[tuple[str, str], str] = {}
    # Messages repeat (one kind often has one text), so each distinct message is split once.
    label_of: dict[str, str] = {}
    for issue in issues:
        key = (issue.severity, issue.code)
        counts[key] += 1
        first.setdefault(key, issue)
        label = label_of.get(issue.message)
        if label is None:
            label = label_of[issue.message] = kind_label(issue.message)
        # A kind whose messages differ (mapping problems, say) is named by its code alone.
        labels[key] = label if labels.get(key, label) == label else ""
    groups = [{"severity": severity, "code": code, "count": count, "label": labels[(severity, code)],
               "example": str(first[(severity, code)])} for (severity, code), count in counts.items()]
    return sorted(groups, key=lambda g: (g["severity"] != ERROR, -g["count"], g["code"]))


def issue_counts(issues: Iterable[LedgerIssue], not_listed: dict[tuple[str, str], int] | None = None) -> list[str]:
    """One line per kind: "warning entity_unregistered × 2,378: not in the entity register"."""
    return group_lines(group_issues(issues, not_listed))


def group_lines(groups: list[dict]) -> list[str]:
    """group_issues' groups as issue_counts' lines."""
    return [f"{'issue' if g['severity'] == ERROR else 'warning'} {g['code']} × {g['count']:,}"
            + (f": {g['label']}" if g["label"] else "") for g in groups]
