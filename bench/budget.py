"""What issue 13's throughput targets leave for a stored message's work, measured here.

``python -m bench.budget [--rounds 3] [--messages 2000]``

The targets are ratios against python-hl7's MLLP server (parse + ACK, nothing durable) and
against the floor (one SQLite FULL commit per message). A server that must store each message
durably before its ACK cannot beat the **group-commit floor**: the same bare asyncio server with
the messages of every connection committed together (``bench.bench_mllp.GroupCommitFloor``),
which does nothing else — no parsing, no evaluation, no encryption, no audit. So:

- a target above the group-commit floor's own ratio is out of reach for any durable server on
  this machine, whatever it does;
- otherwise the time it leaves per message, ``1 / (target × peer rate) − 1 / ceiling rate``, is
  all that reading, evaluating, encrypting, MACing, signing and writing may cost; the second
  table gives the cost of the leanest conceivable pieces of that work (one thread's CPU time)
  and of ours, to set against it.

Rates are measured the way ``python -m bench mllp`` measures them (one process, the same
client, rounds alternated); the median of ``--rounds`` runs is reported.
"""

from __future__ import annotations

import argparse
import hmac
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.bench_hl7 import FALLBACK_ORU, ORU_FILE
from bench.bench_mllp import Client, LoopThread, Messages, floor_server, python_hl7_server
from bench.cpu import frames, stage_times
from bench.harness import Harness

#: rows a stored event writes at the least: the event, its issuance, two transitions (received,
#: then evaluated) and their two audit entries; each ledger row and audit entry keyed-MACed or
#: hashed
ROWS = 6
MACS = 6
#: what each measured piece is, by key
PIECES = {
    "split": "split into segments and fields (no decoding, no mapping)",
    "row": "one SQLite row (the message as a blob, a unique and a plain index; no commit)",
    "aead": "AES-GCM of the message",
    "mac": "one HMAC-SHA256",
    "signature": "one Ed25519 signature",
    "read": "ours, read (decode, parse, map, is it about COVID-19)",
    "store": "ours, store (stored, evaluated, audited, signed, committed)",
    "ack": "ours, ACK",
}
#: (peer, connections, target ratio) of issue 13
TARGETS = (("python-hl7", 4, 3.0), ("python-hl7", 16, 5.0), ("floor", 4, 2.0))


def rates(rounds: int) -> dict[tuple[str, int], float]:
    """msg/s of python-hl7, the floor and the group-commit floor, median of ``rounds``."""
    template = ORU_FILE.read_bytes() if ORU_FILE.exists() else FALLBACK_ORU
    root = Path(tempfile.mkdtemp(prefix="bench-budget-"))
    client_loop, peer_loop = LoopThread("bench-client"), LoopThread("bench-peers")
    found: dict[tuple[str, int], list[float]] = {}
    try:
        with python_hl7_server(peer_loop) as hl7_port, \
                floor_server(peer_loop, root) as floor_port, \
                floor_server(peer_loop, root, group_commit=True) as ceiling_port:
            for connections in (4, 16):
                ports = {"python-hl7": hl7_port, "floor": floor_port, "ceiling": ceiling_port}
                clients = {name: Client(client_loop, port, Messages(template), connections)
                           for name, port in ports.items()}
                for _ in range(rounds):
                    harness = Harness()
                    for peer in ("python-hl7", "floor")[:2 if connections == 4 else 1]:
                        result = harness.compare(
                            "budget", clients["ceiling"].batch, clients[peer].batch,
                            peer_name=peer, iterations=40, warmup=2)
                        count = clients[peer].count
                        found.setdefault((peer, connections), []).append(
                            1e6 / result.peer.p50_us * count)
                        found.setdefault(("ceiling", connections), []).append(
                            1e6 / result.ours.p50_us * count)
                for client in clients.values():
                    client.close()
    finally:
        client_loop.close()
        peer_loop.close()
        shutil.rmtree(root, ignore_errors=True)
    return {key: statistics.median(values) for key, values in found.items()}


def _per_message(work: Callable[[bytes], object], batch: list[bytes]) -> float:
    """Thread CPU µs per message of ``work`` over ``batch``."""
    for frame in batch[:50]:
        work(frame)
    start = time.thread_time()
    for frame in batch:
        work(frame)
    return (time.thread_time() - start) / len(batch) * 1e6


def pieces(count: int) -> dict[str, float]:
    """CPU µs per message of the leanest pieces of a stored message's work, and of ours (keys
    of :data:`PIECES`)."""
    batch = frames(count)
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    signer = Ed25519PrivateKey.generate()
    mac_key = b"k" * 32
    nonce = b"n" * 12

    def split_fields(frame: bytes) -> object:
        return [segment.split(b"|") for segment in frame.split(b"\r")]

    root = Path(tempfile.mkdtemp(prefix="bench-budget-rows-"))
    db = sqlite3.connect(root / "rows.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, dedupe_key TEXT NOT NULL UNIQUE, "
               "issuance_id TEXT NOT NULL, payload BLOB NOT NULL)")
    db.execute("CREATE INDEX events_issuance ON events(issuance_id)")
    db.execute("BEGIN")
    keys = iter(range(10**9))

    def insert_row(frame: bytes) -> object:
        key = next(keys)
        return db.execute("INSERT INTO events (dedupe_key, issuance_id, payload) "
                          "VALUES (?, ?, ?)", (f"key-{key}", f"issuance-{key}", frame))

    found = {
        "split": _per_message(split_fields, batch),
        "row": _per_message(insert_row, batch),
        "aead": _per_message(lambda frame: aead.encrypt(nonce, frame, None), batch),
        "mac": _per_message(
            lambda frame: hmac.new(mac_key, frame[:200], "sha256").hexdigest(), batch),
        "signature": _per_message(lambda frame: signer.sign(frame[:200]), batch),
    }
    db.execute("COMMIT")
    db.close()
    shutil.rmtree(root, ignore_errors=True)
    ours = stage_times(count)
    return found | {stage: ours[stage] for stage in ("read", "store", "ack")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.budget", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args(argv)
    measured = rates(args.rounds)
    print(f"msg/s, median of {args.rounds} runs (client in the process):")
    for (name, connections), rate in sorted(measured.items()):
        print(f"  {name:<11} {connections:>2} connections {rate:8.0f}")
    print("\nwhat each target leaves per message for the work (µs):")
    for peer, connections, target in TARGETS:
        needed = target * measured[(peer, connections)]
        ceiling = measured[("ceiling", connections)]
        budget = 1e6 / needed - 1e6 / ceiling
        verdict = (f"{budget:6.0f} µs" if budget > 0 else
                   "none: beyond even the group-commit floor "
                   f"({ceiling / measured[(peer, connections)]:.2f}× {peer})")
        print(f"  ≥ {target:g}× {peer} at {connections:>2} connections = {needed:6.0f} msg/s; "
              f"the group-commit floor {ceiling:6.0f} msg/s; left: {verdict}")
    print("\nCPU per message of the pieces (µs, one thread):")
    found = pieces(args.messages)
    for key, value in found.items():
        print(f"  {PIECES[key]:<78} {value:7.1f}")
    for connections in (4, 16):
        least = (found["split"] + ROWS * found["row"] + found["aead"] + MACS * found["mac"]
                 + found["signature"] / connections)
        print(f"  the least the guarantees need at {connections:>2} connections: split + "
              f"{ROWS} rows + AES-GCM + {MACS} MACs + one signature per batch of "
              f"{connections} = {least:5.1f} µs (no mapping, no evaluation, no ACK built)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
