"""The build's outputs are the same, column for column, as the build's before it was restructured: the shipped
ledgers and a SYNTHETIC 200,000-row ledger (fixed seed, about 1% bad rows) against tests/data/build_golden.json
(see tests/build_digest.py for what each digest covers and how the file was made)."""
import json

import pytest

from build_digest import GOLDEN, SYNTHETIC_ROWS, SYNTHETIC_SEED, build_digest
from etl.builds import current_build
from etl.pipeline import run_build
from etl.schema import LEDGER_DIR

EXPECTED = json.loads(GOLDEN.read_text(encoding="utf-8"))


def built_digest(ledgers, out, **options):
    """Build (errors or not) and publish, as the benchmark does; options go to etl.stream.streamed."""
    result = run_build(ledgers, out, allow_errors=True, **options)
    return build_digest(current_build(out), result.issues)


def assert_same(found: dict, expected: dict) -> None:
    # Column by column first, so a failure names the column that changed.
    assert found["dataset"]["order"] == expected["dataset"]["order"]
    for name, (kind, digest) in expected["dataset"]["columns"].items():
        assert found["dataset"]["columns"][name] == [kind, digest], name
    assert found == expected


def test_the_example_builds_as_before(tmp_path):
    assert_same(built_digest(LEDGER_DIR, tmp_path / "build"), EXPECTED["example"])


def test_the_example_in_parts_of_seven_rows_builds_as_before(tmp_path):
    # Parts of 7 rows: ids, links, trees, unregistered names and CPI warnings all cross part boundaries.
    assert_same(built_digest(LEDGER_DIR, tmp_path / "build", part_rows=7, stream_bytes=0), EXPECTED["example"])


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from benchmarks.synthetic_ledger import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("ledgers"), SYNTHETIC_ROWS, SYNTHETIC_SEED).parent


def test_a_200k_synthetic_ledger_builds_as_before(synthetic, tmp_path):
    assert_same(built_digest(synthetic, tmp_path / "build"), EXPECTED["synthetic_200k"])


def test_a_200k_synthetic_ledger_read_in_parts_builds_as_before(synthetic, tmp_path):
    # The CSV is read 30,000 records at a time (the large-file reader), each part normalised on its own.
    assert_same(built_digest(synthetic, tmp_path / "build", part_rows=30_000, stream_bytes=0),
                EXPECTED["synthetic_200k"])
