"""The ProStopCovid code service client: ``GET {base_url}/api/v1/generate/short``.

This module is the only place that knows the service's API (``DOMAIN.md`` §2).

What leaves the plugin: one GET with the practitioner's Pro Santé Connect bearer token, nothing
else — no query, no body, no patient data (a :class:`~prostop_plugin.models.CodeRequest` holds
none, and none of it is sent).

Transport: one :class:`httpx.Client` per issuer, so HTTP keep-alive is reused across issuances;
explicit connect/read timeouts; TLS verification always on (system and certifi CAs, plus
``ca_bundle``); optional mTLS client certificate from a PKCS#12 file.

Retries: only where a retry can help and is safe enough — connection errors, timeouts, 5xx and
429 (``Retry-After`` honoured up to ``backoff_max``) — with capped exponential backoff and
jitter, at most ``max_attempts`` requests. Never on another 4xx: a 401 means the token was
refused, and asking again with the same token cannot help.

**Not idempotent.** ``generate/short`` creates a code each time it is called. When a response
is lost (a timeout, a reset after the server acted), the retry may create a second code on the
server. Only the code in the response we do receive is recorded and shown; the orphan was never
seen by anyone, cannot be typed by a patient who never got it, and simply expires after 60
minutes. The service offers no idempotency key to prevent this.

Every answer is validated strictly (6 characters ``[A-Za-z0-9]``, ISO-8601 dates with a time
zone, ``validUntil`` after ``validFrom`` and in the future); anything else is an
:class:`~prostop_plugin.errors.IssuerError` with a clear message, never a crash.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import ssl
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING

import certifi
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prostop_plugin import __version__
from prostop_plugin.config import CodeServiceSettings
from prostop_plugin.errors import ConfigError, IssuerError
from prostop_plugin.hooks import hookimpl
from prostop_plugin.models import CODE_PATTERN, AccessToken, CodeRequest, IssuedCode

if TYPE_CHECKING:
    from prostop_plugin.config import Settings
    from prostop_plugin.issuers import CodeIssuer

log = logging.getLogger(__name__)

USER_AGENT = f"prostop-plugin/{__version__}"


# -- TLS ---------------------------------------------------------------------------------------


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


# -- the answer --------------------------------------------------------------------------------


class GenerateShortAnswer(BaseModel):
    """``{code, validFrom, validUntil, dateGenerate}``; unknown extra fields are tolerated."""

    model_config = ConfigDict(extra="ignore", strict=True)

    code: str = Field(pattern=CODE_PATTERN)
    validFrom: AwareDatetime
    validUntil: AwareDatetime
    dateGenerate: AwareDatetime | None = None


def _explain(error: ValidationError) -> str:
    """Say what is wrong without echoing values (a code is a secret until handed over)."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in item["loc"]) or "body"
        if field == "code" and item["type"] == "string_pattern_mismatch":
            problems.append("code is not 6 letters or digits")
        elif item["type"] == "missing":
            problems.append(f"{field} is missing")
        else:
            problems.append(f"{field}: {item['msg']}")
    return "; ".join(problems)


def _server_says(response: httpx.Response) -> str:
    """The server's own error words, short, for the message."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:120].strip()
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "error_description", "message") if body.get(k)]
        return ": ".join(parts)[:200]
    return ""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _caused_by_certificate(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# -- the client --------------------------------------------------------------------------------


class ProStopCovidIssuer:
    """Issues declaration codes from the ProStopCovid code service (or the simulator)."""

    name = "prostopcovid"

    def __init__(self, settings: CodeServiceSettings, *, rng: random.Random | None = None) -> None:
        """:raises ConfigError: when the CA file or the client certificate is unusable."""
        self.settings = settings
        self.url = settings.base_url + settings.generate_path
        self._rng = rng or random.Random()
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.connect_timeout,
            ),
            verify=ssl_context(
                url=settings.base_url,
                ca_bundle=settings.ca_bundle,
                client_certificate=settings.client_certificate,
                client_certificate_password=settings.client_certificate_password,
                section="code_service",
            ),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=4,
                                keepalive_expiry=30),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
            # proxies and CA files from the environment would change where codes come from
            # behind the admin's back: the configuration says everything
            trust_env=False,
        )

    @property
    def client(self) -> httpx.Client:
        """The underlying client (its settings are what the benchmark's bare GET reuses)."""
        return self._client

    def issue_code(self, token: AccessToken, request: CodeRequest) -> IssuedCode:
        """Ask for one code as the practitioner who owns ``token``.

        ``request`` is accepted for the :class:`~prostop_plugin.issuers.CodeIssuer` interface;
        the service takes no parameters, so none of it is sent.

        :raises IssuerError: ``retryable`` False on a refusal (4xx) or an untrusted TLS
            certificate, True otherwise.
        """
        del request  # deliberately unused: nothing about the case leaves the plugin
        headers = {"Authorization": f"Bearer {token.access_token.get_secret_value()}"}
        attempts = self.settings.max_attempts
        failure = ""
        for attempt in range(1, attempts + 1):
            wait = self._backoff(attempt)
            try:
                response = self._client.get(self.url, headers=headers)
            except httpx.TimeoutException as exc:
                failure = f"no answer in time ({type(exc).__name__})"
            except httpx.TransportError as exc:
                if _caused_by_certificate(exc):
                    raise IssuerError(
                        "the code service's TLS certificate is not trusted", where=self.url,
                        fix="if the service uses a private CA, set [code_service] ca_bundle "
                        "to its PEM file; verification is never turned off",
                        retryable=False,
                    ) from None
                failure = f"connection failed ({type(exc).__name__}: {exc})"
            except httpx.HTTPError as exc:
                raise IssuerError(
                    f"the request failed: {type(exc).__name__}: {exc}", where=self.url,
                ) from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._read(response)
                if status != 429 and status < 500:
                    raise self._refusal(response)
                failure = f"HTTP {status} {_server_says(response)}".rstrip()
                asked = retry_after_seconds(response.headers.get("retry-after"))
                if asked is not None:
                    if asked > self.settings.backoff_max:
                        raise IssuerError(
                            f"the code service is busy and asks to wait {asked:.0f} s "
                            f"({failure})", where=self.url,
                            fix="try again in a moment", retryable=True,
                        )
                    wait = asked
            if attempt < attempts:
                log.warning(
                    "code service attempt %d/%d failed: %s; retrying in %.2f s",
                    attempt, attempts, failure, wait,
                )
                time.sleep(wait)
        raise IssuerError(
            f"the code service did not answer usefully after {attempts} attempt(s); "
            f"last: {failure}",
            where=self.url,
            fix="check that the service (or 'prostop simulator') is reachable, then retry",
            retryable=True,
        )

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter (half fixed, half random)."""
        ceiling = min(
            self.settings.backoff_max, self.settings.backoff_initial * 2.0 ** (attempt - 1)
        )
        return ceiling / 2 + self._rng.random() * ceiling / 2

    def _refusal(self, response: httpx.Response) -> IssuerError:
        status = response.status_code
        says = _server_says(response)
        detail = f" ({says})" if says else ""
        if status == 401:
            return IssuerError(
                f"the code service refused the Pro Santé Connect token (HTTP 401){detail}",
                where=self.url,
                fix="the practitioner must authenticate again with their CPS card or e-CPS; "
                "check that [code_service] and [psc] point at the same environment",
                retryable=False,
            )
        if status == 403:
            what = "the code service does not allow this practitioner to issue codes"
            return IssuerError(
                f"{what} (HTTP 403){detail}", where=self.url, retryable=False,
                fix="check the practitioner's profession and the client's registration",
            )
        if status in (404, 405):
            return IssuerError(
                f"no code service at this address (HTTP {status}){detail}", where=self.url,
                fix="check [code_service] base_url and generate_path", retryable=False,
            )
        return IssuerError(
            f"the code service refused the request (HTTP {status}){detail}", where=self.url,
            retryable=False,
        )

    def _read(self, response: httpx.Response) -> IssuedCode:
        fix = "try again; if it persists, the code service is misbehaving: tell its operator"
        try:
            answer = GenerateShortAnswer.model_validate_json(response.content)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                problem = "the answer is not valid JSON"
            else:
                problem = f"unexpected answer: {_explain(exc)}"
            raise IssuerError(problem, where=self.url, fix=fix, retryable=True) from None
        now = datetime.now(UTC)
        if answer.validUntil <= answer.validFrom:
            raise IssuerError(
                f"the code's validity window is empty (validFrom {answer.validFrom:%H:%M:%S}, "
                f"validUntil {answer.validUntil:%H:%M:%S})",
                where=self.url, fix=fix, retryable=True,
            )
        if answer.validUntil <= now:
            raise IssuerError(
                f"the code is already expired (validUntil {answer.validUntil.isoformat()}, "
                f"now {now.isoformat(timespec='seconds')}): a stale answer, or a wrong clock",
                where=self.url, fix=fix + "; check this computer's clock", retryable=True,
            )
        return IssuedCode(
            code=SecretStr(answer.code),
            valid_from=answer.validFrom,
            valid_until=answer.validUntil,
            generated_at=answer.dateGenerate,
        )

    def close(self) -> None:
        self._client.close()


class ProStopCovidPlugin:
    """The built-in ``prostop_code_issuer``: one issuer, reused while the settings are the same."""

    def __init__(self) -> None:
        self._issuer: ProStopCovidIssuer | None = None
        self._lock = threading.Lock()

    @hookimpl
    def prostop_configure(self, settings: Settings) -> None:
        """Build the issuer at start-up, so a bad certificate fails then, not at the first code."""
        self._issuer_for(settings)

    @hookimpl(trylast=True)
    def prostop_code_issuer(self, settings: Settings) -> CodeIssuer:
        return self._issuer_for(settings)

    def _issuer_for(self, settings: Settings) -> ProStopCovidIssuer:
        with self._lock:
            if self._issuer is None or self._issuer.settings != settings.code_service:
                if self._issuer is not None:
                    self._issuer.close()
                self._issuer = ProStopCovidIssuer(settings.code_service)
            return self._issuer

    def close(self) -> None:
        with self._lock:
            if self._issuer is not None:
                self._issuer.close()
                self._issuer = None


__all__ = [
    "GenerateShortAnswer",
    "ProStopCovidIssuer",
    "ProStopCovidPlugin",
    "load_client_certificate",
    "retry_after_seconds",
    "ssl_context",
]
