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
import random
import ssl
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prostop_plugin.config import CodeServiceSettings
from prostop_plugin.errors import IssuerError
from prostop_plugin.hooks import hookimpl
from prostop_plugin.http_client import build_client
from prostop_plugin.models import CODE_PATTERN, AccessToken, CodeRequest, IssuedCode

if TYPE_CHECKING:
    from prostop_plugin.config import Settings
    from prostop_plugin.issuers import CodeIssuer

log = logging.getLogger(__name__)

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
        self._client = build_client(
            url=settings.base_url, tls=settings, section="code_service",
            connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout,
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=4,
                                keepalive_expiry=30),
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
    "retry_after_seconds",
]
