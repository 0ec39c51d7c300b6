"""File names as the folders a practice shares hold them: which ones are never read (still
being written, or OS litter), and how any name is shown to people (logs, notes, summaries)."""

from __future__ import annotations

import os

__all__ = ["PARTIAL_SUFFIXES", "SYSTEM_FILES", "display_name", "is_ignored_name"]

#: names still being written by their sender, or not lab files at all
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload", ".download")
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})


def is_ignored_name(name: str) -> bool:
    """Dot-files, temporary upload names and OS litter are never read."""
    lowered = name.lower()
    return (
        name.startswith((".", "~$"))
        or lowered.endswith(PARTIAL_SUFFIXES)
        or lowered in SYSTEM_FILES
    )


def display_name(name: str | os.PathLike[str]) -> str:
    """A file name or path as people can read it in a log or a note, whatever its bytes.

    A name that is not UTF-8 (a Latin-1 ``résultat.hl7`` from a French Windows share reaches
    Python as ``r\\udce9sultat.hl7``) is read as Windows-1252, the Latin-1 superset those
    shares write; bytes that are not even that, and control characters (a line break in a name
    could forge a log line), are shown as escapes such as ``\\x81`` or ``\\n``.
    """
    raw = os.fsencode(name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)
