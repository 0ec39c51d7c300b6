"""IHE XDM packages (ITI TF-1 §16, ITI TF-3 §4.2.3.2 "XDM media"), as MSSanté carries them in
an ``IHE_XDM.ZIP`` attachment::

    README.TXT                      who made the package (application, version, contact)
    INDEX.HTM                       what it holds, readable in a browser
    IHE_XDM/SUBSET01/METADATA.XML   the XDS submission set and document entries
    IHE_XDM/SUBSET01/DOC0001.XML    the CDA R2 document

Reading takes the documents each subset's ``METADATA.XML`` lists (through the hostile-input
reader of :mod:`.archive`); writing builds the package above for one write-back document,
byte-identical each time it is built for the same issuance (fixed entry dates and order).
"""

from __future__ import annotations

import hashlib
import html
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime

from prostop_mssante.archive import Entry, check_name, read_archive
from prostop_mssante.metadata import DocumentInfo, ListedDocument, build_metadata, read_metadata
from prostop_mssante.settings import ArchiveLimits
from prostop_plugin import PARIS, InputError, Practitioner, __version__

ATTACHMENT_NAME = "IHE_XDM.ZIP"
ROOT = "IHE_XDM"
SUBSET = "SUBSET01"
METADATA = "METADATA.XML"
DOCUMENT_NAME = "DOC0001.XML"
XML_TYPES = frozenset({"text/xml", "application/xml", "application/hl7-v3+xml"})


@dataclass(frozen=True)
class XdmDocument:
    """A document taken from a received package: where it was, its bytes, its entry."""

    path: str
    data: bytes
    listed: ListedDocument


def _subsets(entries: list[Entry]) -> dict[str, dict[str, Entry]]:
    """``IHE_XDM/<subset>/`` folders and their files, names compared case-insensitively."""
    subsets: dict[str, dict[str, Entry]] = {}
    for entry in entries:
        parts = entry.name.split("/")
        if len(parts) == 3 and parts[0].upper() == ROOT:
            subsets.setdefault(parts[1].upper(), {})[parts[2].upper()] = entry
    return subsets


def read_package(data: bytes, name: str, limits: ArchiveLimits) -> list[XdmDocument]:
    """The XML documents an ``IHE_XDM.ZIP`` carries, as its metadata lists them.

    :raises InputError: not a safe zip (:class:`~.archive.UnsafeArchiveError`), not an XDM
        package, or a listed document missing.
    """
    subsets = _subsets(read_archive(data, name, limits))
    found: list[XdmDocument] = []
    for subset, files in sorted(subsets.items()):
        metadata = files.get(METADATA)
        if metadata is None:
            continue
        for listed in read_metadata(metadata.data, f"{name}: {metadata.name}"):
            if listed.mime_type.lower() not in XML_TYPES:
                continue  # a PDF or an image beside the CDA: not read here
            check_name(listed.uri, f"{name}: {metadata.name} URI")
            if "/" in listed.uri.strip("/"):
                raise InputError("a document's URI points outside its subset folder",
                                 where=f"{name}: {metadata.name}: {listed.uri!r}",
                                 fix="ask the sender to send the document again")
            document = files.get(listed.uri.upper())
            if document is None:
                raise InputError(f"METADATA.XML lists {listed.uri!r}, which the archive lacks",
                                 where=f"{name}: {ROOT}/{subset}",
                                 fix="ask the sender to send the document again")
            found.append(XdmDocument(document.name, document.data, listed))
    if not subsets or not any(METADATA in files for files in subsets.values()):
        raise InputError(
            "the attachment is not an IHE XDM package: no IHE_XDM/<subset>/METADATA.XML",
            where=name, fix="ask the sender to send the document as an IHE_XDM.ZIP archive "
            "(Référentiel socle MSSanté #2)",
        )
    if not found:
        raise InputError("the IHE XDM package lists no XML (CDA) document", where=name,
                         fix="ask the sender to send the CDA document itself, not only a PDF")
    return found


# --- writing --------------------------------------------------------------------------------


def _readme(sender: str) -> str:
    lines = [
        "IHE XDM - package produced by prostop-plugin",
        "",
        f"Application: prostop-plugin {__version__} (StopCovid declaration codes)",
        f"Sender: {sender}",
        "Contents: one CDA R2 document (the StopCovid declaration note) and its XDS "
        "metadata in IHE_XDM/SUBSET01/.",
        "",
        "Paquet IHE XDM produit par prostop-plugin : un document CDA R2 (note de déclaration "
        "StopCovid) et ses métadonnées XDS dans IHE_XDM/SUBSET01/.",
    ]
    return "\r\n".join(lines) + "\r\n"


def _index(title: str) -> str:
    link = f"{ROOT}/{SUBSET}/{DOCUMENT_NAME}"
    return (
        "<!DOCTYPE html>\r\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
        "<title>IHE XDM</title></head><body>\r\n<h1>IHE XDM — prostop-plugin</h1>\r\n"
        f"<ul><li><a href=\"{link}\">{html.escape(title)}</a> (CDA R2, {DOCUMENT_NAME})</li>"
        f"\r\n<li><a href=\"{ROOT}/{SUBSET}/{METADATA}\">{METADATA}</a></li></ul>\r\n"
        "</body></html>\r\n"
    )


def build_package(document: DocumentInfo, *, issuance_id: str, sender: str,
                  recipient: tuple[Practitioner | None, str]) -> bytes:
    """The ``IHE_XDM.ZIP`` bytes for one write-back CDA document (deflated; entries dated
    with the document's creation time, so a rebuild is byte-identical)."""
    sha1 = hashlib.sha1(document.data, usedforsecurity=False).hexdigest()
    metadata = build_metadata(document, issuance_id=issuance_id, submitted=document.created,
                              recipient=recipient, sha1=sha1)
    stamp = document.created.astimezone(PARIS).timetuple()[:6]
    files = [
        ("README.TXT", _readme(sender).encode("utf-8")),
        ("INDEX.HTM", _index(document.title).encode("utf-8")),
        (f"{ROOT}/{SUBSET}/{METADATA}", metadata),
        (f"{ROOT}/{SUBSET}/{DOCUMENT_NAME}", document.data),
    ]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue()


def created_at(moment: datetime) -> datetime:
    """A creation time the zip format can carry (it has no time zone and no year < 1980)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=PARIS)
