"""Test helpers: the corpus, message variants, a scripted EHR on a real socket, raw MLLP I/O."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mllp import MLLPDecoder, encode_frame
from prostop_plugin.hl7.send import AckReply, MLLPClient, read_ack
from tests.corpus_location import CORPUS

if TYPE_CHECKING:
    from prostop_hl7v2_mllp.server import MLLPService

REPO = Path(__file__).resolve().parents[3]
CORPUS_ORUS = sorted(CORPUS.glob("oru_*.hl7"))
POSITIVE_ORU = CORPUS / "oru_rtpcr_positive.hl7"

GLUCOSE_ORU = (
    b"MSH|^~\\&|SIL-BIO|LABO-GARONNE|LGC|CABINET-DURAND|20201119101500||ORU^R01^ORU_R01|"
    b"GLU-0001|P|2.5|||||FRA|UNICODE UTF-8\r"
    b"PID|||DOS-4411^^^CABINET-DURAND^PI||DUPONT^CAMILLE^^^^^L||19800115|F\r"
    b"OBR|1|CMD-1|LAB-1|2345-7^Glucose^LN|||20201118093000\r"
    b"OBX|1|NM|2345-7^Glucose [Mass/volume] in Serum or Plasma^LN||0.95|g/L|0.70-1.10|N|||F\r"
)


def client_for(listener: MLLPService, **options: Any) -> MLLPClient:
    """A client of the listener under test (one connection, opened on first use)."""
    return MLLPClient("127.0.0.1", listener.port, connect_timeout=2.0, **options)


def corpus_bytes(path: Path = POSITIVE_ORU) -> bytes:
    return path.read_bytes()


def with_header(data: bytes, *, control_id: str | None = None, msh15: str | None = None,
                msh16: str | None = None, sender: str | None = None) -> bytes:
    """The same message with MSH-10, MSH-15/16 or MSH-4 replaced (ASCII header fields)."""
    head, sep, rest = data.partition(b"\r")
    fields = head.split(b"|")
    while len(fields) < 18:
        fields.append(b"")
    for number, value in ((10, control_id), (15, msh15), (16, msh16), (4, sender)):
        if value is not None:
            fields[number - 1] = value.encode()  # fields[0] is "MSH": MSH-n is fields[n - 1]
    return b"|".join(fields) + sep + rest


def original_mode(data: bytes, control_id: str | None = None) -> bytes:
    """MSH-15 and MSH-16 emptied: the receiver answers AA/AE/AR."""
    return with_header(data, control_id=control_id, msh15="", msh16="")


def control_id_of(data: bytes) -> str:
    return parse(data).control_id


class RawConnection:
    """A bare socket speaking MLLP, for what the client refuses to send (junk, oversize)."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.decoder = MLLPDecoder()
        self.frames: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_message(self, message: bytes) -> None:
        self.sock.sendall(encode_frame(message))

    def read_ack(self, timeout: float = 5.0) -> AckReply:
        deadline = time.monotonic() + timeout
        while not self.frames:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the server")
            self.frames.extend(self.decoder.feed(data))
        return read_ack(self.frames.pop(0))

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the server closes the connection within ``timeout`` (nothing else sent)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def ack_message(code: str, control_id: str, text: str = "", number: int = 1) -> bytes:
    """An ACK as an EHR would write it."""
    return (f"MSH|^~\\&|EHR|CABINET|PROSTOP|PROSTOP|20201120120000||ACK^R01^ACK|ACK-{number}|P|"
            f"2.5\rMSA|{code}|{control_id}|{text}\r").encode()


@dataclass
class FakeEHR:
    """An EHR's MLLP listener on a free loopback port: records what it receives and answers
    each message with the next scripted MSA-1 (then ``CA``). ``stray_ack_first`` sends an AE
    for another message before each real ACK; ``silent`` answers nothing."""

    answers: list[str] = field(default_factory=list)
    stray_ack_first: bool = False
    silent: bool = False
    received: list[bytes] = field(default_factory=list)
    #: the messages it acknowledged positively (AA/CA): what the EHR holds
    accepted: list[bytes] = field(default_factory=list)
    connections: int = 0
    _sock: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _closing: threading.Event = field(default_factory=threading.Event)

    def start(self) -> FakeEHR:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        thread = threading.Thread(target=self._accept, daemon=True, name="fake-ehr")
        thread.start()
        self._threads.append(thread)
        return self

    @property
    def port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        decoder = MLLPDecoder()
        conn.settimeout(0.2)
        with conn:
            while not self._closing.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                for frame in decoder.feed(data):
                    self.received.append(frame)
                    if self.silent:
                        continue
                    control_id = control_id_of(frame)
                    if self.stray_ack_first:  # a refusal for another message: to be skipped
                        conn.sendall(encode_frame(ack_message("AE", "SOMETHING-ELSE", "no")))
                    code = self.answers.pop(0) if self.answers else "CA"
                    if code in ("AA", "CA"):
                        self.accepted.append(frame)
                    text = "" if code in ("AA", "CA") else "patient unknown in this EHR"
                    number = len(self.received)
                    conn.sendall(encode_frame(ack_message(code, control_id, text, number)))

    def close(self) -> None:
        self._closing.set()
        if self._sock is not None:
            self._sock.close()
        for thread in self._threads:
            thread.join(2)


@contextlib.contextmanager
def fake_ehr(answers: list[str] | None = None, *, stray_ack_first: bool = False,
             silent: bool = False) -> Iterator[FakeEHR]:
    ehr = FakeEHR(list(answers or []), stray_ack_first, silent).start()
    try:
        yield ehr
    finally:
        ehr.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False
