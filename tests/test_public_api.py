"""What a vendor's code sees: every type it meets is importable from the root, the packages
ship ``py.typed`` (a vendor's ``mypy --strict`` reads them), the test kit is a pytest plugin,
a confirmation request says where it came from, a refusal speaks to the physician in French
and English."""

from __future__ import annotations

import inspect
import typing
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pydantic
import pytest

import prostop_plugin
from prostop_plugin import (
    ConfirmationDecision,
    ConfirmationRefused,
    EligibilityDecision,
    Practitioner,
    Prostop,
    hooks,
)
from prostop_plugin.issuance.requests import check_decision
from prostop_plugin.testing import RuntimeFactory, positive_pcr_event

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = {
    ".": "prostop_plugin",
    "adapters/demo_ehr": "prostop_demo_ehr",
    "adapters/filedrop": "prostop_filedrop",
    "adapters/hl7v2_mllp": "prostop_hl7v2_mllp",
    "examples/medicab": "prostop_medicab",
}
EXPORTED = {getattr(prostop_plugin, name) for name in prostop_plugin.__all__}


def project_classes(annotation: object) -> set[type]:
    found: set[type] = set()
    for arg in typing.get_args(annotation):
        found |= project_classes(arg)
    if inspect.isclass(annotation) and annotation.__module__.startswith("prostop_plugin"):
        found.add(annotation)
    return found


def test_every_type_in_an_exported_model_is_exported() -> None:
    missing = {
        f"{model.__name__}.{name}: {cls.__module__}.{cls.__name__}"
        for model in EXPORTED
        if inspect.isclass(model) and issubclass(model, pydantic.BaseModel)
        for name, field in model.model_fields.items()
        for cls in project_classes(field.annotation)
        if cls not in EXPORTED
    }
    assert missing == set()


def test_every_type_in_a_hook_or_the_runtime_api_is_exported() -> None:
    namespace = {name: getattr(prostop_plugin, name) for name in prostop_plugin.__all__}
    functions = [getattr(hooks, n) for n in dir(hooks) if n.startswith("prostop_")]
    functions += [f for n, f in inspect.getmembers(Prostop, inspect.isfunction)
                  if not n.startswith("_")]
    missing = set()
    for function in functions:
        # hooks.py imports its types for type checking only: resolved from the root alone
        for annotation in typing.get_type_hints(function, localns=namespace).values():
            missing |= {f"{function.__name__}: {cls.__name__}"
                        for cls in project_classes(annotation) if cls not in EXPORTED}
    assert missing == set()


@pytest.mark.parametrize("folder", sorted(DISTRIBUTIONS))
def test_every_wheel_ships_py_typed_and_its_entry_points(folder: str, tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    wheel = next(iter(WheelBuilder(str(ROOT / folder)).build(
        directory=str(tmp_path), versions=["standard"])))
    names = zipfile.ZipFile(wheel).namelist()
    assert f"{DISTRIBUTIONS[folder]}/py.typed" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert ("[pytest11]" if folder == "." else "[prostop]") in text


def test_the_test_kit_is_a_pytest_plugin_any_project_gets(pytester: pytest.Pytester) -> None:
    """A vendor's project, with nothing but the installed package: the fixtures are there."""
    pytester.makepyfile(test_vendor="""
        def test_a_code(prostop_runtime, prostop_physician, prostop_simulator):
            from prostop_plugin.testing import issued_record
            record = issued_record(prostop_runtime, physician=prostop_physician)
            assert record.code_last2
            assert [e for e in prostop_simulator.logged_requests()
                    if e["path"].endswith("/generate/short")]
    """)
    # in a process of its own, as the vendor's would run: an in-process run restores
    # sys.modules after itself, leaving later tests with two copies of the adapters' modules
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_confirmation_request_names_its_source(make_prostop_runtime: RuntimeFactory) -> None:
    runtime = make_prostop_runtime()
    event = positive_pcr_event("medicab", on=runtime.engine.today())
    recorded = runtime.record(event)
    assert recorded.confirmation is not None
    assert recorded.confirmation.source == event.source
    assert runtime.engine.pending()[0].source.adapter == "medicab"


def refusals() -> list[tuple[EligibilityDecision, ConfirmationDecision]]:
    today = date(2020, 11, 20)
    doctor = Practitioner(national_id="810003456789", profession_code="10")
    confirmed = EligibilityDecision(decision="confirmed", rule="test", reasons=[],
                                    requires_qr_attestation=True, as_of=today)
    rtpcr = confirmed.model_copy(update={"requires_qr_attestation": False,
                                         "requires_rtpcr_attestation": True})
    not_eligible = confirmed.model_copy(update={"decision": "not_eligible"})
    yes = ConfirmationDecision(approved=True, practitioner=doctor, qr_unavailable_attested=True)
    return [
        (confirmed, ConfirmationDecision(approved=False, practitioner=doctor)),
        (confirmed, yes.model_copy(update={"practitioner": Practitioner(
            national_id="810007770456", profession_code="21")})),
        (not_eligible, yes),
        (confirmed, yes.model_copy(update={"qr_unavailable_attested": False})),
        (rtpcr, yes),
        (confirmed, yes.model_copy(update={"symptom_onset": today + timedelta(days=1)})),
    ]


@pytest.mark.parametrize(("eligible", "answer"), refusals())
def test_every_refusal_speaks_to_the_physician_in_french_and_english(
    eligible: EligibilityDecision, answer: ConfirmationDecision
) -> None:
    with pytest.raises(ConfirmationRefused) as refused:
        check_decision(eligible, answer, allowed_professions=["10", "60"],
                       today=date(2020, 11, 20))
    texts = refused.value
    assert texts.fr and texts.en and texts.fr != texts.en
    assert texts.text("fr") == texts.fr and texts.text("en") == texts.en
