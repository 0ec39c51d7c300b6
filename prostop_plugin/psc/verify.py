"""Verifying a Pro Santé Connect access token before anything uses it.

Every token the core uses goes through :func:`verified_token` — the host's (handed over with
``prostop_practitioner_token``) as much as the one CIBA obtained — and the identity it acts for
comes from the verified claims, never from the fields a host filled in :class:`AccessToken`:

1. the signature, with a key from PSC's JWKS (``jwks_uri`` of the discovery document, fetched
   through the same verifying-TLS client as every PSC exchange, cached; looked up again when an
   unknown key id appears, at most every :data:`JWKS_MIN_REFRESH` seconds);
2. the issuer (the configured realm), the client (``azp``, else ``aud``, names ``[psc]
   client_id``), an access token (``typ`` Bearer), the expiry (:data:`EXPIRY_LEEWAY`) and
   ``acr`` at least ``[psc] acr_values``;
3. the practitioner's national id (``SubjectNameID``) and professions: from the claims, else
   from PSC's userinfo, which also tells that PSC still accepts the token;
4. :func:`~prostop_plugin.psc.check_token`: the confirming practitioner and an allowed profession.

A refusal is a :class:`~prostop_plugin.errors.TokenRefused` with its typed ``reason`` and a
French and English text for the physician; PSC being unreachable is a plain
:class:`~prostop_plugin.errors.TokenError`. :func:`first_verified_token` asks the token sources
in hook order and uses the first token that passes: a refused host token falls back to CIBA.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from pydantic import SecretStr

from prostop_plugin.config import PSCSettings
from prostop_plugin.errors import TokenError, TokenRefusalReason, TokenRefused
from prostop_plugin.models import AccessToken, Practitioner, utcnow
from prostop_plugin.psc.checks import acr_satisfies, check_token, profession_codes
from prostop_plugin.psc.discovery import PSCEndpoints, discover, psc_client
from prostop_plugin.texts import Message, get_texts

if TYPE_CHECKING:
    from prostop_plugin.plugins import HookFacade

log = logging.getLogger("prostop_plugin.psc")

#: signatures we accept on access tokens (never "none", never HMAC)
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA")
#: seconds a token is still accepted after ``exp`` (our clock against PSC's)
EXPIRY_LEEWAY = 10.0
#: an unknown key id makes us read the JWKS again, but not more often than this (seconds)
JWKS_MIN_REFRESH = 30.0
#: the JWKS is read again after this long even when every key id is known (seconds)
JWKS_LIFESPAN = 3600.0
_MAX_CACHED = 1024

__all__ = [
    "EXPIRY_LEEWAY",
    "JWKS_LIFESPAN",
    "JWKS_MIN_REFRESH",
    "SIGNING_ALGORITHMS",
    "TokenVerifier",
    "first_verified_token",
    "verified_token",
    "verifier_for",
]


def _unverified(what: str, reason: TokenRefusalReason, where: str,
                fix: str = "log in again with the CPS card or e-CPS") -> TokenRefused:
    return TokenRefused(
        what, reason=reason, where=where, fix=fix,
        fr=get_texts("fr").error_text(Message.TOKEN_UNVERIFIED),
        en=get_texts("en").error_text(Message.TOKEN_UNVERIFIED),
    )


def _raw(token: AccessToken | SecretStr | str) -> str:
    if isinstance(token, AccessToken):
        return token.access_token.get_secret_value()
    if isinstance(token, SecretStr):
        return token.get_secret_value()
    return token


class TokenVerifier:
    """Verifies PSC access tokens for one ``[psc]`` configuration; thread-safe.

    :param settings: the ``[psc]`` section (issuer, client id, acr, TLS).
    :param client: an HTTP client for PSC; by default one from
        :func:`~prostop_plugin.psc.psc_client` (TLS verification always on).
    """

    def __init__(self, settings: PSCSettings, *, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.required_acr = settings.acr_values.split()[0]
        self._client = client or psc_client(settings)
        self._owns_client = client is None
        self._endpoints: PSCEndpoints | None = None
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_read_at = float("-inf")
        self._verified: dict[str, AccessToken] = {}
        self._lock = threading.Lock()
        self._jwks_lock = threading.Lock()

    # -- public

    def verify(self, token: AccessToken | SecretStr | str, *,
               now: datetime | None = None) -> AccessToken:
        """The token as PSC vouches for it: only its raw value is read, every field of the
        answer comes from verified claims (and userinfo).

        :raises TokenRefused: the token fails a check (see the module's list).
        :raises TokenError: PSC cannot be reached to check it.
        """
        raw = _raw(token)
        now = now or utcnow()
        digest = hashlib.sha256(raw.encode("utf-8", errors="replace")).hexdigest()
        with self._lock:
            cached = self._verified.get(digest)
        if cached is None:
            cached = self._verify(raw, now)
            with self._lock:
                if len(self._verified) >= _MAX_CACHED:
                    self._forget_expired(now)
                if len(self._verified) < _MAX_CACHED:
                    self._verified[digest] = cached
        _check_expiry(cached.expires_at, now, f"practitioner {cached.subject}")
        return cached

    def verify_for(
        self, token: AccessToken | SecretStr | str, practitioner: Practitioner, *,
        allowed_professions: Sequence[str], now: datetime | None = None,
    ) -> AccessToken:
        """:meth:`verify`, then the token must be ``practitioner``'s, with an allowed profession.

        :raises TokenRefused: with the reason (``practitioner``, ``profession``, …).
        """
        now = now or utcnow()
        verified = self.verify(token, now=now)
        check_token(verified, practitioner, allowed_professions=allowed_professions,
                    required_acr=self.required_acr, now=now, leeway=EXPIRY_LEEWAY)
        return verified

    def endpoints(self) -> PSCEndpoints:
        with self._lock:
            if self._endpoints is None:
                self._endpoints = discover(self._client, self.settings.issuer)
            return self._endpoints

    def close(self) -> None:
        with self._lock:
            self._verified.clear()
        if self._owns_client:
            self._client.close()

    # -- the checks

    def _verify(self, raw: str, now: datetime) -> AccessToken:
        endpoints = self.endpoints()
        claims = self.claims(raw, endpoints=endpoints)
        expires_at = datetime.fromtimestamp(float(claims["exp"]), UTC)
        # expired: refused before asking userinfo (which would refuse it less clearly)
        _check_expiry(expires_at, now, endpoints.issuer)
        subject = str(claims.get("SubjectNameID") or "")
        professions = profession_codes(claims)
        if not subject or not professions:  # PSC's access tokens leave these to userinfo
            info = self._userinfo(endpoints, raw)
            named = str(info.get("SubjectNameID") or "")
            if subject and named and named != subject:
                raise _unverified("userinfo and the access token name different practitioners",
                                  "userinfo", endpoints.userinfo_endpoint)
            subject = subject or named
            professions = professions or profession_codes(info)
        if not subject:
            raise _unverified("neither the token nor userinfo names the practitioner "
                              "(no SubjectNameID)", "malformed", endpoints.issuer)
        return AccessToken(
            access_token=SecretStr(raw),
            expires_at=expires_at,
            subject=subject,
            acr=str(claims["acr"]) if claims.get("acr") is not None else None,
            profession_codes=professions,
        )

    def claims(self, raw: str, *, endpoints: PSCEndpoints | None = None,
               what: str = "access token") -> dict[str, Any]:
        """The claims of a JWT signed by PSC for this software, at ``acr`` high enough.

        Expiry is not checked here (see :meth:`verify`): it depends on the caller's clock.
        """
        endpoints = endpoints or self.endpoints()
        where = endpoints.issuer
        try:
            header = jwt.get_unverified_header(raw)
        except jwt.InvalidTokenError as exc:
            raise _unverified(f"the {what} is not a JWT: {exc}", "malformed", where) from None
        algorithm = header.get("alg")
        if algorithm not in SIGNING_ALGORITHMS:
            raise _unverified(f"the {what} is signed with {algorithm!r}, which is not accepted",
                              "algorithm", where)
        kid = header.get("kid")
        key = self._signing_key(endpoints, kid if isinstance(kid, str) else None)
        try:
            claims: dict[str, Any] = jwt.decode(
                raw, key.key, algorithms=[algorithm],
                options={"require": ["exp", "iat", "iss"], "verify_exp": False,
                         "verify_iat": False, "verify_nbf": False, "verify_aud": False,
                         "verify_iss": False},
            )
        except jwt.InvalidSignatureError:
            raise _unverified(f"the {what}'s signature does not match Pro Santé Connect's key",
                              "signature", where) from None
        except jwt.InvalidTokenError as exc:
            raise _unverified(f"the {what} is not valid: {exc}", "malformed", where) from None
        if not all(isinstance(claims[name], int | float) for name in ("exp", "iat")):
            raise _unverified(f"the {what}'s exp or iat is not a number", "malformed", where)
        if claims.get("iss") != endpoints.issuer:
            raise _unverified(
                f"the {what}'s issuer is {claims.get('iss')!r}, not {endpoints.issuer}",
                "issuer", where, fix="check [psc] issuer: it must be the realm that logged the "
                "practitioner in",
            )
        self._check_client(claims, what, where)
        if what == "access token" and claims.get("typ") not in (None, "Bearer"):
            raise _unverified(f"this is not an access token (typ {claims.get('typ')!r})",
                              "not_access_token", where,
                              fix="hand over the access token, not the ID token")
        acr = str(claims["acr"]) if claims.get("acr") is not None else None
        if what == "access token" and not acr_satisfies(acr, self.required_acr):
            raise TokenRefused(
                f"authentication level {acr or 'unknown'} is below {self.required_acr}",
                reason="acr", where=where,
                fix="authenticate with a CPS card or the e-CPS app (level eidas1)",
                fr=get_texts("fr").error_text(Message.TOKEN_LEVEL, level=acr or "?",
                                              required=self.required_acr),
                en=get_texts("en").error_text(Message.TOKEN_LEVEL, level=acr or "?",
                                              required=self.required_acr),
            )
        return claims

    def _check_client(self, claims: dict[str, Any], what: str, where: str) -> None:
        """``azp`` (the client the token was issued to) is ours; without ``azp``, ``aud``
        must name us (Keycloak puts resource servers in ``aud``, the client in ``azp``)."""
        client_id = self.settings.client_id
        azp = claims.get("azp")
        if azp is not None:
            if azp != client_id:
                raise _unverified(f"the {what} was issued to client {azp!r}, not to {client_id!r}",
                                  "audience", where, fix="check [psc] client_id")
            return
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list) else []
        if client_id not in audiences:
            raise _unverified(
                f"the {what} is meant for {', '.join(map(str, audiences)) or 'no audience'}, "
                f"not for {client_id!r}", "audience", where, fix="check [psc] client_id",
            )

    def _signing_key(self, endpoints: PSCEndpoints, kid: str | None) -> jwt.PyJWK:
        with self._jwks_lock:
            age = time.monotonic() - self._jwks_read_at
            if self._jwks is None or age > JWKS_LIFESPAN:
                self._read_jwks(endpoints)
            found = self._key_in_set(kid)
            if found is None and time.monotonic() - self._jwks_read_at > JWKS_MIN_REFRESH:
                self._read_jwks(endpoints)  # keys rotate: look once more
                found = self._key_in_set(kid)
        if found is None:
            raise _unverified(
                f"the token is signed with key {kid!r}, unknown to Pro Santé Connect's JWKS",
                "signature", endpoints.jwks_uri,
            )
        return found

    def _key_in_set(self, kid: str | None) -> jwt.PyJWK | None:
        assert self._jwks is not None
        for key in self._jwks.keys:
            if kid is None or key.key_id == kid:
                return key
        return None

    def _read_jwks(self, endpoints: PSCEndpoints) -> None:
        try:
            response = self._client.get(endpoints.jwks_uri)
            response.raise_for_status()
            self._jwks = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            raise TokenError(
                f"cannot read Pro Santé Connect's signing keys: {exc}", where=endpoints.jwks_uri,
                fix="check the network and [psc] issuer; then retry",
            ) from None
        self._jwks_read_at = time.monotonic()

    def _userinfo(self, endpoints: PSCEndpoints, raw: str) -> dict[str, Any]:
        url = endpoints.userinfo_endpoint
        try:
            response = self._client.get(url, headers={"Authorization": f"Bearer {raw}"})
        except httpx.HTTPError as exc:
            raise TokenError(f"userinfo cannot be reached: {exc}", where=url,
                             fix="check the network, then retry") from None
        if response.status_code in (401, 403):
            error, description = _oauth_error(response)
            raise _unverified(
                f"Pro Santé Connect no longer accepts the token (userinfo: HTTP "
                f"{response.status_code} {error} {description}".rstrip() + ")",
                "userinfo", url,
            )
        if response.status_code != 200:
            raise TokenError(f"userinfo answered HTTP {response.status_code}", where=url,
                             fix="retry later")
        if response.headers.get("content-type", "").startswith("application/jwt"):
            return self.claims(response.text, endpoints=endpoints, what="signed userinfo")
        try:
            info = response.json()
        except ValueError:
            raise TokenError("userinfo is not JSON", where=url) from None
        if not isinstance(info, dict):
            raise TokenError("userinfo is not a JSON object", where=url)
        return info

    def _forget_expired(self, now: datetime) -> None:
        for digest, token in list(self._verified.items()):
            if token.expires_within(-EXPIRY_LEEWAY, now):
                del self._verified[digest]


def _check_expiry(expires_at: datetime, now: datetime, where: str) -> None:
    """Refuse a token that expired more than :data:`EXPIRY_LEEWAY` seconds ago."""
    if (now - expires_at).total_seconds() >= EXPIRY_LEEWAY:
        raise TokenRefused(
            f"the Pro Santé Connect token expired at {expires_at:%H:%M:%S} UTC",
            reason="expired", where=where,
            fix="authenticate again with the CPS card or e-CPS",
            fr=get_texts("fr").error_text(Message.TOKEN_EXPIRED),
            en=get_texts("en").error_text(Message.TOKEN_EXPIRED),
        )


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("error_description") or "")


# -- one verifier per PSC configuration, shared in the process ----------------------------------

_VERIFIERS: dict[tuple[object, ...], TokenVerifier] = {}
_VERIFIERS_LOCK = threading.Lock()


def _settings_key(settings: PSCSettings) -> tuple[object, ...]:
    password = settings.client_certificate_password
    return (
        settings.issuer, settings.client_id, settings.acr_values, settings.ca_bundle,
        settings.client_certificate, password.get_secret_value() if password else None,
        settings.connect_timeout, settings.read_timeout,
    )


def verifier_for(settings: PSCSettings) -> TokenVerifier:
    """The process's verifier for this ``[psc]`` configuration: the engine and the CIBA source
    share it, so the JWKS is read once and a token is verified once."""
    key = _settings_key(settings)
    with _VERIFIERS_LOCK:
        found = _VERIFIERS.get(key)
        if found is None:
            found = _VERIFIERS[key] = TokenVerifier(settings)
        return found


def verified_token(
    settings: PSCSettings, token: AccessToken, practitioner: Practitioner, *,
    allowed_professions: Sequence[str], now: datetime | None = None,
) -> AccessToken:
    """``token`` verified for ``practitioner`` (see :meth:`TokenVerifier.verify_for`)."""
    return verifier_for(settings).verify_for(token, practitioner,
                                             allowed_professions=allowed_professions, now=now)


def first_verified_token(
    hooks: HookFacade, practitioner: Practitioner, binding_message: str, *,
    settings: PSCSettings, allowed_professions: Sequence[str], now: datetime | None = None,
) -> AccessToken:
    """Ask the ``prostop_practitioner_token`` sources in hook order (hosts first, the built-in
    CIBA last) and return the first token that passes :func:`verified_token` — its verified
    form. A refused token is logged and the next source asked: a host's bad token falls back
    to CIBA, which asks the confirming practitioner on their e-CPS app.

    :raises TokenRefused: every token offered was refused (the last one's reason, naming the
        earlier refusals).
    :raises TokenError: no source answered, or the last one failed (naming earlier refusals).
    """
    caller = hooks.pm.hook.prostop_practitioner_token
    offered = {"practitioner": practitioner, "binding_message": binding_message}
    refusals: list[tuple[str, TokenRefused]] = []
    for impl in reversed(caller.get_hookimpls()):  # pluggy's own order: LIFO, trylast last
        if impl.hookwrapper or getattr(impl, "wrapper", False):
            continue
        # unnamed plugins are named by id(): the class (or module) says more
        name = impl.plugin_name
        source = type(impl.plugin).__name__ if name.isdigit() else name
        try:
            token = impl.function(**{name: offered[name] for name in impl.argnames})
            if token is None:
                continue
            if not isinstance(token, AccessToken):
                raise TokenError(
                    f"{source} answered prostop_practitioner_token with "
                    f"{type(token).__name__}, not an AccessToken", where=source,
                )
            return verified_token(settings, token, practitioner,
                                  allowed_professions=allowed_professions, now=now)
        except TokenRefused as refused:
            log.warning("a Pro Santé Connect token from %s was refused (%s): %s",
                        source, refused.reason, refused.what)
            refusals.append((source, refused))
        except TokenError as failed:
            if not refusals:
                raise
            earlier = "; ".join(f"{name}'s token: {r.what}" for name, r in refusals)
            raise TokenError(f"{failed.what} (refused before: {earlier})", where=failed.where,
                             fix=failed.fix) from None
    if refusals:  # the last word (CIBA's, when it was asked) is the one to show
        last = refusals[-1][1]
        if len(refusals) == 1:
            raise last
        earlier = "; ".join(f"{name}'s token: {r.what}" for name, r in refusals[:-1])
        raise TokenRefused(f"{last.what} (refused before: {earlier})", reason=last.reason,
                           fr=last.fr, en=last.en, where=last.where, fix=last.fix)
    raise TokenError(
        "no Pro Santé Connect token source answered for this practitioner",
        fix="log in with the CPS card / e-CPS in the host, or configure [psc]",
    )
