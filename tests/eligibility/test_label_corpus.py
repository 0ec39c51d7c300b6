"""Results as French laboratories send them: ``prostop check`` is right on the label corpus.

``tests/eligibility/corpus`` holds HL7 v2.3.1, v2.4 and v2.5, HPRIM médecin and Santé and CDA
files whose tests carry a laboratory's own code, or none, and are named only in words — with the
expected decision of each (``expected.json``, the shared corpus's layout, plus ``from_text``: the
decision rests on words and must say so to the physician).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prostop_plugin.cli import main
from tests.test_corpus import cases

CORPUS = Path(__file__).parent / "corpus"
MANIFEST = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
CASES = [pytest.param(*case, id=case[3]) for case in cases(CORPUS)]
WORDS_FR, WORDS_EN = "d'après le libellé", "recognised from the label"


def check(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main(["check", "--json", *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    result: dict[str, Any] = json.loads(out.out)
    return result


@pytest.mark.parametrize(("as_of", "files", "expected", "name"), CASES)
def test_check_decides_like_the_manifest(
    as_of: str, files: list[Path], expected: dict[str, Any], name: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in expected.get("policy", {}).items():  # as an admin would set them
        monkeypatch.setenv(f"PROSTOP_ELIGIBILITY__{key.upper()}", json.dumps(value))
    result = check(capsys, "--as-of", as_of, *map(str, files))
    assert (result["decision"], result["rule"]) == (expected["decision"], expected["rule"]), \
        (expected["note"], result["reasons"])
    said_fr = " ".join(r["fr"] for r in result["reasons"])
    said_en = " ".join(r["en"] for r in result["reasons"])
    if expected["from_text"]:  # the physician can see that words decided, and which words
        assert WORDS_FR in said_fr and WORDS_EN in said_en, result["reasons"]
        assert all(WORDS_FR in e["summary"]["fr"] for e in result["evidence"]
                   if e["kind"] in ("naat", "antigen", "serology")), result["evidence"]
    else:
        assert WORDS_FR not in said_fr and WORDS_EN not in said_en, result["reasons"]


def test_every_file_is_in_the_manifest_and_every_kind_of_case_is_there() -> None:
    listed = {key.partition("@")[0] for key in MANIFEST["single_files"]}
    listed |= {name for bundle in MANIFEST["bundles"] for name in bundle["files"]}
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "expected.json"}
    assert listed == on_disk
    for prefix, version in (("hl7_231_", b"|2.3.1|"), ("hl7_24_", b"|2.4|"),
                            ("hl7_25_", b"|2.5|")):
        files = list(CORPUS.glob(f"{prefix}*"))
        assert files and all(version in f.read_bytes().split(b"\r")[0] for f in files), prefix
    assert list(CORPUS.glob("hprim_*.hpr")) and list(CORPUS.glob("cda_*.xml"))
    assert any(p.read_bytes().startswith(b"H|") for p in CORPUS.glob("*.hpr"))  # HPRIM Santé
    rules = {case["rule"] for case in MANIFEST["single_files"].values()}
    assert {"naat_positive", "naat_negative", "naat_indeterminate", "antigen_only",
            "serology_only", "no_covid_evidence", "technique_unrecognised",
            "diagnosis_confirmed", "suspected"} <= rules


def test_every_other_virus_antigen_serology_and_negative_case_is_not_eligible() -> None:
    """No false issuance: the guards hold on every such case of the corpus."""
    refused = ("antigen_only", "serology_only", "naat_negative", "naat_indeterminate",
               "no_covid_evidence", "technique_unrecognised", "suspected")
    for name, case in MANIFEST["single_files"].items():
        if case["rule"] in refused:
            assert case["decision"] == "not_eligible", name
        if "policy" not in case and any(word in name for word in (
                "antigen", "serology", "grippe", "influenza", "seasonal", "negati", "variant")):
            assert case["decision"] == "not_eligible", name
