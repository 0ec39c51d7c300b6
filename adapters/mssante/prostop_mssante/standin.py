"""A local stand-in for an MSSanté operator's mail server, for ``prostop demo`` only.

It is **not** MSSanté: no Annuaire Santé, no operator, no certificate from the IGC-Santé, and
it accepts mail for any address. What it does keep is what the adapter relies on, so that the
demo runs the adapter's real code paths:

* SMTP submission on 127.0.0.1 (aiosmtpd), **STARTTLS required** before AUTH, with a throw-away
  certificate authority made at each start (``tls/ca.pem``, :mod:`prostop_plugin.simulator.pki`):
  the adapter verifies the server's certificate against it, as it verifies an operator's
  against the system's CAs;
* AUTH LOGIN/PLAIN with the demo's password;
* every accepted message delivered into one **Maildir per recipient address**
  (``mail/<address>/new/``), the layout Dovecot uses: the application mailbox's Maildir is what
  the adapter reads with ``intake = "maildir"``, and a physician's is the folder the demo
  shows (each file is the message as received, RFC 5322, readable in any mail client).

The IMAPS side of a real operator is not simulated: the adapter's IMAPS intake is tested
against Dovecot (``tests/adapters/mssante``), not here.
"""

from __future__ import annotations

import logging
import mailbox
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from prostop_plugin.simulator.pki import Pki, make_pki

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
CA_NAME = "prostop demo CA (local stand-in, not IGC-Santé)"
#: called with the recipient's address and the delivered file, after each delivery
OnDelivery = Callable[[str, Path], None]


class _QuietLoginData(logging.Filter):
    """aiosmtpd 1.4 logs a deprecation warning of its own at every successful AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Session.login_data is deprecated")


logging.getLogger("mail.log").addFilter(_QuietLoginData())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class _Delivery:
    """aiosmtpd's handler: AUTH with the demo password, DATA delivered into Maildirs."""

    def __init__(self, operator: LocalOperator) -> None:
        self.operator = operator

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = bytes(envelope.original_content or b"")
        for address in envelope.rcpt_tos:
            self.operator.deliver(address, content)
        return "250 2.0.0 delivered (local stand-in)"

    def authenticate(self, server: Any, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and \
            auth_data.password.decode("utf-8", "replace") == self.operator.password
        return AuthResult(success=ok, handled=False)


class LocalOperator:
    """The stand-in's SMTP server (``start``/``stop``) and its Maildirs under ``folder``."""

    def __init__(self, folder: Path, *, password: str,
                 on_delivery: OnDelivery | None = None) -> None:
        self.folder = folder
        self.password = password
        self.on_delivery = on_delivery
        self.port = 0
        self.tls: Pki | None = None
        self._controller: Controller | None = None

    def start(self) -> None:
        self.tls = make_pki(self.folder / "tls", ca_name=CA_NAME, days=30)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.tls.server_cert, self.tls.server_key)
        self.port = free_port()
        handler = _Delivery(self)
        self._controller = Controller(
            handler, hostname=HOST, port=self.port, ready_timeout=START_TIMEOUT,
            server_hostname="prostop-demo-mssante", tls_context=context,
            require_starttls=True, auth_required=True, auth_require_tls=True,
            authenticator=handler.authenticate,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mailbox(self, address: str) -> Path:
        """The Maildir of ``address`` (created with its cur/, new/, tmp/)."""
        path = self.folder / "mail" / address.strip().lower()
        path.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(path, create=True)
        return path

    def deliver(self, address: str, content: bytes) -> Path:
        path = self.mailbox(address)
        key = mailbox.Maildir(path, create=False).add(content)
        delivered = path / "new" / key
        if self.on_delivery is not None:
            self.on_delivery(address, delivered)
        return delivered

    def messages(self, address: str) -> list[Path]:
        """The files of ``address``'s Maildir (new/ and cur/), oldest first."""
        path = self.mailbox(address)
        return sorted((p for sub in ("new", "cur") for p in (path / sub).iterdir()),
                      key=lambda p: p.name)
