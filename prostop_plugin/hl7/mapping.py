"""Transcribe a parsed HL7 v2 message (ORU^R01, ADT^A01/A04/A08/A31) into plugin events.

Transcription only: every OBX becomes a :class:`LabResult` and every DG1 a
:class:`DiagnosisEvidence`, whatever they are about; deciding what they mean (COVID or not,
positive or not) is :mod:`prostop_plugin.eligibility`'s job.

Choices made here, because a message leaves them open:

- One :class:`DiagnosisEvent` per patient (PID) group that carries evidence. An ORU^R01 may hold
  several patients; then their events get message ids ``MSH-10#1``, ``MSH-10#2``… so that
  deduplication keeps them apart.
- Times without an offset are Europe/Paris wall-clock times (French senders), made aware.
  Partial times (``2020``, ``202011``) are read as the start of the period.
- A coded value (CE/CWE) is the first triplet unless that one is local and the alternate triplet
  (components 4–6) has a code, then the alternate: labs send their local code first.
- OBX-11 outside F/C/P/D/X: ``U`` (changed to final) → F, ``W`` (wrong, withdrawn) → D,
  ``N`` → X, empty → F (the field is required; empty means the sender did not qualify it),
  anything else (R, S, I…) → P, i.e. not final.
- PID-3: an identifier under an INS OID (1.2.250.1.213.1.4.8 NIR, .9 NIA, .10 test NIR) is the
  INS only when its key checks out, as in the CDA and HPRIM readers
  (:func:`prostop_plugin.identity.parse_nir`); a wrong or missing key is a warning, and the
  identifier is used neither as the INS nor as the host id. An identifier typed ``INS`` without
  an INS OID is taken as written (not a qualified INS, no ``ins_oid``).
- DG1-6 empty or outside A/W/F → ``working`` (never upgraded to final), with a warning.
- An OBX without OBX-3, or a DG1 with neither code nor words (DG1-3.2, DG1-4), carries nothing
  to transcribe: skipped with a warning. A DG1 in words only is kept for eligibility to read.
- Each result carries its sender (MSH-4, as ``source.host``: the key of the local-code map) and
  its order's code (OBR-4: the technique of a multiplex panel's analytes).
- A malformed date/time is an error naming the field, because dates decide eligibility;
  only the event's own time (EVN-2, MSH-7) is forgiven: a warning, and the reception time.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pydantic import ValidationError

from prostop_plugin.errors import HL7ParseError
from prostop_plugin.hl7.er7 import Composite, Message, Segment
from prostop_plugin.identity import INS_OIDS, checked_ins, masked
from prostop_plugin.models import (
    Coding,
    DiagnosisEvent,
    DiagnosisEvidence,
    DiagnosisStatus,
    EventSource,
    LabResult,
    PatientRef,
    Practitioner,
    ResultCorrection,
    ResultStatus,
    content_hash,
)
from prostop_plugin.values import PARIS

log = logging.getLogger(__name__)

FORMAT = "hl7v2"

SUPPORTED_MESSAGE_TYPES = frozenset({"ORU^R01", "ADT^A01", "ADT^A04", "ADT^A08", "ADT^A31"})

_RESULT_STATUS: dict[str, ResultStatus] = {
    "F": "F", "C": "C", "P": "P", "D": "D", "X": "X", "U": "F", "W": "D", "N": "X", "": "F",
}
_DIAGNOSIS_TYPE: dict[str, DiagnosisStatus] = {"A": "admitting", "W": "working", "F": "final"}
_CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF"})
_TEXT_TYPES = frozenset({"ST", "TX", "FT"})
_DATE_TYPES = frozenset({"DT", "DTM", "TS", "TM"})
_OPAQUE_TYPES = frozenset({"ED", "RP"})  # encapsulated documents, references: nothing to read
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_DATETIME = re.compile(
    r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?"
    r"([+-]\d{4})?"
)


class HL7FieldError(HL7ParseError):
    """A field's content is unusable. Carries the HL7 location for an ACK's ERR segment."""

    hl7_error_code = "102"  # table 0357: data type error

    def __init__(self, what: str, *, segment: str, occurrence: int, field_number: int,
                 position: int | None = None, fix: str | None = None) -> None:
        self.segment = segment
        self.occurrence = occurrence
        self.field_number = field_number
        super().__init__(what, where=f"{segment}[{occurrence}]-{field_number}",
                         position=position, fix=fix)


class UnsupportedMessageType(HL7ParseError):
    """The message type is not one the plugin reads (ACK: AR with error 200)."""

    hl7_error_code = "200"


@dataclass
class MappedMessage:
    """What one message says, transcribed."""

    events: list[DiagnosisEvent]
    corrections: list[ResultCorrection]
    message_type: str
    message_id: str | None
    warnings: list[str] = field(default_factory=list)


def parse_hl7_datetime(value: str) -> datetime | None:
    """``YYYY[MM[DD[HH[MM[SS[.S]]]]]][±ZZZZ]`` → aware datetime; ``None`` when empty.

    Without an offset the time is Europe/Paris local time. :class:`ValueError` when malformed.
    """
    value = value.strip()
    if not value:
        return None
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not an HL7 date/time (YYYYMMDD[HHMM[SS]][±ZZZZ])")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                      int(minute or 0), int(second or 0), micro)
    if offset is None:
        return moment.replace(tzinfo=PARIS)
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    if hours > 14 or minutes > 59:
        raise ValueError(f"{value!r} has an impossible UTC offset {offset}")
    return moment.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))


class _Mapper:
    """State of one message's transcription: occurrence counters, warnings, current groups."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self.warnings: list[str] = []
        self.occurrence: dict[int, int] = {}  # segment index → its occurrence among its name

    # -- errors and small readers --

    def field_error(self, seg: Segment, number: int, what: str, fix: str | None = None) -> None:
        raise HL7FieldError(what, segment=seg.name, occurrence=self.occurrence.get(seg.index, 1),
                            field_number=number, position=self.msg.segment_byte_offset(seg.index),
                            fix=fix)

    def when(self, seg: Segment, number: int) -> datetime | None:
        try:
            return parse_hl7_datetime(seg.value(number))
        except ValueError as exc:
            self.field_error(seg, number, str(exc), fix="write dates as YYYYMMDDHHMMSS")
        return None  # unreachable: field_error raises

    def ref(self, seg: Segment) -> str:
        return f"{seg.name}[{self.occurrence.get(seg.index, 1)}]"

    # -- patient and practitioner --

    def patient(self, pid: Segment) -> PatientRef:
        ins = ins_oid = host_id = first_id = None
        rejected = False
        for rep in pid.repetitions(3):
            ident = rep[1].strip()
            if not ident:
                continue
            oid = rep.get(4, 2).strip()
            kind = rep[5].strip().upper()
            # an INS links the patient's episodes across senders: never one whose key is wrong
            if ins is None and (oid in INS_OIDS or kind == "INS"):
                checked = checked_ins(ident)
                if checked is None:  # wrong or missing key: neither the INS nor the host id
                    self.reject_ins(pid, ident)
                    rejected = True
                    continue
                ident = checked
            first_id = first_id or ident
            if ins is None and (oid in INS_OIDS or kind == "INS"):
                ins, ins_oid = ident, oid or None
            elif host_id is None and kind == "PI":
                host_id = ident
        host_id = host_id or first_id or pid.value(2).strip() or pid.value(4).strip()
        if not host_id:
            what = "no patient identifier in PID-3"
            if rejected:
                what = "no usable patient identifier in PID-3 (the INS has a wrong or missing key)"
            self.field_error(pid, 3, what,
                             fix="the sender must fill PID-3 (at least the local PI id)")
        names = pid.repetitions(5)
        legal = next((n for n in names if n[7].strip().upper() == "L"), None)
        name = legal or (names[0] if names else None)
        birth = pid.value(7).strip()
        birth_date = None
        if birth:
            moment = self.when(pid, 7)
            if len(birth) >= 8 and moment is not None:
                birth_date = moment.date()
            else:
                self.warnings.append(f"{self.ref(pid)}-7: partial birth date {birth!r} ignored")
        sex = pid.value(8).strip().upper()
        return PatientRef(
            host_patient_id=host_id or "",
            ins=ins, ins_oid=ins_oid,
            family_name=(name.get(1, 1).strip() or None) if name else None,
            given_name=(name[2].strip() or None) if name else None,
            birth_date=birth_date,
            sex=(sex if sex in ("F", "M") else "U") if sex else None,
        )

    def reject_ins(self, pid: Segment, ident: str) -> None:
        """Flag an INS whose key is wrong or missing: logged, and a warning of the message."""
        warning = (
            f"{self.ref(pid)}-3: INS {masked(ident)} has a wrong or missing key; "
            "not used as the INS"
        )
        log.warning("HL7 MSH-10 %r, %s", self.msg.control_id.strip(), warning)
        self.warnings.append(warning)

    @staticmethod
    def practitioner(rep: Composite) -> Practitioner | None:
        ident = rep[1].strip()
        if not ident:
            return None
        hints = (rep[13] + " " + rep.get(9, 1)).upper()
        if len(ident) == 9 and ident.isdigit() and "ADELI" in hints:
            ident = "0" + ident
        try:
            return Practitioner(national_id=ident, family_name=rep.get(2, 1).strip() or None,
                                given_name=rep[3].strip() or None)
        except ValidationError:
            return None  # not an RPPS/ADELI number: a local id the core cannot use

    # -- evidence --

    @staticmethod
    def coding(rep: Composite, first: int) -> Coding | None:
        code = rep[first].strip()
        if not code:
            return None
        return Coding(code=code, system=rep[first + 2].strip() or None,
                      display=rep[first + 1].strip() or None)

    def lab_result(self, obx: Segment, obr: Segment | None) -> LabResult | None:
        tests = obx.repetitions(3)
        test = self.coding(tests[0], 1) if tests else None
        alternate = self.coding(tests[0], 4) if tests else None
        if test is None:
            test, alternate = alternate, None
        if test is None:
            self.warnings.append(f"{self.ref(obx)}: no test code in OBX-3, skipped")
            return None
        value_type = obx.value(2).strip().upper() or None
        status_code = obx.value(11).strip().upper()
        orders = obr.repetitions(4) if obr is not None else []
        panel = (self.coding(orders[0], 1) or self.coding(orders[0], 4)) if orders else None
        result = LabResult(
            test=test, test_alternate=alternate, value_type=value_type, panel=panel,
            unit=obx.value(6, 1, 1).strip() or obx.value(6, 1, 2).strip() or None,
            abnormal_flag=obx.value(8).strip() or None,
            status=_RESULT_STATUS.get(status_code, "P"),
            observed_at=self.when(obx, 14),
            collected_at=self.when(obr, 7) if obr is not None else None,
            source_ref=self.ref(obx),
        )
        self.fill_value(result, obx)
        return result

    def fill_value(self, result: LabResult, obx: Segment) -> None:
        reps = obx.repetitions(5)
        if not reps:
            return
        kind = result.value_type or ""
        first = reps[0]
        if kind in _CODED_TYPES:
            primary, alternate = self.coding(first, 1), self.coding(first, 4)
            local = primary is None or primary.system == "L" or primary.system.startswith("99")
            result.value_coded = alternate if (local and alternate) else primary
            if result.value_coded is None:
                result.value_text = first[2].strip() or first[5].strip() or None
        elif kind == "NM":
            text = first.text().strip()
            result.value_text = text or None
            result.value_numeric = _number(text)
        elif kind == "SN":
            comparator, number = first[1].strip(), first[2].strip()
            result.value_text = "".join(first[i] for i in range(1, 5)).strip() or None
            if comparator in ("", "=") and not first[3] and not first[4]:
                result.value_numeric = _number(number)
        elif kind in _DATE_TYPES:
            result.value_text = first[1].strip() or None
        elif kind in _OPAQUE_TYPES:
            self.warnings.append(f"{result.source_ref}: {kind} value not transcribed")
        elif kind in _TEXT_TYPES:
            result.value_text = "\n".join(rep.text() for rep in reps).strip() or None
        else:
            result.value_text = first.text().strip() or None

    def diagnosis(self, dg1: Segment) -> DiagnosisEvidence | None:
        reps = dg1.repetitions(3)
        code = (self.coding(reps[0], 1) or self.coding(reps[0], 4)) if reps else None
        # words without a code (DG1-3.2, or the DG1-4 description): eligibility reads them
        text = dg1.value(4).strip() or ((reps[0][2].strip() or reps[0][5].strip()) if reps and
                                        code is None else "")
        if code is None and not text:
            self.warnings.append(f"{self.ref(dg1)}: no diagnosis code nor text in DG1-3, skipped")
            return None
        kind = dg1.value(6).strip().upper()
        status = _DIAGNOSIS_TYPE.get(kind)
        if status is None:
            self.warnings.append(
                f"{self.ref(dg1)}-6: diagnosis type {kind!r} is not A/W/F, read as working"
            )
            status = "working"
        return DiagnosisEvidence(code=code, text=text or None, status=status,
                                 recorded_at=self.when(dg1, 5), source_ref=self.ref(dg1))


def _number(text: str) -> float | None:
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None  # 400 digits overflow to inf


@dataclass
class _PatientGroup:
    pid: Segment
    evidence: list[LabResult | DiagnosisEvidence] = field(default_factory=list)
    practitioner: Practitioner | None = None
    ordering: Practitioner | None = None  # OBR-16 / ORC-12, used when PV1-7 names nobody


def _sender(msg: Message) -> str:
    for path in ("MSH-4.1", "MSH-4.2", "MSH-3.1", "MSH-3.2"):
        value = msg[path].strip()
        if value:
            return value
    raise HL7FieldError("neither MSH-4 (sending facility) nor MSH-3 (application) is filled",
                        segment="MSH", occurrence=1, field_number=4,
                        fix="the sender must identify itself in MSH-4; deduplication needs it")


def map_message(msg: Message, *, adapter: str, raw: bytes | None = None) -> MappedMessage:
    """Transcribe one message; :class:`HL7ParseError` (or a subclass) when it cannot be read."""
    message_type = msg.message_type
    if message_type not in SUPPORTED_MESSAGE_TYPES:
        raise UnsupportedMessageType(
            f"message type {message_type or '(empty MSH-9)'} is not supported", where="MSH-9",
            fix="send " + ", ".join(sorted(SUPPORTED_MESSAGE_TYPES)),
        )
    mapper = _Mapper(msg)
    groups = _collect(mapper, msg)
    host = _sender(msg)
    for group in groups:  # whose local codes they are ([eligibility.local_codes])
        for item in group.evidence:
            if isinstance(item, LabResult):
                item.sender = host
    message_id = msg.control_id.strip() or None
    digest = content_hash(raw if raw is not None else (msg.raw or msg.to_bytes()))
    recorded_at = _recorded_at(mapper, msg)
    events: list[DiagnosisEvent] = []
    corrections: list[ResultCorrection] = []
    with_evidence = [g for g in groups if g.evidence]
    for number, group in enumerate(with_evidence, start=1):
        ident = message_id
        if message_id and len(with_evidence) > 1:
            ident = f"{message_id}#{number}"
        with _validated(mapper, group.pid):
            source = EventSource(adapter=adapter, host=host, message_id=ident,
                                 content_hash=digest, format=FORMAT)
            patient = mapper.patient(group.pid)
            extra = {"recorded_at": recorded_at} if recorded_at else {}
            events.append(DiagnosisEvent(
                source=source, patient=patient,
                practitioner=group.practitioner or group.ordering,
                evidence=list(group.evidence), **extra,
            ))
        corrections.extend(
            ResultCorrection(source=source, patient=patient, result=item)
            for item in group.evidence
            if isinstance(item, LabResult) and item.status in ("C", "D")
        )
    return MappedMessage(events, corrections, message_type, message_id, mapper.warnings)


def _recorded_at(mapper: _Mapper, msg: Message) -> datetime | None:
    """EVN-2 (recorded date/time), else MSH-7. Unreadable: a warning, and reception time."""
    evn = msg.segment("EVN")
    seg, number = (evn, 2) if evn is not None and evn.value(2).strip() else (msg.segments()[0], 7)
    try:
        return mapper.when(seg, number)
    except HL7FieldError as exc:
        mapper.warnings.append(f"{exc.where}: {exc.what}; the event is dated on reception")
        return None


@contextmanager
def _validated(mapper: _Mapper, seg: Segment) -> Iterator[None]:
    """Turn a model validation failure into an HL7 error naming the segment."""
    try:
        yield
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise HL7ParseError(
            f"{problem['msg']} ({'.'.join(str(p) for p in problem['loc'])})",
            where=mapper.ref(seg), position=mapper.msg.segment_byte_offset(seg.index),
        ) from None


def _collect(mapper: _Mapper, msg: Message) -> list[_PatientGroup]:
    """Walk the segments once, attaching OBX/DG1/providers to the PID group they follow."""
    groups: list[_PatientGroup] = []
    group: _PatientGroup | None = None
    obr: Segment | None = None
    counts: dict[str, int] = {}
    for seg in msg.segments():
        name = seg.name
        counts[name] = mapper.occurrence[seg.index] = counts.get(name, 0) + 1
        if name == "PID":
            group = _PatientGroup(seg)
            groups.append(group)
            obr = None
            continue
        if name not in ("PV1", "OBR", "ORC", "OBX", "DG1"):
            continue
        if group is None:
            mapper.warnings.append(f"{mapper.ref(seg)} comes before any PID, skipped")
            continue
        with _validated(mapper, seg):
            if name == "OBX":
                result = mapper.lab_result(seg, obr)
                if result is not None:
                    group.evidence.append(result)
            elif name == "DG1":
                diagnosis = mapper.diagnosis(seg)
                if diagnosis is not None:
                    group.evidence.append(diagnosis)
            elif name == "PV1" and group.practitioner is None:
                group.practitioner = _first_practitioner(seg, 7)
            elif name in ("OBR", "ORC"):
                obr = seg if name == "OBR" else obr
                if group.ordering is None:
                    group.ordering = _first_practitioner(seg, 16 if name == "OBR" else 12)
    return groups


def _first_practitioner(seg: Segment, number: int) -> Practitioner | None:
    for rep in seg.repetitions(number):
        found = _Mapper.practitioner(rep)
        if found is not None:
            return found
    return None
