"""Typed errors. Every error says what went wrong, where, and how to fix it.

Callers (the CLI, adapters) print ``str(error)`` as one line and never a traceback.
"""

from __future__ import annotations

import re
from typing import Literal

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


class IncompleteInputError(InputError):
    """The input ends before its format says it may (no final segment terminator, a batch
    without its trailer, an HPRIM block never closed): cut short, or still being written.

    A reader raises it instead of reading what is there as a complete document: a file whose
    writer paused would otherwise be read without its last results. A file watcher may wait
    and read it again; anyone else treats it as any :class:`InputError`.
    """


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

    ``what`` is the English detail for logs and admins; ``fr`` and ``en`` are what the
    physician reads (:meth:`text` picks the one for a locale).
    """

    def __init__(self, what: str, *, fr: str, en: str, where: str | None = None,
                 fix: str | None = None) -> None:
        self.fr = fr
        self.en = en
        super().__init__(what, where=where, fix=fix)

    def text(self, locale: str) -> str:
        """What the physician reads, in ``locale`` ("fr" or "en"; French otherwise)."""
        return self.en if locale == "en" else self.fr


class IssuanceNotFound(ProstopError):
    """No issuance with this id in the ledger."""


class InvalidTransition(ProstopError):
    """The requested action does not apply to the issuance in its current state."""


class TokenError(ProstopError):
    """No usable Pro Santé Connect token for the practitioner."""


#: why a token was refused (:class:`TokenRefused`)
TokenRefusalReason = Literal[
    "malformed",  # not a JWT
    "algorithm",  # unsigned, HMAC, or an algorithm PSC does not use
    "signature",  # not signed by a key in PSC's JWKS
    "issuer",  # issued by someone else than the configured PSC realm
    "audience",  # issued to another client than this software ([psc] client_id)
    "not_access_token",  # an ID token or another kind of JWT
    "expired",
    "acr",  # authenticated below [psc] acr_values (eidas1)
    "userinfo",  # PSC no longer accepts the token (revoked, logged out)
    "practitioner",  # someone else's token than the confirming practitioner's
    "profession",  # a profession not in eligibility.allowed_professions
]


class TokenRefused(TokenError):
    """A token failed a check: ``reason`` says which; ``what`` is the English detail for logs
    and admins, ``fr`` (and ``en``) what the physician reads."""

    def __init__(self, what: str, *, reason: TokenRefusalReason, fr: str, en: str,
                 where: str | None = None, fix: str | None = None) -> None:
        self.reason: TokenRefusalReason = reason
        self.fr = fr
        self.en = en
        super().__init__(what, where=where, fix=fix)


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
