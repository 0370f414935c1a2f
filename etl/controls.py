"""Control characters in ledger cells: a soft line break in prose becomes a line break (a warning), any other is
refused, so no invisible character reaches the dataset, its exports or a spreadsheet that would choke on it."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from .errors import WARNING, LedgerIssue, issues_from_mask
from .schema import LEDGER_COLUMNS, PROSE_COLUMNS
from .uniques import arrow_strings

# C0 controls except tab, line feed and carriage return; DEL; C1 controls (NEL among them); the Unicode line and
# paragraph separators. RE2 syntax, for Arrow.
CONTROL_PATTERN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\x{2028}\x{2029}]"
# What Word (vertical tab), old Mac exports (form feed), EBCDIC conversions (NEL) and Unicode text use for a line
# break inside a paragraph.
SOFT_BREAK_PATTERN = r"[\x0b\x0c\x{85}\x{2028}\x{2029}]"
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


# Per byte of UTF-8: 1 for a C0 control (tab, line feed, carriage return aside) or DEL, 2 for 0xC2 (which leads
# the C1 controls), 3 for 0xE2 (which leads U+2028 and U+2029), 0 for every other byte.
_BYTE_CLASS = np.zeros(256, dtype=np.uint8)
_BYTE_CLASS[[b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D)] + [0x7F]] = 1
_BYTE_CLASS[0xC2] = 2
_BYTE_CLASS[0xE2] = 3


def may_hold_controls(values: pd.Series) -> bool:
    """Whether any cell may hold a control character, from the column's UTF-8 bytes: one table look-up per byte
    and a look at the (few) bytes after 0xC2 and 0xE2, several times faster than a regex over every cell. A True
    can be a false alarm (bytes outside a sliced array); the regex then decides."""
    array = arrow_strings(values)
    for chunk in getattr(array, "chunks", [array]):
        buffer = chunk.buffers()[2] if len(chunk) else None
        if buffer is None:
            continue
        data = np.frombuffer(buffer, dtype=np.uint8)
        at = np.flatnonzero(_BYTE_CLASS[data])
        if not len(at):
            continue
        kind = _BYTE_CLASS[data[at]]
        if (kind == 1).any():
            return True
        padded = np.concatenate([data, np.zeros(2, dtype=np.uint8)])
        lead_c2, lead_e2 = at[kind == 2], at[kind == 3]
        if ((padded[lead_c2 + 1] >= 0x80) & (padded[lead_c2 + 1] <= 0x9F)).any():
            return True
        if ((padded[lead_e2 + 1] == 0x80) & ((padded[lead_e2 + 2] == 0xA8) | (padded[lead_e2 + 2] == 0xA9))).any():
            return True
    return False


def _matches(values: pd.Series, pattern: str) -> pd.Series:
    found = pc.fill_null(pc.match_substring_regex(arrow_strings(values), pattern), False)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


def clean_controls(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[LedgerIssue]]:
    """raw with soft line breaks in prose columns turned into line feeds, and an issue per cell holding a control
    character: a warning where a soft break was cleaned, an error for every other one. A column without any is
    checked by one Arrow scan and left as it is."""
    issues: list[LedgerIssue] = []
    cleaned: dict[str, pd.Series] = {}
    for column in LEDGER_COLUMNS:
        values = raw[column]
        if not may_hold_controls(values) or \
                not pc.any(pc.match_substring_regex(arrow_strings(values), CONTROL_PATTERN)).as_py():
            continue
        if column in PROSE_COLUMNS:
            soft = _matches(values, SOFT_BREAK_PATTERN)
            if soft.any():
                issues += issues_from_mask(raw, soft, column, values, "soft_line_break",
                                           "a soft line break (from Word or a PDF) was read as a line break",
                                           WARNING)
                replaced = pc.replace_substring_regex(arrow_strings(values), SOFT_BREAK_PATTERN, "\n")
                values = pd.Series(replaced, index=values.index, dtype=values.dtype)
                cleaned[column] = values
        bad = _matches(values, CONTROL_PATTERN)
        if bad.any():  # the value shows each control character as an escape, so it is only built for bad cells
            shown = values[bad].map(lambda text: _CONTROL.sub(_escape, text)).reindex(values.index, fill_value="")
            issues += issues_from_mask(raw, bad, column, shown, "control_character",
                                       "the cell holds an invisible control character (shown here as \\x.. or "
                                       "\\u....): delete it")
    return (raw.assign(**cleaned) if cleaned else raw), issues


def _escape(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
