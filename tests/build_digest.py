"""A build's outputs as small digests (one per dataset column, the issue list, the reports), for equivalence tests.

tests/data/build_golden.json holds the digests of the build as it was before the build was restructured into
chunks (commit 9175eee), for the shipped ledgers and a SYNTHETIC 200,000-row ledger generated with a fixed seed;
tests/test_etl_equivalence.py builds both again and compares every digest. Regenerate the file by hand, only when
an output is meant to change: `python tests/build_digest.py --write` (tests never write it).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

PROJECT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "data" / "build_golden.json"
SYNTHETIC_ROWS = 200_000
SYNTHETIC_SEED = 14
NULL = "\x00null"


def column_digest(values: pa.ChunkedArray | pa.Array) -> str:
    """sha256 of a column's values as exact text (decimals, timestamps and floats cast by Arrow), nulls marked:
    equal values give equal digests whatever the chunking or buffer layout."""
    text = pc.fill_null(pc.cast(values, pa.large_string()), NULL)
    digest = hashlib.sha256()
    for chunk in [text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text]:
        if len(chunk) == 0:
            continue
        lengths = pc.binary_length(chunk).to_numpy(zero_copy_only=False)
        offsets = chunk.buffers()[1]
        bounds = np.frombuffer(offsets, dtype=np.int64)[chunk.offset:chunk.offset + len(chunk) + 1]
        digest.update(lengths.astype("int64").tobytes())
        digest.update(chunk.buffers()[2].to_pybytes()[bounds[0]:bounds[-1]])
    return digest.hexdigest()


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dataset_digest(path: Path) -> dict:
    """Column name → [Arrow type, digest] of a written transfers.parquet, in file order."""
    from etl.emit import read_dataset

    table = pq.read_table(path)
    frame = read_dataset(path)
    return {"rows": table.num_rows, "order": table.column_names,
            "pandas_dtypes": [str(dtype) for dtype in frame.dtypes],
            "columns": {name: [str(table.schema.field(name).type), column_digest(table.column(name))]
                        for name in table.column_names}}


def issues_digest(issues: list) -> dict:
    """Count by severity and one digest of every issue's fields, in the order the build returns them."""
    lines = "\n".join(json.dumps(issue.as_dict(), ensure_ascii=False) for issue in issues)
    return {"errors": sum(1 for i in issues if i.severity == "error"),
            "warnings": sum(1 for i in issues if i.severity != "error"), "sha256": text_digest(lines)}


def report_digest(folder: Path) -> dict:
    """report.json parsed (its build time left out), report.txt without its first line (which holds the time),
    entities.csv as bytes, datapackage.json without its created time."""
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    report.pop("built_at")
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    package.pop("created")
    return {"report_json": text_digest(json.dumps(report, sort_keys=True, ensure_ascii=False)),
            "report_txt": text_digest((folder / "report.txt").read_text(encoding="utf-8").split("\n", 1)[1]),
            "entities_csv": hashlib.sha256((folder / "entities.csv").read_bytes()).hexdigest(),
            "datapackage_schema": text_digest(json.dumps(package["resources"][0]["schema"], sort_keys=True))}


def build_digest(folder: Path, issues: list) -> dict:
    """Every digest of one written build folder and its issue list."""
    return {"dataset": dataset_digest(folder / "transfers.parquet"), "issues": issues_digest(issues),
            **report_digest(folder)}


def _write_golden() -> None:
    import tempfile

    sys.path.insert(0, str(PROJECT))
    from benchmarks.synthetic_ledger import write_synthetic
    from etl.builds import current_build
    from etl.emit import write_outputs
    from etl.pipeline import build
    from etl.schema import LEDGER_DIR

    golden = {}
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = write_synthetic(Path(tmp) / "ledgers", SYNTHETIC_ROWS, SYNTHETIC_SEED).parent
        for name, ledgers in (("example", LEDGER_DIR), ("synthetic_200k", synthetic)):
            result = build(ledgers)
            out = Path(tmp) / f"build-{name}"
            write_outputs(result, out)
            golden[name] = build_digest(current_build(out), result.issues)
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/build_digest.py --write   (rewrites tests/data/build_golden.json)")
    _write_golden()
