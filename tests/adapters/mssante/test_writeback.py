"""The write-back over SMTP/TLS to a real server (aiosmtpd): the XDM package is unzipped and its
METADATA.XML and CDA checked against what IHE XDM, the CI-SIS and MSSanté require; a resend is
the same message; and end to end, a CR-BIO by MSSanté comes back as a code note by MSSanté."""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import re
import time
import zipfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import SecretStr

from prostop_mssante.service import MailboxService
from prostop_mssante.settings import MssanteSettings, load_mssante_settings
from prostop_mssante.writeback import SendError, write_back
from prostop_plugin.app import Prostop
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
from prostop_plugin.plugins import DISABLE_AUTOLOAD_ENV
from prostop_plugin.readers import read_bytes
from prostop_plugin.simulator import RunningSimulator
from prostop_plugin.simulator.pki import Pki
from tests.adapters.adapter_fixtures import AS_OF
from tests.adapters.mssante.helpers import (
    APP_ADDRESS,
    CRBIO,
    INS,
    PHYSICIAN_ADDRESS,
    RPPS,
    corpus,
    deliver,
    folder_messages,
    lab_message,
    lab_package,
)
from tests.adapters.mssante.servers import Dovecot, SmtpSink, running_smtp
from tests.fixtures.simulator import code_service_settings, psc_settings

PRACTITIONER = Practitioner(national_id=RPPS, family_name="DURAND", given_name="Claire",
                            profession_code="10")
RIM = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
       "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"}
DOC_ENTRY = "/lcm:SubmitObjectsRequest/rim:RegistryObjectList/rim:ExtrinsicObject"
SUB_SET = "/lcm:SubmitObjectsRequest/rim:RegistryObjectList/rim:RegistryPackage"
PACKAGE_FILES = ["README.TXT", "INDEX.HTM", "IHE_XDM/SUBSET01/METADATA.XML",
                 "IHE_XDM/SUBSET01/DOC0001.XML"]


def slot(path: str, name: str) -> str:
    return f"{path}/rim:Slot[@name='{name}']/rim:ValueList/rim:Value"


def code_of(scheme: str) -> str:
    return f"{DOC_ENTRY}/rim:Classification[@classificationScheme='urn:uuid:{scheme}']"


#: (what IHE XDM / the CI-SIS require, XPath true when it holds) — METADATA.XML's structure
METADATA_RULES = [
    ("one stable document entry, text/xml, approved",
     f"count({DOC_ENTRY}[@objectType='urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1']"
     "[@mimeType='text/xml'][starts-with(@id, 'urn:uuid:')]) = 1"),
    ("creationTime UTC YYYYMMDDhhmmss", f"string-length({slot(DOC_ENTRY, 'creationTime')}) = 14"),
    ("languageCode fr-FR", f"{slot(DOC_ENTRY, 'languageCode')} = 'fr-FR'"),
    ("URI is the document's file", f"{slot(DOC_ENTRY, 'URI')} = 'DOC0001.XML'"),
    ("sourcePatientInfo names the patient",
     f"{slot(DOC_ENTRY, 'sourcePatientInfo')}[starts-with(., 'PID-5|DUPONT^CAMILLE')]"),
    ("author is the confirming physician (IDNPS)",
     f"starts-with({code_of('93606bcf-9494-43ec-9b4e-a7748d1a838d')}/rim:Slot"
     f"[@name='authorPerson']/rim:ValueList/rim:Value, '8{RPPS}^DURAND^Claire^')"),
    ("classCode 10 (TRE_A03)", f"{code_of('41a5887f-8865-4c09-adf7-e362475b143a')}"
     "[@nodeRepresentation='10']/rim:Slot/rim:ValueList/rim:Value = '1.2.250.1.213.1.1.4.1'"),
    ("confidentialityCode N", f"{code_of('f4f85eac-e6cb-4883-b524-f2705394840f')}"
     "/@nodeRepresentation = 'N'"),
    ("formatCode from JDV_J10", f"{code_of('a09d5840-386c-46f2-b5ad-9c3699a4309d')}"
     "/@nodeRepresentation = 'urn:asipSante:modelesHorsProfils:2011'"),
    ("healthcareFacilityTypeCode", f"boolean({code_of('f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1')}"
     "/@nodeRepresentation)"),
    ("practiceSettingCode", f"boolean({code_of('cccf5598-8b07-4b77-a05e-ae952c785ead')}"
     "/@nodeRepresentation)"),
    ("typeCode LOINC", f"{code_of('f0306f51-975f-434e-a61c-c59651d33983')}/rim:Slot/"
     "rim:ValueList/rim:Value = '2.16.840.1.113883.6.1'"),
    ("patientId is the qualified INS", f"{DOC_ENTRY}/rim:ExternalIdentifier[@identification"
     f"Scheme='urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427']/@value = "
     f"'{INS}^^^&1.2.250.1.213.1.4.10&ISO^NH'"),
    ("one submission set, submitted, from a source, for the physician",
     f"count({SUB_SET}) = 1 and string-length({slot(SUB_SET, 'submissionTime')}) = 14"
     f" and contains({slot(SUB_SET, 'intendedRecipient')}, '^^Internet^{PHYSICIAN_ADDRESS}')"),
    ("submission set sourceId and uniqueId are OIDs",
     f"count({SUB_SET}/rim:ExternalIdentifier[@identificationScheme='urn:uuid:554ac39e-e3fe-"
     "47fe-b233-965d2a147832' or @identificationScheme='urn:uuid:96fdda7c-d067-4183-912e-"
     "bf5ee74998a8'][starts-with(@value, '2.25.')]) = 2"),
    ("the package is classified as a submission set",
     "/lcm:SubmitObjectsRequest/rim:RegistryObjectList/rim:Classification[@classificationNode"
     f"='urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd']/@classifiedObject = {SUB_SET}/@id"),
    ("HasMember links the set to the document, Original",
     "/lcm:SubmitObjectsRequest/rim:RegistryObjectList/rim:Association[@associationType="
     "'urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember'][@sourceObject = "
     f"{SUB_SET}/@id][@targetObject = {DOC_ENTRY}/@id]/rim:Slot[@name='SubmissionSetStatus']"
     "/rim:ValueList/rim:Value = 'Original'"),
]


def metadata_problems(metadata: bytes, document: bytes) -> list[str]:
    root = etree.fromstring(metadata, parser=hardened_parser())
    broken = [what for what, path in METADATA_RULES if not root.xpath(path, namespaces=RIM)]
    values = {name: root.xpath(f"string({slot(DOC_ENTRY, name)})", namespaces=RIM)
              for name in ("hash", "size")}
    if values["hash"] != hashlib.sha1(document).hexdigest():
        broken.append("hash is the SHA-1 of the document")
    if values["size"] != str(len(document)):
        broken.append("size is the document's size")
    cda = etree.fromstring(document, parser=hardened_parser())
    cda_id = cda.xpath("string(/hl7:ClinicalDocument/hl7:id/@root)", namespaces=NS)
    unique = root.xpath(f"string({DOC_ENTRY}/rim:ExternalIdentifier[@identificationScheme="
                        "'urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab']/@value)",
                        namespaces=RIM)
    if not cda_id or unique != cda_id:
        broken.append("uniqueId is the CDA document's id")
    type_code = root.xpath(f"string({code_of('f0306f51-975f-434e-a61c-c59651d33983')}"
                           "/@nodeRepresentation)", namespaces=RIM)
    if type_code != cda.xpath("string(/hl7:ClinicalDocument/hl7:code/@code)", namespaces=NS):
        broken.append("typeCode is the CDA's code")
    return broken


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def package_of(message: EmailMessage) -> dict[str, bytes]:
    [attachment] = [p for p in message.iter_attachments() if p.get_filename() == "IHE_XDM.ZIP"]
    assert attachment.get_content_type() == "application/zip"
    with zipfile.ZipFile(io.BytesIO(attachment.get_payload(decode=True))) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def check_write_back(raw: bytes, code: str) -> EmailMessage:
    """Everything the physician's software relies on; returns the parsed message."""
    message = parsed(raw)
    assert message["From"] == APP_ADDRESS and message["To"] == PHYSICIAN_ADDRESS
    assert message["Subject"].startswith("XDM/1.0/DDM+Déclaration StopCovid")
    assert message["Subject"].endswith("DUPONT CAMILLE 15/01/1980")
    assert message["X-MSS-CODECDA"] == "34109-9"
    assert message["X-MSS-INS"] == "O"
    assert message["X-MSS-NIL"] == "TEST-NIL-0001"
    assert re.fullmatch(r"<[a-z2-7]{26}\.prostop@cabinet-durand\.mssante\.fr>",
                        message["Message-ID"])
    text = message.get_body(("plain",))
    assert text is not None and "IHE_XDM.ZIP" in text.get_content()
    assert code not in text.get_content()  # the code is in the note only
    files = package_of(message)
    assert list(files) == PACKAGE_FILES
    document = files["IHE_XDM/SUBSET01/DOC0001.XML"]
    assert cda_note_problems(document) == []
    assert code in document.decode("utf-8")
    assert metadata_problems(files["IHE_XDM/SUBSET01/METADATA.XML"], document) == []
    assert b"IHE_XDM/SUBSET01/DOC0001.XML" in files["INDEX.HTM"]
    assert b"prostop-plugin" in files["README.TXT"]
    return message


def issued_record() -> IssuanceRecord:
    [event] = read_bytes(corpus(CRBIO), "crbio.xml", adapter="mssante")
    issued = datetime(2020, 11, 19, 14, 32, tzinfo=UTC)
    return IssuanceRecord(
        id="01HFXDMTEST", episode="episode", state=IssuanceState.ISSUED, event=event,
        confirmation=ConfirmationDecision(approved=True, practitioner=PRACTITIONER,
                                          qr_unavailable_attested=True),
        code=SecretStr("7H3K9QXW"), code_last2="XW", issued_at=issued, valid_from=issued,
        valid_until=issued + timedelta(days=15),
    )


@pytest.fixture
def writer(section: dict[str, Any]) -> MssanteSettings:
    from prostop_mssante.settings import parse_mssante_settings

    return parse_mssante_settings(section)


def test_the_write_back_is_an_xdm_message_the_physicians_software_files(
    smtp: SmtpSink, writer: MssanteSettings
) -> None:
    receipt = write_back(issued_record(), writer)
    [received] = smtp.messages
    assert received.rcpt_tos == [PHYSICIAN_ADDRESS] and smtp.logins == [APP_ADDRESS]
    message = check_write_back(received.data, "7H3K9QXW")
    assert receipt.target == f"mssante:{PHYSICIAN_ADDRESS}"
    assert message["Message-ID"] in (receipt.detail or "")


def test_a_resend_is_the_same_message_and_the_same_package(
    smtp: SmtpSink, writer: MssanteSettings
) -> None:
    record = issued_record()
    write_back(record, writer)
    write_back(record, writer)
    first, second = (parsed(m.data) for m in smtp.messages)
    assert first["Message-ID"] == second["Message-ID"]
    assert first["X-Prostop-Issuance"] == second["X-Prostop-Issuance"] == record.id
    assert package_of(first) == package_of(second)
    other = record.model_copy(update={"id": "01HFXDMOTHER"})
    write_back(other, writer)
    assert parsed(smtp.messages[2].data)["Message-ID"] != first["Message-ID"]


def test_a_refused_send_is_a_typed_error_and_the_retry_is_recognisable(
    smtp: SmtpSink, writer: MssanteSettings
) -> None:
    smtp.refuse = 1
    with pytest.raises(SendError, match="not accepted") as caught:
        write_back(issued_record(), writer)
    assert "sent again automatically" in str(caught.value)
    assert smtp.messages == []
    write_back(issued_record(), writer)
    [received] = smtp.messages
    check_write_back(received.data, "7H3K9QXW")


def test_starttls_submission_is_supported_and_tls_is_never_skipped(
    pki: Pki, section: dict[str, Any]
) -> None:
    from prostop_mssante.settings import parse_mssante_settings

    with running_smtp(pki, starttls=True) as submission:
        config = parse_mssante_settings(section | {"smtp_port": submission.port,
                                                   "smtp_tls": "starttls"})
        write_back(issued_record(), config)
        [received] = submission.messages
        check_write_back(received.data, "7H3K9QXW")
        implicit = parse_mssante_settings(section | {"smtp_port": submission.port})
        with pytest.raises(SendError, match=r"SSL|not accepted"):  # no TLS, no message
            write_back(issued_record(), implicit)
        assert len(submission.messages) == 1


def test_an_unqualified_identity_is_announced_with_x_mss_ins_n(
    smtp: SmtpSink, writer: MssanteSettings
) -> None:
    record = issued_record()
    patient = record.event.patient.model_copy(update={"ins_oid": None})
    record = record.model_copy(update={"event": record.event.model_copy(
        update={"patient": patient})})
    write_back(record, writer)
    message = parsed(smtp.messages[0].data)
    assert message["X-MSS-INS"] == "N"
    metadata = package_of(message)["IHE_XDM/SUBSET01/METADATA.XML"]
    assert b"58a6f841-87b3-4a3e-92fd-a8ffeff98427" not in metadata  # no patientId asserted
    assert b"^^^&amp;" in metadata  # the source's id as sourcePatientId


def test_an_unknown_physician_address_is_a_clear_configuration_error(
    smtp: SmtpSink, section: dict[str, Any]
) -> None:
    from prostop_mssante.settings import parse_mssante_settings

    config = parse_mssante_settings(section | {"recipients": {}})
    with pytest.raises(ConfigError, match="no MSSanté address") as caught:
        write_back(issued_record(), config)
    assert RPPS in str(caught.value) and "recipients" in str(caught.value)
    assert smtp.messages == []


def test_a_crbio_by_mssante_comes_back_as_a_code_note_by_mssante(
    tmp_path: Path, dovecot: Dovecot, pki: Pki, smtp: SmtpSink, section: dict[str, Any],
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    settings = Settings(
        data_dir=tmp_path / "var", as_of=AS_OF, adapters=["mssante"],
        adapter={"mssante": section},
        code_service=code_service_settings(simulator), psc=psc_settings(simulator),
    )
    with Prostop.open(settings) as runtime:  # the adapter from its entry point
        assert "mssante" in [info.name for info in runtime.hooks.adapters()]
        [service] = runtime.hooks.background_services(runtime)
        assert isinstance(service, MailboxService)
        service.start()
        try:
            deliver(dovecot, pki, lab_message(lab_package(corpus(CRBIO))))
            deadline = time.monotonic() + 20
            while not runtime.engine.pending() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            service.stop()
        [request] = runtime.engine.pending()
        [(_, flags)] = folder_messages(dovecot, pki, "INBOX")
        assert b"$ProstopHandled" in flags
        record = runtime.engine.decide(request.issuance_id, ConfirmationDecision(
            approved=True, practitioner=PRACTITIONER, qr_unavailable_attested=True))
        assert record.state == IssuanceState.WRITTEN_BACK, record.error
        stored = runtime.ledger.get(request.issuance_id, with_code=True)
        assert stored.code is not None
        [received] = smtp.messages
        assert received.rcpt_tos == [PHYSICIAN_ADDRESS]
        message = check_write_back(received.data, stored.code.get_secret_value())
        assert message["X-Prostop-Issuance"] == stored.id
        assert load_mssante_settings(runtime.settings).address == APP_ADDRESS
