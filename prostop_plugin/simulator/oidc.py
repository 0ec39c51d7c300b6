"""The simulated Pro Santé Connect realm ``esante-wallet``: discovery, JWKS, CIBA, token,
introspection and userinfo, shaped like the real Keycloak realm's answers."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from prostop_plugin.config import PSC_REALM_PATH
from prostop_plugin.simulator.authcode import exchange_code
from prostop_plugin.simulator.codeservice import token_refused
from prostop_plugin.simulator.options import SimPractitioner
from prostop_plugin.simulator.state import SimulatorState
from prostop_plugin.simulator.tokens import InvalidToken, bearer_token

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
_OIDC = "/protocol/openid-connect"
_BINDING_MESSAGE = re.compile(r"^[\w .:-]{1,20}$")


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


async def _form(request: Request) -> dict[str, str]:
    # parsed by hand: FastAPI's Form() would need python-multipart for a few fields
    return dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))


def _client_ok(state: SimulatorState, request: Request, form: dict[str, str]) -> bool:
    """client_secret_basic (the sandbox's), client_secret_post, or client_id alone when the
    simulator plays mTLS client authentication (``client_secret`` None)."""
    options = state.options
    client_id, secret = form.get("client_id"), form.get("client_secret")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        raw_id, _, raw_secret = decoded.partition(":")
        client_id, secret = unquote(raw_id), unquote(raw_secret)
    if client_id != options.client_id:
        return False
    return options.client_secret is None or secret == options.client_secret


def _invalid_client() -> JSONResponse:
    return _error("invalid_client", "unknown client or wrong client secret", 401)


def userinfo_of(
    practitioner: SimPractitioner, sub: str, acr: str | None = None
) -> dict[str, object]:
    info: dict[str, object] = {
        "sub": sub,
        "SubjectNameID": practitioner.national_id,
        "preferred_username": practitioner.national_id,
        "given_name": practitioner.given_name,
        "family_name": practitioner.family_name,
        "SubjectRefPro": {
            "codeCivilite": practitioner.civility,
            "exercices": [
                {
                    "codeProfession": practitioner.profession_code,
                    "codeCategorieProfessionnelle": "C",
                    "codeCiviliteDexercice": practitioner.civility,
                    "nomDexercice": practitioner.family_name,
                    "prenomDexercice": practitioner.given_name,
                    "activities": [],
                }
            ],
        },
    }
    if acr is not None:  # the level the token was obtained at (eidas1: CPS card or e-CPS)
        info["acr"] = acr
    return info


def psc_router(state: SimulatorState) -> APIRouter:
    router = APIRouter(prefix=PSC_REALM_PATH, tags=["Pro Santé Connect"])

    def discovery_document(request: Request) -> dict[str, object]:
        issuer = state.issuer(request)
        oidc = issuer + _OIDC
        return {
            "issuer": issuer,
            "authorization_endpoint": oidc + "/auth",
            "token_endpoint": oidc + "/token",
            "introspection_endpoint": oidc + "/token/introspect",
            "userinfo_endpoint": oidc + "/userinfo",
            "end_session_endpoint": oidc + "/logout",
            "jwks_uri": oidc + "/certs",
            "backchannel_authentication_endpoint": oidc + "/ext/ciba/auth",
            "backchannel_token_delivery_modes_supported": ["poll"],
            "backchannel_user_code_parameter_supported": False,
            "grant_types_supported": ["authorization_code", CIBA_GRANT],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": ["eidas1"],
            "scopes_supported": ["openid", "scope_all"],
            "claims_supported": ["sub", "SubjectNameID", "SubjectRefPro", "acr"],
            "id_token_signing_alg_values_supported": [state.authority.algorithm],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "tls_client_auth"
            ],
        }

    @router.get("/.well-known/wallet-openid-configuration")
    async def wallet_discovery(request: Request) -> JSONResponse:
        """PSC's discovery document (its non-standard path)."""
        return JSONResponse(discovery_document(request))

    @router.get("/.well-known/openid-configuration")
    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse(discovery_document(request))

    @router.get(_OIDC + "/certs")
    async def certs() -> JSONResponse:
        return JSONResponse(state.authority.jwks())

    @router.post(_OIDC + "/ext/ciba/auth")
    async def ciba_auth(request: Request) -> JSONResponse:
        """Start a CIBA request: the practitioner is asked on their e-CPS app."""
        form = await _form(request)
        if not _client_ok(state, request, form):
            return _invalid_client()
        login_hint = form.get("login_hint", "")
        practitioner = state.practitioner(login_hint) if login_hint.startswith("8") else None
        if practitioner is None:
            return _error("unknown_user_id", f"no practitioner with national id {login_hint!r}")
        scope = form.get("scope", "")
        if "openid" not in scope.split():
            return _error("invalid_scope", "scope must include 'openid'")
        binding_message = form.get("binding_message", "")
        if binding_message and not _BINDING_MESSAGE.match(binding_message):
            return _error("invalid_binding_message", "binding_message: up to 20 plain characters")
        channel = form.get("channel")
        if channel not in (None, "CARD", "MOBILE"):
            return _error("invalid_request", "channel is CARD or MOBILE")
        started = state.ciba.start(
            practitioner, state.approval_for(practitioner), binding_message, scope, channel
        )
        return JSONResponse(
            {
                "auth_req_id": started.auth_req_id,
                "expires_in": state.ciba.expires_in,
                "interval": started.interval,
            }
        )

    @router.post(_OIDC + "/token")
    async def token(request: Request) -> JSONResponse:
        """CIBA polling (authorization_pending until the practitioner answers), or the
        authorization code's exchange."""
        form = await _form(request)
        if not _client_ok(state, request, form):
            return _invalid_client()
        if form.get("grant_type") == "authorization_code":
            return exchange_code(state, form, state.issuer(request))
        if form.get("grant_type") != CIBA_GRANT:
            return _error("unsupported_grant_type",
                          f"this simulator grants authorization_code and {CIBA_GRANT} only")
        answer, ciba = state.ciba.poll(form.get("auth_req_id", ""))
        if answer != "ok" or ciba is None:
            descriptions = {
                "authorization_pending": "the practitioner has not answered yet",
                "slow_down": "polling too fast: wait longer between polls",
                "access_denied": "the practitioner refused",
                "expired_token": "the request expired before the practitioner answered",
                "invalid_grant": "unknown or already used auth_req_id",
            }
            return _error(answer, descriptions[answer])
        access_token = state.authority.mint(
            issuer=state.issuer(request),
            client_id=state.options.client_id,
            national_id=ciba.practitioner.national_id,
            scope=ciba.scope,
        )
        state.tokens_issued += 1
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": state.authority.lifetime,
                "scope": ciba.scope,
            },
            headers={"Cache-Control": "no-store"},
        )

    @router.post(_OIDC + "/token/introspect")
    async def introspect(request: Request) -> JSONResponse:
        form = await _form(request)
        if not _client_ok(state, request, form):
            return _invalid_client()
        try:
            claims = state.authority.verify(form.get("token", ""), required_acr=None)
        except InvalidToken:
            return JSONResponse({"active": False})
        return JSONResponse({"active": True, "client_id": claims.get("azp")} | claims)

    @router.api_route(_OIDC + "/userinfo", methods=["GET", "POST"])
    async def userinfo(request: Request) -> JSONResponse:
        try:
            claims = state.authority.verify(
                bearer_token(request.headers.get("authorization")), required_acr=None
            )
        except InvalidToken as exc:
            return token_refused(exc)
        practitioner = state.practitioner(str(claims["SubjectNameID"]))
        if practitioner is None:  # pragma: no cover - we only sign for known practitioners
            return _error("invalid_token", "unknown subject", 401)
        acr = str(claims["acr"]) if claims.get("acr") is not None else None
        return JSONResponse(userinfo_of(practitioner, str(claims["sub"]), acr))

    return router
