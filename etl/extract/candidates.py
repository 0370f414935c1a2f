"""Turn an article into candidate ledger rows: one per money mention, with quote, citation, date and parties."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..schema import CONFIDENCE_LEVELS, LEDGER_COLUMNS, VISIBILITIES
from .dates import date_near
from .money import MoneyMention, find_money, number_locale
from .parties import Gazetteer, find_parties, party_roles
from .sentences import CITATION, split_sentences
from .text import Article

STATUS = "status"
STATUS_CANDIDATE = "candidate"
STATUS_ACCEPTED = "accepted"
STATUS_REJECTED = "rejected"
STATUS_KNOWN = "already_in_ledger"
STATUSES = (STATUS_CANDIDATE, STATUS_ACCEPTED, STATUS_REJECTED, STATUS_KNOWN)
# Columns a candidate file has beside the ledger's own (status first, so a reviewer sees it).
EXTRA_COLUMNS = ("mention", "quote", "citation", "char_start", "char_end", "ledger_id")
CANDIDATE_COLUMNS: tuple[str, ...] = (STATUS, *LEDGER_COLUMNS, *EXTRA_COLUMNS)
DEFAULT_CONFIDENCE = "reported"
# A row found in an article is unpublished material until a reporter says otherwise: it starts internal, so adding
# it never puts it in public mode, a public download or a published package by default.
DEFAULT_VISIBILITY = "internal"
SOURCE_REQUIRED_NOTE = "a source URL is required before appending (fill in sources)"
assert DEFAULT_CONFIDENCE in CONFIDENCE_LEVELS
assert DEFAULT_VISIBILITY in VISIBILITIES
_CITATION_RE = re.compile(CITATION)


@dataclass(frozen=True)
class Candidate:
    """One money mention found in the article, as a row of the candidate file."""

    mention: MoneyMention
    row: dict[str, str]


def slug(text: str, limit: int = 40) -> str:
    """Lower-case letters, digits and dashes: the readable part of a candidate id."""
    text = re.sub(r"^https?://(www\.)?", "", text.strip().lower())
    text = re.sub(r"\.(html?|php|aspx?)$", "", text)
    words = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return (words[:limit].strip("-") or "article")


def candidate_id(source: str, char_start: int) -> str:
    """Deterministic: the same article and source give the same ids on every run."""
    digest = hashlib.sha1(f"{source}\x1f{char_start}".encode("utf-8")).hexdigest()[:8]
    return f"{slug(source)}-{digest}"


def extract_candidates(article: Article, source_url: str = "", gazetteer: Gazetteer | None = None
                       ) -> list[Candidate]:
    """Every money mention of the article as a candidate row (status=candidate), in reading order."""
    locale = number_locale(article.text)
    source_for_id = source_url or article.name
    found: list[Candidate] = []
    for paragraph in article.paragraphs:
        mentions = find_money(paragraph.text, locale)
        if not mentions:
            continue
        spans = [(m.start, m.end) for m in mentions]
        for sentence in split_sentences(paragraph.text):
            inside = [m for m in mentions if sentence.start <= m.start < sentence.end]
            if not inside:
                continue
            local_spans = [(m.start - sentence.start, m.end - sentence.start) for m in inside]
            parties = find_parties(sentence.text, gazetteer, local_spans)
            for mention in inside:
                date = date_near(paragraph.text, sentence.start, sentence.end, mention.start, mention.end, spans)
                roles = party_roles(sentence.text, mention.start - sentence.start, mention.end - sentence.start,
                                    parties)
                char_start = paragraph.start + mention.start
                notes = [n for n in (mention.note, "" if source_url else SOURCE_REQUIRED_NOTE) if n]
                row = {column: "" for column in CANDIDATE_COLUMNS}
                row.update({
                    STATUS: STATUS_CANDIDATE,
                    "id": candidate_id(source_for_id, char_start),
                    "date": date.value,
                    "date_note": date.note,
                    "amount": mention.amount_text,
                    "currency": mention.currency,
                    "amount_kind": mention.kind,
                    "payer": roles.payer,
                    "intermediary": roles.intermediary,
                    "recipient": roles.recipient,
                    "confidence": DEFAULT_CONFIDENCE,
                    "visibility": DEFAULT_VISIBILITY,
                    "sources": source_url,
                    "notes": "; ".join(notes),
                    "mention": mention.text,
                    "quote": sentence.text,
                    "citation": citation_for(paragraph.text, sentence.start, sentence.end, mention.end),
                    "char_start": str(char_start),
                    "char_end": str(paragraph.start + mention.end),
                })
                found.append(Candidate(mention, row))
    return found


def citation_for(paragraph: str, sentence_start: int, sentence_end: int, mention_end: int) -> str:
    """The first marker after the mention in its sentence, else one standing right after the sentence, else the
    last marker before the mention in the sentence."""
    after = _CITATION_RE.search(paragraph, mention_end, sentence_end)
    if after:
        return after.group(0)
    right_after = re.compile(r"\s*(" + CITATION + ")").match(paragraph, sentence_end)
    if right_after:
        return right_after.group(1)
    before = _CITATION_RE.findall(paragraph, sentence_start, mention_end)
    return before[-1] if before else ""
