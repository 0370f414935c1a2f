"""Write files all-or-nothing: into a temporary file beside the target, fsync, then rename over it."""
from __future__ import annotations

import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces target in one rename.

    A crash or an exception at any point leaves the previous target untouched (the temporary file is removed,
    or at worst left behind under a dot-name that ledger discovery ignores).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(target)
    try:
        if target.exists():
            # A replaced file keeps its mode (a group-readable ledger stays group-readable).
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _new_temporary(target: Path) -> Path:
    """An empty dot-file beside target, created the way open() creates a file: mode 0666 less the umask (mkstemp
    would give 0600, and every file the tool writes would become private to its user)."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def atomic_write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path, text: str, encoding: str = "utf-8") -> None:
    atomic_write_bytes(target, text.encode(encoding))


def atomic_write_with(target: Path, writer: Callable[[Path], None]) -> None:
    """Call writer(temp_path) and move the result into place only if it returns normally."""
    with atomic_path(target) as tmp:
        writer(tmp)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_path(folder: Path) -> None:
    """Flush a file or folder to disk; a file system that cannot is left as it is (nothing to do better)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
