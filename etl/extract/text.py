"""Read an article (plain text, Markdown or HTML) into plain text whose paragraphs are separated by one blank line.

Every character offset the extractor reports (char_start, char_end) is an offset into this plain text, so a
reviewer can find a mention again by running the same reader.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ..errors import EtlError

ARTICLE_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                    ".html": "html", ".htm": "html"}
PARAGRAPH_BREAK = "\n\n"
# Tags that end a paragraph (or a table cell / list item, which reporters read as one).
_BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
               "table", "tr", "td", "th", "section", "article", "header", "footer", "aside", "figcaption",
               "figure", "dd", "dt", "dl", "hr", "main", "nav", "caption"}
_SKIPPED_TAGS = {"script", "style", "noscript", "template", "svg", "head", "title"}


class ArticleError(EtlError):
    """The article cannot be read (missing, not text, empty): reported as a message, never a traceback."""


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of the plain text and where it starts."""

    start: int
    text: str

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class Article:
    """The article as plain text, its paragraphs with offsets, and the name it was read from."""

    name: str
    text: str
    paragraphs: tuple[Paragraph, ...]


def article_kind(name: str) -> str:
    """text | markdown | html from the file name; anything else is an ArticleError naming the accepted types."""
    suffix = Path(name).suffix.lower()
    if suffix not in ARTICLE_SUFFIXES:
        raise ArticleError(f"{Path(name).name}: unsupported file type {suffix or '(none)'!r}; "
                           f"use one of {', '.join(sorted(ARTICLE_SUFFIXES))}")
    return ARTICLE_SUFFIXES[suffix]


def decode_article(raw: bytes, name: str) -> str:
    """UTF-8 (BOM allowed) or UTF-16 with a BOM; anything else is an ArticleError saying how to fix it."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ArticleError(f"{name}: the file claims to be UTF-16 but is not: save it as UTF-8") from exc
    if b"\x00" in raw[:4096]:
        raise ArticleError(f"{name}: this is not a text file (is it a PDF or Word document? save it as text)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ArticleError(f"{name}: not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}); save the article as "
                           "UTF-8 text (it may be Windows-1252 or Latin-1)") from exc


def read_article(path: Path) -> Article:
    """Read an article file; every problem is an ArticleError with a message a reporter can act on."""
    path = Path(path)
    kind = article_kind(path.name)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ArticleError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise ArticleError(f"{path}: is a folder, not an article file") from exc
    except OSError as exc:
        raise ArticleError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    return article_from_text(decode_article(raw, path.name), kind, path.name)


def article_from_text(source: str, kind: str, name: str = "pasted text") -> Article:
    """Turn decoded text of the given kind into an Article; an article without words is an ArticleError."""
    if kind == "html":
        plain = html_to_text(source)
    elif kind == "markdown":
        plain = markdown_to_text(source)
    elif kind == "text":
        plain = source
    else:
        raise ArticleError(f"unknown article kind {kind!r}: text, markdown or html")
    paragraphs = split_paragraphs(plain)
    if not paragraphs:
        raise ArticleError(f"{name}: the article is empty (no text after removing markup)")
    text = PARAGRAPH_BREAK.join(paragraphs)
    found, offset = [], 0
    for paragraph in paragraphs:
        found.append(Paragraph(offset, paragraph))
        offset += len(paragraph) + len(PARAGRAPH_BREAK)
    return Article(name, text, tuple(found))


def split_paragraphs(plain: str) -> list[str]:
    """Paragraphs are separated by blank lines; line breaks inside one become spaces, runs of spaces one space."""
    plain = plain.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    blocks = re.split(r"\n[ \t\u00a0]*\n", plain)
    cleaned = (re.sub(r"[ \t\n\f\v]+", " ", block).strip() for block in blocks)
    return [block for block in cleaned if block]


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            # Line breaks in HTML source are spaces; only block tags break paragraphs.
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(source: str) -> str:
    """Strip tags (script and style content dropped), decode entities; block elements end paragraphs."""
    parser = _TextParser()
    parser.feed(source)
    parser.close()
    return "".join(parser.parts)


_MD_RULES: tuple[tuple[str, str], ...] = (
    (r"(?m)^```.*$", ""),                                  # code fence lines (the code itself stays as text)
    (r"(?m)^ {0,3}#{1,6}\s*(.*?)\s*#*\s*$", r"\n\n\1\n\n"),  # ATX headings become their own paragraph
    (r"(?m)^ {0,3}(?:=+|-+)\s*$", "\n\n"),                   # setext underlines and rules
    (r"(?m)^ {0,3}>\s?", ""),                              # block quotes
    (r"(?m)^\s*(?:[-*+]|\d+[.)])\s+", "\n\n"),               # list items: one paragraph each
    (r"!\[([^\]]*)\]\([^)]*\)", r"\1"),                    # images: keep the alt text
    (r"\[([^\]]+)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)", r"\1"),  # links: keep the text, not [498]
    (r"\[([^\]]+)\]\[[^\]]*\]", r"\1"),                    # reference links
    (r"(?m)^\s*\[[^\]]+\]:\s*\S+.*$", ""),                 # link definitions
    (r"<[^>\n]+>", ""),                                    # inline HTML tags
    (r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2"),             # bold
    (r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1"),  # italics with * (not 2*3)
    (r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])", r"\1"),   # italics with _ (not snake_case)
    (r"`([^`]*)`", r"\1"),                                 # inline code
)


def markdown_to_text(source: str) -> str:
    """Remove Markdown syntax but keep the words, paragraph breaks and citation markers like [498]."""
    text = source.replace("\r\n", "\n")
    for pattern, replacement in _MD_RULES:
        text = re.sub(pattern, replacement, text)
    return html.unescape(text)
