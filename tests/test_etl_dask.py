"""The build's parts on a Dask LocalCluster give the same dataset, issues and reports as the single-machine build."""
import pytest

pytest.importorskip("dask.distributed")

from build_digest import build_digest  # noqa: E402
from etl.builds import current_build  # noqa: E402
from etl.distributed import dask_mapper  # noqa: E402
from etl.pipeline import run_build  # noqa: E402
from etl.schema import LEDGER_DIR  # noqa: E402


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as connected:
        yield connected


def digest(ledgers, out, **options):
    result = run_build(ledgers, out, allow_errors=True, **options)
    return build_digest(current_build(out), result.issues)


@pytest.mark.parametrize("case", ["example", "synthetic"])
def test_a_build_on_a_local_dask_cluster_equals_the_single_machine_build(case, client, tmp_path):
    if case == "example":
        ledgers, part_rows = LEDGER_DIR, 9
    else:
        from benchmarks.synthetic_ledger import write_synthetic

        ledgers, part_rows = write_synthetic(tmp_path / "ledgers", 5_000, seed=3).parent, 700
    alone = digest(ledgers, tmp_path / "alone", part_rows=part_rows, stream_bytes=0)
    on_dask = digest(ledgers, tmp_path / "dask", part_rows=part_rows, stream_bytes=0, mapper=dask_mapper(client))
    assert on_dask["dataset"]["columns"] == alone["dataset"]["columns"]
    assert on_dask == alone
    assert alone["dataset"]["rows"] == (73 if case == "example" else 5_000)
