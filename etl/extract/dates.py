"""Find the date nearest a money mention in its sentence and write it the way the ledger's date column expects.

"between 2012 and 2014" → 2012/2014; "in July 2012" → 2012-07; "on 30 July 2012" → 2012-07-30; "in July" → the
month, with the year of the nearest earlier year in the same paragraph, else no date and a note saying why.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MONTHS: dict[str, int] = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
    # German, for court documents and German-language reports
    "januar": 1, "jänner": 1, "februar": 2, "märz": 3, "mai": 5, "juni": 6, "juli": 7, "oktober": 10,
    "dezember": 12,
}
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")
# Month names are matched only when capitalised, so "may" (the verb) and "march" (the walk) are not months.
_FULL_MONTHS = sorted((m.capitalize() for m in MONTHS if len(m) > 4 or m in ("may", "juni", "juli", "june", "july", "märz", "mai")), key=len, reverse=True)
_SHORT_MONTHS = sorted((m.capitalize() for m in MONTHS if m.capitalize() not in _FULL_MONTHS), key=len, reverse=True)
_MONTH = (r"(?P<{g}>(?:" + "|".join(_FULL_MONTHS) + r")(?![\w])|(?:" + "|".join(_SHORT_MONTHS) + r")(?![\w])\.?)")
_YEAR = r"(?P<{g}>(?:19|20)\d\d)(?![\d,.]?\d)"
_Y = r"(?<![\d.,/])" + _YEAR


def _p(pattern: str, **groups: str) -> str:
    for key, name in groups.items():
        pattern = pattern.replace("{" + key + "}", name)
    return pattern


_RANGE_WORDS = r"(?i:between|from|zwischen|von|vom)\s+"
_RANGE_SEP = r"\s*(?i:and|to|until|till|through|und|bis|–|—|-)\s*"
PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("month_range", re.compile(
        _RANGE_WORDS + _MONTH.format(g="m1") + r"\s+" + _YEAR.format(g="y1") + _RANGE_SEP
        + _MONTH.format(g="m2") + r"\s+" + _YEAR.format(g="y2"))),
    ("year_range", re.compile(
        r"(?:" + _RANGE_WORDS + r")?" + _Y.format(g="y1") + _RANGE_SEP + r"(?P<y2>(?:19|20)?\d\d)(?![\d,.]?\d)")),
    ("iso_day", re.compile(r"(?<![\d/])(?P<y>(?:19|20)\d\d)-(?P<m>[01]\d)-(?P<d>[0-3]\d)(?!\d)")),
    ("day_month_year", re.compile(
        r"(?<![\d.])(?P<d>[0-3]?\d)(?:st|nd|rd|th|\.)?\s+(?:of\s+)?" + _MONTH.format(g="m") + r",?\s+"
        + _YEAR.format(g="y"))),
    ("month_day_year", re.compile(
        _MONTH.format(g="m") + r"\s+(?P<d>[0-3]?\d)(?:st|nd|rd|th)?,?\s+" + _YEAR.format(g="y"))),
    ("numeric_day", re.compile(r"(?<![\d.])(?P<d>[0-3]?\d)\.(?P<m>[01]?\d)\.(?P<y>(?:19|20)\d\d)(?!\d)")),
    ("month_year", re.compile(_MONTH.format(g="m") + r",?\s+(?:of\s+)?" + _YEAR.format(g="y"))),
    ("month", re.compile(r"\b" + _MONTH.format(g="m") + r"(?![\w])")),
    ("year", re.compile(_Y.format(g="y"))),
)
_ANY_YEAR = re.compile(r"(?<![\d.,/])(?:19|20)\d\d(?![\d,.]?\d)")


@dataclass(frozen=True)
class DateGuess:
    """A ledger date cell (may be empty), a note saying how it was found or why it is missing, and the words."""

    value: str
    note: str
    text: str = ""
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class _Found:
    kind: str
    start: int
    end: int
    match: re.Match


def _month(word: str) -> int:
    return MONTHS[word.rstrip(".").lower()]


def find_dates(text: str, lo: int, hi: int, blocked: list[tuple[int, int]]) -> list[_Found]:
    """Date expressions in text[lo:hi], most specific first wins an overlap; spans in blocked (money) are skipped."""
    taken: list[tuple[int, int]] = list(blocked)
    found: list[_Found] = []
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(text, lo, hi):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            if kind == "year_range" and not _year_range_ok(match):
                continue
            taken.append(span)
            found.append(_Found(kind, span[0], span[1], match))
    return sorted(found, key=lambda f: f.start)


def _year_range_ok(match: re.Match) -> bool:
    first = int(match.group("y1"))
    second_text = match.group("y2")
    second = int(second_text) if len(second_text) == 4 else first // 100 * 100 + int(second_text)
    written = match.group(0)
    # "2012 and 2014" needs "between"; a bare dash or "to" between two years is a range on its own.
    if re.search(r"\b(?:and|und)\b", written) and not re.match(r"(?i)between|zwischen", written):
        return False
    return first < second <= first + 50


def date_near(paragraph: str, sentence_start: int, sentence_end: int, mention_start: int, mention_end: int,
              money_spans: list[tuple[int, int]]) -> DateGuess:
    """The date closest to the mention within its sentence, as a ledger date cell with a note."""
    found = find_dates(paragraph, sentence_start, sentence_end, money_spans)
    if not found:
        return DateGuess("", "no date in the sentence")

    def distance(f: _Found) -> int:
        return max(0, f.start - mention_end, mention_start - f.end)

    nearest = min(found, key=distance)
    return _cell(paragraph, nearest, money_spans)


def _cell(paragraph: str, found: _Found, money_spans: list[tuple[int, int]]) -> DateGuess:
    m, words = found.match, found.match.group(0)
    at = dict(text=words, start=found.start, end=found.end)
    if found.kind == "month_range":
        return DateGuess(f"{m.group('y1')}-{_month(m.group('m1')):02d}/{m.group('y2')}-{_month(m.group('m2')):02d}",
                         f"as written: '{words}'", **at)
    if found.kind == "year_range":
        first = int(m.group("y1"))
        second_text = m.group("y2")
        second = int(second_text) if len(second_text) == 4 else first // 100 * 100 + int(second_text)
        return DateGuess(f"{first}/{second}", f"as written: '{words}'", **at)
    if found.kind in ("iso_day", "day_month_year", "month_day_year", "numeric_day"):
        month = int(m.group("m")) if found.kind in ("iso_day", "numeric_day") else _month(m.group("m"))
        day = int(m.group("d"))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return DateGuess("", f"'{words}' is not a calendar date", **at)
        return DateGuess(f"{m.group('y')}-{month:02d}-{day:02d}", f"as written: '{words}'", **at)
    if found.kind == "month_year":
        return DateGuess(f"{m.group('y')}-{_month(m.group('m')):02d}", f"as written: '{words}'", **at)
    if found.kind == "year":
        return DateGuess(m.group("y"), f"as written: '{words}'", **at)
    # A month without a year: borrow the nearest earlier year of the paragraph, outside money mentions.
    month = _month(m.group("m"))
    name = MONTH_NAMES[month - 1]
    years = [y for y in _ANY_YEAR.finditer(paragraph, 0, found.start)
             if not any(s <= y.start() < e for s, e in money_spans)]
    if not years:
        return DateGuess("", f"{name} given without a year (no earlier year in the paragraph)", **at)
    year = years[-1].group(0)
    return DateGuess(f"{year}-{month:02d}", f"'{words}'; year {year} taken from earlier in the paragraph", **at)
