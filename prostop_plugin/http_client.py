"""HTTP clients for the services the plugin calls (code service, Pro Santé Connect).

One way to build them: TLS verification always on (there is no setting to turn it off), the
system's and certifi's CAs plus an optional CA bundle, an optional PKCS#12 client certificate
(mTLS), explicit timeouts, no redirects, and nothing taken from the environment.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import certifi
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pydantic import SecretStr

from prostop_plugin.errors import ConfigError
from prostop_plugin.telemetry import metrics
from prostop_plugin.version import __version__

USER_AGENT = f"prostop-plugin/{__version__}"

__all__ = ["USER_AGENT", "TLSSettings", "build_client", "load_client_certificate", "ssl_context"]


class TLSSettings(Protocol):
    """The TLS part of a settings section ([code_service], [psc])."""

    @property
    def ca_bundle(self) -> Path | None: ...
    @property
    def client_certificate(self) -> Path | None: ...
    @property
    def client_certificate_password(self) -> SecretStr | None: ...


def build_client(
    *, url: str, tls: TLSSettings, section: str, connect_timeout: float, read_timeout: float,
    limits: httpx.Limits | None = None,
) -> httpx.Client:
    """A client for ``url``'s service, configured from its settings ``section``.

    :raises ConfigError: when the CA file or the client certificate is unusable.
    """
    context = ssl_context(
        url=url,
        ca_bundle=tls.ca_bundle,
        client_certificate=tls.client_certificate,
        client_certificate_password=tls.client_certificate_password,
        section=section,
    )
    return httpx.Client(
        timeout=httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout,
        ),
        verify=context,
        transport=MeteredTransport(service=section, verify=context,  # latency and errors
                                   limits=limits or httpx.Limits()),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
        # proxies and CA files from the environment would change where codes and tokens come
        # from behind the admin's back: the configuration says everything
        trust_env=False,
    )


def caused_by_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class MeteredTransport(httpx.HTTPTransport):
    """httpx's own transport, timing each request until its answer's headers and counting
    failures for the ``[metrics]`` endpoint (see :mod:`prostop_plugin.telemetry`)."""

    def __init__(self, *, service: str, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        self.service = service

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = super().handle_request(request)
        except httpx.TransportError as exc:
            kind = "timeout" if isinstance(exc, httpx.TimeoutException) else (
                "tls" if caused_by_tls(exc) else "connection")
            metrics.http_failed(self.service, kind, time.perf_counter() - started)
            raise
        metrics.http_answered(self.service, response.status_code, time.perf_counter() - started)
        return response


def ssl_context(
    *,
    url: str,
    ca_bundle: Path | None,
    client_certificate: Path | None,
    client_certificate_password: SecretStr | None,
    section: str,
) -> ssl.SSLContext:
    """A verifying TLS context (there is no way to turn verification off).

    Trusts the system CAs and certifi's, plus ``ca_bundle`` when set; presents the PKCS#12
    client certificate when set (mTLS). ``section`` names the settings section in errors.

    :raises ConfigError: naming the file and the fix, when a file is missing or unusable.
    """
    # PROTOCOL_TLS_CLIENT: certificate and host name verification on
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if url.startswith("https:"):
        # loading the public CA stores takes ~0.1 s: only when TLS is used (not for the
        # loopback simulator, where the context trusts nothing and is never used)
        context.load_verify_locations(cafile=certifi.where())
        context.load_default_certs()
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except FileNotFoundError:
            raise ConfigError(
                "CA file not found", where=f"{ca_bundle} ([{section}] ca_bundle)",
                fix="point ca_bundle at the PEM file of the certificate authority to trust",
            ) from None
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"not a usable PEM CA file ({exc})", where=f"{ca_bundle} ([{section}] ca_bundle)",
                fix="ca_bundle must hold one or more '-----BEGIN CERTIFICATE-----' blocks",
            ) from None
    if client_certificate is not None:
        load_client_certificate(context, client_certificate, client_certificate_password, section)
    return context


def _looks_like_pkcs12(data: bytes) -> bool:
    """A DER SEQUENCE whose first element is INTEGER 3: the PFX header (RFC 7292)."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    offset = 2 + (data[1] & 0x7F if data[1] & 0x80 else 0)
    return data[offset : offset + 3] == b"\x02\x01\x03"


def load_client_certificate(
    context: ssl.SSLContext, path: Path, password: SecretStr | None, section: str
) -> None:
    """Load a PKCS#12 client certificate and its key into ``context``.

    :mod:`ssl` reads keys from files only: the key is written, encrypted with a throw-away
    random passphrase that never leaves memory, to a private temporary file that is removed
    at once.
    """
    where = f"{path} ([{section}] client_certificate)"
    env = f"PROSTOP_{section.upper()}__CLIENT_CERTIFICATE_PASSWORD"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "client certificate file not found", where=where,
            fix="point client_certificate at the PKCS#12 (.p12/.pfx) file your certificate "
            "authority delivered, or remove the setting to connect without mTLS",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the client certificate file: {exc.strerror}", where=where,
            fix="check the file's permissions for the user running prostop",
        ) from None
    secret = password.get_secret_value().encode() if password is not None else None
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, secret)
    except ValueError:
        if not _looks_like_pkcs12(data):
            is_pem = data.lstrip().startswith(b"-----BEGIN")
            raise ConfigError(
                "not a PKCS#12 file" + (" (it is PEM)" if is_pem else ""), where=where,
                fix="use the .p12/.pfx file; a PEM certificate and key can be converted with "
                "'openssl pkcs12 -export -in cert.pem -inkey key.pem -out client.p12'",
            ) from None
        raise ConfigError(
            "cannot open the PKCS#12 file: wrong password"
            + (" (no password is set)" if secret is None else ""),
            where=where,
            fix=f"set client_certificate_password in [{section}] or the environment variable "
            f"{env} to the file's password",
        ) from None
    if key is None or certificate is None:
        raise ConfigError(
            "the PKCS#12 file holds no " + ("private key" if key is None else "certificate"),
            where=where, fix="export the certificate together with its private key",
        )
    if certificate.not_valid_after_utc < datetime.now(UTC):
        raise ConfigError(
            f"the client certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}",
            where=where, fix="renew the certificate with your certificate authority",
        )
    passphrase = secrets.token_hex(32).encode()
    pem = b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in [certificate, *(chain or [])]
    ) + key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    with tempfile.TemporaryDirectory(prefix="prostop-") as folder:
        pem_path = Path(folder) / "client.pem"
        fd = os.open(pem_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        try:
            context.load_cert_chain(pem_path, password=passphrase)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"the client certificate cannot be used for TLS: {exc}", where=where,
                fix="export it again as PKCS#12 with its private key",
            ) from None


