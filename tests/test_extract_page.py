"""The Import article page's functions called directly: uploads, candidates, highlighting, add to ledger."""
from __future__ import annotations

import base64
import importlib
from pathlib import Path

import pytest
from dash import html

from etl.load import read_ledger
from tests.ledger_factory import ledger_folder, row

SOURCE = "https://example.org/story"


@pytest.fixture(scope="module")
def page():
    from dashboard.app import app  # noqa: F401  (pages register only once an app exists)
    return importlib.import_module("pages.import_article")


@pytest.fixture()
def root(tmp_path):
    return ledger_folder(tmp_path, [row(id="r1", amount="5 million", currency="USD", sources=SOURCE)])


@pytest.fixture(autouse=True)
def local_mode(monkeypatch):
    monkeypatch.delenv("INFLUENCE_LEDGER_PUBLIC", raising=False)
    monkeypatch.delenv("INFLUENCE_LEDGER_USERS", raising=False)


def upload(data: bytes) -> str:
    return "data:text/plain;base64," + base64.b64encode(data).decode()


def test_uploads_are_checked_for_type_and_size(page):
    from etl.extract.text import ArticleError

    with pytest.raises(ArticleError, match="only .txt .md .html .htm"):
        page.read_upload(upload(b"x"), "report.pdf")
    with pytest.raises(ArticleError, match="the limit is 2 MB"):
        page.read_upload(upload(b"a" * (page.MAX_UPLOAD_BYTES + 1)), "big.txt")
    assert page.read_upload(upload("# T\n\n€5m".encode()), "a.md") == ("# T\n\n€5m", "markdown")


def test_a_rejected_upload_is_a_message(page, root):
    rows, message = page.find_candidates("", upload(b"\xff\xfe\x00"), "x.docx", "", True, root)
    assert rows == [] and "only" in message


def test_pasted_text_gives_rows_and_highlighted_quotes(page, root):
    rows, message = page.find_candidates("Metastar paid $5 million to Luca Volonte in 2013. Then $7,000 more.",
                                         None, None, SOURCE, False, root)
    assert "2 money mention(s)" in message and "1 already in a ledger" in message
    assert [r["row_key"] for r in rows] == ["0", "1"]
    before, mark, after = page.highlighted_quote(rows[0])
    assert isinstance(mark, html.Mark) and mark.children == "$5 million"
    assert before + mark.children + after == rows[0]["quote"]
    assert len(page.quote_items(rows)) == 2


def test_no_source_url_is_pointed_out(page, root):
    _, message = page.find_candidates("Metastar paid $12 to Luca Volonte.", None, None, "", False, root)
    assert "source URL" in message


def test_ticked_rows_are_added_and_the_dataset_rebuilt(page, root, tmp_path):
    rows, _ = page.find_candidates("Metastar paid $7,000 to Luca Volonte in May 2013.", None, None, SOURCE, False,
                                   root)
    result = page.add_to_ledger(rows, "test.csv", root, tmp_path / "build")
    text = str(result)
    assert "Added 1 row(s) to test.csv" in text and "Dataset rebuilt: 2 transfers" in text
    assert read_ledger(root / "test.csv", root).frame["amount"].tolist() == ["5 million", "7000"]
    assert (tmp_path / "build" / "transfers.parquet").exists()


def test_rows_with_issues_add_nothing(page, root, tmp_path):
    rows, _ = page.find_candidates("Someone paid $7,000 in May 2013.", None, None, SOURCE, False, root)
    before = (root / "test.csv").read_bytes()
    text = str(page.add_to_ledger(rows, "test.csv", root, tmp_path / "build"))
    assert "Nothing was added" in text and "table row 1, payer" in text
    assert (root / "test.csv").read_bytes() == before


def test_public_mode_never_writes(page, root, tmp_path, monkeypatch):
    monkeypatch.setenv("INFLUENCE_LEDGER_PUBLIC", "1")
    rows, _ = page.find_candidates("Metastar paid $7,000 to Luca Volonte.", None, None, SOURCE, False, root)
    assert "switched off" in str(page.add_to_ledger(rows, "test.csv", root, tmp_path / "build"))


def test_only_ledgers_under_the_folder_can_be_chosen(page, root, tmp_path):
    rows, _ = page.find_candidates("Metastar paid $7,000 to Luca Volonte.", None, None, SOURCE, False, root)
    assert "is not a ledger" in str(page.add_to_ledger(rows, "../../etc/passwd.csv", root, tmp_path / "b"))
    assert page.ledger_options(root) == [{"label": "test.csv", "value": "test.csv"}]


def texts(component) -> str:
    """All the text inside a Dash component tree."""
    if component is None:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, (list, tuple)):
        return "".join(texts(c) for c in component)
    return texts(getattr(component, "children", None))


@pytest.fixture()
def shipped(tmp_path):
    """A copy of the shipped ledgers, with the imported OCCRP rows and their entity-register warnings."""
    import shutil

    from etl.schema import LEDGER_DIR

    return Path(shutil.copytree(LEDGER_DIR, tmp_path / "ledgers"))


def test_the_added_rows_issues_come_first_and_alone_the_rest_as_a_count(page, shipped, tmp_path):
    from etl.load import discover_ledgers
    from etl.pipeline import check

    unrelated = [i for i in check(discover_ledgers(shipped), shipped) if i.severity != "error"]
    assert len(unrelated) >= 20  # the OCCRP import's "not in the entity register" warnings
    rows, _ = page.find_candidates("Someone paid $7,000 in May 2013.", None, None, SOURCE, False, shipped)
    before = (shipped / "azerbaijan.csv").read_bytes()
    result = page.add_to_ledger(rows, "azerbaijan.csv", shipped, tmp_path / "build")
    assert (shipped / "azerbaijan.csv").read_bytes() == before
    assert "Nothing was added" in texts(result[0])
    own = [c for c in result if isinstance(c, html.Ul)]
    assert len(own) == 1 and own[0].className == "issues issues-own"
    assert all(texts(li).startswith("table row 1") for li in own[0].children)
    assert "recipient is required" in texts(own[0]) and "occrp" not in texts(own[0])
    (details,) = [c for c in result if isinstance(c, html.Details)]
    assert result.index(details) > result.index(own[0])
    summary = texts(details.children[0])
    assert summary.startswith(f"{len(unrelated)} warning(s) about rows already in the ledgers")
    assert len(details.children[1].children) == len(unrelated)


def test_a_successful_add_shows_no_unrelated_warning_inline(page, shipped, tmp_path):
    rows, _ = page.find_candidates("Metastar Invest LLP paid $7,000 to Luca Volontè in May 2013.", None, None,
                                   SOURCE, False, shipped)
    result = page.add_to_ledger(rows, "azerbaijan.csv", shipped, tmp_path / "build", rebuild=False)
    assert texts(result[0]).startswith("Added 1 row(s) to azerbaijan.csv")
    assert not [c for c in result if isinstance(c, html.Ul)], "no issue list outside the expander"
    (details,) = [c for c in result if isinstance(c, html.Details)]
    assert "warning(s) about rows already in the ledgers" in texts(details.children[0])


def test_rows_from_an_article_start_internal_and_are_added_so(page, root, tmp_path):
    column = [c for c in page.GRID_COLUMNS if c["field"] == "visibility"]
    assert column and column[0]["editable"] and column[0]["cellEditorParams"]["values"] == ["public", "internal"]
    rows, _ = page.find_candidates("Metastar paid $7,000 to Luca Volonte in May 2013. Metastar paid $9,000 to Luca "
                                   "Volonte in June 2013.", None,
                                   None, SOURCE, False, root)
    assert [r["visibility"] for r in rows] == ["internal", "internal"]
    rows[1]["visibility"] = "public"  # a reporter's deliberate choice
    result = page.add_to_ledger(rows, "test.csv", root, tmp_path / "build", rebuild=False)
    assert "(1 internal, 1 public)" in texts(result[0])
    frame = read_ledger(root / "test.csv", root).frame
    assert frame["visibility"].tolist()[-2:] == ["internal", "public"]


def test_a_blank_visibility_from_the_grid_is_added_internal(page, root, tmp_path):
    rows, _ = page.find_candidates("Metastar paid $7,000 to Luca Volonte in May 2013.", None, None, SOURCE, False,
                                   root)
    rows[0]["visibility"] = ""
    page.add_to_ledger(rows, "test.csv", root, tmp_path / "build", rebuild=False)
    assert read_ledger(root / "test.csv", root).frame["visibility"].tolist()[-1] == "internal"
