"""Map one HPRIM report to a DiagnosisEvent: patient (checked NIR), sender, practitioner."""

from __future__ import annotations

import hashlib
import logging
import re

from prostop_plugin.errors import InputError
from prostop_plugin.hprim.report import HprimReport
from prostop_plugin.identity import RPPS, masked, parse_nir
from prostop_plugin.models import DiagnosisEvent, EventSource, PatientRef, Practitioner

log = logging.getLogger(__name__)

_TITLE = re.compile(r"^(?:DR\.?|DOCTEUR|PR\.?|PROFESSEUR)\s+", re.IGNORECASE)


def report_to_event(
    report: HprimReport, name: str, adapter: str, digest: str
) -> DiagnosisEvent | None:
    """The report's event (None without results); InputError when it names no patient."""
    if not report.results:
        return None
    nir = parse_nir(report.nir_raw)
    if nir is not None and not nir.key_ok:
        log.warning(
            "%s, line %s: NIR %s has %s; not used as the INS (matching falls back to name, "
            "birth date and file number)", name, report.nir_line, masked(nir.value),
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
    sender = report.sender_name or report.sender_code  # whose local codes (the map's key)
    return DiagnosisEvent(
        source=source, patient=patient, practitioner=_practitioner(report),
        evidence=[r.model_copy(update={"sender": sender}) for r in report.results],
    )


def _practitioner(report: HprimReport) -> Practitioner | None:
    m = RPPS.match(report.recipient_code or "")
    if not m:
        return None
    name = _TITLE.sub("", report.recipient_name or "").strip()
    return Practitioner(national_id=m[1], family_name=name or None)
