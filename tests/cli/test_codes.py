"""``prostop codes unknown``: the local codes to map, per sender, with a block to paste."""

from __future__ import annotations

import json
import os
import tomllib
from datetime import date
from pathlib import Path

import pytest

from prostop_plugin.cli import COMMAND_GROUPS, codes, main
from prostop_plugin.codewatch import SeenCodes
from prostop_plugin.eligibility.observations import CodeSeen

CORPUS = Path(__file__).resolve().parents[1] / "eligibility" / "corpus"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("PROSTOP_") and name != "PROSTOP_DISABLE_PLUGIN_AUTOLOAD":
            monkeypatch.delenv(name)
    path = tmp_path / "prostop.toml"
    path.write_text('data_dir = "var"\n', encoding="utf-8")
    store = SeenCodes(tmp_path / "var")
    store.record("a", [CodeSeen("LABO-MISTRAL", "L", "SCOV2", "SARS-CoV-2 RT-PCR", "naat"),
                       CodeSeen("LABO-MISTRAL", "L", "AGCOV", "Test antigénique SARS-CoV-2",
                                "antigen")],
                 date(2020, 11, 18))
    store.record("b", [CodeSeen("LABO-MISTRAL", "L", "SCOV2", "SARS-CoV-2 RT-PCR", "naat"),
                       CodeSeen("BIOLAB ATLANTIQUE", "KALISIL", "RSCOV", "Recherche SARS-CoV-2",
                                "unspecified")], date(2020, 11, 19))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out


def test_the_command_is_registered() -> None:
    assert codes in COMMAND_GROUPS


def test_lists_per_sender_in_french_with_a_block_to_paste(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--config", str(config), "codes", "unknown")
    assert code == 0
    assert "3 code(s) local(aux) lu(s) d'après leur libellé" in out
    assert "SCOV2 (L) — 2 résultat(s), du 18/11/2020 au 19/11/2020" in out
    assert "libellé : « SARS-CoV-2 RT-PCR »" in out
    assert "lu comme : SARS-CoV-2, technique non reconnue" in out
    block = out[out.index("[eligibility.local_codes"):]
    pasted = tomllib.loads(block)  # what the admin pastes is valid TOML
    assert pasted["eligibility"]["local_codes"]["LABO-MISTRAL"] == {
        "SCOV2": "94309-2", "AGCOV": "94558-4"}
    assert '# "KALISIL:RSCOV" = "?????-?"' in block  # technique unknown: to read, not guessed


def test_json_english_and_one_sender(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--config", str(config), "codes", "unknown", "--json",
                    "--sender", "biolab  atlantique")
    rows = json.loads(out)
    assert code == 0 and [(r["sender"], r["code"], r["results"]) for r in rows] == [
        ("BIOLAB ATLANTIQUE", "RSCOV", 1)]
    code, out = run(capsys, "--config", str(config), "codes", "unknown", "--lang", "en")
    assert "read from their label, to map to a LOINC code" in out and "read as: antigen" in out


def test_a_code_mapped_since_is_no_longer_listed(config: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config.write_text('data_dir = "var"\n[eligibility.local_codes.LABO-MISTRAL]\n'
                      '"SCOV2" = "94309-2"\n"AGCOV" = "94558-4"\n', encoding="utf-8")
    code, out = run(capsys, "--config", str(config), "codes", "unknown", "--json")
    assert code == 0 and [r["code"] for r in json.loads(out)] == ["RSCOV"]


def test_files_given_are_read_instead(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(CORPUS / n) for n in ("hl7_24_multiplex_sarscov2_positive.hl7",
                                        "hl7_24_multiplex_influenza_positive.hl7",
                                        "hprim_grippe_positive.hpr")]
    code, out = run(capsys, "--config", str(config), "codes", "unknown", "--json", *files)
    assert code == 0
    (row,) = json.loads(out)
    assert (row["sender"], row["code"], row["results"], row["first_seen"]) == (
        "CH-VALLEE", "MXSC2", 2, None)


def test_nothing_seen_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROSTOP_CONFIG", raising=False)
    (tmp_path / "prostop.toml").write_text('data_dir = "var"\n', encoding="utf-8")
    code, out = run(capsys, "--config", str(tmp_path / "prostop.toml"), "codes", "unknown")
    assert code == 0 and "Aucun code local à associer" in out
    assert not (tmp_path / "var" / "codes_seen.sqlite3").exists()  # reading creates nothing


def test_a_generic_label_is_never_suggested_as_is(config: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """'Résultat' was read as an RT-PCR because of its order: the lab may use that code for
    every order, so the block leaves it commented, with the reason."""
    code, out = run(capsys, "--config", str(config), "codes", "unknown",
                    str(CORPUS / "hl7_24_generic_result_under_pcr_order.hl7"))
    assert code == 0 and "libellé générique" in out
    assert '# "RESCOV" = "94309-2"' in out and '\n"RESCOV"' not in out
