"""The mailbox watcher against a real Dovecot over IMAPS (TLS verified, client certificate):
a message is marked handled only once its events are durable; what cannot be used is moved to
the quarantine folder beside a note; nothing is ever deleted."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from prostop_mssante.mailbox import NOTE_HEADER, MailboxError
from prostop_mssante.service import MailboxService
from prostop_mssante.settings import load_mssante_settings
from prostop_plugin import hookimpl
from prostop_plugin.app import Prostop
from prostop_plugin.errors import ConfigError, LedgerError
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord
from prostop_plugin.simulator.pki import Pki
from tests.adapters.mssante.helpers import (
    CRBIO,
    corpus,
    deliver,
    folder_messages,
    lab_message,
    lab_package,
    mssante_section,
    open_runtime,
)
from tests.adapters.mssante.servers import Dovecot, running_dovecot
from tests.corpus_location import CORPUS

HANDLED = b"$ProstopHandled"
QUARANTINE = "prostop-quarantaine"


def note_and_original(dovecot: Dovecot, pki: Pki) -> tuple[email.message.EmailMessage, bytes]:
    messages = folder_messages(dovecot, pki, QUARANTINE)
    assert len(messages) == 2, [m[0][:200] for m in messages]
    notes = [raw for raw, _ in messages if NOTE_HEADER.encode() in raw.split(b"\r\n\r\n")[0]]
    [note_raw] = notes
    [original] = [raw for raw, _ in messages if raw is not note_raw]
    note = email.message_from_bytes(note_raw, policy=email.policy.default)
    assert isinstance(note, email.message.EmailMessage)
    return note, original


def test_a_crbio_positive_is_recorded_then_marked_handled(
    dovecot: Dovecot, pki: Pki, runtime: Prostop, service: MailboxService
) -> None:
    raw = lab_message(lab_package(corpus(CRBIO)))
    deliver(dovecot, pki, raw)
    assert service.poll_once() == 1
    assert runtime.ledger.event_count() == 1
    [(kept, flags)] = folder_messages(dovecot, pki, "INBOX")
    assert HANDLED in flags and b"\\Seen" not in flags  # read with PEEK: not shown as read
    assert kept == raw
    [request] = runtime.engine.pending()
    assert request.patient.family_name == "DUPONT"
    stored = runtime.ledger.get(request.issuance_id)
    assert stored.event.source.adapter == "mssante"
    assert stored.event.patient.ins == "280013306312376"
    assert stored.event.patient.ins_oid == "1.2.250.1.213.1.4.10"
    assert service.poll_once() == 0  # handled: not read again
    deliver(dovecot, pki, lab_message(lab_package(corpus(CRBIO)), message_id="<resent@x>"))
    assert service.poll_once() == 1
    assert runtime.ledger.event_count() == 1  # the lab's resend is the same document


def test_a_hostile_zip_is_quarantined_with_a_note_and_kept_unchanged(
    dovecot: Dovecot, pki: Pki, runtime: Prostop, service: MailboxService
) -> None:
    bomb = lab_package(corpus(CRBIO), extra={"IHE_XDM/SUBSET01/PAD.XML": bytes(30_000_000)})
    raw = lab_message(bomb, subject="XDM/1.0/DDM+CR piégé")
    deliver(dovecot, pki, raw)
    assert service.poll_once() == 1
    assert folder_messages(dovecot, pki, "INBOX") == []
    assert runtime.ledger.event_count() == 0
    note, original = note_and_original(dovecot, pki)
    assert original == raw  # moved, byte for byte, never deleted
    text = note.get_content()
    assert "zip bomb" in text and "IHE_XDM/SUBSET01/PAD.XML" in text
    assert "XDM/1.0/DDM+CR piégé" in text and "Traceback" not in text
    assert note["In-Reply-To"] == "<crbio-7710050@labo-garonne.mssante.fr>"


def test_an_interrupted_quarantine_does_not_write_a_second_note(
    dovecot: Dovecot, pki: Pki, runtime: Prostop, service: MailboxService
) -> None:
    deliver(dovecot, pki, lab_message(None))  # no IHE_XDM.ZIP at all
    from prostop_mssante.mailbox import Mailbox

    calls: list[int] = []

    class CrashBeforeMove(Mailbox):
        def _move(self, uid: int, folder: str) -> None:
            calls.append(uid)
            raise MailboxError("connection lost", where="test")

    with CrashBeforeMove(service.config) as mailbox:
        [uid] = mailbox.waiting()
        fetched = mailbox.fetch(uid)
        assert fetched is not None
        with pytest.raises(MailboxError):
            service.process(mailbox, fetched)
    assert calls and len(folder_messages(dovecot, pki, QUARANTINE)) == 1  # the note only
    assert service.poll_once() == 1  # next run: the note is found, the message moved
    note, _ = note_and_original(dovecot, pki)
    assert "no IHE_XDM.ZIP attachment" in note.get_content()


class FailingCore:
    """Fails the core's recording before anything is stored (a locked ledger)."""

    def __init__(self, times: int = 1) -> None:
        self.times = times

    @hookimpl(wrapper=True)
    def prostop_diagnosis_recorded(
        self, event: DiagnosisEvent
    ) -> Generator[None, IssuanceRecord | None, IssuanceRecord | None]:
        if self.times > 0:
            self.times -= 1
            raise LedgerError("database is locked", where="ledger.sqlite3")
        return (yield)


def test_a_message_whose_events_cannot_be_stored_is_not_marked_handled(
    tmp_path: Path, dovecot: Dovecot, pki: Pki, section: dict[str, Any]
) -> None:
    now = [1000.0]
    with open_runtime(tmp_path, section, FailingCore()) as runtime:
        service = MailboxService(runtime, load_mssante_settings(runtime.settings),
                                 clock=lambda: now[0])
        deliver(dovecot, pki, lab_message(lab_package(corpus(CRBIO))))
        assert service.poll_once() == 0
        [(_, flags)] = folder_messages(dovecot, pki, "INBOX")
        assert HANDLED not in flags and runtime.ledger.event_count() == 0
        assert service.poll_once() == 0  # not due yet: no busy loop on a failing core
        now[0] += service.config.poll_interval * 2 + 0.01
        assert service.poll_once() == 1
        [(_, flags)] = folder_messages(dovecot, pki, "INBOX")
        assert HANDLED in flags and runtime.ledger.event_count() == 1


def test_x_mss_ins_o_without_a_valid_ins_in_the_cda_is_quarantined(
    dovecot: Dovecot, pki: Pki, runtime: Prostop, service: MailboxService
) -> None:
    wrong_key = corpus(CRBIO).replace(  # the INS's key is wrong; the lab's own id is there
        b'<id root="1.2.250.1.213.1.4.10" extension="280013306312376"/>',
        b'<id root="1.2.250.1.213.1.4.10" extension="280013306312377"/>'
        b'<id root="1.2.250.1.999.2" extension="IPP-7710050"/>')
    deliver(dovecot, pki, lab_message(lab_package(wrong_key, patient=""), ins_header="O"))
    assert service.poll_once() == 1
    note, _ = note_and_original(dovecot, pki)
    assert "X-MSS-INS: O" in note.get_content()
    assert runtime.ledger.event_count() == 0


def test_x_mss_ins_n_keeps_the_ins_but_never_as_qualified(
    dovecot: Dovecot, pki: Pki, runtime: Prostop, service: MailboxService
) -> None:
    deliver(dovecot, pki, lab_message(lab_package(corpus(CRBIO)), ins_header="N"))
    assert service.poll_once() == 1
    [request] = runtime.engine.pending()
    patient = runtime.ledger.get(request.issuance_id).event.patient
    assert patient.ins == "280013306312376" and patient.ins_oid is None


def test_metadata_naming_another_patient_than_the_cda_is_quarantined(
    dovecot: Dovecot, pki: Pki, runtime: Prostop, service: MailboxService
) -> None:
    other = "180017505600103^^^&1.2.250.1.213.1.4.8&ISO^NH"
    deliver(dovecot, pki, lab_message(lab_package(corpus(CRBIO), patient=other)))
    assert service.poll_once() == 1
    note, _ = note_and_original(dovecot, pki)
    assert "name different patients" in note.get_content()


def test_a_report_without_covid_evidence_is_marked_handled_and_nothing_stored(
    dovecot: Dovecot, pki: Pki, runtime: Prostop, service: MailboxService
) -> None:
    # a glucose result, coded and named as one (a label naming SARS-CoV-2 would be read)
    cda = (CORPUS / CRBIO).read_bytes().replace(b'code="94309-2"', b'code="2345-7"').replace(
        "SARS-CoV-2 ARN [Présence] ; Résultat ; Amplification génique".encode(),
        b"Glucose [Masse/Volume] ; Serum",
    )
    deliver(dovecot, pki, lab_message(lab_package(cda)))
    assert service.poll_once() == 1
    [(_, flags)] = folder_messages(dovecot, pki, "INBOX")
    assert HANDLED in flags and runtime.ledger.event_count() == 0


def test_an_oversize_message_is_quarantined_without_being_downloaded(
    tmp_path: Path, dovecot: Dovecot, pki: Pki, section: dict[str, Any]
) -> None:
    with open_runtime(tmp_path, section | {"max_message_bytes": 2000}) as runtime:
        service = MailboxService(runtime, load_mssante_settings(runtime.settings))
        deliver(dovecot, pki, lab_message(lab_package(corpus(CRBIO))))
        assert service.poll_once() == 1
        note, _ = note_and_original(dovecot, pki)
        assert "not downloaded" in note.get_content()


def test_move_mode_files_handled_messages_in_their_folder(
    tmp_path: Path, dovecot: Dovecot, pki: Pki, section: dict[str, Any]
) -> None:
    with open_runtime(tmp_path, section | {"handled": "move"}) as runtime:
        service = MailboxService(runtime, load_mssante_settings(runtime.settings))
        deliver(dovecot, pki, lab_message(lab_package(corpus(CRBIO))))
        assert service.poll_once() == 1
        assert folder_messages(dovecot, pki, "INBOX") == []
        assert len(folder_messages(dovecot, pki, "prostop-traites")) == 1
        assert runtime.ledger.event_count() == 1


def test_the_server_certificate_is_verified_and_a_required_client_certificate_presented(
    tmp_path: Path, pki: Pki, section: dict[str, Any]
) -> None:
    with running_dovecot(pki, client_cert=True) as strict:
        values = mssante_section(strict, pki)
        with open_runtime(tmp_path / "a", values) as runtime:
            poll = MailboxService(runtime, load_mssante_settings(runtime.settings)).poll_once
            assert poll() == 0  # certificate presented: logged in, nothing waiting
        without = {k: v for k, v in values.items() if not k.startswith("client_")}
        with open_runtime(tmp_path / "b", without) as runtime:
            poll = MailboxService(runtime, load_mssante_settings(runtime.settings)).poll_once
            with pytest.raises(MailboxError, match=r"logging in|connecting"):
                poll()
    other_ca = pki.ca.with_name("other-ca.pem")
    other_ca.write_bytes(pki.client_cert.read_bytes())  # not the CA that signed the server
    with open_runtime(tmp_path / "c", section | {"ca_file": str(other_ca)}) as runtime:
        poll = MailboxService(runtime, load_mssante_settings(runtime.settings)).poll_once
        with pytest.raises(MailboxError, match="connecting failed: SSL"):
            poll()


def test_a_wrong_password_is_one_clear_line(
    tmp_path: Path, section: dict[str, Any]
) -> None:
    with open_runtime(tmp_path, section | {"password": "wrong"}) as runtime:
        service = MailboxService(runtime, load_mssante_settings(runtime.settings))
        with pytest.raises(MailboxError) as caught:
            service.start()
    assert "logging in failed" in str(caught.value) and "wrong" not in str(caught.value)


def test_the_thread_reads_new_mail_and_stops_promptly(
    dovecot: Dovecot, pki: Pki, runtime: Prostop, service: MailboxService
) -> None:
    service.start()
    try:
        deliver(dovecot, pki, lab_message(lab_package(corpus(CRBIO))))
        deadline = time.monotonic() + 15
        while runtime.ledger.event_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runtime.ledger.event_count() == 1
    finally:
        service.stop()
    assert service._thread is None


def test_settings_refuse_a_physician_mailbox_as_the_application_mailbox(
    dovecot: Dovecot, pki: Pki
) -> None:
    from prostop_mssante.settings import parse_mssante_settings

    values = mssante_section(dovecot, pki)
    values["recipients"] = {"10003456789": values["address"].upper()}
    with pytest.raises(ConfigError, match="never be a physician's mailbox"):
        parse_mssante_settings(values)
    with pytest.raises(ConfigError, match="absolute"):
        parse_mssante_settings(mssante_section(dovecot, pki) | {"ca_file": "ca.pem"})
    with pytest.raises(ConfigError, match="way to log in"):
        parse_mssante_settings({k: v for k, v in values.items()
                                if k not in ("password", "client_cert_file", "client_key_file")})
