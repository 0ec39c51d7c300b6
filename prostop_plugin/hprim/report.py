"""One HPRIM report as the file writes it, and the result fields both HPRIM families share."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import TypedDict

from prostop_plugin.models import LabResult, ResultStatus
from prostop_plugin.values import parse_number

log = logging.getLogger(__name__)

#: result statuses (HL7 table 0085, as the HL7 reader maps them); blank is final
_STATUSES: dict[str, ResultStatus] = {
    "F": "F", "C": "C", "P": "P", "D": "D", "X": "X", "U": "F", "W": "D", "N": "X", "": "F",
}


class TextValue(TypedDict, total=False):
    """The value fields of a LabResult that a plain text value fills."""

    value_numeric: float
    value_text: str | None


@dataclass
class HprimReport:
    """One patient's report as the file writes it, before mapping to a DiagnosisEvent."""

    format: str  # "hprim" (médecin) or "hprim-sante"
    first_line: int
    text: str = ""  # this report's own lines, for its digest
    title: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    birth_date: date | None = None
    nir_raw: str | None = None
    nir_line: int | None = None
    patient_ids: list[str] = field(default_factory=list)  # host's id first, then the lab's
    file_number: str | None = None
    report_date: date | None = None
    sex: str | None = None
    sender_code: str | None = None
    sender_name: str | None = None
    recipient_code: str | None = None
    recipient_name: str | None = None
    free_text: list[str] = field(default_factory=list)
    results: list[LabResult] = field(default_factory=list)


def result_status(raw: str, where: str) -> ResultStatus:
    """F/C/P/D/X as written (U, W, N as HL7 reads them), blank is final, else not final."""
    status = raw.strip().upper()
    if status in _STATUSES:
        return _STATUSES[status]
    log.warning("%s: unknown result status %r read as preliminary (P)", where, raw)
    return "P"


def text_value(value: str, *, numeric: bool) -> TextValue:
    """The text as written and, for a numeric type, the number it reads as (like HL7 NM)."""
    if numeric and (number := parse_number(value)) is not None:
        return {"value_numeric": number, "value_text": value or None}
    return {"value_text": value or None}
