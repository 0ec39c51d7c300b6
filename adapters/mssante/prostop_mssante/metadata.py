"""``METADATA.XML`` of an IHE XDM subset: an ebRS 3.0 ``SubmitObjectsRequest`` holding the
submission set (``RegistryPackage``), one document entry per document (``ExtrinsicObject``) and
their ``HasMember`` associations (IHE ITI TF-3 §4.2 and §4.3.1; ITI TF-1 §16 for XDM).

The codes follow the CI-SIS "Volet Partage de Documents de Santé" value sets:

* ``typeCode`` — the CDA document's own ``code`` (LOINC 34109-9 "Note" for the write-back);
* ``classCode`` ``10`` "Compte rendu" (TRE_A03-ClasseDocument, 1.2.250.1.213.1.1.4.1);
* ``formatCode`` ``urn:asipSante:modelesHorsProfils:2011`` "Document non référencé IHE ou
  CI-SIS" (TRE_A06-FormatCodeComplementaire, 1.2.250.1.213.1.1.4.2.282, in JDV_J10): the note
  is a CDA R2 with a structured body following no CI-SIS content model of its own;
* ``confidentialityCode`` ``N`` (HL7 2.16.840.1.113883.5.25);
* ``healthcareFacilityTypeCode`` ``SA07`` "Cabinet individuel" (TRE_R02-SecteurActivite,
  1.2.250.1.71.4.2.4) and ``practiceSettingCode`` ``AMBULATOIRE`` (TRE_A01-CadreExercice,
  1.2.250.1.213.1.1.4.9): a physician's practice;
* the patient as ``INS^^^&OID&ISO^NH`` when the INS is qualified, else only as
  ``sourcePatientId`` under the plugin's own root; authors as XCN with ``IDNPS`` (RPPS).

Every id is a UUID derived from the issuance, so a write-back sent again is the same package.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from prostop_plugin import InputError, PatientRef, Practitioner
from prostop_plugin.hl7.cda import IDNAT_PS_OID, INS_OIDS, hardened_parser

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
NSMAP = {"lcm": LCM, "rim": RIM}
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
STABLE_DOCUMENT = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
#: document entry classification and identification schemes (ITI TF-3 table 4.2.5-1)
DOC = {
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
    "classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "formatCode": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "healthcareFacilityTypeCode": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practiceSettingCode": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
    "patientId": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
    "uniqueId": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
}
SUBMISSION = {
    "author": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
    "patientId": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
    "sourceId": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
    "uniqueId": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
}
CLASS_CODE = ("10", "1.2.250.1.213.1.1.4.1", "Compte rendu")
FORMAT_CODE = ("urn:asipSante:modelesHorsProfils:2011", "1.2.250.1.213.1.1.4.2.282",
               "Document non référencé IHE ou CI-SIS")
CONFIDENTIALITY = ("N", "2.16.840.1.113883.5.25", "Normal")
FACILITY_TYPE = ("SA07", "1.2.250.1.71.4.2.4", "Cabinet individuel")
PRACTICE_SETTING = ("AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire")
LOINC = "2.16.840.1.113883.6.1"
#: the plugin's own OID arc (UUID-derived, arc 2.25): source id, local patient ids
APP_OID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:prostop-plugin').int}"
LOCAL_PATIENT_ROOT = f"{APP_OID}.2"


@dataclass(frozen=True)
class DocumentInfo:
    """What the write-back's document entry says about the CDA document."""

    file_name: str
    data: bytes
    unique_id: str  # the CDA's id: root, or root^extension
    type_code: tuple[str, str]  # (LOINC code, display name)
    title: str
    created: datetime
    patient: PatientRef
    author: Practitioner | None


def qualified_ins(patient: PatientRef) -> bool:
    """The INS is qualified in the MSSanté sense (Référentiel socle #2, ECO.2.4.2): the
    matricule with its OID and the four identity traits (birth name, first name, birth date,
    sex)."""
    return bool(patient.ins and patient.ins_oid in INS_OIDS and patient.family_name
                and patient.given_name and patient.birth_date
                and patient.sex in ("F", "M"))


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def _urn(namespace: uuid.UUID, name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(namespace, name)}"


def _add(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{RIM}}}{tag}", attrs)


def _slot(parent: etree._Element, name: str, values: Iterable[str]) -> None:
    value_list = _add(_add(parent, "Slot", name=name), "ValueList")
    for value in values:
        _add(value_list, "Value").text = value


def _name(parent: etree._Element, text: str) -> None:
    _add(_add(parent, "Name"), "LocalizedString", value=text,
         **{"{http://www.w3.org/XML/1998/namespace}lang": "fr-FR", "charset": "UTF-8"})


def _code(parent: etree._Element, scheme: str, code: tuple[str, str, str], ident: str) -> None:
    node, system, display = code
    element = _add(parent, "Classification", classificationScheme=scheme,
                   classifiedObject=str(parent.get("id")), nodeRepresentation=node, id=ident)
    _slot(element, "codingScheme", [system])
    _name(element, display)


def _identifier(parent: etree._Element, scheme: str, value: str, label: str,
                ident: str) -> None:
    element = _add(parent, "ExternalIdentifier", identificationScheme=scheme, value=value,
                   registryObject=str(parent.get("id")), id=ident)
    _name(element, label)


def xcn(practitioner: Practitioner) -> str:
    """A practitioner as an XCN with the IdNat_PS assigning authority (``IDNPS``)."""
    return (f"{practitioner.national_id}^{practitioner.family_name or ''}^"
            f"{practitioner.given_name or ''}^^^^^^&{IDNAT_PS_OID}&ISO^D^^^IDNPS")


def patient_cx(patient: PatientRef) -> tuple[str, str]:
    """(patientId, sourcePatientId): the INS when qualified, else the source's id."""
    local = f"{patient.host_patient_id}^^^&{LOCAL_PATIENT_ROOT}&ISO^PI"
    if qualified_ins(patient):
        ins = f"{patient.ins}^^^&{patient.ins_oid}&ISO^NH"
        return ins, ins
    return "", local


def _author(parent: etree._Element, scheme: str, author: Practitioner | None, ident: str) -> None:
    element = _add(parent, "Classification", classificationScheme=scheme,
                   classifiedObject=str(parent.get("id")), nodeRepresentation="", id=ident)
    if author is not None:
        _slot(element, "authorPerson", [xcn(author)])
    else:
        _slot(element, "authorInstitution", [f"prostop-plugin^^^^^&{APP_OID}&ISO^IDNST"])


def build_metadata(document: DocumentInfo, *, issuance_id: str, submitted: datetime,
                   recipient: tuple[Practitioner | None, str], sha1: str) -> bytes:
    """The subset's ``METADATA.XML`` (UTF-8) for one CDA document, ids derived from
    ``issuance_id`` so that the same issuance always yields the same package."""
    space = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:prostop-plugin:mssante:{issuance_id}")
    doc_id, set_id = _urn(space, "document"), _urn(space, "submission-set")
    patient_id, source_patient = patient_cx(document.patient)
    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap=NSMAP)
    objects = _add(root, "RegistryObjectList")

    entry = _add(objects, "ExtrinsicObject", id=doc_id, mimeType="text/xml",
                 objectType=STABLE_DOCUMENT, status=APPROVED)
    _slot(entry, "creationTime", [_ts(document.created)])
    _slot(entry, "hash", [sha1])
    _slot(entry, "languageCode", ["fr-FR"])
    _slot(entry, "size", [str(len(document.data))])
    _slot(entry, "URI", [document.file_name])
    _slot(entry, "sourcePatientId", [source_patient])
    info = [f"PID-3|{source_patient}"]
    patient = document.patient
    if patient.family_name or patient.given_name:
        info.append(f"PID-5|{patient.family_name or ''}^{patient.given_name or ''}^^^^^L")
    if patient.birth_date:
        info.append(f"PID-7|{patient.birth_date:%Y%m%d}")
    if patient.sex:
        info.append(f"PID-8|{patient.sex}")
    _slot(entry, "sourcePatientInfo", info)
    _name(entry, document.title)
    _author(entry, DOC["author"], document.author, _urn(space, "document-author"))
    _code(entry, DOC["classCode"], CLASS_CODE, _urn(space, "class"))
    _code(entry, DOC["confidentialityCode"], CONFIDENTIALITY, _urn(space, "confidentiality"))
    _code(entry, DOC["formatCode"], FORMAT_CODE, _urn(space, "format"))
    _code(entry, DOC["healthcareFacilityTypeCode"], FACILITY_TYPE, _urn(space, "facility"))
    _code(entry, DOC["practiceSettingCode"], PRACTICE_SETTING, _urn(space, "practice"))
    _code(entry, DOC["typeCode"], (*document.type_code[:1], LOINC, document.type_code[1]),
          _urn(space, "type"))
    if patient_id:
        _identifier(entry, DOC["patientId"], patient_id, "XDSDocumentEntry.patientId",
                    _urn(space, "document-patient"))
    _identifier(entry, DOC["uniqueId"], document.unique_id, "XDSDocumentEntry.uniqueId",
                _urn(space, "document-unique"))

    package = _add(objects, "RegistryPackage", id=set_id, status=APPROVED)
    _slot(package, "submissionTime", [_ts(submitted)])
    physician, address = recipient
    _slot(package, "intendedRecipient",
          [f"|{xcn(physician) if physician else ''}|^^Internet^{address}"])
    _name(package, document.title)
    _author(package, SUBMISSION["author"], document.author, _urn(space, "set-author"))
    if patient_id:
        _identifier(package, SUBMISSION["patientId"], patient_id,
                    "XDSSubmissionSet.patientId", _urn(space, "set-patient"))
    _identifier(package, SUBMISSION["sourceId"], APP_OID, "XDSSubmissionSet.sourceId",
                _urn(space, "set-source"))
    _identifier(package, SUBMISSION["uniqueId"], f"2.25.{uuid.UUID(set_id[9:]).int}",
                "XDSSubmissionSet.uniqueId", _urn(space, "set-unique"))
    _add(objects, "Classification", classifiedObject=set_id,
         classificationNode=SUBMISSION_SET_NODE, id=_urn(space, "set-node"))
    member = _add(objects, "Association", associationType=HAS_MEMBER, sourceObject=set_id,
                  targetObject=doc_id, id=_urn(space, "has-member"))
    _slot(member, "SubmissionSetStatus", ["Original"])
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                pretty_print=True))


# --- reading a received METADATA.XML --------------------------------------------------------


@dataclass(frozen=True)
class ListedDocument:
    """A document entry of a received ``METADATA.XML``."""

    uri: str
    mime_type: str
    patient_id: str | None


_ENTRIES = etree.XPath("//*[local-name()='ExtrinsicObject']")
_SLOT_VALUES = etree.XPath("*[local-name()='Slot'][@name=$name]/*[local-name()='ValueList']"
                           "/*[local-name()='Value']/text()")
_PATIENT_ID = etree.XPath(
    f"string(*[local-name()='ExternalIdentifier'][@identificationScheme='{DOC['patientId']}']"
    "/@value)")


def _uri(values: list[str]) -> str:
    """The URI slot; XDM splits a long one into ``1|part``, ``2|part``… values."""
    if len(values) > 1 and all("|" in v and v.split("|", 1)[0].isdigit() for v in values):
        ordered = sorted(values, key=lambda v: int(v.split("|", 1)[0]))
        return "".join(v.split("|", 1)[1] for v in ordered)
    return values[0].strip() if values else ""


def read_metadata(data: bytes, where: str) -> list[ListedDocument]:
    """The document entries a subset's ``METADATA.XML`` lists (hardened XML parsing).

    :raises InputError: not XML, or no document entry.
    """
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise InputError("METADATA.XML declares a DTD or entities (refused: XML attacks)",
                         where=where, fix="ask the sender to send the document again")
    try:
        root = etree.fromstring(data, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise InputError(f"METADATA.XML is not well-formed XML: {exc.msg}", where=where,
                         fix="ask the sender to send the document again") from None
    listed = []
    for entry in _ENTRIES(root):
        uri = _uri([str(v) for v in _SLOT_VALUES(entry, name="URI")])
        patient = str(_PATIENT_ID(entry)).strip() or None
        listed.append(ListedDocument(uri, str(entry.get("mimeType") or ""), patient))
    if not listed:
        raise InputError("METADATA.XML lists no document (no ExtrinsicObject)", where=where,
                         fix="ask the sender to send the document again")
    return listed
