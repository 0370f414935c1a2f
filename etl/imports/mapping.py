"""Read a mapping file (YAML) and check it completely before any data is touched.

A mapping says how to read a source table and how each ledger column is made from it. Every problem in the
mapping is collected and reported at once, named by its key path (e.g. `columns.payer.lookup`).
"""
from __future__ import annotations

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
ENTRY_OPTIONS = {"column", "constant", "template", "prefix", "suffix", "lookup", "lookup_file", "unmatched", "split",
                 "part", "format", "period_end_marker", "period_years", "negative", "hash", "link_column"}
READ_OPTIONS = {"file", "format", "encoding", "delimiter", "header_row", "sheet", "records", "record"}
TOP_LEVEL = {"name", "description", "source", "join", "output", "empty_values", "skip", "columns", "entities"}
SKIP_OPTIONS = {"exact_duplicates", "blank_amounts", "zero_amounts"}
ENTITY_OPTIONS = {"propose_merges", "similarity", "kind"}
# Entry options that only make sense on one ledger column.
COLUMN_ONLY_OPTIONS = {"format": "date", "period_end_marker": "date", "period_years": "date", "negative": "amount",
                       "hash": "id", "link_column": "sources"}
DEFAULT_SIMILARITY = 92


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

    @property
    def label(self) -> str:
        return file_label(self.path)


@dataclass(frozen=True)
class Join:
    """A second table joined on key columns; its columns are addressed as `NAME.column`."""

    name: str
    read: ReadOptions
    on: dict[str, str]  # source column -> column of the joined table


@dataclass(frozen=True)
class Entry:
    """How one ledger column is made: from a source column, a constant or a template, then value conventions."""

    ledger_column: str
    kind: str  # column | constant | template | hash (id only)
    value: str = ""  # column name, constant text or template text
    prefix: str = ""
    suffix: str = ""
    lookup: dict[str, str] | None = None
    unmatched: str = "keep"
    split: str = ""
    part: str = "first"
    date_format: str = ""
    period_end_marker: str = ""
    period_years: int = 0
    negative: str = "error"
    hash_columns: tuple[str, ...] = ()
    link_column: str = ""

    @property
    def template_fields(self) -> list[str]:
        return [name for _, name, _, _ in string.Formatter().parse(self.value) if name]

    @property
    def source_columns(self) -> list[str]:
        """Source columns this entry reads (for issue messages and for checking the source header)."""
        used = {"column": [self.value], "template": self.template_fields}.get(self.kind, [])
        return [*used, *self.hash_columns, *([self.link_column] if self.link_column else [])]


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

    @property
    def label(self) -> str:
        return file_label(self.path)

    def source_columns(self) -> set[str]:
        return {c for entry in self.entries.values() for c in entry.source_columns}


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
        self.unknown_keys(where, given, READ_OPTIONS | ({"url", "publisher"} if where == "source" else {"as", "on"}))
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
        header_row = given.get("header_row", 1)
        if not isinstance(header_row, int) or isinstance(header_row, bool) or header_row < 1:
            self.problem(f"{where}.header_row", header_row, "expected the spreadsheet row number of the header "
                                                            "(1 for the first line)")
            header_row = 1
        if fmt == "xml" and not given.get("record"):
            self.problem(f"{where}.record", "", "an XML source needs `record:`, the tag of the element that holds "
                                                "one transfer")
        return ReadOptions(file, fmt, encoding, delimiter, header_row,
                           self.text(f"{where}.sheet", given.get("sheet")) or None,
                           self.text(f"{where}.records", given.get("records")),
                           self.text(f"{where}.record", given.get("record")))

    def entry(self, column: str, given: object) -> Entry | None:
        where = f"columns.{column}"
        if isinstance(given, str):
            return Entry(column, "column", given)
        if not isinstance(given, dict):
            self.problem(where, given, "expected a source column name, or a mapping with one of column:, "
                                       "constant: or template:")
            return None
        self.unknown_keys(where, given, ENTRY_OPTIONS)
        for option, only in COLUMN_ONLY_OPTIONS.items():
            if option in given and column != only:
                self.problem(f"{where}.{option}", given[option], f"`{option}` only applies to the {only} column")
        kinds = [k for k in ENTRY_KINDS if k in given]
        hash_columns = given.get("hash") or ()
        if isinstance(hash_columns, str):
            hash_columns = (hash_columns,)
        if not isinstance(hash_columns, (list, tuple)) or not all(isinstance(c, str) for c in hash_columns):
            self.problem(f"{where}.hash", hash_columns, "expected a list of source column names")
            hash_columns = ()
        if len(kinds) != 1 and not (column == "id" and not kinds and hash_columns):
            self.problem(where, "", "give exactly one of column:, constant: or template:"
                         + (" (or hash: for the id)" if column == "id" else ""))
            return None
        kind = kinds[0] if kinds else "hash"
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
        date_format = self.text(f"{where}.format", given.get("format"))
        if date_format and "%" not in date_format:
            self.problem(f"{where}.format", date_format, "expected a strftime format such as %m/%d/%y or %d.%m.%Y")
        if kind == "template":
            try:
                fields = [name for _, name, spec, conv in string.Formatter().parse(value)]
            except ValueError as exc:
                self.problem(f"{where}.template", value, f"not a valid template ({exc}); write {{column}} for a "
                                                         "source column and {{ }} for literal braces")
            else:
                if not any(fields):
                    self.problem(f"{where}.template", value, "the template names no column; use constant: instead")
        return Entry(column, kind, value, self.text(f"{where}.prefix", given.get("prefix")),
                     self.text(f"{where}.suffix", given.get("suffix")), lookup, unmatched,
                     self.text(f"{where}.split", given.get("split")), part, date_format,
                     self.text(f"{where}.period_end_marker", given.get("period_end_marker")), period_years,
                     negative, tuple(hash_columns), self.text(f"{where}.link_column", given.get("link_column")))

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
            joins.append(Join(alias, read, {str(k): str(v) for k, v in on.items()}))
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
        if source is None:
            return None
        return Mapping(self.path, name, self.text("description", document.get("description")), source, urls,
                       publisher, tuple(joins), output_path, tuple(str(v) for v in empty_values),
                       bool(skip.get("exact_duplicates", False)), bool(skip.get("blank_amounts", False)),
                       bool(skip.get("zero_amounts", False)), entries,
                       bool(entity_options.get("propose_merges", True)), int(similarity), kind,
                       self.path.parent / f"{name}.merges.csv")
