"""python -m etl extract end to end: user errors as messages, candidate files, duplicates, and the append."""
from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest

from etl.extract.cli import main
from etl.extract.review import read_reviewed
from etl.load import read_ledger
from etl.pipeline import check
from tests.ledger_factory import ledger_folder, row

REPO = Path(__file__).resolve().parent.parent
SOURCE = "https://example.org/story"
ARTICLE = ("Metastar paid $5 million to Luca Volonte in March 2013.[4]\n\n"
           "Separately, Metastar Invest sent $12,500 to Luca Volonté on 2 May 2013. The vote was 39 to 12.\n")


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return ledger_folder(tmp_path, [row(id="r1", amount="5 million", currency="USD", sources=SOURCE)])


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def extract(tmp_path: Path, root: Path, capsys, text: str = ARTICLE, name: str = "story.txt",
            output: str = "candidates.csv") -> tuple[int, str, Path]:
    article = tmp_path / name
    article.write_text(text, encoding="utf-8")
    target = tmp_path / output
    code, out = run([str(article), "--source-url", SOURCE, "-o", str(target), "--ledgers", str(root)], capsys)
    return code, out, target


def accept(candidates: Path, reviewed: Path, **changes: str) -> None:
    """Mark every candidate accepted (a reporter's review), applying cell changes to every row."""
    with open(candidates, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for record in rows:
        record.update(status="accepted", **changes)
    with open(reviewed, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize("content, name, message", [
    (None, "missing.txt", "no such file"),
    (b"Caf\xe9 paid \x80 $5m", "latin.txt", "not UTF-8"),
    (b"  \n\n \n", "blank.txt", "empty"),
    (b"<html><body><script>1</script></body></html>", "blank.html", "empty"),
    (b"%PDF-1.4 \x00\x01", "paper.pdf", "unsupported file type"),
])
def test_user_errors_are_messages_not_tracebacks(tmp_path, capsys, content, name, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, out = run([str(path), "-o", str(tmp_path / "c.csv")], capsys)
    assert code == 1 and message in out and "Traceback" not in out


def test_bad_arguments_return_an_exit_code(capsys):
    assert main([]) == 1
    assert main(["--no-such-option"]) == 2
    assert main(["--append", "x.csv"]) == 1
    assert "--ledger" in capsys.readouterr().out


def test_extract_writes_candidates_and_prints_them(tmp_path, root, capsys):
    code, out, target = extract(tmp_path, root, capsys)
    assert code == 0 and "2 money mention(s)" in out and "USD 5,000,000" in out
    rows, issues = read_reviewed(target)
    assert not issues and [r.cells["amount"] for r in rows] == ["5000000", "12500"]
    first, second = (r.cells for r in rows)
    assert (first["payer"], first["recipient"], first["date"], first["citation"]) == \
        ("Metastar Invest LLP", "Luca Volontè", "2013-03", "[4]")
    assert (second["date"], second["sources"]) == ("2013-05-02", SOURCE)


def test_a_candidate_already_in_a_ledger_is_marked(tmp_path, root, capsys):
    code, out, target = extract(tmp_path, root, capsys)
    rows, _ = read_reviewed(target)
    assert (rows[0].cells["status"], rows[0].cells["ledger_id"]) == ("already_in_ledger", "r1")
    assert rows[1].cells["status"] == "candidate"
    assert "already in ledger: r1" in out


def test_xlsx_candidates_read_back_as_text(tmp_path, root, capsys):
    code, _, target = extract(tmp_path, root, capsys, output="candidates.xlsx")
    assert code == 0
    rows, issues = read_reviewed(target)
    assert not issues and [r.cells["amount"] for r in rows] == ["5000000", "12500"]
    assert rows[0].number == 2


def test_candidates_are_never_written_where_builds_read_ledgers(tmp_path, root, capsys):
    code, out, target = extract(tmp_path, root, capsys, output="ledgers/candidates.csv")
    assert code == 1 and "inside the ledger folder" in out and not target.exists()


def test_append_adds_accepted_rows_and_keeps_existing_bytes(tmp_path, root, capsys):
    _, _, candidates = extract(tmp_path, root, capsys)
    reviewed = tmp_path / "reviewed.csv"
    accept(candidates, reviewed)
    ledger = root / "test.csv"
    before = ledger.read_bytes()
    code, out = run(["--append", str(reviewed), "--ledger", str(ledger), "--ledgers", str(root)], capsys)
    assert code == 0, out
    after = ledger.read_bytes()
    assert after.startswith(before)
    frame = read_ledger(ledger, root).frame
    assert frame["amount"].tolist() == ["5 million", "5000000", "12500"]
    assert frame["notes"].iloc[2].startswith("Quote: \"Separately, Metastar Invest sent $12,500")
    assert not [i for i in check([ledger], root) if i.severity == "error"]
    assert not list(root.glob(".test.csv.*.csv")), "the scratch copy is removed"


def test_append_is_refused_as_a_whole_and_names_the_reviewed_row(tmp_path, root, capsys):
    _, _, candidates = extract(tmp_path, root, capsys)
    reviewed = tmp_path / "reviewed.csv"
    accept(candidates, reviewed)
    text = reviewed.read_text(encoding="utf-8").splitlines()
    text[2] = text[2].replace("Luca Volontè", "")  # second row loses its recipient
    reviewed.write_text("\n".join(text) + "\n", encoding="utf-8")
    ledger = root / "test.csv"
    before = ledger.read_bytes()
    code, out = run(["--append", str(reviewed), "--ledger", str(ledger), "--ledgers", str(root)], capsys)
    assert code == 1 and "Nothing was appended" in out
    assert "reviewed.csv:3:recipient" in out and "recipient is required" in out
    assert ledger.read_bytes() == before


def test_append_without_accepted_rows_says_so(tmp_path, root, capsys):
    _, _, candidates = extract(tmp_path, root, capsys)
    code, out = run(["--append", str(candidates), "--ledger", str(root / "test.csv"), "--ledgers", str(root)],
                    capsys)
    assert code == 1 and "no row has status 'accepted'" in out


def test_append_keeps_a_semicolon_crlf_ledger_in_its_format(tmp_path, root, capsys):
    ledger = root / "test.csv"
    text = ledger.read_text(encoding="utf-8").replace(",", ";").replace("\n", "\r\n")
    ledger.write_bytes(text.encode("utf-8-sig"))
    before = ledger.read_bytes()
    _, _, candidates = extract(tmp_path, root, capsys)
    reviewed = tmp_path / "reviewed.csv"
    accept(candidates, reviewed)
    code, out = run(["--append", str(reviewed), "--ledger", str(ledger), "--ledgers", str(root)], capsys)
    assert code == 0, out
    after = ledger.read_bytes()
    assert after.startswith(before) and b"\r\n" in after[len(before):] and b";12500;" in after


def test_append_to_an_excel_ledger(tmp_path, root, capsys):
    from etl.schema import LEDGER_COLUMNS

    (root / "test.csv").unlink()
    ledger = root / "book.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "ledger"
    sheet.append(list(LEDGER_COLUMNS))
    base = row(id="x1", amount="7.6 million", sources=SOURCE)
    sheet.append([base.get(c, "") for c in LEDGER_COLUMNS])
    workbook.save(ledger)
    _, _, candidates = extract(tmp_path, root, capsys)
    reviewed = tmp_path / "reviewed.csv"
    accept(candidates, reviewed)
    code, out = run(["--append", str(reviewed), "--ledger", str(ledger), "--ledgers", str(root)], capsys)
    assert code == 0, out
    frame = read_ledger(ledger, root).frame
    assert frame["id"].iloc[0] == "x1" and frame["amount"].tolist() == ["7.6 million", "5000000", "12500"]


APPENDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from etl.extract.append import append_rows
    from etl.extract.review import ReviewedRow
    ledger, root, tag = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    for n in range(2):
        cells = dict(status="accepted", id=f"{tag}-{n}", date="2013-05", amount=str(1000 + n), currency="USD",
                     amount_kind="payment", payer="Metastar Invest LLP", recipient="Luca Volontè",
                     confidence="reported", sources="https://example.org/" + tag)
        result = append_rows([ReviewedRow(2, cells)], ledger, root, tag)
        assert not result.errors, result.errors
""")


def test_two_processes_appending_at_once_lose_no_row(tmp_path, root):
    ledger = root / "test.csv"
    processes = [subprocess.Popen([sys.executable, "-c", APPENDER, str(ledger), str(root), tag], cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for tag in ("left", "right")]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    ids = read_ledger(ledger, root).frame["id"].tolist()
    assert sorted(ids) == ["left-0", "left-1", "r1", "right-0", "right-1"]


def test_an_append_leaves_no_lock_file_in_the_ledger_folder(tmp_path, root, capsys):
    from etl.extract.append import lock_path

    _, _, candidates = extract(tmp_path, root, capsys)
    reviewed = tmp_path / "reviewed.csv"
    accept(candidates, reviewed)
    ledger = root / "test.csv"
    code, out = run(["--append", str(reviewed), "--ledger", str(ledger), "--ledgers", str(root)], capsys)
    assert code == 0, out
    left_behind = sorted(p.name for p in root.rglob("*") if p.is_file() and "lock" in p.name.lower())
    assert left_behind == []
    # The same file reached through a symlinked folder takes the same lock, so the two still exclude each other.
    link = tmp_path / "linked-ledgers"
    link.symlink_to(root, target_is_directory=True)
    assert lock_path(link / "test.csv") == lock_path(ledger)
    assert lock_path(root / "other.csv") != lock_path(ledger)
    assert root.resolve() not in lock_path(ledger).resolve().parents


@pytest.mark.parametrize("output", ["candidates.csv", "candidates.xlsx"])
def test_a_quote_that_looks_like_a_formula_stays_inert_text(tmp_path, root, capsys, output):
    text = '=HYPERLINK("http://evil.example","x") Metastar paid $5,000 to Luca Volonte.\n'
    code, _, target = extract(tmp_path, root, capsys, text=text, output=output)
    assert code == 0
    if output.endswith(".csv"):
        assert "'=HYPERLINK" in target.read_text(encoding="utf-8-sig")
    else:
        sheet = openpyxl.load_workbook(target)["candidates"]
        quote_column = [c.value for c in sheet[1]].index("quote")
        assert sheet.cell(row=2, column=quote_column + 1).data_type == "s"
    [reviewed], _ = read_reviewed(target)
    assert reviewed.cells["quote"].startswith("=HYPERLINK")
