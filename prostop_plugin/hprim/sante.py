"""HPRIM Santé 2.x (ASTM E1238) records H, P, OBR, OBX, C, A, L, with delimiters from H."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from prostop_plugin.errors import IncompleteInputError, InputError
from prostop_plugin.hprim.report import HprimReport, TextValue, result_status, text_value
from prostop_plugin.identity import RPPS, parse_nir
from prostop_plugin.models import CodeSystem, Coding, LabResult
from prostop_plugin.values import lab_test_coding, parse_ts

log = logging.getLogger(__name__)

#: an H record declaring its delimiters: ``H|~^\&|`` (components ``~``, repetitions ``^``)
SANTE_HEADER = re.compile(r"^H(?P<sep>[^\w\s])(?P<enc>[^\w\s]{3,4})(?P=sep)")

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
    m = SANTE_HEADER.match(header)
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


def parse_sante(lines: list[str], name: str) -> list[HprimReport]:
    """One report per P record; InputError when a result has no patient or L is missing."""
    reports: list[HprimReport] = []
    d = _delimiters(next(line for line in lines if line.strip()).lstrip())
    header: dict[str, str | None] = {}
    current: HprimReport | None = None
    collected: datetime | None = None
    panel: Coding | None = None
    ended = False
    for number, record in _records(lines):
        fields = record.split(d.field)
        kind = fields[0].strip().upper()
        where = f"{name}, line {number}"
        if current is not None and kind != "H":
            current.text += record + "\n"
        if kind == "H":
            if not SANTE_HEADER.match(record):
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
            collected = panel = None
        elif kind == "OBR" and current is not None:
            collected = parse_ts(d.components(_get(fields, 7))[0])
            ordered = [*d.components(_get(fields, 4)), *[""] * 6]
            panel = _coding(ordered[0], ordered[1], ordered[2]) or _coding(*ordered[3:6])
            filler = [c for c in d.components(_get(fields, 3)) if c]
            current.file_number = current.file_number or (filler[0] if filler else None)
            prescriber = d.components(_get(fields, 16))
            if RPPS.match(prescriber[0]):
                current.recipient_code, current.recipient_name = prescriber[0], _at(prescriber, 1)
        elif kind == "OBX":
            if current is None:
                raise InputError("a result (OBX) comes before any patient (P) record",
                                 where=where, fix="the file is malformed: ask the lab to resend it")
            if result := _sante_result(fields, d, collected, f"OBX line {number}", where):
                result.panel = panel
                current.results.append(result)
        elif kind == "L":
            ended, current = True, None
    if not ended:
        raise IncompleteInputError(
            "truncated: the HPRIM Santé message has no closing L record",
            where=f"{name}, line {len(lines)}",
            fix="the transfer was probably cut short, or the file is still being written: if "
            "it does not complete, ask the lab to send the file again",
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
    if RPPS.match(header.get("receiver_code") or ""):
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
    value = TextValue()
    if kind in ("CE", "CWE", "CNE", "CV", "CD"):
        parts = [*d.components(raw), "", "", "", "", "", ""]
        primary = _coding(parts[0], parts[1], parts[2])
        alternate = _coding(parts[3], parts[4], parts[5])
        local = primary is None or primary.system == CodeSystem.LOCAL
        value_coded = alternate if (local and alternate) else primary  # as the HL7 reader does
        if value_coded is None:
            value = {"value_text": parts[1] or None}
    else:
        value = text_value(d.text(raw), numeric=kind in ("NM", "SN"))
    return LabResult(
        test=lab_test_coding(code or label, label or None, system or None),
        test_alternate=alternate_test, value_type=kind or None, value_coded=value_coded, **value,
        unit=d.components(_get(fields, 6))[0] or None,
        abnormal_flag=d.components(_get(fields, 8))[0] or None,
        status=result_status(d.components(_get(fields, 11))[0], where),
        observed_at=parse_ts(d.components(_get(fields, 14))[0]), collected_at=collected,
        source_ref=ref,
    )

