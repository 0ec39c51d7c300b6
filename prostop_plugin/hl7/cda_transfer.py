"""CDA R2 documents carried in HL7 v2 messages, as the ANS CI-SIS profile "Transmission d'un
document CDA-R2 en HL7v2" (``CISIS_CDA_HL7_V2``, version 2.1) lays them out.

**Out** — :func:`build_cda_transfer` writes an ``MDM^T02^MDM_T02`` (HL7 v2.6) or an
``ORU^R01^ORU_R01`` (v2.5) carrying one CDA document:

* MSH-21 ``2.1^CISIS_CDA_HL7_V2``; EVN (MDM); PID; PV1 (class ``N``: no visit); ORC-1 ``NW``;
  OBR-4 the document's type; TXA (MDM): TXA-2 the type, TXA-3 ``TEXT``, TXA-12 the document's
  id (``ext^^root^ISO``, or the OID alone), TXA-17 ``AU``;
* the first OBX: OBX-2 ``ED``, OBX-3 = OBR-4, OBX-5 ``^TEXT^XML^Base64^<document>`` (``text``
  in MDM: v2.6 takes the MIME type), OBX-11 ``F``;
* then the DMP/MSSanté metadata the profile requires (``MetaDMPMSS``: masked to professionals,
  invisible to the patient, …, DMP and MSSanté recipients), all ``N``: the receiver files the
  document in the patient record; nothing is to be published or forwarded;
* PID-3 holds the document's patient identifiers, as the profile requires (the host's id as
  ``PI``, the INS as ``INS`` under ``ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO`` — only when
  the document holds it under an INS OID, i.e. qualified), PID-5/7/8 its name, birth date and
  sex, and PID-32 the identity status: ``VALI`` with a qualified INS, else ``PROV``.

Everything is read from the document itself, so the message cannot contradict it.

**In** — :func:`map_cda_transfer` reads an ORU^R01 or MDM^T02/T10 whose OBX-5 is an ED holding
a Base64 CDA document (a lab's CR-BIO): each document is decoded, size-checked and read by the
CDA reader; PID is checked against it (an INS in PID-3 must be the document's; PID-32
``VALI``/``QUAL`` requires the document to carry a qualified INS; another PID-32 status keeps
the document's INS as a carried NIR, never asserted as qualified). What cannot be used raises
:class:`~prostop_plugin.hl7.mapping.HL7FieldError` naming the segment and field (an AE).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from prostop_plugin.errors import InputError
from prostop_plugin.hl7.ack import hl7_timestamp, new_control_id
from prostop_plugin.hl7.cda import INS_OIDS, MAX_CDA_BYTES, NS, parse_cda, read_cda
from prostop_plugin.hl7.er7 import (
    DEFAULT_DELIMITERS,
    Delimiters,
    Message,
    MessageBuilder,
    Segment,
    SegmentBuilder,
)
from prostop_plugin.hl7.mapping import HL7FieldError, MappedMessage, UnsupportedMessageType
from prostop_plugin.hl7.outgoing import INS_NAMESPACES, WriteBackHeader
from prostop_plugin.identity import checked_ins
from prostop_plugin.models import DiagnosisEvent, LabResult, ResultCorrection

#: MSH-21: the profile's version and name
PROFILE = ("2.1", "CISIS_CDA_HL7_V2")
#: the message types this module reads (MDM^T04, a deletion, carries nothing to read)
READ_TYPES = frozenset({"ORU^R01", "MDM^T02", "MDM^T10"})
#: the ORU may carry the document twice (CDA and another format); an MDM once
MAX_DOCUMENTS = 2
#: PID-32 statuses of a qualified identity (PAM FR: VALI; RNIV / FR Core: QUAL)
QUALIFIED_STATUSES = frozenset({"VALI", "QUAL"})
#: the DMP/MSSanté metadata the profile requires after the document, in its order
METADATA: tuple[tuple[str, str], ...] = (
    ("MASQUE_PS", "Masqué aux professionnels de Santé"),
    ("INVISIBLE_PATIENT", "Document Non Visible par le patient"),
    ("INVISIBLE_REP_LEGAUX", "Non visible par les représentants Légaux du patient"),
    ("CONNEXION_SECRETE", "Connexion Secrete"),
    ("MODIF_CONF_CODE", "Modification Confidentiality Code"),
    ("DESTDMP", "Destinataire DMP"),
    ("DESTMSSANTEPS",
     "Destinataire (Professionnel de Santé, organisation ou BAL applicative)"),
    ("DESTMSSANTEPAT", "Destinataire Patient"),
)
LOINC_OID = "2.16.840.1.113883.6.1"
_XML_SUBTYPES = frozenset({"XML", "CDA", "X-HL7-CDA-LEVEL-ONE", "HL7-CDA"})
_RESEND = "ask the sender to check the document and send the message again"


def _xpath(path: str) -> etree.XPath:
    return etree.XPath(path, namespaces=NS)


_DOC_ROOT = _xpath("string(hl7:id[1]/@root)")
_DOC_EXTENSION = _xpath("string(hl7:id[1]/@extension)")
_CODE = _xpath("hl7:code[1]")
_EFFECTIVE = _xpath("string(hl7:effectiveTime/@value)")
_PATIENT_IDS = _xpath("hl7:recordTarget[1]/hl7:patientRole[1]/hl7:id")
_PATIENT = "hl7:recordTarget[1]/hl7:patientRole[1]/hl7:patient[1]"
_FAMILY = _xpath(f"string({_PATIENT}/hl7:name[1]/hl7:family[1])")
_GIVEN = _xpath(f"string({_PATIENT}/hl7:name[1]/hl7:given[1])")
_BIRTH = _xpath(f"string({_PATIENT}/hl7:birthTime/@value)")
_GENDER = _xpath(f"string({_PATIENT}/hl7:administrativeGenderCode/@code)")


# --- out ------------------------------------------------------------------------------------


def build_cda_transfer(
    cda: bytes, header: WriteBackHeader | None = None, *,
    message_type: Literal["MDM^T02", "ORU^R01"] = "MDM^T02",
    control_id: str | None = None, now: datetime | None = None,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> bytes:
    """The message carrying ``cda`` (UTF-8 CDA R2 bytes) as the CI-SIS profile lays it out
    (see the module). Pass the same ``control_id`` and ``now`` on a resend: the bytes are then
    the same. :class:`InputError` when ``cda`` is not a CDA document, or a name cannot be
    written in ``header.charset``."""
    root = parse_cda(cda, "the CDA document to send")
    header = header or WriteBackHeader()
    stamp = hl7_timestamp(now)
    kind, trigger = message_type.split("^")
    mdm = kind == "MDM"
    builder = MessageBuilder(delimiters, header.charset)
    msh = builder.add("MSH").set(3, header.sending_application).set(4, header.sending_facility)
    msh.set(5, header.receiving_application).set(6, header.receiving_facility).set(7, stamp)
    msh.set("9.1", kind).set("9.2", trigger).set("9.3", f"{kind}_{trigger}")
    msh.set(10, control_id or new_control_id()).set(11, header.processing_id)
    msh.set(12, "2.6" if mdm else "2.5").set(15, "AL").set(16, "NE").set(17, header.country)
    msh.set("21.1", PROFILE[0]).set("21.2", PROFILE[1])
    if mdm:
        builder.add("EVN").set(2, stamp)
    _patient(builder.add("PID"), root)
    builder.add("PV1").set(1, "1").set(2, "N")
    code = _document_code(root)
    builder.add("ORC").set(1, "NW")
    _coded(builder.add("OBR").set(1, "1"), 4, code)
    if mdm:
        txa = builder.add("TXA").set(1, "1").set(2, code[0]).set(3, "TEXT")
        txa.set(4, _effective(root) or stamp)
        _document_id(txa, root)
        txa.set(17, "AU")
    obx = builder.add("OBX").set(1, "1").set(2, "ED")
    _coded(obx, 3, code)
    obx.set("5.2", "text" if mdm else "TEXT").set("5.3", "XML").set("5.4", "Base64")
    obx.set("5.5", base64.b64encode(cda).decode("ascii")).set(11, "F")
    for number, (name, label) in enumerate(METADATA, start=2):
        meta = builder.add("OBX").set(1, str(number)).set(2, "CWE" if mdm else "CE")
        meta.set("3.1", name).set("3.2", label).set("3.3", "MetaDMPMSS")
        meta.set("5.1", "N").set("5.3", "expandedYes-NoIndicator").set(11, "F")
    return builder.to_bytes()


def _document_code(root: etree._Element) -> tuple[str, str, str]:
    found = _CODE(root)
    if not found or not found[0].get("code"):
        raise InputError("the CDA document has no code (ClinicalDocument/code)",
                         where="the CDA document to send", fix="build it with build_cda_note")
    element = found[0]
    system = element.get("codeSystem", "")
    return (str(element.get("code")), str(element.get("displayName") or ""),
            "LN" if system == LOINC_OID else (element.get("codeSystemName") or system))


def _coded(seg: SegmentBuilder, number: int, code: tuple[str, str, str]) -> None:
    seg.set(f"{number}.1", code[0]).set(f"{number}.2", code[1]).set(f"{number}.3", code[2])


def _effective(root: etree._Element) -> str:
    return str(_EFFECTIVE(root)).strip()


def _document_id(txa: SegmentBuilder, root: etree._Element) -> None:
    """TXA-12: ``extension^^root^ISO``, or the OID alone when the id has no extension."""
    doc_root, extension = str(_DOC_ROOT(root)), str(_DOC_EXTENSION(root))
    if extension:
        txa.set("12.1", extension).set("12.3", doc_root).set("12.4", "ISO")
    else:
        txa.set("12.1", doc_root)


def _patient(pid: SegmentBuilder, root: etree._Element) -> None:
    pid.set(1, "1")
    ins: list[tuple[str, str]] = []
    others: list[tuple[str, str]] = []
    for element in _PATIENT_IDS(root):
        oid, value = element.get("root", ""), (element.get("extension") or "").strip()
        if value:
            (ins if oid in INS_OIDS else others).append((value, oid))
    repetition = 0
    for value, oid in others:  # the host's own id first: what an EHR matches on
        repetition += 1
        pid.set(f"3({repetition}).1", value).set(f"3({repetition}).4.2", oid)
        pid.set(f"3({repetition}).4.3", "ISO").set(f"3({repetition}).5", "PI")
    for value, oid in ins:
        repetition += 1
        pid.set(f"3({repetition}).1", value).set(f"3({repetition}).4.1", INS_NAMESPACES[oid])
        pid.set(f"3({repetition}).4.2", oid).set(f"3({repetition}).4.3", "ISO")
        pid.set(f"3({repetition}).5", "INS")
    family, given = str(_FAMILY(root)).strip(), str(_GIVEN(root)).strip()
    pid.set("5.1", family).set("5.2", given)
    if family:
        pid.set("5.7", "L")
    pid.set(7, str(_BIRTH(root)).strip()[:8])
    gender = str(_GENDER(root)).strip().upper()
    pid.set(8, {"F": "F", "M": "M", "UN": "U"}.get(gender, ""))
    pid.set(32, "VALI" if ins else "PROV")


# --- in -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddedDocument:
    """A CDA document decoded from an OBX's ED value."""

    data: bytes
    segment: Segment
    occurrence: int  # among the message's OBX segments

    @property
    def where(self) -> str:
        return f"OBX[{self.occurrence}]-5"


def _field_error(msg: Message, seg: Segment, occurrence: int, number: int, what: str,
                 fix: str = _RESEND) -> HL7FieldError:
    return HL7FieldError(what, segment=seg.name, occurrence=occurrence, field_number=number,
                         position=msg.segment_byte_offset(seg.index), fix=fix)


def embedded_documents(msg: Message, *, max_bytes: int = MAX_CDA_BYTES,
                       max_documents: int = MAX_DOCUMENTS) -> list[EmbeddedDocument]:
    """The XML documents held Base64-encoded in ED OBX values (others, a PDF say, are left).

    :raises HL7FieldError: an XML ED that is not Base64, is empty or not valid Base64, decodes
        to more than ``max_bytes`` bytes (checked before decoding), or more than
        ``max_documents`` of them.
    """
    found: list[EmbeddedDocument] = []
    for occurrence, seg in enumerate(msg.segments("OBX"), start=1):
        if seg.value(2).strip().upper() != "ED":
            continue
        subtype = seg.value(5, 1, 3).strip().upper()
        if subtype not in _XML_SUBTYPES:
            continue
        encoding = seg.value(5, 1, 4).strip()
        if encoding.upper() != "BASE64":
            raise _field_error(msg, seg, occurrence, 5,
                               f"the XML document's encoding (OBX-5.4) is {encoding!r}, not "
                               "Base64", fix="send the CDA document Base64-encoded, as the "
                               "CI-SIS profile requires: ^TEXT^XML^Base64^<data>")
        text = "".join(seg.value(5, 1, 5).split())
        if not text:
            raise _field_error(msg, seg, occurrence, 5, "the ED value holds no data (OBX-5.5)")
        if len(text) // 4 * 3 > max_bytes + 2:
            raise _field_error(msg, seg, occurrence, 5,
                               f"the embedded document is about {len(text) // 4 * 3} bytes, "
                               f"over the {max_bytes}-byte limit; not decoded",
                               fix="check it is a lab report; raise max_document_bytes if "
                               "such documents are expected")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _field_error(msg, seg, occurrence, 5,
                               f"the embedded document is not valid Base64 ({exc})") from None
        if len(data) > max_bytes:
            raise _field_error(msg, seg, occurrence, 5,
                               f"the embedded document is {len(data)} bytes, over the "
                               f"{max_bytes}-byte limit", fix="check it is a lab report; "
                               "raise max_document_bytes if such documents are expected")
        found.append(EmbeddedDocument(data, seg, occurrence))
        if len(found) > max_documents:
            raise _field_error(msg, seg, occurrence, 5,
                               f"more than {max_documents} embedded documents in one message",
                               fix="send one document per message (the CI-SIS profile)")
    return found


def map_cda_transfer(msg: Message, *, adapter: str, max_bytes: int = MAX_CDA_BYTES,
                     max_documents: int = MAX_DOCUMENTS) -> MappedMessage | None:
    """The events of the CDA documents ``msg`` carries (see the module); ``None`` when it
    carries none (then it is an ordinary message for :func:`~.mapping.map_message`).

    :raises HL7ParseError: a type not read, a document that cannot be decoded or read, or an
        identity contradiction — each naming the segment and field.
    """
    documents = embedded_documents(msg, max_bytes=max_bytes, max_documents=max_documents)
    if not documents:
        return None
    if msg.message_type not in READ_TYPES:
        raise UnsupportedMessageType(
            f"message type {msg.message_type or '(empty MSH-9)'} does not carry a document "
            "to read", where="MSH-9", fix="send " + ", ".join(sorted(READ_TYPES)))
    pid = msg.segment("PID")
    if pid is None:
        raise HL7FieldError("the message has no PID segment", segment="PID", occurrence=1,
                            field_number=3, fix="the CI-SIS profile requires PID")
    events: list[DiagnosisEvent] = []
    for document in documents:
        try:
            read = read_cda(document.data, f"{document.where}: CDA", adapter)
        except InputError as exc:
            raise _field_error(msg, document.segment, document.occurrence, 5,
                               f"the embedded CDA document cannot be used: {exc.what}"
                               + (f" ({exc.where})" if exc.where else ""),
                               fix=exc.fix or _RESEND) from None
        events += [_checked(msg, pid, _from_sender(msg, e)) for e in read]
    corrections = [
        ResultCorrection(source=e.source, patient=e.patient, result=item)
        for e in events for item in e.evidence
        if isinstance(item, LabResult) and item.status in ("C", "D")
    ]
    return MappedMessage(events, corrections, msg.message_type, msg.control_id.strip() or None)


def _from_sender(msg: Message, event: DiagnosisEvent) -> DiagnosisEvent:
    """A document that names no organisation is dated from the message's sender (MSH-4)."""
    if event.source.host != "unknown":
        return event
    sender = msg["MSH-4.1"].strip() or msg["MSH-3.1"].strip()
    if not sender:
        return event
    return event.model_copy(update={"source": event.source.model_copy(update={"host": sender})})


def _declared_ins(pid: Segment) -> str | None:
    for rep in pid.repetitions(3):
        if rep.get(4, 2).strip() in INS_OIDS or rep[5].strip().upper() == "INS":
            found = checked_ins(rep[1].strip())
            if found is not None:
                return found
    return None


def _checked(msg: Message, pid: Segment, event: DiagnosisEvent) -> DiagnosisEvent:
    patient = event.patient
    qualified = bool(patient.ins) and patient.ins_oid in INS_OIDS
    status = pid.value(32).strip().upper()
    declared = _declared_ins(pid)
    if status in QUALIFIED_STATUSES and not qualified:
        raise _field_error(msg, pid, 1, 32,
                           f"PID-32 says the identity is qualified ({status}) but the CDA "
                           "document carries no INS under an INS OID, or its key is wrong",
                           fix="the sender must put the qualified INS in the document's "
                           "recordTarget, or send PID-32 PROV")
    if declared is not None and patient.ins is not None and declared != patient.ins:
        raise _field_error(msg, pid, 1, 3, "PID-3 and the CDA document name different "
                           "patients (their INS differ)",
                           fix="PID-3 must be the document's patient identifiers")
    if status and status not in QUALIFIED_STATUSES and patient.ins_oid is not None:
        return event.model_copy(update={"patient": patient.model_copy(update={"ins_oid": None})})
    return event

