"""Benchmarks print their figures; every dataset they use is SYNTHETIC."""
from __future__ import annotations

import resource
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
