"""The CIBA poll client: a token from the practitioner's e-CPS approval, cached in memory."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prostop_plugin.config import PSCSettings
from prostop_plugin.errors import TokenError
from prostop_plugin.models import AccessToken, Practitioner, utcnow
from prostop_plugin.psc.checks import DEFAULT_ALLOWED_PROFESSIONS, check_token, profession_codes
from prostop_plugin.psc.discovery import PSCEndpoints, discover, psc_client

# the package's logger, as before psc became a package (log lines name it)
log = logging.getLogger("prostop_plugin.psc")

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
#: signatures we accept on access tokens (never "none", never HMAC)
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA")
#: CIBA: after ``slow_down`` the interval "MUST be increased by at least 5 seconds"
SLOW_DOWN_STEP = 5.0
#: tolerated clock difference with PSC when checking exp / iat
CLOCK_LEEWAY = 30
_POLL_FAILURES_TOLERATED = 3


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
