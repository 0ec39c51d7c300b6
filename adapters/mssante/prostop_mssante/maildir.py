"""The application mailbox as a local Maildir (``intake = "maildir"``): the same four operations
as the IMAPS mailbox (:class:`~prostop_mssante.mailbox.Mailbox`), on files.

For the demo's local mail server, or a mailbox delivered on the machine prostop runs on (an MSSanté
operator's mailbox is read over IMAPS: keep ``intake = "imap"`` there). The layout is the one
Dovecot and Courier use (Maildir++): the inbox is ``maildir`` itself (``new/``, ``cur/``,
``tmp/``), the quarantine and handled folders are ``maildir/.<folder>/``, so an IMAP server
over the same files shows them as folders.

* A message's "UID" is its file's inode number: it stays the same when the file is renamed
  within the mailbox, so the retry bookkeeping and the quarantine note's key follow it; the
  "UIDVALIDITY" is the inbox folder's inode.
* Waiting messages are the files of ``new/`` and ``cur/``, oldest delivery first (file names
  begin with the delivery time). A Maildir has no keywords: a handled message is always moved
  to ``handled_folder``, by one ``rename`` (atomic), the folder then synced to disk.
* A quarantine note is delivered into the quarantine folder (``tmp/`` then ``cur/``, seen)
  before the message is moved beside it; a note already there for the same key (a crash in
  between) is not written again. Nothing is ever deleted.
"""

from __future__ import annotations

import email.parser
import email.policy
import mailbox
import os
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType

from prostop_mssante.mailbox import NOTE_HEADER, Fetched, MailboxError
from prostop_mssante.settings import SECTION, MssanteSettings
from prostop_plugin import ConfigError

_SUBFOLDERS = ("tmp", "new", "cur")
_HEADER_BYTES = 65536


def _sync(folder: Path) -> None:
    """Make a rename into ``folder`` durable (POSIX: fsync the directory)."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class LocalMailbox:
    """One session on the Maildir (use as a context manager, like the IMAPS mailbox)."""

    def __init__(self, config: MssanteSettings) -> None:
        assert config.maildir is not None  # the settings require it with intake = "maildir"
        self.config = config
        self.root = config.maildir
        self.uidvalidity = 0
        self._paths: dict[int, Path] = {}

    def __enter__(self) -> LocalMailbox:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._paths = {}

    def open(self) -> None:
        if not all((self.root / sub).is_dir() for sub in _SUBFOLDERS):
            raise ConfigError(
                f"{self.root} is not a Maildir (it needs the folders cur/, new/ and tmp/)",
                where=f"{SECTION}.maildir", fix="point maildir at the mailbox's Maildir folder, "
                "or use intake = \"imap\" for the operator's IMAPS server")
        try:
            for name in (self.config.quarantine_folder, self.config.handled_folder):
                self._folder(name)
            self.uidvalidity = self.root.stat().st_ino
        except OSError as exc:
            raise self._fail("opening the Maildir", exc) from None

    def _fail(self, doing: str, exc: OSError) -> MailboxError:
        return MailboxError(f"{doing} failed: {exc.strerror or exc}", where=f"maildir {self.root}",
                            fix="check the folder exists and the account running prostop may "
                            "read and write it")

    def _folder(self, name: str) -> Path:
        """A Maildir++ folder (``.<name>``), created when missing."""
        if name.upper() == "INBOX":
            return self.root
        folder = self.root / f".{name.replace('/', '.')}"
        for sub in _SUBFOLDERS:
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return folder

    def waiting(self) -> list[int]:
        """The inbox's messages, oldest delivery first (their "UIDs": inode numbers)."""
        folder = self._folder(self.config.inbox_folder)
        try:
            files = [path for sub in ("new", "cur") for path in (folder / sub).iterdir()
                     if not path.name.startswith(".") and path.is_file()]
            files.sort(key=lambda path: path.name)
            self._paths = {path.stat().st_ino: path for path in files}
        except OSError as exc:
            raise self._fail("listing the inbox", exc) from None
        return list(self._paths)

    def fetch(self, uid: int) -> Fetched | None:
        """The message (not read when larger than the limit); ``None`` when it vanished."""
        path = self._paths.get(uid)
        if path is None:
            return None
        try:
            size = path.stat().st_size
            if size > self.config.max_message_bytes:
                return Fetched(uid, size, None, self.uidvalidity)
            return Fetched(uid, size, path.read_bytes(), self.uidvalidity)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._fail("reading a message", exc) from None

    def mark_handled(self, uid: int) -> None:
        """Moved to ``handled_folder`` (a Maildir keeps no keywords)."""
        self._move(uid, self.config.handled_folder)

    def _move(self, uid: int, name: str) -> None:
        path = self._paths.pop(uid)
        folder = self._folder(name)
        target = folder / "cur" / (path.name if ":2," in path.name else f"{path.name}:2,")
        try:
            os.replace(path, target)
            _sync(folder / "cur")
            _sync(path.parent)
        except OSError as exc:
            raise self._fail("moving a message", exc) from None

    def quarantine(self, uid: int, note: EmailMessage, key: str) -> None:
        """Deliver ``note`` into the quarantine folder (unless one for ``key`` is there from an
        interrupted run), then move the message beside it."""
        folder = self._folder(self.config.quarantine_folder)
        try:
            if not self._has_note(folder, key):
                message = mailbox.MaildirMessage(note)
                message.set_subdir("cur")
                message.add_flag("S")
                mailbox.Maildir(folder, create=False).add(message)
                _sync(folder / "cur")
        except OSError as exc:
            raise self._fail("writing a quarantine note", exc) from None
        self._move(uid, self.config.quarantine_folder)

    @staticmethod
    def _has_note(folder: Path, key: str) -> bool:
        parser = email.parser.BytesHeaderParser(policy=email.policy.default)
        for sub in ("new", "cur"):
            for path in (folder / sub).iterdir():
                with path.open("rb") as handle:
                    headers = parser.parsebytes(handle.read(_HEADER_BYTES))
                if str(headers.get(NOTE_HEADER, "")).strip() == key:
                    return True
        return False
