"""Split a paragraph into sentences (with offsets) and find the citation marker of each, rule-based."""
from __future__ import annotations

import re
from dataclasses import dataclass

# A marker such as [498], [12, 13] or [a]; several may follow each other ("[3][4]").
CITATION = r"\[(?:\d{1,4}|[a-z])(?:\s*[,–-]\s*(?:\d{1,4}|[a-z]))*\]"
_CITATION_RE = re.compile(CITATION)
# Words whose trailing dot does not end a sentence (lower case, without the dot).
ABBREVIATIONS = frozenset("""
mr mrs ms dr prof st no nos inc ltd co corp jr sr vs etc approx ca cf al e.g i.e u.s u.k u.n e.u
mio mrd tsd jan feb mar apr jun jul aug sep sept oct nov dec art para ref fig dept gov sen rep
rev gen col capt lt sgt nr bzw ggf sog vgl ua u.a z.b d.h s.a.r.l s.a s.p.a
""".split())
# Sentence end: . ! ? (or …), then closing quotes/brackets, then any citation markers, then space.
_END = re.compile(r"(?P<stop>[.!?…]+)(?P<close>[\"'”’)\]]*)(?P<cite>(?:\s?" + CITATION + r")*)(?=\s+\S|$)")
_NEXT_STARTS_SENTENCE = re.compile(r"\s+[\"'“‘(\[]?[A-Z0-9ÀÁÂÄÉÈÖÜŞÇĞİ€$£]")


@dataclass(frozen=True)
class Sentence:
    """A sentence: its offsets within the paragraph text, its text, and the citation marker in or after it."""

    start: int
    end: int
    text: str
    citation: str


def split_sentences(paragraph: str) -> list[Sentence]:
    """Sentences of one paragraph; abbreviations, initials and decimal points do not end a sentence."""
    sentences: list[Sentence] = []
    start = 0
    for match in _END.finditer(paragraph):
        end = match.end()
        if match.group("stop") == "." and not match.group("close") and not match.group("cite") \
                and _is_abbreviation(paragraph, match.start()):
            continue
        if end < len(paragraph) and not _NEXT_STARTS_SENTENCE.match(paragraph, end):
            continue
        sentences.append(_sentence(paragraph, start, end))
        start = end
        while start < len(paragraph) and paragraph[start].isspace():
            start += 1
    if start < len(paragraph) and paragraph[start:].strip():
        sentences.append(_sentence(paragraph, start, len(paragraph.rstrip())))
    return sentences


def _is_abbreviation(paragraph: str, dot: int) -> bool:
    word = re.search(r"([\w.]+)$", paragraph[:dot])
    if not word:
        return False
    token = word.group(1).lower()
    # Single capital initials ("J. Smith") and known abbreviations keep the sentence going.
    return token in ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _sentence(paragraph: str, start: int, end: int) -> Sentence:
    text = paragraph[start:end]
    markers = _CITATION_RE.findall(text)
    return Sentence(start, end, text, markers[-1] if markers else "")


def citation_after(paragraph: str, sentence: Sentence) -> str:
    """The sentence's own marker, else a marker standing right after it (before the next sentence's words)."""
    if sentence.citation:
        return sentence.citation
    match = re.compile(r"\s*(" + CITATION + ")").match(paragraph, sentence.end)
    return match.group(1) if match else ""
