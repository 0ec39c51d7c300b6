"""The local-code map: ``[eligibility.local_codes]`` and a CSV file, checked when settings load."""

from __future__ import annotations

from pathlib import Path

import pytest

from prostop_plugin.cli import main
from prostop_plugin.config import load_settings
from prostop_plugin.eligibility import EligibilityPolicy
from prostop_plugin.eligibility.local_codes import loinc_problem, read_csv
from prostop_plugin.errors import ConfigError
from prostop_plugin.models import Coding

COVPCR = Coding(code="COVPCR", system="L")
SHARED = Path(__file__).resolve().parents[1] / "shared_corpus"


def site(tmp_path: Path, toml: str, csv: bytes | None = None) -> Path:
    (tmp_path / "prostop.toml").write_text(toml, encoding="utf-8")
    if csv is not None:
        (tmp_path / "codes.csv").write_bytes(csv)
    return tmp_path / "prostop.toml"


@pytest.mark.parametrize(("value", "problem"), [
    ("94309-2", None), ("2345-7", None), ("94309-3", "check digit should be 2"),
    ("94309", "not a LOINC code"), ("COVPCR", "not a LOINC code"), ("94309-22", "not a LOINC"),
])
def test_loinc_codes_are_checked(value: str, problem: str | None) -> None:
    found = loinc_problem(value)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_toml_tables_per_sender_and_for_every_sender(tmp_path: Path) -> None:
    settings = load_settings(site(tmp_path, """
        [eligibility.local_codes]
        "COVPCR" = "94309-2"
        [eligibility.local_codes."LABO  Dordogne"]
        "SCOV2" = "94500-6"
        "KALISIL:CVAG" = "94558-4"
    """))
    mapping = settings.eligibility.local_code_map()
    assert mapping.lookup("anyone", COVPCR) == "94309-2"
    assert mapping.lookup("labo dordogne", Coding(code="scov2", system="L")) == "94500-6"
    assert mapping.lookup("LABO-AUTRE", Coding(code="SCOV2", system="L")) is None
    assert mapping.lookup("LABO DORDOGNE", Coding(code="CVAG", system="KALISIL")) == "94558-4"
    assert mapping.lookup("LABO DORDOGNE", Coding(code="CVAG", system="L")) is None
    assert mapping.lookup(None, Coding(code="94309-2", system="LN")) is None  # LOINC is LOINC


def test_a_csv_file_as_excel_saves_it(tmp_path: Path) -> None:
    csv = ("# codes des laboratoires\r\németteur;code;loinc;libellé;système\r\n"
           "LABO-MISTRAL;SCOV2;94309-2;SARS-CoV-2 RT-PCR;\r\n"
           "*;AGCOV;94558-4;Test antigénique;\r\n"
           "LABO-MISTRAL;CVAG;94558-4;;KALISIL\r\n\r\n").encode("cp1252")
    settings = load_settings(site(tmp_path, '[eligibility]\nlocal_codes_file = "codes.csv"\n',
                                  csv))
    assert settings.eligibility.local_codes_file == tmp_path / "codes.csv"  # beside the toml
    mapping = settings.eligibility.local_code_map()
    assert mapping.lookup("LABO-MISTRAL", Coding(code="SCOV2", system="L")) == "94309-2"
    assert mapping.lookup("LABO-X", Coding(code="AGCOV", system="L")) == "94558-4"
    assert mapping.lookup("LABO-MISTRAL", Coding(code="CVAG", system="KALISIL")) == "94558-4"


@pytest.mark.parametrize("csv", [
    b"\xef\xbb\xbfsender,code,loinc\nLABO,SCOV2,94309-2\n",
    b"sender\tcode\tloinc\nLABO\tSCOV2\t94309-2\n",
    b"Sender;Code_local;LOINC\n\"LABO\";\"SCOV2\";\"94309-2\"\n",
])
def test_csv_separators_and_header_spellings(tmp_path: Path, csv: bytes) -> None:
    (tmp_path / "codes.csv").write_bytes(csv)
    assert [row[1:] for row in read_csv(tmp_path / "codes.csv")] == [("LABO", "SCOV2",
                                                                        "94309-2")]


@pytest.mark.parametrize(("csv", "where", "what"), [
    (b"sender;code;loinc\nLABO;SCOV2;94309-3\n", "line 2", "check digit should be 2"),
    (b"sender;code;lonic\n", "line 1", "unknown column(s) 'lonic'"),
    (b"sender;libelle\nLABO;x\n", "line 1", "no column code nor loinc"),
    (b"sender;code;loinc\nLABO;SCOV2;94309-2;extra\n", "line 2", "4 cells for 3 columns"),
    (b"sender;code;loinc\nLABO;;94309-2\n", "line 2", "a local code is empty"),
    (b"sender;code;loinc\nLABO;SCOV2;94309-2\nlabo;scov2;94500-6\n", "line 3",
     "mapped to 94309-2"),
    (b"# only a comment\n", "codes.csv", "empty"),
])
def test_a_wrong_csv_stops_the_start_naming_the_line(tmp_path: Path, csv: bytes, where: str,
                                                      what: str) -> None:
    config = site(tmp_path, '[eligibility]\nlocal_codes_file = "codes.csv"\n', csv)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert where in (caught.value.where or "") and what in caught.value.what
    assert caught.value.fix


@pytest.mark.parametrize(("toml", "where", "what"), [
    ('[eligibility.local_codes]\n"COVPCR" = "94309-3"\n', "'COVPCR'", "check digit"),
    ('[eligibility.local_codes.LABO]\n"SCOV2" = "SARS"\n', "[eligibility.local_codes.LABO]",
     "not a LOINC code"),
    ('[eligibility]\nlocal_codes_file = "missing.csv"\n', "missing.csv", "cannot be read"),
])
def test_a_wrong_toml_map_stops_the_start(tmp_path: Path, toml: str, where: str,
                                          what: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(site(tmp_path, toml))
    assert where in (caught.value.where or "") and what in caught.value.what


def test_the_toml_and_the_csv_must_agree(tmp_path: Path) -> None:
    config = site(tmp_path, '[eligibility]\nlocal_codes_file = "codes.csv"\n'
                  '[eligibility.local_codes.LABO]\n"SCOV2" = "94500-6"\n',
                  b"sender;code;loinc\nLABO;SCOV2;94309-2\n")
    with pytest.raises(ConfigError, match="mapped to 94500-6"):
        load_settings(config)


def test_the_command_line_says_it_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = site(tmp_path, '[eligibility]\nlocal_codes_file = "codes.csv"\n',
                  b"sender;code;loinc\nLABO;SCOV2;94309-3\n")
    code = main(["--config", str(config), "check", str(SHARED / "oru_rtpcr_positive.hl7")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "codes.csv, line 2" in err
    assert "Traceback" not in err


def test_a_policy_changed_after_loading_rebuilds_its_map() -> None:
    policy = EligibilityPolicy(local_codes={"COVPCR": "94309-2"})
    assert policy.local_code_map().lookup(None, COVPCR) == "94309-2"
    changed = policy.model_copy(update={"local_codes": {"COVPCR": "94558-4"}})
    assert changed.local_code_map().lookup(None, COVPCR) == "94558-4"
    assert policy.local_code_map().lookup(None, COVPCR) == "94309-2"
