"""A million-row ledger against a ten-thousand-row one: ingesting and listing stay as fast.

Two SQLite ledgers are filled directly (one transaction of ``executemany``, no sync): 10,000
and 1,000,000 past issuances (``--quick``: 100,000), each with its event, two transitions and
their audit entries, and its outbox row — the shapes and indexes of real rows; their
encrypted bodies are stand-ins, since nothing reads them: finished issuances are never
decrypted to list or to ingest. Then the same 20 requests waiting for a physician are stored
in both through the engine, and, side by side:

- pending list: ``engine.pending()``, the confirmation queue as ``prostop pending list`` reads it;
- ingest: one new ORU's event stored, evaluated and audited (``diagnosis_recorded``, a durable
  commit each), a new patient every time — the index lookups of deduplication, the patient's
  history and the audit chain's tail on a big table.

Target: the million-row ledger within 1.5× of the small one (ratio ≥ 0.67).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.bench_hl7 import FALLBACK_ORU, ORU_FILE
from bench.bench_mllp import Messages
from bench.harness import Harness
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mapping import map_message
from prostop_plugin.models import DiagnosisEvent

SMALL, LARGE, QUICK_LARGE = 10_000, 1_000_000, 100_000
WAITING = 20
_CHUNK = 50_000
_STATES = ("written_back", "expired", "not_eligible", "declined")


def _events(messages: Messages, count: int) -> list[DiagnosisEvent]:
    found = []
    for _ in range(count):
        data = messages.next()
        found.extend(map_message(parse(data), adapter="hl7v2_mllp", raw=data).events)
    return found


def fill(path: Path, rows: int) -> float:
    """``rows`` past issuances straight into a migrated ledger; seconds taken."""
    start = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    base = datetime(2020, 6, 1, tzinfo=UTC)
    blob = os.urandom(600)
    for first in range(0, rows, _CHUNK):
        issuances, events, transitions, audit, outbox = [], [], [], [], []
        for n in range(first, min(rows, first + _CHUNK)):
            at = (base + timedelta(seconds=n * 7)).isoformat(timespec="microseconds")
            issuance = secrets.token_hex(6)
            state = _STATES[n % len(_STATES)]
            seq = 2 * n + 1
            issuances.append((issuance, secrets.token_hex(32), secrets.token_hex(10),
                              at[:10], state, at, at, blob, "0" * 64))
            events.append((n + 1, secrets.token_hex(32), issuance, at, blob, seq, "0" * 64))
            transitions += [(seq, issuance, None, "received", at, "bench", seq, "0" * 64),
                            (seq + 1, issuance, "received", state, at, "bench", seq + 1,
                             "0" * 64)]
            audit += [(s, at, "system", f"transition:{t}", issuance, "{}", "0" * 64,
                       secrets.token_hex(32), "A" * 88)
                      for s, t in ((seq, "received"), (seq + 1, state))]
            if state == "written_back":
                outbox.append((issuance, 1, at, None, "done"))
        conn.executemany("INSERT INTO issuances (id, patient_key, episode, episode_start, "
                         "state, created_at, updated_at, body, mac) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", issuances)
        conn.executemany("INSERT INTO events (id, dedupe_key, issuance_id, received_at, "
                         "payload, audit_seq, mac) VALUES (?, ?, ?, ?, ?, ?, ?)", events)
        conn.executemany("INSERT INTO transitions (seq, issuance_id, from_state, to_state, at, "
                         "actor, audit_seq, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", transitions)
        conn.executemany("INSERT INTO audit (seq, at, actor, action, issuance_id, details, "
                         "prev_hash, hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", audit)
        conn.executemany("INSERT INTO outbox (issuance_id, attempts, next_attempt_at, "
                         "last_error, status) VALUES (?, ?, ?, ?, ?)", outbox)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - start


def ledger(root: Path, rows: int, waiting: list[DiagnosisEvent]) -> tuple[Prostop, float]:
    settings = Settings(data_dir=root / "var", as_of=date(2020, 11, 20))
    Prostop.open(settings).close()  # migrated, empty
    took = fill(settings.ledger_path, rows)
    runtime = Prostop.open(settings)
    for event in waiting:
        runtime.hooks.diagnosis_recorded(event)
    return runtime, took


def run(harness: Harness) -> None:
    large = QUICK_LARGE if harness.quick else LARGE
    template = ORU_FILE.read_bytes() if ORU_FILE.exists() else FALLBACK_ORU
    messages = Messages(template)
    waiting = _events(messages, WAITING)
    root = Path(tempfile.mkdtemp(prefix="bench-scale-", dir="/var/tmp"))
    try:
        small, small_fill = ledger(root / "small", SMALL, waiting)
        big, big_fill = ledger(root / "large", large, waiting)
        try:
            assert len(small.engine.pending()) == len(big.engine.pending()) == WAITING
            fresh = iter(_events(messages, 3000 if not harness.quick else 400))
            note = (f"{large:,} vs {SMALL:,} past issuances (+ events, transitions, audit "
                    f"entries), generated in {big_fill:.0f} s and {small_fill:.1f} s")
            harness.compare(
                f"pending list ({WAITING} waiting), {large:,}-row ledger vs {SMALL:,}",
                big.engine.pending, small.engine.pending, ours_name=f"{large:,} rows",
                peer_name=f"{SMALL:,} rows", target_ratio=1 / 1.5, iterations=200, warmup=5,
                note=note)
            harness.compare(
                f"ingest p50, {large:,}-row ledger vs {SMALL:,}",
                lambda: big.hooks.diagnosis_recorded(next(fresh)),
                lambda: small.hooks.diagnosis_recorded(next(fresh)),
                ours_name=f"{large:,} rows", peer_name=f"{SMALL:,} rows", target_ratio=1 / 1.5,
                iterations=1000, warmup=20, note=note)
        finally:
            small.close()
            big.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
