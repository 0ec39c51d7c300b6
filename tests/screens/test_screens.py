"""The screens the console and the demo EHR share: one set (no copy left in either host), the
shared words in both languages with a host's own way of saying a few, the card where the host
is no record (the console), and where the request came from in words."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prostop_plugin import (
    IssuanceRecord,
    IssuanceState,
    Prostop,
    Settings,
    WriteBackReceipt,
    code_card,
    host_text,
    source_label,
)
from prostop_plugin.texts.screens import SCREENS, screen_text
from tests.adapters.demo_ehr.test_card_status import issued
from tests.fixtures.builders import rtpcr_event
from tests.paths import REPO

SHARED = REPO / "prostop_plugin" / "screens"
HOSTS = (REPO / "prostop_plugin" / "console", REPO / "adapters" / "demo_ehr" / "prostop_demo_ehr")


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_the_shared_words_have_the_same_keys_and_placeholders_in_both_languages() -> None:
    assert SCREENS["fr"].keys() == SCREENS["en"].keys()
    for key, french in SCREENS["fr"].items():
        assert placeholders(french) == placeholders(SCREENS["en"][key]), key


def test_a_host_says_a_shared_word_its_way_else_the_shared_way() -> None:
    own = {"fr": {"code.written": "Reporté au dossier."}, "en": {"code.written": "In the record."}}
    assert host_text(own, "fr", "code.written") == "Reporté au dossier."
    assert host_text(own, "fr", "code.valid_until", until="19/11/2020 à 15h32") \
        == screen_text("fr", "code.valid_until", until="19/11/2020 à 15h32") \
        == "Valable jusqu'au 19/11/2020 à 15h32"
    with pytest.raises(KeyError):
        host_text(own, "fr", "no.such.key")


def test_one_set_of_templates_styles_and_font_no_copy_in_a_host() -> None:
    fonts = [p for p in REPO.glob("**/code-font.ttf") if ".venv" not in p.parts]
    assert fonts == [SHARED / "static" / "fonts" / "code-font.ttf"]
    for host in HOSTS:
        names = {p.name for p in (host / "templates").iterdir()} \
            | {p.name for p in (host / "static").iterdir()}
        assert not names & {"handout.html", "handout.css", "handout_pdf.py", "fonts"}, host
        assert not (host / "handout_pdf.py").exists()
        for template in (host / "templates").glob("*.html"):
            text = template.read_text(encoding="utf-8")
            defined = set(re.findall(r"{%-?\s*macro\s+(\w+)", text))
            assert not defined & {"code_card", "confirmation_dialog", "handout_sheet"}, template


def stored(prostop: Prostop, adapter: str, fmt: str | None, host: str = "LABO-GARONNE"
           ) -> IssuanceRecord:
    event = rtpcr_event(when=datetime.now(UTC), adapter=adapter)
    event = event.model_copy(update={"source": event.source.model_copy(
        update={"format": fmt, "host": host})})
    return IssuanceRecord(id="x1", episode="e", state=IssuanceState.RECEIVED, event=event)


def test_where_a_request_came_from_in_words(tmp_path: Path) -> None:
    with Prostop.open(Settings(data_dir=tmp_path / "var")) as prostop:
        assert source_label(stored(prostop, "demo_ehr", "ui"), "fr", here="demo_ehr") \
            == "saisie en consultation"
        assert source_label(stored(prostop, "demo_ehr", "hl7v2"), "fr", here="demo_ehr") \
            == "fichier importé dans le dossier — LABO-GARONNE (HL7 v2)"
        assert source_label(stored(prostop, "filedrop", "hprim"), "fr") \
            == "dépôt de fichiers — LABO-GARONNE (HPRIM)"
        assert source_label(stored(prostop, "hl7v2_mllp", "hl7v2"), "en") \
            == "lab HL7 link — LABO-GARONNE (HL7 v2)"
        assert source_label(stored(prostop, "mssante", "cda"), "fr") \
            == "module mssante — LABO-GARONNE (CDA)"


def test_where_the_host_is_no_record_a_written_back_code_is_in_the_patients_record(
    tmp_path: Path,
) -> None:
    """The console keeps no record: "written back" is the state, wherever the record is."""
    with Prostop.open(Settings(data_dir=tmp_path / "var")) as prostop:
        filedrop = WriteBackReceipt(adapter="filedrop", target="/srv/outbox/x.hpr",
                                    detail="HPRIM (import)")
        record = prostop.ledger.get(issued(prostop, [filedrop], 1))
        card = code_card(prostop, record, "fr")
        assert card.written_back and card.delivered_elsewhere == ()
        assert card.code == "7H3K9Q" and card.code_grouped == "7H3 K9Q"
        assert card.source.startswith("module test — ")
        in_the_ehr = code_card(prostop, record, "fr", here="demo_ehr")
        assert not in_the_ehr.written_back
        assert in_the_ehr.delivered_elsewhere == ("filedrop : HPRIM (import)",)
