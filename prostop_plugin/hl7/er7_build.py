"""Build outgoing ER7 messages from Python values; every value is escaped when rendered.

Re-exported by :mod:`prostop_plugin.hl7.er7`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prostop_plugin.errors import InputError
from prostop_plugin.hl7.er7_syntax import (
    DEFAULT_DELIMITERS,
    Delimiters,
    EscapeCodec,
    codec_for_charset,
    escape_codec,
    is_segment_name,
    parse_path,
)

if TYPE_CHECKING:
    from prostop_plugin.hl7.er7 import Message

Tree = list[list[list[str]]]  # repetitions → components → subcomponents


@dataclass
class SegmentBuilder:
    """A segment built from Python values; every value is escaped when rendered."""

    name: str
    fields: dict[int, Tree] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not is_segment_name(self.name):
            raise ValueError(f"{self.name!r} is not a segment name")

    def set(self, path: str | int, value: str | None) -> SegmentBuilder:
        """Set one leaf: ``seg.set(5, "x")``, ``seg.set("3(2).4.2", "1.2.250…")``."""
        if isinstance(path, int):
            fld, rep, comp, sub = path, 1, 1, 1
        else:
            name, _, fld, rep, comp, sub = parse_path(path)
            if name and name != self.name:
                raise ValueError(f"path {path!r} is not in segment {self.name}")
        if self.name == "MSH" and fld <= 2:
            raise ValueError("MSH-1 and MSH-2 come from the delimiters")
        tree = self.fields.setdefault(fld, [])
        while len(tree) < rep:
            tree.append([])
        comps = tree[rep - 1]
        while len(comps) < comp:
            comps.append([])
        subs = comps[comp - 1]
        while len(subs) < sub:
            subs.append("")
        subs[sub - 1] = value or ""
        return self

    def set_tree(self, fld: int, tree: Sequence[Sequence[Sequence[str]]]) -> SegmentBuilder:
        """Set a whole field from :meth:`Segment.tree` output (e.g. copy PID-3 across)."""
        if self.name == "MSH" and fld <= 2:
            raise ValueError("MSH-1 and MSH-2 come from the delimiters")
        self.fields[fld] = [[list(c) for c in rep] for rep in tree]
        return self

    def render(self, delimiters: Delimiters, charset_name: str | None = None) -> str:
        codec = escape_codec(delimiters, "utf-8")
        d = delimiters
        last = max(self.fields, default=0)
        parts = [self.name]
        start = 1
        if self.name == "MSH":
            parts = ["MSH" + d.field + d.encoding_characters]
            start = 3
            if charset_name and not self.fields.get(18):
                last = max(last, 18)
        for number in range(start, last + 1):
            tree = self.fields.get(number)
            if tree is None and number == 18 and self.name == "MSH" and charset_name:
                tree = [[[charset_name]]]
            parts.append(_render_tree(tree or [], codec, d))
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
        return d.field.join(parts)


def _render_tree(tree: Tree, codec: EscapeCodec, d: Delimiters) -> str:
    reps = []
    for rep in tree:
        comps = [d.subcomponent.join(codec.escape(s) for s in comp).rstrip(d.subcomponent)
                 for comp in rep]
        reps.append(d.component.join(comps).rstrip(d.component))
    return d.repetition.join(reps).rstrip(d.repetition)


class MessageBuilder:
    """Build an outgoing message segment by segment.

    ``charset`` is the MSH-18 name written (unless MSH-18 is set explicitly) and decides the
    encoding; ``None`` leaves MSH-18 empty and encodes as ``encoding`` (default UTF-8).
    """

    def __init__(self, delimiters: Delimiters = DEFAULT_DELIMITERS,
                 charset: str | None = "UNICODE UTF-8", encoding: str | None = None) -> None:
        self.delimiters = delimiters
        self.charset = charset
        if encoding is None:
            encoding = codec_for_charset(charset) if charset else "utf-8"
        self.encoding = encoding
        self.segments: list[SegmentBuilder] = []

    def add(self, name: str) -> SegmentBuilder:
        seg = SegmentBuilder(name)
        self.segments.append(seg)
        return seg

    def to_text(self) -> str:
        if not self.segments or self.segments[0].name != "MSH":
            raise ValueError("a message starts with an MSH segment")
        return "".join(s.render(self.delimiters, self.charset) + "\r" for s in self.segments)

    def to_bytes(self, errors: str = "strict") -> bytes:
        """Encode; a character the charset cannot hold is an :class:`InputError` unless
        ``errors="replace"``."""
        text = self.to_text()
        try:
            return text.encode(self.encoding, errors=errors)
        except UnicodeEncodeError as exc:
            raise InputError(
                f"{text[exc.start]!r} cannot be written in {self.charset or self.encoding}",
                where=f"character {exc.start}", fix="send the message as UNICODE UTF-8",
            ) from None

    def to_message(self) -> Message:
        """Parse what was built (a check, and a :class:`Message` to read back)."""
        # er7 re-exports this module, so its parser is imported when first needed, not above
        from prostop_plugin.hl7.er7 import parse

        return parse(self.to_bytes())
