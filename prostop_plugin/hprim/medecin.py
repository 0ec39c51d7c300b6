"""HPRIM médecin text reports: 12 header lines, free text, a ``****LAB****`` block of RES lines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prostop_plugin.errors import IncompleteInputError, InputError
from prostop_plugin.hprim.report import HprimReport, result_status, text_value
from prostop_plugin.models import LabResult
from prostop_plugin.values import PARIS, lab_test_coding, parse_date

LAB_START, LAB_END, FILE_END = "****LAB****", "****FIN****", "****FINFICHIER****"
HEADER_LINES = 12


def parse_medecin(lines: list[str], name: str) -> list[HprimReport]:
    """One report per block of the file (several patients may follow one another)."""
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
        if i == n and lines[-1].strip():
            raise IncompleteInputError(  # a letter ends with a line break: this was cut short
                "truncated: the file ends in the middle of a line, before any "
                f"{LAB_START} block", where=f"{name}, line {n}",
                fix="the transfer was probably cut short, or the file is still being written: "
                "if it does not complete, ask the lab to send the file again",
            )
        if i == n or lines[i].strip() == FILE_END:
            yield start, None, i  # a text-only report (a letter): no results
            continue
        lab = i
        i += 1
        while i < n and lines[i].strip() not in (LAB_END, LAB_START, FILE_END):
            i += 1
        if i == n or lines[i].strip() != LAB_END:
            error = IncompleteInputError if i == n else InputError  # at the end: cut short
            raise error(
                f"truncated: the {LAB_START} block opened on line {lab + 1} is never closed "
                f"by {LAB_END}", where=f"{name}, line {i + 1 if i < n else n}",
                fix="the transfer was probably cut short, or the file is still being written: "
                "if it does not complete, ask the lab to send the file again",
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
            **text_value(value, numeric=kind.upper() == "N"),
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


