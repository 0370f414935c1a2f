"""A build killed mid-write (SIGKILL) leaves the previous dataset intact and valid."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks.synthetic_ledger import synthetic_ledger
from etl.emit import read_dataset
from etl.pipeline import run_build
from ledger_factory import ledger_folder, row

PROJECT = Path(__file__).resolve().parent.parent
OUTPUTS = ("transfers.parquet", "transfers.arrow", "transfers.csv", "entities.csv", "report.json", "report.txt")


def wait_for_temp_file(folder: Path, prefix: str, proc: subprocess.Popen, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(prefix) for p in folder.iterdir()):
            return True
        time.sleep(0.002)
    return False


def test_killed_build_leaves_previous_dataset_intact(tmp_path):
    root = ledger_folder(tmp_path, [row(), row(id="r2", amount="2.9 billion", amount_kind="total")])
    out = tmp_path / "build"
    run_build(root, out)
    before = {name: (out / name).read_bytes() for name in OUTPUTS}

    synthetic_ledger(80_000, seed=1, bad_share=0.0).to_csv(root / "test.csv", index=False)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; "
                             "from etl.pipeline import run_build; run_build(Path(sys.argv[1]), Path(sys.argv[2]))",
                             str(root), str(out)], cwd=PROJECT)
    try:
        # Any temporary file means a rename is still to come, and the dataset itself is renamed last.
        caught = wait_for_temp_file(out, ".", proc)
        if caught:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert caught, "the build finished before it could be interrupted"
    assert proc.returncode == -signal.SIGKILL
    # The dataset the dashboard reads is the previous one, whole.
    assert (out / "transfers.parquet").read_bytes() == before["transfers.parquet"]
    report = (out / "report.json").read_bytes()
    assert report == before["report.json"] or json.loads(report)["rows"] == 80_000
    assert len(read_dataset(out / "transfers.parquet")) == 2
    for name in ("transfers.csv", "entities.csv"):
        content = (out / name).read_bytes()
        assert content == before[name] or len(pd.read_csv(out / name, dtype="str")) > 0
    # What is left behind is a dot-file, which no reader picks up; a rerun replaces everything.
    run_build(root, out)
    assert len(read_dataset(out / "transfers.parquet")) == 80_000


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
