"""Benchmarks print their figures; every dataset they use is SYNTHETIC."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path


def peak_memory_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the current program image, whereas ru_maxrss on
    Linux also counts what the parent held before a fork and exec."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_in_fresh_process(code: str) -> dict:
    """Run a measuring script in a new interpreter (so its peak memory is its own) and return the JSON object it
    prints on its last line."""
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def interleaved_pairs(pairs: int, floor, work) -> list[tuple[dict, dict]]:
    """Run floor() and work() alternately, A B A B …, as many pairs as asked: on a shared, noisy machine a ratio
    from one run of each says little, while each pair's ratio compares runs made under the same load."""
    results = []
    for _ in range(pairs):
        results.append((floor(), work()))
    return results


def spread(values: list[float]) -> str:
    """'median 4.69 (min 4.51 – max 5.02)'."""
    import statistics

    return f"median {statistics.median(values):.2f} (min {min(values):.2f} – max {max(values):.2f})"


def print_pairs(pairs: list[tuple[dict, dict]], work: str, rows: int) -> None:
    """The summary every floor-versus-work benchmark prints: the bare read, the work, each pair's ratio."""
    import statistics

    reads = [floor["seconds"] for floor, _ in pairs]
    works = [done["seconds"] for _, done in pairs]
    ratios = [w / r for r, w in zip(reads, works)]
    print(f"{len(pairs)} interleaved pairs (bare read, {work.split(' ')[0]}), each a fresh process:")
    print(f"  bare pandas.read_csv: {spread(reads)} s, peak memory {max(f['peak_mb'] for f, _ in pairs):,.0f} MB")
    print(f"  {work}: {spread(works)} s, {rows / statistics.median(works):,.0f} rows/s")
    print(f"  {work.split(' ')[0]} / bare read per pair: {', '.join(f'{r:.2f}x' for r in ratios)} "
          f"(median {statistics.median(ratios):.2f}x)")
