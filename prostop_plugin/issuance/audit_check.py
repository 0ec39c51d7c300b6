"""``audit verify`` against the ledger: the chain, then every row against its audit entry.

The chain alone (hashes, signatures, the signed head) shows an altered or removed entry; it
cannot show a ledger row edited by hand, nor an audit emptied together with its head. So,
after the chain, in this order (the first problem found is the one reported):

1. an audit with no entries while the ledger holds issuances, transitions or events;
2. an entry naming an issuance the ledger does not have (its row was deleted);
3. an entry recording a transition or an event that no ledger row refers to (a row deleted);
4. a row whose keyed MAC does not hold (edited, forged, or put back from an older copy);
5. a transition or an event without its entry, or whose entry says something else;
6. an issuance whose state is not the one its last audited transition says.

Every query reads page by page or stops at the first hit, so a million-row ledger is checked
in bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from prostop_plugin.audit import AuditVerification
from prostop_plugin.audit.table import AuditTable
from prostop_plugin.ledger import Ledger
from prostop_plugin.ledger.rowmac import row_problem

_PAGE = 2000
#: the entry that records a stored event: its own, or the one that opened its issuance
_EVENT_ACTIONS = ("event_stored", "transition:received")


def verify_against_ledger(ledger: Ledger, table: AuditTable) -> AuditVerification:
    chain = table.verify(ledger.query)
    if not chain.ok:
        return chain
    count = chain.entries_checked
    for check in (_emptied, _orphan_entries, _unreferenced_entries, _row_macs, _links,
                  _states):
        problem = check(ledger, count)
        if problem is not None:
            at, text = problem
            return AuditVerification(False, count, at, text)
    return chain


def _one(ledger: Ledger, sql: str) -> Any:
    return ledger.query_one(sql)


def _emptied(ledger: Ledger, count: int) -> tuple[int | None, str] | None:
    if count:
        return None
    held = []
    for table, what in (("issuances", "issuance(s)"), ("transitions", "transition(s)"),
                        ("events", "event(s)")):
        row = _one(ledger, f"SELECT count(*) AS n FROM {table}")
        if row and row["n"]:
            held.append(f"{row['n']} {what}")
    if not held:
        return None
    return None, (
        f"the audit has no entries while the ledger holds {', '.join(held)}: the audit was "
        "emptied or deleted."
    )


def _orphan_entries(ledger: Ledger, count: int) -> tuple[int | None, str] | None:
    row = _one(ledger, (
        "SELECT a.seq, a.issuance_id FROM audit a LEFT JOIN issuances i ON i.id = a.issuance_id "
        "WHERE a.issuance_id IS NOT NULL AND i.id IS NULL ORDER BY a.seq LIMIT 1"
    ))
    if row is None:
        return None
    return int(row["seq"]), (
        f"entry {row['seq']} is about issuance {row['issuance_id']}, which is not in the "
        "ledger: its row was deleted."
    )


def _unreferenced_entries(ledger: Ledger, count: int) -> tuple[int | None, str] | None:
    row = _one(ledger, (
        "SELECT a.seq, a.issuance_id, a.action FROM audit a "
        "LEFT JOIN transitions t ON t.audit_seq = a.seq "
        "WHERE a.action LIKE 'transition:%' AND t.seq IS NULL ORDER BY a.seq LIMIT 1"
    ))
    if row is not None:
        return int(row["seq"]), (
            f"entry {row['seq']} records a transition of issuance {row['issuance_id']} "
            f"({row['action']}) that the ledger does not have: a transition row was deleted."
        )
    row = _one(ledger, (
        "SELECT a.seq, a.issuance_id FROM audit a LEFT JOIN events e ON e.audit_seq = a.seq "
        "WHERE a.action = 'event_stored' AND e.id IS NULL ORDER BY a.seq LIMIT 1"
    ))
    if row is not None:
        return int(row["seq"]), (
            f"entry {row['seq']} records an event of issuance {row['issuance_id']} that the "
            "ledger does not have: an event row was deleted."
        )
    for table, key in (("transitions", "seq"), ("events", "id")):
        row = _one(ledger, (
            f"SELECT audit_seq, min({key}) AS first FROM {table} WHERE audit_seq IS NOT NULL "
            "GROUP BY audit_seq HAVING count(*) > 1 ORDER BY audit_seq LIMIT 1"
        ))
        if row is not None:
            return int(row["audit_seq"]), (
                f"entry {row['audit_seq']} is claimed by several {table} rows: a row was copied."
            )
    return None


def _pages(
    ledger: Ledger, table: str, key: str, columns: str = "*", *, after: object = -1
) -> Iterator[Any]:
    """Rows by ``key`` order, a page at a time (``after``: below every key: -1 or "")."""
    while True:
        page = ledger.query(
            f"SELECT {columns} FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?",
            (after, _PAGE),
        )
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1][key.rsplit(".", 1)[-1]]


def _row_macs(ledger: Ledger, count: int) -> tuple[int | None, str] | None:
    keyring = ledger.keyring
    for table, key, name, start in (("issuances", "id", "issuance", ""),
                                    ("transitions", "seq", "transition", -1),
                                    ("events", "id", "event", -1)):
        for row in _pages(ledger, table, key, after=start):
            problem = row_problem(keyring, table, row)
            if problem is not None:
                return None, f"{name} {row[key]} in the ledger {problem}."
    return None


def _links(ledger: Ledger, count: int) -> tuple[int | None, str] | None:
    for row in _pages(ledger, "transitions t LEFT JOIN audit a ON a.seq = t.audit_seq", "t.seq",
                      "t.seq, t.issuance_id, t.from_state, t.to_state, t.audit_seq, "
                      "a.action, a.issuance_id AS entry_issuance, a.details"):
        what = f"transition {row['seq']} of issuance {row['issuance_id']} " \
               f"({row['from_state'] or '-'} -> {row['to_state']})"
        if row["audit_seq"] is None or row["action"] is None:
            return None, f"{what} has no audit entry."
        previous = _details(row["details"]).get("previous")
        if (row["action"] != f"transition:{row['to_state']}"
                or row["entry_issuance"] != row["issuance_id"]
                or previous != row["from_state"]):
            return int(row["audit_seq"]), (
                f"{what} is not what its entry {row['audit_seq']} records ({row['action']})."
            )
    for row in _pages(ledger, "events e LEFT JOIN audit a ON a.seq = e.audit_seq", "e.id",
                      "e.id, e.issuance_id, e.audit_seq, a.action, "
                      "a.issuance_id AS entry_issuance"):
        what = f"event {row['id']} of issuance {row['issuance_id']}"
        if row["audit_seq"] is None or row["action"] is None:
            return None, f"{what} has no audit entry."
        if row["action"] not in _EVENT_ACTIONS or row["entry_issuance"] != row["issuance_id"]:
            return int(row["audit_seq"]), (
                f"{what} is not what its entry {row['audit_seq']} records ({row['action']})."
            )
    return None


def _states(ledger: Ledger, count: int) -> tuple[int | None, str] | None:
    for row in _pages(ledger, "issuances i", "i.id", (
        "i.id, i.state, (SELECT t.to_state FROM transitions t WHERE t.issuance_id = i.id "
        "ORDER BY t.seq DESC LIMIT 1) AS last_state"
    ), after=""):
        if row["last_state"] != row["state"]:
            said = f"'{row['last_state']}'" if row["last_state"] else "nothing"
            return None, (
                f"issuance {row['id']} is '{row['state']}' in the ledger, but its last "
                f"audited transition says {said}."
            )
    return None


def _details(text: object) -> dict[str, Any]:
    try:
        value = json.loads(str(text))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
