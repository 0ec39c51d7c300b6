"""HPRIM readers: "HPRIM médecin" text reports and HPRIM Santé 2.x messages (DOMAIN.md §6).

Readers transcribe; :mod:`prostop_plugin.eligibility` judges. Every result line becomes a
:class:`~prostop_plugin.events.LabResult` exactly as an HL7 OBX would, so a positive RT-PCR is
recognised the same way whatever the format.

**HPRIM médecin** (what GP software imports from labs): a report is 12 header lines (title or
the lab's patient code, family name, given name, address ×2, postcode + town, birth date
dd/mm/yyyy, NIR, lab file number, date, sender code + name, recipient code + name), free text,
then ``****LAB****`` … ``****FIN****`` holding ``RES|label|code|type|value|unit|low|high|flag|
status|…`` lines. One file may hold several reports (several patients) one after another;
``****FINFICHIER****`` closes a file inside a batch and is optional at the end.

**HPRIM Santé 2.x** (ASTM E1238): records ``H`` (delimiters, sender), ``P`` (patient), ``OBR``
(request, collection time, prescriber), ``OBX`` (result), ``C`` (comment), ``A`` (continuation
of the previous record, appended as is), ``L`` (end). The delimiters come from the H record:
``H|~^\\&|`` declares components ``~`` and repetitions ``^``, the reverse of HL7.

Decisions (documented for the admin and the physician):

* Encoding: a byte-order mark wins; valid UTF-8 containing non-ASCII is UTF-8; otherwise Latin-1,
  read as its Windows-1252 superset (what French Windows lab software writes: ``'`` as 0x92).
* NIR: its key is checked (97 − number mod 97, Corsica 2A→19, 2B→18). A NIR with a wrong or
  missing key is *not* used as the INS — matching then relies on name, birth date and file
  number — and a warning naming the file and line is logged. Sex is taken from a checked NIR.
* Patient id: the checked NIR; else (HPRIM Santé) the requester's own patient id, the lab's id;
  else the lab file number. A report with results but none of these is an :class:`InputError`.
* ``message_id`` is ``<lab file number>#<digest of this report>``: labs resend the same file
  number with partial then final results, and both must be read (only the resend of the very
  same report is a duplicate).
* Result status: F, C, P, D, X as written (U → F, W → D, N → X, as the HL7 reader reads them),
  blank → F; anything else → P and a warning: an unknown status never counts as final.
* Values as the HL7 reader fills them: numeric results keep their text too (``<0,5`` stays text
  only; nan/inf are not numbers); a coded value with a local code and an alternate code (e.g.
  SNOMED) is the alternate.
* A ``RES`` line with neither label nor code continues the previous result's text. ``TEX``,
  ``REC`` and unknown lines inside the LAB block are tolerated and skipped.
* Times without an offset are French local time (Europe/Paris).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TypedDict
from zoneinfo import ZoneInfo

from prostop_plugin.errors import InputError
from prostop_plugin.events import (
    CodeSystem,
    Coding,
    DiagnosisEvent,
    EventSource,
    LabResult,
    PatientRef,
    Practitioner,
    ResultStatus,
    content_hash,
    normalise_system,
)

log = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
MAX_HPRIM_BYTES = 20 * 1024 * 1024
LAB_START, LAB_END, FILE_END = "****LAB****", "****FIN****", "****FINFICHIER****"
HEADER_LINES = 12

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: control characters that never occur in a text report (tab, CR, LF, FF, SUB are fine)
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f\x7f]")
_SANTE_HEADER = re.compile(r"^H(?P<sep>[^\w\s])(?P<enc>[^\w\s]{3,4})(?P=sep)")
_LOINC_SHAPE = re.compile(r"^\d{1,5}-\d$")
_NIR_SHAPE = re.compile(r"^[1-478]\d{4}(?:\d{2}|2[AB])\d{6}(?:\d{2})?$")
_RPPS = re.compile(r"^8?(\d{11})$")
_TS = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?(?:[.,]\d+)?)?\s*(?:([+-])(\d{2}):?(\d{2}))?$"
)
_FR_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
#: result statuses (HL7 table 0085, as the HL7 reader maps them); blank is final
_STATUSES: dict[str, ResultStatus] = {
    "F": "F", "C": "C", "P": "P", "D": "D", "X": "X", "U": "F", "W": "D", "N": "X", "": "F",
}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d{1,3})?")
_TITLE = re.compile(r"^(?:DR\.?|DOCTEUR|PR\.?|PROFESSEUR)\s+", re.IGNORECASE)
#: the key of a Corsican NIR is computed with 2A read as 19 and 2B as 18
_CORSICA = {"2A": "19", "2B": "18"}


class _Value(TypedDict, total=False):
    """The value fields of a LabResult that a plain text value fills."""

    value_numeric: float
    value_text: str | None


# --- helpers shared by the file readers (HPRIM, CDA) -----------------------------------------


@dataclass(frozen=True)
class Nir:
    """A NIR (French social-security number, the INS matricule) as written, normalised."""

    value: str
    key_ok: bool | None  # None: written without its 2-digit key

    @property
    def sex(self) -> str | None:
        return {"1": "M", "2": "F"}.get(self.value[0]) if self.key_ok else None


def parse_nir(raw: str | None) -> Nir | None:
    """Return the NIR in ``raw`` (spaces and dots allowed) with its key checked, or None."""
    if not raw:
        return None
    value = re.sub(r"[\s.]", "", raw).upper()
    if not _NIR_SHAPE.match(value):
        return None
    if len(value) == 13:
        return Nir(value, None)
    department = value[5:7]
    number = value[:5] + _CORSICA.get(department, department) + value[7:13]
    return Nir(value, 97 - int(number) % 97 == int(value[13:]))


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


def result_status(raw: str, where: str) -> ResultStatus:
    """F/C/P/D/X as written (U, W, N as HL7 reads them), blank is final, else not final."""
    status = raw.strip().upper()
    if status in _STATUSES:
        return _STATUSES[status]
    log.warning("%s: unknown result status %r read as preliminary (P)", where, raw)
    return "P"


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


# --- the transcription ----------------------------------------------------------------------


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


def read_hprim(data: bytes, name: str, adapter: str) -> list[DiagnosisEvent]:
    """Transcribe an HPRIM file into one DiagnosisEvent per report that carries results."""
    digest = content_hash(data)
    return [
        event for report in parse_hprim(data, name)
        if (event := _to_event(report, name, adapter, digest)) is not None
    ]


def parse_hprim(data: bytes, name: str) -> list[HprimReport]:
    """Split an HPRIM médecin or HPRIM Santé file into reports; InputError when unusable."""
    if len(data) > MAX_HPRIM_BYTES:
        raise InputError(
            f"the file is {len(data)} bytes, over the {MAX_HPRIM_BYTES}-byte limit", where=name,
            fix="split it, or check that it is really a lab report",
        )
    if not data.strip():
        raise InputError("the file is empty", where=name, fix="check that the export completed")
    lines = _LINE_BREAK.split(decode_text(data, name))
    first = next((line for line in lines if line.strip()), "")
    if _SANTE_HEADER.match(first.lstrip()):
        return _parse_sante(lines, name)
    if first.lstrip().startswith("H|"):
        raise InputError(
            "HPRIM Santé header (H record) without its delimiters", where=f"{name}, line 1",
            fix="the H record must start with H|~^\\&| (field, component, repetition, escape)",
        )
    return _parse_medecin(lines, name)


# --- HPRIM médecin --------------------------------------------------------------------------


def _parse_medecin(lines: list[str], name: str) -> list[HprimReport]:
    return [_medecin_report(lines, start, lab, end, name) for start, lab, end in
            _medecin_blocks(lines, name)]


def _medecin_blocks(lines: list[str], name: str) -> Iterator[tuple[int, int | None, int]]:
    """Yield (first line, LAB line or None for a text-only report, end line) indexes."""
    i, n = 0, len(lines)
    while i < n:
        while i < n and lines[i].strip() == FILE_END:
            i += 1
        if all(not line.strip() for line in lines[i:]):
            return
        start = i
        while i < n and lines[i].strip() not in (LAB_START, FILE_END):
            i += 1
        if i == n or lines[i].strip() == FILE_END:
            yield start, None, i  # a text-only report (a letter): no results
            continue
        lab = i
        i += 1
        while i < n and lines[i].strip() not in (LAB_END, LAB_START, FILE_END):
            i += 1
        if i == n or lines[i].strip() != LAB_END:
            raise InputError(
                f"truncated: the {LAB_START} block opened on line {lab + 1} is never closed "
                f"by {LAB_END}", where=f"{name}, line {i + 1 if i < n else n}",
                fix="the transfer was probably cut short: ask the lab to send the file again",
            )
        yield start, lab, i
        i += 1


def _medecin_report(
    lines: list[str], start: int, lab: int | None, end: int, name: str
) -> HprimReport:
    body_end = end if lab is None else lab
    header = [line.strip() for line in lines[start:min(start + HEADER_LINES, body_end)]]
    header += [""] * (HEADER_LINES - len(header))
    sender_code, sender_name = _code_and_name(header[10])
    recipient_code, recipient_name = _code_and_name(header[11])
    report = HprimReport(
        format="hprim", first_line=start + 1, text="\n".join(lines[start:end + 1]),
        title=header[0] or None, family_name=header[1] or None, given_name=header[2] or None,
        birth_date=parse_date(header[6]), nir_raw=header[7] or None, nir_line=start + 8,
        file_number=header[8] or None, report_date=parse_date(header[9]),
        sender_code=sender_code, sender_name=sender_name,
        recipient_code=recipient_code, recipient_name=recipient_name,
        free_text=[line.rstrip() for line in lines[start + HEADER_LINES:body_end]],
    )
    if lab is None:
        return report
    observed = (
        datetime.combine(report.report_date, datetime.min.time(), PARIS)
        if report.report_date else None
    )
    for index in range(lab + 1, end):
        fields = [f.strip() for f in lines[index].split("|")]
        if fields[0].upper() != "RES":
            continue  # TEX, REC, blank or unknown lines: tolerated
        fields += [""] * (10 - len(fields))
        label, code, kind, value, unit, _low, _high, flag, status = fields[1:10]
        where = f"{name}, line {index + 1}"
        if not label and not code:
            if report.results and value:  # a continuation of the previous result's text
                previous = report.results[-1]
                previous.value_text = f"{previous.value_text or ''} {value}".strip()
            continue
        report.results.append(LabResult(
            test=lab_test_coding(code or label, label, None),
            value_type={"A": "ST", "N": "NM"}.get(kind.upper(), kind.upper() or None),
            **_value(value, numeric=kind.upper() == "N"),
            unit=unit or None, abnormal_flag=flag or None,
            status=result_status(status, where), observed_at=observed,
            source_ref=f"RES line {index + 1}",
        ))
    return report


def _code_and_name(line: str) -> tuple[str | None, str | None]:
    """``LG01 LABO-GARONNE`` → code, name; a first word without digits is part of the name."""
    if not line:
        return None, None
    first, _, rest = line.partition(" ")
    if any(c.isdigit() for c in first):
        return first, rest.strip() or None
    return None, line


def _value(value: str, *, numeric: bool) -> _Value:
    """The text as written and, for a numeric type, the number it reads as (like HL7 NM)."""
    if numeric and (number := parse_number(value)) is not None:
        return {"value_numeric": number, "value_text": value or None}
    return {"value_text": value or None}


def parse_number(text: str | None) -> float | None:
    """A finite decimal number, comma or point; None for "<0,5", "nan", "1e999"…"""
    text = (text or "").strip()
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text.replace(",", "."))
    return number if math.isfinite(number) else None


# --- HPRIM Santé 2.x ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Delimiters:
    field: str
    component: str
    repetition: str
    escape: str
    subcomponent: str

    def unescape(self, text: str) -> str:
        if not self.escape or self.escape not in text:
            return text
        for letter, char in (("F", self.field), ("S", self.component),
                             ("R", self.repetition), ("T", self.subcomponent)):
            text = text.replace(f"{self.escape}{letter}{self.escape}", char)
        return text.replace(f"{self.escape}E{self.escape}", self.escape)

    def components(self, value: str) -> list[str]:
        """The first repetition's components, unescaped."""
        first = value.split(self.repetition)[0] if self.repetition else value
        return [self.unescape(c).strip() for c in first.split(self.component)]

    def text(self, value: str) -> str:
        parts = value.split(self.repetition) if self.repetition else [value]
        return " ".join(p for p in (self.unescape(p).strip() for p in parts) if p)


def _delimiters(header: str) -> _Delimiters:
    m = _SANTE_HEADER.match(header)
    assert m is not None  # callers only pass a line that matched
    enc = m["enc"] + " "
    return _Delimiters(m["sep"], enc[0], enc[1], enc[2], enc[3].strip())


def _records(lines: list[str]) -> list[tuple[int, str]]:
    """(line number, record) pairs, ``A`` continuation records appended to the previous one."""
    records: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line[:1] == "A" and len(line) > 1 and not line[1].isalnum() and records:
            records[-1] = (records[-1][0], records[-1][1] + line[2:])
        else:
            records.append((number, line.strip()))
    return records


def _get(fields: list[str], index: int) -> str:
    return fields[index] if index < len(fields) else ""


def _parse_sante(lines: list[str], name: str) -> list[HprimReport]:
    reports: list[HprimReport] = []
    d = _delimiters(next(line for line in lines if line.strip()).lstrip())
    header: dict[str, str | None] = {}
    current: HprimReport | None = None
    collected: datetime | None = None
    ended = False
    for number, record in _records(lines):
        fields = record.split(d.field)
        kind = fields[0].strip().upper()
        where = f"{name}, line {number}"
        if current is not None and kind != "H":
            current.text += record + "\n"
        if kind == "H":
            if not _SANTE_HEADER.match(record):
                raise InputError("H record without delimiters", where=where,
                                 fix="the H record starts with H|~^\\&|")
            d, ended, current = _delimiters(record), False, None
            sender, receiver = d.components(_get(fields, 4)), d.components(_get(fields, 9))
            header = {
                "file": d.unescape(_get(fields, 2)) or None,
                "sender_code": sender[0] or None, "sender_name": _at(sender, 1),
                "receiver_code": receiver[0] or None, "receiver_name": _at(receiver, 1),
            }
        elif kind == "P":
            current = _sante_patient(fields, d, number, header)
            current.text = record + "\n"
            reports.append(current)
            collected = None
        elif kind == "OBR" and current is not None:
            collected = parse_ts(d.components(_get(fields, 7))[0])
            filler = [c for c in d.components(_get(fields, 3)) if c]
            current.file_number = current.file_number or (filler[0] if filler else None)
            prescriber = d.components(_get(fields, 16))
            if _RPPS.match(prescriber[0]):
                current.recipient_code, current.recipient_name = prescriber[0], _at(prescriber, 1)
        elif kind == "OBX":
            if current is None:
                raise InputError("a result (OBX) comes before any patient (P) record",
                                 where=where, fix="the file is malformed: ask the lab to resend it")
            if result := _sante_result(fields, d, collected, f"OBX line {number}", where):
                current.results.append(result)
        elif kind == "L":
            ended, current = True, None
    if not ended:
        raise InputError(
            "truncated: the HPRIM Santé message has no closing L record",
            where=f"{name}, line {len(lines)}",
            fix="the transfer was probably cut short: ask the lab to send the file again",
        )
    return reports


def _coding(code: str, display: str, system: str) -> Coding | None:
    if not code:
        return None
    return Coding(code=code[:200], system=system or CodeSystem.LOCAL, display=display or None)


def _at(parts: list[str], index: int) -> str | None:
    return (parts[index] or None) if index < len(parts) else None


def _sante_patient(
    fields: list[str], d: _Delimiters, number: int, header: dict[str, str | None]
) -> HprimReport:
    report = HprimReport(
        format="hprim-sante", first_line=number,
        sender_code=header.get("sender_code"), sender_name=header.get("sender_name"),
        title=header.get("file"),
    )
    if _RPPS.match(header.get("receiver_code") or ""):
        report.recipient_code = header["receiver_code"]
        report.recipient_name = header.get("receiver_name")
    for index in (2, 3, 4):  # requester's id, lab's id, additional id (where some put the NIR)
        value = d.components(_get(fields, index))[0]
        if parse_nir(value) and report.nir_raw is None:
            report.nir_raw, report.nir_line = value, number
        elif value and index < 4:
            report.patient_ids.append(value)
    names = d.components(_get(fields, 5))
    report.family_name, report.given_name = _at(names, 0), _at(names, 1)
    birth = parse_ts(d.components(_get(fields, 7))[0])
    report.birth_date = birth.date() if birth else None
    sex = d.components(_get(fields, 8))[0].upper()
    report.sex = sex if sex in ("M", "F", "U") else None
    return report


def _sante_result(
    fields: list[str], d: _Delimiters, collected: datetime | None, ref: str, where: str
) -> LabResult | None:
    test = d.components(_get(fields, 3))
    code, label, system = [*test, "", "", ""][:3]
    if not (code or label):
        log.warning("%s: result without a test code, skipped", where)
        return None
    alternate_test = None
    if len(test) > 3 and test[3]:
        alternate_test = lab_test_coding(test[3], _at(test, 4), _at(test, 5))
    kind = _get(fields, 2).strip().upper()
    raw = _get(fields, 5)
    value_coded: Coding | None = None
    value = _Value()
    if kind in ("CE", "CWE", "CNE", "CV", "CD"):
        parts = [*d.components(raw), "", "", "", "", "", ""]
        primary = _coding(parts[0], parts[1], parts[2])
        alternate = _coding(parts[3], parts[4], parts[5])
        local = primary is None or primary.system == CodeSystem.LOCAL
        value_coded = alternate if (local and alternate) else primary  # as the HL7 reader does
        if value_coded is None:
            value = {"value_text": parts[1] or None}
    else:
        value = _value(d.text(raw), numeric=kind in ("NM", "SN"))
    return LabResult(
        test=lab_test_coding(code or label, label or None, system or None),
        test_alternate=alternate_test, value_type=kind or None, value_coded=value_coded, **value,
        unit=d.components(_get(fields, 6))[0] or None,
        abnormal_flag=d.components(_get(fields, 8))[0] or None,
        status=result_status(d.components(_get(fields, 11))[0], where),
        observed_at=parse_ts(d.components(_get(fields, 14))[0]), collected_at=collected,
        source_ref=ref,
    )


# --- report → event -------------------------------------------------------------------------


def _to_event(report: HprimReport, name: str, adapter: str, digest: str) -> DiagnosisEvent | None:
    if not report.results:
        return None
    nir = parse_nir(report.nir_raw)
    if nir is not None and not nir.key_ok:
        log.warning(
            "%s, line %s: NIR %s has %s; not used as the INS (matching falls back to name, "
            "birth date and file number)", name, report.nir_line, nir.value,
            "no key" if nir.key_ok is None else "a wrong key",
        )
    ins = nir.value if nir is not None and nir.key_ok else None
    host_id = ins or next(iter(report.patient_ids), None) or report.file_number
    if not host_id:
        raise InputError(
            "the report has results but no patient identifier (NIR, patient id or file number)",
            where=f"{name}, line {report.first_line}",
            fix="ask the lab to fill in the NIR or its file number",
        )
    patient = PatientRef(
        host_patient_id=host_id, ins=ins,  # no ins_oid: an HPRIM NIR is not a qualified INS
        family_name=report.family_name, given_name=report.given_name,
        birth_date=report.birth_date,
        sex=report.sex or (nir.sex if nir is not None else None),
    )
    report_digest = hashlib.sha256(report.text.encode("utf-8")).hexdigest()[:16]
    source = EventSource(
        adapter=adapter, format=report.format, content_hash=digest,
        host=report.sender_name or report.sender_code or report.title or "unknown lab",
        message_id=f"{report.file_number or 'report'}#{report_digest}",
    )
    return DiagnosisEvent(
        source=source, patient=patient, practitioner=_practitioner(report),
        evidence=list(report.results),
    )


def _practitioner(report: HprimReport) -> Practitioner | None:
    m = _RPPS.match(report.recipient_code or "")
    if not m:
        return None
    name = _TITLE.sub("", report.recipient_name or "").strip()
    return Practitioner(national_id=m[1], family_name=name or None)
