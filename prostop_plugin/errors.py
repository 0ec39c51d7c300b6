"""Typed errors. Every error says what went wrong, where, and how to fix it.

Callers (the CLI, adapters) print ``str(error)`` as one line and never a traceback.
"""

from __future__ import annotations

import re

#: every character str.splitlines() breaks a line at, with the spaces around it
_LINE_BREAKS = re.compile(r"\s*[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+\s*")


class ProstopError(Exception):
    """Base class of every error the plugin raises on purpose.

    :param what: what is wrong, in the reader's terms.
    :param where: the file, field, position or endpoint concerned.
    :param fix: how to fix it, when we know.
    """

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.fix:
            text += f" — {self.fix}"
        # a parser's message may carry a line break (lxml's often ends in one): one line is
        # one line in a terminal, a log file and an HL7 ERR segment alike
        return _LINE_BREAKS.sub(" ", text).strip()


class InputError(ProstopError):
    """An input (message, file, JSON event) cannot be used."""


class HL7ParseError(InputError):
    """An HL7 v2 message cannot be parsed. ``position`` is a byte offset when known."""

    def __init__(
        self, what: str, *, where: str | None = None, fix: str | None = None,
        position: int | None = None,
    ) -> None:
        self.position = position
        if position is not None and where is None:
            where = f"byte {position}"
        elif position is not None:
            where = f"{where}, byte {position}"
        super().__init__(what, where=where, fix=fix)


class UnsafeXMLError(InputError):
    """An XML document tried something forbidden (entities, DTD, network, too large)."""


class ConfigError(ProstopError):
    """The configuration is invalid: names the key, the bad value and the expected form."""


class ConfirmationRefused(ProstopError):
    """A physician's decision cannot be accepted (e.g. approval without the QR attestation).

    ``what`` is English (logs, admins); ``fr`` is what the physician reads.
    """

    def __init__(self, what: str, *, fr: str, where: str | None = None,
                 fix: str | None = None) -> None:
        self.fr = fr
        super().__init__(what, where=where, fix=fix)


class IssuanceNotFound(ProstopError):
    """No issuance with this id in the ledger."""


class InvalidTransition(ProstopError):
    """The requested action does not apply to the issuance in its current state."""


class TokenError(ProstopError):
    """No usable Pro Santé Connect token for the practitioner."""


class IssuerError(ProstopError):
    """The code service failed or answered something unusable.

    ``retryable`` tells whether a later retry may succeed (5xx, timeouts) or not (4xx).
    """

    def __init__(
        self, what: str, *, where: str | None = None, fix: str | None = None,
        retryable: bool = True,
    ) -> None:
        self.retryable = retryable
        super().__init__(what, where=where, fix=fix)


class KeyFileError(ProstopError):
    """A key file is missing, unreadable, malformed or too widely readable."""


class LedgerError(ProstopError):
    """The ledger file cannot be opened, migrated or written."""


class DecryptionError(ProstopError):
    """Stored data cannot be decrypted: wrong key file, or the data was altered."""


class AuditError(ProstopError):
    """The audit log cannot be written or read."""
