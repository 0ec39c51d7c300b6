"""Write-back files: names stable per issuance, atomic, well-formed, per configured format."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import SecretStr

from prostop_filedrop.plugin import FiledropPlugin
from prostop_filedrop.writeback import document_id
from prostop_plugin import eligibility
from prostop_plugin.config import Settings
from prostop_plugin.documents import cda_note_problems
from prostop_plugin.errors import ConfigError
from prostop_plugin.hl7.cda import NS, hardened_parser
from prostop_plugin.models import (
    ConfirmationDecision,
    IssuanceRecord,
    IssuanceState,
    Practitioner,
)
from prostop_plugin.readers import read_bytes
from tests.adapters.filedrop.helpers import corpus, filedrop_section

DURAND = Practitioner(national_id="810003456789", family_name="DURAND", given_name="Claire",
                      profession_code="10")
ISSUED = datetime(2020, 11, 20, 9, 30, tzinfo=UTC)


def issued_record(name: str = "hprim_rtpcr_positif.hpr", adapter: str = "filedrop",
                  code: str | None = "7H3K9Q") -> IssuanceRecord:
    [event] = read_bytes(corpus(name), name, adapter)
    return IssuanceRecord(
        id="a1b2c3d4e5f6", episode="episode", state=IssuanceState.ISSUED, event=event,
        decision=eligibility.evaluate(event.evidence, as_of=date(2020, 11, 20)),
        confirmation=ConfirmationDecision(approved=True, practitioner=DURAND,
                                          qr_unavailable_attested=True, decided_at=ISSUED),
        code=SecretStr(code) if code else None, code_last2=code[-2:] if code else None,
        valid_from=ISSUED, valid_until=ISSUED + timedelta(hours=1),
        issued_at=ISSUED if code else None,
    )


def configured(tmp_path: Path, **overrides: Any) -> FiledropPlugin:
    plugin = FiledropPlugin()
    plugin.prostop_configure(Settings(data_dir=tmp_path / "var", adapter={
        "filedrop": filedrop_section(tmp_path, **overrides)}))
    return plugin


def test_both_formats_land_in_the_outbox_named_after_the_issuance(tmp_path: Path) -> None:
    plugin = configured(tmp_path, write_back_format="both")
    receipt = plugin.prostop_write_back(issued_record())
    outbox = tmp_path / "outbox"
    cda, hpr = outbox / "prostop-a1b2c3d4e5f6.xml", outbox / "prostop-a1b2c3d4e5f6.hpr"
    assert sorted(outbox.iterdir()) == sorted([cda, hpr])
    assert receipt is not None and receipt.adapter == "filedrop"
    assert receipt.target == f"{cda}, {hpr}"
    assert receipt.detail == "CDA R2 note + HPRIM report (latin-1)"
    assert cda.stat().st_mode & 0o777 == 0o640


def test_the_cda_note_is_well_formed_and_carries_code_patient_and_source(
    tmp_path: Path
) -> None:
    plugin = configured(tmp_path, write_back_format="cda")
    plugin.prostop_write_back(issued_record("cda_crbio_positive.xml"))
    data = (tmp_path / "outbox" / "prostop-a1b2c3d4e5f6.xml").read_bytes()
    assert cda_note_problems(data) == []
    root = etree.fromstring(data, parser=hardened_parser())
    patient_ids = root.xpath("//hl7:recordTarget/hl7:patientRole/hl7:id", namespaces=NS)
    assert ("1.2.250.1.213.1.4.10", "280013306312376") in [
        (i.get("root"), i.get("extension")) for i in patient_ids]  # the INS, as qualified
    assert root.xpath("string(//hl7:patient/hl7:name/hl7:family)", namespaces=NS) == "DUPONT"
    assert root.xpath("string(/hl7:ClinicalDocument/hl7:id/@root)", namespaces=NS) == \
        document_id("a1b2c3d4e5f6").upper()
    source = root.xpath("//hl7:externalDocument/hl7:id", namespaces=NS)[0]
    assert (source.get("root"), source.get("extension")) == ("1.2.250.1.999.1.1",
                                                             "CRBIO-2020-7710050")
    note = "".join(root.xpath("//hl7:section/hl7:text//text()", namespaces=NS))
    assert "7H3K9Q" in note and "Déclaration StopCovid" in note
    assert root.xpath("string(//hl7:assignedAuthor/hl7:id/@extension)", namespaces=NS) == \
        "810003456789"


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_the_hprim_report_is_in_the_configured_encoding(tmp_path: Path, encoding: str) -> None:
    plugin = configured(tmp_path, hprim_encoding=encoding)
    receipt = plugin.prostop_write_back(issued_record())
    assert receipt is not None and receipt.detail == f"HPRIM report ({encoding})"
    data = (tmp_path / "outbox" / "prostop-a1b2c3d4e5f6.hpr").read_bytes()
    assert "Déclaration StopCovid".encode(encoding) in data
    lines = data.decode(encoding).split("\r\n")
    assert lines[1:3] == ["DUPONT", "CAMILLE"]  # what the EHR matches the patient on
    assert lines[6] == "15/01/1980" and lines[8] == "a1b2c3d4e5f6"  # birth date, file number
    assert lines[-2] == "****FINFICHIER****"
    assert any("7H3K9Q" in line for line in lines)
    assert not any(line.startswith("****LAB****") for line in lines)


def test_a_repeated_write_back_replaces_the_files_with_the_same_bytes(tmp_path: Path) -> None:
    plugin = configured(tmp_path, write_back_format="both")
    plugin.prostop_write_back(issued_record())
    outbox = tmp_path / "outbox"
    first = {p.name: p.read_bytes() for p in outbox.iterdir()}
    plugin.prostop_write_back(issued_record())
    assert {p.name: p.read_bytes() for p in outbox.iterdir()} == first


def test_records_of_other_adapters_or_without_a_code_are_not_ours(tmp_path: Path) -> None:
    plugin = configured(tmp_path, write_back_format="both")
    assert plugin.prostop_write_back(issued_record(adapter="hl7v2_mllp")) is None
    assert plugin.prostop_write_back(issued_record(code=None)) is None
    assert list((tmp_path / "outbox").iterdir()) == []


def test_a_missing_outbox_fails_the_write_back_visibly(tmp_path: Path) -> None:
    plugin = configured(tmp_path)
    (tmp_path / "outbox").rmdir()
    with pytest.raises(ConfigError, match="the outbox folder does not exist"):
        plugin.prostop_write_back(issued_record())
    assert not (tmp_path / "outbox").exists()  # not silently created at a mistyped path


def test_the_adapter_describes_itself(tmp_path: Path) -> None:
    found: list[Any] = []
    FiledropPlugin().prostop_register_adapters(found.append)
    [info] = found
    assert info.name == "filedrop" and not info.has_confirmation_ui
    assert {"hprim", "hl7v2", "cda"} <= set(info.formats)
    assert "Dépôt de fichiers" in info.title

