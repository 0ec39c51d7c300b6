"""MLLP round trips against a python-hl7 MLLP server, same client, same machine, same process.

One timed call is a batch: 4 connections send ``MESSAGES`` messages each, one at a time
(send, wait for the ACK), all connections at once. Both servers get the same bytes: the
corpus's positive RT-PCR ORU^R01 with a new MSH-10 and a new patient (PID-3) per message, as a
lab's stream looks.

- ours: ``prostop_hl7v2_mllp`` in-process: parse, map, then the event stored in the ledger
  (SQLite WAL, ``synchronous=FULL``: fsync before the ACK) and the issuance evaluated and
  audited (signed, fsynced) — only then the ACK;
- peer: ``hl7.mllp.start_hl7_server`` whose callback parses (``hl7.parse`` by the stream
  reader) and writes ``message.create_ack()``: nothing is stored.

A second case sends an ORU that is not about COVID-19 (a glucose result): ours parses, maps and
acknowledges without storing anything, so it compares the MLLP and codec paths alone. A third
pass times where ours spends each stored message (printed in the note).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import hl7
import hl7.mllp

from bench.bench_hl7 import FALLBACK_ORU, ORU_FILE
from bench.harness import Harness
from prostop_hl7v2_mllp.plugin import plugin as mllp_plugin
from prostop_hl7v2_mllp.server import MLLPService
from prostop_hl7v2_mllp.settings import load_mllp_settings
from prostop_plugin.app import Prostop
from prostop_plugin.audit import AuditLog
from prostop_plugin.config import Settings
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mapping import map_message
from prostop_plugin.hl7.mllp import MLLPDecoder, encode_frame
from prostop_plugin.hl7.send import read_ack
from prostop_plugin.ledger import Ledger
from prostop_plugin.models import DiagnosisEvent

CONNECTIONS = 4
MESSAGES = 10  # per connection and batch
GLUCOSE_ORU = (
    b"MSH|^~\\&|SIL-BIO|LABO-GARONNE|LGC|CABINET-DURAND|20201119101500||ORU^R01^ORU_R01|"
    b"LG20201119-0001|P|2.5|||AL|NE|FRA|UNICODE UTF-8\r"
    b"PID|||280013306312376^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS~DOS-4411^^^"
    b"CABINET-DURAND^PI||DUPONT^CAMILLE^^^^^L||19800115|F\r"
    b"OBR|1|CMD-1|LAB-1|2345-7^Glucose^LN|||20201118093000\r"
    b"OBX|1|NM|2345-7^Glucose [Mass/volume] in Serum or Plasma^LN||0.95|g/L|0.70-1.10|N|||F\r"
)


class Messages:
    """Unique messages from a template: MSH-10 and the patient's ids change every time."""

    def __init__(self, template: bytes) -> None:
        self.template = template
        self.count = 0

    def next(self) -> bytes:
        self.count += 1
        n = self.count
        nir = 2800133000000 + n  # 13 digits, then the INS key (97 - NIR mod 97)
        ins = b"%13d%02d" % (nir, 97 - nir % 97)
        return (self.template.replace(b"LG20201119-0001", b"BENCH-%08d" % n)
                .replace(b"280013306312376", ins).replace(b"DOS-4411", b"DOS-B%d" % n))


class LoopThread:
    """An event loop in a thread; ``run(coro)`` waits for a coroutine's result."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Client:
    """``CONNECTIONS`` persistent connections to one server; one batch per :meth:`batch`."""

    def __init__(self, loop: LoopThread, port: int, messages: Messages) -> None:
        self.loop, self.messages = loop, messages
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, MLLPDecoder]] = []
        for _ in range(CONNECTIONS):
            reader, writer = loop.run(asyncio.open_connection("127.0.0.1", port))
            self.streams.append((reader, writer, MLLPDecoder()))

    async def _one_connection(self, index: int, count: int) -> bytes:
        reader, writer, decoder = self.streams[index]
        ack = b""
        for _ in range(count):
            writer.write(encode_frame(self.messages.next()))
            await writer.drain()
            frames: list[bytes] = []
            while not frames:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("the server closed the connection")
                frames = decoder.feed(data)
            ack = frames[-1]
        return ack

    async def _batch(self, count: int) -> list[bytes]:
        return list(await asyncio.gather(
            *(self._one_connection(i, count) for i in range(CONNECTIONS))))

    def batch(self, count: int = MESSAGES) -> list[bytes]:
        acks: list[bytes] = self.loop.run(self._batch(count))
        return acks

    def batch_on_one_connection(self) -> bytes:
        ack: bytes = self.loop.run(self._one_connection(0, 1))
        return ack

    def close(self) -> None:
        for _, writer, _ in self.streams:
            writer.close()


async def _python_hl7_ack(reader: Any, writer: Any) -> None:
    """python-hl7's MLLP server callback: parse each message, answer its ACK."""
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while not writer.is_closing():
            message = await reader.readmessage()  # hl7.parse inside
            writer.writemessage(message.create_ack())
            await writer.drain()


@contextmanager
def python_hl7_server(loop: LoopThread) -> Iterator[int]:
    async def start() -> asyncio.AbstractServer:
        server: asyncio.AbstractServer = await hl7.mllp.start_hl7_server(
            _python_hl7_ack, "127.0.0.1", 0, encoding="utf-8")
        return server

    server = loop.run(start())
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


@contextmanager
def our_server(root: Path) -> Iterator[tuple[Prostop, MLLPService]]:
    settings = Settings(data_dir=root / "var", as_of=date(2020, 11, 20),
                        adapter={"hl7v2_mllp": {"listen": "127.0.0.1:0"}})
    with Prostop.open(settings, plugins=[mllp_plugin]) as runtime:
        service = MLLPService(runtime, load_mllp_settings(runtime.settings))
        service.start()
        try:
            yield runtime, service
        finally:
            service.stop()


def _check(acks: list[bytes]) -> None:
    for raw in acks:
        reply = read_ack(raw)
        assert reply.accepted and reply.control_id.startswith("BENCH-"), reply


class _Timer:
    """Wraps a callable attribute, summing the time spent in it (thread-safe enough here)."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner, self.name = owner, name
        self.original: Callable[..., Any] = getattr(owner, name)
        self.total, self.calls = 0.0, 0

    def __enter__(self) -> _Timer:
        original = self.original

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - start
                self.calls += 1

        setattr(self.owner, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self.original)


def profile(client: Client, runtime: Prostop, messages: int = 30) -> str:
    """Where a stored message's round trip goes, on one connection (medians)."""
    def round_trips() -> float:
        samples = []
        for _ in range(messages):
            start = time.perf_counter()
            client.batch_on_one_connection()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples) * 1e3

    with _Timer(runtime.hooks, "diagnosis_recorded") as core, \
            _Timer(AuditLog, "append") as audit, _Timer(Ledger, "transaction") as writes:
        stored = round_trips()
    first = runtime.hooks.diagnosis_recorded(_event(client.messages.next()))
    with _Replaced(runtime.hooks, "diagnosis_recorded", lambda event: first):
        adapter_only = round_trips()
    return (
        f"profile, one connection, per stored message (medians): round trip {stored:.1f} ms; "
        f"with the core replaced by a no-op {adapter_only:.1f} ms (MLLP, parse, map, thread "
        f"hop, ACK, and this client). In the core ({core.total / messages * 1e3:.1f} ms "
        f"mean): {audit.calls / messages:.0f} audit appends, {audit.total / messages * 1e3:.1f} "
        f"ms (each fsyncs the log, its head file and the folder), and "
        f"{writes.calls / messages:.0f} SQLite write transactions (synchronous=FULL: an empty "
        f"fsynced commit takes {_commit_ms(runtime):.1f} ms here)"
    )


def _event(message: bytes) -> DiagnosisEvent:
    return map_message(parse(message), adapter="hl7v2_mllp", raw=message).events[0]


class _Replaced:
    def __init__(self, owner: Any, name: str, value: Any) -> None:
        self.owner, self.name, self.value = owner, name, value
        self.original = getattr(owner, name)

    def __enter__(self) -> None:
        setattr(self.owner, self.name, self.value)

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self.original)


def _commit_ms(runtime: Prostop, rounds: int = 20) -> float:
    """Milliseconds for an empty write transaction on this ledger (the fsync floor)."""
    start = time.perf_counter()
    for _ in range(rounds):
        with runtime.ledger.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS bench_probe (x)")
            conn.execute("INSERT INTO bench_probe VALUES (1)")
    return (time.perf_counter() - start) / rounds * 1e3


def run(harness: Harness) -> None:
    template = ORU_FILE.read_bytes() if ORU_FILE.exists() else FALLBACK_ORU
    root = Path(tempfile.mkdtemp(prefix="bench-mllp-"))
    client_loop, peer_loop = LoopThread("bench-client"), LoopThread("bench-python-hl7")
    try:
        with our_server(root) as (runtime, service), python_hl7_server(peer_loop) as peer_port:
            for case, message in (("stored", template), ("not stored", GLUCOSE_ORU)):
                ours = Client(client_loop, service.port, Messages(message))
                peer = Client(client_loop, peer_port, Messages(message))
                _check(ours.batch(1))
                _check(peer.batch(1))
                note = profile(ours, runtime) if case == "stored" else (
                    "an ORU not about COVID-19: parse, map, ACK; nothing stored")
                harness.compare(
                    f"mllp {CONNECTIONS}×{MESSAGES} round trips, ORU {case}",
                    ours.batch, peer.batch, peer_name="python-hl7 MLLP server (parse + ACK)",
                    target_ratio=3 if case == "stored" else None,
                    iterations=50 if case == "stored" else 200, warmup=3, note=note,
                )
                ours.close()
                peer.close()
    finally:
        client_loop.close()
        peer_loop.close()
        shutil.rmtree(root, ignore_errors=True)
