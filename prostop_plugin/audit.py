"""Append-only, hash-chained, signed audit log, and the built-in observer that writes it.

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
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from prostop_plugin.errors import AuditError
from prostop_plugin.events import IssuanceRecord, IssuanceState
from prostop_plugin.hooks import hookimpl
from prostop_plugin.secrets import KeyRing

DetailValue = str | int | float | bool | None

GENESIS_HASH = "0" * 64
HEAD_SUFFIX = ".head"
LOCK_SUFFIX = ".lock"
#: every field an entry line has, and the ones its hash covers
ENTRY_FIELDS = frozenset(
    {"seq", "at", "actor", "action", "issuance_id", "episode", "details",
     "prev_hash", "hash", "signature"}
)
HASHED_FIELDS = ENTRY_FIELDS - {"hash", "signature"}
HEAD_FIELDS = frozenset({"seq", "hash", "signature"})
#: an exception message is cut here: it is diagnostic, not a place for whole documents
MAX_MESSAGE_LENGTH = 500

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
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


@dataclass(frozen=True)
class AuditVerification:
    """What :meth:`AuditLog.verify` found.

    ``first_broken`` is the sequence number of the first entry that is altered, forged,
    malformed, out of place or missing (one past the last entry when the tail was cut off);
    ``None`` when the log is intact, or when only the head file itself is missing or forged.
    """

    ok: bool
    entries_checked: int
    first_broken: int | None = None
    problem: str | None = None


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
        fields: dict[str, Any] = {
            "at": _timestamp(at),
            "actor": _required_text("actor", actor),
            "action": _required_text("action", action),
            "issuance_id": issuance_id,
            "episode": episode,
            "details": _checked_details(details or {}),
        }
        with self._lock(exclusive=True):
            last_seq, last_hash = self._tail_for_append()
            fields["seq"] = last_seq + 1
            fields["prev_hash"] = last_hash
            fields["hash"] = _entry_hash(fields)
            fields["signature"] = _b64(self.keyring.sign(fields["hash"].encode("ascii")))
            if last_seq == 0 and not self.head_path.exists():
                # anchor an empty log first: a crash right after the first line then reads as
                # "head lags", not as "head deleted"
                self._write_head(0, GENESIS_HASH)
            self._write_line(_canonical(fields) + b"\n")
            self._write_head(fields["seq"], fields["hash"])
        return AuditEntry.from_fields(fields)

    def _tail_for_append(self) -> tuple[int, str]:
        """The last entry's (seq, hash), once the tail and the signed head are seen to agree."""
        head_bytes = self._read_head_bytes()
        line = self._read_last_line()
        last_seq, last_hash = 0, GENESIS_HASH
        if line is not None:
            fields, problem = _parse_line(line)
            if fields is None or (problem := _seal_problem(fields, self.keyring)):
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
        head = _check_head(head_bytes, self.keyring)
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
            _fsync_directory(self.path.parent)  # a new file's name must survive a crash too

    def _write_head(self, seq: int, entry_hash: str) -> None:
        head = {
            "seq": seq,
            "hash": entry_hash,
            "signature": _b64(self.keyring.sign(_head_message(seq, entry_hash))),
        }
        temp = self.head_path.with_name(self.head_path.name + ".tmp")  # one writer: the lock
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                _write_all(fd, _canonical(head) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.head_path)
            _fsync_directory(self.head_path.parent)
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
            fields, problem = _parse_line(line)
            if fields is None:
                raise AuditError(
                    f"line {number} is not an audit entry ({problem})",
                    where=str(self.path), fix=_FIX_DAMAGED,
                )
            yield AuditEntry.from_fields(fields)

    def verify(self) -> AuditVerification:
        """Check every line, the chain, the signatures, and the end against the signed head."""
        size, head = self._snapshot()
        walk = _ChainWalk(self, head)
        for _ in walk.run(self._lines(size)):
            pass
        return walk.result()

    def export(self, out: TextIO) -> int:
        """Write the verified entries, up to the first broken one, as JSON lines; return how
        many. :meth:`verify` gives the verdict on the whole log."""
        size, head = self._snapshot()
        count = 0
        for fields in _ChainWalk(self, head).run(self._lines(size)):
            out.write(_canonical(fields).decode("ascii") + "\n")
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


class _ChainWalk:
    """Walks the lines in order, yielding each verified entry's fields and stopping at the
    first broken one; :meth:`result` then holds the end against the signed head."""

    def __init__(self, log: AuditLog, head_bytes: bytes | None) -> None:
        self.log = log
        self.head = None if head_bytes is None else _check_head(head_bytes, log.keyring)
        self.head_seq = self.head[0] if isinstance(self.head, tuple) else None
        #: the hash of the entry the head names, once walked past it
        self.hash_at_head = GENESIS_HASH if self.head_seq == 0 else None
        self.checked = 0
        self.broken: tuple[int, str] | None = None

    def run(self, lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
        previous_hash = GENESIS_HASH
        for seq, line in enumerate(lines, start=1):
            fields, problem = _checked_line(seq, line, previous_hash, self.log.keyring)
            if fields is None:
                self.broken = (seq, problem)
                return
            previous_hash = fields["hash"]
            if seq == self.head_seq:
                self.hash_at_head = previous_hash
            self.checked = seq
            yield fields

    def result(self) -> AuditVerification:
        last = self.checked
        if self.broken is not None:
            first, problem = self.broken
            return AuditVerification(False, last, first, problem)
        head_file = self.log.head_path
        if self.head is None:
            if last == 0:
                return AuditVerification(True, 0)
            return AuditVerification(False, last, None, (
                f"the head file {head_file} is missing: whether entries were removed from the "
                "end of the log cannot be checked."
            ))
        if isinstance(self.head, str):
            return AuditVerification(False, last, None, f"the head file {head_file}: {self.head}.")
        head_seq, head_hash = self.head
        if head_seq > last:
            ending = f"the log ends at entry {last}" if last else "the log is missing or empty"
            return AuditVerification(False, last, last + 1, (
                f"{ending} but its signed head records {head_seq} entries: "
                f"{_span(last + 1, head_seq, 'was', 'were')} removed."
            ))
        if self.hash_at_head != head_hash:
            return AuditVerification(False, last, head_seq, (
                f"entry {head_seq} is not the one the signed head records: the log or its head "
                "file was replaced."
            ))
        if head_seq < last:
            return AuditVerification(False, last, head_seq + 1, (
                f"{_span(head_seq + 1, last, 'is', 'are')} not covered by the signed head, "
                f"which ends at entry {head_seq}: the head file was replaced by an older one, "
                "or the last append was interrupted."
            ))
        return AuditVerification(True, last)


def _checked_line(
    seq: int, line: bytes, previous_hash: str, keyring: KeyRing
) -> tuple[dict[str, Any] | None, str]:
    """Line ``seq``'s fields if it holds; else None and a sentence naming the likeliest cause
    (the checks run in that order)."""
    fields, problem = _parse_line(line)
    if fields is None:
        return None, f"line {seq} is not a valid audit entry ({problem})."
    if fields["seq"] != seq:
        return None, (
            f"line {seq} holds entry number {fields['seq']}: an entry was removed, inserted or "
            "moved here."
        )
    if fields["prev_hash"] != previous_hash:
        return None, (
            f"entry {seq} does not follow entry {seq - 1} (its prev_hash differs): an entry was "
            "removed, inserted or moved."
        )
    if problem := _seal_problem(fields, keyring):
        return None, f"entry {seq} {problem}."
    if line != _canonical(fields) + b"\n":
        return None, f"line {seq} was edited: it is not written the way the log writes entries."
    return fields, ""


def _seal_problem(fields: Mapping[str, Any], keyring: KeyRing) -> str:
    """Why an entry's hash or signature does not hold, or "" when both do."""
    if _entry_hash(fields) != fields["hash"]:
        return "was altered: its content no longer matches its hash"
    if not keyring.verify(fields["hash"].encode("ascii"), _unb64(fields["signature"])):
        return (
            "is not signed by this key ring: it was forged or altered (or the key ring is not "
            "the one this log was written with)"
        )
    return ""


def _span(first: int, last: int, singular: str, plural: str) -> str:
    """Say "entry 8 was" or "entries 6 to 8 were"."""
    return f"entry {first} {singular}" if first == last else f"entries {first} to {last} {plural}"


# -- the built-in observer -------------------------------------------------------------------


class AuditPlugin:
    """Writes one audit entry per issuance transition. Never reads ``record.code``."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    @hookimpl
    def prostop_issuance_changed(
        self, record: IssuanceRecord, previous: IssuanceState | None
    ) -> None:
        confirmation = record.confirmation
        self.log.append(
            actor=confirmation.practitioner.national_id if confirmation else "system",
            action=f"transition:{record.state.value}",
            issuance_id=record.id,
            episode=record.episode,
            details=transition_details(record, previous),
        )


def transition_details(
    record: IssuanceRecord, previous: IssuanceState | None
) -> dict[str, DetailValue]:
    """What an auditor needs about a transition; the code only as digest and last two."""
    details: dict[str, DetailValue] = {"previous": previous.value if previous else None}
    if record.decision is not None:
        details["decision"] = record.decision.decision
        details["rule"] = record.decision.rule
    if record.code_digest:
        details["code_digest"] = record.code_digest
    if record.code_last2:
        details["code_last2"] = record.code_last2
    if record.replaces:
        details["replaces"] = record.replaces
    if record.error is not None:
        details["error"] = record.error.en
    return details


def record_observer_failure(
    log: AuditLog, plugin_name: str, hook: str, exc: BaseException
) -> None:
    """Audit an observer that raised (fits ``HookFacade(on_observer_error=partial(…, log))``).

    Observers never receive the code in clear (see the hook's contract), so their messages
    should not carry it; they are cut at :data:`MAX_MESSAGE_LENGTH` characters all the same.
    """
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}"
    )
    log.append(
        actor="system",
        action="observer_failed",
        details={
            "plugin": plugin_name,
            "hook": hook,
            "exception": name,
            "message": str(exc)[:MAX_MESSAGE_LENGTH],
        },
    )


# -- encoding --------------------------------------------------------------------------------


def _canonical(value: Mapping[str, Any]) -> bytes:
    """The one byte form of an entry: what is hashed, signed and written."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _entry_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: fields[k] for k in HASHED_FIELDS})).hexdigest()


def _head_message(seq: int, entry_hash: str) -> bytes:
    # a prefix unlike a bare hash: a head signature can never pass for an entry's
    return f"prostop-audit-head:{seq}:{entry_hash}".encode("ascii")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)  # shape already checked


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


def _parse_line(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """A line's fields if it is shaped like an entry (not its hash nor signature)."""
    if not line.endswith(b"\n"):
        return None, "it is incomplete: an interrupted write"
    try:
        fields = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, "it is not JSON"
    problem = _shape_problem(fields)
    return (None, problem) if problem else (fields, "")


def _shape_problem(fields: object) -> str:
    if not isinstance(fields, dict):
        return "it is not a JSON object"
    if set(fields) != ENTRY_FIELDS:
        wrong = sorted(set(fields) ^ ENTRY_FIELDS)
        return f"unexpected or missing fields: {', '.join(wrong)}"
    seq = fields["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return "seq is not a positive integer"
    for name in ("actor", "action"):
        if not isinstance(fields[name], str) or not fields[name]:
            return f"{name} is not a non-empty string"
    for name in ("issuance_id", "episode"):
        if fields[name] is not None and not isinstance(fields[name], str):
            return f"{name} is neither a string nor null"
    try:
        at = datetime.fromisoformat(fields["at"])
    except (TypeError, ValueError):
        return "at is not an ISO-8601 time"
    if at.utcoffset() is None:
        return "at has no time zone"
    details = fields["details"]
    if not isinstance(details, dict) or not all(
        v is None or isinstance(v, str | int | float | bool) for v in details.values()
    ):
        return "details is not an object of plain values"
    for name in ("prev_hash", "hash"):
        if not isinstance(fields[name], str) or not _HEX64.match(fields[name]):
            return f"{name} is not a SHA-256 hex digest"
    try:
        if not isinstance(fields["signature"], str) or len(_unb64(fields["signature"])) != 64:
            return "signature is not a base64 Ed25519 signature"
    except binascii.Error:
        return "signature is not base64"
    return ""


def _check_head(data: bytes, keyring: KeyRing) -> tuple[int, str] | str:
    """The head's (seq, hash), or a sentence saying why it cannot be trusted."""
    try:
        head = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "it is not JSON"
    if not isinstance(head, dict) or set(head) != HEAD_FIELDS:
        return "it is not an audit head (seq, hash, signature)"
    seq, entry_hash, signature = head["seq"], head["hash"], head["signature"]
    if (
        not isinstance(seq, int) or isinstance(seq, bool) or seq < 0
        or not isinstance(entry_hash, str) or not _HEX64.match(entry_hash)
        or not isinstance(signature, str)
    ):
        return "it is not an audit head (seq, hash, signature)"
    try:
        valid = keyring.verify(_head_message(seq, entry_hash), _unb64(signature))
    except binascii.Error:
        valid = False
    if not valid:
        return "it is not signed by this key ring: it was replaced or forged"
    if seq == 0 and entry_hash != GENESIS_HASH:
        return "it records entry 0 with a hash other than the empty log's"
    return seq, entry_hash


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
