"""Moving files between the adapter's folders, each move one atomic rename.

inbox ──claim──▶ processing/<claimed name> ──▶ done/<YYYY-MM-DD>/<claimed name>
                                           └──▶ quarantine/<claimed name> (+ .error.txt)

The claimed name ``20201119T103000-1a2b3c4d--<original name>`` is unique (time + random), so
two files dropped under one name never collide, and it sorts by arrival. The original name
is recovered from it for messages.

A rename cannot half happen, so a crash leaves every file in exactly one folder. Renames are
not fsync'ed: after a power cut a file may reappear one folder back (inbox or processing) and
be read again, which the ledger's deduplication makes harmless.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prostop_filedrop.settings import Folders
from prostop_plugin import (
    ConfigError,
    ProstopError,
    display_name,
    is_ignored_name,
    write_atomically,
)

ERROR_SUFFIX = ".error.txt"
_CLAIMED = re.compile(r"^(?P<stamp>\d{8}T\d{6})-[0-9a-f]{8}--(?P<original>.+)$")
_MAX_NAME_BYTES = 255


@dataclass(frozen=True)
class Seen:
    """A file's size and mtime, and when (monotonic) we first saw them unchanged."""

    size: int
    mtime_ns: int
    since: float


class SettleTracker:
    """Tells when a file is complete: size and mtime unchanged for ``settle_seconds``.

    Time is measured on this machine's monotonic clock between polls, never against the file's
    mtime, so a network share with a skewed clock cannot make a half-written file look old.
    """

    def __init__(self, settle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.seen: dict[str, Seen] = {}

    def settled(self, entries: Iterable[tuple[str, int, int]]) -> list[str]:
        """Update with (name, size, mtime_ns) of every file present; return the complete ones
        in arrival order (oldest mtime first)."""
        now = self.clock()
        current: dict[str, Seen] = {}
        ready: list[tuple[int, str]] = []
        for name, size, mtime_ns in entries:
            before = self.seen.get(name)
            if before is None or (before.size, before.mtime_ns) != (size, mtime_ns):
                current[name] = Seen(size, mtime_ns, now)
                continue
            current[name] = before
            if now - before.since >= self.settle_seconds:
                ready.append((mtime_ns, name))
        self.seen = current  # names gone from the folder are forgotten
        return [name for _, name in sorted(ready)]

    def forget(self, name: str) -> None:
        self.seen.pop(name, None)


def list_candidates(folder: Path, limit: int) -> list[tuple[str, int, int]]:
    """(name, size, mtime_ns) of at most ``limit`` regular, non-ignored files in ``folder``.

    Subfolders and symbolic links are left alone: only files put there are read.
    """
    found: list[tuple[str, int, int]] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if len(found) >= limit:
                break
            if is_ignored_name(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # taken meanwhile
            found.append((entry.name, stat.st_size, stat.st_mtime_ns))
    return found


@dataclass(frozen=True)
class ClaimedFile:
    """A file in ``processing/``: its path there and the name it arrived under."""

    path: Path
    original_name: str

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def at(cls, path: Path) -> ClaimedFile:
        match = _CLAIMED.match(path.name)
        return cls(path, display_name(match["original"] if match else path.name))

    def claimed_at(self) -> datetime | None:
        match = _CLAIMED.match(self.path.name)
        return datetime.strptime(match["stamp"], "%Y%m%dT%H%M%S") if match else None


def claimed_name(original: str, now: datetime) -> str:
    prefix = f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}--"
    room = _MAX_NAME_BYTES - len(prefix) - len(ERROR_SUFFIX)
    shown = display_name(original)
    if shown != original:  # not UTF-8, or control characters: keep it under a readable name
        original = shown.replace("\\", "_")  # (escapes: no path separator on Windows)
    if len(original.encode()) > room:  # keep the extension, shorten the stem
        stem, dot, ext = original.rpartition(".")
        ext = f"{dot}{ext}" if dot and len(ext) <= 10 else ""
        stem = stem if ext else original
        while len((stem + ext).encode()) > room:
            stem = stem[:-1]
        original = stem + ext
    return prefix + original


class FolderSet:
    """The adapter's folders and the moves between them."""

    def __init__(self, folders: Folders, clock: Callable[[], datetime] = datetime.now) -> None:
        self.folders = folders
        self.clock = clock

    def prepare(self) -> None:
        """Check the inbox and outbox exist (a mistyped path must not leave the service idle or
        write codes where no EHR looks); create the state folders, on the inbox's disk.

        :raises ConfigError: the inbox or outbox is missing, or a state folder is on another
            disk.
        """
        inbox, outbox = self.folders.inbox, self.folders.outbox
        if not inbox.is_dir():
            raise ConfigError(
                "the inbox folder does not exist", where=f"adapter.filedrop.inbox = {inbox}",
                fix="create it (and point the lab's or the messaging client's export at it), "
                "or correct the setting",
            )
        if not outbox.is_dir():
            raise ConfigError(
                "the outbox folder does not exist", where=f"adapter.filedrop.outbox = {outbox}",
                fix="create it (the folder the EHR imports from), or correct the setting",
            )
        for role, given in (("inbox", inbox), ("outbox", outbox)):
            if not os.access(given, os.W_OK | os.X_OK):
                raise ConfigError(
                    f"the {role} folder is not writable by this user",
                    where=f"adapter.filedrop.{role} = {given}",
                    fix="give the account running prostop write access to it",
                )
        device = inbox.stat().st_dev
        for role in ("processing", "done", "quarantine"):
            folder: Path = getattr(self.folders, role)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the {role} folder: {exc.strerror}",
                    where=f"adapter.filedrop.{role} = {folder}",
                    fix="create it, or give the service account write access",
                ) from None
            if folder.stat().st_dev != device:
                raise ConfigError(
                    f"the {role} folder is on another disk than the inbox, so files cannot be "
                    "moved there in one atomic step", where=f"adapter.filedrop.{role} = {folder}",
                    fix=f"put it on the same disk as {inbox}, or remove the setting to use the "
                    "default beside the inbox",
                )

    def claim(self, name: str) -> ClaimedFile | None:
        """Move ``inbox/name`` into ``processing/`` under a unique name.

        ``None`` when it is gone (another process claimed it) or still locked by its writer
        (Windows refuses to rename an open file): it is tried again at the next poll.
        """
        target = self.folders.processing / claimed_name(name, self.clock())
        try:
            os.rename(self.folders.inbox / name, target)
        except (FileNotFoundError, PermissionError):
            return None
        return ClaimedFile(target, display_name(name))

    def in_processing(self) -> list[ClaimedFile]:
        """Files waiting in ``processing/`` (left by a crash, or waiting for a retry)."""
        names = sorted(n for n, _, _ in list_candidates(self.folders.processing, limit=100_000))
        return [ClaimedFile.at(self.folders.processing / n) for n in names]

    def to_done(self, claimed: ClaimedFile) -> Path | None:
        """Move to ``done/<today>/``; ``None`` when another process already moved it."""
        folder = self.folders.done / f"{self.clock():%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / claimed.name
        try:
            os.rename(claimed.path, target)
        except FileNotFoundError:
            return None
        return target

    def to_quarantine(self, claimed: ClaimedFile, problem: ProstopError) -> Path | None:
        """Write ``<name>.error.txt`` first, then move the file beside it: a crash in between
        leaves the file in ``processing/``, to be read (and explained) again."""
        target = self.folders.quarantine / claimed.name
        note = target.with_name(target.name + ERROR_SUFFIX)
        write_atomically(note, self.error_text(claimed, problem).encode("utf-8"), mode=0o640)
        try:
            os.rename(claimed.path, target)
        except FileNotFoundError:
            return None
        return target

    def error_text(self, claimed: ClaimedFile, problem: ProstopError) -> str:
        """The note an admin reads: what is wrong, where, how to fix; never a traceback."""
        arrived = claimed.claimed_at()
        facts = [("File", claimed.original_name), ("Kept as", display_name(claimed.name)),
                 ("Picked up", f"{arrived:%Y-%m-%d %H:%M:%S}" if arrived else None),
                 ("Problem", problem.what), ("Where", problem.where), ("How to fix", problem.fix)]
        lines = [
            "prostop-filedrop could not use this file; it is kept unchanged beside this note.",
            "",
            *(f"{label + ':':<12} {value}" for label, value in facts if value),
            "",
            "To submit it again:",
            "  1. fix the file, or have the sender export it again;",
            f"  2. drop it into the inbox, under any name: {self.folders.inbox}",
            "  3. delete the file and this note from the quarantine folder.",
        ]
        return "\n".join(lines) + "\n"
