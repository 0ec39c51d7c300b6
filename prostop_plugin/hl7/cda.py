"""CDA R2 reader (HL7 v3 XML, namespace ``urn:hl7-org:v3``), hardened against hostile XML.

Transcribes a French CDA document (CR-BIO lab report, medical summary…) into one
:class:`~prostop_plugin.models.DiagnosisEvent`: every result observation becomes a
:class:`~prostop_plugin.models.LabResult` (LOINC code, value CD/PQ/ST…, interpretation, status,
times) and every problem (FR-Probleme, or any observation whose value is a CIM-10 code) a
:class:`~prostop_plugin.models.DiagnosisEvidence`, the same models the HL7 v2 reader fills.

Safety: the byte size is checked first; a DOCTYPE or entity declaration anywhere (billion
laughs, external entities) is rejected with :class:`UnsafeXMLError` *before* parsing, and again
after parsing should one slip past the scan; the parser never resolves entities, loads a DTD,
touches the network or builds huge trees, and a resolver refuses every external resource
(libxml2 still opens an external DTD file with load_dtd=False). Nothing outside the given bytes
is ever read. Compiled XPath (module level) selects; the fields of one observation are then
read in a single pass over its children, cheaper than one XPath call per field.

Mapping decisions:

* statusCode completed → F (C when the document replaces an earlier one, relatedDocument RPLC),
  active/new/held/suspended → P, nullified/obsolete → D, aborted/cancelled → X.
* Patient: INS ids (OIDs 1.2.250.1.213.1.4.8 NIR, .9 NIA, .10 test NIR) give ``ins`` and
  ``ins_oid`` when their key checks out (a wrong key is logged and not used as the INS); another
  id is the host patient id, else the INS. Family name: the birth name (qualifier BR) first.
* ``message_id`` is the document id ``root^extension`` (unique per document version);
  ``host`` the author's organisation, else the custodian, else the document id's root.
* Practitioner: the first author with an RPPS (IdNat_PS 1.2.250.1.71.4.2.1, ``8`` + 11 digits).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from prostop_plugin.errors import InputError, UnsafeXMLError
from prostop_plugin.identity import masked, parse_nir
from prostop_plugin.input_limits import check_input
from prostop_plugin.models import (
    CodeSystem,
    Coding,
    DiagnosisEvent,
    DiagnosisEvidence,
    DiagnosisStatus,
    EventSource,
    Evidence,
    LabResult,
    PatientRef,
    Practitioner,
    ResultStatus,
    content_hash,
    normalise_system,
)
from prostop_plugin.values import lab_test_coding, parse_number, parse_ts

log = logging.getLogger(__name__)

HL7_NS = "urn:hl7-org:v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"hl7": HL7_NS, "xsi": XSI_NS}
MAX_CDA_BYTES = 20 * 1024 * 1024
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10")
IDNAT_PS_OID = "1.2.250.1.71.4.2.1"
PROFESSION_OID = "1.2.250.1.71.1.2.7"  # TRE_G15 profession codes: 10 médecin…
#: FR-Probleme, IHE PCC Problem Entry, CCD Problem observation
PROBLEM_TEMPLATES = frozenset(
    {"1.2.250.1.213.1.1.3.37", "1.3.6.1.4.1.19376.1.5.3.1.4.5", "2.16.840.1.113883.10.20.1.28"}
)
SPECIMEN_COLLECTION_TEMPLATE = "1.3.6.1.4.1.19376.1.3.1.2"

_CLINICAL_DOCUMENT = f"{{{HL7_NS}}}ClinicalDocument"
_OBSERVATION = f"{{{HL7_NS}}}observation"
_XSI_TYPE = f"{{{XSI_NS}}}type"
#: a DTD or entity declaration, in any ASCII-compatible encoding
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_RPPS = re.compile(r"^8?\d{11}$")
_POSITION_SUFFIX = re.compile(r",? line \d+, column \d+$")
_PROFESSION = re.compile(r"^(?:G15_)?(\d{2})(?:/|$)")
_STATUS: dict[str, ResultStatus] = {
    "completed": "F", "active": "P", "new": "P", "held": "P", "suspended": "P",
    "nullified": "D", "obsolete": "D", "aborted": "X", "cancelled": "X",
}
_CODED_TYPES = frozenset({"CD", "CE", "CV", "CO", "CS"})


def _tag(local: str) -> str:
    return f"{{{HL7_NS}}}{local}"


def _xpath(path: str) -> etree.XPath:
    return etree.XPath(path, namespaces=NS)


_DOCUMENT_ID = _xpath("hl7:id[1]")
_REPLACES = _xpath("boolean(hl7:relatedDocument[@typeCode='RPLC'])")
_PATIENT_ROLE = _xpath("hl7:recordTarget[1]/hl7:patientRole[1]")
_IDS = _xpath("hl7:id")
_ASSIGNED_AUTHORS = _xpath("hl7:author/hl7:assignedAuthor")
_PERSON_FAMILY = _xpath("string(hl7:assignedPerson/hl7:name[1]/hl7:family[1])")
_PERSON_GIVEN = _xpath("string(hl7:assignedPerson/hl7:name[1]/hl7:given[1])")
_ORGANISATION = _xpath(
    "string((hl7:author/hl7:assignedAuthor/hl7:representedOrganization/hl7:name"
    " | hl7:custodian/hl7:assignedCustodian/hl7:representedCustodianOrganization/hl7:name)[1])"
)
_OBSERVATIONS = _xpath("hl7:component/hl7:structuredBody//hl7:observation")
_CODE = _xpath("hl7:code[1]")
_AUTHOR_TIME = _xpath("string(hl7:author[1]/hl7:time/@value)")
_SPECIMEN_COLLECTIONS = _xpath(
    f"hl7:component/hl7:structuredBody//hl7:entryRelationship/hl7:procedure"
    f"[hl7:templateId/@root='{SPECIMEN_COLLECTION_TEMPLATE}']"
)

_local = threading.local()


class _DenyAll(etree.Resolver):  # type: ignore[misc]
    """Refuse every external resource: libxml2 opens an external DTD even with load_dtd=False."""

    def resolve(self, url: str, public_id: str, context: object) -> None:
        raise UnsafeXMLError("external resource refused", where=str(url))


def hardened_parser() -> etree.XMLParser:
    """This thread's parser: no entities, no DTD, no network, no external file, no huge trees."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, remove_comments=True, remove_pis=True, collect_ids=False,
        )
        parser.resolvers.add(_DenyAll())
    return parser


def parse_cda(data: bytes, name: str, *, max_bytes: int = MAX_CDA_BYTES) -> etree._Element:
    """Parse a CDA document safely; returns the ClinicalDocument element."""
    check_input(data, name, max_bytes, too_large=UnsafeXMLError,
                fix="a lab report is far smaller: check the file, or raise the limit")
    if _declares_dtd(data):
        raise UnsafeXMLError(
            "the document declares a DOCTYPE or entities (billion-laughs / external-entity "
            "pattern); rejected without reading it", where=name,
            fix="CDA documents never need a DOCTYPE: ask the sender to remove it",
        )
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<") and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("not XML (the content does not start with '<')", where=name,
                         fix="check that the file is a CDA R2 document")
    try:
        root = etree.fromstring(data, parser=hardened_parser())
    except UnsafeXMLError as exc:  # raised by _DenyAll
        raise UnsafeXMLError(
            f"the document refers to an external resource ({exc.where}); refused without "
            "reading it", where=name, fix="CDA documents never need external resources",
        ) from None
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        raise InputError(
            f"not well-formed XML: {_POSITION_SUFFIX.sub('', str(exc.msg))}",
            where=f"{name}, line {line} column {column}",
            fix="the file may be truncated or damaged: ask the sender to resend it",
        ) from None
    except (etree.LxmlError, ValueError) as exc:
        raise InputError(f"cannot be parsed as XML: {exc}", where=name) from None
    tree = root.getroottree()
    # without a DTD no entity can be declared, so no entity node can exist either
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise UnsafeXMLError("the document carries a DOCTYPE; rejected", where=name,
                             fix="CDA documents never need a DOCTYPE")
    if root.tag != _CLINICAL_DOCUMENT:
        local = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        what = (
            "ClinicalDocument is not in the HL7 v3 namespace (urn:hl7-org:v3)"
            if local == "ClinicalDocument" else f"not a CDA document (root element <{local}>)"
        )
        raise InputError(what, where=f"{name}, line {root.sourceline}",
                         fix='a CDA R2 document is <ClinicalDocument xmlns="urn:hl7-org:v3">')
    return root


def _declares_dtd(data: bytes) -> bool:
    if _DECLARATION.search(data):
        return True
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or data[:4] in (b"<\x00?\x00", b"\x00<\x00?"):
        text = data.decode("utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else
                           ("utf-16-le" if data[0] == 0x3C else "utf-16-be"), errors="replace")
        return bool(_DECLARATION.search(text.encode("ascii", errors="replace")))
    return False


def read_cda(data: bytes, name: str, adapter: str) -> list[DiagnosisEvent]:
    """Transcribe a CDA R2 document; [] when it holds no result nor problem."""
    root = parse_cda(data, name)
    document = _Document(bool(_REPLACES(root)), _collection_times(root))
    evidence: list[Evidence] = []
    for index, observation in enumerate(_OBSERVATIONS(root), 1):
        if _inside_problem(observation):
            continue
        parts = _Parts(observation)
        ref = f"observation[{index}] line {observation.sourceline}"
        item = (_diagnosis(parts, observation, ref) if parts.is_problem()
                else _result(parts, observation, ref, document))
        if item is not None:
            evidence.append(item)
    if not evidence:
        return []
    source = _source(root, data, adapter)
    for result in evidence:  # whose local codes they are ([eligibility.local_codes])
        if isinstance(result, LabResult):
            result.sender = source.host
    return [DiagnosisEvent(
        source=source, patient=_patient(root, name),
        practitioner=_practitioner(root), evidence=evidence,
    )]


# --- document, patient, author --------------------------------------------------------------


def _source(root: etree._Element, data: bytes, adapter: str) -> EventSource:
    ids = _DOCUMENT_ID(root)
    doc_root = ids[0].get("root", "") if ids else ""
    extension = ids[0].get("extension", "") if ids else ""
    message_id = f"{doc_root}^{extension}" if extension else (doc_root or None)
    return EventSource(
        adapter=adapter, host=_ORGANISATION(root).strip() or doc_root or "unknown",
        message_id=message_id, content_hash=content_hash(data), format="cda",
    )


def _patient(root: etree._Element, name: str) -> PatientRef:
    roles = _PATIENT_ROLE(root)
    if not roles:
        raise InputError("no patient (recordTarget/patientRole)", where=name,
                         fix="the document must name its patient")
    role = roles[0]
    ins = ins_oid = None
    others: list[str] = []
    for id_element in role.iterchildren(_tag("id")):
        oid, value = id_element.get("root", ""), (id_element.get("extension") or "").strip()
        if oid in INS_OIDS and value and ins is None:
            nir = parse_nir(value)
            if nir is not None and nir.key_ok:
                ins, ins_oid = nir.value, oid
            else:
                log.warning("%s, line %s: INS %s has a wrong or missing key; not used",
                            name, id_element.sourceline, masked(value))
        elif value or oid:
            others.append(value or oid)
    host_id = next(iter(others), None) or ins
    if not host_id:
        raise InputError(
            "no usable patient identifier (patientRole/id)", where=f"{name}, line "
            f"{role.sourceline}", fix="the document needs an INS with a valid key or a patient id",
        )
    person = role.find(_tag("patient"))
    parts = _Parts(person) if person is not None else None
    name_element = parts.get("name") if parts is not None else None
    family, given = _person_name(name_element) if name_element is not None else (None, None)
    birth = parse_ts(parts.attribute("birthTime", "value")) if parts is not None else None
    gender = parts.attribute("administrativeGenderCode", "code").upper() if parts else ""
    return PatientRef(
        host_patient_id=host_id, ins=ins, ins_oid=ins_oid, family_name=family, given_name=given,
        birth_date=birth.date() if birth else None,
        sex="F" if gender == "F" else "M" if gender == "M" else "U" if gender == "UN" else None,
    )


def _person_name(name: etree._Element) -> tuple[str | None, str | None]:
    """(family, given): the birth name (qualifier BR) first, else the first family name."""
    families = list(name.iterchildren(_tag("family")))
    birth_names = [f for f in families if "BR" in (f.get("qualifier") or "").split()]
    family = next(iter(birth_names or families), None)
    given = name.find(_tag("given"))
    return (
        (family.text or "").strip() or None if family is not None else None,
        (given.text or "").strip() or None if given is not None else None,
    )


def _practitioner(root: etree._Element) -> Practitioner | None:
    for author in _ASSIGNED_AUTHORS(root):
        for id_element in _IDS(author):
            value = (id_element.get("extension") or "").strip()
            if id_element.get("root") == IDNAT_PS_OID and _RPPS.match(value):
                codes = _CODE(author)
                code = codes[0].get("code", "") if codes else ""
                system = codes[0].get("codeSystem", "") if codes else ""
                profession = _PROFESSION.match(code)
                return Practitioner(
                    national_id=value, family_name=_PERSON_FAMILY(author).strip() or None,
                    given_name=_PERSON_GIVEN(author).strip() or None,
                    profession_code=profession[1] if profession and (
                        system == PROFESSION_OID or code.startswith("G15_")) else None,
                )
    return None


@dataclass(frozen=True)
class _Document:
    """What every observation's transcription needs from the document as a whole."""

    replaces: bool  # relatedDocument RPLC: completed results are corrections
    collection_times: dict[etree._Element, datetime | None]


# --- observations ---------------------------------------------------------------------------


_TEMPLATE_ID, _CODE_TAG, _VALUE_TAG, _LOW = _tag("templateId"), _tag("code"), _tag("value"), \
    _tag("low")
_TRANSLATION = _tag("translation")


class _Parts:
    """An observation's children, read in one pass (cheaper than one XPath call per field)."""

    __slots__ = ("children", "templates")

    def __init__(self, observation: etree._Element) -> None:
        self.templates: set[str] = set()
        self.children: dict[str, etree._Element] = {}
        for child in observation.iterchildren(tag=etree.Element):
            if child.tag == _TEMPLATE_ID:
                self.templates.add(child.get("root", ""))
            else:
                self.children.setdefault(child.tag, child)

    def get(self, local: str) -> etree._Element | None:
        return self.children.get(_tag(local))

    def attribute(self, local: str, name: str) -> str:
        element = self.children.get(_tag(local))
        return (element.get(name) or "").strip() if element is not None else ""

    def time(self, local: str = "effectiveTime") -> str:
        """A TS or the low bound of an IVL_TS."""
        element = self.children.get(_tag(local))
        if element is None:
            return ""
        low = element.find(_LOW)
        return element.get("value") or (low.get("value", "") if low is not None else "")

    def is_problem(self) -> bool:
        if not PROBLEM_TEMPLATES.isdisjoint(self.templates):
            return True
        value = self.get("value")
        return value is not None and normalise_system(value.get("codeSystem")) == CodeSystem.CIM10


def _inside_problem(observation: etree._Element) -> bool:
    """Status/severity observations nested in a problem are part of it, not results."""
    return any(_Parts(a).is_problem() for a in observation.iterancestors(_OBSERVATION))


def _coding(element: etree._Element | None) -> Coding | None:
    """A Coding from a code/value element, falling back to its first translation."""
    if element is None:
        return None
    for candidate in (element, *element.iterchildren(_TRANSLATION)):
        code = (candidate.get("code") or "").strip()
        if code:
            return Coding(code=code[:200], system=normalise_system(candidate.get("codeSystem")),
                          display=candidate.get("displayName"))
    return None


def _diagnosis(parts: _Parts, observation: etree._Element, ref: str) -> DiagnosisEvidence | None:
    value = parts.get("value")
    code = _coding(value)
    text = None  # uncoded (nullFlavor, originalText only): its words, for eligibility to read
    if code is None and value is not None:
        text = (value.get("displayName") or "").strip() or _text(value)
    if code is None and not text:
        return None
    status: DiagnosisStatus = "final"
    if observation.get("negationInd") == "true":
        status = "ruled_out"
    elif parts.attribute("uncertaintyCode", "code").upper() == "U":
        status = "working"
    return DiagnosisEvidence(
        code=code, text=text, status=status, source_ref=ref,
        recorded_at=parse_ts(_AUTHOR_TIME(observation) or parts.time()),
    )


def _result(
    parts: _Parts, observation: etree._Element, ref: str, document: _Document
) -> LabResult | None:
    code_element, value = parts.get("code"), parts.get("value")
    interpretation = parts.attribute("interpretationCode", "code")
    if code_element is None or (value is None and not interpretation):
        return None  # an organiser-like observation: nothing to transcribe
    test, alternate = _test_codes(code_element)
    if test is None:
        return None
    status = _STATUS.get(parts.attribute("statusCode", "code").lower(), "F")
    if status == "F" and document.replaces:
        status = "C"
    value_type, coded, text, numeric, unit = _value(value) if value is not None else (
        None, None, None, None, None)
    return LabResult(
        test=test, test_alternate=alternate, value_type=value_type, value_coded=coded,
        value_text=text, value_numeric=numeric, unit=unit,
        abnormal_flag=interpretation or None, status=status, observed_at=parse_ts(parts.time()),
        collected_at=_collection_time(observation, document.collection_times), source_ref=ref,
    )


def _test_codes(code_element: etree._Element) -> tuple[Coding | None, Coding | None]:
    """The test as sent first, and an alternate (a LOINC translation preferred)."""
    candidates = [c for c in (code_element, *code_element.iterchildren(_TRANSLATION))
                  if (c.get("code") or "").strip()]
    codings = [lab_test_coding(c.get("code").strip(), c.get("displayName"), c.get("codeSystem"))
               for c in candidates]
    if not codings:
        return None, None
    rest = codings[1:]
    alternate = next((c for c in rest if c.system == CodeSystem.LOINC), rest[0] if rest else None)
    return codings[0], alternate


_Value = tuple[str | None, Coding | None, str | None, float | None, str | None]


def _value(element: etree._Element) -> _Value:
    """(value type, coded, text, numeric, unit) from a ``value`` by its xsi:type."""
    kind = (element.get(_XSI_TYPE) or "").rpartition(":")[2].upper()
    if kind in _CODED_TYPES:
        coded = _coding(element)
        return "CWE", coded, None if coded else _text(element), None, None
    if kind in ("PQ", "INT", "REAL"):
        raw = element.get("value")
        return "NM", None, raw or _text(element), parse_number(raw), element.get("unit")
    if kind == "IVL_PQ":
        bounds = [element.find(_tag(bound)) for bound in ("low", "high")]
        shown = "-".join(b.get("value", "") if b is not None else "" for b in bounds)
        unit = next((b.get("unit") for b in bounds if b is not None and b.get("unit")), None)
        return "SN", None, shown, None, unit
    if kind in ("BL", "TS"):
        return kind, None, element.get("value"), None, None
    return (kind or "ST") if kind != "ED" else "TX", None, _text(element), None, None


def _text(element: etree._Element) -> str | None:
    return " ".join("".join(element.itertext()).split()) or None


def _collection_times(root: etree._Element) -> dict[etree._Element, datetime | None]:
    """Entry element → the specimen collection time it states (one XPath for the document)."""
    times: dict[etree._Element, datetime | None] = {}
    for procedure in _SPECIMEN_COLLECTIONS(root):
        relationship = procedure.getparent()
        owner = relationship.getparent() if relationship is not None else None
        if owner is not None and owner not in times:
            times[owner] = parse_ts(_Parts(procedure).time())
    return times


def _collection_time(
    observation: etree._Element, times: dict[etree._Element, datetime | None]
) -> datetime | None:
    """The specimen collection time of the nearest enclosing entry that states one."""
    if not times:
        return None
    for element in (observation, *observation.iterancestors()):
        if element in times:
            return times[element]
    return None
