"""Keyed MACs of ledger rows: a row edited or forged outside prostop no longer matches its MAC.

Each MAC is the key ring's HMAC-SHA256 (``digest.key``) of the row's meaningful columns in a
canonical JSON form, under a purpose per table. Operational columns that prostop changes
without a state change (leases, ``set_aside``) are not covered; blobs are covered by their
SHA-256, so an older copy of a row's own encrypted data cannot be put back either.
:func:`row_problem` says what is wrong with a row as read back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from prostop_plugin.keys import KeyRing

ISSUANCE_COLUMNS = (
    "id", "patient_key", "episode", "episode_start", "state", "created_at", "updated_at",
    "valid_until", "replaces", "code_digest", "code_last2",
)
TRANSITION_COLUMNS = ("seq", "issuance_id", "from_state", "to_state", "at", "actor", "audit_seq")
EVENT_COLUMNS = ("id", "dedupe_key", "issuance_id", "received_at", "audit_seq")
#: which blob each table's MAC covers by its hash
_BLOBS = {"issuances": "body", "events": "payload"}
COLUMNS = {
    "issuances": ISSUANCE_COLUMNS, "transitions": TRANSITION_COLUMNS, "events": EVENT_COLUMNS,
}
#: ``json.dumps(…, sort_keys=True, separators=(",", ":"), default=str)``, its encoder made once
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def _blob_hash(value: object) -> str | None:
    if value is None:
        return None
    return hashlib.sha256(bytes(value)).hexdigest()  # type: ignore[call-overload]


def row_mac(keyring: KeyRing, table: str, row: Mapping[str, Any]) -> str:
    """The MAC of ``row`` (a mapping with at least the table's columns) in ``table``."""
    fields: dict[str, Any] = {name: row[name] for name in COLUMNS[table]}
    blob = _BLOBS.get(table)
    if blob is not None:
        fields[blob] = _blob_hash(row[blob])
    text = _CANONICAL.encode(fields)
    return keyring.digest(text, purpose=f"ledger-row:{table}")


def row_problem(keyring: KeyRing, table: str, row: Mapping[str, Any]) -> str | None:
    """Why a stored row does not hold (``None``: it does)."""
    stored = row["mac"]
    if stored is None:
        return "has no MAC: it was written outside prostop"
    if row_mac(keyring, table, row) != stored:
        return "was altered outside prostop: it no longer matches its keyed MAC"
    return None
