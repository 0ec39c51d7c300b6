"""Write-back documents the EHR imports into the patient record (file-drop adapter, step 4).

* :func:`build_cda_note` — a CDA R2 document (French templateIds) whose single section holds the
  note as an FR-Commentaire-ER entry (1.2.250.1.213.1.1.3.32, LOINC 48767-8), addressed with the
  patient's identifiers from the source. Built with lxml, so text is escaped by construction.
  :func:`cda_note_problems` checks a document against the structure below (a small
  Schematron-like list of XPath assertions) for tests and for the adapter's own checks.
* :func:`build_record_note` — that note for an issuance, with its id derived from the issuance:
  the one write-back document every channel sends (MSSanté's XDM package, HL7 v2's CI-SIS
  profile), identical however many times it is sent.
* :func:`build_hprim_report` — an "HPRIM médecin" text report: the 12 header lines the GP
  software matches the patient on, then the note as free text, CRLF line ends, Latin-1 by
  default. It deliberately has **no** ``****LAB****`` block: GP software files a report with
  RES lines as lab results (values, ranges, charts), and the note is not a lab result; a
  text-only HPRIM file is imported as a letter/document in the record, which is what a note is.
  It ends with ``****FINFICHIER****`` so importers know the file is complete.

Identifiers we mint live under ``APP_OID``, a UUID-derived OID (arc 2.25) owned by this plugin.
Only an INS whose source qualified it (``ins_oid`` set by the CDA reader) is written under an INS
OID; a NIR read from an HPRIM file is carried under ``NIR_ROOT``, never asserted as an INS.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from prostop_plugin.errors import ConfigError
from prostop_plugin.hl7.cda import (
    HL7_NS,
    IDNAT_PS_OID,
    INS_OIDS,
    NS,
    PROFESSION_OID,
    XSI_NS,
    hardened_parser,
)
from prostop_plugin.hprim import FILE_END
from prostop_plugin.models import IssuanceRecord, PatientRef, Practitioner
from prostop_plugin.texts import get_texts
from prostop_plugin.values import PARIS

APP_OID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:prostop-plugin').int}"
DOCUMENT_ID_ROOT = f"{APP_OID}.1"
PATIENT_ID_ROOT = f"{APP_OID}.2"  # the patient's id as the source document knew it
SOURCE_ID_ROOT = f"{APP_OID}.3"  # source messages without an OID of their own (HPRIM files)
NIR_ROOT = f"{APP_OID}.4"  # a NIR read from a file that does not qualify it as the INS
COMMENT_TEMPLATES = (
    "2.16.840.1.113883.10.20.1.40",  # CCD comment
    "1.3.6.1.4.1.19376.1.5.3.1.4.2",  # IHE PCC comment
    "1.2.250.1.213.1.1.3.32",  # FR-Commentaire-ER
)
LOINC_OID = "2.16.840.1.113883.6.1"
NOTE_CODE = ("34109-9", "Note")  # LOINC document type for a free note
COMMENT_CODE = ("48767-8", "Commentaire")

_OID = re.compile(r"^[0-2](?:\.(?:0|[1-9]\d*))+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
#: characters XML 1.0 cannot carry at all
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TYPOGRAPHY = str.maketrans({
    "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
    "\u2026": "...", "\u0153": "oe", "\u0152": "OE", "\u20ac": "EUR", "\u00a0": " ",
    "\u202f": " ",
})


# --- CDA R2 note ----------------------------------------------------------------------------


def build_cda_note(
    *,
    patient: PatientRef,
    note_lines: Sequence[str],
    title: str,
    author: Practitioner | None,
    document_id: str,
    effective_time: dt.datetime,
    source_document_ids: Sequence[str] = (),
) -> bytes:
    """A CDA R2 document carrying ``note_lines`` as an FR-Commentaire-ER entry, UTF-8 bytes."""
    doc = etree.Element(f"{{{HL7_NS}}}ClinicalDocument", nsmap={None: HL7_NS, "xsi": XSI_NS})
    _add(doc, "realmCode", code="FR")
    _add(doc, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    _add(doc, "templateId", root="2.16.840.1.113883.2.8.2.1")
    _add(doc, "templateId", root="1.2.250.1.213.1.1.1.1")
    _add(doc, "id", **_instance_id(document_id, DOCUMENT_ID_ROOT))
    _add(doc, "code", code=NOTE_CODE[0], displayName=NOTE_CODE[1], codeSystem=LOINC_OID,
         codeSystemName="LOINC")
    _add(doc, "title", _clean(title))
    when = _ts(effective_time)
    _add(doc, "effectiveTime", value=when)
    _add(doc, "confidentialityCode", code="N", codeSystem="2.16.840.1.113883.5.25")
    _add(doc, "languageCode", code="fr-FR")
    _add(doc, "setId", **_instance_id(document_id, DOCUMENT_ID_ROOT))
    _add(doc, "versionNumber", value="1")
    _record_target(doc, patient)
    _author(doc, author, when)
    organisation = _add(_add(_add(doc, "custodian"), "assignedCustodian"),
                        "representedCustodianOrganization")
    _add(organisation, "id", root=APP_OID)
    _add(organisation, "name", "prostop-plugin")
    section = _add(_add(_add(_add(doc, "component"), "structuredBody"), "component"), "section")
    _add(section, "code", code=COMMENT_CODE[0], displayName=COMMENT_CODE[1],
         codeSystem=LOINC_OID, codeSystemName="LOINC")
    _add(section, "title", _clean(title))
    paragraph = _add(_add(section, "text"), "paragraph", ID="note")
    _narrative_lines(paragraph, [line for text in note_lines for line in text.splitlines()])
    act = _add(_add(section, "entry"), "act", classCode="ACT", moodCode="EVN")
    for template in COMMENT_TEMPLATES:
        _add(act, "templateId", root=template)
    _add(act, "code", code=COMMENT_CODE[0], displayName=COMMENT_CODE[1], codeSystem=LOINC_OID,
         codeSystemName="LOINC")
    _add(_add(act, "text"), "reference", value="#note")
    _add(act, "statusCode", code="completed")
    for source in source_document_ids:
        external = _add(_add(act, "reference", typeCode="REFR"), "externalDocument",
                        classCode="DOC", moodCode="EVN")
        _add(external, "id", **_source_id(source))
    return bytes(etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _add(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{HL7_NS}}}{tag}",
                               {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _clean(text)
    return element


def _clean(text: str) -> str:
    """Replace what XML cannot carry (control characters) instead of failing the write-back."""
    return _NOT_XML.sub("\ufffd", text)


def _narrative_lines(paragraph: etree._Element, lines: list[str]) -> None:
    paragraph.text = _clean(lines[0]) if lines else ""
    for line in lines[1:]:
        etree.SubElement(paragraph, f"{{{HL7_NS}}}br").tail = _clean(line)


def _ts(moment: dt.datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=PARIS)
    return aware.strftime("%Y%m%d%H%M%S%z")


def _instance_id(value: str, default_root: str) -> dict[str, str]:
    """An OID or UUID is a root on its own; anything else is an extension under our root."""
    if _OID.match(value):
        return {"root": value}
    if _UUID.match(value):
        return {"root": value.upper()}
    return {"root": default_root, "extension": value}


def _source_id(message_id: str) -> dict[str, str]:
    """Source ids as the readers write them: CDA ``root^extension``, else opaque."""
    root, sep, extension = message_id.partition("^")
    if sep and (_OID.match(root) or _UUID.match(root)) and extension:
        return {"root": root, "extension": extension}
    return _instance_id(message_id, SOURCE_ID_ROOT)


def _record_target(doc: etree._Element, patient: PatientRef) -> None:
    role = _add(_add(doc, "recordTarget"), "patientRole")
    qualified = patient.ins_oid in INS_OIDS
    if patient.ins and qualified:
        _add(role, "id", root=str(patient.ins_oid), extension=patient.ins)
    if patient.host_patient_id != patient.ins or not qualified:
        _add(role, "id", root=PATIENT_ID_ROOT, extension=patient.host_patient_id)
    if patient.ins and not qualified and patient.ins != patient.host_patient_id:
        _add(role, "id", root=NIR_ROOT, extension=patient.ins)  # carried, not asserted as INS
    person = _add(role, "patient")
    if patient.family_name or patient.given_name:
        name = _add(person, "name")
        if patient.family_name:
            _add(name, "family", patient.family_name)
        if patient.given_name:
            _add(name, "given", patient.given_name)
    else:
        _add(person, "name", nullFlavor="UNK")
    gender = {"F": "F", "M": "M", "U": "UN"}.get(patient.sex or "")
    if gender:
        _add(person, "administrativeGenderCode", code=gender,
             codeSystem="2.16.840.1.113883.5.1")
    else:
        _add(person, "administrativeGenderCode", nullFlavor="UNK")
    if patient.birth_date:
        _add(person, "birthTime", value=patient.birth_date.strftime("%Y%m%d"))
    else:
        _add(person, "birthTime", nullFlavor="UNK")


def _author(doc: etree._Element, author: Practitioner | None, when: str) -> None:
    element = _add(doc, "author")
    _add(element, "time", value=when)
    assigned = _add(element, "assignedAuthor")
    if author is None:  # written by the software itself
        _add(assigned, "id", root=APP_OID)
        device = _add(assigned, "assignedAuthoringDevice")
        _add(device, "softwareName", "prostop-plugin")
        return
    _add(assigned, "id", root=IDNAT_PS_OID, extension=author.national_id)
    if author.profession_code:
        _add(assigned, "code", code=author.profession_code, codeSystem=PROFESSION_OID)
    name = _add(_add(assigned, "assignedPerson"), "name")
    if author.given_name:
        _add(name, "given", author.given_name)
    _add(name, "family", author.family_name or author.national_id)


#: (what must hold, XPath that is true when it holds) — the note's structure, Schematron-like
CDA_NOTE_RULES: tuple[tuple[str, str], ...] = (
    ("root is ClinicalDocument", "boolean(/hl7:ClinicalDocument)"),
    ("realmCode FR", "/hl7:ClinicalDocument/hl7:realmCode/@code = 'FR'"),
    ("typeId POCD_HD000040",
     "/hl7:ClinicalDocument/hl7:typeId[@root='2.16.840.1.113883.1.3']/@extension"
     " = 'POCD_HD000040'"),
    ("French templateIds", "count(/hl7:ClinicalDocument/hl7:templateId[@root="
     "'2.16.840.1.113883.2.8.2.1' or @root='1.2.250.1.213.1.1.1.1']) = 2"),
    ("document id", "boolean(/hl7:ClinicalDocument/hl7:id/@root)"),
    ("document code", "boolean(/hl7:ClinicalDocument/hl7:code/@code)"),
    ("effectiveTime", "string-length(/hl7:ClinicalDocument/hl7:effectiveTime/@value) >= 8"),
    ("confidentialityCode", "boolean(/hl7:ClinicalDocument/hl7:confidentialityCode/@code)"),
    ("patient identified",
     "count(/hl7:ClinicalDocument/hl7:recordTarget/hl7:patientRole/hl7:id[@root]) >= 1"),
    ("patient element", "boolean(/hl7:ClinicalDocument/hl7:recordTarget/hl7:patientRole/"
     "hl7:patient)"),
    ("author with time and id", "boolean(/hl7:ClinicalDocument/hl7:author[hl7:time/@value]/"
     "hl7:assignedAuthor/hl7:id/@root)"),
    ("custodian", "boolean(/hl7:ClinicalDocument/hl7:custodian/hl7:assignedCustodian/"
     "hl7:representedCustodianOrganization/hl7:id/@root)"),
    ("a section with narrative", "boolean(/hl7:ClinicalDocument/hl7:component/"
     "hl7:structuredBody/hl7:component/hl7:section/hl7:text)"),
    ("FR-Commentaire-ER entry", "boolean(//hl7:section/hl7:entry/hl7:act[hl7:templateId/@root="
     "'1.2.250.1.213.1.1.3.32'][hl7:code/@code='48767-8'][hl7:code/@codeSystem="
     "'2.16.840.1.113883.6.1'][hl7:statusCode/@code='completed'])"),
    ("comment text points into the narrative",
     "//hl7:act[hl7:templateId/@root='1.2.250.1.213.1.1.3.32']/hl7:text/hl7:reference/@value"
     " = concat('#', //hl7:section/hl7:text//@ID)"),
)
_RULES = tuple((what, etree.XPath(path, namespaces=NS)) for what, path in CDA_NOTE_RULES)


def cda_note_problems(data: bytes) -> list[str]:
    """The :data:`CDA_NOTE_RULES` a document breaks (empty when it is a well-formed note)."""
    root = etree.fromstring(data, parser=hardened_parser())
    return [what for what, rule in _RULES if not rule(root)]


#: the namespace of the write-back notes' ids; named after the adapter that sent them first and
#: kept, so that a note sent again after an upgrade is still the same document
WRITE_BACK_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:prostop-plugin:mssante:write-back")


@dataclass(frozen=True)
class RecordNote:
    """The write-back CDA note of one issuance, and what a package or a message says of it."""

    data: bytes
    document_id: str  # an OID (2.25.<UUID>): ClinicalDocument/id/@root, with no extension
    title: str
    code: tuple[str, str]  # ClinicalDocument/code: LOINC code and display name
    created: dt.datetime  # effectiveTime, aware
    author: Practitioner | None


def record_note_id(record_id: str) -> str:
    """The note's id, derived from the issuance: the same document every time it is sent."""
    return f"2.25.{uuid.uuid5(WRITE_BACK_IDS, record_id).int}"


def build_record_note(record: IssuanceRecord) -> RecordNote:
    """The CDA R2 note of ``record`` (see :func:`build_cda_note`): the summary line and the
    record note in the record's language, the confirming physician as author, the source
    document referenced; its id and time derive from the issuance, so its bytes do too."""
    texts = get_texts(record.locale)
    title = texts.text("note.title")
    author = (record.confirmation.practitioner if record.confirmation is not None
              else record.event.practitioner)
    created = record.issued_at or record.valid_from or record.updated_at
    created = created if created.tzinfo else created.replace(tzinfo=PARIS)
    source = record.event.source.message_id
    document_id = record_note_id(record.id)
    data = build_cda_note(
        patient=record.event.patient,
        note_lines=[texts.summary_line(record), texts.record_note(record)],
        title=title, author=author, document_id=document_id, effective_time=created,
        source_document_ids=[source] if source else [],
    )
    return RecordNote(data=data, document_id=document_id, title=title, code=NOTE_CODE,
                      created=created, author=author)


# --- HPRIM médecin report -------------------------------------------------------------------


def build_hprim_report(
    *,
    patient: PatientRef,
    note_lines: Sequence[str],
    title: str,
    sender: str,
    recipient: str | Practitioner,
    date: dt.date,
    encoding: str = "latin-1",
    file_number: str | None = None,
) -> bytes:
    """An HPRIM médecin text report: 12 header lines, the note, ``****FINFICHIER****``; CRLF.

    Characters the encoding cannot carry are transliterated (’ → ', œ → oe, accents dropped
    where needed) rather than lost; ``****`` inside the note is spaced out so that no note line
    can be mistaken for an HPRIM marker.
    """
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(f"unknown encoding {encoding!r}", where="HPRIM write-back encoding",
                          fix="use latin-1 (default) or utf-8") from None
    if isinstance(recipient, Practitioner):
        rpps = recipient.rpps or recipient.national_id
        recipient = f"{rpps} {recipient.display_name()}"
    header = [
        title, patient.family_name or "", patient.given_name or "", "", "", "",
        patient.birth_date.strftime("%d/%m/%Y") if patient.birth_date else "",
        patient.ins or "", file_number or "", date.strftime("%d/%m/%Y"), sender, recipient,
    ]
    body = [line.replace("****", "* * * *") for text in note_lines for line in text.splitlines()]
    lines = [_one_line(h) for h in header] + [_clean(line).rstrip() for line in body]
    text = "\r\n".join([*lines, FILE_END]) + "\r\n"
    return _encodable(text, encoding).encode(encoding)


def _one_line(text: str) -> str:
    return " ".join(_clean(text).split())


def _encodable(text: str, encoding: str) -> str:
    """Transliterate what ``encoding`` cannot carry; ``?`` only as the very last resort."""
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        pass
    out: list[str] = []
    for char in text.translate(_TYPOGRAPHY):
        try:
            char.encode(encoding)
            out.append(char)
        except UnicodeEncodeError:
            plain = unicodedata.normalize("NFKD", char).encode(encoding, "ignore")
            out.append(plain.decode(encoding) or "?")
    return "".join(out)
