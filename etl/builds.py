"""Where builds live: each build in a folder of its own under build/versions/, published by switching one pointer.

A build is written whole into build/versions/.incomplete-<stamp>/, renamed to build/versions/<stamp>/ and then made
current by replacing the symlink build/current in one rename. A reader resolves the pointer once and reads every
file from the folder it names, so it sees the old build or the new one, never files from two builds; a build killed
at any point leaves the previous one current. Leftovers of a killed build (incomplete folders, temporary pointers
and files) are removed at the start of the next build, under the same lock, and only the last few builds are kept.

build/transfers.parquet and the other outputs also appear at the top of build/ as fixed symlinks into build/current,
so a person (or a script) opening build/transfers.parquet keeps finding the current file where it always was.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock

from .atomic import fsync_path
from .schema import (DATAPACKAGE_JSON, DATASET_ARROW, DATASET_CSV, DATASET_PARQUET, ENTITIES_OUTPUT, REPORT_JSON,
                     REPORT_TEXT)

CURRENT = "current"
VERSIONS = "versions"
INCOMPLETE_PREFIX = ".incomplete-"
POINTER_TEMP_PREFIX = ".current-"
LOCK_NAME = ".build.lock"
KEEP_VERSIONS = 3
# Every build writes these; the CSV copy of the dataset only when asked (python -m etl build --csv).
OUTPUT_NAMES = (DATASET_PARQUET, ENTITIES_OUTPUT, REPORT_JSON, REPORT_TEXT, DATAPACKAGE_JSON)
OPTIONAL_OUTPUT_NAMES = (DATASET_CSV,)
# Names a top-level link may hold: today's outputs, and the Arrow file earlier builds wrote (its link is removed).
LINKED_NAMES = (*OUTPUT_NAMES, *OPTIONAL_OUTPUT_NAMES, DATASET_ARROW)


class NoBuild(FileNotFoundError):
    """build/ holds no published build (nothing built yet, or a folder that is not a build folder)."""


def current_build(build_dir: Path) -> Path:
    """The folder of the build readers must use now, resolved once: read every file of one request from it.

    A folder with no pointer but with a dataset at its top (written by hand, e.g. by a benchmark or a test that
    writes files directly, or a build from before versioned folders) is its own build.
    """
    build_dir = Path(build_dir)
    pointer = build_dir / CURRENT
    if pointer.is_symlink() or pointer.exists():
        target = pointer.resolve(strict=False)
        if not target.is_dir():
            raise NoBuild(f"{pointer} points to {target}, which is not a build folder; run the build again")
        return target
    if (build_dir / DATASET_PARQUET).is_file() and not (build_dir / DATASET_PARQUET).is_symlink():
        return build_dir
    raise NoBuild(f"no dataset under {build_dir}: run `python -m etl build` first")


def has_build(build_dir: Path) -> bool:
    try:
        return (current_build(build_dir) / DATASET_PARQUET).is_file()
    except NoBuild:
        return False


@contextmanager
def build_lock(build_dir: Path) -> Iterator[None]:
    """One writer at a time per build folder (the command line and the import page may rebuild together)."""
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(build_dir / LOCK_NAME)):
        yield


def _stamp() -> str:
    # Sortable by time; the pid tells two builds of one microsecond apart.
    now = dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S.%fZ}-{os.getpid()}"


def clean_leftovers(build_dir: Path) -> list[Path]:
    """Remove what a killed build left: incomplete version folders, temporary pointers and dot temp files.

    Call it only while holding build_lock, so no running build's folder is taken for a leftover.
    """
    build_dir = Path(build_dir)
    removed: list[Path] = []
    versions = build_dir / VERSIONS
    candidates = [p for p in versions.iterdir() if p.name.startswith(INCOMPLETE_PREFIX)] if versions.is_dir() else []
    candidates += [p for p in build_dir.iterdir() if p.name.startswith(POINTER_TEMP_PREFIX)
                   or (p.name.startswith(".") and p.name.endswith(".tmp"))] if build_dir.is_dir() else []
    for path in candidates:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def tidy(build_dir: Path) -> list[Path]:
    """At a start (the dashboard's): remove a killed build's leftovers, unless a build is running right now."""
    from filelock import Timeout

    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        return []
    try:
        with FileLock(str(build_dir / LOCK_NAME), timeout=0):
            removed = clean_leftovers(build_dir)
            prune_versions(build_dir)
            return removed
    except Timeout:
        return []


def prune_versions(build_dir: Path, keep: int = KEEP_VERSIONS) -> None:
    """Keep the current build and the newest few before it (a request may still be reading one of those)."""
    versions = Path(build_dir) / VERSIONS
    if not versions.is_dir():
        return
    try:
        current = current_build(build_dir)
    except NoBuild:
        current = None
    complete = sorted((p for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.name)
    for old in complete[:-keep] if keep > 0 else complete:
        if current is None or old.resolve() != current:
            shutil.rmtree(old, ignore_errors=True)


def publish(build_dir: Path, write: Callable[[Path], None]) -> Path:
    """Run write(folder) into a new, empty folder, then make that folder the current build in one rename.

    Everything write puts in the folder appears to readers together, or (if write raises or the process is
    killed) not at all.
    """
    build_dir = Path(build_dir)
    with build_lock(build_dir):
        clean_leftovers(build_dir)
        versions = build_dir / VERSIONS
        versions.mkdir(parents=True, exist_ok=True)
        stamp = _stamp()
        incomplete = versions / f"{INCOMPLETE_PREFIX}{stamp}"
        incomplete.mkdir()
        try:
            write(incomplete)
            for path in incomplete.iterdir():
                fsync_path(path)
            final = versions / stamp
            os.rename(incomplete, final)
            fsync_path(versions)
        except BaseException:
            shutil.rmtree(incomplete, ignore_errors=True)
            raise
        _switch_pointer(build_dir, Path(VERSIONS) / stamp)
        _link_top_level_names(build_dir)
        prune_versions(build_dir)
    return final


def _switch_pointer(build_dir: Path, relative_target: Path) -> None:
    """Point build/current at the new version: a new symlink renamed over the old one (atomic on POSIX)."""
    temporary = build_dir / f"{POINTER_TEMP_PREFIX}{os.getpid()}"
    temporary.unlink(missing_ok=True)
    # Relative, so the build folder can be moved or mounted elsewhere.
    os.symlink(relative_target, temporary)
    os.replace(temporary, build_dir / CURRENT)
    fsync_path(build_dir)


def _link_top_level_names(build_dir: Path) -> None:
    """build/<output> -> current/<output> for every output the current build holds, made once; a plain file there
    (an older flat build) is replaced; a link to an output the current build does not hold (a CSV copy from an
    earlier `--csv` build) is removed, so no name at the top of build/ points at nothing."""
    current = build_dir / CURRENT
    for name in LINKED_NAMES:
        link = build_dir / name
        wanted = Path(CURRENT) / name
        if not (current / name).exists():
            if link.is_symlink():
                link.unlink()
            continue
        if link.is_symlink() and Path(os.readlink(link)) == wanted:
            continue
        temporary = build_dir / f"{POINTER_TEMP_PREFIX}{name}-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        os.symlink(wanted, temporary)
        os.replace(temporary, link)
