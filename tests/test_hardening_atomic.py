"""A build killed mid-write (SIGKILL) leaves the previous build current, whole and from one build; the next build
cleans up what the killed one left."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks.synthetic_ledger import synthetic_ledger
from etl.builds import INCOMPLETE_PREFIX, KEEP_VERSIONS, LOCK_NAME, VERSIONS, current_build
from etl.emit import read_dataset
from etl.pipeline import run_build
from ledger_factory import ledger_folder, row

PROJECT = Path(__file__).resolve().parent.parent
from etl.builds import OUTPUT_NAMES as OUTPUTS  # every file a build publishes


def wait_for_file_in_incomplete_build(out: Path, name: str, proc: subprocess.Popen, timeout: float = 120) -> bool:
    """True once a build being written (not yet published) holds a file called name."""
    deadline = time.monotonic() + timeout
    versions = out / VERSIONS
    while time.monotonic() < deadline and proc.poll() is None:
        if versions.is_dir() and any((p / name).exists() for p in versions.iterdir()
                                     if p.name.startswith(INCOMPLETE_PREFIX)):
            return True
        time.sleep(0.002)
    return False


def assert_one_build(folder: Path, rows: int) -> None:
    """Every output of the folder is there and comes from the same build (same rows, same build time)."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(OUTPUTS)
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["rows"] == rows
    assert (folder / "report.txt").read_text(encoding="utf-8").startswith(
        f"Influence Ledger build {report['built_at']}\n")
    assert len(read_dataset(folder / "transfers.parquet")) == rows
    assert len(pd.read_csv(folder / "entities.csv", dtype="str", keep_default_na=False)) > 0


# Each is a moment of the write to kill the build at: as the first file appears, mid-way, as the last one does.
KILL_WHEN = ("transfers.parquet", "entities.csv", "report.txt", "report.json", "datapackage.json")


def test_killed_build_leaves_previous_build_whole_and_the_next_start_cleans_up(tmp_path):
    root = ledger_folder(tmp_path, [row(), row(id="r2", amount="2.9 billion", amount_kind="total")])
    out = tmp_path / "build"
    run_build(root, out)
    published = current_build(out)
    before = {name: (published / name).read_bytes() for name in OUTPUTS}
    rows = 2
    assert_one_build(published, rows)

    synthetic_ledger(60_000, seed=1, bad_share=0.0).to_csv(root / "test.csv", index=False)
    caught = []
    for name in KILL_WHEN:
        proc = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; "
                                 "from etl.pipeline import run_build; run_build(Path(sys.argv[1]), Path(sys.argv[2]))",
                                 str(root), str(out)], cwd=PROJECT)
        try:
            if wait_for_file_in_incomplete_build(out, name, proc):
                os.kill(proc.pid, signal.SIGKILL)
                caught.append(name)
        finally:
            proc.wait()
        if proc.returncode != -signal.SIGKILL:
            # The build won the race and published whole; that too must be one build, and is now the previous one.
            assert proc.returncode == 0
            published, rows = current_build(out), 60_000
            before = {n: (published / n).read_bytes() for n in OUTPUTS}
        # Readers (through build/current and through the top-level names) still see the previous build, whole.
        assert current_build(out) == published
        assert_one_build(current_build(out), rows)
        assert {n: (out / n).read_bytes() for n in OUTPUTS} == before
    assert len(caught) >= 3, f"too few builds could be interrupted ({caught})"
    # The killed builds left their incomplete folders behind; the next build removes them and keeps a few versions.
    assert any(p.name.startswith(INCOMPLETE_PREFIX) for p in (out / VERSIONS).iterdir())
    run_build(root, out)
    assert not [p for p in (out / VERSIONS).iterdir() if p.name.startswith(".")]
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != LOCK_NAME]
    assert len(list((out / VERSIONS).iterdir())) <= KEEP_VERSIONS
    assert_one_build(current_build(out), 60_000)
    assert len(read_dataset(out / "transfers.parquet")) == 60_000


APPEND_SCRIPT = """
import sys
from pathlib import Path
from etl.extract.append import append_rows
from etl.extract.review import ReviewedRow
ledger, root = Path(sys.argv[1]), Path(sys.argv[2])
cells = dict(status="accepted", id="appended-1", date="2013-05", amount="1000", currency="USD",
             amount_kind="payment", payer="Metastar Invest LLP", recipient="Luca Volontè", confidence="reported",
             sources="https://example.org/appended")
result = append_rows([ReviewedRow(2, cells)], ledger, root, "kill-test")
assert not result.errors, result.errors
"""


def test_killed_append_leaves_the_ledger_intact(tmp_path):
    root = ledger_folder(tmp_path, [row(id="r1"), row(id="r2", amount="2.9 billion", amount_kind="total")])
    ledger = root / "test.csv"
    # A large neighbour makes the validation long enough to interrupt.
    synthetic_ledger(40_000, seed=2, bad_share=0.0).to_csv(root / "big.csv", index=False)
    before = ledger.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", APPEND_SCRIPT, str(ledger), str(root)], cwd=PROJECT)
    try:
        deadline = time.monotonic() + 120
        caught = False
        while time.monotonic() < deadline and proc.poll() is None:
            if any(p.name.startswith(".test.csv.") and p.suffix == ".csv" for p in root.iterdir()):
                caught = True
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        proc.wait()
    assert caught, "the append finished before it could be interrupted"
    assert ledger.read_bytes() == before
    from etl.load import read_ledger
    assert read_ledger(ledger, root).frame["id"].tolist() == ["r1", "r2"]
    # The lock died with the process: a new append goes through.
    rerun = subprocess.run([sys.executable, "-c", APPEND_SCRIPT, str(ledger), str(root)], cwd=PROJECT)
    assert rerun.returncode == 0
    assert read_ledger(ledger, root).frame["id"].tolist() == ["r1", "r2", "appended-1"]


def test_the_dashboard_start_tidies_leftovers_unless_a_build_is_running(tmp_path):
    from filelock import FileLock

    from etl.builds import tidy

    root = ledger_folder(tmp_path, [row()])
    out = tmp_path / "build"
    for _ in range(KEEP_VERSIONS + 1):
        run_build(root, out)
    published = current_build(out)
    left = out / VERSIONS / f"{INCOMPLETE_PREFIX}killed"
    left.mkdir()
    (left / "transfers.csv").write_text("half a file", encoding="utf-8")
    stray = out / ".transfers.arrow.abc.tmp"
    stray.write_bytes(b"temp")
    # While another process builds (it holds the lock), its folder is not a leftover: nothing is touched.
    with FileLock(str(out / LOCK_NAME)):
        assert tidy_in_another_process(out) == 0
    assert left.exists() and stray.exists()
    assert sorted(p.name for p in tidy(out)) == sorted([left.name, stray.name])
    assert not left.exists() and not stray.exists()
    assert current_build(out) == published
    assert len(list((out / VERSIONS).iterdir())) == KEEP_VERSIONS


def tidy_in_another_process(out: Path) -> int:
    done = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from etl.builds import tidy; "
                           "print(len(tidy(Path(sys.argv[1]))))", str(out)], cwd=PROJECT, capture_output=True,
                          text=True, timeout=120, check=True)
    return int(done.stdout.strip())
