"""The "confirmation en attente" notice: written once into the outbox when a request from the
file drop starts waiting, with the console's link, never the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prostop_filedrop.notice import notice_document_id, notice_path
from prostop_filedrop.plugin import FiledropPlugin
from prostop_filedrop.writeback import document_id
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.documents import cda_note_problems
from prostop_plugin.models import IssuanceState
from prostop_plugin.readers import read_bytes
from tests.adapters.adapter_fixtures import AS_OF
from tests.adapters.filedrop.helpers import corpus, filedrop_section
from tests.corpus_location import CORPUS

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")
CONSOLE = {"listen": "127.0.0.1:8710"}


def runtime(tmp_path: Path, console: dict[str, Any] | None = None,
            **section: Any) -> Prostop:
    settings = Settings(data_dir=tmp_path / "var", as_of=AS_OF,
                        console=console if console is not None else CONSOLE,
                        adapter={"filedrop": filedrop_section(tmp_path, **section)})
    return Prostop.open(settings, plugins=[FiledropPlugin()])


def waiting(prostop: Prostop, name: str = "hprim_rtpcr_positif.hpr") -> str:
    [event] = read_bytes(corpus(name), name, "filedrop")
    record = prostop.hooks.diagnosis_recorded(event)
    assert record is not None and record.state == IssuanceState.AWAITING_CONFIRMATION
    return record.id


def test_a_waiting_request_leaves_a_notice_with_the_console_link(tmp_path: Path) -> None:
    with runtime(tmp_path, write_back_format="both") as prostop:
        issuance = waiting(prostop)
    hpr = notice_path(tmp_path / "outbox", issuance, "hprim")
    cda = notice_path(tmp_path / "outbox", issuance, "cda")
    text = hpr.read_bytes().decode("latin-1")
    assert "Déclaration StopCovid : confirmation en attente" in text
    assert f"http://127.0.0.1:8710/demandes/{issuance}" in text
    assert text.splitlines()[1] == "DUPONT"  # the header the GP software matches patients on
    assert cda_note_problems(cda.read_bytes()) == []
    assert f"http://127.0.0.1:8710/demandes/{issuance}" in cda.read_text("utf-8")
    # a document of its own: the code's write-back will not replace it in the record
    assert notice_document_id(issuance).upper() in cda.read_text("utf-8")
    assert notice_document_id(issuance) != document_id(issuance)


def test_the_notice_is_written_once_not_at_every_resend(tmp_path: Path) -> None:
    with runtime(tmp_path) as prostop:
        issuance = waiting(prostop)
        path = notice_path(tmp_path / "outbox", issuance, "hprim")
        path.unlink()  # the EHR imported it
        assert waiting(prostop) == issuance  # the same file again (a sender's resend)
        prostop.engine.resume()
        assert not path.exists()


@pytest.mark.parametrize("console", [{}, {"listen": "127.0.0.1:8710", "notice_in_record": False}])
def test_no_notice_without_the_console_or_when_turned_off(
    tmp_path: Path, console: dict[str, Any]
) -> None:
    with runtime(tmp_path, console=console) as prostop:
        waiting(prostop)
    assert list((tmp_path / "outbox").iterdir()) == []


def test_a_notice_that_cannot_be_written_does_not_stop_the_request(tmp_path: Path) -> None:
    with runtime(tmp_path) as prostop:
        (tmp_path / "outbox").rmdir()
        issuance = waiting(prostop)
        assert [r.issuance_id for r in prostop.engine.pending()] == [issuance]
        failures = [e for e in prostop.audit.entries() if e.action == "observer_failed"]
    assert [f.details["hook"] for f in failures] == ["prostop_notify_pending"]


def test_the_public_url_names_the_link(tmp_path: Path) -> None:
    console = {"listen": "0.0.0.0:8710", "public_url": "https://cabinet.example:8710",
               "tls_cert_file": "/etc/prostop/console.crt",
               "tls_key_file": "/etc/prostop/console.key"}
    with runtime(tmp_path, console=console) as prostop:
        issuance = waiting(prostop)
    text = notice_path(tmp_path / "outbox", issuance, "hprim").read_bytes().decode("latin-1")
    assert f"https://cabinet.example:8710/demandes/{issuance}" in text
