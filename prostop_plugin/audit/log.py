"""Append-only, hash-chained, signed audit log: appending, reading, verifying, exporting.

Files, for a log at ``audit.jsonl``:

* ``audit.jsonl`` — one entry per line, canonical JSON (sorted keys, no spaces, ASCII)::

    {"action":"transition:issued","actor":"810003456789","at":"2024-05-01T09:30:00.000000+00:00",
     "details":{...},"episode":"…","hash":"<sha256 hex>","issuance_id":"…",
     "prev_hash":"<hash of the previous entry, 64 zeros for the first>","seq":1,
     "signature":"<base64 Ed25519 signature of the hash's ASCII hex>"}

  ``hash`` is the SHA-256 of the canonical JSON of every other field except ``signature``.
* ``audit.jsonl.head`` — ``{"seq": N, "hash": "…", "signature": "…"}``, the last entry,
  signed over ``prostop-audit-head:N:hash`` and replaced atomically after each append. The
  chain alone cannot show that its last lines were cut off; the signed head can.
* ``audit.jsonl.lock`` — ``flock`` target serialising appends across threads and processes.

Limits: whoever holds the signing key can rewrite everything, and an older *pair* of log and
head files (a restored backup) verifies as what it is, an older log. Send exports elsewhere
to guard against that.

The chain's encoding and checks are in :mod:`prostop_plugin.audit.chain`; the observer that
writes entries for the issuance flow is in :mod:`prostop_plugin.audit.plugin`.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from prostop_plugin.audit.chain import (
    ENTRY_FIELDS,
    GENESIS_HASH,
    HASHED_FIELDS,
    HEAD_FIELDS,
    AuditVerification,
    ChainWalk,
    b64encode,
    canonical,
    check_head,
    entry_hash,
    head_message,
    parse_line,
    seal_problem,
)
from prostop_plugin.errors import AuditError
from prostop_plugin.fileio import fsync_directory
from prostop_plugin.keys import KeyRing

__all__ = [
    "ENTRY_FIELDS",
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "HEAD_FIELDS",
    "HEAD_SUFFIX",
    "LOCK_SUFFIX",
    "MAX_MESSAGE_LENGTH",
    "AuditEntry",
    "AuditLog",
    "AuditVerification",
    "DetailValue",
    "checked_fields",
]

DetailValue = str | int | float | bool | None

HEAD_SUFFIX = ".head"
LOCK_SUFFIX = ".lock"
#: an exception message is cut here: it is diagnostic, not a place for whole documents
MAX_MESSAGE_LENGTH = 500

_FIX_DAMAGED = (
    "run the audit verification; keep the log and its .head file as evidence and move both "
    "aside to start a new log"
)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    issuance_id: str | None
    episode: str | None
    details: dict[str, DetailValue]
    prev_hash: str
    hash: str
    signature: str

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> AuditEntry:
        """Build from a line's fields, already checked by :func:`_shape_problem`."""
        return cls(
            seq=fields["seq"],
            at=datetime.fromisoformat(fields["at"]),
            actor=fields["actor"],
            action=fields["action"],
            issuance_id=fields["issuance_id"],
            episode=fields["episode"],
            details=dict(fields["details"]),
            prev_hash=fields["prev_hash"],
            hash=fields["hash"],
            signature=fields["signature"],
        )


class AuditLog:
    """The audit log at ``path``; safe for several threads and processes appending at once."""

    def __init__(self, path: Path, keyring: KeyRing) -> None:
        self.path = Path(path)
        self.keyring = keyring
        self.head_path = self.path.with_name(self.path.name + HEAD_SUFFIX)
        self.lock_path = self.path.with_name(self.path.name + LOCK_SUFFIX)

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        *,
        actor: str,
        action: str,
        issuance_id: str | None = None,
        episode: str | None = None,
        details: Mapping[str, DetailValue] | None = None,
        at: datetime | None = None,
    ) -> AuditEntry:
        """Append one entry, durable (fsynced) when this returns.

        :raises AuditError: the log cannot be written, or it is damaged (appending on top of
            a damaged log would hide the damage, so it is refused).
        """
        fields = checked_fields(actor=actor, action=action, issuance_id=issuance_id,
                                episode=episode, details=details, at=at)
        with self._lock(exclusive=True):
            last_seq, last_hash = self._tail_for_append()
            fields["seq"] = last_seq + 1
            fields["prev_hash"] = last_hash
            fields["hash"] = entry_hash(fields)
            fields["signature"] = b64encode(self.keyring.sign(fields["hash"].encode("ascii")))
            if last_seq == 0 and not self.head_path.exists():
                # anchor an empty log first: a crash right after the first line then reads as
                # "head lags", not as "head deleted"
                self._write_head(0, GENESIS_HASH)
            self._write_line(canonical(fields) + b"\n")
            self._write_head(fields["seq"], fields["hash"])
        return AuditEntry.from_fields(fields)

    def _tail_for_append(self) -> tuple[int, str]:
        """The last entry's (seq, hash), once the tail and the signed head are seen to agree."""
        head_bytes = self._read_head_bytes()
        line = self._read_last_line()
        last_seq, last_hash = 0, GENESIS_HASH
        if line is not None:
            fields, problem = parse_line(line)
            if fields is None or (problem := seal_problem(fields, self.keyring)):
                raise AuditError(
                    f"the last entry of the log is damaged: it {problem}",
                    where=str(self.path), fix=_FIX_DAMAGED,
                )
            last_seq, last_hash = fields["seq"], fields["hash"]
        if head_bytes is None:
            if last_seq:
                raise AuditError(
                    "the head file is missing while the log has entries",
                    where=str(self.head_path), fix=_FIX_DAMAGED,
                )
            return last_seq, last_hash
        head = check_head(head_bytes, self.keyring)
        if isinstance(head, str):
            raise AuditError(head, where=str(self.head_path), fix=_FIX_DAMAGED)
        head_seq, head_hash = head
        if head_seq > last_seq:
            raise AuditError(
                f"the log ends at entry {last_seq} but its signed head records {head_seq} "
                "entries: entries were removed",
                where=str(self.path), fix=_FIX_DAMAGED,
            )
        if head_seq == last_seq and head_hash != last_hash:
            raise AuditError(
                f"entry {last_seq} is not the one the signed head records: the log or its head "
                "was replaced",
                where=str(self.path), fix=_FIX_DAMAGED,
            )
        # head_seq < last_seq: an append died before its head update; continue from the real
        # last entry, whose signature was just checked
        return last_seq, last_hash

    def _write_line(self, line: bytes) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise AuditError(
                f"cannot open the audit log for writing ({exc.strerror})", where=str(self.path),
                fix="make its folder writable by the user running prostop",
            ) from exc
        try:
            start = os.fstat(fd).st_size
            try:
                _write_all(fd, line)
                os.fsync(fd)
            except OSError as exc:
                # a part line left by a full disk would block every later append: take it back
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise AuditError(
                    f"cannot write to the audit log ({exc.strerror})", where=str(self.path),
                    fix="free disk space or fix the file's permissions, then retry",
                ) from exc
        finally:
            os.close(fd)
        if start == 0:
            fsync_directory(self.path.parent)  # a new file's name must survive a crash too

    def _write_head(self, seq: int, entry_hash: str) -> None:
        head = {
            "seq": seq,
            "hash": entry_hash,
            "signature": b64encode(self.keyring.sign(head_message(seq, entry_hash))),
        }
        temp = self.head_path.with_name(self.head_path.name + ".tmp")  # one writer: the lock
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                _write_all(fd, canonical(head) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.head_path)
            # no directory fsync: a rename lost to a power cut leaves the previous head, which
            # is merely behind (accepted, like a crash between the line and the head) and is
            # moved forward by the next append; the entry line itself is already durable

        except OSError as exc:
            raise AuditError(
                f"cannot write the audit head file ({exc.strerror})", where=str(self.head_path),
                fix="free disk space or fix the folder's permissions, then retry",
            ) from exc

    # -- reading ---------------------------------------------------------------------------

    def entries(self) -> Iterator[AuditEntry]:
        """Every entry as written: each line's shape is checked, not the chain (:meth:`verify`).

        :raises AuditError: a line is not an audit entry.
        """
        size, _ = self._snapshot()
        for number, line in enumerate(self._lines(size), start=1):
            fields, problem = parse_line(line)
            if fields is None:
                raise AuditError(
                    f"line {number} is not an audit entry ({problem})",
                    where=str(self.path), fix=_FIX_DAMAGED,
                )
            yield AuditEntry.from_fields(fields)

    def verify(self) -> AuditVerification:
        """Check every line, the chain, the signatures, and the end against the signed head."""
        size, head = self._snapshot()
        walk = ChainWalk(self.keyring, self.head_path, head)
        for _ in walk.run(self._lines(size)):
            pass
        return walk.result()

    def export(self, out: TextIO) -> int:
        """Write the verified entries, up to the first broken one, as JSON lines; return how
        many. :meth:`verify` gives the verdict on the whole log."""
        size, head = self._snapshot()
        count = 0
        for fields in ChainWalk(self.keyring, self.head_path, head).run(self._lines(size)):
            out.write(canonical(fields).decode("ascii") + "\n")
            count += 1
        return count

    def _snapshot(self) -> tuple[int, bytes | None]:
        """The log's size and the head file, read together under the lock.

        Lines are then read without the lock: the log only grows, so its first ``size``
        bytes stay as they are while writers keep appending.
        """
        with self._lock(exclusive=False):
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                size = 0
            return size, self._read_head_bytes()

    def _lines(self, size: int) -> Iterator[bytes]:
        """The lines within the first ``size`` bytes, each with its newline when it has one."""
        if size == 0:
            return
        try:
            file = self.path.open("rb")
        except OSError as exc:
            raise AuditError(
                f"cannot read the audit log ({exc.strerror})", where=str(self.path),
                fix="make it readable by the user running prostop",
            ) from exc
        with file:
            remaining = size
            for line in file:
                if remaining <= 0:
                    break
                yield line[:remaining]
                remaining -= len(line)

    def _read_last_line(self) -> bytes | None:
        """The last line, read backwards from the end so that appends stay O(1)."""
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditError(
                f"cannot read the audit log ({exc.strerror})", where=str(self.path),
                fix="make it readable and writable by the user running prostop",
            ) from exc
        with file:
            position = file.seek(0, os.SEEK_END)
            tail = b""
            while position > 0 and tail.count(b"\n") < 2:
                step = min(4096, position)
                position -= step
                file.seek(position)
                tail = file.read(step) + tail
        if not tail:
            return None
        if not tail.endswith(b"\n"):
            raise AuditError(
                "the log ends with an incomplete line (an interrupted write)",
                where=str(self.path),
                fix="run the audit verification; if only that last part line is wrong, remove "
                "it (it was never confirmed) and retry",
            )
        return tail[tail.rfind(b"\n", 0, len(tail) - 1) + 1 :]

    def _read_head_bytes(self) -> bytes | None:
        try:
            return self.head_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditError(
                f"cannot read the audit head file ({exc.strerror})", where=str(self.head_path),
                fix="make it readable by the user running prostop",
            ) from exc

    @contextlib.contextmanager
    def _lock(self, *, exclusive: bool) -> Iterator[None]:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exclusive:
                raise AuditError(
                    f"cannot create the audit lock file ({exc.strerror})",
                    where=str(self.lock_path),
                    fix="make the audit log's folder writable by the user running prostop",
                ) from exc
            # a read-only copy (an auditor's): nobody can be appending to it
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock


# -- building and writing entries ------------------------------------------------------------


def checked_fields(
    *, actor: str, action: str, issuance_id: str | None, episode: str | None,
    details: Mapping[str, DetailValue] | None, at: datetime | None,
) -> dict[str, Any]:
    """An entry's own fields, checked (``ValueError`` names a wrong one); the chain's fields
    (seq, prev_hash, hash, signature) are added by whoever appends it."""
    return {
        "at": _timestamp(at),
        "actor": _required_text("actor", actor),
        "action": _required_text("action", action),
        "issuance_id": issuance_id,
        "episode": episode,
        "details": _checked_details(details or {}),
    }


def _timestamp(at: datetime | None) -> str:
    if at is None:
        at = datetime.now(UTC)
    elif at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("audit times must be timezone-aware (use datetime.now(UTC))")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _required_text(name: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"an audit entry needs a non-empty {name}")
    return value


def _checked_details(details: Mapping[str, DetailValue]) -> dict[str, DetailValue]:
    checked: dict[str, DetailValue] = {}
    for key, value in details.items():
        if not isinstance(key, str):
            raise ValueError(f"audit detail names must be strings, got {type(key).__name__}")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValueError(
                f"audit detail {key!r} must be a string, number, boolean or None, "
                f"got {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"audit detail {key!r} must be a finite number")
        checked[key] = value
    return checked


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


