"""Read a mapping file (YAML) and check it completely before any data is touched.

A mapping says how to read a source table and how each ledger column is made from it. Every problem in the
mapping is collected and reported at once, named by its key path (e.g. `columns.payer.lookup`).
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import LedgerIssue
from ..schema import LEDGER_COLUMNS, LEDGER_DIR

MAPPING_SUFFIX = ".mapping.yml"
IMPORTED_DIR = "imported"
FORMATS = ("csv", "xlsx", "json", "jsonl", "xml")
NEGATIVE_RULES = ("error", "absolute", "swap")
PARTS = ("first", "rest", "last")
UNMATCHED_RULES = ("keep", "empty", "error")
ENTRY_KINDS = ("column", "constant", "template")
ENTRY_OPTIONS = {"column", "constant", "template", "when", "prefix", "suffix", "lookup", "lookup_file", "unmatched",
                 "split", "part", "extract", "replace", "format", "period_end_marker", "period_years", "negative",
                 "hash", "link_column"}
BRANCH_OPTIONS = {"if", "column", "constant", "template"}
READ_OPTIONS = {"file", "format", "encoding", "delimiter", "header_row", "header", "extra_cells", "skip_lines",
                "sheet", "records", "record"}
JOIN_OPTIONS = {"as", "on", "match", "repeated"}
TOP_LEVEL = {"name", "description", "source", "join", "output", "empty_values", "skip", "filters", "explode",
             "amendments", "self_payments", "columns", "entities"}
SKIP_OPTIONS = {"exact_duplicates", "blank_amounts", "zero_amounts"}
ENTITY_OPTIONS = {"propose_merges", "similarity", "kind", "payer_kind", "recipient_kind"}
EXPLODE_OPTIONS = {"fields", "separator"}
AMENDMENT_OPTIONS = {"key", "amends"}
FILTER_OPTIONS = {"name", "keep", "drop"}
# Entry options that only make sense on some ledger columns.
COLUMN_ONLY_OPTIONS = {"format": ("date", "amount"), "period_end_marker": ("date",), "period_years": ("date",),
                       "negative": ("amount",), "hash": ("id",), "link_column": ("sources",)}
DEFAULT_SIMILARITY = 92
EXTRA_CELLS_RULES = ("error", "ignore")
JOIN_MATCH_RULES = ("normalised", "exact")
JOIN_REPEATED_RULES = ("agree", "first")
SELF_PAYMENT_RULES = ("warn", "keep", "drop")
# Number styles a mapping can name under columns.amount.format, tried in order: (thousands mark, decimal mark).
NUMBER_FORMATS = {"1,234.56": (",", "."), "1.234,56": (".", ","), "1 234,56": (" ", ","), "1 234.56": (" ", "."),
                  "1'234.56": ("'", "."), "1234.56": ("", "."), "1234,56": ("", ",")}
# Conditions on one source field; `all`, `any` and `not` combine them.
FIELD_TESTS = ("equals", "in", "matches", "empty", "above", "below", "at_least", "at_most")
NUMBER_TESTS = ("above", "below", "at_least", "at_most")
COMBINATIONS = ("all", "any", "not")
# Cells of XML/JSON records that hold several elements keep them apart with this mark until the mapping says
# what they are (explode: one row each); anywhere else they read as "A; B".
MULTI_VALUE_MARK = "\x1f"


def file_label(path: Path) -> str:
    """How issues name a file: relative to ledgers/ when it is inside it, else by its name."""
    try:
        return path.resolve().relative_to(LEDGER_DIR.resolve()).as_posix()
    except ValueError:
        return path.name


@dataclass(frozen=True)
class ReadOptions:
    """Where a table is and how to read it."""

    path: Path
    format: str
    encoding: str = "utf-8"
    delimiter: str | None = None  # None: sniffed from the header line
    header_row: int = 1
    sheet: str | None = None
    records: str = ""  # JSON: dotted path to the list of records ("" = the document itself)
    record: str = ""  # XML: tag of the element that holds one record
    header: tuple[str, ...] = ()  # names that replace the file's header (header_row 0: the file has none)
    extra_cells: str = "error"  # error | ignore: cells beyond the header's width
    skip_lines: str = ""  # regex: raw lines matching it (merge-conflict markers, page footers) are left out

    @property
    def label(self) -> str:
        return file_label(self.path)


@dataclass(frozen=True)
class Join:
    """A second table joined on key columns; its columns are addressed as `NAME.column`."""

    name: str
    read: ReadOptions
    on: dict[str, str]  # source column -> column of the joined table
    match: str = "normalised"  # normalised (trimmed, case and spaces folded) | exact
    repeated: str = "agree"  # agree: repeated keys are fine when their rows agree | first: take the first


@dataclass(frozen=True)
class Condition:
    """A test on source fields: one field (equals, in, matches, empty, above …) or all/any/not of others."""

    test: str
    field: str = ""
    values: tuple[str, ...] = ()
    number: float = 0.0
    ignore_case: bool = False
    parts: tuple["Condition", ...] = ()

    @property
    def fields(self) -> list[str]:
        return [self.field] if self.field else [f for part in self.parts for f in part.fields]

    def describe(self) -> str:
        """The condition in words, for the import report ("Type equals In-house")."""
        if self.test in COMBINATIONS:
            inner = f" {self.test} ".join(p.describe() for p in self.parts)
            return f"not ({inner})" if self.test == "not" else f"({inner})"
        if self.test == "empty":
            return f"{self.field} is {'empty' if self.values == ('true',) else 'not empty'}"
        if self.test in NUMBER_TESTS:
            return f"{self.field} {self.test.replace('_', ' ')} {self.number:g}"
        shown = self.values[0] if self.test != "in" else "[" + ", ".join(self.values) + "]"
        return f"{self.field} {self.test} {shown}"




@dataclass(frozen=True)
class RowFilter:
    """Keep or drop the rows a condition selects; dropped rows are counted under the filter's name."""

    name: str
    action: str  # keep | drop
    condition: Condition


@dataclass(frozen=True)
class Branch:
    """One `when:` rule of an entry: where the value comes from on rows that meet the condition."""

    condition: Condition
    kind: str  # column | constant | template
    value: str


@dataclass(frozen=True)
class Explode:
    """Fields holding several elements (XML repeated elements, JSON lists, or cells split on a separator) that
    turn one source record into one ledger row per element; fields listed together are paired by position."""

    fields: tuple[str, ...]
    separator: str = ""  # "" = the elements the reader kept apart (XML, JSON)


@dataclass(frozen=True)
class Amendments:
    """A record whose `amends` field names another record's `key` restates it: the older rows become same_as
    the latest row of the chain."""

    key: str
    amends: str


@dataclass(frozen=True)
class Entry:
    """How one ledger column is made: from a source column, a constant or a template, then value conventions."""

    ledger_column: str
    kind: str  # column | constant | template | hash (id only) | none (only when: rules)
    value: str = ""  # column name, constant text or template text
    prefix: str = ""
    suffix: str = ""
    lookup: dict[str, str] | None = None
    unmatched: str = "keep"
    split: str = ""
    part: str = "first"
    period_end_marker: str = ""
    period_years: int = 0
    negative: str = "error"
    hash_columns: tuple[str, ...] = ()
    link_column: str = ""
    alternatives: tuple[str, ...] = ()  # column: [A, B]: the first non-empty of these columns
    when: tuple[Branch, ...] = ()
    extract: str = ""  # regex: the first group (or the whole match) is kept
    replace: tuple[tuple[str, str], ...] = ()  # (regex, replacement) pairs, applied in order
    formats: tuple[str, ...] = ()  # date: strftime formats; amount: number styles; tried in order

    @property
    def template_fields(self) -> list[str]:
        return _template_fields(self.value)

    @property
    def source_columns(self) -> list[str]:
        """Source columns this entry reads (for issue messages and for checking the source header)."""
        used = {"column": list(self.alternatives or (self.value,)), "template": self.template_fields}.get(self.kind,
                                                                                                          [])
        for branch in self.when:
            used += branch.condition.fields
            used += {"column": [branch.value], "template": _template_fields(branch.value)}.get(branch.kind, [])
        return [*dict.fromkeys([*used, *self.hash_columns, *([self.link_column] if self.link_column else [])])]


def _template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


@dataclass(frozen=True)
class Mapping:
    """A whole mapping file, checked."""

    path: Path
    name: str
    description: str
    source: ReadOptions
    dataset_urls: tuple[str, ...]
    publisher: str
    joins: tuple[Join, ...]
    output: Path
    empty_values: tuple[str, ...]
    skip_exact_duplicates: bool
    skip_blank_amounts: bool
    skip_zero_amounts: bool
    entries: dict[str, Entry]
    propose_merges: bool = True
    similarity: int = DEFAULT_SIMILARITY
    entity_kind: str = "company"  # kind given to entities a confirmed merge creates
    merges_path: Path = field(default=Path())
    filters: tuple[RowFilter, ...] = ()
    explode: Explode | None = None
    amendments: Amendments | None = None
    self_payments: str = "warn"  # warn | keep | drop: rows whose payer is their recipient
    kind_entries: dict[str, Entry] = field(default_factory=dict)  # payer_kind / recipient_kind, per row

    @property
    def label(self) -> str:
        return file_label(self.path)

    def source_columns(self) -> set[str]:
        used = {c for entry in [*self.entries.values(), *self.kind_entries.values()] for c in entry.source_columns}
        used |= {c for rule in self.filters for c in rule.condition.fields}
        if self.explode is not None:
            used |= set(self.explode.fields)
        if self.amendments is not None:
            used |= {self.amendments.key, self.amendments.amends}
        return used


class MappingInvalid(Exception):
    """The mapping file cannot be used; carries every problem found."""

    def __init__(self, issues: list[LedgerIssue]):
        self.issues = issues
        super().__init__(f"{len(issues)} problem(s) in the mapping")


def default_output(mapping_path: Path, name: str) -> Path:
    """ledgers/imports/X.mapping.yml writes ledgers/imported/X.csv (next to, not inside, the source data)."""
    folder = mapping_path.resolve().parent
    base = folder.parent if folder.name == "imports" else folder
    return base / IMPORTED_DIR / f"{name}.csv"


def mapping_name(path: Path) -> str:
    name = path.name
    return name[: -len(MAPPING_SUFFIX)] if name.endswith(MAPPING_SUFFIX) else path.stem


@lru_cache(maxsize=1)
def _strict_bool_loader():
    """A safe YAML loader where only true/false are booleans: YAML 1.1 also reads on, off, yes, no (and the
    country code NO) as booleans, which would turn a join's `on:` or Norway into True/False."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    return Loader


def load_mapping(path: Path) -> Mapping:
    """Parse and check a mapping file; raises MappingInvalid listing every problem."""
    import yaml

    path = Path(path)
    label = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingInvalid([LedgerIssue(label, None, "", "", "mapping_unreadable",
                                          f"cannot read the mapping: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise MappingInvalid([LedgerIssue(label, None, "", "", "mapping_unreadable",
                                          "the mapping is not UTF-8 text")]) from None
    try:
        document = yaml.load(text, Loader=_strict_bool_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise MappingInvalid([LedgerIssue(label, line, "", "", "mapping_syntax",
                                          f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]) from None
    checker = _Checker(path, label)
    mapping = checker.mapping(document)
    if checker.issues:
        raise MappingInvalid(checker.issues)
    return mapping


class _Checker:
    """Walks the parsed YAML, collecting every problem instead of stopping at the first."""

    def __init__(self, path: Path, label: str):
        self.path = path
        self.label = label
        self.issues: list[LedgerIssue] = []

    def problem(self, key: str, value: object, message: str) -> None:
        self.issues.append(LedgerIssue(self.label, None, key, "" if value is None else str(value), "mapping",
                                       message))

    def unknown_keys(self, where: str, given: dict, allowed: set[str]) -> None:
        for key in given:
            if key not in allowed:
                self.problem(f"{where}.{key}" if where else str(key), key,
                             f"unknown key; expected one of: {', '.join(sorted(allowed))}")

    def text(self, where: str, value: object, default: str = "") -> str:
        if value is None:
            return default
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            self.problem(where, value, "expected a single text value")
            return default
        return str(value)

    def read_options(self, where: str, given: object) -> ReadOptions | None:
        if isinstance(given, str):
            given = {"file": given}
        if not isinstance(given, dict) or "file" not in given:
            self.problem(where, given, "expected a mapping with at least `file:` (the path of the data file, "
                                       "relative to the mapping)")
            return None
        self.unknown_keys(where, given, READ_OPTIONS | ({"url", "publisher"} if where == "source" else JOIN_OPTIONS))
        file = self.path.parent / self.text(f"{where}.file", given.get("file"))
        fmt = self.text(f"{where}.format", given.get("format"), file.suffix.lower().lstrip(".")).lower()
        if fmt not in FORMATS:
            self.problem(f"{where}.format", fmt, f"unknown format; expected one of: {', '.join(FORMATS)}")
        encoding = self.text(f"{where}.encoding", given.get("encoding"), "utf-8")
        try:
            import codecs

            codecs.lookup(encoding)
        except LookupError:
            self.problem(f"{where}.encoding", encoding, "unknown encoding (e.g. utf-8, utf-16, cp1252, latin-1)")
        delimiter = given.get("delimiter")
        if delimiter is not None:
            delimiter = self.text(f"{where}.delimiter", delimiter)
            if delimiter in ("\\t", "tab"):
                delimiter = "\t"
            if len(delimiter) != 1:
                self.problem(f"{where}.delimiter", delimiter, "expected one character such as , ; | or tab")
        header = self.names(f"{where}.header", given.get("header"))
        header_row = given.get("header_row", 1)
        lowest = 0 if header else 1
        if not isinstance(header_row, int) or isinstance(header_row, bool) or header_row < lowest:
            self.problem(f"{where}.header_row", header_row, "expected the spreadsheet row number of the header "
                                                            "(1 for the first line; 0, with header:, when the file "
                                                            "has no header line)")
            header_row = 1
        if fmt == "xml" and not given.get("record"):
            self.problem(f"{where}.record", "", "an XML source needs `record:`, the tag of the element that holds "
                                                "one transfer")
        skip_lines = self.pattern(f"{where}.skip_lines", given.get("skip_lines"))
        if (header or skip_lines or "extra_cells" in given) and fmt != "csv":
            self.problem(where, fmt, "header:, extra_cells: and skip_lines: apply to CSV files")
        return ReadOptions(file, fmt, encoding, delimiter, header_row,
                           self.text(f"{where}.sheet", given.get("sheet")) or None,
                           self.text(f"{where}.records", given.get("records")),
                           self.text(f"{where}.record", given.get("record")), header,
                           self.choice(f"{where}.extra_cells", given.get("extra_cells", "error"), EXTRA_CELLS_RULES),
                           skip_lines)

    def names(self, where: str, given: object) -> tuple[str, ...]:
        """A list of names (or one name) as a tuple of text."""
        if given is None:
            return ()
        if isinstance(given, str):
            given = [given]
        if not isinstance(given, list) or not given or not all(isinstance(g, (str, int, float)) and
                                                             not isinstance(g, bool) for g in given):
            self.problem(where, given, "expected a list of names")
            return ()
        return tuple(str(g).strip() for g in given)

    def pattern(self, where: str, given: object) -> str:
        """A regular expression, compiled once here so a typo is a mapping problem, not a traceback later."""
        if given is None or given == "":
            return ""
        text = self.text(where, given)
        try:
            re.compile(text)
        except re.error as exc:
            self.problem(where, text, f"not a valid regular expression: {exc}")
            return ""
        return text

    def condition(self, where: str, given: object) -> Condition | None:
        """`{field: NAME, equals|in|matches|empty|above|below|at_least|at_most: …}` or all/any/not of others."""
        if not isinstance(given, dict):
            self.problem(where, given, "expected a condition such as {field: Type, equals: In-house}, or "
                                       "{all: [...]}, {any: [...]}, {not: {...}}")
            return None
        combined = [k for k in COMBINATIONS if k in given]
        if combined:
            self.unknown_keys(where, given, set(COMBINATIONS))
            test = combined[0]
            inner = given[test]
            inner = [inner] if test == "not" and isinstance(inner, dict) else inner
            if len(combined) > 1 or not isinstance(inner, list) or not inner:
                self.problem(f"{where}.{test}", inner, "expected one of all:, any: (a list of conditions) or not: "
                                                       "(one condition)")
                return None
            parts = [self.condition(f"{where}.{test}[{n}]", c) for n, c in enumerate(inner, start=1)]
            if any(p is None for p in parts):
                return None
            return Condition(test, parts=tuple(parts))
        self.unknown_keys(where, given, {"field", "ignore_case", *FIELD_TESTS})
        tests = [t for t in FIELD_TESTS if t in given]
        field_name = self.text(f"{where}.field", given.get("field"))
        if not field_name or len(tests) != 1:
            self.problem(where, given, "a condition needs field: and exactly one of: " + ", ".join(FIELD_TESTS))
            return None
        test = tests[0]
        value = given[test]
        number = 0.0
        values: tuple[str, ...] = ()
        if test == "in":
            values = self.names(f"{where}.in", value)
        elif test == "empty":
            if not isinstance(value, bool):
                self.problem(f"{where}.empty", value, "expected true (the field is empty) or false (it is not)")
            values = ("true",) if value is True else ("false",)
        elif test in NUMBER_TESTS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.problem(f"{where}.{test}", value, "expected a number")
            else:
                number = float(value)
        elif test == "matches":
            values = (self.pattern(f"{where}.matches", value),)
        else:
            values = (self.text(f"{where}.{test}", value),)
        ignore_case = given.get("ignore_case", False)
        if not isinstance(ignore_case, bool):
            self.problem(f"{where}.ignore_case", ignore_case, "expected true or false")
            ignore_case = False
        return Condition(test, field_name, values, number, ignore_case)

    def filters(self, given: object) -> tuple[RowFilter, ...]:
        if given is None:
            return ()
        if not isinstance(given, list):
            self.problem("filters", given, "expected a list of rules such as - {name: in-house filings, drop: "
                                           "{field: Type, equals: In-house}}")
            return ()
        rules = []
        for number, rule in enumerate(given, start=1):
            where = f"filters[{number}]"
            if not isinstance(rule, dict):
                self.problem(where, rule, "expected {name: ..., keep: CONDITION} or {name: ..., drop: CONDITION}")
                continue
            self.unknown_keys(where, rule, FILTER_OPTIONS)
            actions = [a for a in ("keep", "drop") if a in rule]
            if len(actions) != 1:
                self.problem(where, "", "give exactly one of keep: or drop:")
                continue
            condition = self.condition(f"{where}.{actions[0]}", rule[actions[0]])
            if condition is None:
                continue
            name = self.text(f"{where}.name", rule.get("name")) or \
                (f"not {condition.describe()}" if actions[0] == "keep" else condition.describe())
            rules.append(RowFilter(name, actions[0], condition))
        return tuple(rules)

    def explode(self, given: object) -> Explode | None:
        if given is None:
            return None
        if isinstance(given, (str, list)):
            given = {"fields": given}
        if not isinstance(given, dict):
            self.problem("explode", given, "expected {fields: [NAME, ...], separator: ...}")
            return None
        self.unknown_keys("explode", given, EXPLODE_OPTIONS)
        fields = self.names("explode.fields", given.get("fields"))
        if not fields:
            self.problem("explode.fields", "", "name the field(s) holding several elements")
            return None
        return Explode(fields, self.text("explode.separator", given.get("separator")))

    def amendments(self, given: object) -> Amendments | None:
        if given is None:
            return None
        if not isinstance(given, dict) or not given.get("key") or not given.get("amends"):
            self.problem("amendments", given, "expected {key: FIELD (the record's own id), amends: FIELD (the id "
                                              "of the record it amends)}")
            return None
        self.unknown_keys("amendments", given, AMENDMENT_OPTIONS)
        return Amendments(self.text("amendments.key", given["key"]), self.text("amendments.amends", given["amends"]))

    def branch(self, where: str, given: object) -> Branch | None:
        if not isinstance(given, dict) or "if" not in given:
            self.problem(where, given, "expected {if: CONDITION, column|constant|template: ...}")
            return None
        self.unknown_keys(where, given, BRANCH_OPTIONS)
        kinds = [k for k in ENTRY_KINDS if k in given]
        if len(kinds) != 1:
            self.problem(where, "", "give exactly one of column:, constant: or template:")
            return None
        condition = self.condition(f"{where}.if", given["if"])
        value = self.text(f"{where}.{kinds[0]}", given[kinds[0]])
        if kinds[0] == "template":
            self.template(f"{where}.template", value)
        return Branch(condition, kinds[0], value) if condition is not None else None

    def template(self, where: str, value: str) -> None:
        try:
            fields = [name for _, name, spec, conv in string.Formatter().parse(value)]
        except ValueError as exc:
            self.problem(where, value, f"not a valid template ({exc}); write {{column}} for a source column and "
                                       "{{ }} for literal braces")
        else:
            if not any(fields):
                self.problem(where, value, "the template names no column; use constant: instead")

    def entry(self, column: str, given: object, where: str = "") -> Entry | None:
        where = where or f"columns.{column}"
        if isinstance(given, str):
            return Entry(column, "column", given)
        if isinstance(given, list):
            given = {"column": given}
        if not isinstance(given, dict):
            self.problem(where, given, "expected a source column name, or a mapping with one of column:, "
                                       "constant: or template:")
            return None
        self.unknown_keys(where, given, ENTRY_OPTIONS)
        for option, only in COLUMN_ONLY_OPTIONS.items():
            if option in given and column not in only:
                self.problem(f"{where}.{option}", given[option],
                             f"`{option}` only applies to the {' and '.join(only)} column")
        alternatives: tuple[str, ...] = ()
        if isinstance(given.get("column"), list):
            alternatives = self.names(f"{where}.column", given["column"])
            given = {**given, "column": alternatives[0] if alternatives else ""}
        when: list[Branch] = []
        rules = given.get("when")
        if rules is not None:
            if not isinstance(rules, list) or not rules:
                self.problem(f"{where}.when", rules, "expected a list of {if: CONDITION, column|constant|template:}")
            else:
                when = [b for b in (self.branch(f"{where}.when[{n}]", r) for n, r in enumerate(rules, start=1)) if b]
        kinds = [k for k in ENTRY_KINDS if k in given]
        hash_columns = given.get("hash") or ()
        if isinstance(hash_columns, str):
            hash_columns = (hash_columns,)
        if not isinstance(hash_columns, (list, tuple)) or not all(isinstance(c, str) for c in hash_columns):
            self.problem(f"{where}.hash", hash_columns, "expected a list of source column names")
            hash_columns = ()
        if len(kinds) > 1 or not kinds and not (column == "id" and hash_columns) and rules is None:
            self.problem(where, "", "give exactly one of column:, constant: or template:"
                         + (" (or hash: for the id)" if column == "id" else "") + " (or when: rules)")
            return None
        kind = kinds[0] if kinds else ("hash" if hash_columns else "none")
        value = self.text(f"{where}.{kind}", given.get(kind)) if kinds else ""
        lookup = given.get("lookup")
        if lookup is not None:
            if not isinstance(lookup, dict):
                self.problem(f"{where}.lookup", lookup, "expected `source value: ledger value` pairs")
                lookup = None
            else:
                lookup = {str(k).strip(): "" if v is None else str(v) for k, v in lookup.items()}
        if given.get("lookup_file"):
            lookup = {**(lookup or {}), **self.lookup_file(f"{where}.lookup_file", given["lookup_file"])}
        unmatched = self.choice(f"{where}.unmatched", given.get("unmatched", "keep"), UNMATCHED_RULES)
        negative = self.choice(f"{where}.negative", given.get("negative", "error"), NEGATIVE_RULES)
        part = self.choice(f"{where}.part", given.get("part", "first"), PARTS)
        period_years = given.get("period_years", 0)
        if not isinstance(period_years, int) or isinstance(period_years, bool) or period_years < 0:
            self.problem(f"{where}.period_years", period_years, "expected a whole number of years, e.g. 2 for a "
                                                                "two-year election cycle")
            period_years = 0
        formats = self.names(f"{where}.format", given.get("format")) if "format" in given else ()
        for one in formats:
            if column == "date" and "%" not in one:
                self.problem(f"{where}.format", one, "expected a strftime format such as %m/%d/%y or %d.%m.%Y")
            if column == "amount" and one not in NUMBER_FORMATS:
                self.problem(f"{where}.format", one, "expected number styles such as: " + ", ".join(NUMBER_FORMATS))
        if kind == "template":
            self.template(f"{where}.template", value)
        replace = given.get("replace") or {}
        if not isinstance(replace, dict):
            self.problem(f"{where}.replace", replace, "expected `regex: replacement` pairs, applied in order")
            replace = {}
        replace_pairs = tuple((self.pattern(f"{where}.replace", k), "" if v is None else str(v))
                              for k, v in replace.items())
        return Entry(column, kind, value, prefix=self.text(f"{where}.prefix", given.get("prefix")),
                     suffix=self.text(f"{where}.suffix", given.get("suffix")), lookup=lookup, unmatched=unmatched,
                     split=self.text(f"{where}.split", given.get("split")), part=part,
                     period_end_marker=self.text(f"{where}.period_end_marker", given.get("period_end_marker")),
                     period_years=period_years, negative=negative, hash_columns=tuple(hash_columns),
                     link_column=self.text(f"{where}.link_column", given.get("link_column")),
                     alternatives=alternatives, when=tuple(when),
                     extract=self.pattern(f"{where}.extract", given.get("extract")),
                     replace=tuple(p for p in replace_pairs if p[0]), formats=formats)

    def choice(self, where: str, value: object, allowed: tuple[str, ...]) -> str:
        text = str(value).strip().lower()
        if text not in allowed:
            self.problem(where, value, f"expected one of: {' | '.join(allowed)}")
            return allowed[0]
        return text

    def lookup_file(self, where: str, given: object) -> dict[str, str]:
        import pandas as pd

        path = self.path.parent / str(given)
        try:
            table = pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            self.problem(where, given, f"cannot read the lookup table ({exc}); it needs two columns: the source "
                                       "value and the ledger value")
            return {}
        if table.shape[1] < 2:
            self.problem(where, given, "the lookup table needs two columns: the source value and the ledger value")
            return {}
        return dict(zip(table.iloc[:, 0].str.strip(), table.iloc[:, 1]))

    def mapping(self, document: object) -> Mapping | None:
        if not isinstance(document, dict):
            self.problem("", "", "the mapping must be a YAML mapping with source: and columns:")
            return None
        self.unknown_keys("", document, TOP_LEVEL)
        name = self.text("name", document.get("name"), mapping_name(self.path))
        source_given = document.get("source")
        source = self.read_options("source", source_given)
        urls: tuple[str, ...] = ()
        publisher = ""
        if isinstance(source_given, dict):
            raw_urls = source_given.get("url") or []
            urls = tuple(str(u).strip() for u in ([raw_urls] if isinstance(raw_urls, str) else raw_urls))
            for url in urls:
                if not url.startswith(("http://", "https://")):
                    self.problem("source.url", url, "the dataset's address must be an http(s) URL")
            publisher = self.text("source.publisher", source_given.get("publisher"))
        joins = []
        given_joins = document.get("join") or []
        if isinstance(given_joins, dict):
            given_joins = [given_joins]
        for number, given in enumerate(given_joins, start=1):
            where = f"join[{number}]"
            read = self.read_options(where, given)
            if read is None:
                continue
            alias = self.text(f"{where}.as", given.get("as"), read.path.stem)
            on = given.get("on")
            if not isinstance(on, dict) or not on:
                self.problem(f"{where}.on", on, "expected `source column: column of the joined file` pairs")
                on = {}
            joins.append(Join(alias, read, {str(k): str(v) for k, v in on.items()},
                              self.choice(f"{where}.match", given.get("match", "normalised"), JOIN_MATCH_RULES),
                              self.choice(f"{where}.repeated", given.get("repeated", "agree"),
                                          JOIN_REPEATED_RULES)))
        columns = document.get("columns")
        entries: dict[str, Entry] = {}
        if not isinstance(columns, dict) or not columns:
            self.problem("columns", "", "expected one entry per ledger column, e.g. `payer: payer_name`")
        else:
            for column, given in columns.items():
                if column not in LEDGER_COLUMNS:
                    self.problem(f"columns.{column}", column, "not a ledger column; the ledger columns are: "
                                 + ", ".join(LEDGER_COLUMNS))
                    continue
                entry = self.entry(column, given)
                if entry is not None:
                    entries[column] = entry
            for required in ("amount", "payer", "recipient"):
                if required not in entries:
                    self.problem(f"columns.{required}", "", f"the mapping must say where {required} comes from")
        skip = document.get("skip") or {}
        if not isinstance(skip, dict):
            self.problem("skip", skip, "expected `exact_duplicates: true` and/or `blank_amounts: true`")
            skip = {}
        self.unknown_keys("skip", skip, SKIP_OPTIONS)
        empty_values = document.get("empty_values") or []
        if isinstance(empty_values, str):
            empty_values = [empty_values]
        output = document.get("output")
        output_path = (self.path.parent / str(output)) if output else default_output(self.path, name)
        if output_path.suffix.lower() != ".csv":
            self.problem("output", output, "the imported ledger is written as .csv")
        entity_options = document.get("entities") or {}
        if not isinstance(entity_options, dict):
            self.problem("entities", entity_options, "expected `propose_merges: true|false` and `similarity: 0-100`")
            entity_options = {}
        self.unknown_keys("entities", entity_options, ENTITY_OPTIONS)
        similarity = entity_options.get("similarity", DEFAULT_SIMILARITY)
        if not isinstance(similarity, (int, float)) or not 50 <= similarity <= 100:
            self.problem("entities.similarity", similarity, "expected a score between 50 and 100")
            similarity = DEFAULT_SIMILARITY
        from ..schema import ENTITY_KINDS

        kind = self.text("entities.kind", entity_options.get("kind"), "company")
        if kind not in ENTITY_KINDS:
            self.problem("entities.kind", kind, f"expected one of: {' | '.join(ENTITY_KINDS)}")
        kind_entries = {}
        for side in ("payer_kind", "recipient_kind"):
            if side in entity_options:
                entry = self.entry(side, entity_options[side], f"entities.{side}")
                if entry is not None:
                    kind_entries[side] = entry
        filters = self.filters(document.get("filters"))
        explode = self.explode(document.get("explode"))
        amendments = self.amendments(document.get("amendments"))
        self_payments = self.choice("self_payments", document.get("self_payments", "warn"), SELF_PAYMENT_RULES)
        if source is None:
            return None
        return Mapping(self.path, name, self.text("description", document.get("description")), source, urls,
                       publisher, tuple(joins), output_path, tuple(str(v) for v in empty_values),
                       bool(skip.get("exact_duplicates", False)), bool(skip.get("blank_amounts", False)),
                       bool(skip.get("zero_amounts", False)), entries,
                       bool(entity_options.get("propose_merges", True)), int(similarity), kind,
                       self.path.parent / f"{name}.merges.csv", filters, explode, amendments, self_payments,
                       kind_entries)
