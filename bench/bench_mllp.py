"""MLLP round trips: prostop storing each ORU before its ACK, against python-hl7's MLLP server
(parse + ACK, nothing stored) and against the simplest durable server, all in one run.

One timed call is a batch: ``N`` connections send ``MESSAGES`` messages each, one at a time
(send, wait for the ACK), all connections at once. Every server gets the same bytes: the
corpus's positive RT-PCR ORU^R01 with a new MSH-10 and a new patient (PID-3) per message, as a
lab's stream looks. Same client, same machine, same process.

- ours: ``prostop_hl7v2_mllp`` in-process (``workers`` = connections): parse, map, then the
  event stored and evaluated with its audit entries in the ledger — SQLite WAL,
  ``synchronous=FULL`` — the commits of concurrent connections grouped (one sync per batch);
  the ACK only once durable. A second run of ours puts the ledger in PostgreSQL on loopback.
- python-hl7: ``hl7.mllp.start_hl7_server`` whose callback parses and answers
  ``message.create_ack()``: nothing is stored.
- the floor: a bare asyncio MLLP server doing one SQLite WAL ``synchronous=FULL`` commit per
  message (the message's bytes in one table) before a minimal ACK: the same guarantee, the
  simplest way, without parsing, mapping, evaluating, encrypting or auditing.
- the group-commit floor: the same bare server, the messages of every connection committed
  together (one sync per batch), the ACKs after: about the most a durable server does here
  with nothing else to do, i.e. the ceiling of one that also reads, evaluates and audits.

A last case sends an ORU that is not about COVID-19 (a glucose result): ours parses, maps and
acknowledges without storing anything, so it compares the MLLP and codec paths alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Coroutine, Iterator
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
from prostop_plugin.config import Settings
from prostop_plugin.hl7.mllp import MLLPDecoder, encode_frame
from prostop_plugin.hl7.send import read_ack

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
    """``connections`` persistent connections to one server; one batch per :meth:`batch`."""

    def __init__(self, loop: LoopThread, port: int, messages: Messages,
                 connections: int = CONNECTIONS) -> None:
        self.loop, self.messages = loop, messages
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, MLLPDecoder]] = []
        for _ in range(connections):
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
            *(self._one_connection(i, count) for i in range(len(self.streams)))))

    @property
    def count(self) -> int:
        """Messages in one :meth:`batch`."""
        return len(self.streams) * MESSAGES

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
def our_server(root: Path, connections: int,
               data_url: str | None = None) -> Iterator[tuple[Prostop, MLLPService]]:
    settings = Settings(data_dir=root / "var", data_url=data_url, as_of=date(2020, 11, 20),
                        adapter={"hl7v2_mllp": {"listen": "127.0.0.1:0",
                                                "workers": connections}})
    with Prostop.open(settings, plugins=[mllp_plugin]) as runtime:
        service = MLLPService(runtime, load_mllp_settings(runtime.settings))
        service.start()
        try:
            yield runtime, service
        finally:
            service.stop()


class FloorServer:
    """The simplest durable MLLP server: per message one SQLite commit (WAL,
    ``synchronous=FULL``) of its bytes, then an ACK naming its MSH-10; all in the event loop."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, "
                        "control_id TEXT, body BLOB)")

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = MLLPDecoder()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                for frame in decoder.feed(data):
                    msh = frame.split(b"\r", 1)[0].split(b"|")
                    control_id = msh[9] if len(msh) > 9 else b""
                    await self.store(control_id, frame)
                    writer.write(encode_frame(
                        b"MSH|^~\\&|FLOOR||||||ACK|A" + control_id + b"|P|2.5\r"
                        b"MSA|AA|" + control_id + b"\r"))
                    await writer.drain()

    async def store(self, control_id: bytes, frame: bytes) -> None:
        """Return once the frame is durable: one commit of its own."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO messages (control_id, body) VALUES (?, ?)",
                        (control_id.decode("latin-1"), frame))
        self.db.execute("COMMIT")


class GroupCommitFloor(FloorServer):
    """The floor with group commit: a frame waits for the next commit, which takes every frame
    that arrived meanwhile (one transaction, one sync) once the event loop has read what the
    other connections sent; each ACK only once its batch is durable.

    The commit runs in the event loop: tried in a writer thread instead (the loop reading on
    while the disk syncs), it was slower here (7,100–8,400 against 10,300–11,000 msg/s at 4
    connections): the hand-offs cost more than the overlap gains.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.waiting: list[tuple[bytes, bytes, asyncio.Future[None]]] = []
        self.committer: asyncio.Task[None] | None = None

    async def store(self, control_id: bytes, frame: bytes) -> None:
        """Return once the frame is durable: in the next batch's commit."""
        durable: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((control_id, frame, durable))
        if self.committer is None:
            self.committer = asyncio.get_running_loop().create_task(self._commit_batches())
        await durable

    async def _commit_batches(self) -> None:
        try:
            await asyncio.sleep(0)  # one turn of the loop: the other connections' frames
            while self.waiting:
                batch, self.waiting = self.waiting, []
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT INTO messages (control_id, body) VALUES (?, ?)",
                                    [(control_id.decode("latin-1"), frame)
                                     for control_id, frame, _ in batch])
                self.db.execute("COMMIT")
                for _, _, durable in batch:
                    durable.set_result(None)
                await asyncio.sleep(0)
        finally:
            self.committer = None


@contextmanager
def floor_server(loop: LoopThread, root: Path, *, group_commit: bool = False) -> Iterator[int]:
    floor = (GroupCommitFloor(root / "group-floor.sqlite3") if group_commit
             else FloorServer(root / "floor.sqlite3"))

    async def start() -> asyncio.AbstractServer:
        return await asyncio.start_server(floor.serve, "127.0.0.1", 0)

    server = loop.run(start())
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        floor.db.close()


def _check(acks: list[bytes]) -> None:
    for raw in acks:
        reply = read_ack(raw)
        assert reply.accepted and reply.control_id.startswith("BENCH-"), reply


@contextmanager
def postgres_url() -> Iterator[str | None]:
    """A throw-away PostgreSQL server on loopback (the tests' fixture), or None without one."""
    try:
        from tests.fixtures.postgres import running_postgres
    except ImportError:
        yield None
        return
    try:
        with running_postgres() as server:
            yield server.new_database()
    except BaseException as exc:  # pytest.skip where the binaries are missing
        if type(exc).__name__ != "Skipped":
            raise
        yield None


def _compare_stored(
    harness: Harness, case: str, ours: Client, peer: Client, runtime: Prostop, *,
    peer_name: str, target: float | None, iterations: int, note: str = "",
) -> None:
    _check(ours.batch(1))
    peer.batch(1)
    committer = runtime.engine.committer
    pieces, batches = committer.pieces, committer.batches
    result = harness.compare(case, ours.batch, peer.batch, peer_name=peer_name,
                             target_ratio=target, iterations=iterations, warmup=2)
    pieces, batches = committer.pieces - pieces, committer.batches - batches
    result.note = (note + "; " if note else "") + (
        f"ours: {pieces} events in {batches} commits, {pieces / max(1, batches):.1f} per "
        f"commit (one sync each); {1e6 / result.ours.p50_us * ours.count:.0f} msg/s against "
        f"{1e6 / result.peer.p50_us * peer.count:.0f} msg/s")


def run(harness: Harness) -> None:
    template = ORU_FILE.read_bytes() if ORU_FILE.exists() else FALLBACK_ORU
    root = Path(tempfile.mkdtemp(prefix="bench-mllp-"))
    client_loop, peer_loop = LoopThread("bench-client"), LoopThread("bench-peers")
    hl7_name = "python-hl7 MLLP server (parse + ACK)"
    floor_name = "bare asyncio MLLP + one SQLite FULL commit per message"
    ceiling_name = "bare asyncio MLLP + group commit (one SQLite FULL commit per batch)"
    try:
        with python_hl7_server(peer_loop) as hl7_port, \
                floor_server(peer_loop, root) as floor_port, \
                floor_server(peer_loop, root, group_commit=True) as ceiling_port:
            for connections, target in ((4, 3.0), (16, 5.0)):
                with our_server(root / f"sqlite-{connections}", connections) as (runtime,
                                                                                  service):
                    ours = Client(client_loop, service.port, Messages(template), connections)
                    peer = Client(client_loop, hl7_port, Messages(template), connections)
                    _compare_stored(
                        harness, f"mllp stored {connections}×{MESSAGES}, SQLite, vs python-hl7",
                        ours, peer, runtime, peer_name=hl7_name, target=target,
                        iterations=40)
                    if connections == 4:
                        floor = Client(client_loop, floor_port, Messages(template), connections)
                        _compare_stored(
                            harness, f"mllp stored {connections}×{MESSAGES}, SQLite, vs floor",
                            ours, floor, runtime, peer_name=floor_name, target=2.0,
                            iterations=40)
                        floor.close()
                        ceiling = Client(client_loop, ceiling_port, Messages(template),
                                         connections)
                        _compare_stored(
                            harness, f"mllp stored {connections}×{MESSAGES}, SQLite, vs "
                            "ceiling", ours, ceiling, runtime,
                            peer_name=ceiling_name, target=None, iterations=40,
                            note="the bare durable server with group commit: what one "
                                 "reaches here doing nothing else")
                        ceiling.close()
                    ours.close()
                    peer.close()
            with postgres_url() as url:
                if url is not None:
                    with our_server(root / "postgresql", CONNECTIONS, url) as (runtime,
                                                                                service):
                        ours = Client(client_loop, service.port, Messages(template))
                        peer = Client(client_loop, hl7_port, Messages(template))
                        _compare_stored(
                            harness, f"mllp stored {CONNECTIONS}×{MESSAGES}, PostgreSQL, "
                            "vs python-hl7", ours, peer, runtime, peer_name=hl7_name,
                            target=None, iterations=40,
                            note="PostgreSQL 'fsync=on' on loopback, started for the run")
                        ours.close()
                        peer.close()
            with our_server(root / "glucose", CONNECTIONS) as (runtime, service):
                ours = Client(client_loop, service.port, Messages(GLUCOSE_ORU))
                peer = Client(client_loop, hl7_port, Messages(GLUCOSE_ORU))
                _check(ours.batch(1))
                harness.compare(
                    f"mllp {CONNECTIONS}×{MESSAGES}, ORU not stored", ours.batch, peer.batch,
                    peer_name=hl7_name, iterations=200, warmup=3,
                    note="an ORU not about COVID-19: parse, map, ACK; nothing stored")
                ours.close()
                peer.close()
    finally:
        client_loop.close()
        peer_loop.close()
        shutil.rmtree(root, ignore_errors=True)
