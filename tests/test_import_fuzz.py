"""Property-based: malformed source files and mapping values never crash an import, and nothing half-written
is left behind; every issue points at a file (and a row when there is one)."""
from __future__ import annotations

import shutil
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.imports.run import run_import
from ledger_factory import write_lookups

CELLS = st.one_of(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
                  st.sampled_from(["-5", "(3,000)", "$0", "UNKNOWN", "<SELECT ONE>", "07/15/19*", "2012", "",
                                   "=1+1", "1e9", "\u20ac2.39m", "13/45/99"]),
                  st.text(string.printable, max_size=10))
ROWS = st.lists(st.lists(CELLS, min_size=0, max_size=6), max_size=6)
SEPARATORS = st.sampled_from([",", ";", "\t"])
ENCODINGS = st.sampled_from(["utf-8", "utf-16", "cp1252"])
OPTIONS = st.fixed_dictionaries({
    "negative": st.sampled_from(["error", "absolute", "swap"]),
    "format": st.sampled_from(["", "%m/%d/%y", "%Y"]),
    "marker": st.sampled_from(["", "*"]),
    "years": st.sampled_from([0, 2]),
})
MAPPING = """\
source: {{file: data.csv, encoding: {encoding}, delimiter: "{separator}", url: "https://example.org/d"}}
empty_values: [UNKNOWN, "<SELECT ONE>"]
skip: {{exact_duplicates: true, blank_amounts: true, zero_amounts: true}}
columns:
  date: {{column: c, {date}}}
  amount: {{column: b, negative: {negative}}}
  currency: {{constant: USD}}
  amount_kind: {{constant: payment}}
  payer: a
  recipient: {{template: "{{d}} / {{e}}"}}
  payer_country: {{column: f, split: "/", part: first}}
  confidence: {{constant: reported}}
"""


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS, separator=SEPARATORS, encoding=ENCODINGS, options=OPTIONS)
def test_random_sources_never_crash_an_import(rows, separator, encoding, options):
    root = Path(tempfile.mkdtemp())
    try:
        ledgers = root / "ledgers"
        write_lookups(ledgers)
        (ledgers / "imports").mkdir()
        text = separator.join("abcdef") + "\n" + "\n".join(separator.join(r) for r in rows) + "\n"
        try:
            (ledgers / "imports" / "data.csv").write_bytes(text.encode(encoding))
        except UnicodeEncodeError:
            (ledgers / "imports" / "data.csv").write_bytes(text.encode("utf-8"))
        date = ", ".join(filter(None, [f'format: "{options["format"]}"' if options["format"] else "",
                                       f'period_end_marker: "{options["marker"]}"' if options["marker"] else "",
                                       f"period_years: {options['years']}" if options["years"] else ""]))
        (ledgers / "imports" / "fuzz.mapping.yml").write_text(MAPPING.format(
            encoding=encoding, separator=separator.replace("\t", "\\t"), date=date, negative=options["negative"]),
            encoding="utf-8")
        result = run_import(ledgers / "imports" / "fuzz.mapping.yml", ledgers)
        for issue in result.issues:
            assert issue.file and issue.message and (issue.row is None or issue.row >= 1)
        output = ledgers / "imported" / "fuzz.csv"
        assert output.exists() == result.written
        assert result.written == (not result.errors and result.mapping is not None)
        assert not [p for p in (ledgers / "imported").glob(".*")] if (ledgers / "imported").exists() else True
    finally:
        shutil.rmtree(root)
