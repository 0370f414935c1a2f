"""The build's outputs are the same, column for column, as the build's before it was restructured: the shipped
ledgers and a SYNTHETIC 200,000-row ledger (fixed seed, about 1% bad rows) against tests/data/build_golden.json
(see tests/build_digest.py for what each digest covers and how the file was made)."""
import json

import pytest

from build_digest import GOLDEN, SYNTHETIC_ROWS, SYNTHETIC_SEED, build_digest
from etl.builds import current_build
from etl.emit import write_outputs
from etl.pipeline import build
from etl.schema import LEDGER_DIR

EXPECTED = json.loads(GOLDEN.read_text(encoding="utf-8"))


def built_digest(ledgers, out):
    result = build(ledgers)
    write_outputs(result, out)
    return build_digest(current_build(out), result.issues)


def assert_same(found: dict, expected: dict) -> None:
    # Column by column first, so a failure names the column that changed.
    assert found["dataset"]["order"] == expected["dataset"]["order"]
    for name, (kind, digest) in expected["dataset"]["columns"].items():
        assert found["dataset"]["columns"][name] == [kind, digest], name
    assert found == expected


def test_the_example_builds_as_before(tmp_path):
    assert_same(built_digest(LEDGER_DIR, tmp_path / "build"), EXPECTED["example"])


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from benchmarks.synthetic_ledger import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("ledgers"), SYNTHETIC_ROWS, SYNTHETIC_SEED).parent


def test_a_200k_synthetic_ledger_builds_as_before(synthetic, tmp_path):
    assert_same(built_digest(synthetic, tmp_path / "build"), EXPECTED["synthetic_200k"])
