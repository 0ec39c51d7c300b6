"""The demo's local stand-in mail server and lab (``prostop_mssante.demo``, ``.standin``): the
CR-BIO the demo lab sends is read by the adapter's own Maildir intake, the write-back reaches the
physician's Maildir over STARTTLS, and the stand-in keeps TLS and AUTH honest."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from prostop_mssante.demo import APP_ADDRESS, PASSWORD, MssanteDemo
from prostop_mssante.service import MailboxService
from prostop_mssante.settings import load_mssante_settings, parse_mssante_settings
from prostop_mssante.writeback import write_back
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.documents import cda_note_problems
from prostop_plugin.models import PatientRef
from prostop_plugin.plugins import DISABLE_AUTOLOAD_ENV
from tests.adapters.mssante.helpers import RPPS
from tests.adapters.mssante.test_writeback import issued_record

JEANNE = PatientRef(host_patient_id="DOS-9012", ins="285046912345672",
                    ins_oid="1.2.250.1.213.1.4.10", family_name="ROUSSEAU", given_name="Jeanne",
                    birth_date=date(1985, 4, 21), sex="F")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[MssanteDemo]:
    with MssanteDemo(tmp_path / "mssante", poll_interval=0.1) as running:
        yield running


def test_the_demo_lab_report_is_read_by_the_adapter_as_a_confirmed_case(
    tmp_path: Path, demo: MssanteDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "")
    sent = demo.send_lab_report(JEANNE, datetime.now(UTC))
    assert sent["X-MSS-INS"] == "O" and sent["X-MSS-CODECDA"] == "11502-2"
    assert len(demo.operator.messages(APP_ADDRESS)) == 1
    settings = Settings(data_dir=tmp_path / "var", adapters=["mssante"],
                        adapter={"mssante": demo.section})
    with Prostop.open(settings) as runtime:  # the installed entry point, as the demo loads it
        service = MailboxService(runtime, load_mssante_settings(runtime.settings))
        assert service.poll_once() == 1
        [request] = runtime.engine.pending()
        assert request.decision.decision == "confirmed"
        event = runtime.ledger.get(request.issuance_id).event
        assert (event.patient.ins, event.source.host) == (JEANNE.ins, "LABO-DEMO")
    assert demo.operator.messages(APP_ADDRESS) == [], "filed in the handled folder"
    again = demo.send_lab_report(JEANNE, datetime.now(UTC))
    assert again["Message-ID"] != sent["Message-ID"]


def test_the_write_back_lands_in_the_physicians_mailbox(demo: MssanteDemo) -> None:
    record = issued_record()
    receipt = write_back(record, parse_mssante_settings(demo.section))
    [received] = demo.received(RPPS)
    assert receipt.target == f"mssante:{demo.section['recipients'][RPPS]}"
    assert received.parent == demo.mailbox_of(RPPS) / "new"
    subject, document = demo.read_document(received)
    assert subject.startswith("XDM/1.0/DDM+Déclaration StopCovid")
    assert cda_note_problems(document) == []
    assert record.code is not None and record.code.get_secret_value() in document.decode()


def test_the_stand_in_requires_starttls_and_the_password_and_is_verified(
    demo: MssanteDemo,
) -> None:
    port = demo.section["smtp_port"]
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as plain, \
            pytest.raises(smtplib.SMTPException):
        plain.login(APP_ADDRESS, PASSWORD)
    trusted = ssl.create_default_context(cafile=demo.section["ca_file"])
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as wrong:
        wrong.starttls(context=trusted)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            wrong.login(APP_ADDRESS, "not-the-password")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as stranger, \
            pytest.raises(ssl.SSLCertVerificationError):
        stranger.starttls(context=ssl.create_default_context())  # the system's CAs only
