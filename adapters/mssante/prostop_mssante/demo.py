"""The MSSanté part of ``prostop demo`` (entry point group ``prostop.demo``, name ``mssante``).

:class:`MssanteDemo` runs the local stand-in mail server (:mod:`.standin`: SMTP with STARTTLS,
one Maildir per address; not MSSanté), gives the adapter's settings for it (``intake =
"maildir"`` on the application mailbox's Maildir, write-back by SMTP with the stand-in's CA),
and plays the lab: :meth:`MssanteDemo.send_lab_report` submits a CR-BIO (CDA R2, RT-PCR
SARS-CoV-2 positive, sampled yesterday) in an ``IHE_XDM.ZIP`` to the application mailbox, as a
lab's MSSanté client would. The code then comes back the same way, into the confirming
physician's Maildir, which :meth:`MssanteDemo.received` lists and
:meth:`MssanteDemo.read_document` opens (through the adapter's hostile-input XDM reader).
"""

from __future__ import annotations

import email
import email.policy
import io
import smtplib
import ssl
import uuid
import zipfile
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from prostop_mssante.intake import xdm_attachments
from prostop_mssante.plugin import MssantePlugin
from prostop_mssante.settings import ArchiveLimits
from prostop_mssante.standin import HOST, LocalOperator, OnDelivery
from prostop_mssante.xdm import read_package
from prostop_plugin import PARIS, InputError, PatientRef

APP_ADDRESS = "prostop@cabinet-demo.mssante.fr"
LAB_ADDRESS = "resultats@labo-demo.mssante.fr"
#: the stand-in's password (it guards nothing but the demo's loopback server)
PASSWORD = "demo-mssante-local"
#: the demo's physicians (Dr Claire DURAND, Dr Paul BERNARD): RPPS → their (fictional) address
PHYSICIANS = {
    "10003456789": "claire.durand@medecin.mssante.fr",
    "10009876543": "paul.bernard@medecin.mssante.fr",
}
_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:prostop-plugin:demo:labo-demo")
#: the demo lab's document ids: an OID of its own, under the plugin's UUID arc
LAB_DOCUMENT_ROOT = f"2.25.{_IDS.int}"
TEST_INS_OID = "1.2.250.1.213.1.4.10"  # the demo's INS are fictional: the test NIR's OID

LAB_METADATA = """<?xml version="1.0" encoding="UTF-8"?>
<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
    xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
  <rim:RegistryObjectList>
    <rim:ExtrinsicObject id="urn:uuid:{entry}" mimeType="text/xml"
        objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
      <rim:Slot name="URI">
        <rim:ValueList><rim:Value>DOC0001.XML</rim:Value></rim:ValueList>
      </rim:Slot>
      <rim:ExternalIdentifier identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
          value={patient} id="urn:uuid:{pid}" registryObject="urn:uuid:{entry}"/>
    </rim:ExtrinsicObject>
  </rim:RegistryObjectList>
</lcm:SubmitObjectsRequest>
"""


def _ts(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y%m%d%H%M%S%z")


def example_crbio(patient: PatientRef, now: datetime) -> tuple[bytes, str]:
    """A CR-BIO (CDA R2) of the demo lab "LABO-DEMO": SARS-CoV-2 RNA detected by RT-PCR,
    sampled yesterday, validated two hours ago; and its id. The id is the same all day for
    one patient: the demo sending it again the same day is recognised as the same report."""
    sampled, validated = now - timedelta(days=1), now - timedelta(hours=2)
    extension = f"CRBIO-DEMO-{validated.astimezone(PARIS):%Y%m%d}-{patient.host_patient_id}"
    ins_oid = patient.ins_oid or TEST_INS_OID
    ins = (f'<id root="{ins_oid}" extension={quoteattr(patient.ins)}/>' if patient.ins else
           f'<id root="{LAB_DOCUMENT_ROOT}.2" extension={quoteattr(patient.host_patient_id)}/>')
    birth = f"{patient.birth_date:%Y%m%d}" if patient.birth_date else ""
    document = f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.3.3"/>
  <id root="{LAB_DOCUMENT_ROOT}.1" extension="{extension}"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <title>Compte rendu d'examens biologiques (démonstration)</title>
  <effectiveTime value="{_ts(validated)}"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <recordTarget>
    <patientRole>
      {ins}
      <patient>
        <name>
          <family qualifier="BR">{escape(patient.family_name or "")}</family>
          <given>{escape(patient.given_name or "")}</given>
        </name>
        <administrativeGenderCode code="{patient.sex or "UN"}" codeSystem="2.16.840.1.113883.5.1"/>
        <birthTime value="{birth}"/>
      </patient>
    </patientRole>
  </recordTarget>
  <author>
    <time value="{_ts(validated)}"/>
    <assignedAuthor>
      <id root="{LAB_DOCUMENT_ROOT}.3" extension="SIL-DEMO"/>
      <representedOrganization><name>LABO-DEMO</name></representedOrganization>
    </assignedAuthor>
  </author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="{LAB_DOCUMENT_ROOT}.3"/><name>LABO-DEMO</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <component>
    <structuredBody>
      <component>
        <section>
          <templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/>
          <code code="18725-2" codeSystem="2.16.840.1.113883.6.1" displayName="Microbiologie"/>
          <title>Microbiologie</title>
          <text>Recherche de SARS-CoV-2 par RT-PCR : positif</text>
          <entry>
            <act classCode="ACT" moodCode="EVN">
              <templateId root="1.3.6.1.4.1.19376.1.3.1"/>
              <code code="18725-2" codeSystem="2.16.840.1.113883.6.1"/>
              <statusCode code="completed"/>
              <entryRelationship typeCode="COMP">
                <procedure classCode="PROC" moodCode="EVN">
                  <templateId root="1.3.6.1.4.1.19376.1.3.1.2"/>
                  <effectiveTime value="{_ts(sampled)}"/>
                </procedure>
              </entryRelationship>
              <entryRelationship typeCode="COMP">
                <observation classCode="OBS" moodCode="EVN">
                  <templateId root="1.3.6.1.4.1.19376.1.3.1.6"/>
                  <code code="94500-6" codeSystem="2.16.840.1.113883.6.1"
                        displayName="SARS-CoV-2 ARN [Présence] ; Résultat ; RT-PCR"/>
                  <statusCode code="completed"/>
                  <effectiveTime value="{_ts(validated)}"/>
                  <value xsi:type="CD" code="10828004" codeSystem="2.16.840.1.113883.6.96"
                         displayName="positif"/>
                  <interpretationCode code="A" codeSystem="2.16.840.1.113883.5.83"/>
                </observation>
              </entryRelationship>
            </act>
          </entry>
        </section>
      </component>
    </structuredBody>
  </component>
</ClinicalDocument>
"""
    return document.encode("utf-8"), f"{LAB_DOCUMENT_ROOT}.1^{extension}"


def lab_package(document: bytes, document_id: str, patient: PatientRef) -> bytes:
    """The lab's ``IHE_XDM.ZIP``: README, INDEX, a minimal METADATA.XML and the CR-BIO."""
    space = uuid.uuid5(_IDS, document_id)
    cx = (f"{patient.ins}^^^&{patient.ins_oid or TEST_INS_OID}&ISO^NH" if patient.ins else "")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.TXT", "LABO-DEMO - laboratoire fictif de la démonstration "
                         "prostop\r\n")
        archive.writestr("INDEX.HTM", "<html><body><a href=\"IHE_XDM/SUBSET01/DOC0001.XML\">"
                         "CR-BIO</a></body></html>")
        archive.writestr("IHE_XDM/SUBSET01/METADATA.XML", LAB_METADATA.format(
            entry=uuid.uuid5(space, "entry"), pid=uuid.uuid5(space, "patient"),
            patient=quoteattr(cx)))
        archive.writestr("IHE_XDM/SUBSET01/DOC0001.XML", document)
    return out.getvalue()


class MssanteDemo:
    """The stand-in mail server, the adapter's settings for it, and the demo lab."""

    adapter = "mssante"

    def __init__(self, folder: Path, *, on_delivery: OnDelivery | None = None,
                 poll_interval: float = 2.0) -> None:
        self.folder = folder
        self.poll_interval = poll_interval
        self.operator = LocalOperator(folder, password=PASSWORD, on_delivery=on_delivery)

    def __enter__(self) -> MssanteDemo:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        self.operator.start()
        self.operator.mailbox(APP_ADDRESS)
        for address in PHYSICIANS.values():
            self.operator.mailbox(address)

    def stop(self) -> None:
        self.operator.stop()

    @property
    def plugin(self) -> MssantePlugin:
        """An instance of the adapter's plugin, for a runtime that does not load entry points
        (the scripted demo); it is configured from :attr:`section` like the installed one."""
        return MssantePlugin()

    @property
    def section(self) -> dict[str, Any]:
        """``[adapter.mssante]`` for the stand-in."""
        assert self.operator.tls is not None, "start() first"
        return {
            "address": APP_ADDRESS, "password": PASSWORD, "intake": "maildir",
            "maildir": str(self.operator.mailbox(APP_ADDRESS)),
            "smtp_host": HOST, "smtp_port": self.operator.port, "smtp_tls": "starttls",
            "ca_file": str(self.operator.tls.ca), "recipients": dict(PHYSICIANS),
            "poll_interval": self.poll_interval, "timeout": 10.0,
        }

    def _context(self) -> ssl.SSLContext:
        assert self.operator.tls is not None, "start() first"
        return ssl.create_default_context(cafile=str(self.operator.tls.ca))

    def send_lab_report(self, patient: PatientRef, now: datetime) -> EmailMessage:
        """The demo lab sends a positive CR-BIO for ``patient`` to the application mailbox
        (SMTP, STARTTLS, login), as a lab's MSSanté client does; the message sent."""
        document, document_id = example_crbio(patient, now)
        birth = f" {patient.birth_date:%d/%m/%Y}" if patient.birth_date else ""
        message = EmailMessage()
        message["From"] = LAB_ADDRESS
        message["To"] = APP_ADDRESS
        message["Subject"] = (f"XDM/1.0/DDM+CR de biologie {patient.family_name or ''} "
                              f"{(patient.given_name or '').upper()}{birth}")
        message["Date"] = format_datetime(now.astimezone(PARIS))
        message["Message-ID"] = make_msgid("crbio", LAB_ADDRESS.rpartition("@")[2])
        message["X-MSS-CODECDA"] = "11502-2"
        message["X-MSS-INS"] = "O" if patient.ins else "N"
        message.set_content("Veuillez trouver ci-joint le compte rendu de biologie "
                            "(laboratoire fictif de la démonstration).")
        message.add_attachment(lab_package(document, document_id, patient),
                               maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
        with smtplib.SMTP(HOST, self.operator.port, timeout=10) as smtp:
            smtp.starttls(context=self._context())
            smtp.login(LAB_ADDRESS, PASSWORD)
            smtp.send_message(message)
        return message

    def mailbox_of(self, rpps: str) -> Path:
        """The physician's Maildir (where the write-back lands)."""
        return self.operator.mailbox(PHYSICIANS[rpps])

    def received(self, rpps: str) -> list[Path]:
        """The messages in the physician's Maildir, oldest first."""
        return self.operator.messages(PHYSICIANS[rpps])

    @staticmethod
    def read_document(path: Path) -> tuple[str, bytes]:
        """(subject, the CDA document) of a received message, read as the adapter reads an
        incoming one (:class:`InputError` when it holds no readable XDM package)."""
        raw = path.read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        for name, data in xdm_attachments(message, path.name):
            for document in read_package(data, f"{path.name}: {name}", ArchiveLimits()):
                return str(message.get("Subject", "")), document.data
        raise InputError("no IHE_XDM.ZIP attachment", where=str(path))

    def describe(self) -> list[str]:
        """What the demo prints about the stand-in (French, the demo's language)."""
        assert self.operator.tls is not None, "start() first"
        mail = self.folder / "mail"
        return [
            f"Messagerie MSSanté : serveur local de démonstration smtp://{HOST}:"
            f"{self.operator.port} (STARTTLS, autorité de certification jetable "
            f"{self.operator.tls.ca}) — un remplaçant local, pas MSSanté.",
            f"  Boîte applicative de prostop ({APP_ADDRESS}) : {mail / APP_ADDRESS}",
            *(f"  Boîte MSSanté du médecin {address} : {mail / address}"
              for address in PHYSICIANS.values()),
        ]
