"""FHIR R4 resources as an EHR's server returns them for the CDS Hooks prefetch templates: the
shared corpus's cases (November 2020) written in FHIR, for the reader's and the service's tests.

Same patients, codes and dates as the HL7 files they translate (``oru_rtpcr_positive.hl7``,
``adt_u072_no_ct.hl7`` + ``oru_ct_groundglass.hl7``…), so a decision can be compared with the
corpus's ``expected.json``.
"""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
INS_NIR_TEST = "urn:oid:1.2.250.1.213.1.4.10"
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"

PATIENT_ID = "pat-42"
DUPONT_INS = "280013306312376"  # the corpus's HPRIM / ORU positive patient
MARTIN_INS = "167032432204539"  # the corpus's U07.2 / chest-CT patient


def patient(ins: str | None = DUPONT_INS, *, family: str = "DUPONT", given: str = "Camille",
            birth: str = "1980-01-15", system: str = INS_NIR_TEST,
            patient_id: str = PATIENT_ID) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": patient_id,
        "identifier": [{"system": "https://cabinet-durand.example/dossiers", "value": "DOS-4411"}],
        "name": [{"use": "usual", "family": "MARTIN-DUPONT", "given": ["Cam"]},
                 {"use": "official", "family": family, "given": [given, "Marie"]}],
        "gender": "female", "birthDate": birth,
    }
    if ins is not None:
        resource["identifier"].append({"system": system, "value": ins})
    return resource


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    found = {"system": system, "code": code}
    return found | ({"display": display} if display else {})


def concept(*codings: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"coding": list(codings)}
    return found | ({"text": text} if text else {})


def observation(loinc: str, display: str, *, status: str = "final",
                effective: str | None = "2020-11-18T09:30:00+01:00",
                issued: str | None = "2020-11-19T10:05:00+01:00",
                patient_id: str = PATIENT_ID, **value: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": f"obs-{loinc}", "status": status,
        "category": [concept(coding("http://terminology.hl7.org/CodeSystem/observation-category",
                                    "laboratory"))],
        "code": concept(coding(LOINC, loinc, display)),
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if effective is not None:
        resource["effectiveDateTime"] = effective
    if issued is not None:
        resource["issued"] = issued
    return resource | value


def rtpcr(result: str = "positive", **fields: Any) -> dict[str, Any]:
    """94500-6 with SNOMED positive (10828004) or negative (260385009), as oru_rtpcr_*."""
    value = {"positive": coding(SNOMED, "10828004", "positif"),
             "negative": coding(SNOMED, "260385009", "négatif")}[result]
    flag = {"positive": "POS", "negative": "NEG"}[result]
    return observation(
        "94500-6", "SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA with "
        "probe detection", valueCodeableConcept=concept(value),
        interpretation=[concept(coding(INTERPRETATION, flag))], **fields)


def ct_value(**fields: Any) -> dict[str, Any]:
    return observation("94745-7", "SARS-CoV-2 RNA Ct", valueQuantity={
        "value": 24.1, "unit": "{Ct}", "system": "http://unitsofmeasure.org", "code": "{Ct}"},
        **fields)


def glucose(**fields: Any) -> dict[str, Any]:
    return observation("2345-7", "Glucose [Mass/volume] in Serum or Plasma", valueQuantity={
        "value": 0.95, "unit": "g/L"}, **fields)


def chest_ct(**fields: Any) -> dict[str, Any]:
    """24627-2 with the ground-glass finding, flagged abnormal, as oru_ct_groundglass.hl7."""
    return observation(
        "24627-2", "CT Chest", effective="2020-11-19T08:50:00+01:00", issued=None,
        valueCodeableConcept=concept(coding(SNOMED, "1217294009", "Ground glass opacity")),
        interpretation=[concept(coding(INTERPRETATION, "A"))], **fields)


def symptoms(**fields: Any) -> list[dict[str, Any]]:
    """Symptoms yes (95419-8) and their onset (65222-2), as adt_u072_no_ct.hl7."""
    return [
        observation("95419-8", "Has symptoms related to condition of interest",
                    effective="2020-11-19", issued=None, valueBoolean=True, **fields),
        observation("65222-2", "Date and time of symptom onset", effective="2020-11-19",
                    issued=None, valueDateTime="2020-11-16", **fields),
    ]


def condition(code: str = "U07.1", *, verification: str | None = "confirmed",
              system: str = ICD10, display: str = "COVID-19, virus identifié",
              recorded: str | None = "2020-11-19", patient_id: str = PATIENT_ID,
              **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition", "id": f"cond-{code}",
        "clinicalStatus": concept(coding(CLINICAL, "active")),
        "code": concept(coding(system, code, display)),
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if verification is not None:
        resource["verificationStatus"] = concept(coding(VERIFICATION, verification))
    if recorded is not None:
        resource["recordedDate"] = recorded
    return resource | fields


def bundle(*resources: dict[str, Any], mode: str = "match") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"https://ehr.cabinet.example/fhir/{r['resourceType']}/"
                       f"{r.get('id', n)}", "resource": r, "search": {"mode": mode}}
                      for n, r in enumerate(resources)]}


def prefetch(observations: list[dict[str, Any]] | None = None,
             conditions: list[dict[str, Any]] | None = None,
             the_patient: dict[str, Any] | None = None) -> dict[str, Any]:
    """The three prefetch keys as a CDS client fills them (``null`` when a search is empty)."""
    return {
        "patient": the_patient if the_patient is not None else patient(),
        "observations": bundle(*observations) if observations else None,
        "conditions": bundle(*conditions) if conditions else None,
    }


#: the corpus's cases in FHIR: (name, observations, conditions, patient's INS, decision)
CORPUS_CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], str, str]] = [
    ("oru_rtpcr_positive", [rtpcr("positive"), ct_value()], [], DUPONT_INS, "confirmed"),
    ("oru_rtpcr_negative", [rtpcr("negative")], [], DUPONT_INS, "not_eligible"),
    ("adt_u071_final", [], [condition("U07.1")], DUPONT_INS, "confirmed"),
    ("adt_u072_no_ct", symptoms(), [condition("U07.2", verification="provisional",
                                              display="COVID-19, virus non identifié")],
     MARTIN_INS, "not_eligible"),
    ("adt_u072_no_ct + oru_ct_groundglass", [*symptoms(), chest_ct()],
     [condition("U07.2", verification="provisional", display="COVID-19, virus non identifié")],
     MARTIN_INS, "probable"),
]
