"""Unit tests of the extractor's steps: money forms, non-money numbers, dates, parties, text, sentences, ids."""
from __future__ import annotations

from decimal import Decimal

import pytest

from etl.extract.candidates import candidate_id, extract_candidates
from etl.extract.dates import date_near
from etl.extract.money import find_money, parse_number
from etl.extract.parties import Gazetteer, find_parties, party_roles
from etl.extract.sentences import split_sentences
from etl.extract.text import ArticleError, article_from_text, html_to_text, markdown_to_text
from etl.entities import read_register
from tests.ledger_factory import write_lookups


@pytest.mark.parametrize("text, mention, amount, currency, kind", [
    ("It was $2.9 billion.", "$2.9 billion", "2900000000", "USD", "payment"),
    ("It was USD $2.9 billion.", "USD $2.9 billion", "2900000000", "USD", "payment"),
    ("It was US$ 2.9bn.", "US$ 2.9bn", "2900000000", "USD", "payment"),
    ("He got €2.39m.", "€2.39m", "2390000", "EUR", "payment"),
    ("Some said 2.5 billion euros.", "2.5 billion euros", "2500000000", "EUR", "payment"),
    ("In 19 payments, EUR 819,500.", "EUR 819,500", "819500", "EUR", "payment"),
    ("He declared £6,000 a year.", "£6,000", "6000", "GBP", "yearly"),
    ("They charged $50,000 per month.", "$50,000", "50000", "USD", "monthly"),
    ("They got more than $7 million.", "$7 million", "7000000", "USD", "at_least"),
    ("They got at least $7 million.", "$7 million", "7000000", "USD", "at_least"),
    ("They got about $7 million.", "$7 million", "7000000", "USD", "estimate"),
    ("They got some $7 million.", "$7 million", "7000000", "USD", "estimate"),
    ("Er bekam 7,6 Mio. Euro.", "7,6 Mio. Euro", "7600000", "EUR", "payment"),
    ("Er bekam 1.234.567,89 €.", "1.234.567,89 €", "1234567.89", "EUR", "payment"),
    ("The ministry paid AZN 500,000.", "AZN 500,000", "500000", "AZN", "payment"),
    ("The ministry paid 500 000 manat.", "500 000 manat", "500000", "AZN", "payment"),
    ("It cost $1–2 million.", "$1–2 million", "1000000", "USD", "at_least"),
    ("It came to a total of $4 million.", "$4 million", "4000000", "USD", "total"),
    ("It came to $4 million in total.", "$4 million", "4000000", "USD", "total"),
])
def test_money_forms(text, mention, amount, currency, kind):
    [found] = find_money(text)
    assert (found.text, found.amount_text, found.currency, found.kind) == (mention, amount, currency, kind)
    assert text[found.start:found.end] == mention


def test_a_range_keeps_its_upper_bound_in_the_note():
    [found] = find_money("Estimates run at $1–2 million.")
    assert found.upper == Decimal("2000000")
    assert "lower bound" in found.note and "2000000" in found.note


@pytest.mark.parametrize("text", [
    "The resolution passed in 2013 with 39 in favour and 12 against.",
    "After a 6-hour debate, 318 delegates from 47 states voted.",
    "Resolution 62/243 was cited [498] on page 12.",
    "Turnout was 61.73% among 1,200 members, 2 000 of whom came by bus.",
    "In 2013 dollars, the figure is unchanged.",
    "The $ sign and the € sign appear in 2012 and 2014.",
    "TOP 10 reasons and ALL 28 members.",
])
def test_numbers_that_are_not_money(text):
    assert find_money(text) == []


def test_a_dollar_sign_does_not_attach_to_the_year_before_it():
    [found] = find_money("In 2013 $5,000 was paid.")
    assert found.text == "$5,000"


def test_one_dollar_figure_then_a_count_is_not_a_range():
    [found] = find_money("They paid $1 million to 2 charities.")
    assert (found.text, found.kind) == ("$1 million", "payment")


@pytest.mark.parametrize("number, mult, locale, value", [
    ("253,150", False, "en", "253150"), ("2.39", True, "en", "2.39"), ("7,6", True, "eu", "7.6"),
    ("819.500", False, "eu", "819500"), ("1,500", True, "eu", "1.5"), ("1.234.567,89", False, "eu", "1234567.89"),
    ("2.390", True, "en", "2.390"),
])
def test_parse_number(number, mult, locale, value):
    parsed, _ = parse_number(number, mult, locale)
    assert parsed == Decimal(value)


def _date(paragraph: str) -> tuple[str, str]:
    mentions = find_money(paragraph)
    spans = [(m.start, m.end) for m in mentions]
    sentence = next(s for s in split_sentences(paragraph) if s.start <= mentions[0].start < s.end)
    guess = date_near(paragraph, sentence.start, sentence.end, mentions[0].start, mentions[0].end, spans)
    return guess.value, guess.note


@pytest.mark.parametrize("paragraph, value", [
    ("The fund moved $2.9 billion between 2012 and 2014.", "2012/2014"),
    ("In July 2012 Metastar paid $7.6 million.", "2012-07"),
    ("On 30 July 2012 Metastar paid $7.6 million.", "2012-07-30"),
    ("Metastar paid $7.6 million on July 30, 2012.", "2012-07-30"),
    ("Die Firma zahlte am 30.07.2012 rund 7,6 Mio. Euro.", "2012-07-30"),
    ("He was paid €20,000 in 2012–14.", "2012/2014"),
    ("From March 2012 to May 2013 he got €20,000.", "2012-03/2013-05"),
    ("Orbán visited Baku in 2012. The first $7.6 million arrived in July.", "2012-07"),
    ("The resolution numbered 62/243 cost $5m in 2008.", "2008"),
])
def test_dates_near_the_mention(paragraph, value):
    assert _date(paragraph)[0] == value


def test_a_month_without_any_year_is_left_open_with_a_note():
    value, note = _date("The first instalment of $7.6 million arrived in July.")
    assert value == "" and "July" in note and "without a year" in note


def test_no_date_in_the_sentence_is_said():
    assert _date("Baguirov got $253,150. It happened in 2014.") == ("", "no date in the sentence")


@pytest.fixture(scope="module")
def gazetteer(tmp_path_factory) -> Gazetteer:
    root = tmp_path_factory.mktemp("register")
    lookups = write_lookups(root, entities=[
        {"name": "Metastar Invest LLP", "kind": "company", "aliases": "Metastar Invest|Metastar"},
        {"name": "Velasco International Inc.", "kind": "company", "aliases": "Velasco International|Valesco"},
        {"name": "Luca Volontè", "kind": "person", "aliases": "Volonte|Luca Volonte"},
        {"name": "MKB Bank", "kind": "company", "aliases": ""},
        {"name": "Elkhan Suleymanov", "kind": "person", "aliases": "Süleymanov"},
    ])
    return Gazetteer(read_register(lookups / "entities.csv"))


def _roles(sentence: str, gazetteer: Gazetteer) -> tuple[str, str, str]:
    [mention] = find_money(sentence)
    parties = find_parties(sentence, gazetteer, [(mention.start, mention.end)])
    roles = party_roles(sentence, mention.start, mention.end, parties)
    return roles.payer, roles.recipient, roles.intermediary


@pytest.mark.parametrize("sentence, expected", [
    ("Metastar paid $7.6 million to Velasco International via MKB Bank.",
     ("Metastar Invest LLP", "Velasco International Inc.", "MKB Bank")),
    ("Luca Volonté received €2.39m from Elkhan Suleymanov.", ("Elkhan Suleymanov", "Luca Volontè", "")),
    ("LUCA VOLONTE was paid €2.39m by Süleymanov.", ("Elkhan Suleymanov", "Luca Volontè", "")),
    ("Acme Holdings paid John Smith $5,000 for advice.", ("Acme Holdings", "John Smith", "")),
    ("€500,000 was transferred to the Novae Terrae Foundation.", ("", "Novae Terrae Foundation", "")),
    ("The report says $2 million was spent in Brussels.", ("", "", "")),
])
def test_payer_and_recipient(sentence, expected, gazetteer):
    assert _roles(sentence, gazetteer) == expected


def test_html_is_stripped_to_paragraphs():
    text = html_to_text("<html><head><style>p{}</style><script>var x = '$5m';</script></head><body>"
                        "<p>First &euro;5m<sup>[1]</sup>\nline</p><ul><li>Second</li></ul></body></html>")
    article = article_from_text(text, "text")
    assert [p.text for p in article.paragraphs] == ["First €5m[1] line", "Second"]


def test_markdown_keeps_words_and_citation_markers():
    text = markdown_to_text("# Title\n\nA **bold** [link](https://x.org/a_b) and [498] *it*.\n\n- item $5\n")
    article = article_from_text(text, "text")
    assert [p.text for p in article.paragraphs] == ["Title", "A bold link and [498] it.", "item $5"]


def test_an_article_without_words_is_refused():
    with pytest.raises(ArticleError, match="empty"):
        article_from_text("<html><script>x</script></html>", "html", "blank.html")


def test_sentences_survive_abbreviations_and_carry_citations():
    paragraph = "Mr. J. Smith paid $2.9 bn. to U.S. firms.[3] Then Dr. Who paid 7,6 Mio. Euro. End"
    sentences = split_sentences(paragraph)
    assert [s.text for s in sentences] == ["Mr. J. Smith paid $2.9 bn. to U.S. firms.[3]",
                                           "Then Dr. Who paid 7,6 Mio. Euro.", "End"]
    assert sentences[0].citation == "[3]"


def test_ids_are_deterministic_and_valid_ledger_ids():
    from etl.validate import ID_PATTERN
    import re

    article = article_from_text("Metastar paid $5m. Then €2m.", "text", "a.txt")
    first = [c.row["id"] for c in extract_candidates(article, "https://example.org/story")]
    again = [c.row["id"] for c in extract_candidates(article, "https://example.org/story")]
    assert first == again and len(set(first)) == 2
    assert all(re.fullmatch(ID_PATTERN, i) for i in first)
    assert candidate_id("https://example.org/story", 9) != candidate_id("https://example.org/story", 10)


def test_candidates_without_a_source_say_one_is_needed():
    article = article_from_text("Metastar paid $5m.", "text", "a.txt")
    [candidate] = extract_candidates(article)
    row = candidate.row
    assert row["sources"] == "" and "source URL is required" in row["notes"]
    assert (row["status"], row["confidence"]) == ("candidate", "reported")
