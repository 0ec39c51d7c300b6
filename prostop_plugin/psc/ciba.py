"""The CIBA poll client: a token from the practitioner's e-CPS approval, one per request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prostop_plugin.config import PSCSettings
from prostop_plugin.errors import TokenError
from prostop_plugin.models import AccessToken, Practitioner, utcnow
from prostop_plugin.psc.checks import DEFAULT_ALLOWED_PROFESSIONS
from prostop_plugin.psc.discovery import PSCEndpoints, discover, psc_client
from prostop_plugin.psc.verify import verifier_for

# the package's logger, as before psc became a package (log lines name it)
log = logging.getLogger("prostop_plugin.psc")

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
#: CIBA: after ``slow_down`` the interval "MUST be increased by at least 5 seconds"
SLOW_DOWN_STEP = 5.0
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
    """Tokens by CIBA poll mode, one authentication per call.

    Each :meth:`token_for` sends its own request to the practitioner's e-CPS app (showing that
    call's binding message) and returns the token of that approval, verified. Nothing is
    cached: a token never serves another request, session or issuance than the one that asked
    for it, and concurrent calls never wait for each other.

    :param settings: the ``[psc]`` section.
    :param allowed_professions: PSC profession codes that may issue codes.
    :param slow_down_step: seconds added to the polling interval after ``slow_down``
        (CIBA requires at least 5; tests use less).
    :param clock: the current time, for the token's expiry.
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
        self.verifier = verifier_for(settings)

    # -- public

    def token_for(
        self, practitioner: Practitioner, binding_message: str, *,
        cancel: threading.Event | None = None,
        on_started: Callable[[str], None] | None = None,
    ) -> AccessToken:
        """A verified token for ``practitioner``, from a new CIBA approval.

        Blocks while the practitioner decides (at most ``ciba_timeout`` seconds).

        :param cancel: set it to stop waiting (a newer request replaced this one).
        :param on_started: called with PSC's ``auth_req_id`` once the request is accepted.
        :raises TokenError: refused, timed out, cancelled, unreachable; :class:`TokenRefused`
            when the token fails the checks.
        """
        raw = self._by_ciba(practitioner, binding_message, cancel, on_started)
        return self.verifier.verify_for(raw, practitioner,
                                        allowed_professions=self.allowed_professions,
                                        now=self._clock())

    def close(self) -> None:
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

    def _by_ciba(
        self, practitioner: Practitioner, binding_message: str,
        cancel: threading.Event | None, on_started: Callable[[str], None] | None,
    ) -> str:
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
        if on_started is not None:
            on_started(started.auth_req_id)
        return self._poll(endpoints, started, who, cancel)

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

    def _poll(
        self, endpoints: PSCEndpoints, started: _CibaStarted, who: str,
        cancel: threading.Event | None = None,
    ) -> str:
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
            if cancel is None:
                time.sleep(min(interval, left))
            elif cancel.wait(min(interval, left)):
                raise TokenError(
                    "this approval request was cancelled: a newer one replaced it", where=who,
                    fix="approve the newest request on the e-CPS app",
                )
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
