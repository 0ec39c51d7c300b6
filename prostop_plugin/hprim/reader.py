"""Read an HPRIM file: size and encoding checks, format detection, one event per report."""

from __future__ import annotations

import re

from prostop_plugin.errors import InputError
from prostop_plugin.hprim.mapping import report_to_event
from prostop_plugin.hprim.medecin import parse_medecin
from prostop_plugin.hprim.report import HprimReport
from prostop_plugin.hprim.sante import SANTE_HEADER, parse_sante
from prostop_plugin.input_limits import check_input
from prostop_plugin.models import DiagnosisEvent, content_hash

MAX_HPRIM_BYTES = 20 * 1024 * 1024

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: control characters that never occur in a text report (tab, CR, LF, FF, SUB are fine)
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f\x7f]")


def decode_text(data: bytes, name: str) -> str:
    """Decode a text file: BOM, else UTF-8 if valid, else Latin-1 (Windows-1252)."""
    try:
        if data.startswith(b"\xef\xbb\xbf"):
            text = data[3:].decode("utf-8")
        elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                try:
                    text = data.decode("cp1252")
                except UnicodeDecodeError:
                    text = data.decode("latin-1")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the text is not valid in the encoding its byte-order mark declares "
            f"(byte {exc.start})", where=name, fix="re-export the file",
        ) from None
    if m := _BINARY.search(text):
        line = text.count("\n", 0, m.start()) + 1
        raise InputError(
            f"binary content (control character 0x{ord(m[0]):02x}), not a text report",
            where=f"{name}, line {line}", fix="check that the file is an HPRIM lab report",
        )
    return text


def read_hprim(data: bytes, name: str, adapter: str) -> list[DiagnosisEvent]:
    """Transcribe an HPRIM file into one DiagnosisEvent per report that carries results."""
    digest = content_hash(data)
    return [
        event for report in parse_hprim(data, name)
        if (event := report_to_event(report, name, adapter, digest)) is not None
    ]


def parse_hprim(data: bytes, name: str) -> list[HprimReport]:
    """Split an HPRIM médecin or HPRIM Santé file into reports; InputError when unusable."""
    check_input(data, name, MAX_HPRIM_BYTES)
    lines = _LINE_BREAK.split(decode_text(data, name))
    first = next((line for line in lines if line.strip()), "")
    if SANTE_HEADER.match(first.lstrip()):
        return parse_sante(lines, name)
    if first.lstrip().startswith("H|"):
        raise InputError(
            "HPRIM Santé header (H record) without its delimiters", where=f"{name}, line 1",
            fix="the H record must start with H|~^\\&| (field, component, repetition, escape)",
        )
    return parse_medecin(lines, name)


