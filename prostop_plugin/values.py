"""Values read the same way in every file format: times, dates, numbers, test codings.

Times without an offset are French local time (Europe/Paris). Numbers take a comma or a point
and must be finite. A test code is LOINC when declared so or LOINC-shaped, else local (``L``).
"""

from __future__ import annotations

import functools
import math
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from prostop_plugin.models import CodeSystem, Coding, normalise_system

PARIS = ZoneInfo("Europe/Paris")

_LOINC_SHAPE = re.compile(r"^\d{1,5}-\d$")
_TS = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?(?:[.,]\d+)?)?\s*(?:([+-])(\d{2}):?(\d{2}))?$"
)
_FR_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d{1,3})?")


def lab_test_coding(code: str, display: str | None, system: str | None) -> Coding:
    """The test code: LOINC when LOINC-shaped or declared LOINC, else local (``L``)."""
    declared = normalise_system(system) if system else None
    loinc = declared == CodeSystem.LOINC or bool(_LOINC_SHAPE.match(code))
    return Coding(
        code=code[:200], system=CodeSystem.LOINC if loinc else CodeSystem.LOCAL,
        display=display or None,
    )


@functools.lru_cache(maxsize=512)  # a document repeats the same few times many times over
def parse_ts(text: str | None) -> datetime | None:
    """HL7/HPRIM time ``YYYYMMDD[HHMM[SS[.S]]][±ZZZZ]``; no offset means Paris time."""
    if not text:
        return None
    m = _TS.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, sign, off_h, off_m = m.groups()
    try:
        if sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz: timezone | ZoneInfo = timezone(-offset if sign == "-" else offset)
        else:
            tz = PARIS
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            tzinfo=tz,
        )
    except ValueError:
        return None


def parse_date(text: str | None) -> date | None:
    """A date as French files write it: dd/mm/yyyy (also . or -), yyyy-mm-dd or yyyymmdd."""
    text = (text or "").strip()
    try:
        if m := _FR_DATE.match(text):
            return date(int(m[3]), int(m[2]), int(m[1]))
        if m := _ISO_DATE.match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    ts = parse_ts(text[:8]) if len(text) >= 8 and text[:8].isdigit() else None
    return ts.date() if ts else None


def parse_number(text: str | None) -> float | None:
    """A finite decimal number, comma or point; None for "<0,5", "nan", "1e999"…"""
    text = (text or "").strip()
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text.replace(",", "."))
    return number if math.isfinite(number) else None
