"""IHE_XDM.ZIP read as hostile input: every refusal is a typed error, nothing is read past a
limit, nothing touches the disk."""

from __future__ import annotations

import io
import zipfile

import pytest

from prostop_mssante.archive import UnsafeArchiveError, read_archive
from prostop_mssante.settings import ArchiveLimits
from prostop_mssante.xdm import read_package
from prostop_plugin.errors import InputError
from tests.adapters.mssante.helpers import CRBIO, corpus, lab_package

LIMITS = ArchiveLimits()


def zip_of(*files: tuple[str | zipfile.ZipInfo, bytes],
           method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return out.getvalue()


def test_a_lab_package_gives_its_cda_document() -> None:
    [document] = read_package(lab_package(corpus(CRBIO)), "IHE_XDM.ZIP", LIMITS)
    assert document.path == "IHE_XDM/SUBSET01/DOC0001.XML"
    assert document.data == corpus(CRBIO)
    assert document.listed.patient_id is not None
    assert document.listed.patient_id.startswith("280013306312376^^^")


def test_a_zip_bomb_stops_at_the_ratio_limit_without_inflating_it_all() -> None:
    bomb = zip_of(("IHE_XDM/SUBSET01/DOC0001.XML", b"\0" * (50 * 1024 * 1024)))
    assert len(bomb) < 100 * 1024  # about 1000:1
    with pytest.raises(UnsafeArchiveError, match="zip bomb") as caught:
        read_archive(bomb, "IHE_XDM.ZIP", LIMITS)
    assert caught.value.where == "IHE_XDM.ZIP: IHE_XDM/SUBSET01/DOC0001.XML"
    assert caught.value.fix


def test_the_total_inflated_size_is_bounded_across_entries() -> None:
    limits = ArchiveLimits(max_total_bytes=300_000, max_ratio=10_000)
    files = [(f"IHE_XDM/SUBSET01/DOC{i}.XML", bytes(200_000)) for i in range(3)]
    with pytest.raises(UnsafeArchiveError, match="with the entries before it"):
        read_archive(zip_of(*files), "IHE_XDM.ZIP", limits)


def test_too_many_entries_are_refused_before_any_is_read() -> None:
    files = [(f"f{i}.txt", b"x") for i in range(LIMITS.max_entries + 1)]
    with pytest.raises(UnsafeArchiveError, match=f"more than the {LIMITS.max_entries}"):
        read_archive(zip_of(*files), "IHE_XDM.ZIP", LIMITS)


@pytest.mark.parametrize("name", [
    "../../etc/cron.d/evil", "IHE_XDM/../../evil.xml", "/etc/passwd", "C:/Windows/evil.xml",
    "IHE_XDM\\SUBSET01\\..\\..\\evil.xml", "IHE_XDM//SUBSET01/DOC.XML", "./DOC.XML",
])
def test_path_traversal_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeArchiveError) as caught:
        read_archive(zip_of((name, b"<x/>")), "IHE_XDM.ZIP", LIMITS)
    assert "traversal" in caught.value.what or "backslash" in caught.value.what


def test_a_nested_zip_is_refused_by_name_and_by_content() -> None:
    inner = zip_of(("a.xml", b"<a/>"))
    for name in ("IHE_XDM/SUBSET01/OTHER.ZIP", "IHE_XDM/SUBSET01/DOC0002.XML"):
        with pytest.raises(UnsafeArchiveError, match="another archive"):
            read_archive(zip_of((name, inner)), "IHE_XDM.ZIP", LIMITS)


def test_duplicate_names_symlinks_and_odd_compression_are_refused() -> None:
    with pytest.raises(UnsafeArchiveError, match="same name"):
        read_archive(zip_of(("DOC.XML", b"<a/>"), ("doc.xml", b"<b/>")), "z", LIMITS)
    link = zipfile.ZipInfo("IHE_XDM/SUBSET01/DOC0001.XML")
    link.create_system = 3
    link.external_attr = (0o120777 << 16)
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        read_archive(zip_of((link, b"/etc/passwd")), "z", LIMITS)
    with pytest.raises(UnsafeArchiveError, match="compression method"):
        read_archive(zip_of(("DOC.XML", b"<a/>" * 100), method=zipfile.ZIP_BZIP2), "z", LIMITS)


def test_a_damaged_or_non_zip_attachment_is_a_typed_error() -> None:
    with pytest.raises(UnsafeArchiveError, match="not a readable zip"):
        read_archive(b"%PDF-1.4 not a zip", "IHE_XDM.ZIP", LIMITS)
    package = bytearray(lab_package(corpus(CRBIO)))
    with zipfile.ZipFile(io.BytesIO(bytes(package))) as archive:
        info = archive.getinfo("IHE_XDM/SUBSET01/DOC0001.XML")
    data_start = info.header_offset + 30 + len(info.filename) + 20
    package[data_start:data_start + 64] = bytes(64)  # damaged in transit
    with pytest.raises(UnsafeArchiveError, match="damaged"):
        read_package(bytes(package), "IHE_XDM.ZIP", LIMITS)


def test_a_package_without_metadata_or_with_a_missing_document_is_a_typed_error() -> None:
    with pytest.raises(InputError, match="not an IHE XDM package"):
        read_package(zip_of(("DOC0001.XML", corpus(CRBIO))), "IHE_XDM.ZIP", LIMITS)
    metadata_only = lab_package(corpus(CRBIO))
    with zipfile.ZipFile(io.BytesIO(metadata_only)) as archive:
        files = [(n, archive.read(n)) for n in archive.namelist() if not n.endswith("DOC0001.XML")]
    with pytest.raises(InputError, match="which the archive lacks"):
        read_package(zip_of(*files), "IHE_XDM.ZIP", LIMITS)


def test_metadata_with_entities_is_refused() -> None:
    evil = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<r>&x;</r>")
    with pytest.raises(InputError, match="DTD or entities"):
        read_package(zip_of(("IHE_XDM/SUBSET01/METADATA.XML", evil)), "IHE_XDM.ZIP", LIMITS)
