"""Outgoing HL7 v2 messages carrying an issued code back to the host: ORU^R01 or MDM^T02.

The note goes in an OBX (LOINC 48767-8, "Annotation comment"); the patient's PID is the one
the host sent (identifiers and assigning authorities kept), the confirming physician an XCN
with the RPPS authority. Every value is escaped with the outgoing delimiters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from prostop_plugin.hl7.ack import hl7_timestamp, new_control_id
from prostop_plugin.hl7.er7 import (
    DEFAULT_DELIMITERS,
    Delimiters,
    Message,
    MessageBuilder,
    SegmentBuilder,
)
from prostop_plugin.models import PatientRef, Practitioner

#: INS assigning authorities written in PID-3 (namespace for each OID).
INS_NAMESPACES: dict[str, str] = {
    "1.2.250.1.213.1.4.8": "ASIP-SANTE-INS-NIR",
    "1.2.250.1.213.1.4.9": "ASIP-SANTE-INS-NIA",
    "1.2.250.1.213.1.4.10": "ASIP-SANTE-INS-NIR-TEST",
}
RPPS_AUTHORITY = ("ASIP-SANTE-PS", "1.2.250.1.71.4.2.1", "ISO")

@dataclass(frozen=True)
class WriteBackHeader:
    """Who sends the write-back to whom, and how it is encoded."""

    sending_application: str = "PROSTOP"
    sending_facility: str = "PROSTOP"
    receiving_application: str = ""
    receiving_facility: str = ""
    version: str = "2.5"
    charset: str = "UNICODE UTF-8"
    country: str = "FRA"
    processing_id: str = "P"


#: OBX-3 of the note: LOINC 48767-8 "Annotation comment" (the CDA FR-Commentaire-ER code).
NOTE_OBSERVATION = ("48767-8", "Annotation comment", "LN")


def build_write_back(
    patient: PatientRef, note_lines: Sequence[str], header: WriteBackHeader | None = None, *,
    message_type: Literal["ORU^R01", "MDM^T02"] = "ORU^R01",
    value_type: Literal["TX", "FT"] = "TX",
    source: Message | None = None, practitioner: Practitioner | None = None,
    observation: tuple[str, str, str] = NOTE_OBSERVATION,
    control_id: str | None = None, now: datetime | None = None,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> bytes:
    """An ORU^R01 or MDM^T02 carrying ``note_lines`` in one TX (a repetition per line) or FT
    (lines joined by ``\\.br\\``) OBX. PID is copied from ``source`` when given (the message the
    event came from), else built from ``patient``. Pass the same ``control_id`` on a resend.
    """
    if not note_lines:
        raise ValueError("a write-back needs at least one note line")
    header = header or WriteBackHeader()
    stamp = hl7_timestamp(now)
    control_id = control_id or new_control_id()
    builder = MessageBuilder(delimiters, header.charset)
    kind, trigger = message_type.split("^")
    msh = builder.add("MSH").set(3, header.sending_application).set(4, header.sending_facility)
    msh.set(5, header.receiving_application).set(6, header.receiving_facility).set(7, stamp)
    msh.set("9.1", kind).set("9.2", trigger).set("9.3", f"{kind}_{trigger}")
    msh.set(10, control_id).set(11, header.processing_id).set(12, header.version)
    msh.set(15, "AL").set(16, "NE").set(17, header.country)
    if kind == "MDM":
        builder.add("EVN").set(1, trigger).set(2, stamp)
    _add_pid(builder.add("PID"), patient, source)
    if kind == "MDM":
        builder.add("PV1").set(1, "1").set(2, "O")
        txa = builder.add("TXA").set(1, "1").set(2, "CN").set(3, value_type).set(4, stamp)
        txa.set(12, control_id).set(17, "DO").set(19, "AV")
        if practitioner is not None:
            _set_xcn(txa, 9, practitioner)
    else:
        obr = builder.add("OBR").set(1, "1").set(3, control_id)
        obr.set("4.1", observation[0]).set("4.2", observation[1]).set("4.3", observation[2])
        obr.set(7, stamp).set(25, "F")
        if practitioner is not None:
            _set_xcn(obr, 16, practitioner)
    obx = builder.add("OBX").set(1, "1").set(2, value_type)
    obx.set("3.1", observation[0]).set("3.2", observation[1]).set("3.3", observation[2])
    if value_type == "TX":
        obx.set_tree(5, [[[line]] for line in note_lines])
    else:
        obx.set(5, "\n".join(note_lines))
    obx.set(11, "F").set(14, stamp)
    return builder.to_bytes()


def _add_pid(pid: SegmentBuilder, patient: PatientRef, source: Message | None) -> None:
    pid.set(1, "1")
    src = source.segment("PID") if source is not None else None
    if src is not None:
        for number in (3, 5, 7, 8):
            pid.set_tree(number, src.tree(number))
        return
    pid.set("3.1", patient.host_patient_id).set("3(1).5", "PI")
    if patient.ins:
        oid = patient.ins_oid or "1.2.250.1.213.1.4.8"
        pid.set("3(2).1", patient.ins).set("3(2).4.1", INS_NAMESPACES.get(oid, ""))
        pid.set("3(2).4.2", oid).set("3(2).4.3", "ISO").set("3(2).5", "INS")
    pid.set("5.1", patient.family_name).set("5.2", patient.given_name)
    if patient.family_name:
        pid.set("5.7", "L")
    if patient.birth_date:
        pid.set(7, patient.birth_date.strftime("%Y%m%d"))
    pid.set(8, patient.sex)


def _set_xcn(seg: SegmentBuilder, number: int, practitioner: Practitioner) -> None:
    """id^family^given, the RPPS (or national id) with its assigning authority."""
    ident = practitioner.rpps or practitioner.national_id
    seg.set(f"{number}.1", ident).set(f"{number}.2", practitioner.family_name)
    seg.set(f"{number}.3", practitioner.given_name)
    if practitioner.rpps:
        for sub, value in enumerate(RPPS_AUTHORITY, start=1):
            seg.set(f"{number}.9.{sub}", value)
        seg.set(f"{number}.13", "RPPS")
