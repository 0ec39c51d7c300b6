"""Replaying a backlog of result files (``prostop submit DIR…``): walk, read, record, sum up.

A practice that installs the plugin after weeks of COVID-19 cases points it at its lab
folders: every file is read as the file-drop adapter reads one (any supported format, chosen
by content), its COVID-19 events are handed to the core (stored durably, deduplicated,
evaluated, queued for confirmation), and the rest is counted. Files are only read, never moved
or changed: the folders are the EHR's.

Resuming after Ctrl-C: the ledger recognises an event it already stored, so reading a file
twice is harmless; besides, a small *resume marker* (``<data_dir>/replay/<run>.jsonl``) notes
each file once its events are durable, so a resumed run skips those files without reading
them, and its summary covers the whole replay. The marker names files by a keyed digest of
their path, size and modification time (file names often hold patients' names), and is removed
when a run completes. Unreadable files are not marked: they are read, and reported, again.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from prostop_plugin.eligibility import is_covid_relevant
from prostop_plugin.errors import InputError, ProstopError
from prostop_plugin.file_intake import corrected_results
from prostop_plugin.filenames import display_name, is_ignored_name
from prostop_plugin.input_limits import MAX_FILE_BYTES
from prostop_plugin.models import DiagnosisEvent
from prostop_plugin.readers import read_bytes
from prostop_plugin.values import PARIS

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

__all__ = [
    "ReplayProgress",
    "ReplaySummary",
    "ResumeMarker",
    "Unreadable",
    "find_files",
    "replay",
]

class ReplayProgress(Protocol):
    """Told how far the replay is (a progress bar on a terminal, lines otherwise)."""

    def start(self, total: int) -> None: ...
    def advance(self, done: int = 1) -> None: ...
    def finish(self) -> None: ...


@dataclass(frozen=True)
class Unreadable:
    where: str  #: the file
    reason: str  #: what is wrong and how to fix it (one line)


@dataclass
class ReplaySummary:
    """What a replay did; after a resume, the whole replay's figures."""

    found: int = 0  #: files under the folders given (ignored names aside)
    too_old: int = 0  #: modified before --since: not read
    resumed: int = 0  #: read by an earlier, interrupted run of the same replay: skipped
    read: int = 0  #: read (by this run or the interrupted one), unreadable ones included
    not_relevant: int = 0  #: readable, nothing about COVID-19: nothing stored
    unreadable: list[Unreadable] = field(default_factory=list)
    events_stored: int = 0  #: events new to the ledger
    events_known: int = 0  #: events the ledger already held (a file read twice, or one whose
    #: reading Ctrl-C cut short)
    issuance_ids: list[str] = field(default_factory=list)  #: the issuances they joined
    states: dict[str, int] = field(default_factory=dict)  #: those issuances' states at the end
    interrupted: bool = False


@dataclass(frozen=True)
class FileDone:
    """What became of one file's events (a line of the resume marker, with the file's key)."""

    outcome: str  #: ``recorded`` or ``irrelevant``
    stored: int = 0
    known: int = 0
    ids: tuple[str, ...] = ()

    def to_json(self, key: str) -> str:
        return json.dumps({"file": key, "outcome": self.outcome, "stored": self.stored,
                           "known": self.known, "ids": list(self.ids)})

    @classmethod
    def from_json(cls, line: str) -> tuple[str, FileDone]:
        entry = json.loads(line)
        return str(entry["file"]), cls(
            outcome=str(entry["outcome"]), stored=int(entry["stored"]),
            known=int(entry["known"]), ids=tuple(str(i) for i in entry["ids"]),
        )


IRRELEVANT = FileDone("irrelevant")


def _since_instant(since: date) -> float:
    return datetime.combine(since, time(0), PARIS).timestamp()


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):  # symbolic links to folders are not followed
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not is_ignored_name(name):
                yield Path(folder) / name


def find_files(roots: Sequence[Path]) -> list[tuple[Path, os.stat_result]]:
    """Regular files under ``roots`` (files given as such are taken whatever their name),
    oldest first: results are replayed in the order they arrived.

    :raises InputError: a root that does not exist.
    """
    found: dict[Path, os.stat_result] = {}
    for root in roots:
        if not root.exists():
            raise InputError("no such file or folder", where=display_name(root),
                             fix="check the path")
        for path in _walk(root) if root.is_dir() else iter([root]):
            try:
                status = path.stat()
            except OSError:
                continue  # gone meanwhile, or a dangling link
            if path.is_file():
                found.setdefault(path.absolute(), status)
    return sorted(found.items(), key=lambda item: (item[1].st_mtime_ns, str(item[0])))


class ResumeMarker:
    """The files a replay has finished, so that its resumption skips them (see the module)."""

    def __init__(self, prostop: Prostop, roots: Sequence[Path], since: date | None,
                 adapter: str) -> None:
        self.keyring = prostop.keyring
        identity = "|".join(sorted(os.fsencode(r.absolute()).hex() for r in roots))
        run = self.keyring.digest(f"{identity}|{since}|{adapter}", purpose="replay")[:24]
        self.path = prostop.settings.data_dir / "replay" / f"{run}.jsonl"
        self.done: dict[str, FileDone] = {}

    def file_key(self, path: Path, status: os.stat_result) -> str:
        name = os.fsencode(path).hex()  # any bytes, even those no encoding reads
        return self.keyring.digest(f"{name}|{status.st_size}|{status.st_mtime_ns}",
                                   purpose="replay")[:32]

    def load(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                key, done = FileDone.from_json(line)
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a crash: that file is read again
            self.done[key] = done

    def note(self, key: str, done: FileDone) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(done.to_json(key) + "\n")

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _read(path: Path, size: int, adapter: str) -> list[DiagnosisEvent]:
    shown = display_name(path)
    if size > MAX_FILE_BYTES:
        raise InputError(f"the file is larger than {MAX_FILE_BYTES} bytes", where=shown,
                         fix="check that it is really a lab report; split a batch")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror}", where=shown,
                         fix="check the file's permissions for this user") from None
    return read_bytes(data, shown, adapter)


def _record(prostop: Prostop, events: list[DiagnosisEvent]) -> FileDone:
    """Hand a file's COVID-19 events to the core; what became of them (for the marker)."""
    stored = known = 0
    ids: list[str] = []
    for event in events:
        if prostop.ledger.has_event(event):
            known += 1
        else:
            stored += 1
        record = prostop.hooks.diagnosis_recorded(event)
        if record is None:
            raise ProstopError("no plugin stored the event (is the issuance plugin off?)")
        ids.append(record.id)
        for correction in corrected_results(event):
            prostop.hooks.result_corrected(correction)
    return FileDone("recorded", stored, known, tuple(ids))


def _count(summary: ReplaySummary, done: FileDone) -> None:
    summary.read += 1
    if done.outcome == "irrelevant":
        summary.not_relevant += 1
    summary.events_stored += done.stored
    summary.events_known += done.known
    summary.issuance_ids.extend(done.ids)


def replay(
    prostop: Prostop, roots: Sequence[Path], *, since: date | None = None,
    adapter: str = "cli", progress: ReplayProgress | None = None,
) -> ReplaySummary:
    """Read every file under ``roots`` (modified on or after ``since``, Paris time) and record
    its COVID-19 events. Ctrl-C stops it cleanly: the summary says ``interrupted`` and the
    same call resumes where it stopped.

    :raises InputError: a root that does not exist.
    :raises ProstopError: the core could not store an event (the ledger); what was done is
        kept, and the same call resumes.
    """
    summary = ReplaySummary()
    files = find_files(roots)
    summary.found = len(files)
    if since is not None:
        floor = _since_instant(since)
        kept = [(p, s) for p, s in files if s.st_mtime >= floor]
        summary.too_old, files = len(files) - len(kept), kept
    marker = ResumeMarker(prostop, roots, since, adapter)
    marker.load()
    policy = prostop.settings.eligibility
    if progress is not None:
        progress.start(len(files))
    try:
        for path, status in files:
            key = marker.file_key(path, status)
            earlier = marker.done.get(key)
            if earlier is not None:
                summary.resumed += 1
                _count(summary, earlier)
            else:
                try:
                    events = _read(path, status.st_size, adapter)
                except InputError as exc:
                    summary.read += 1
                    summary.unreadable.append(Unreadable(display_name(path), exc.one_line()))
                else:
                    relevant = [e for e in events if is_covid_relevant(e.evidence, policy)]
                    done = _record(prostop, relevant) if relevant else IRRELEVANT
                    marker.note(key, done)
                    _count(summary, done)
            if progress is not None:
                progress.advance()
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if progress is not None:
            progress.finish()
    if not summary.interrupted:
        marker.remove()
    summary.issuance_ids = list(dict.fromkeys(summary.issuance_ids))
    wanted = set(summary.issuance_ids)
    summary.states = dict(Counter(
        s.state.value for s in prostop.ledger.summaries() if s.id in wanted))
    return summary
