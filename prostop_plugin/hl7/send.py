"""Send HL7 v2 messages over MLLP and wait for their ACKs: the client side of an interface.

:class:`MLLPClient` sends one message at a time on a connection and returns the ACK whose
MSA-2 echoes the message's MSH-10; an answer for another message (a late ACK of an earlier one,
a peer that mixes them up) is skipped, never taken for this one. It is what the MLLP adapter's
write-back uses, and what ``prostop hl7 send FILE --to HOST:PORT`` runs for an IT admin testing
an interface::

    $ prostop hl7 send oru.hl7 --to 10.0.0.5:2575
    1/1 LG20201119-0001 → CA (MSA-2 LG20201119-0001)

Exit codes: 0 every message accepted (AA/CA); 1 a message refused (AE/AR/CE/CR), no ACK in
time, or the peer unreachable; 2 an unusable file or address.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType

from prostop_plugin.errors import HL7ParseError, ProstopError
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mllp import (
    DEFAULT_MAX_FRAME_BYTES,
    MLLPDecoder,
    MLLPFramingError,
    encode_frame,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
ACCEPTED = frozenset({"AA", "CA"})
_READ_SIZE = 65536


class MLLPSendError(ProstopError):
    """A message could not be delivered, or no ACK for it came back in time."""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``[IPv6]:PORT``) → ``(host, port)``; :class:`ValueError` explains."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:2575 or [::1]:2575)")
    return host, int(port)


def feed_decoder(decoder: MLLPDecoder, data: bytes) -> list[bytes | MLLPFramingError]:
    """Frames completed by ``data``, and framing errors where they occurred, in stream order.

    The decoder resynchronises after an error; the bytes after it are decoded here too.
    """
    items: list[bytes | MLLPFramingError] = []
    while True:
        try:
            items.extend(decoder.feed(data))
            return items
        except MLLPFramingError as exc:
            items.extend(exc.frames)
            items.append(exc)
            data = b""


@dataclass(frozen=True)
class AckReply:
    """What an ACK says: MSA-1, MSA-2 and the error text (ERR-8, MSA-3 or ERR-3.2/ERR-1.4.2)."""

    code: str
    control_id: str
    text: str
    raw: bytes

    @property
    def accepted(self) -> bool:
        return self.code in ACCEPTED


def read_ack(frame: bytes) -> AckReply:
    """Read an ACK; :class:`HL7ParseError` when the bytes are not an HL7 message with an MSA."""
    msg = parse(frame)
    if msg.segment("MSA") is None:
        raise HL7ParseError(f"the answer ({msg.message_type or 'no MSH-9'}) has no MSA segment",
                            fix="the peer must answer each message with an ACK")
    text = msg["ERR-8"] or msg["MSA-3"] or msg["ERR-3.2"] or msg["ERR-1.4.2"]
    return AckReply(msg["MSA-1"].strip().upper(), msg["MSA-2"].strip(), text, frame)


class MLLPClient:
    """One connection to an MLLP peer (opened on first use); one message at a time.

    After a failed exchange the connection is closed (a late ACK could otherwise be read as the
    next message's); the next exchange reconnects.
    """

    def __init__(
        self, host: str, port: int, *, connect_timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self.ssl_context = ssl_context
        self.max_frame_bytes = max_frame_bytes
        self._sock: socket.socket | None = None
        self._decoder = MLLPDecoder(max_frame_bytes)
        self._frames: deque[bytes] = deque()

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        except (OSError, ssl.SSLError) as exc:
            raise MLLPSendError(
                f"cannot connect: {exc.strerror or exc}", where=f"MLLP peer {self.address}",
                fix="check that the peer listens on this address and that a firewall lets it "
                "through",
            ) from None
        self._sock = sock
        self._decoder = MLLPDecoder(self.max_frame_bytes)
        self._frames.clear()
        return sock

    def exchange(self, message: bytes, control_id: str | None, timeout: float) -> AckReply:
        """Send ``message`` and return its ACK (MSA-2 = ``control_id``; with ``None``, the
        first ACK). :class:`MLLPSendError` when it cannot be sent or no ACK comes in time."""
        frame = encode_frame(message)  # InputError when the message holds a framing byte
        sock = self._connect()
        try:
            sock.settimeout(timeout)
            sock.sendall(frame)
            return self._await_ack(sock, control_id, time.monotonic() + timeout, timeout)
        except OSError as exc:
            self.close()
            raise MLLPSendError(f"connection lost: {exc.strerror or exc}",
                                where=f"MLLP peer {self.address}") from None
        except MLLPSendError:
            self.close()
            raise

    def _await_ack(
        self, sock: socket.socket, control_id: str | None, deadline: float, timeout: float
    ) -> AckReply:
        while True:
            while self._frames:
                reply = self._as_reply(self._frames.popleft(), control_id)
                if reply is not None:
                    return reply
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._no_ack(control_id, timeout)
            sock.settimeout(remaining)
            try:
                data = sock.recv(_READ_SIZE)
            except TimeoutError:
                raise self._no_ack(control_id, timeout) from None
            if not data:
                raise MLLPSendError("the peer closed the connection without an ACK",
                                    where=f"MLLP peer {self.address}")
            for item in feed_decoder(self._decoder, data):
                if isinstance(item, MLLPFramingError):
                    log.warning("MLLP peer %s: %s", self.address, item.one_line())
                else:
                    self._frames.append(item)

    def _as_reply(self, frame: bytes, control_id: str | None) -> AckReply | None:
        try:
            reply = read_ack(frame)
        except HL7ParseError as exc:
            log.warning("MLLP peer %s sent an unreadable answer, skipped: %s", self.address,
                        exc.one_line())
            return None
        if control_id is not None and reply.control_id != control_id:
            log.warning("MLLP peer %s: ACK for another message (MSA-2 %r, waiting for %r), "
                        "skipped", self.address, reply.control_id, control_id)
            return None
        return reply

    def _no_ack(self, control_id: str | None, timeout: float) -> MLLPSendError:
        return MLLPSendError(
            f"no ACK within {timeout:g} s" + (f" for MSH-10 {control_id}" if control_id else ""),
            where=f"MLLP peer {self.address}",
            fix="check that the peer answers each message with an ACK (its log tells why not)",
        )

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> MLLPClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
