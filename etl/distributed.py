"""The build's per-part steps on a Dask distributed cluster: `python -m etl build --dask SCHEDULER-ADDRESS`.

The driver (this process) reads the ledgers part by part and hands each part to the cluster, which normalises it
(etl.pipeline.normalise_part, the same function a single-machine build runs); the normalised parts come back in
ledger order and the driver writes them, runs the global steps (ids, links, allocation, totals) and publishes,
exactly as etl.stream does on one machine, so the dataset is the same. Optional: needs requirements-dask.txt.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Iterator

from .pipeline import Lookups

# Parts on the cluster at once: enough to keep the workers busy, few enough to bound the driver's memory.
IN_FLIGHT_PER_WORKER = 2


def dask_mapper(client) -> Callable[[Callable, Iterator, Lookups], Iterator]:
    """A mapper for etl.stream.streamed that runs each part on the cluster behind `client`, results in order."""
    def mapper(function: Callable, items: Iterator, lookups: Lookups) -> Iterator:
        shared = client.scatter(lookups, broadcast=True)
        in_flight = max(1, IN_FLIGHT_PER_WORKER * len(client.scheduler_info().get("workers", {})))
        pending: deque = deque()
        for item in items:
            pending.append(client.submit(function, item, shared, pure=False))
            if len(pending) >= in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    return mapper


def connect(address: str):
    """A client of the Dask scheduler at address (tcp://host:8786)."""
    try:
        from dask.distributed import Client
    except ImportError as exc:  # the Dask path is optional
        from .errors import EtlError

        raise EtlError("--dask needs Dask distributed: pip install -r requirements-dask.txt") from exc
    return Client(address)
