"""The mailbox watcher ``prostop serve`` runs: every ``poll_interval`` seconds, one IMAPS session
(or one look at the local Maildir, ``intake = "maildir"``) reads the messages not handled yet,
oldest first, and files each one:

* events durable in the ledger, or nothing COVID-relevant in it → marked handled (keyword or
  move), *after* the core returned;
* unusable → moved to the quarantine folder, a note beside it;
* the core failed before storing → left as it is, tried again after a growing delay.

A crash (or SIGKILL) between fetching and marking leaves the message unmarked: it is read again
at the next poll and the ledger recognises the events it already holds, so nothing is lost and
nothing is counted twice. A session that fails (network, login, server) is logged in one line
and tried again at the next poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prostop_mssante.intake import header, parse_message, take_in
from prostop_mssante.mailbox import Fetched, Mailbox, note_message
from prostop_mssante.maildir import LocalMailbox
from prostop_mssante.settings import MssanteSettings
from prostop_mssante.texts import quarantine_note, quarantine_subject
from prostop_plugin import InputError, IntakeOutcome, Prostop, ProstopError

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 3600.0
#: the two ways to the application mailbox: the operator's IMAPS server, a local Maildir
MailStore = Mailbox | LocalMailbox


def open_mailbox(config: MssanteSettings) -> MailStore:
    """The mailbox ``intake`` names (not opened yet: use it as a context manager)."""
    return LocalMailbox(config) if config.intake == "maildir" else Mailbox(config)


def describe(config: MssanteSettings) -> str:
    """The service's name, as ``prostop serve`` prints it."""
    if config.intake == "maildir":
        return f"MSSanté maildir {config.maildir} ({config.address})"
    return f"MSSanté imaps://{config.imap_host}:{config.imap_port} ({config.address})"


@dataclass
class _Retry:
    attempts: int
    due: float


class MailboxService:
    """The background service (see :class:`prostop_plugin.BackgroundService`)."""

    def __init__(self, runtime: Prostop, config: MssanteSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runtime = runtime
        self.config = config
        self.clock = clock
        self.name = describe(config)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retries: dict[str, _Retry] = {}

    # -- BackgroundService ------------------------------------------------------------------

    def start(self) -> None:
        """Check the mailbox once (a wrong setting stops ``prostop serve`` at once), then poll
        in a daemon thread."""
        with open_mailbox(self.config):
            pass
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="prostop-mssante", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout + 5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except ProstopError as exc:
                log.error("MSSanté: %s", exc)
            except Exception:
                log.exception("MSSanté: unexpected error while polling; trying again")
            self._stop.wait(self.config.poll_interval)

    # -- one poll ---------------------------------------------------------------------------

    def poll_once(self) -> int:
        """One session: read what is waiting; the number of messages filed (marked handled or
        quarantined)."""
        filed = 0
        with open_mailbox(self.config) as mailbox:
            waiting = mailbox.waiting()
            due = [uid for uid in waiting if self._due(f"{mailbox.uidvalidity}:{uid}")]
            for uid in due[: self.config.max_messages_per_poll]:
                if self._stop.is_set():
                    break
                fetched = mailbox.fetch(uid)
                if fetched is not None:
                    filed += self.process(mailbox, fetched)
            present = {f"{mailbox.uidvalidity}:{uid}" for uid in waiting}
            self._retries = {k: v for k, v in self._retries.items() if k in present}
        return filed

    def _due(self, key: str) -> bool:
        retry = self._retries.get(key)
        return retry is None or retry.due <= self.clock()

    def process(self, mailbox: MailStore, fetched: Fetched) -> int:
        """Read, record and file one message; 1 when it was filed."""
        label = f"message UID {fetched.uid}"
        if fetched.raw is None:
            problem = InputError(
                f"the message ({fetched.size} bytes) is larger than "
                f"{self.config.max_message_bytes} bytes (adapter.mssante.max_message_bytes); "
                "it was not downloaded", where=label,
                fix="check it is a lab report; raise the setting if such reports are expected")
            self._quarantine(mailbox, fetched, problem)
            return 1
        result = take_in(fetched.raw, label, self.runtime, self.config)
        if result.outcome is IntakeOutcome.RETRY:
            retry = self._retries.get(fetched.key, _Retry(0, 0.0))
            retry.attempts += 1
            delay = min(MAX_RETRY_DELAY, self.config.poll_interval * 2 ** retry.attempts)
            retry.due = self.clock() + delay
            self._retries[fetched.key] = retry
            log.error("%s: not recorded (%s); left unmarked, trying again in %.0f s", label,
                      result.failure, delay)
            return 0
        if result.outcome is IntakeOutcome.UNUSABLE:
            assert result.problem is not None
            self._quarantine(mailbox, fetched, result.problem)
        else:
            mailbox.mark_handled(fetched.uid)
            log.info("%s: %s (%d event(s) recorded)", label, result.outcome.value,
                     result.recorded)
        self._retries.pop(fetched.key, None)
        return 1

    def _quarantine(self, mailbox: MailStore, fetched: Fetched, problem: ProstopError) -> None:
        subject = sender = received = original_id = None
        if fetched.raw is not None:
            try:
                message = parse_message(fetched.raw)
                subject, sender = header(message, "Subject"), header(message, "From")
                received, original_id = header(message, "Date"), header(message, "Message-ID")
            except Exception:
                log.debug("the quarantined message's headers cannot be read", exc_info=True)
        text = quarantine_note(problem, subject=subject or "", sender=sender or "",
                               received=received or "", folder=self.config.quarantine_folder,
                               inbox=self.config.inbox_folder)
        note = note_message(self.config, key=fetched.key, subject=quarantine_subject(problem),
                            text=text, original_id=original_id)
        mailbox.quarantine(fetched.uid, note, fetched.key)
        log.warning("message UID %d quarantined: %s", fetched.uid, problem.one_line())
