"""Find money mentions in text: amount, ISO currency, and the kind the wording implies (rate, at least, estimate).

A number is money only when a currency marker touches it ($2.9 billion, EUR 819,500, 500 000 manat, 1.234.567,89 €),
so years, vote counts, durations, head counts, resolution numbers and citation markers never qualify. Amounts are
exact decimals (never floats). A range ("$1–2 million") yields one mention: the lower bound, kind at_least, and
the range in the note, because the ledger holds one amount per row and "at least the lower bound" is what a
range guarantees.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ..amounts import MULTIPLIERS
from ..currency import UNAMBIGUOUS_MARKERS, iso_currency_codes

# ISO codes that are also common upper-case words in headlines ("TOP 10", "ALL 28 members"): not read as currency.
CODES_THAT_ARE_WORDS = frozenset({"ALL", "TOP", "CUP", "SOS", "MOP", "PEN", "BOB", "XXX", "XTS"})
# Multipliers the ledger parser does not need but reporters write.
EXTRA_MULTIPLIERS = {"trillion": 12, "tn": 12, "trn": 12}
# Currency words beyond etl.currency's markers (folded to lower case, single spaces).
EXTRA_CURRENCY_WORDS = {"sterling": "GBP", "pounds sterling": "GBP", "pound sterling": "GBP", "swiss francs": "CHF",
                        "swiss franc": "CHF", "us dollars": "USD", "u.s. dollars": "USD", "us dollar": "USD",
                        "u.s. dollar": "USD", "usd $": "USD", "usd$": "USD", "us $": "USD", "u.s. $": "USD",
                        "u.s.$": "USD", "hk$": "HKD", "nz$": "NZD", "yen": "JPY", "yuan": "CNY", "lira": "TRY", "hryvnia": "UAH",
                        "forint": "HUF", "zloty": "PLN", "lari": "GEL", "tenge": "KZT", "dram": "AMD"}
AMOUNT_KIND_PAYMENT = "payment"

_SPACE = r"[ \u00a0\u202f]"
_NUM = (r"(?:\d{1,3}(?:(?:,\d{3})+|(?:\.\d{3})+|(?:" + _SPACE + r"\d{3})+|(?:['’]\d{3})+)(?:[.,]\d+)?"
        r"|\d+(?:[.,]\d+)?)")
_ALL_MULTIPLIERS = {**MULTIPLIERS, **EXTRA_MULTIPLIERS}
_LONG_MULT = sorted((w for w in _ALL_MULTIPLIERS if len(w.rstrip(".")) > 1), key=len, reverse=True)
_SHORT_MULT = sorted(w for w in _ALL_MULTIPLIERS if len(w.rstrip(".")) == 1)
# Long multipliers may stand after a space ("2.9 billion"); one-letter ones must touch the number ("€2.39m").
_MULT = (r"(?:" + _SPACE + r"?(?i:" + "|".join(re.escape(w) for w in _LONG_MULT) + r")|(?i:"
         + "|".join(re.escape(w) for w in _SHORT_MULT) + r"))(?![^\W\d_])")


def _codes() -> list[str]:
    return sorted(c for c in iso_currency_codes() if c not in CODES_THAT_ARE_WORDS)


_ISO = r"\b(?:" + "|".join(_codes()) + r")\b"
_PRE = (r"(?:USD" + _SPACE + r"?\$|U\.?S\.?" + _SPACE + r"?\$|NZ\$|HK\$|C\$|A\$|[$€£₼₽₺₴]|" + _ISO + r")")
_WORDS = (r"(?:U\.?S\.?" + _SPACE + r")?dollars?|euros?|pounds?(?:" + _SPACE + r"sterling)?|sterling|manats?|"
          r"roubles?|rubles?|swiss" + _SPACE + r"francs?|yen|yuan|lira|hryvnia|forint|zloty|lari|tenge|dram")
_POST = (r"(?:[$€£₼₽₺₴](?!" + _SPACE + r"?\d)|" + _ISO + r"(?!" + _SPACE + r"?\d)|(?i:" + _WORDS + r")(?![^\W\d_]))")
MONEY_RE = re.compile(
    r"(?:(?P<pre>" + _PRE + r")" + _SPACE + r"?)?"
    r"(?<![\w.,])(?P<num>" + _NUM + r")(?P<mult>" + _MULT + r")?"
    r"(?:(?P<rsep>" + _SPACE + r"?[–—-]" + _SPACE + r"?|" + _SPACE + r"(?:to|bis)" + _SPACE + r")"
    r"(?:(?P<pre2>" + _PRE + r")" + _SPACE + r"?)?(?P<num2>" + _NUM + r")(?P<mult2>" + _MULT + r")?)?"
    r"(?:" + _SPACE + r"?(?P<post>" + _POST + r"))?"
)

# Wording right before a mention that changes its kind (matched against the text just before it).
_AT_LEAST_BEFORE = re.compile(
    r"(?i)\b(?:more\s+than|over|above|at\s+least|in\s+excess\s+of|upwards\s+of|no\s+less\s+than|not\s+less\s+than|"
    r"a\s+minimum\s+of|minimum\s+of|mehr\s+als|über|mindestens|plus\s+de|oltre|at\s+minimum)\s*$")
_ESTIMATE_BEFORE = re.compile(
    r"(?i)(?:\b(?:about|some|around|approximately|approx\.|roughly|an\s+estimated|estimated|nearly|almost|"
    r"close\s+to|up\s+to|circa|rund|etwa|knapp|ungefähr|zirka|environ|circa|an\s+approximate|"
    r"in\s+the\s+region\s+of|of\s+the\s+order\s+of)|(?<!\w)(?:ca\.|c\.|~))\s*$")
_AT_LEAST_AFTER = re.compile(r"(?i)^(?:-plus\b|\s+or\s+more\b|\s+and\s+more\b|\+)")
_TOTAL_BEFORE = re.compile(
    r"(?i)\b(?:a\s+total\s+of|total\s+of|totall?ing|totall?ed|a\s+combined|combined|a\s+sum\s+of|sum\s+of|"
    r"insgesamt)\b[^.;:$€£]{0,20}$")
_TOTAL_AFTER = re.compile(r"(?i)^[\s,]*(?:in\s+total|in\s+all|altogether|overall|combined|insgesamt)\b")
_RATE_AFTER = re.compile(
    r"(?i)^[\s,-]*(?:(?:a|an|per|each|every|/|pro|im|the)[\s-]*(?P<unit>month|year|annum|yr|mo|monat|jahr)\b"
    r"|(?P<word>monthly|annually|yearly|per\s+annum|p\.\s?a\.|jährlich|monatlich))")
_RATE_BEFORE = re.compile(
    r"(?i)\b(?P<word>monthly|annual|yearly|a\s+month|per\s+month|a\s+year|per\s+year|jährliche[nrs]?|"
    r"monatliche[nrs]?)\s+(?:\w+\s+){0,2}(?:of\s+)?$")
_CONSTANT_MONEY = re.compile(r"(?i)\b(?:in|constant|of|today's)\s*$")
_MONTHLY_WORDS = ("month", "mo", "monat", "monthly", "monatlich", "a month", "per month")


@dataclass(frozen=True)
class MoneyMention:
    """One money mention: offsets in the searched text, the words as written, the exact amount and its kind."""

    start: int
    end: int
    text: str
    amount: Decimal
    currency: str
    kind: str
    upper: Decimal | None = None
    note: str = ""

    @property
    def amount_text(self) -> str:
        """The amount as a plain exact decimal string: 2900000000, 7600000, 1234567.89."""
        return decimal_text(self.amount)


def decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def number_locale(text: str) -> str:
    """'eu' when the text writes decimals with a comma (7,6 Mio.; 1.234.567,89), else 'en'."""
    continental = re.search(r"\d,\d{1,2}(?!\d)" + _SPACE + r"?(?:Mio|Mrd|Million|Milliard|Tsd|€|Euro|EUR)"
                            r"|\d{1,3}(?:\.\d{3})+,\d|\d\.\d{3}\.\d{3}(?![\d,])|\d,\d{1,2}" + _SPACE + r"?€", text)
    return "eu" if continental else "en"


def parse_number(number: str, has_multiplier: bool, locale: str) -> tuple[Decimal | None, str]:
    """Exact value of a written number and a note when its separators were ambiguous."""
    digits = re.sub(r"[ \u00a0\u202f'’]", "", number)
    note = ""
    commas, dots = digits.count(","), digits.count(".")
    if commas and dots:
        decimal_mark = "," if digits.rfind(",") > digits.rfind(".") else "."
    elif commas + dots == 0:
        decimal_mark = ""
    else:
        mark = "," if commas else "."
        count = commas or dots
        three_after = re.fullmatch(r"\d{1,3}[.,]\d{3}", digits) is not None
        if count > 1:
            decimal_mark = ""  # 1,234,567 or 1.234.567: grouping only
        elif not three_after:
            decimal_mark = mark  # 2.9, 7,6, 2.39
        elif mark == ",":
            # "253,150" is English grouping; "1,500 Mio." in a continental text is 1.5 million.
            decimal_mark = "," if (locale == "eu" and has_multiplier) else ""
        else:
            # "2.390m" is 2.39 million; "819.500" in a continental text is 819500.
            decimal_mark = "." if (has_multiplier or locale == "en") else ""
            if not has_multiplier and locale == "en":
                note = f"'{number}' could also mean {number.replace('.', '')} (dot as thousands separator)"
    if decimal_mark:
        other = "." if decimal_mark == "," else ","
        digits = digits.replace(other, "").replace(decimal_mark, ".")
    else:
        digits = digits.replace(",", "").replace(".", "")
    try:
        return Decimal(digits), note
    except InvalidOperation:
        return None, ""


def currency_code(marker: str) -> str:
    """ISO code of a currency marker as written ("US$", "€", "euros", "AZN"); "" when unknown."""
    folded = re.sub(r"[\s\u00a0\u202f]+", " ", marker.strip()).lower()
    if marker.strip().upper() in iso_currency_codes() and marker.strip().isupper():
        return marker.strip()
    return UNAMBIGUOUS_MARKERS.get(folded) or EXTRA_CURRENCY_WORDS.get(folded) or \
        UNAMBIGUOUS_MARKERS.get(folded.replace(" ", "")) or ""


def _multiplier(word: str | None) -> int:
    if not word:
        return 0
    return _ALL_MULTIPLIERS[word.strip(" \u00a0\u202f").lower()]


def find_money(text: str, locale: str | None = None) -> list[MoneyMention]:
    """Every money mention in text (one paragraph or sentence), in order."""
    locale = locale or number_locale(text)
    found: list[MoneyMention] = []
    previous_end = 0
    for match in MONEY_RE.finditer(text):
        mention = _mention(text, match, locale, previous_end)
        if mention is not None:
            found.append(mention)
            previous_end = mention.end
    return found


def _mention(text: str, match: re.Match, locale: str, previous_end: int) -> MoneyMention | None:
    pre, post = match.group("pre"), match.group("post")
    ranged = match.group("num2") is not None
    end = match.end()
    if ranged and not _plausible_range(match):
        # Not a range after all ("$1 million to 2 charities"): the mention stops after the first figure.
        ranged, post = False, None
        end = match.end("mult") if match.group("mult") else match.end("num")
    if not pre and not post:
        return None
    if not pre and not match.group("mult") and not ranged and re.fullmatch(r"(?:19|20)\d\d", match.group("num")) \
            and _CONSTANT_MONEY.search(text[max(0, match.start() - 12):match.start()]):
        return None  # "in 2013 dollars" names a price level, not an amount
    currency = currency_code(pre) if pre else ""
    if post and (not currency or (pre and pre.strip() == "$" and currency_code(post))):
        currency = currency_code(post) or currency
    if not currency:
        return None
    mult = match.group("mult2") if ranged else match.group("mult")
    first_mult = match.group("mult") or (mult if ranged else None)
    low, note = parse_number(match.group("num"), first_mult is not None, locale)
    if low is None or low == 0:
        return None
    amount = low.scaleb(_multiplier(first_mult))
    upper = None
    notes = [note] if note else []
    if ranged:
        high, high_note = parse_number(match.group("num2"), mult is not None, locale)
        if high is None:
            return None
        upper = high.scaleb(_multiplier(mult))
        if upper < amount:
            return None
        if high_note:
            notes.append(high_note)
    start = match.start()
    before = text[max(previous_end, start - 80):start]
    after = text[end:end + 40]
    kind = _kind(before, after, ranged)
    if ranged:
        notes.append(f"range {decimal_text(amount)}–{decimal_text(upper)} {currency} as written "
                     f"('{text[start:end]}'); the amount is the lower bound")
    return MoneyMention(start, end, text[start:end], amount, currency, kind, upper, "; ".join(notes))


def _plausible_range(match: re.Match) -> bool:
    """A dash range is a range; "to" needs the second figure to look like money ("$1m to $2m", "1 to 2 million")."""
    if match.group("rsep").strip() in ("–", "—", "-"):
        return True
    return bool(match.group("pre2") or match.group("mult2") or match.group("post"))


def _kind(before: str, after: str, ranged: bool) -> str:
    """Rate wording wins (a rate is never a total), then at least / estimate, then total, else payment."""
    rate = _RATE_AFTER.search(after)
    word = (rate.group("unit") or rate.group("word")) if rate else None
    if word is None:
        before_rate = _RATE_BEFORE.search(before)
        word = before_rate.group("word") if before_rate else None
    if word is not None:
        folded = re.sub(r"\s+", " ", word.lower())
        return "monthly" if folded.startswith(_MONTHLY_WORDS) or "month" in folded or "monat" in folded \
            else "yearly"
    if _AT_LEAST_BEFORE.search(before) or _AT_LEAST_AFTER.search(after) or ranged:
        return "at_least"
    if _ESTIMATE_BEFORE.search(before):
        return "estimate"
    if _TOTAL_BEFORE.search(before) or _TOTAL_AFTER.search(after):
        return "total"
    return AMOUNT_KIND_PAYMENT
