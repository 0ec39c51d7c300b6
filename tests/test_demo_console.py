"""The demo's second path (issue 12): a practice software importing lab files, confirmed in the
physician console. ``prostop demo --scripted`` plays it end to end (the HPRIM dropped in the
inbox, the notice with the console's link in the import folder, the request confirmed as the
console does, the code file in the import folder); ``make demo`` starts the console on
127.0.0.1:8710 with the example report and prints the walkthrough."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prostop_plugin.config import Settings
from prostop_plugin.demo import DEMO_ADAPTERS, run_scripted_demo
from prostop_plugin.demo_console import (
    CONSOLE_LISTEN,
    EXAMPLE_NAME,
    HPRIM_TEMPLATE,
    example_hprim,
    interactive_part,
)
from prostop_plugin.readers import read_bytes
from prostop_plugin.texts.formatting import in_paris
from tests.corpus_location import CORPUS

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def transcript() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run_scripted_demo() == 0
    return out.getvalue()


def test_the_example_is_the_shared_corpus_report_with_todays_dates() -> None:
    corpus = (CORPUS / EXAMPLE_NAME).read_bytes()
    assert HPRIM_TEMPLATE.format(
        family="DUPONT", given="CAMILLE", birth="15/01/1980", nir="280013306312376",
        request="LG-7710040", reported="19/11/2020", sampled="18/11/2020",
    ).encode("latin-1") == corpus
    [event] = read_bytes(example_hprim(NOW), EXAMPLE_NAME, "filedrop")
    assert event.patient.family_name == "BLANC" and event.patient.ins == "285073306312324"
    pcr = event.evidence[0]
    assert pcr.kind == "lab_result" and pcr.test.code == "94500-6"
    assert pcr.observed_at is not None and pcr.observed_at.date() == in_paris(NOW).date()
    assert f"du {in_paris(NOW - timedelta(days=1)):%d/%m/%Y} : POSITIF" \
        in example_hprim(NOW).decode("latin-1")


def test_the_scripted_demo_drops_the_report_and_confirms_it_as_the_console_does(
    transcript: str,
) -> None:
    assert "✗" not in transcript
    part = transcript[transcript.index("Un logiciel qui importe les fichiers du laboratoire"):]
    part = part[:part.index("=== ", part.index("Dans la console"))]
    for step in ("✓ avis « confirmation en attente » dans le dossier d'import du logiciel, "
                 "avec le lien vers la demande dans la console",
                 "✓ code obtenu ; son fichier est dans le dossier d'import"):
        assert step in part, part
    assert re.search(r"Avis : \S+/outbox/prostop-[0-9a-f]+-attente\.hpr", part), part
    assert re.search(r"Lien : http://127\.0\.0\.1:8710/demandes/[0-9a-f]+", part), part
    assert re.search(r"Fichier du code : \S+/outbox/prostop-[0-9a-f]+\.hpr", part), part
    assert "Origine : dépôt de fichiers — LABO-GARONNE (HPRIM)" in part


def test_make_demo_starts_the_console_on_the_file_drops_inbox_and_says_how(
    tmp_path: Path,
) -> None:
    console, walkthrough = interactive_part(tmp_path, NOW)
    assert console == {"listen": CONSOLE_LISTEN} == {"listen": "127.0.0.1:8710"}
    example = tmp_path / "exemples" / EXAMPLE_NAME
    assert example.read_bytes() == example_hprim(NOW)
    # the folders the walkthrough names are the file drop's in the interactive demo
    section = DEMO_ADAPTERS["filedrop"]
    inbox = Path(str(section["inbox"]).format(data=tmp_path))
    outbox = Path(str(section["outbox"]).format(data=tmp_path))
    assert f"cp {example} {inbox}/" in walkthrough
    assert f"{outbox}/prostop-<demande>-attente.hpr" in walkthrough
    assert f"{outbox}/prostop-<demande>.hpr" in walkthrough
    assert walkthrough.startswith("Console du médecin") and "http://127.0.0.1:8710" in walkthrough
    assert "Pro Santé Connect" in walkthrough and "QR code" in walkthrough
    settings = Settings(data_dir=tmp_path / "var", console=console)
    assert settings.console.enabled
    assert settings.console.request_link("abc") == "http://127.0.0.1:8710/demandes/abc"
