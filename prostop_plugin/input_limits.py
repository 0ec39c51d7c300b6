"""The size and emptiness checks every reader makes first, in one place below the readers."""

from __future__ import annotations

from prostop_plugin.errors import InputError

#: the largest file any reader takes (a lab report is kilobytes; a batch a few megabytes)
MAX_FILE_BYTES = 20 * 1024 * 1024

__all__ = ["MAX_FILE_BYTES", "check_input"]


def check_input(
    data: bytes, name: str, max_bytes: int, *, too_large: type[InputError] = InputError,
    fix: str = "split it, or check that it is really a lab report",
) -> None:
    """Every reader's first check: the size (before anything copies the bytes), then content."""
    if len(data) > max_bytes:
        raise too_large(
            f"the file is {len(data)} bytes, over the {max_bytes}-byte limit", where=name, fix=fix,
        )
    if not data.strip():
        raise InputError("the file is empty", where=name, fix="check that the export completed")
