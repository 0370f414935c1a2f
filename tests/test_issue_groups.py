"""Warnings are grouped by kind with counts everywhere: the command line (build, check, import), report.txt and
report.json (what the dashboard reads)."""
from __future__ import annotations

import json
from pathlib import Path

from etl.__main__ import main
from etl.errors import ERROR, WARNING, LedgerIssue
from etl.issue_groups import group_issues, issue_counts
from ledger_factory import ledger_folder, row


def unregistered_rows() -> list[dict]:
    return [row(id=f"r{n}", payer=f"Unregistered Shell {n}", date="" if n == 0 else "2013-05") for n in range(5)]


def test_groups_count_each_kind_errors_first():
    issues = [LedgerIssue("a.csv", n, "payer", f"X{n}", "entity_unregistered",
                          f"not in the entity register (in {n + 1} rows; reported once); add it", WARNING)
              for n in range(3)]
    issues.append(LedgerIssue("a.csv", 9, "amount", "1.234", "amount_ambiguous", "ambiguous: a dot", ERROR))
    groups = group_issues(issues)
    assert [(g["severity"], g["code"], g["count"], g["label"]) for g in groups] == [
        (ERROR, "amount_ambiguous", 1, "ambiguous"),
        (WARNING, "entity_unregistered", 3, "not in the entity register")]
    assert issue_counts(issues)[1] == "warning entity_unregistered × 3: not in the entity register"


def test_check_and_build_print_warning_counts_by_kind_and_write_them_to_the_reports(tmp_path, capsys):
    root = ledger_folder(tmp_path, unregistered_rows())
    assert main(["check", "--ledgers", str(root)]) == 0
    printed = capsys.readouterr().out
    assert "warning entity_unregistered × 5: not in the entity register" in printed
    out = tmp_path / "build"
    assert main(["build", "--ledgers", str(root), "--out", str(out)]) == 0
    assert "warning entity_unregistered × 5" in capsys.readouterr().out
    assert "  warning entity_unregistered × 5: not in the entity register" in (out / "report.txt").read_text()
    kinds = json.loads((out / "report.json").read_text())["warnings_by_kind"]
    assert {(k["code"], k["count"]) for k in kinds} >= {("entity_unregistered", 5)}


def test_import_prints_counts_by_kind(tmp_path, capsys):
    root = ledger_folder(tmp_path, [row(id="hand-1")])
    (root / "imports").mkdir()
    (root / "imports" / "data.csv").write_text("ref,value,from,to\n" + "".join(
        f"a{n},100,Shell {n},Shell {n}\n" for n in range(4)), encoding="utf-8")
    (root / "imports" / "t.mapping.yml").write_text(
        'source: {file: data.csv, url: "https://example.org/x"}\ncolumns:\n  id: {column: ref, prefix: t-}\n'
        "  amount: value\n  currency: {constant: USD}\n  amount_kind: {constant: payment}\n  payer: from\n"
        "  recipient: to\n  confidence: {constant: reported}\n", encoding="utf-8")
    assert main(["import", str(root / "imports" / "t.mapping.yml"), "--ledgers", str(root), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "warning self_payment × 4: the payer is also the recipient" in printed
