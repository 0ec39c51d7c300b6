"""The FHIR R4 prefetch reader: the corpus's cases in FHIR decide as the corpus's files do;
Patient, Observation and Condition fields land where the other readers put them; hostile input
gets a typed error naming the path (never the value); fuzzed, every outcome is events or an
InputError."""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prostop_plugin.eligibility import evaluate
from prostop_plugin.errors import InputError
from prostop_plugin.fhir import (
    FhirInputError,
    Prefetched,
    PrefetchMissing,
    parse_json,
    read_prefetch,
)
from prostop_plugin.models import (
    CodeSystem,
    DiagnosisEvent,
    DiagnosisEvidence,
    EventSource,
    LabResult,
)
from prostop_plugin.readers import read_bytes
from prostop_plugin.values import PARIS
from tests.corpus_location import CORPUS
from tests.fhir import samples as s
from tests.fixtures.fuzzing import fuzz, json_paths, mutate, only_typed_errors

AS_OF = date(2020, 11, 20)
EXPECTED = json.loads((CORPUS / "expected.json").read_text("utf-8"))
CORPUS_FILES = {
    "oru_rtpcr_positive": ["oru_rtpcr_positive.hl7"],
    "oru_rtpcr_negative": ["oru_rtpcr_negative.hl7"],
    "adt_u071_final": ["adt_u071_final.hl7"],
    "adt_u072_no_ct": ["adt_u072_no_ct.hl7"],
    "adt_u072_no_ct + oru_ct_groundglass": ["adt_u072_no_ct.hl7", "oru_ct_groundglass.hl7"],
}


def read(prefetch: Any, patient_id: str = s.PATIENT_ID) -> Prefetched:
    return read_prefetch(prefetch, patient_id=patient_id)


def labs(found: Prefetched) -> list[LabResult]:
    return [e for e in found.evidence if isinstance(e, LabResult)]


def diagnoses(found: Prefetched) -> list[DiagnosisEvidence]:
    return [e for e in found.evidence if isinstance(e, DiagnosisEvidence)]


def expected_decision(files: list[str]) -> str:
    if len(files) == 1:
        return str(EXPECTED["single_files"][files[0]]["decision"])
    [found] = [b for b in EXPECTED["bundles"] if b["files"] == files]
    return str(found["decision"])


# -- the corpus, in FHIR ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "observations", "conditions", "ins", "decision"),
                         s.CORPUS_CASES, ids=[c[0] for c in s.CORPUS_CASES])
def test_the_corpus_in_fhir_decides_as_the_corpus_files(
    name: str, observations: list[dict[str, Any]], conditions: list[dict[str, Any]], ins: str,
    decision: str,
) -> None:
    found = read(s.prefetch(observations, conditions, s.patient(ins)))
    from_fhir = evaluate(found.evidence, as_of=AS_OF)
    files = CORPUS_FILES[name]
    evidence = [item for f in files for event in read_bytes((CORPUS / f).read_bytes(), f)
                for item in event.evidence]
    from_files = evaluate(evidence, as_of=AS_OF)
    assert from_fhir.decision == expected_decision(files) == decision
    assert from_fhir.rule == from_files.rule
    assert from_fhir.reference_date == from_files.reference_date
    assert found.patient is not None and found.patient.ins == ins


# -- the patient ------------------------------------------------------------------------------


def test_the_patient_official_name_ins_birth_date_and_sex() -> None:
    found = read(s.prefetch())
    patient = found.patient
    assert patient is not None
    assert (patient.host_patient_id, patient.ins, patient.ins_oid) == (
        s.PATIENT_ID, s.DUPONT_INS, "1.2.250.1.213.1.4.10")
    assert (patient.family_name, patient.given_name) == ("DUPONT", "Camille")
    assert (patient.birth_date, patient.sex) == (date(1980, 1, 15), "F")
    assert found.evidence == [] and found.warnings == []


@pytest.mark.parametrize("system", [s.INS_NIR, "1.2.250.1.213.1.4.8"])
def test_an_ins_nir_with_spaces_is_normalised_and_the_nir_oid_kept(system: str) -> None:
    patient = read(s.prefetch(the_patient=s.patient("2 80 01 33 063 123 76",
                                                    system=system))).patient
    assert patient is not None and (patient.ins, patient.ins_oid) == (
        s.DUPONT_INS, "1.2.250.1.213.1.4.8")


def test_an_ins_with_a_wrong_key_is_not_the_ins_and_is_logged_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        found = read(s.prefetch(the_patient=s.patient("280013306312377")))
    assert found.patient is not None and found.patient.ins is None
    assert found.warnings and "wrong or missing key" in found.warnings[0]
    assert "280013306312377" not in caplog.text and "2…77" in caplog.text


def test_an_identifier_outside_the_ins_systems_is_not_the_ins() -> None:
    patient = read(s.prefetch(the_patient=s.patient(
        s.DUPONT_INS, system="urn:oid:1.2.250.1.71.4.2.1"))).patient
    assert patient is not None and patient.ins is None


def test_a_partial_birth_date_is_no_birth_date_and_no_patient_is_none() -> None:
    patient = read(s.prefetch(the_patient=s.patient(birth="1980-01"))).patient
    assert patient is not None and patient.birth_date is None
    assert read(s.prefetch() | {"patient": None}).patient is None


# -- observations -----------------------------------------------------------------------------


def test_a_positive_rt_pcr_as_the_hl7_reader_gives_it() -> None:
    [result] = labs(read(s.prefetch([s.rtpcr()])))
    [hl7] = [e for e in read_bytes((CORPUS / "oru_rtpcr_positive.hl7").read_bytes(), "oru.hl7")
             [0].evidence if isinstance(e, LabResult) and e.test.code == "94500-6"]
    for name in ("value_type", "status", "collected_at", "observed_at"):
        assert getattr(result, name) == getattr(hl7, name), name
    assert result.test.is_(CodeSystem.LOINC, "94500-6")
    assert result.value_coded is not None and result.value_coded.is_(CodeSystem.SNOMED,
                                                                      "10828004")
    assert result.abnormal_flag == "POS" and result.source_ref == \
        "prefetch.observations.entry[0].resource"


@pytest.mark.parametrize(("status", "letter"), [
    ("final", "F"), ("amended", "C"), ("corrected", "C"), ("preliminary", "P"),
    ("registered", "P"), ("unknown", "P"), ("entered-in-error", "D"), ("cancelled", "X"),
])
def test_observation_status(status: str, letter: str) -> None:
    [result] = labs(read(s.prefetch([s.rtpcr(status=status)])))
    assert result.status == letter


@pytest.mark.parametrize(("status", "decision"), [
    ("final", "confirmed"), ("corrected", "confirmed"), ("preliminary", "not_eligible"),
    ("entered-in-error", "not_eligible"),
])
def test_only_a_final_or_corrected_positive_confirms(status: str, decision: str) -> None:
    found = read(s.prefetch([s.rtpcr(status=status)]))
    assert evaluate(found.evidence, as_of=AS_OF).decision == decision


def test_a_result_in_words_a_boolean_a_quantity_and_a_date() -> None:
    words = s.observation("94309-2", "SARS-CoV-2 RNA", valueString="POSITIF")
    yes = s.observation("95419-8", "Has symptoms", valueBoolean=True)
    number = s.ct_value()
    onset = s.observation("65222-2", "Symptom onset", valueDateTime="2020-11-16T08:00:00Z")
    found = labs(read(s.prefetch([words, yes, number, onset])))
    assert [(r.value_type, r.value_text) for r in found] == [
        ("ST", "POSITIF"), ("CWE", None), ("NM", "24.1"), ("DTM", "2020-11-16")]
    assert found[1].value_coded is not None and found[1].value_coded.is_(
        CodeSystem.HL7_0136, "Y")
    assert (found[2].value_numeric, found[2].unit) == (24.1, "{Ct}")
    assert evaluate(labs(read(s.prefetch([words]))), as_of=AS_OF).decision == "confirmed"


def test_a_local_code_first_and_loinc_second_gives_the_loinc_test() -> None:
    obs = s.rtpcr()
    obs["code"] = s.concept(s.coding("https://labo-garonne.example/codes", "COV2PCR",
                                     "PCR SARS-CoV-2"), s.coding(s.LOINC, "94500-6"))
    [result] = labs(read(s.prefetch([obs])))
    assert result.test.is_(CodeSystem.LOINC, "94500-6")
    assert result.test_alternate is not None and result.test_alternate.code == "COV2PCR"


def test_the_collection_time_comes_from_the_specimen_contained_or_included() -> None:
    collected = "2020-11-17T18:00:00+01:00"
    contained = s.rtpcr(specimen={"reference": "#sp1"}, contained=[
        {"resourceType": "Specimen", "id": "sp1", "collection": {"collectedDateTime": collected}}])
    included = s.rtpcr(specimen={"reference": "Specimen/sp2"})
    bundle = s.bundle(included)
    bundle["entry"].append({"resource": {"resourceType": "Specimen", "id": "sp2", "collection": {
        "collectedPeriod": {"start": collected}}}, "search": {"mode": "include"}})
    moment = datetime(2020, 11, 17, 17, 0, tzinfo=UTC)
    [first] = labs(read(s.prefetch([contained])))
    [second] = labs(read(s.prefetch() | {"observations": bundle}))
    assert first.collected_at == second.collected_at == moment
    assert first.observed_at == datetime(2020, 11, 19, 10, 5, tzinfo=timezone(timedelta(hours=1)))


def test_components_are_results_of_the_observation_panel() -> None:
    panel = s.observation("94531-1", "SARS-CoV-2 RNA panel", component=[
        {"code": s.concept(s.coding(s.LOINC, "94500-6")),
         "valueCodeableConcept": s.concept(s.coding(s.SNOMED, "260373001", "Detected"))},
        {"code": s.concept(s.coding(s.LOINC, "94745-7")), "valueQuantity": {"value": 31}},
    ])
    found = labs(read(s.prefetch([panel])))
    assert [r.test.code for r in found] == ["94500-6", "94745-7"]
    assert all(r.panel is not None and r.panel.code == "94531-1" for r in found)
    assert found[0].source_ref == "prefetch.observations.entry[0].resource.component[0]"
    assert evaluate(found, as_of=AS_OF).decision == "confirmed"


def test_dates_partial_local_and_zoned() -> None:
    def observed(effective: str) -> datetime | None:
        [result] = labs(read(s.prefetch([s.rtpcr(effective=effective, issued=None)])))
        return result.observed_at

    assert observed("2020-11") == datetime(2020, 11, 1, tzinfo=PARIS)
    assert observed("2020-11-18T09:30:00") == datetime(2020, 11, 18, 9, 30, tzinfo=PARIS)
    assert observed("2020-11-18T08:30:00.123456789Z") == datetime(
        2020, 11, 18, 8, 30, 0, 123456, tzinfo=UTC)


def test_an_observation_without_code_is_skipped_with_a_warning() -> None:
    obs = s.rtpcr()
    obs["code"] = {"text": "PCR"}
    found = read(s.prefetch([obs]))
    assert found.evidence == [] and "no test code" in found.warnings[0]


# -- conditions -------------------------------------------------------------------------------


@pytest.mark.parametrize(("verification", "status"), [
    ("confirmed", "final"), ("refuted", "ruled_out"), ("provisional", "working"),
    ("unconfirmed", "working"), ("differential", "working"), (None, "working"),
])
def test_verification_status_gives_the_diagnosis_status(verification: str | None,
                                                        status: str) -> None:
    [diagnosis] = diagnoses(read(s.prefetch(conditions=[s.condition(
        verification=verification)])))
    assert diagnosis.status == status


def test_a_condition_entered_in_error_is_left_out() -> None:
    found = read(s.prefetch(conditions=[s.condition(verification="entered-in-error")]))
    assert found.evidence == [] and "entered in error" in found.warnings[0]


@pytest.mark.parametrize("system", [
    s.ICD10, "https://smt.esante.gouv.fr/terminologie-cim-10/", "urn:oid:2.16.840.1.113883.6.3",
])
def test_cim10_systems(system: str) -> None:
    [diagnosis] = diagnoses(read(s.prefetch(conditions=[s.condition(system=system)])))
    assert diagnosis.code is not None and diagnosis.code.is_(CodeSystem.CIM10, "U07.1")
    assert diagnosis.recorded_at == datetime(2020, 11, 19, tzinfo=PARIS)


def test_cim10_preferred_to_snomed_and_snomed_alone_decides() -> None:
    both = s.condition()
    both["code"]["coding"].insert(0, s.coding(s.SNOMED, "840539006", "COVID-19"))
    [diagnosis] = diagnoses(read(s.prefetch(conditions=[both])))
    assert diagnosis.code is not None and diagnosis.code.system == CodeSystem.CIM10
    snomed = s.condition("840539006", system=s.SNOMED, display="COVID-19")
    found = read(s.prefetch(conditions=[snomed]))
    assert evaluate(found.evidence, as_of=AS_OF).decision == "confirmed"


def test_a_condition_in_words_and_dated_by_its_onset() -> None:
    words = s.condition(recorded=None, onsetDateTime="2020-11-18T10:00:00+01:00")
    words["code"] = {"text": "COVID-19 confirmée"}
    [diagnosis] = diagnoses(read(s.prefetch(conditions=[words])))
    assert (diagnosis.code, diagnosis.text) == (None, "COVID-19 confirmée")
    assert diagnosis.recorded_at == datetime(2020, 11, 18, 9, 0, tzinfo=UTC)


# -- missing, wrong, hostile ------------------------------------------------------------------


def test_a_missing_key_or_an_operation_outcome_is_a_missing_prefetch() -> None:
    for key in ("patient", "observations", "conditions"):
        damaged = s.prefetch()
        del damaged[key]
        with pytest.raises(PrefetchMissing, match=key):
            read(damaged)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
    with pytest.raises(PrefetchMissing, match="OperationOutcome"):
        read(s.prefetch() | {"observations": outcome})


def damaged(path: str, value: Any) -> dict[str, Any]:
    """The positive prefetch with ``value`` at ``path`` (dots; numbers index lists)."""
    found = s.prefetch([s.rtpcr()], [s.condition()])
    target: Any = found
    steps = [int(p) if p.isdigit() else p for p in path.split(".")]
    for step in steps[:-1]:
        target = target[step]
    target[steps[-1]] = value
    return found


@pytest.mark.parametrize(("path", "value", "where", "what"), [
    ("observations", s.patient(), "prefetch.observations", "expected a Bundle of Observation"),
    ("observations", [s.rtpcr()], "prefetch.observations", "not a resource"),
    ("observations.entry.0.resource", s.condition(), "prefetch.observations.entry[0].resource",
     "expected Observation, found Condition"),
    ("conditions.entry.0.resource", s.rtpcr(), "prefetch.conditions.entry[0].resource",
     "expected Condition, found Observation"),
    ("patient", s.bundle(), "prefetch.patient", "expected a Patient, found Bundle"),
    ("patient.id", "pat-43", "prefetch.patient.id", "not the one in context.patientId"),
    ("observations.entry.0.resource.subject", {"reference": "Patient/pat-43"},
     "prefetch.observations.entry[0].resource.subject", "not about the patient"),
    ("conditions.entry.0.resource.subject", {"reference": "Group/everyone"},
     "prefetch.conditions.entry[0].resource.subject", "not about the patient"),
    ("observations.entry.0.resource.effectiveDateTime", "18/11/2020",
     "prefetch.observations.entry[0].resource.effectiveDateTime", "not a FHIR dateTime"),
    ("observations.entry.0.resource.issued", "2020-02-30T10:00:00Z",
     "prefetch.observations.entry[0].resource.issued", "not a real date"),
    ("observations.entry.0.resource.issued", "2020-11-19T10:00:00+15:00",
     "prefetch.observations.entry[0].resource.issued", "UTC offset"),
    ("conditions.entry.0.resource.recordedDate", 20201119,
     "prefetch.conditions.entry[0].resource.recordedDate", "a date/time is a string"),
    ("patient.birthDate", "1980-13-01", "prefetch.patient.birthDate", "not a real date"),
    ("observations.entry.0.resource.status", "done",
     "prefetch.observations.entry[0].resource.status", "not an Observation status"),
    ("observations.entry.0.resource.code", "94500-6",
     "prefetch.observations.entry[0].resource.code", "valid dictionary"),
    ("observations.entry.0.resource.valueString", 1,
     "prefetch.observations.entry[0].resource.valueString", "valid string"),
    ("observations.entry.0.resource.valueQuantity", {"value": 1e999},
     "prefetch.observations.entry[0].resource.valueQuantity.value", "finite number"),
    ("observations.entry", [{"resource": s.rtpcr()}] * 2001, "prefetch.observations.entry",
     "at most 2000 items"),
    ("patient.name.0.family", "X" * 10_001, "prefetch.patient.name[0].family",
     "at most 10000 characters"),
])
def test_wrong_types_and_malformed_values_name_the_path_not_the_value(
    path: str, value: Any, where: str, what: str,
) -> None:
    with pytest.raises(FhirInputError) as caught:
        read(damaged(path, value))
    assert caught.value.where == where
    assert what in caught.value.what
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    for secret in ("18/11/2020", "2020-02-30", "1980-13-01", "done", "XXXXXXXX", "pat-43"):
        assert secret not in message


@pytest.mark.parametrize(("data", "what"), [
    (b"", "empty"),
    (b"[" * 100_000, "nested too deeply"),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    (b'{"a": NaN}', "NaN and Infinity"),
    (b'{"a": ' + b"9" * 5000 + b"}", "too many digits"),
    (b'{"a": "\xff"}', "not UTF-8"),
    (b'{"a": ', "not JSON"),
    (b" " * 10 + b"{}" + b" " * (4 * 1024 * 1024), "over the"),
])
def test_unreadable_json_is_a_one_line_input_error(data: bytes, what: str) -> None:
    with pytest.raises(InputError, match=what) as caught:
        parse_json(data, "request")
    assert len(str(caught.value).splitlines()) == 1


def test_without_a_patient_id_nothing_is_read() -> None:
    with pytest.raises(FhirInputError, match="no patient id"):
        read(s.prefetch(), patient_id=" ")


def test_a_search_page_is_read_with_a_warning_and_outcomes_are_not_results() -> None:
    bundle = s.bundle(s.rtpcr())
    bundle["link"] = [{"relation": "next", "url": "https://ehr.example/fhir?page=2"}]
    bundle["entry"].append({"resource": {"resourceType": "OperationOutcome"},
                            "search": {"mode": "outcome"}})
    found = read(s.prefetch() | {"observations": bundle})
    assert len(found.evidence) == 1 and len(found.warnings) == 2


def test_events_carry_the_evidence() -> None:
    found = read(s.prefetch([s.rtpcr()], [s.condition()]))
    source = EventSource(adapter="cds_hooks", host="ehr", message_id="hook-1", format="fhir")
    [event] = found.events(source)
    assert event.patient == found.patient and len(event.evidence) == 2
    assert read(s.prefetch()).events(source) == []


# -- fuzzed: events or a typed error, never another exception ---------------------------------

SOURCE = EventSource(adapter="cds_hooks", host="fuzz", message_id="fuzz", format="fhir")
SEED = s.prefetch([s.rtpcr(), s.ct_value(), *s.symptoms(), s.chest_ct(),
                   s.rtpcr(specimen={"reference": "#sp"}, contained=[
                       {"resourceType": "Specimen", "id": "sp",
                        "collection": {"collectedDateTime": "2020-11-18"}}]),
                   s.observation("94531-1", "panel", component=[
                       {"code": s.concept(s.coding(s.LOINC, "94500-6")),
                        "valueString": "POSITIF"}])],
                  [s.condition(), s.condition("U07.2", verification="provisional")])
SEED_BYTES = json.dumps(SEED).encode()


def read_bytes_as_prefetch(data: bytes) -> list[DiagnosisEvent]:
    found = read(parse_json(data, "fuzz.json"))
    events = found.events(SOURCE)
    if events:
        evaluate(events[0].evidence, as_of=AS_OF)  # and the doctrine takes whatever was read
    return events


PATHS = json_paths(SEED)[1:]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["2020-11-18", "2020-11-18T09:30:00Z", "final",
                                             "Patient/pat-42", "#sp", "Observation"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)


@fuzz(150)
@given(st.lists(st.tuples(st.sampled_from(PATHS), JSON_VALUES), min_size=1, max_size=3))
def test_any_value_anywhere_gives_events_or_input_errors(
    edits: list[tuple[tuple[Any, ...], Any]],
) -> None:
    prefetch = copy.deepcopy(SEED)
    for path, value in edits:
        target: Any = prefetch
        try:
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced what this path went through
    only_typed_errors(read_bytes_as_prefetch, json.dumps(prefetch).encode())


@fuzz(150)
@given(st.lists(st.tuples(st.integers(0, len(SEED_BYTES)), st.binary(max_size=8)), max_size=6),
       st.integers(0, len(SEED_BYTES)))
def test_mutated_prefetches_give_events_or_input_errors(
    edits: list[tuple[int, bytes]], cut: int,
) -> None:
    only_typed_errors(read_bytes_as_prefetch, mutate(SEED_BYTES, edits, cut))
