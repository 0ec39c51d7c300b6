"""A local stand-in for an MSSanté operator's mail server, for ``prostop demo`` only.

It is **not** MSSanté: no Annuaire Santé, no operator, no certificate from the IGC-Santé, and
it accepts mail for any address. What it does keep is what the adapter relies on, so that the
demo runs the adapter's real code paths:

* SMTP submission on 127.0.0.1 (aiosmtpd), **STARTTLS required** before AUTH, with a throw-away
  certificate authority made at each start (``tls/ca.pem``): the adapter verifies the server's
  certificate against it, as it verifies an operator's against the system's CAs;
* AUTH LOGIN/PLAIN with the demo's password;
* every accepted message delivered into one **Maildir per recipient address**
  (``mail/<address>/new/``), the layout Dovecot uses: the application mailbox's Maildir is what
  the adapter reads with ``intake = "maildir"``, and a physician's is the folder the demo
  shows (each file is the message as received, RFC 5322, readable in any mail client).

The IMAPS side of a real operator is not simulated: the adapter's IMAPS intake is tested
against Dovecot (``tests/adapters/mssante``), not here.
"""

from __future__ import annotations

import ipaddress
import logging
import mailbox
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


@dataclass(frozen=True)
class DemoTls:
    ca: Path
    cert: Path
    key: Path


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey,
                 issuer: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    start = datetime.now(UTC) - timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                        critical=False,
        ).add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]),
            critical=False)
    return builder.sign(issuer, hashes.SHA256())


def make_demo_tls(folder: Path) -> DemoTls:
    """A fresh CA and a server certificate for 127.0.0.1 / localhost, as PEM files."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(CA_NAME, ca_key, ca_key, ca=True)
    server = _certificate(HOST, server_key, ca_key, ca=False)
    paths = DemoTls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    paths.key.chmod(0o600)
    return paths


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
        self.tls: DemoTls | None = None
        self._controller: Controller | None = None

    def start(self) -> None:
        self.tls = make_demo_tls(self.folder / "tls")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.tls.cert, self.tls.key)
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
