"""The MLLP listener: an asyncio server in a background thread, run by ``prostop serve``.

Each connection reads frames and answers them in order, one at a time (a sender waits for each
ACK; one that pipelines still gets its ACKs in order); connections are served concurrently.
Parsing and mapping run on the event loop (microseconds); handing events to the core, which is
synchronous and may wait on SQLite, runs in a small thread pool.

Limits: a frame over ``max_frame_bytes`` is answered AR and its connection closed; a connection
silent for ``idle_timeout`` seconds is closed; beyond ``max_connections`` a new connection is
closed at once. Stopping closes the listener and idle connections, lets messages being handed
over finish for up to ``shutdown_grace`` seconds, and drops the rest before their ACK (their
senders send them again; the core recognises what it already stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from prostop_hl7v2_mllp.inbound import RETRY_LATER, Delivery, InboundHandler, service_name
from prostop_hl7v2_mllp.settings import SECTION, MLLPSettings
from prostop_plugin import ConfigError, Prostop
from prostop_plugin.hl7.ack import build_ack_for_unparsed
from prostop_plugin.hl7.mllp import MLLPDecoder, MLLPFramingError, encode_frame
from prostop_plugin.hl7.send import feed_decoder

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0
_READ_SIZE = 65536


def is_oversize(error: MLLPFramingError) -> bool:
    """Whether the decoder dropped a frame over its size limit."""
    return error.kind == "oversize"


@dataclass(eq=False)
class _Connection:
    peer: str
    task: asyncio.Task[None] | None
    busy: bool = False  # a message is being answered: let it finish when stopping


class MLLPServer:
    """The asyncio part. Create, ``await start()``, ``await close()``, all on one event loop."""

    def __init__(
        self, handler: InboundHandler, config: MLLPSettings, pool: ThreadPoolExecutor,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.config = config
        self.pool = pool
        self.ssl_context = ssl_context
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._stopping = False

    async def start(self) -> None:
        host, port = self.config.listen_address
        # TLS is started per connection (see _handshake) so that a failed handshake is logged
        self._server = await asyncio.start_server(self._on_connection, host, port)

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connection_count(self) -> int:
        return len(self._connections)

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
        if self._stopping or len(self._connections) >= self.config.max_connections:
            log.warning("MLLP: connection from %s refused: %s", peer, "stopping"
                        if self._stopping else f"{self.config.max_connections} already open "
                        f"(max_connections in [{SECTION}])")
            await _close(writer)
            return
        conn = _Connection(peer, asyncio.current_task())
        self._connections.add(conn)
        log.debug("MLLP: connection from %s", peer)
        try:
            if self.ssl_context is not None and not await self._handshake(peer, writer):
                return
            await self._serve(conn, reader, writer)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.info("MLLP: connection from %s lost: %s", peer, exc)
        except asyncio.CancelledError:
            # stopping: end normally (asyncio 3.11 logs a connection task that ends cancelled)
            log.debug("MLLP: connection from %s closed: stopping", peer)
        finally:
            self._connections.discard(conn)
            await _close(writer)

    async def _handshake(self, peer: str, writer: asyncio.StreamWriter) -> bool:
        assert self.ssl_context is not None
        try:
            await writer.start_tls(self.ssl_context,
                                   ssl_handshake_timeout=self.config.idle_timeout)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            log.warning("MLLP: TLS handshake with %s failed: %s", peer,
                        getattr(exc, "reason", None) or exc or type(exc).__name__)
            return False
        return True

    async def _serve(
        self, conn: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        decoder = MLLPDecoder(self.config.max_frame_bytes)
        while not self._stopping:
            try:
                data = await asyncio.wait_for(reader.read(_READ_SIZE), self.config.idle_timeout)
            except TimeoutError:
                log.info("MLLP: closing %s, silent for %g s (idle_timeout)", conn.peer,
                         self.config.idle_timeout)
                return
            if not data:
                return
            conn.busy = True
            try:
                for item in feed_decoder(decoder, data):
                    if isinstance(item, MLLPFramingError):
                        log.warning("MLLP: %s: %s", conn.peer, item.one_line())
                        await _send(writer, self.handler.framing_error(item))
                        if is_oversize(item):
                            return
                        continue
                    await _send(writer, await self._answer(item))
                    if self._stopping:
                        return
            finally:
                conn.busy = False

    async def _answer(self, frame: bytes) -> bytes | None:
        try:
            prepared = self.handler.prepare(frame)
        except Exception:  # a bug must cost one message an AR, never the connection
            log.exception("MLLP: unexpected error reading a message; answered AR")
            return build_ack_for_unparsed(frame, RETRY_LATER)
        if not isinstance(prepared, Delivery):
            return prepared
        failure: BaseException | None = None
        try:
            await asyncio.get_running_loop().run_in_executor(
                self.pool, self.handler.deliver, prepared
            )
        except Exception as exc:
            failure = exc
        return self.handler.after_delivery(prepared, failure)


async def _send(writer: asyncio.StreamWriter, ack: bytes | None) -> None:
    if ack is not None:
        writer.write(encode_frame(ack))
        await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError, OSError, asyncio.CancelledError):
        await writer.wait_closed()


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
        self._pool: ThreadPoolExecutor | None = None
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

    def start(self) -> None:
        """Listen; returns once connections are accepted. :class:`ConfigError` when the address
        cannot be used (taken, not local) or the TLS files cannot be read."""
        context = self.config.server_ssl_context()
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="prostop-mllp")
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
