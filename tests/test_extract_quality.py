"""Money-mention precision and recall over hand-written test articles, and the Azerbaijan story's three facts."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from etl.extract.candidates import extract_candidates
from etl.extract.parties import gazetteer_for
from etl.extract.text import read_article
from etl.schema import LOOKUP_DIR

ARTICLES = Path(__file__).parent / "articles"
MIN_PRECISION = MIN_RECALL = 0.95


def article_pairs() -> list[tuple[Path, Path]]:
    pairs = []
    for expected in sorted(ARTICLES.glob("*.expected.csv")):
        stem = expected.name.removesuffix(".expected.csv")
        [article] = [p for p in ARTICLES.glob(stem + ".*") if not p.name.endswith(".csv")]
        pairs.append((article, expected))
    return pairs


def score(article: Path, expected_file: Path) -> tuple[int, int, int, list[str]]:
    """(true positives, false positives, false negatives, wrong fields) matching mentions as written, in order."""
    with open(expected_file, encoding="utf-8", newline="") as handle:
        expected = list(csv.DictReader(handle))
    found = [c.row for c in extract_candidates(read_article(article))]
    remaining, wrong = list(expected), []
    tp = fp = 0
    for row in found:
        match = next((e for e in remaining if e["mention"] == row["mention"]), None)
        if match is None:
            fp += 1
            wrong.append(f"{article.name}: unexpected {row['mention']!r}")
            continue
        remaining.remove(match)
        tp += 1
        got = (row["amount"], row["currency"], row["amount_kind"])
        want = (match["amount"], match["currency"], match["kind"])
        if got != want:
            wrong.append(f"{article.name}: {row['mention']!r} gave {got}, expected {want}")
    wrong += [f"{article.name}: missed {e['mention']!r}" for e in remaining]
    return tp, fp, len(remaining), wrong


def test_the_article_set_is_varied_enough():
    pairs = article_pairs()
    assert len(pairs) >= 12
    suffixes = {a.suffix for a, _ in pairs}
    assert {".txt", ".md", ".html"} <= suffixes
    empty = [a for a, e in pairs if len(e.read_text(encoding="utf-8").strip().splitlines()) == 1]
    assert empty, "one article must have no money at all"


def test_money_mentions_precision_and_recall():
    tp = fp = fn = 0
    problems: list[str] = []
    for article, expected in article_pairs():
        a, b, c, wrong = score(article, expected)
        tp, fp, fn = tp + a, fp + b, fn + c
        problems += wrong
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"\nmoney mentions over {len(article_pairs())} articles: {tp} found right, {fp} false, {fn} missed; "
          f"precision {precision:.3f}, recall {recall:.3f}")
    for problem in problems:
        print("  " + problem)
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL
    wrong_fields = [p for p in problems if " gave " in p]
    assert not wrong_fields, "amount, currency and kind must be exactly right for every true mention"


@pytest.fixture(scope="module")
def story_rows() -> dict[str, dict]:
    article = read_article(ARTICLES / "azerbaijan_story.md")
    rows = [c.row for c in extract_candidates(article, "https://example.org/baku-trail",
                                              gazetteer_for(LOOKUP_DIR))]
    return {r["mention"]: r for r in rows}


def test_story_fund_of_2012_to_2014(story_rows):
    row = story_rows["USD 2.9 billion"]
    assert (row["amount"], row["currency"], row["date"]) == ("2900000000", "USD", "2012/2014")
    assert row["citation"] == "[12]"


def test_story_transfer_to_baguirov(story_rows):
    row = story_rows["$253,150"]
    assert (row["amount"], row["currency"], row["amount_kind"]) == ("253150", "USD", "payment")
    assert row["recipient"] == "Adil Baguirov"
    assert row["payer"] == "Laundromat shell companies (unnamed)"
    assert row["citation"] == "[14]"


def test_story_first_instalment_in_july_after_june_visit(story_rows):
    row = story_rows["$7.6 million"]
    assert (row["amount"], row["currency"], row["amount_kind"]) == ("7600000", "USD", "total")
    assert row["date"] == "2012-07"
    assert "2012" in row["date_note"]
    assert (row["payer"], row["recipient"]) == ("Metastar Invest LLP", "Velasco International Inc.")
    assert row["quote"].startswith("Metastar Invest then paid") and row["citation"] == "[15]"


def test_story_offsets_point_at_the_mention():
    article = read_article(ARTICLES / "azerbaijan_story.md")
    for candidate in extract_candidates(article):
        row = candidate.row
        assert article.text[int(row["char_start"]):int(row["char_end"])] == row["mention"]
        assert row["mention"] in row["quote"]
