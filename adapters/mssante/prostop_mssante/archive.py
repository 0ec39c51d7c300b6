"""Reading an ``IHE_XDM.ZIP`` attachment as hostile input, in memory only.

Nothing is ever extracted to disk, so a name cannot write anywhere; a name that *would* escape
(``../``, an absolute path, a drive letter, a backslash) is refused all the same, since a sender
producing one is broken or hostile. Sizes are never taken from the archive's headers: each
entry is inflated in bounded chunks and counted, so a zip bomb stops at the first byte over the
limit. Refused as well: more entries than allowed, a ratio above ``max_ratio``, encrypted
entries, compression methods other than stored/deflate, symbolic links, duplicate names
(compared case-insensitively: Windows senders), and archives nested inside the archive.

Every refusal is an :class:`UnsafeArchiveError` (an :class:`~prostop_plugin.InputError`), with
what, where and how to fix.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import dataclass

from prostop_mssante.settings import ArchiveLimits
from prostop_plugin import InputError

CHUNK = 64 * 1024
_ALLOWED_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_MAX_NAME = 255
_RESEND = "ask the sender to send the document again; the message is kept in quarantine"


class UnsafeArchiveError(InputError):
    """An archive that cannot be read safely (bomb, traversal, nesting, too many entries…)."""


@dataclass(frozen=True)
class Entry:
    """One file of the archive, inflated: its name as stored and its bytes."""

    name: str
    data: bytes


def _refuse(what: str, where: str, fix: str = _RESEND) -> UnsafeArchiveError:
    return UnsafeArchiveError(what, where=where, fix=fix)


def check_name(name: str, archive: str) -> str:
    """The entry name, when it is a plain relative path; else :class:`UnsafeArchiveError`."""
    where = f"{archive}: {name!r}"
    if not name or len(name.encode("utf-8", "surrogateescape")) > 4 * _MAX_NAME:
        raise _refuse("an entry has an empty or overlong name", archive)
    if "\\" in name or "\x00" in name or any(ord(c) < 0x20 for c in name):
        raise _refuse("an entry name holds a backslash or a control character", where)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _refuse("an entry name is an absolute path (path traversal)", where)
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise _refuse("an entry name leaves its folder ('..', '.' or '//': path traversal)",
                      where)
    return name


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)  # 3: made on Unix


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int,
             limits: ArchiveLimits, where: str) -> bytes:
    """Inflate one entry, counting real bytes (never the header's claims)."""
    cap = min(limits.max_entry_bytes, budget)
    ratio_cap = max(info.compress_size, 1) * limits.max_ratio
    out = io.BytesIO()
    with archive.open(info) as stream:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            out.write(chunk)
            size = out.tell()
            if size > cap:
                total = "" if cap == limits.max_entry_bytes else " (with the entries before it)"
                raise _refuse(f"an entry inflates past {cap} bytes{total}: a zip bomb or an "
                              "oversize document", where)
            if size > ratio_cap and size > CHUNK:
                raise _refuse(f"an entry inflates more than {limits.max_ratio} times its "
                              "compressed size: a zip bomb", where)
    return out.getvalue()


def read_archive(data: bytes, archive_name: str, limits: ArchiveLimits) -> list[Entry]:
    """Every file of the zip ``data``, inflated within ``limits``; folders are skipped.

    :raises UnsafeArchiveError: the archive is damaged or breaks a rule in the module doc.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise UnsafeArchiveError(f"the attachment is not a readable zip archive ({exc})",
                                 where=archive_name, fix=_RESEND) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise _refuse(f"the archive has {len(infos)} entries, more than the "
                          f"{limits.max_entries} allowed", archive_name)
        entries: list[Entry] = []
        seen: set[str] = set()
        budget = limits.max_total_bytes
        for info in infos:
            name = check_name(info.filename, archive_name)
            where = f"{archive_name}: {name}"
            if name.casefold() in seen:
                raise _refuse("two entries have the same name", where)
            seen.add(name.casefold())
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise _refuse("an entry is encrypted", where,
                              "ask the sender for an unencrypted IHE_XDM.ZIP (MSSanté "
                              "already encrypts the message in transit)")
            if info.compress_type not in _ALLOWED_METHODS:
                raise _refuse(f"an entry uses compression method {info.compress_type} "
                              "(only stored and deflate are read)", where)
            if _is_symlink(info):
                raise _refuse("an entry is a symbolic link", where)
            try:
                content = _inflate(archive, info, budget, limits, where)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                    NotImplementedError, RuntimeError) as exc:
                raise UnsafeArchiveError(f"an entry is damaged ({exc})", where=where,
                                         fix=_RESEND) from None
            if name.lower().endswith(".zip") or content.startswith(_ZIP_MAGIC):
                raise _refuse("the archive holds another archive (nested zips are not read)",
                              where)
            budget -= len(content)
            entries.append(Entry(name, content))
        return entries
