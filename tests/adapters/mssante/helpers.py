"""Messages as a lab's MSSanté client sends them, and a test-side IMAP session to deliver and
inspect them."""

from __future__ import annotations

import email.policy
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from imapclient import IMAPClient

from prostop_mssante.plugin import MssantePlugin
from prostop_plugin.app import Prostop
from prostop_plugin.simulator.pki import Pki
from tests.adapters.adapter_fixtures import open_adapter_runtime
from tests.adapters.mssante.servers import PASSWORD, Dovecot, SmtpSink
from tests.corpus_location import CORPUS

APP_ADDRESS = "prostop@cabinet-durand.mssante.fr"
LAB_ADDRESS = "resultats@labo-garonne.mssante.fr"
PHYSICIAN_ADDRESS = "claire.durand@medecin.mssante.fr"
RPPS = "10003456789"
CRBIO = "cda_crbio_positive.xml"
INS = "280013306312376"

#: what a lab's software writes as METADATA.XML for one CDA document (ebRS 3.0)
LAB_METADATA = """<?xml version="1.0" encoding="UTF-8"?>
<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
    xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
  <rim:RegistryObjectList>
    <rim:ExtrinsicObject id="urn:uuid:0c287d32-01e3-4d87-9953-9fcc9404eb21" mimeType="text/xml"
        objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
      <rim:Slot name="URI"><rim:ValueList><rim:Value>{uri}</rim:Value></rim:ValueList></rim:Slot>
      <rim:ExternalIdentifier identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
          value="{patient}" id="urn:uuid:1" registryObject="urn:uuid:0c287d32"/>
    </rim:ExtrinsicObject>
  </rim:RegistryObjectList>
</lcm:SubmitObjectsRequest>
"""


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def lab_package(cda: bytes, *, patient: str = f"{INS}^^^&1.2.250.1.213.1.4.10&ISO^NH",
                extra: dict[str, bytes] | None = None) -> bytes:
    """An ``IHE_XDM.ZIP`` as a lab sends it: README, INDEX, metadata and the CDA."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.TXT", "Laboratoire Garonne - LIS 4.2\r\n")
        archive.writestr("INDEX.HTM", "<html><body>CR-BIO</body></html>")
        archive.writestr("IHE_XDM/SUBSET01/METADATA.XML",
                         LAB_METADATA.format(uri="DOC0001.XML",
                                             patient=escape(patient, {'"': "&quot;"})))
        archive.writestr("IHE_XDM/SUBSET01/DOC0001.XML", cda)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def lab_message(package: bytes | None, *, ins_header: str | None = "O",
                subject: str = "XDM/1.0/DDM+CR de biologie DUPONT CAMILLE 15/01/1980",
                message_id: str = "<crbio-7710050@labo-garonne.mssante.fr>") -> bytes:
    message = EmailMessage()
    message["From"] = LAB_ADDRESS
    message["To"] = APP_ADDRESS
    message["Subject"] = subject
    message["Date"] = "Thu, 19 Nov 2020 10:35:00 +0100"
    message["Message-ID"] = message_id
    message["X-MSS-CODECDA"] = "11502-2"
    if ins_header is not None:
        message["X-MSS-INS"] = ins_header
    message.set_content("Veuillez trouver ci-joint le compte rendu de biologie.")
    if package is not None:
        message.add_attachment(package, maintype="application", subtype="zip",
                               filename="IHE_XDM.ZIP")
    return message.as_bytes(policy=email.policy.SMTP)  # CRLF, as it travels and is stored


@contextmanager
def imap_session(dovecot: Dovecot, pki: Pki, user: str = APP_ADDRESS) -> Iterator[Any]:
    """The test's own IMAP session (as the operator delivering, or an admin looking)."""
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=True,
                        ssl_context=pki.client_context(), timeout=10)
    client.login(user, PASSWORD)
    try:
        yield client
    finally:
        client.logout()


def deliver(dovecot: Dovecot, pki: Pki, raw: bytes, folder: str = "INBOX") -> None:
    with imap_session(dovecot, pki) as client:
        client.append(folder, raw)


def folder_messages(dovecot: Dovecot, pki: Pki, folder: str) -> list[tuple[bytes, set[bytes]]]:
    """(raw bytes, flags) of every message of ``folder``, by UID; [] when it does not exist."""
    with imap_session(dovecot, pki) as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
        return [(bytes(fetched[uid][b"BODY[]"]), set(fetched[uid][b"FLAGS"]))
                for uid in sorted(fetched)]


def mssante_section(dovecot: Dovecot, pki: Pki, smtp: SmtpSink | None = None,
                    **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "address": APP_ADDRESS, "password": PASSWORD, "ca_file": str(pki.ca),
        "client_cert_file": str(pki.client_cert), "client_key_file": str(pki.client_key),
        "imap_host": "127.0.0.1", "imap_port": dovecot.port,
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port if smtp else 465,
        "recipients": {RPPS: PHYSICIAN_ADDRESS}, "poll_interval": 0.2, "timeout": 10,
        "nil": "TEST-NIL-0001",
    }
    return values | overrides


def open_runtime(tmp_path: Path, section: dict[str, Any], *plugins: object) -> Prostop:
    return open_adapter_runtime(tmp_path, MssantePlugin(), section, *plugins)
