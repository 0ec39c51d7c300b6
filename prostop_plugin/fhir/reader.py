"""Transcribe a FHIR R4 prefetch (a CDS Hooks call's ``Patient``, ``Observation`` and
``Condition`` searches) into the plugin's evidence model, as the HL7, HPRIM and CDA readers do.

Transcription only: every Observation becomes a :class:`LabResult` (its components too, with
the observation's code as their panel) and every Condition a :class:`DiagnosisEvidence`;
deciding what they mean is :mod:`prostop_plugin.eligibility`'s job.

Choices made here, because FHIR leaves them open:

* **Codes.** A coding's ``system`` is a FHIR URI (``http://loinc.org``,
  ``http://snomed.info/sct``, ``http://hl7.org/fhir/sid/icd-10``, ANS's
  ``https://smt.esante.gouv.fr/terminologie-cim-10``) or ``urn:oid:`` + the OID the CDA reader
  knows; each is normalised to the canonical names (``LN``, ``SCT``, ``I10``). The test is the
  first LOINC coding (else the first coding), the alternate the next one; a coded value is its
  SNOMED CT coding (else the first); a Condition's code its CIM-10 coding, else SNOMED CT.
* **Status.** final → F; amended, corrected → C; registered, preliminary → P;
  entered-in-error → D; cancelled → X; unknown → P (never final). Any other code is an error.
* **Diagnosis status** (verificationStatus): confirmed → final; refuted → ruled_out;
  unconfirmed, provisional, differential, or none → working (never upgraded to final, as the
  HL7 reader reads an empty DG1-6); entered-in-error → the Condition is left out. The
  clinicalStatus (active, resolved…) changes nothing: a resolved COVID-19 was a case, and its
  dates decide whether it is recent.
* **Dates.** An Observation's ``effective[x]`` is, for a laboratory result, its specimen's
  collection time (FHIR's "clinically relevant time"): the collection time is the specimen's
  ``collection.collected[x]`` (a contained Specimen, or one included in the Bundle), else
  ``effective[x]``; the observation time (when it was known, as OBX-14) is ``issued``, else
  ``effective[x]``. A Condition's ``recordedDate``, else its onset, the diagnosis time. Partial
  dates are the start of their period; a time without offset is French local time; a malformed
  date is an error naming its path. A Condition's onset is not read as a symptom onset:
  for an asymptomatic patient it may be the test date.
* **Patient.** An identifier under an INS system (``urn:oid:1.2.250.1.213.1.4.8`` INS-NIR,
  ``.9`` NIA, ``.10`` test NIR, ``.11`` demo; the bare OID is accepted too) is the INS only
  when its key checks out; the official name first; a partial birth date is no birth date.
* **Hostile input.** Sizes are bounded (:func:`parse_json`, the models' list limits); a
  resource of the wrong type, or about another patient than ``context.patientId``, is an
  error. Errors name the path (``observations.entry[3].resource.effectiveDateTime``), never
  the value: it may be patient data.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from prostop_plugin.errors import InputError
from prostop_plugin.fhir import resources as r
from prostop_plugin.identity import checked_ins, masked
from prostop_plugin.input_limits import check_input
from prostop_plugin.models import (
    CodeSystem,
    Coding,
    DiagnosisEvent,
    DiagnosisEvidence,
    DiagnosisStatus,
    EventSource,
    Evidence,
    LabResult,
    PatientRef,
    ResultStatus,
    normalise_system,
)
from prostop_plugin.values import lab_test_coding

log = logging.getLogger(__name__)

FORMAT = "fhir"
#: the largest FHIR JSON read (a CDS Hooks call with its prefetch: kilobytes, rarely more)
MAX_FHIR_BYTES = 4 * 1024 * 1024
#: INS systems (FR Core): INS-NIR, INS-NIA, test INS-NIR, demo INS-NIR
INS_OIDS = tuple(f"1.2.250.1.213.1.4.{n}" for n in (8, 9, 10, 11))
INS_SYSTEMS = tuple(f"urn:oid:{oid}" for oid in INS_OIDS)
#: FHIR code-system URIs the models' aliases do not know yet
_SYSTEMS = {
    "https://smt.esante.gouv.fr/terminologie-cim-10": CodeSystem.CIM10,
    "http://hl7.org/fhir/sid/icd-10-fr": CodeSystem.CIM10,
    "http://terminology.hl7.org/CodeSystem/v2-0136": CodeSystem.HL7_0136,
}
_STATUS: dict[str, ResultStatus] = {
    "final": "F", "amended": "C", "corrected": "C", "registered": "P", "preliminary": "P",
    "unknown": "P", "entered-in-error": "D", "cancelled": "X",
}
_VERIFICATION: dict[str, DiagnosisStatus] = {
    "confirmed": "final", "refuted": "ruled_out", "unconfirmed": "working",
    "provisional": "working", "differential": "working",
}
_GENDER: dict[str, Literal["F", "M", "U"]] = {
    "female": "F", "male": "M", "other": "U", "unknown": "U"}
_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9.\-]{1,64})(?:/_history/[^/]+)?")
_TYPE_NAME = re.compile(r"[A-Za-z]{1,64}")

M = TypeVar("M", bound=BaseModel)


class FhirInputError(InputError):
    """A FHIR resource cannot be used: ``where`` is its path, the message never its value."""


class _NotANumber(ValueError):
    """NaN, Infinity or -Infinity in the JSON: Python reads them, JSON has no such numbers."""


class PrefetchMissing(InputError):
    """A prefetch key the service needs is absent, or the EHR could not fill it
    (an OperationOutcome in its place): CDS Hooks answers 412."""


def parse_json(data: bytes, name: str, *, max_bytes: int = MAX_FHIR_BYTES) -> Any:
    """JSON as FHIR writes it, bounded: UTF-8, no NaN/Infinity, a reasonable nesting depth."""
    check_input(data, name, max_bytes, fix="a CDS Hooks call is kilobytes: check the sender")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 (byte {exc.start})", where=name,
                         fix="FHIR JSON is UTF-8") from None

    def refuse(constant: str) -> None:
        raise _NotANumber

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", where=f"{name}, line {exc.lineno} column "
                         f"{exc.colno}", fix="check what the sender writes") from None
    except _NotANumber:
        raise InputError("NaN and Infinity are not JSON numbers", where=name,
                         fix="check what the sender writes") from None
    except ValueError:  # an integer over Python's digit limit (sys.get_int_max_str_digits)
        raise InputError("a number has too many digits to be read", where=name,
                         fix="check what the sender writes") from None
    except RecursionError:
        raise InputError("the JSON is nested too deeply", where=name,
                         fix="FHIR resources are a few levels deep: check the sender") from None


@dataclass
class Prefetched:
    """What a prefetch says: the patient (``None`` without a Patient), the evidence found."""

    patient: PatientRef | None
    evidence: list[Evidence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def events(self, source: EventSource) -> list[DiagnosisEvent]:
        """The evidence as one event, as the other readers give it ([] without evidence)."""
        if not self.evidence:
            return []
        patient = self.patient or PatientRef(host_patient_id=source.message_id or "fhir")
        return [DiagnosisEvent(source=source, patient=patient, evidence=list(self.evidence))]


def read_prefetch(
    prefetch: object, *, patient_id: str, patient_key: str = "patient",
    observations_key: str | None = "observations", conditions_key: str | None = "conditions",
) -> Prefetched:
    """Read a CDS Hooks ``prefetch`` object; each key's value may be ``null`` (no data).

    :raises PrefetchMissing: a key is absent or holds an OperationOutcome.
    :raises FhirInputError: a resource is malformed, of the wrong type or about someone else.
    """
    if not isinstance(prefetch, Mapping):
        raise FhirInputError("the prefetch is not a JSON object", where="prefetch")
    if not patient_id.strip():
        raise FhirInputError("no patient id", where="context.patientId",
                             fix="the hook's context names the patient (patientId)")
    keys = [k for k in (patient_key, observations_key, conditions_key) if k is not None]
    for key in keys:
        if key not in prefetch:
            raise PrefetchMissing(f"prefetch {key!r} is missing", where="prefetch",
                                  fix="the EHR must fill every template the discovery lists")
        value = prefetch[key]
        if isinstance(value, Mapping) and value.get("resourceType") == "OperationOutcome":
            raise PrefetchMissing(f"the EHR could not fetch prefetch {key!r} "
                                  "(an OperationOutcome in its place)", where=f"prefetch.{key}")
    reader = _Reader(patient_id)
    found = Prefetched(reader.patient(prefetch[patient_key], patient_key))
    if observations_key is not None:
        for entry, where, specimens in reader.entries(prefetch[observations_key],
                                                      observations_key, "Observation"):
            found.evidence.extend(reader.observation(entry, where, specimens))
    if conditions_key is not None:
        for entry, where, _ in reader.entries(prefetch[conditions_key], conditions_key,
                                              "Condition"):
            diagnosis = reader.condition(entry, where)
            if diagnosis is not None:
                found.evidence.append(diagnosis)
    found.warnings = reader.warnings
    return found


def _validated(model: type[M], data: object, where: str) -> M:
    """The model, or a :class:`FhirInputError` naming the first wrong field's path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors(include_input=False, include_url=False)[0]
        path = where
        for part in problem["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        what = str(problem["msg"]).removeprefix("Value error, ")
        raise FhirInputError(what, where=path) from None


def _type_name(resource: Mapping[str, Any]) -> str:
    kind = resource.get("resourceType")
    return kind if isinstance(kind, str) and _TYPE_NAME.fullmatch(kind) else "unknown resource"


def system_of(coding: r.Coding) -> str:
    """A coding's system as the models name it (``LN``, ``SCT``, ``I10``, or as sent)."""
    system = (coding.system or "").strip().rstrip("/")
    if system in _SYSTEMS:
        return _SYSTEMS[system]
    return normalise_system(system.removeprefix("urn:oid:") or None)


def _codings(concept: r.CodeableConcept | None) -> list[tuple[str, r.Coding]]:
    """(canonical system, coding) of the codings that carry a code."""
    if concept is None:
        return []
    return [(system_of(c), c) for c in concept.coding if c.code]


def _coding(system: str, coding: r.Coding, concept: r.CodeableConcept) -> Coding:
    return Coding(code=(coding.code or "")[:200], system=system,
                  display=coding.display or concept.text or None)


def _preferred(concept: r.CodeableConcept | None, *systems: str) -> Coding | None:
    """The concept's coding in the first of ``systems`` present, else its first coding."""
    codings = _codings(concept)
    if concept is None or not codings:
        return None
    for wanted in systems:
        for system, coding in codings:
            if system == wanted:
                return _coding(system, coding, concept)
    system, coding = codings[0]
    return _coding(system, coding, concept)


class _Reader:
    """One prefetch's reading: the patient it is about, warnings."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        self.warnings: list[str] = []

    # -- the patient

    def patient(self, resource: object, key: str) -> PatientRef | None:
        where = f"prefetch.{key}"
        if resource is None:
            return None
        if not isinstance(resource, Mapping) or resource.get("resourceType") != "Patient":
            kind = _type_name(resource) if isinstance(resource, Mapping) else "not a resource"
            raise FhirInputError(f"expected a Patient, found {kind}", where=where,
                                 fix="the template is Patient/{{context.patientId}}")
        patient = _validated(r.Patient, resource, where)
        if patient.id is not None and patient.id != self.patient_id:
            raise FhirInputError("the Patient is not the one in context.patientId",
                                 where=f"{where}.id")
        ins = ins_oid = None
        for number, identifier in enumerate(patient.identifier):
            oid = (identifier.system or "").removeprefix("urn:oid:")
            if ins is None and oid in INS_OIDS and identifier.value:
                checked = checked_ins(identifier.value)
                if checked is None:
                    warning = f"{where}.identifier[{number}]: INS {masked(identifier.value)} " \
                        "has a wrong or missing key; not used as the INS"
                    log.warning("FHIR %s", warning)
                    self.warnings.append(warning)
                    continue
                ins, ins_oid = checked, oid
        names = patient.name
        name = next((n for n in names if n.use == "official"), None) \
            or next((n for n in names if n.use == "usual"), None) or (names[0] if names else None)
        return PatientRef(
            host_patient_id=patient.id or self.patient_id, ins=ins, ins_oid=ins_oid,
            family_name=(name.family or None) if name else None,
            given_name=(name.given[0] or None) if name and name.given else None,
            birth_date=patient.birthDate,
            sex=_GENDER.get(patient.gender or ""),
        )

    def about_this_patient(self, subject: r.Reference | None, where: str) -> None:
        reference = subject.reference if subject is not None else None
        if not reference:
            return
        found = _PATIENT_REFERENCE.search(reference)
        if found is None or found.group(1) != self.patient_id \
                or found.end() != len(reference):
            raise FhirInputError("the resource is not about the patient in context.patientId",
                                 where=f"{where}.subject",
                                 fix="each prefetch search is patient={{context.patientId}}")

    # -- bundles

    def entries(self, value: object, key: str, expected: str
                ) -> list[tuple[dict[str, Any], str, dict[str, r.Specimen]]]:
        """(resource, path, specimens by reference) of the Bundle's ``expected`` entries."""
        where = f"prefetch.{key}"
        if value is None:
            return []
        if not isinstance(value, Mapping) or value.get("resourceType") != "Bundle":
            kind = _type_name(value) if isinstance(value, Mapping) else "not a resource"
            raise FhirInputError(f"expected a Bundle of {expected} resources, found {kind}",
                                 where=where, fix=f"the template is a {expected} search")
        bundle = _validated(r.Bundle, value, where)
        if any(link.relation == "next" for link in bundle.link):
            self.warnings.append(f"{where}: only the first page of the search was given")
        specimens: dict[str, r.Specimen] = {}
        found: list[tuple[dict[str, Any], str]] = []
        for number, entry in enumerate(bundle.entry):
            resource, path = entry.resource, f"{where}.entry[{number}].resource"
            if resource is None:
                continue
            resource_type = resource.get("resourceType")
            mode = entry.search.mode if entry.search else None
            if resource_type == "OperationOutcome" and mode in ("outcome", None):
                self.warnings.append(f"{path}: the EHR's search reported an issue")
            elif resource_type == "Specimen":
                specimen = _validated(r.Specimen, resource, path)
                for ref in (f"Specimen/{specimen.id}" if specimen.id else None, entry.fullUrl):
                    if ref:
                        specimens[ref] = specimen
            elif resource_type == expected and mode != "include":
                found.append((dict(resource), path))
            elif mode != "include":
                raise FhirInputError(
                    f"expected {expected}, found {_type_name(resource)}", where=path,
                    fix=f"prefetch {key!r} holds the {expected} search's results")
        return [(resource, path, specimens) for resource, path in found]

    # -- observations

    def observation(self, resource: dict[str, Any], where: str,
                    specimens: dict[str, r.Specimen]) -> list[LabResult]:
        obs = _validated(r.Observation, resource, where)
        self.about_this_patient(obs.subject, where)
        status = _STATUS.get(obs.status)
        if status is None:
            raise FhirInputError("the status is not an Observation status", where=f"{where}"
                                 ".status", fix="final, amended, corrected, preliminary, "
                                 "registered, cancelled, entered-in-error or unknown")
        test, alternate = self.test_codes(obs.code)
        effective = obs.effectiveDateTime or obs.effectiveInstant or (
            obs.effectivePeriod.start if obs.effectivePeriod else None)
        observed = obs.issued or effective
        collected = self.collection(obs, where, specimens) or effective
        results: list[LabResult] = []

        def result(values: r.ObservationValue, test: Coding, alternate: Coding | None,
                   ref: str, panel: Coding | None) -> LabResult:
            found = LabResult(test=test, test_alternate=alternate, status=status,
                              observed_at=observed, collected_at=collected, source_ref=ref,
                              panel=panel)
            self.fill_value(found, values)
            return found

        if test is None:
            self.warnings.append(f"{where}: no test code (code.coding), skipped")
        elif _has_value(obs) or not obs.component:
            results.append(result(obs, test, alternate, where, None))
        for number, component in enumerate(obs.component):
            part, part_alternate = self.test_codes(component.code)
            if part is not None:
                results.append(result(component, part, part_alternate,
                                      f"{where}.component[{number}]", test))
        return results

    @staticmethod
    def test_codes(concept: r.CodeableConcept) -> tuple[Coding | None, Coding | None]:
        """The test (its LOINC coding first) and an alternate coding."""
        codings = [lab_test_coding((c.code or "")[:200], c.display or concept.text, system)
                   for system, c in _codings(concept) if c.code]
        if not codings:
            return None, None
        first = next((c for c in codings if c.system == CodeSystem.LOINC), codings[0])
        rest = [c for c in codings if c is not first]
        return first, (rest[0] if rest else None)

    @staticmethod
    def collection(obs: r.Observation, where: str,
                   specimens: dict[str, r.Specimen]) -> datetime | None:
        reference = obs.specimen.reference if obs.specimen else None
        if not reference:
            return None
        specimen = specimens.get(reference)
        if reference.startswith("#"):
            for number, item in enumerate(obs.contained):
                if item.get("resourceType") == "Specimen" and item.get("id") == reference[1:]:
                    specimen = _validated(r.Specimen, item, f"{where}.contained[{number}]")
        collection = specimen.collection if specimen is not None else None
        if collection is None:
            return None
        return collection.collectedDateTime or (
            collection.collectedPeriod.start if collection.collectedPeriod else None)

    @staticmethod
    def fill_value(result: LabResult, values: r.ObservationValue) -> None:
        flags = [c for concept in values.interpretation for c in concept.coding if c.code]
        result.abnormal_flag = flags[0].code if flags else None
        if values.valueCodeableConcept is not None:
            concept = values.valueCodeableConcept
            result.value_type = "CWE"
            result.value_coded = _preferred(concept, CodeSystem.SNOMED)
            if result.value_coded is None:
                result.value_text = concept.text or next(
                    (c.display for c in concept.coding if c.display), None)
        elif values.valueString is not None:
            result.value_type, result.value_text = "ST", values.valueString or None
        elif values.valueBoolean is not None:
            result.value_type = "CWE"
            result.value_coded = Coding(code="Y" if values.valueBoolean else "N",
                                        system=CodeSystem.HL7_0136)
        elif values.valueQuantity is not None:
            quantity = values.valueQuantity
            result.value_type = "NM" if quantity.comparator is None else "SN"
            result.value_numeric = quantity.value if quantity.comparator is None else None
            number = "" if quantity.value is None else f"{quantity.value:g}"
            result.value_text = f"{quantity.comparator or ''}{number}" or None
            result.unit = quantity.unit or quantity.code
        elif values.valueInteger is not None:
            result.value_type, result.value_numeric = "NM", float(values.valueInteger)
            result.value_text = str(values.valueInteger)
        elif values.valueDateTime is not None:
            result.value_type = "DTM"
            result.value_text = values.valueDateTime.date().isoformat()

    # -- conditions

    def condition(self, resource: dict[str, Any], where: str) -> DiagnosisEvidence | None:
        condition = _validated(r.Condition, resource, where)
        self.about_this_patient(condition.subject, where)
        verification = [c.code for _, c in _codings(condition.verificationStatus)]
        if "entered-in-error" in verification:
            self.warnings.append(f"{where}: entered in error, left out")
            return None
        status = next((_VERIFICATION[c] for c in verification if c in _VERIFICATION), None)
        if status is None:
            self.warnings.append(f"{where}.verificationStatus: absent or unknown, read as "
                                 "working (not final)")
            status = "working"
        code = _preferred(condition.code, CodeSystem.CIM10, CodeSystem.SNOMED)
        text = condition.code.text if condition.code is not None and code is None else None
        if code is None and not text:
            self.warnings.append(f"{where}: no diagnosis code nor text, skipped")
            return None
        recorded = condition.recordedDate or condition.onsetDateTime or (
            condition.onsetPeriod.start if condition.onsetPeriod else None)
        return DiagnosisEvidence(code=code, text=text, status=status, recorded_at=recorded,
                                 source_ref=where)


def _has_value(values: r.ObservationValue) -> bool:
    return any(v is not None for v in (
        values.valueCodeableConcept, values.valueString, values.valueBoolean,
        values.valueQuantity, values.valueInteger, values.valueDateTime,
    )) or bool(values.interpretation)

