"""The MLLP listener: an asyncio server in a background thread, run by ``prostop serve``.

Each connection reads frames and answers them in order, one at a time (a sender waits for each
ACK; one that pipelines still gets its ACKs in order, and is not read meanwhile); connections
are served concurrently. A small message (up to :data:`LOOP_READ_BYTES`, read in a fraction of
a millisecond) is read (parsed, mapped) in the event loop: one not about COVID-19, most of a
lab's stream, is acknowledged at once without a thread hand-off. Handing events to the core
(synchronous, waits for the group commit) and reading a larger message run in ``workers``
daemon threads (:mod:`.workers`). Each connection has at most one message in the workers'
queue, which is therefore bounded by ``max_connections``.

Fairness: a message of more than :data:`LARGE_MESSAGE_SEGMENTS` segments (thousands of
results: slow to evaluate) is "large", and at most ``workers - 1`` large messages are in the
workers at once: one worker always remains for ordinary messages, so a sender flooding large
ones cannot keep a well-formed sender on another connection waiting for its ACK.

Limits: a frame over ``max_frame_bytes`` is answered AR and its connection closed; a frame
not complete ``frame_timeout`` seconds after it started (a sender trickling bytes) closes its
connection; a connection silent for ``idle_timeout`` seconds is closed; a sender that does not
read its ACKs for ``frame_timeout`` seconds is disconnected. When ``max_connections`` are open,
a new connection closes the one idle the longest (no message in progress or in hand) to take
its place; when none is idle, the new connection is closed at once. Stopping closes the
listener and idle connections, lets messages being handed over finish for up to
``shutdown_grace`` seconds, and drops the rest before their ACK (their senders send them again;
the core recognises what it already stored); the process does not wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass

from prostop_hl7v2_mllp.inbound import RETRY_LATER, Delivery, InboundHandler, service_name
from prostop_hl7v2_mllp.settings import SECTION, MLLPSettings
from prostop_hl7v2_mllp.workers import DaemonThreadPool
from prostop_plugin import ConfigError, Prostop, metrics
from prostop_plugin.hl7.ack import build_ack_for_unparsed
from prostop_plugin.hl7.mllp import MLLPDecoder, MLLPFramingError, encode_frame
from prostop_plugin.hl7.send import feed_decoder

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0
#: how long closing a connection may wait for its last bytes to leave before it is aborted
CLOSE_TIMEOUT = 2.0
#: messages with more segments than this are "large" (see the module's docstring)
LARGE_MESSAGE_SEGMENTS = 500
#: messages up to this size are read in the event loop (an embedded CDA, thousands of results:
#: larger, read in a worker so that the loop keeps serving the other connections)
LOOP_READ_BYTES = 16384
_READ_SIZE = 65536


def is_oversize(error: MLLPFramingError) -> bool:
    """Whether the decoder dropped a frame over its size limit."""
    return error.kind == "oversize"


def is_large(frame: bytes) -> bool:
    """Whether a message is "large": more segments than :data:`LARGE_MESSAGE_SEGMENTS`."""
    return max(frame.count(b"\r"), frame.count(b"\n")) > LARGE_MESSAGE_SEGMENTS


@dataclass(eq=False)
class _Connection:
    peer: str
    task: asyncio.Task[None] | None
    last_active: float  # event-loop time of the last bytes received or ACK sent
    busy: bool = False  # a message is being answered: let it finish when stopping
    in_frame: bool = False  # a frame has started and not ended
    evicted: bool = False  # closed to make room for a new connection

    @property
    def idle(self) -> bool:
        return not self.busy and not self.in_frame


class MLLPServer:
    """The asyncio part. Create, ``await start()``, ``await close()``, all on one event loop."""

    def __init__(
        self, handler: InboundHandler, config: MLLPSettings, pool: Executor,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.config = config
        self.pool = pool
        self.ssl_context = ssl_context
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._stopping = False
        self._large: asyncio.Semaphore | None = None

    async def start(self) -> None:
        host, port = self.config.listen_address
        self._large = asyncio.Semaphore(max(1, self.config.workers - 1))
        # TLS is started per connection (see _handshake) so that a failed handshake is logged
        self._server = await asyncio.start_server(self._on_connection, host, port)

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    @property
    def idle_count(self) -> int:
        """Open connections with no message in progress (they may make room for new ones)."""
        return sum(1 for c in self._connections.copy() if c.idle)  # (read from any thread)

    async def close(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self._connections if c.task is not None]
        for conn in list(self._connections):
            if not conn.busy and conn.task is not None:
                conn.task.cancel()
        busy = [c.task for c in self._connections if c.busy and c.task is not None]
        if busy:
            _, late = await asyncio.wait(busy, timeout=self.config.shutdown_grace)
            for task in late:
                log.warning("MLLP: stopping: a message still being stored is dropped before "
                            "its ACK (its sender will send it again)")
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = _peer_name(writer)
        if self._stopping or not self._make_room(peer):
            log.warning("MLLP: connection from %s refused: %s", peer, "stopping"
                        if self._stopping else f"{self.config.max_connections} already open, "
                        f"none of them idle (max_connections in [{SECTION}])")
            await _close(writer)
            return
        conn = _Connection(peer, asyncio.current_task(), asyncio.get_running_loop().time())
        self._connections.add(conn)
        log.debug("MLLP: connection from %s", peer)
        try:
            if self.ssl_context is not None and not await self._handshake(peer, writer):
                return
            await self._serve(conn, reader, writer)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.info("MLLP: connection from %s lost: %s", peer, exc)
        except asyncio.CancelledError:
            # stopping or evicted: end normally (asyncio 3.11 logs a task that ends cancelled)
            log.debug("MLLP: connection from %s closed: %s", peer,
                      "room made for a new connection" if conn.evicted else "stopping")
        finally:
            self._connections.discard(conn)
            await _close(writer)

    def _make_room(self, peer: str) -> bool:
        """Whether a new connection may be served: below ``max_connections``, or after closing
        the connection idle the longest (a slow or silent sender must not lock others out)."""
        if len(self._connections) < self.config.max_connections:
            return True
        idle = [c for c in self._connections if c.idle and c.task is not None]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.last_active)
        quiet = asyncio.get_running_loop().time() - oldest.last_active
        log.warning("MLLP: %d connections open (max_connections in [%s]): closing the one from "
                    "%s, idle for %.0f s, to serve a new one from %s", len(self._connections),
                    SECTION, oldest.peer, quiet, peer)
        oldest.evicted = True
        self._connections.discard(oldest)
        assert oldest.task is not None
        oldest.task.cancel()
        return True

    async def _handshake(self, peer: str, writer: asyncio.StreamWriter) -> bool:
        assert self.ssl_context is not None
        try:
            await writer.start_tls(self.ssl_context, ssl_handshake_timeout=min(
                self.config.idle_timeout, self.config.frame_timeout))
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            log.warning("MLLP: TLS handshake with %s failed: %s", peer,
                        getattr(exc, "reason", None) or exc or type(exc).__name__)
            return False
        return True

    async def _serve(
        self, conn: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        decoder = MLLPDecoder(self.config.max_frame_bytes)
        frame_deadline: float | None = None  # when the frame in progress must be complete
        while not self._stopping:
            timeout = self.config.idle_timeout
            if decoder.in_frame:
                if frame_deadline is None:
                    frame_deadline = loop.time() + self.config.frame_timeout
                timeout = min(timeout, max(0.0, frame_deadline - loop.time()))
            try:
                async with asyncio.timeout(timeout):  # (wait_for would start a task per read)
                    data = await reader.read(_READ_SIZE)
            except TimeoutError:
                if decoder.in_frame:
                    log.warning("MLLP: closing %s: a message it started %g s ago is still not "
                                "complete (frame_timeout)", conn.peer, self.config.frame_timeout)
                else:
                    log.info("MLLP: closing %s, silent for %g s (idle_timeout)", conn.peer,
                             self.config.idle_timeout)
                return
            if not data:
                return
            conn.last_active = loop.time()
            conn.busy = True
            try:
                for item in feed_decoder(decoder, data):
                    if isinstance(item, MLLPFramingError):  # (the frame's time runs on)
                        log.warning("MLLP: %s: %s", conn.peer, item.one_line())
                        await self._send(writer, self.handler.framing_error(item))
                        if is_oversize(item):
                            return
                        continue
                    frame_deadline = None  # a frame ended: the next one has its own time
                    await self._send(writer, await self._answer(item))
                    conn.last_active = loop.time()
                    if self._stopping:
                        return
            finally:
                conn.busy = False
                conn.in_frame = decoder.in_frame

    async def _answer(self, frame: bytes) -> bytes | None:
        """The ACK. A small message is read here, and only what must be stored goes to a
        worker; a larger one is read and stored by a worker, a large one once it has a
        large-message slot."""
        assert self._large is not None
        started = time.perf_counter()
        large = is_large(frame)
        if len(frame) <= LOOP_READ_BYTES and not large:
            prepared = self.read_now(frame)
            if isinstance(prepared, Delivery):
                ack = await asyncio.wrap_future(self.pool.submit(self.store_now, prepared))
            else:
                ack = prepared
        else:
            async with self._large if large else contextlib.nullcontext():
                ack = await asyncio.wrap_future(self.pool.submit(self.answer_now, frame))
        metrics.mllp_answered(time.perf_counter() - started, ack)
        return ack

    def read_now(self, frame: bytes) -> Delivery | bytes | None:
        """Parse and map ``frame``: the ACK to send now, or what the core must store first."""
        try:
            return self.handler.prepare(frame)
        except Exception:  # a bug must cost one message an AR, never the connection
            log.exception("MLLP: unexpected error reading a message; answered AR")
            return build_ack_for_unparsed(frame, RETRY_LATER)

    def answer_now(self, frame: bytes) -> bytes | None:
        """Read ``frame``, hand it to the core, return its ACK (blocking: a worker thread)."""
        prepared = self.read_now(frame)
        if not isinstance(prepared, Delivery):
            return prepared
        return self.store_now(prepared)

    def store_now(self, prepared: Delivery) -> bytes | None:
        """Hand a read message to the core, return its ACK once stored or refused (blocking:
        a worker thread)."""
        failure: BaseException | None = None
        try:
            self.handler.deliver(prepared)
        except Exception as exc:
            failure = exc
        return self.handler.after_delivery(prepared, failure)

    async def _send(self, writer: asyncio.StreamWriter, ack: bytes | None) -> None:
        if ack is None:
            return
        writer.write(encode_frame(ack))
        try:
            async with asyncio.timeout(self.config.frame_timeout):
                await writer.drain()
        except TimeoutError:
            raise ConnectionError(f"the sender has not read its ACKs for "
                                  f"{self.config.frame_timeout:g} s (frame_timeout)") from None


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close, waiting a little for the last bytes to leave; a peer that reads nothing does not
    hold the connection open."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
    except TimeoutError:
        writer.transport.abort()
    except (ConnectionError, ssl.SSLError, OSError, asyncio.CancelledError):
        pass


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class MLLPService:
    """The background service ``prostop serve`` starts (see ``prostop_background_services``)."""

    def __init__(self, runtime: Prostop, config: MLLPSettings) -> None:
        self.runtime = runtime
        self.config = config
        self.name = service_name(config)
        self._pool: DaemonThreadPool | None = None
        self._server: MLLPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def port(self) -> int:
        """The port listened on (useful with ``listen = "127.0.0.1:0"``)."""
        if self._server is None:
            raise RuntimeError("the MLLP service is not started")
        return self._server.port

    @property
    def connection_count(self) -> int:
        """Connections open now."""
        return self._server.connection_count if self._server is not None else 0

    @property
    def idle_count(self) -> int:
        """Connections open now with no message in progress."""
        return self._server.idle_count if self._server is not None else 0

    def start(self) -> None:
        """Listen; returns once connections are accepted. :class:`ConfigError` when the address
        cannot be used (taken, not local) or the TLS files cannot be read."""
        context = self.config.server_ssl_context()
        self._pool = DaemonThreadPool(self.config.workers, "prostop-mllp")
        self._server = MLLPServer(InboundHandler(self.runtime, self.config), self.config,
                                  self._pool, context)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name="prostop-mllp-listener")
        self._thread.start()
        if not ready.wait(START_TIMEOUT) or self._failure is not None:
            failure = self._failure
            self.stop()
            raise ConfigError(
                f"cannot listen on {self.config.listen}: {failure or 'timed out'}",
                where=f"[{SECTION}] listen",
                fix="choose a free port, or stop the program already using it",
            )
        self.name = service_name(self.config, self.port)
        log.info("%s: listening", self.name)

    def _run(self, ready: threading.Event) -> None:
        asyncio.run(self._main(ready))

    async def _main(self, ready: threading.Event) -> None:
        assert self._server is not None
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        try:
            await self._server.start()
        except OSError as exc:
            self._failure = exc
            ready.set()
            return
        ready.set()
        await self._stop_requested.wait()
        await self._server.close()

    def stop(self) -> None:
        """Stop listening and return once connections are closed (bounded by the grace)."""
        loop, event, thread = self._loop, self._stop_requested, self._thread
        if loop is not None and event is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(event.set)
        if thread is not None:
            thread.join(self.config.shutdown_grace + START_TIMEOUT)
            if thread.is_alive():
                log.warning("%s: the listener thread did not end in time", self.name)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._thread = None
