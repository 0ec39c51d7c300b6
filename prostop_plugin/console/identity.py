"""Who logs in to the console: Pro Santé Connect's verified answer, and who may act.

Two ways in, both ending in a token verified by :mod:`prostop_plugin.psc` (signature against
PSC's JWKS, issuer, client, expiry, acr at least eidas1, practitioner and professions from
the verified claims and userinfo):

* the **authorization code flow** ("Se connecter avec Pro Santé Connect"), with PKCE S256,
  ``state`` and ``nonce``, on Authlib's OAuth 2 / OpenID Connect parts: Authlib builds the
  authorization URL and the PKCE challenge, checks the ``state`` coming back and prepares the
  code's exchange (sent through the same verifying-TLS client as every PSC exchange); the ID
  token's signature, issuer and audience are checked by :class:`~prostop_plugin.psc.TokenVerifier`
  and its ``nonce``, expiry and ``at_hash`` by Authlib's :class:`CodeIDToken` rules;
* **CIBA** ("je valide sur mon application e-CPS"): the RPPS typed in, two digits shown on the
  page and on the phone (:class:`~prostop_plugin.psc.CibaTokenSource`).

Then :func:`refusal_of` says whether this practitioner may act here: a profession in
``eligibility.allowed_professions`` and, when ``[console] practitioners`` is set, listed there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import (
    parse_authorization_code_response,
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc.errors import JoseError

from prostop_plugin.config import Settings
from prostop_plugin.errors import TokenError, TokenRefused
from prostop_plugin.models import PROFESSIONS, AccessToken, Practitioner, utcnow
from prostop_plugin.psc import EXPIRY_LEEWAY, acr_satisfies, psc_client, verifier_for
from prostop_plugin.texts import Message, get_texts

#: the callback path PSC redirects to (register ``{public_url}/connexion/retour`` with PSC)
CALLBACK_PATH = "/connexion/retour"


@dataclass(frozen=True)
class LoginRequest:
    """What the browser must be sent to, and what to keep for the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Identity:
    """A practitioner as PSC vouches for them, with the token of this authentication."""

    token: AccessToken
    practitioner: Practitioner


def refused(what: str, fr: str, en: str, reason: str = "malformed") -> TokenRefused:
    return TokenRefused(what, reason=reason, fr=fr, en=en,  # type: ignore[arg-type]
                        fix="log in again with the CPS card or e-CPS")


def _unverified(what: str) -> TokenRefused:
    return refused(what, get_texts("fr").error_text(Message.TOKEN_UNVERIFIED),
                   get_texts("en").error_text(Message.TOKEN_UNVERIFIED))


class AuthorizationCodeLogin:
    """PSC's authorization code flow for the console (one per console; thread-safe)."""

    def __init__(self, settings: Settings, redirect_uri: str) -> None:
        self.settings = settings
        self.redirect_uri = redirect_uri
        self.verifier = verifier_for(settings.psc)
        self._client = psc_client(settings.psc)

    def close(self) -> None:
        self._client.close()

    def authorize_endpoint(self) -> str:
        found = self.settings.console.authorization_endpoint or \
            self.verifier.endpoints().authorization_endpoint
        if not found:
            raise TokenError(
                "Pro Santé Connect's discovery document names no authorization endpoint",
                where=self.settings.psc.issuer,
                fix="set [console] authorization_endpoint (production: "
                "https://wallet.esw.esante.gouv.fr/auth)",
            )
        return found

    def start(self) -> LoginRequest:
        """A new authorization request: fresh ``state``, ``nonce`` and PKCE verifier."""
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        psc = self.settings.psc
        url = prepare_grant_uri(
            self.authorize_endpoint(), client_id=psc.client_id, response_type="code",
            redirect_uri=self.redirect_uri, scope=psc.scope, state=state, nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256",
            acr_values=psc.acr_values,
        )
        return LoginRequest(url=url, state=state, nonce=nonce, code_verifier=verifier)

    def finish(self, callback_url: str, state: str, nonce: str, code_verifier: str) -> Identity:
        """The callback: ``state`` checked, code exchanged (PKCE), ID token and access token
        verified; the identity comes from PSC's verified claims.

        :raises TokenRefused: a mismatching state or nonce, a token failing a check, a login
            refused at PSC; :raises TokenError: PSC unreachable.
        """
        endpoints = self.verifier.endpoints()
        try:
            code = parse_authorization_code_response(callback_url, state=state)["code"]
        except AuthlibBaseError as exc:
            raise _unverified(f"Pro Santé Connect login refused: "
                              f"{getattr(exc, 'error', type(exc).__name__)}") from None
        answer = self._exchange(endpoints.token_endpoint, code, code_verifier)
        access, id_token = answer.get("access_token"), answer.get("id_token")
        if not isinstance(access, str) or not isinstance(id_token, str):
            raise _unverified("the token answer lacks the access token or the ID token")
        claims = self.id_token_claims(id_token, nonce, access)
        verified = self.verifier.verify(access, now=utcnow())
        named = claims.get("SubjectNameID")
        if named is not None and named != verified.subject:
            raise _unverified("the ID token and the access token name different practitioners")
        return Identity(verified, self.practitioner_of(verified))

    def _exchange(self, url: str, code: str, code_verifier: str) -> dict[str, Any]:
        """The code for tokens, with the PKCE verifier; client_secret_basic (sandbox) or the
        client id alone over mTLS (production)."""
        psc = self.settings.psc
        body = prepare_token_request("authorization_code", code=code,
                                     redirect_uri=self.redirect_uri, code_verifier=code_verifier)
        secret = psc.client_secret.get_secret_value() if psc.client_secret else ""
        auth = httpx.BasicAuth(quote(psc.client_id, safe=""), quote(secret, safe="")) \
            if secret else None
        if auth is None:
            body += "&client_id=" + quote(psc.client_id, safe="")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        try:
            response = self._client.post(url, content=body, headers=headers, auth=auth) \
                if auth is not None else self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TokenError(f"Pro Santé Connect cannot be reached: {exc}", where=url,
                             fix="check the network and [psc] issuer; then retry") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise TokenError(f"Pro Santé Connect's token endpoint answered HTTP "
                             f"{response.status_code} without JSON", where=url)
        if response.status_code != 200:
            raise _unverified(f"Pro Santé Connect refused the code: {answer.get('error')} "
                              f"{answer.get('error_description') or ''}".strip())
        return answer

    def id_token_claims(self, id_token: str, nonce: str, access_token: str) -> dict[str, Any]:
        """PSC's signature, issuer and audience (:meth:`TokenVerifier.claims`), then the
        nonce, expiry, ``at_hash`` and ``azp`` (Authlib's OpenID Connect rules), then acr."""
        claims = self.verifier.claims(id_token, what="ID token")
        try:
            header = jwt.get_unverified_header(id_token)
            CodeIDToken(claims, header, params={
                "nonce": nonce, "client_id": self.settings.psc.client_id,
                "access_token": access_token,
            }).validate(now=int(time.time()), leeway=int(EXPIRY_LEEWAY))
        except (JoseError, AuthlibBaseError, jwt.InvalidTokenError) as exc:
            name = getattr(exc, "claim", None) or type(exc).__name__
            raise _unverified(f"the ID token fails the OpenID Connect checks ({name}: "
                              f"{getattr(exc, 'description', exc)})") from None
        if "nonce" not in claims:
            raise _unverified("the ID token carries no nonce")
        required = self.verifier.required_acr
        acr = str(claims["acr"]) if claims.get("acr") is not None else None
        if not acr_satisfies(acr, required):
            raise refused(
                f"authentication level {acr or 'unknown'} is below {required}",
                get_texts("fr").error_text(Message.TOKEN_LEVEL, level=acr or "?",
                                           required=required),
                get_texts("en").error_text(Message.TOKEN_LEVEL, level=acr or "?",
                                           required=required), reason="acr")
        return claims

    def practitioner_of(self, token: AccessToken) -> Practitioner:
        """The practitioner of a verified token; names from PSC's userinfo when it has them."""
        names: dict[str, Any] = {}
        url = self.verifier.endpoints().userinfo_endpoint
        try:
            response = self._client.get(url, headers={
                "Authorization": f"Bearer {token.access_token.get_secret_value()}"})
            if response.status_code == 200:
                names = response.json()
        except (httpx.HTTPError, ValueError):
            names = {}
        return practitioner_from(token, self.settings.eligibility.allowed_professions, names)


def practitioner_from(token: AccessToken, allowed: list[str] | tuple[str, ...],
                      names: dict[str, Any] | None = None) -> Practitioner:
    held = [c for c in token.profession_codes if c in allowed] or token.profession_codes
    names = names or {}
    family, given = names.get("family_name"), names.get("given_name")
    return Practitioner(
        national_id=token.subject, profession_code=held[0] if held else None,
        family_name=family if isinstance(family, str) else None,
        given_name=given if isinstance(given, str) else None,
    )


@dataclass(frozen=True)
class Refusal:
    """Why a verified practitioner may not act in this console (French and English)."""

    reason: str
    fr: str
    en: str


def refusal_of(token: AccessToken, settings: Settings) -> Refusal | None:
    """``None`` when this practitioner may act; else why not."""
    allowed = list(settings.eligibility.allowed_professions)
    if not set(token.profession_codes) & set(allowed):
        def names(codes: list[str], index: int, none: str) -> str:
            return ", ".join(PROFESSIONS.get(c, (f"code {c}",) * 2)[index] for c in codes) or none

        return Refusal(
            "profession",
            get_texts("fr").error_text(Message.PROFESSION_NOT_ALLOWED,
                                       profession=names(token.profession_codes, 0, "inconnue"),
                                       allowed=names(allowed, 0, "aucune")),
            get_texts("en").error_text(Message.PROFESSION_NOT_ALLOWED,
                                       profession=names(token.profession_codes, 1, "unknown"),
                                       allowed=names(allowed, 1, "none")),
        )
    if not settings.console.allows(token.subject):
        return Refusal(
            "not_listed",
            "Vous n'êtes pas dans la liste des praticiens de ce cabinet autorisés à utiliser "
            "la console StopCovid. Demandez à l'administrateur de vous y ajouter.",
            "You are not in this practice's list of practitioners allowed to use the StopCovid "
            "console. Ask the administrator to add you.",
        )
    return None
