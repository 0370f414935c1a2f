"""Property-based: thousands of malformed ledgers never crash the ETL; every issue names file, row and column."""
import csv
import io
import string

import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.pipeline import build
from etl.schema import LEDGER_COLUMNS
from ledger_factory import write_lookups

CELL_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))
NUMBERISH = st.sampled_from(["2.9 billion", "253,150", "7,6 Mio.", "1.234", "1.234.567,89", "€2.39m", "-5", "0",
                             "1e9", "٣٤٥", "१२३", "Ⅻ", "12,34,567", "½", "∞", "NaN", "", " ", "=1+1", "@SUM(A1)",
                             "+33", "9" * 40, "0.00001"])
DATES = st.sampled_from(["2012", "2012-07", "2012/2014", "2015-02/..", "n.d.", "", "2013-02-30", "30.07.2012",
                         "2012/..", "9999", "0000-00", "2012-7-3", "../2012", "2012//2014"])
CELLS = st.one_of(st.text(CELL_ALPHABET, max_size=30), NUMBERISH, DATES, st.text(string.printable, max_size=15),
                  st.just("x" * 5000))
HEADERS = st.lists(st.one_of(st.sampled_from(LEDGER_COLUMNS), st.text(CELL_ALPHABET, max_size=10)),
                   min_size=0, max_size=len(LEDGER_COLUMNS) + 3)
TABLES = st.tuples(st.one_of(HEADERS, st.just(list(LEDGER_COLUMNS))),
                   st.lists(st.lists(CELLS, min_size=0, max_size=len(LEDGER_COLUMNS) + 3), max_size=8))

# Each example writes several ledgers, so the default run checks well over a thousand malformed files;
# HYPOTHESIS_PROFILE=thorough multiplies that by ten.
settings.register_profile("thorough", max_examples=1000, deadline=None)
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def assert_issues_are_located(result, names):
    for issue in result.issues:
        assert issue.file in names
        assert issue.row is None or issue.row >= 1
        assert isinstance(issue.column, str) and issue.message


CSV_FILES = st.lists(st.tuples(TABLES, st.sampled_from([",", ";"]),
                               st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])),
                     min_size=1, max_size=8)


@SETTINGS
@given(files=CSV_FILES)
def test_random_csv_ledgers_never_crash(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("ledgers")
    write_lookups(root)
    names = set()
    for number, ((header, rows), delimiter, encoding) in enumerate(files):
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
        name = f"fuzz{number}.csv"
        names.add(name)
        (root / name).write_bytes(buffer.getvalue().encode(encoding, errors="replace"))
    result = build(root)
    assert_issues_are_located(result, names)
    if not result.errors:
        assert len(result.dataset) == sum(1 for (_, rows), _, _ in files for r in rows if any(str(c).strip() for c in r))


@SETTINGS
@given(table=TABLES, numbers=st.lists(st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True)),
                                      max_size=5), formula=st.booleans())
def test_random_xlsx_ledgers_never_crash(tmp_path_factory, table, numbers, formula):
    root = tmp_path_factory.mktemp("ledgers")
    write_lookups(root)
    header, rows = table
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "ledger"
    if header:
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", h) or None for h in header])
    for r in rows:
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in r])
    if numbers:
        sheet.append(numbers)
    if formula:
        sheet.append(["f1", "=1+1"])
    path = root / "fuzz.xlsx"
    try:
        book.save(path)
    except Exception:  # openpyxl itself refuses some control characters; nothing to test then
        return
    result = build(root)
    assert_issues_are_located(result, {"fuzz.xlsx"})
