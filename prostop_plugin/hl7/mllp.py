"""MLLP framing: ``0x0B`` + message + ``0x1C 0x0D``.

:class:`MLLPDecoder` is incremental: feed it bytes as they arrive from a socket and it returns
the frames completed so far. Whitespace between frames (a stray CR/LF) is tolerated; anything
else between frames, a frame over the size limit, or a frame that restarts before it ended, is
an :class:`MLLPFramingError`. The decoder resynchronises on the next start byte, so the caller
can log the error and keep feeding the same connection.
"""

from __future__ import annotations

from typing import Literal

from prostop_plugin.errors import InputError

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
DEFAULT_MAX_FRAME_BYTES = 10 * 1024 * 1024
_BETWEEN_FRAMES_OK = b" \t\r\n"


FramingProblem = Literal["junk", "truncated", "oversize"]


class MLLPFramingError(InputError):
    """The byte stream breaks MLLP framing.

    :ivar kind: ``junk`` (bytes outside a frame), ``truncated`` (a frame started before the
        previous one ended) or ``oversize`` (a frame over the limit, dropped).
    :ivar frames: the frames completed before the problem, in order (not lost: deliver them).
    :ivar offset: stream offset (bytes fed since the decoder started) of the problem.
    """

    def __init__(self, what: str, *, kind: FramingProblem, offset: int, frames: list[bytes],
                 fix: str | None = None):
        self.kind: FramingProblem = kind
        self.offset = offset
        self.frames = frames
        super().__init__(what, where=f"stream byte {offset}", fix=fix)


def encode_frame(message: bytes) -> bytes:
    """Wrap one message in an MLLP frame."""
    if START_BLOCK in message or END_BLOCK in message:
        raise InputError("the message contains an MLLP framing byte (0x0B or 0x1C)",
                         fix="escape or remove control characters before sending")
    return START_BLOCK + message + END_BLOCK + CARRIAGE_RETURN


class MLLPDecoder:
    """Incremental MLLP decoder with a frame size limit.

    ``feed(data)`` returns complete frames (payload bytes, framing removed). After an
    :class:`MLLPFramingError`, the bytes that followed the problem stay buffered: call
    ``feed(b"")`` to continue with them.
    """

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()  # unread bytes (after the last decision point)
        self._buffer_offset = 0  # stream offset of _buffer[0]
        self._frame: bytearray | None = None  # payload of the frame being read
        self._skipping = False  # discarding the rest of an oversize frame

    @property
    def pending_bytes(self) -> int:
        """Bytes held for a frame not yet complete (at most the frame limit)."""
        return len(self._buffer) + (len(self._frame) if self._frame is not None else 0)

    @property
    def in_frame(self) -> bool:
        """True while a frame has started and not ended (a partial message is pending)."""
        return self._frame is not None or self._skipping

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        while self._buffer:
            if self._frame is None and not self._skipping:
                self._between_frames(frames)
                if self._frame is None:
                    break
            else:
                if not self._inside_frame(frames):
                    break
        return frames

    def _consume(self, count: int) -> None:
        del self._buffer[:count]
        self._buffer_offset += count

    def _between_frames(self, frames: list[bytes]) -> None:
        start = self._buffer.find(START_BLOCK)
        gap = bytes(self._buffer if start == -1 else self._buffer[:start])
        junk = gap.strip(_BETWEEN_FRAMES_OK)
        junk_at = self._buffer_offset + gap.find(junk[:1]) if junk else 0
        if start == -1:
            self._consume(len(self._buffer))
        else:
            self._consume(start + 1)
            self._frame = bytearray()
        if junk:
            raise MLLPFramingError(
                f"{len(junk)} bytes outside any MLLP frame", kind="junk", offset=junk_at,
                frames=frames,
                fix="the peer must wrap each message in 0x0B … 0x1C 0x0D",
            )

    def _inside_frame(self, frames: list[bytes]) -> bool:
        """Read frame bytes; False when more input is needed."""
        end = self._buffer.find(END_BLOCK)
        restart = self._buffer.find(START_BLOCK)
        if restart != -1 and (end == -1 or restart < end):
            # A new frame began before this one ended: the previous one is lost.
            offset = self._buffer_offset + restart
            was_skipping = self._skipping
            self._consume(restart + 1)
            self._frame, self._skipping = bytearray(), False
            if not was_skipping:
                raise MLLPFramingError(
                    "a frame started before the previous one ended (truncated message)",
                    kind="truncated", offset=offset, frames=frames,
                    fix="the peer must end each frame with 0x1C 0x0D",
                )
            return True
        chunk_end = len(self._buffer) if end == -1 else end
        if not self._skipping:
            assert self._frame is not None
            if len(self._frame) + chunk_end > self.max_frame_bytes:
                offset = self._buffer_offset
                self._frame, self._skipping = None, True
                self._consume(chunk_end)
                if end != -1:
                    self._end_frame()
                raise MLLPFramingError(
                    f"a frame exceeds the {self.max_frame_bytes}-byte limit, dropped",
                    kind="oversize", offset=offset, frames=frames,
                    fix="raise the frame size limit if such messages are expected",
                )
            self._frame += self._buffer[:chunk_end]
        self._consume(chunk_end)
        if end == -1:
            return False
        if self._frame is not None:
            frames.append(bytes(self._frame))
        self._end_frame()
        return True

    def _end_frame(self) -> None:
        """Drop the end byte (0x1C) and its 0x0D when already there; a late 0x0D is whitespace."""
        self._consume(1)
        if self._buffer[:1] == CARRIAGE_RETURN:
            self._consume(1)
        self._frame, self._skipping = None, False
