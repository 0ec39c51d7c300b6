"""Pro Santé Connect: where the confirming practitioner's access token comes from.

Two sources answer the ``prostop_practitioner_token`` hook (first non-None wins):

1. :class:`HostTokenStore` — hosts that already did a PSC login hand their token over with
   :meth:`HostTokenStore.put`;
2. :class:`PSCTokenPlugin` — the built-in fallback, registered ``trylast``: a CIBA poll client
   (:class:`CibaTokenSource`). PSC pushes a request to the practitioner's e-CPS app (or card),
   showing the two-digit ``binding_message`` the confirmation dialog also shows; we poll the
   token endpoint at the interval PSC asks for until they approve, refuse, or time runs out.

Tokens are held in memory only, per practitioner, until ``token_refresh_margin`` seconds
before they expire (PSC tokens live about 120 s); a new one means a new approval on the phone.
Every token is verified (signature against PSC's JWKS, issuer, expiry) and checked
(:func:`check_token`: subject, ``acr`` at least eidas1, an allowed profession) before use.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prostop_plugin.config import PSCSettings
from prostop_plugin.errors import TokenError
from prostop_plugin.events import PROFESSIONS, AccessToken, Practitioner, utcnow
from prostop_plugin.hooks import hookimpl
from prostop_plugin.issuers.prostopcovid import USER_AGENT, ssl_context

if TYPE_CHECKING:
    from prostop_plugin.config import Settings

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/wallet-openid-configuration"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
#: acr levels from weakest to strongest; PSC's CPS / e-CPS authentication is eidas1
ACR_LEVELS = ("eidas0", "eidas1", "eidas2", "eidas3")
DEFAULT_ALLOWED_PROFESSIONS = ("10", "60")
#: signatures we accept on access tokens (never "none", never HMAC)
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA")
#: CIBA: after ``slow_down`` the interval "MUST be increased by at least 5 seconds"
SLOW_DOWN_STEP = 5.0
#: tolerated clock difference with PSC when checking exp / iat
CLOCK_LEEWAY = 30
_POLL_FAILURES_TOLERATED = 3


def new_binding_message() -> str:
    """Two random digits, shown both by the confirmation dialog and on the e-CPS app."""
    return f"{secrets.randbelow(100):02d}"


def acr_satisfies(acr: str | None, required: str) -> bool:
    """True when ``acr`` is a known level at least as strong as ``required``."""
    if acr not in ACR_LEVELS or required not in ACR_LEVELS:
        return acr == required
    return ACR_LEVELS.index(acr) >= ACR_LEVELS.index(required)


def _profession_names(code: str) -> tuple[str, str]:
    return PROFESSIONS.get(code, (f"profession {code}", f"profession {code}"))


def check_token(
    token: AccessToken,
    practitioner: Practitioner,
    *,
    allowed_professions: Sequence[str],
    required_acr: str = "eidas1",
    now: datetime | None = None,
) -> None:
    """Refuse a token that must not be used to issue a code for ``practitioner``.

    :raises TokenError: expired, someone else's, authenticated below ``required_acr``, or
        held by a profession not in ``allowed_professions`` (named in French and English).
    """
    who = f"practitioner {practitioner.national_id}"
    if token.expires_within(0, now):
        raise TokenError(
            f"the Pro Santé Connect token expired at {token.expires_at:%H:%M:%S} UTC", where=who,
            fix="authenticate again with the CPS card or e-CPS",
        )
    if token.subject != practitioner.national_id:
        raise TokenError(
            f"the token belongs to {token.subject}, not to the confirming practitioner",
            where=who, fix="the practitioner who confirms must be the one who authenticates",
        )
    if not acr_satisfies(token.acr, required_acr):
        raise TokenError(
            f"authentication level {token.acr or 'unknown'!s} is below {required_acr}",
            where=who, fix="authenticate with a CPS card or the e-CPS app (level eidas1)",
        )
    allowed = list(dict.fromkeys(allowed_professions))
    if not token.profession_codes:
        raise TokenError(
            "Pro Santé Connect gave no profession for this practitioner", where=who,
            fix="check the practitioner's registration in the RPPS",
        )
    if not set(token.profession_codes) & set(allowed):
        held = [_profession_names(c) for c in token.profession_codes]
        fr = ", ".join(f"{n[0]} ({c})" for n, c in zip(held, token.profession_codes, strict=True))
        en = ", ".join(f"{n[1]} ({c})" for n, c in zip(held, token.profession_codes, strict=True))
        allowed_fr = ", ".join(_profession_names(c)[0] for c in allowed) or "aucune"
        allowed_en = ", ".join(_profession_names(c)[1] for c in allowed) or "none"
        raise TokenError(
            f"profession non autorisée à délivrer un code StopCovid : {fr} "
            f"(autorisées : {allowed_fr}) / profession not allowed to issue a StopCovid "
            f"code: {en} (allowed: {allowed_en})",
            where=who, fix="the allowed professions are set in eligibility.allowed_professions",
        )


# -- discovery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PSCEndpoints:
    """What PSC's discovery document says, the parts we use."""

    issuer: str
    backchannel_authentication_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    introspection_endpoint: str | None = None


class _Discovery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    issuer: str
    backchannel_authentication_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    introspection_endpoint: str | None = None


def discover(client: httpx.Client, issuer: str) -> PSCEndpoints:
    """Read ``{issuer}/.well-known/wallet-openid-configuration`` (PSC's non-standard path).

    :raises TokenError: unreachable, not a discovery document, or for another issuer.
    """
    url = issuer.rstrip("/") + DISCOVERY_PATH
    fix = (
        "check [psc] issuer (production https://auth.esw.esante.gouv.fr/auth/realms/"
        "esante-wallet, sandbox https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet, "
        "or your e-Santé proxy) and that it is reachable"
    )
    try:
        response = client.get(url)
        response.raise_for_status()
        found = _Discovery.model_validate_json(response.content)
    except httpx.HTTPError as exc:
        raise TokenError(f"Pro Santé Connect discovery failed: {exc}", where=url, fix=fix) from None
    except ValidationError as exc:
        raise TokenError(
            f"not a PSC discovery document with CIBA ({exc.error_count()} problem(s), first: "
            f"{exc.errors()[0]['loc'][0]} {exc.errors()[0]['msg']})", where=url, fix=fix,
        ) from None
    if found.issuer.rstrip("/") != issuer.rstrip("/"):
        raise TokenError(
            f"the discovery document is for issuer {found.issuer}", where=url,
            fix="set [psc] issuer to exactly that value, or check the proxy's configuration",
        )
    return PSCEndpoints(**found.model_dump())


def psc_client(settings: PSCSettings) -> httpx.Client:
    """An HTTP client for PSC: verifying TLS, optional mTLS, explicit timeouts."""
    return httpx.Client(
        timeout=httpx.Timeout(
            connect=settings.connect_timeout, read=settings.read_timeout,
            write=settings.read_timeout, pool=settings.connect_timeout,
        ),
        verify=ssl_context(
            url=settings.issuer,
            ca_bundle=settings.ca_bundle,
            client_certificate=settings.client_certificate,
            client_certificate_password=settings.client_certificate_password,
            section="psc",
        ),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
        trust_env=False,
    )


# -- CIBA --------------------------------------------------------------------------------------


class _CibaStarted(BaseModel):
    model_config = ConfigDict(extra="ignore")

    auth_req_id: str = Field(min_length=1)
    expires_in: float = Field(gt=0)
    interval: float = Field(default=5.0, ge=0)


class _TokenAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"
    expires_in: float | None = None


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """OAuth ``error`` and ``error_description`` of an error answer ("" when absent)."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:120]
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("error_description") or "")


class CibaTokenSource:
    """Tokens by CIBA poll mode, cached in memory per practitioner.

    :param settings: the ``[psc]`` section.
    :param allowed_professions: PSC profession codes that may issue codes.
    :param slow_down_step: seconds added to the polling interval after ``slow_down``
        (CIBA requires at least 5; tests use less).
    :param clock: the current time, for cache expiry.
    """

    def __init__(
        self,
        settings: PSCSettings,
        allowed_professions: Sequence[str] = DEFAULT_ALLOWED_PROFESSIONS,
        *,
        slow_down_step: float = SLOW_DOWN_STEP,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.allowed_professions = tuple(allowed_professions)
        self.slow_down_step = slow_down_step
        self._clock = clock
        self._client = psc_client(settings)
        self._endpoints: PSCEndpoints | None = None
        self._jwks: jwt.PyJWKSet | None = None
        self._tokens: dict[str, AccessToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # -- public

    def token_for(self, practitioner: Practitioner, binding_message: str) -> AccessToken:
        """A checked token for ``practitioner``: the cached one while fresh, else by CIBA.

        Blocks while the practitioner decides (at most ``ciba_timeout`` seconds).

        :raises TokenError: refused, timed out, unreachable, or the token fails the checks.
        """
        key = practitioner.national_id
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one CIBA request at a time per practitioner
            cached = self._tokens.get(key)
            if cached is not None and not cached.expires_within(
                self.settings.token_refresh_margin, self._clock()
            ):
                return cached
            self._tokens.pop(key, None)
            token = self._by_ciba(practitioner, binding_message)
            check_token(
                token, practitioner, allowed_professions=self.allowed_professions,
                required_acr=self.settings.acr_values.split()[0],
            )
            self._tokens[key] = token
            return token

    def forget(self, practitioner: Practitioner | None = None) -> None:
        """Drop the cached token of one practitioner (after a 401), or of all."""
        with self._lock:
            if practitioner is None:
                self._tokens.clear()
            else:
                self._tokens.pop(practitioner.national_id, None)

    def close(self) -> None:
        self.forget()
        self._client.close()

    # -- the exchange

    def endpoints(self) -> PSCEndpoints:
        if self._endpoints is None:
            self._endpoints = discover(self._client, self.settings.issuer)
        return self._endpoints

    def _client_auth(self, form: dict[str, str]) -> httpx.BasicAuth | None:
        secret = self.settings.client_secret
        if secret is None or not secret.get_secret_value():
            # no secret: mTLS client authentication (tls_client_auth), the id goes in the form
            form["client_id"] = self.settings.client_id
            return None
        # RFC 6749 §2.3.1: form-encode both before Basic
        return httpx.BasicAuth(
            quote(self.settings.client_id, safe=""), quote(secret.get_secret_value(), safe="")
        )

    def _post(self, url: str, form: dict[str, str]) -> httpx.Response:
        auth = self._client_auth(form)
        if auth is None:
            return self._client.post(url, data=form)
        return self._client.post(url, data=form, auth=auth)

    def _by_ciba(self, practitioner: Practitioner, binding_message: str) -> AccessToken:
        endpoints = self.endpoints()
        who = f"practitioner {practitioner.national_id}"
        form = {
            "login_hint": practitioner.national_id,
            "binding_message": binding_message,
            "scope": self.settings.scope,
            "acr_values": self.settings.acr_values,
            "channel": self.settings.channel,
        }
        try:
            response = self._post(endpoints.backchannel_authentication_endpoint, form)
        except httpx.HTTPError as exc:
            raise TokenError(
                f"Pro Santé Connect cannot be reached for the CIBA request: {exc}",
                where=endpoints.backchannel_authentication_endpoint,
                fix="check the network and [psc] issuer; then retry",
            ) from None
        if response.status_code != 200:
            raise self._ciba_refused(response, practitioner)
        try:
            started = _CibaStarted.model_validate_json(response.content)
        except ValidationError:
            raise TokenError(
                "Pro Santé Connect answered the CIBA request with something unusable",
                where=endpoints.backchannel_authentication_endpoint,
            ) from None
        log.info("CIBA request sent for %s; waiting for approval on the e-CPS app", who)
        access_token = self._poll(endpoints, started, who)
        return self._read_token(endpoints, access_token, who)

    def _ciba_refused(self, response: httpx.Response, practitioner: Practitioner) -> TokenError:
        error, description = _error_of(response)
        where = self.endpoints().backchannel_authentication_endpoint
        if error == "unknown_user_id":
            return TokenError(
                f"Pro Santé Connect knows no practitioner with national id "
                f"{practitioner.national_id}",
                where=where, fix="check the practitioner's RPPS number ('8' + 11 digits)",
            )
        if error == "invalid_client" or response.status_code == 401:
            return TokenError(
                "Pro Santé Connect refused this software's client credentials", where=where,
                fix="check [psc] client_id and client_secret (or the mTLS certificate)",
            )
        return TokenError(
            f"Pro Santé Connect refused the CIBA request (HTTP {response.status_code} "
            f"{error} {description})".rstrip(),
            where=where,
        )

    def _poll(self, endpoints: PSCEndpoints, started: _CibaStarted, who: str) -> str:
        """Poll until approved; the answer is the raw access token."""
        url = endpoints.token_endpoint
        waited_for = min(started.expires_in, self.settings.ciba_timeout)
        deadline = time.monotonic() + waited_for
        interval = started.interval
        failures = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TokenError(
                    f"the practitioner did not approve on the e-CPS app within {waited_for:g} s",
                    where=who, fix="ask again and approve the request showing the same two digits",
                )
            time.sleep(min(interval, left))
            try:
                response = self._post(
                    url, {"grant_type": CIBA_GRANT, "auth_req_id": started.auth_req_id}
                )
            except httpx.HTTPError as exc:
                failures += 1
                if failures >= _POLL_FAILURES_TOLERATED:
                    raise TokenError(
                        f"Pro Santé Connect stopped answering while waiting for approval: {exc}",
                        where=url, fix="check the network, then retry",
                    ) from None
                continue
            if response.status_code == 200:
                try:
                    return _TokenAnswer.model_validate_json(response.content).access_token
                except ValidationError:
                    raise TokenError(
                        "Pro Santé Connect sent a token answer without an access token",
                        where=url,
                    ) from None
            error, description = _error_of(response)
            if error == "authorization_pending":
                failures = 0
                continue
            if error == "slow_down":
                interval += self.slow_down_step
                continue
            if error == "access_denied":
                raise TokenError(
                    "the practitioner refused the request on the e-CPS app", where=who,
                    fix="ask again if that was a mistake",
                )
            if error == "expired_token":
                raise TokenError(
                    "the approval request expired before the practitioner answered", where=who,
                    fix="ask again and approve the request showing the same two digits",
                )
            if response.status_code == 429 or response.status_code >= 500:
                failures += 1
                if failures < _POLL_FAILURES_TOLERATED:
                    continue
            raise TokenError(
                f"Pro Santé Connect refused the token request (HTTP {response.status_code} "
                f"{error} {description})".rstrip(),
                where=url,
            )

    def _signing_key(self, kid: str | None, *, refresh: bool = False) -> jwt.PyJWK:
        endpoints = self.endpoints()
        if self._jwks is None or refresh:
            try:
                response = self._client.get(endpoints.jwks_uri)
                response.raise_for_status()
                self._jwks = jwt.PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                raise TokenError(
                    f"cannot read Pro Santé Connect's signing keys: {exc}",
                    where=endpoints.jwks_uri,
                ) from None
        for key in self._jwks.keys:
            if kid is None or key.key_id == kid:
                return key
        if not refresh:  # keys rotate: look once more
            return self._signing_key(kid, refresh=True)
        raise TokenError(
            f"the token is signed with key {kid!r}, unknown to Pro Santé Connect's JWKS",
            where=endpoints.jwks_uri,
        )

    def _verified_claims(self, endpoints: PSCEndpoints, raw: str, what: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(raw)
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"the {what} is not a JWT: {exc}", where=endpoints.issuer) from None
        algorithm = header.get("alg")
        if algorithm not in SIGNING_ALGORITHMS:
            raise TokenError(
                f"the {what} is signed with {algorithm!r}, which is not accepted",
                where=endpoints.issuer,
            )
        key = self._signing_key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                raw,
                key.key,
                algorithms=[algorithm],
                issuer=endpoints.issuer,
                leeway=CLOCK_LEEWAY,
                options={"require": ["exp", "iat", "iss"], "verify_aud": False},
            )
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"the {what} is not valid: {exc}", where=endpoints.issuer) from None
        azp = claims.get("azp")
        if azp is not None and azp != self.settings.client_id:
            raise TokenError(
                f"the {what} was issued to client {azp!r}, not to {self.settings.client_id!r}",
                where=endpoints.issuer,
            )
        return claims

    def _userinfo(self, endpoints: PSCEndpoints, raw: str) -> dict[str, Any]:
        url = endpoints.userinfo_endpoint
        try:
            response = self._client.get(url, headers={"Authorization": f"Bearer {raw}"})
        except httpx.HTTPError as exc:
            raise TokenError(f"userinfo cannot be reached: {exc}", where=url) from None
        if response.status_code != 200:
            error, description = _error_of(response)
            raise TokenError(
                f"userinfo refused the token (HTTP {response.status_code} {error} "
                f"{description})".rstrip(),
                where=url,
            )
        if response.headers.get("content-type", "").startswith("application/jwt"):
            return self._verified_claims(endpoints, response.text, "signed userinfo")
        try:
            info = response.json()
        except ValueError:
            raise TokenError("userinfo is not JSON", where=url) from None
        if not isinstance(info, dict):
            raise TokenError("userinfo is not a JSON object", where=url)
        return info

    def _read_token(self, endpoints: PSCEndpoints, raw: str, who: str) -> AccessToken:
        claims = self._verified_claims(endpoints, raw, "access token")
        info = self._userinfo(endpoints, raw)
        subject = str(claims.get("SubjectNameID") or info.get("SubjectNameID") or "")
        if info.get("SubjectNameID") and str(info["SubjectNameID"]) != subject:
            raise TokenError(
                "userinfo and the access token name different practitioners", where=who
            )
        return AccessToken(
            access_token=SecretStr(raw),
            expires_at=datetime.fromtimestamp(float(claims["exp"]), UTC),
            subject=subject,
            acr=str(claims["acr"]) if claims.get("acr") is not None else None,
            profession_codes=profession_codes(info) or profession_codes(claims),
        )


def profession_codes(claims: dict[str, Any]) -> list[str]:
    """``SubjectRefPro.exercices[].codeProfession``, in order, without repeats."""
    ref = claims.get("SubjectRefPro")
    exercices = ref.get("exercices") if isinstance(ref, dict) else None
    if not isinstance(exercices, list):
        return []
    codes = [str(e["codeProfession"]) for e in exercices if isinstance(e, dict)
             and e.get("codeProfession")]
    return list(dict.fromkeys(codes))


# -- hook implementations ----------------------------------------------------------------------


class HostTokenStore:
    """Tokens a host obtained with its own PSC login, handed over with :meth:`put`.

    Register an instance with the plugin manager; it answers ``prostop_practitioner_token``
    with a stored token that is still fresh, else ``None`` (the next source, CIBA, tries).
    """

    def __init__(
        self, *, refresh_margin: float = 15.0, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def put(self, token: AccessToken) -> None:
        """Keep ``token`` (in memory) for the practitioner it names in ``subject``.

        :raises TokenError: when ``subject`` is not a national id.
        """
        try:
            national_id = Practitioner(national_id=token.subject).national_id
        except ValidationError:
            raise TokenError(
                f"the host's token names {token.subject!r}, not a PSC national id",
                fix="pass the SubjectNameID claim ('8' + RPPS) as the token's subject",
            ) from None
        with self._lock:
            self._tokens[national_id] = token

    def forget(self, practitioner: Practitioner) -> None:
        with self._lock:
            self._tokens.pop(practitioner.national_id, None)

    @hookimpl
    def prostop_practitioner_token(
        self, practitioner: Practitioner, binding_message: str
    ) -> AccessToken | None:
        with self._lock:
            token = self._tokens.get(practitioner.national_id)
            if token is None:
                return None
            if token.expires_within(self.refresh_margin, self._clock()):
                del self._tokens[practitioner.national_id]
                return None
            return token


class PSCTokenPlugin:
    """The built-in fallback token source: CIBA with the ``[psc]`` settings.

    Built from the configuration in ``prostop_configure`` (or given settings); raises
    :class:`TokenError` when the practitioner refuses or does not answer, so the reason
    reaches the physician.
    """

    def __init__(
        self,
        settings: PSCSettings | None = None,
        allowed_professions: Sequence[str] = DEFAULT_ALLOWED_PROFESSIONS,
        *,
        slow_down_step: float = SLOW_DOWN_STEP,
    ) -> None:
        self._settings = settings
        self._allowed = tuple(allowed_professions)
        self._slow_down_step = slow_down_step
        self._source: CibaTokenSource | None = None
        self._lock = threading.Lock()

    @hookimpl
    def prostop_configure(self, settings: Settings) -> None:
        with self._lock:
            self._settings = settings.psc
            self._allowed = tuple(settings.eligibility.allowed_professions)
            if self._source is not None:
                self._source.close()
                self._source = None
        self.source()  # fail at start-up, not at the first code, on a bad certificate

    def source(self) -> CibaTokenSource:
        with self._lock:
            if self._source is None:
                self._source = CibaTokenSource(
                    self._settings or PSCSettings(), self._allowed,
                    slow_down_step=self._slow_down_step,
                )
            return self._source

    @hookimpl(trylast=True)
    def prostop_practitioner_token(
        self, practitioner: Practitioner, binding_message: str
    ) -> AccessToken | None:
        return self.source().token_for(practitioner, binding_message)

    def close(self) -> None:
        with self._lock:
            if self._source is not None:
                self._source.close()
                self._source = None
