"""The chain: canonical entries, hashes, signatures, the signed head, and verifying them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prostop_plugin.keys import KeyRing

GENESIS_HASH = "0" * 64
#: every field an entry line has, and the ones its hash covers
ENTRY_FIELDS = frozenset(
    {"seq", "at", "actor", "action", "issuance_id", "episode", "details",
     "prev_hash", "hash", "signature"}
)
HASHED_FIELDS = ENTRY_FIELDS - {"hash", "signature"}
HEAD_FIELDS = frozenset({"seq", "hash", "signature"})

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


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


class ChainWalk:
    """Walks the lines in order, yielding each verified entry's fields and stopping at the
    first broken one; :meth:`result` then holds the end against the signed head."""

    def __init__(
        self, keyring: KeyRing, head_path: Path, head_bytes: bytes | None, *,
        head_label: str | None = None,
    ) -> None:
        self.keyring = keyring
        self.head_path = head_path
        #: how the head is named in what :meth:`result` says
        self.head_label = head_label or f"the head file {head_path}"
        self.head = None if head_bytes is None else check_head(head_bytes, keyring)
        self.head_seq = self.head[0] if isinstance(self.head, tuple) else None
        #: the hash of the entry the head names, once walked past it
        self.hash_at_head = GENESIS_HASH if self.head_seq == 0 else None
        self.checked = 0
        self.broken: tuple[int, str] | None = None

    def run(self, lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
        previous_hash = GENESIS_HASH
        for seq, line in enumerate(lines, start=1):
            fields, problem = _checked_line(seq, line, previous_hash, self.keyring)
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
        head_file = self.head_label
        if self.head is None:
            if last == 0:
                return AuditVerification(True, 0)
            return AuditVerification(False, last, None, (
                f"{head_file} is missing: whether entries were removed from the "
                "end of the log cannot be checked."
            ))
        if isinstance(self.head, str):
            return AuditVerification(False, last, None, f"{head_file}: {self.head}.")
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
    fields, problem = parse_line(line)
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
    if problem := seal_problem(fields, keyring):
        return None, f"entry {seq} {problem}."
    if line != canonical(fields) + b"\n":
        return None, f"line {seq} was edited: it is not written the way the log writes entries."
    return fields, ""


def seal_problem(fields: Mapping[str, Any], keyring: KeyRing) -> str:
    """Why an entry's hash or signature does not hold, or "" when both do."""
    if entry_hash(fields) != fields["hash"]:
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


# -- encoding --------------------------------------------------------------------------------

#: ``json.dumps(…, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)``,
#: its encoder made once (json.dumps builds one per call when given options)
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
)


def canonical(value: Mapping[str, Any]) -> bytes:
    """The one byte form of an entry: what is hashed, signed and written."""
    return _CANONICAL.encode(value).encode("ascii")


def entry_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: fields[k] for k in HASHED_FIELDS})).hexdigest()


def head_message(seq: int, entry_hash: str) -> bytes:
    # a prefix unlike a bare hash: a head signature can never pass for an entry's
    return f"prostop-audit-head:{seq}:{entry_hash}".encode("ascii")


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)  # shape already checked


def parse_line(line: bytes) -> tuple[dict[str, Any] | None, str]:
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


def check_head(data: bytes, keyring: KeyRing) -> tuple[int, str] | str:
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
        valid = keyring.verify(head_message(seq, entry_hash), _unb64(signature))
    except binascii.Error:
        valid = False
    if not valid:
        return "it is not signed by this key ring: it was replaced or forged"
    if seq == 0 and entry_hash != GENESIS_HASH:
        return "it records entry 0 with a hash other than the empty log's"
    return seq, entry_hash
