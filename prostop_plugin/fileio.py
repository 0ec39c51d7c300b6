"""Durable file writes: what survives a crash is all of a file or none of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make a file's creation or rename in ``directory`` survive a crash too."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Temp file in the same folder, fsync, rename: readers see all of it or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a hidden name with a neutral suffix: an importer watching *.xml never sees a half file
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        os.chmod(temp, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def private_directory(path: Path) -> bool:
    """Create ``path`` readable by its owner only (0700) when it does not exist yet; an
    existing folder is left as the admin set it (``prostop doctor`` says when it is open to
    others). Returns whether it was created.

    :raises OSError: when it cannot be created.
    """
    if path.is_dir():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:  # created meanwhile by another process
        return False
    os.chmod(path, 0o700)  # mkdir's mode goes through the umask
    return True
