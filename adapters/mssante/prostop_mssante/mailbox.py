"""The application mailbox over IMAPS (IMAPClient): list, fetch, mark handled, quarantine.

Only the mailbox configured for prostop is ever opened. Messages are fetched with
``BODY.PEEK[]`` (their ``\\Seen`` flag is left as it was), and only three things are ever done
to one: it gets the ``handled_keyword`` (or is moved to ``handled_folder``) once its events are
durable; it is moved to ``quarantine_folder`` beside a note when it cannot be used; it is left
alone otherwise. Nothing is ever deleted: a move is the server's ``MOVE``, or ``COPY`` then
``\\Deleted`` and ``UID EXPUNGE`` of that one message (UIDPLUS) where MOVE is missing.

A quarantine note is written before the move and carries the message's key in the
``X-Prostop-Note-For`` header: after a crash between the two, the note is found again and not
written twice.
"""

from __future__ import annotations

import logging
import re
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from types import TracebackType
from typing import Any

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import IMAPClientError  # type: ignore[import-untyped]

from prostop_mssante.settings import SECTION, MssanteSettings
from prostop_plugin import ConfigError, ProstopError, utcnow

log = logging.getLogger(__name__)

NOTE_HEADER = "X-Prostop-Note-For"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class MailboxError(ProstopError):
    """The mailbox cannot be reached or refused a command (network, TLS, login, server)."""


@dataclass(frozen=True)
class Fetched:
    """One message of the inbox folder: its UID, its size, its raw bytes (``None`` when it is
    larger than the limit and was not downloaded)."""

    uid: int
    size: int
    raw: bytes | None
    uidvalidity: int

    @property
    def key(self) -> str:
        return f"{self.uidvalidity}:{self.uid}"


def one_line(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


class Mailbox:
    """One IMAPS session on the application mailbox (use as a context manager)."""

    def __init__(self, config: MssanteSettings) -> None:
        self.config = config
        self.client: Any = None
        self.uidvalidity = 0

    def __enter__(self) -> Mailbox:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _fail(self, doing: str, exc: BaseException) -> MailboxError:
        config = self.config
        return MailboxError(
            f"{doing} failed: {type(exc).__name__}: {one_line(str(exc)) or 'no detail'}",
            where=f"imaps://{config.imap_host}:{config.imap_port} ({config.user})",
            fix="check the operator's IMAP host and port, the login, the password or client "
            "certificate, and that the CA file verifies the server's certificate",
        )

    def open(self) -> None:
        config = self.config
        context = config.ssl_context()
        secret = config.secret()
        try:
            self.client = IMAPClient(config.imap_host, port=config.imap_port, ssl=True,
                                     ssl_context=context, timeout=config.timeout)
        except (OSError, ssl.SSLError, IMAPClientError) as exc:
            raise self._fail("connecting", exc) from None
        try:
            if secret is not None:
                self.client.login(config.user, secret)
            else:
                self.client.sasl_login("EXTERNAL", lambda _challenge: b"")
        except (OSError, ssl.SSLError, IMAPClientError) as exc:
            self.close()
            raise self._fail("logging in", exc) from None
        self._check_capabilities()
        for folder in (config.quarantine_folder,
                       *((config.handled_folder,) if config.handled == "move" else ())):
            self._run("creating a folder", self._ensure_folder, folder)
        self.select()

    def _check_capabilities(self) -> None:
        if self.client.has_capability("MOVE") or self.client.has_capability("UIDPLUS"):
            return
        raise ConfigError(
            "the IMAP server offers neither MOVE nor UIDPLUS, so a message cannot be moved "
            "without touching others", where=f"{SECTION}.imap_host = {self.config.imap_host}",
            fix="ask the MSSanté operator; every operator's server should offer MOVE",
        )

    def _ensure_folder(self, folder: str) -> None:
        if not self.client.folder_exists(folder):
            self.client.create_folder(folder)

    def _run(self, doing: str, action: Any, *args: Any) -> Any:
        try:
            return action(*args)
        except (OSError, ssl.SSLError, IMAPClientError) as exc:
            raise self._fail(doing, exc) from None

    def select(self) -> None:
        """Select the inbox folder; check it can take the handled keyword."""
        config = self.config
        response = self._run("selecting the inbox folder", self.client.select_folder,
                             config.inbox_folder)
        self.uidvalidity = int(response.get(b"UIDVALIDITY", 0))
        if config.handled != "flag":
            return
        permanent = {f.decode("ascii", "replace") for f in response.get(b"PERMANENTFLAGS", ())}
        if "\\*" not in permanent and config.handled_keyword not in permanent:
            raise ConfigError(
                f"the folder {config.inbox_folder!r} does not keep the keyword "
                f"{config.handled_keyword!r} (PERMANENTFLAGS)",
                where=f"{SECTION}.handled = \"flag\"",
                fix="set handled = \"move\" to move handled messages to handled_folder instead",
            )

    def close(self) -> None:
        if self.client is None:
            return
        client, self.client = self.client, None
        try:
            client.logout()
        except Exception:  # already gone: nothing to hand back
            try:
                client.shutdown()
            except Exception:
                log.debug("IMAP connection already closed")

    def waiting(self) -> list[int]:
        """UIDs of the inbox messages not handled yet, oldest first."""
        criteria = ["NOT", "DELETED"]
        if self.config.handled == "flag":
            criteria = ["UNKEYWORD", self.config.handled_keyword, *criteria]
        return sorted(int(uid) for uid in self._run("searching", self.client.search, criteria))

    def fetch(self, uid: int) -> Fetched | None:
        """The message (its size first: a message over the limit is not downloaded); ``None``
        when it vanished meanwhile."""
        sizes = self._run("fetching a size", self.client.fetch, [uid], ["RFC822.SIZE"])
        if uid not in sizes:
            return None
        size = int(sizes[uid].get(b"RFC822.SIZE", 0))
        if size > self.config.max_message_bytes:
            return Fetched(uid, size, None, self.uidvalidity)
        bodies = self._run("fetching a message", self.client.fetch, [uid], ["BODY.PEEK[]"])
        raw = bodies.get(uid, {}).get(b"BODY[]")
        return None if raw is None else Fetched(uid, size, bytes(raw), self.uidvalidity)

    def mark_handled(self, uid: int) -> None:
        if self.config.handled == "flag":
            self._run("marking a message handled", self.client.add_flags, [uid],
                      [self.config.handled_keyword.encode("ascii")], True)
        else:
            self._move(uid, self.config.handled_folder)

    def _move(self, uid: int, folder: str) -> None:
        if self.client.has_capability("MOVE"):
            self._run("moving a message", self.client.move, [uid], folder)
            return
        self._run("copying a message", self.client.copy, [uid], folder)
        self._run("flagging the moved message", self.client.add_flags, [uid], [b"\\Deleted"],
                  True)
        self._run("expunging the moved message", self.client.uid_expunge, [uid])

    def quarantine(self, uid: int, note: EmailMessage, key: str) -> None:
        """Append ``note`` to the quarantine folder (unless a note for ``key`` is there from
        an interrupted run), then move the message beside it."""
        folder = self.config.quarantine_folder
        self._run("selecting the quarantine folder", self.client.select_folder, folder)
        try:
            found = self._run("searching the quarantine folder", self.client.search,
                              ["HEADER", NOTE_HEADER, key])
            if not found:
                self._run("writing a quarantine note", self.client.append, folder,
                          note.as_bytes(), [b"\\Seen"])
        finally:
            self.select()
        self._move(uid, folder)


def note_message(config: MssanteSettings, *, key: str, subject: str, text: str,
                 original_id: str | None, when: datetime | None = None) -> EmailMessage:
    """The quarantine note: a plain-text message from the mailbox to itself."""
    note = EmailMessage()
    note["From"] = config.address
    note["To"] = config.address
    note["Subject"] = one_line(subject)[:200]
    note["Date"] = format_datetime(when or utcnow())
    note["Message-ID"] = make_msgid("prostop-note", config.address.rpartition("@")[2])
    if original_id:
        note["In-Reply-To"] = one_line(original_id)[:998]
        note["References"] = one_line(original_id)[:998]
    note[NOTE_HEADER] = key
    note.set_content(text)
    return note
