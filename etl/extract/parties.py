"""Guess payer, recipient and intermediary of a money mention from its sentence, rule-based.

Names are found first in the entity register (canonical names and aliases, folded like etl.entities folds them),
then as capitalised phrases. A name gets a role only when a cue word ties it to one ("X paid", "from X", "to X",
"X received", "via X"); when no cue is clear the role stays blank rather than guessed.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..entities import EntityRegister, read_register

PAY_VERBS = (r"paid|pays|paying|transferred|transfers|wired|wires|sent|sends|gave|gives|donated|donates|"
             r"funnell?ed|channell?ed|routed|lent|loaned|handed|remitted|zahlte|zahlten|überwies|überwiesen")
RECEIVE_VERBS = (r"received|receives|receiving|got|gets|pocketed|obtained|earned|collected|accepted|took|"
                 r"(?:was|were|is|are|had\s+been|has\s+been|have\s+been)\s+paid|erhielt|erhielten|bekam|kassierte")
_DET = r"(?:(?:the|a|an|its|his|her|their)\s+)?"
_LEFT_PAYER = re.compile(r"(?i)\b(?:from|von|vom)\s+" + _DET + r"$")
_LEFT_BY = re.compile(r"(?i)\b(?P<verb>\w+)\s+(?:\w+\s+)?by\s+" + _DET + r"$")
_LEFT_RECIPIENT = re.compile(
    r"(?i)\b(?:to|into|reached|reaching|zugunsten|an\s+die|an\s+den)\s+" + _DET
    + r"(?:(?:bank\s+)?accounts?\s+(?:of|held\s+by|belonging\s+to|owned\s+by)\s+" + _DET + r")?$")
_LEFT_VIA = re.compile(
    r"(?i)\b(?:via|through|über|(?:bank\s+)?accounts?\s+(?:at|with|in))\s+" + _DET + r"$")
_LEFT_AFTER_PAY_VERB = re.compile(r"(?i)\b(?:" + PAY_VERBS + r")\s+$")
_RIGHT_PAYER = re.compile(r"(?i)^(?:['’]s)?[\s,]*(?:\w+\s+){0,2}?(?:" + PAY_VERBS + r")\b")
_RIGHT_RECIPIENT = re.compile(r"(?i)^(?:['’]s)?[\s,]*(?:\w+\s+){0,2}?(?:" + RECEIVE_VERBS + r")\b")
_RECEIVE_BEFORE_BY = re.compile(r"(?i)^(?:" + RECEIVE_VERBS.replace(r"(?:was|were|is|are|had\s+been|has\s+been|"
                                                                    r"have\s+been)\s+paid", "accepted") + r")$")

# Capitalised words that start sentences or name months, days and currencies, never a party on their own.
NOT_NAMES = frozenset("""
The A An In On At By For From To Of And But Or So Yet As If When While After Before Since Until During According
He She It They We I You His Her Its Their This That These Those There Here Then Also However Meanwhile
Bank Records Documents Prosecutors Investigators Court Police Officials Reporters Sources
January February March April May June July August September October November December Monday Tuesday
Wednesday Thursday Friday Saturday Sunday USD EUR GBP AZN US Euro Euros Dollar Dollars Mio Mrd
Der Die Das Ein Eine Im Am Nach Laut Er Sie Es
""".split())
_CONNECTORS = r"(?:of|for|and|&|de|di|del|della|der|von|van|du|la|le|y|e)"
_CAP_TOKEN = r"(?:[A-ZÀ-ÖØ-ÞŞĞİ][\w'’.&-]*[\w&]|[A-Z])"
_CAP_PHRASE = re.compile(r"(?<![\w'’])" + _CAP_TOKEN + r"(?:(?:\s+" + _CONNECTORS + r")?\s+" + _CAP_TOKEN + r")*")


@dataclass(frozen=True)
class Party:
    """A name in a sentence: offsets, the words, and the canonical name (register) or the words (phrase)."""

    start: int
    end: int
    text: str
    name: str
    registered: bool


@dataclass(frozen=True)
class Roles:
    payer: str = ""
    recipient: str = ""
    intermediary: str = ""


class Gazetteer:
    """Every spelling of the register as one accent- and case-insensitive pattern over folded text."""

    def __init__(self, register: EntityRegister):
        self.canonical_by_key = dict(register.canonical_by_key)
        keys = sorted((k for k in self.canonical_by_key if k), key=len, reverse=True)
        if keys:
            alternation = "|".join(r"\s+".join(re.escape(w) for w in k.split()) for k in keys)
            self.pattern: re.Pattern | None = re.compile(r"(?<!\w)(?:" + alternation + r")(?!\w)")
        else:
            self.pattern = None

    @classmethod
    def from_file(cls, path: Path) -> "Gazetteer":
        return cls(read_register(Path(path)))

    def find(self, text: str) -> list[Party]:
        if self.pattern is None:
            return []
        folded = fold_same_length(text)
        found = []
        for match in self.pattern.finditer(folded):
            key = " ".join(match.group(0).split())
            found.append(Party(match.start(), match.end(), text[match.start():match.end()],
                               self.canonical_by_key[key], True))
        return found


def fold_same_length(text: str) -> str:
    """Fold like etl.entities.name_key (accents, case, punctuation) but keep every character's offset."""
    out = []
    for char in text:
        base = unicodedata.normalize("NFKD", char)
        base = "".join(c for c in base if not unicodedata.combining(c)) or char
        lowered = base.casefold()
        folded = lowered if len(lowered) == 1 else base[0].lower() if len(base) == 1 else char.lower()[:1]
        out.append(folded if re.match(r"\w", folded) else " ")
    return "".join(out)


def find_parties(sentence: str, gazetteer: Gazetteer | None, skip: list[tuple[int, int]]) -> list[Party]:
    """Registered names first (longest wins), then capitalised phrases that overlap none of them or skip spans."""
    parties = gazetteer.find(sentence) if gazetteer else []
    taken = [(p.start, p.end) for p in parties] + list(skip)
    for match in _CAP_PHRASE.finditer(sentence):
        start, end = match.span()
        words = match.group(0)
        # Drop a leading sentence word ("The", "According") and a trailing possessive.
        lead = re.match(r"(?:(?:" + "|".join(sorted(NOT_NAMES, key=len, reverse=True)) + r")\s+)+", words)
        if lead:
            start += lead.end()
            words = sentence[start:end]
        words = re.sub(r"['’]s$", "", words)
        end = start + len(words)
        if not words or words in NOT_NAMES or len(words) < 2:
            continue
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        parties.append(Party(start, end, words, words, False))
    return sorted(parties, key=lambda p: p.start)


def party_roles(sentence: str, mention_start: int, mention_end: int, parties: list[Party]) -> Roles:
    """Roles of the names in one sentence relative to one mention (offsets within the sentence)."""
    votes: dict[str, list[Party]] = {"payer": [], "recipient": [], "intermediary": []}
    for party in parties:
        role = _role(sentence, party, mention_start)
        if role:
            votes[role].append(party)

    def nearest(role: str) -> str:
        names = {p.name for p in votes[role]}
        others = {p.name for r, ps in votes.items() if r != role for p in ps}
        candidates = [p for p in votes[role] if p.name not in others]
        if not candidates or not names:
            return ""
        best = min(candidates, key=lambda p: max(0, p.start - mention_end, mention_start - p.end))
        return best.name

    return Roles(nearest("payer"), nearest("recipient"), nearest("intermediary"))


def _role(sentence: str, party: Party, mention_start: int) -> str:
    left = sentence[max(0, party.start - 60):party.start]
    right = sentence[party.end:party.end + 50]
    if _LEFT_VIA.search(left):
        return "intermediary"
    if _LEFT_PAYER.search(left):
        return "payer"
    by = _LEFT_BY.search(left)
    if by:
        return "recipient" if _RECEIVE_BEFORE_BY.match(by.group("verb")) else "payer"
    if _LEFT_RECIPIENT.search(left):
        return "recipient"
    if _LEFT_AFTER_PAY_VERB.search(left) and party.end <= mention_start:
        return "recipient"  # "X paid Y $5m"
    if _RIGHT_RECIPIENT.match(right):
        return "recipient"
    if _RIGHT_PAYER.match(right):
        return "payer"
    return ""


def gazetteer_for(lookup_dir: Path) -> Gazetteer | None:
    """The register under lookup_dir as a gazetteer, or None when there is no register."""
    path = Path(lookup_dir) / "entities.csv"
    return Gazetteer.from_file(path) if path.exists() else None
