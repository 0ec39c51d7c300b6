"""The ``[adapter.mssante]`` section of ``prostop.toml``, validated; and its TLS contexts.

One MSSanté *application mailbox* (BAL applicative) dedicated to prostop both receives the labs'
messages (IMAPS) and sends the write-back (SMTP over TLS). ``intake = "maildir"`` reads the
mailbox from a local Maildir instead of IMAPS (the demo's local mail server, or a mailbox
delivered on the machine prostop runs on). File paths must be absolute: the service runs from
wherever ``prostop serve`` was started.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from prostop_plugin import MAX_FILE_BYTES, ConfigError, Settings, parse_adapter_section

ADAPTER_NAME = "mssante"
SECTION = f"adapter.{ADAPTER_NAME}"
#: a mailbox address, as MSSanté directories publish them (local part @ domain)
ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
_RPPS = re.compile(r"^8?(\d{11})$")
#: an IMAP keyword (RFC 3501 atom, no wildcard or flag characters)
_KEYWORD = re.compile(r"^\$?[A-Za-z0-9_.-]{1,60}$")


class ArchiveLimits(BaseModel):
    """Bounds on an ``IHE_XDM.ZIP`` read in memory (hostile input: zip bombs, many entries)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_entries: int = Field(default=64, ge=4, le=10_000)
    max_entry_bytes: int = Field(default=MAX_FILE_BYTES, gt=0, le=MAX_FILE_BYTES)
    max_total_bytes: int = Field(default=4 * MAX_FILE_BYTES, gt=0, le=16 * MAX_FILE_BYTES)
    max_ratio: int = Field(default=200, ge=10, le=10_000,
                           description="largest uncompressed/compressed ratio of one entry")


class MssanteSettings(BaseModel):
    """``[adapter.mssante]``; the adapter's README explains each setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- the application mailbox
    address: str = Field(description="the application mailbox's address (sender of write-backs)")
    login: str | None = Field(default=None, description="IMAP/SMTP login; default: address")
    password: SecretStr | None = None
    password_file: Path | None = Field(default=None, description="file holding the password")
    client_cert_file: Path | None = Field(default=None, description="PEM client certificate")
    client_key_file: Path | None = Field(default=None, description="PEM key of the certificate")
    ca_file: Path | None = Field(
        default=None, description="CA certificates to verify the servers with; default: system"
    )
    # -- in: IMAPS (or a local Maildir)
    intake: Literal["imap", "maildir"] = Field(
        default="imap", description="imap: the operator's IMAPS server; maildir: a local Maildir")
    maildir: Path | None = Field(default=None, description="the mailbox as a local Maildir")
    imap_host: str | None = Field(default=None, min_length=1)
    imap_port: int = Field(default=993, ge=1, le=65535)
    inbox_folder: str = "INBOX"
    quarantine_folder: str = "prostop-quarantaine"
    handled: Literal["flag", "move"] = "flag"
    handled_keyword: str = "$ProstopHandled"
    handled_folder: str = "prostop-traites"
    poll_interval: float = Field(default=30.0, gt=0, le=3600)
    max_message_bytes: int = Field(default=MAX_FILE_BYTES * 2, gt=0, le=MAX_FILE_BYTES * 8)
    max_messages_per_poll: int = Field(default=50, ge=1, le=10_000)
    archive: ArchiveLimits = Field(default_factory=ArchiveLimits)
    host: str | None = Field(
        default=None, min_length=1,
        description="sender name for documents that name none; default: the host_name",
    )
    # -- out: SMTP
    smtp_host: str = Field(min_length=1)
    smtp_port: int = Field(default=465, ge=1, le=65535)
    smtp_tls: Literal["implicit", "starttls"] = "implicit"
    recipients: dict[str, str] = Field(
        default_factory=dict, description="RPPS (11 digits) → the physician's MSSanté address"
    )
    nil: str | None = Field(default=None, description="X-MSS-NIL: the product reference number")
    timeout: float = Field(default=30.0, gt=0, le=600, description="network timeout, seconds")

    @field_validator("password_file", "client_cert_file", "client_key_file", "ca_file", "maildir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError("expected an absolute file path such as /etc/prostop/mss.pem")
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not ADDRESS.match(value.strip()):
            raise ValueError("expected a mailbox address such as prostop@cabinet.mssante.fr")
        return value.strip()

    @field_validator("handled_keyword")
    @classmethod
    def _keyword(cls, value: str) -> str:
        if not _KEYWORD.match(value):
            raise ValueError("expected an IMAP keyword such as $ProstopHandled (letters, digits, "
                             "'_', '.', '-', an optional leading '$')")
        return value

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: dict[str, str]) -> dict[str, str]:
        table: dict[str, str] = {}
        for rpps, address in value.items():
            match = _RPPS.match(rpps.strip())
            if not match:
                raise ValueError(f"{rpps!r} is not an RPPS number: expected 11 digits, e.g. "
                                 "'10003456789' = 'dr.durand@medecin.mssante.fr'")
            if not ADDRESS.match(address.strip()):
                raise ValueError(f"{address!r} (RPPS {rpps}) is not a mailbox address")
            table[match[1]] = address.strip()
        return table

    @model_validator(mode="after")
    def _consistent(self) -> MssanteSettings:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        if self.password is None and self.password_file is None \
                and self.client_cert_file is None:
            raise ValueError("set password_file (or password), or client_cert_file and "
                             "client_key_file: the mailbox needs a way to log in")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("client_cert_file and client_key_file go together: set both, "
                             "or neither")
        if self.intake == "imap" and self.imap_host is None:
            raise ValueError("set imap_host (the operator's IMAPS server), or intake = "
                             "\"maildir\" with maildir = the mailbox's local folder")
        if self.intake == "maildir" and self.maildir is None:
            raise ValueError("intake = \"maildir\" needs maildir = the absolute path of the "
                             "mailbox's Maildir (the folder holding cur/, new/, tmp/)")
        moves = self.handled == "move" or self.intake == "maildir"  # a Maildir has no keywords
        folders = {self.inbox_folder, self.quarantine_folder}
        if len(folders) < 2 or (moves and self.handled_folder in folders):
            raise ValueError("inbox_folder, quarantine_folder and handled_folder must be "
                             "three different folders")
        mine = self.address.lower()
        for rpps, address in self.recipients.items():
            if address.lower() == mine:
                raise ValueError(
                    f"the recipient of RPPS {rpps} is the application mailbox itself: prostop "
                    "reads and moves messages there, so it must never be a physician's mailbox")
        return self

    @property
    def user(self) -> str:
        return self.login or self.address

    def secret(self) -> str | None:
        """The password (read from ``password_file`` each time, so a rotation needs no
        restart); :class:`ConfigError` when the file cannot be read."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"the password file cannot be read: {exc.strerror}",
                where=f"{SECTION}.password_file = {self.password_file}",
                fix="create it (mode 0600) readable by the account running prostop",
            ) from None

    def ssl_context(self) -> ssl.SSLContext:
        """TLS to the operator's servers: certificate and host name always verified, TLS 1.2
        or later, the client certificate presented when configured."""
        try:
            cafile = str(self.ca_file) if self.ca_file is not None else None
            context = ssl.create_default_context(cafile=cafile)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if self.client_cert_file is not None and self.client_key_file is not None:
                context.load_cert_chain(self.client_cert_file, self.client_key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"the TLS files cannot be used: {exc}",
                where=f"[{SECTION}] ca_file / client_cert_file / client_key_file",
                fix="point them at PEM files readable by the account running prostop "
                "(the certificate your MSSanté operator issued for the application mailbox)",
            ) from None
        return context

    def recipient(self, rpps: str | None) -> str:
        """The confirming physician's MSSanté address; :class:`ConfigError` when unknown."""
        address = self.recipients.get(rpps or "")
        if address is None:
            raise ConfigError(
                f"no MSSanté address for the confirming physician (RPPS {rpps or 'unknown'})",
                where=f"[{SECTION}] recipients",
                fix=f"add '{rpps or '<RPPS>'}' = '<address>@<domain>.mssante.fr' to "
                f"[{SECTION}.recipients] (the address from the Annuaire Santé)",
            )
        return address


def parse_mssante_settings(values: dict[str, Any]) -> MssanteSettings:
    """Validate a ``[adapter.mssante]`` table.

    :raises ConfigError: naming the key, the bad value and the expected form.
    """
    return parse_adapter_section(MssanteSettings, ADAPTER_NAME, values)


def load_mssante_settings(settings: Settings) -> MssanteSettings:
    """The adapter's section of the loaded configuration (:class:`ConfigError` when bad)."""
    return parse_mssante_settings(settings.adapter_settings(ADAPTER_NAME))
