"""A throw-away certificate authority, made on the spot: a CA, a server certificate for
127.0.0.1 and ``localhost``, and a client certificate, as PEM files. For local stand-ins (the
demo's MSSanté operator) and tests' TLS servers, which the client then verifies against this
CA as it verifies a real server against the system's; never for a real installation.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "make_pki"]

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Pki:
    """The PEM files: the CA's certificate, the server's and the client's certificates and
    keys (keys readable by the owner only)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def client_context(self, *, with_certificate: bool = True) -> ssl.SSLContext:
        """A client's TLS context trusting this CA (presenting the client certificate)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        if with_certificate:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey, *, days: int, ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    start = datetime.now(UTC) - timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
    )
    if ca:
        return builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True,
        ).sign(issuer_key, hashes.SHA256())
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
        critical=False,
    ).add_extension(x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
        critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate,
           key: ec.EllipticCurvePrivateKey | None = None) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
    return cert_path, key_path


def make_pki(folder: Path, *, ca_name: str = "Test CA", client_name: str = "test client",
             days: int = 1) -> Pki:
    """A new CA named ``ca_name`` and its certificates, valid ``days`` days, written into
    ``folder`` (created): ``ca.pem``, ``server.pem``/``.key``, ``client.pem``/``.key``. The
    CA's key is not kept."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca, _ = _write(folder, "ca", _certificate(ca_name, ca_key, ca_name, ca_key, days=days,
                                              ca=True))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _write(folder, "server", _certificate(HOST, server_key, ca_name, ca_key, days=days,
                                                   server=True), server_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _write(folder, "client", _certificate(client_name, client_key, ca_name, ca_key,
                                                   days=days), client_key)
    return Pki(ca, *server, *client)
