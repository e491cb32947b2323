"""One process at a time over a cache several test hosts or builds share (the Debian image, the install bundle):
an advisory lock on a file beside it, held for the block, released when the process ends however it ends."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Wait for, then hold, the lock file's exclusive lock (created if missing) for the with-block."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_if_changed(path: Path, text: str, mode: int | None = None) -> None:
    """Write text to path only when it differs, by rename (a reader sees the old file or the new, never a half)."""
    if path.is_file() and path.read_text() == text:
        return
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    if mode is not None:
        partial.chmod(mode)
    partial.replace(path)
