"""Read evidence files of any supported format, chosen by content rather than by extension.

Each format's reader transcribes a file into :class:`~prostop_plugin.models.DiagnosisEvent`
objects and raises :class:`~prostop_plugin.errors.InputError` (what, where, how to fix) on
anything it cannot use. Used by ``prostop check`` and the file-drop adapter.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from prostop_plugin.errors import InputError
from prostop_plugin.hl7.cda import read_cda
from prostop_plugin.hl7.reader import read_hl7
from prostop_plugin.hprim import read_hprim
from prostop_plugin.input_limits import MAX_FILE_BYTES, check_input
from prostop_plugin.models import DiagnosisEvent, content_hash

#: bytes, a display name for errors, the adapter name to record as the source
Reader = Callable[[bytes, str, str], list[DiagnosisEvent]]

def sniff_format(data: bytes) -> str:
    """Return ``json``, ``hl7v2``, ``cda``, ``hprim`` or ``unknown`` from the first bytes."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        return "json"
    if head.startswith((b"MSH", b"FHS", b"BHS", b"\x0bMSH")):
        return "hl7v2"
    if head.startswith(b"<"):
        return "cda"
    if head.startswith(b"H|") or b"****LAB****" in data[:1_000_000]:
        return "hprim"
    return "unknown"


def _unreadable_number(data: bytes, name: str, exc: ValueError) -> InputError:
    """A number json.loads refused (too many digits): where it is, as line and column."""
    digits = sys.get_int_max_str_digits()
    found = re.search(rb"\d{%d,}" % (digits + 1), data) if digits else None
    if found is None:
        return InputError(f"not valid JSON: {str(exc).splitlines()[0]}", where=name,
                          fix="check the JSON syntax")
    line = data.count(b"\n", 0, found.start()) + 1
    column = found.start() - (data.rfind(b"\n", 0, found.start()) + 1) + 1
    return InputError(
        f"a number of {found.end() - found.start()} digits, over the {digits}-digit limit",
        where=f"{name}, line {line} column {column}",
        fix="no field of a JSON event holds such a number: check the export",
    )


def read_json_events(data: bytes, name: str, adapter: str = "json") -> list[DiagnosisEvent]:
    """The plugin's own JSON event format: one DiagnosisEvent object, or a list of them."""
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start})", where=name,
            fix="save the JSON event as UTF-8",
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg}", where=f"{name}, line {exc.lineno} column {exc.colno}",
            fix="check the JSON syntax at that position",
        ) from None
    except RecursionError:
        raise InputError(
            "JSON nested too deeply to read (thousands of [ or { inside one another)",
            where=name, fix="a JSON event nests a few objects and lists: see 'prostop schema'",
        ) from None
    except ValueError as exc:  # an integer over Python's digit limit (sys.get_int_max_str_digits)
        raise _unreadable_number(data, name, exc) from None
    items = parsed if isinstance(parsed, list) else [parsed]
    events: list[DiagnosisEvent] = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and "source" in item and isinstance(item["source"], dict):
            item["source"].setdefault("content_hash", content_hash(data) + f":{index}")
        try:
            events.append(DiagnosisEvent.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            where = f"{name}, event {index + 1}" + (f", field '{loc}'" if loc else "")
            raise InputError(
                first["msg"], where=where,
                fix="see 'prostop schema' for the expected event format",
            ) from None
    return events


READERS: dict[str, Reader] = {
    "json": read_json_events,
    "hl7v2": read_hl7,
    "cda": read_cda,
    "hprim": read_hprim,
}


def read_bytes(data: bytes, name: str, adapter: str = "file") -> list[DiagnosisEvent]:
    check_input(data, name, MAX_FILE_BYTES)
    fmt = sniff_format(data)
    reader = READERS.get(fmt)
    if reader is None:
        raise InputError(
            "unrecognised format (not HL7 v2, HPRIM, CDA nor a JSON event)", where=name,
            fix="export the result as HL7 v2, HPRIM, CDA R2 or the plugin's JSON event",
        )
    return reader(data, name, adapter)


def read_file(path: Path, adapter: str = "file") -> list[DiagnosisEvent]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", where=str(path), fix="check the path") from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", where=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror}", where=str(path)) from None
    return read_bytes(data, str(path), adapter)
