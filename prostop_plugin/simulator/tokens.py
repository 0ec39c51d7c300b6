"""The simulated PSC's signing key, its JWKS, and the access tokens it mints and checks."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from prostop_plugin.psc import acr_satisfies
from prostop_plugin.simulator.options import SigningAlgorithm

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def new_signing_key(algorithm: SigningAlgorithm) -> PrivateKey:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class InvalidToken(Exception):
    """Why a bearer token was refused, in OAuth terms (``error`` and a description)."""

    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description
        super().__init__(f"{error}: {description}")


@dataclass
class TokenAuthority:
    """Signs access tokens like PSC does, and verifies them like the API gateway would."""

    algorithm: SigningAlgorithm
    key: PrivateKey
    lifetime: int
    acr: str

    @classmethod
    def create(
        cls, algorithm: SigningAlgorithm, key: object | None, lifetime: int, acr: str
    ) -> TokenAuthority:
        if key is None:
            key = new_signing_key(algorithm)
        wanted = ed25519.Ed25519PrivateKey if algorithm == "EdDSA" else rsa.RSAPrivateKey
        if not isinstance(key, wanted):
            raise ValueError(f"signing key does not fit algorithm {algorithm}")
        return cls(algorithm, key, lifetime, acr)

    @property
    def kid(self) -> str:
        public = self.jwk_public()
        material = public.get("n") or public.get("x") or ""
        return hashlib.sha256(str(material).encode()).hexdigest()[:16]

    def jwk_public(self) -> dict[str, Any]:
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return dict(OKPAlgorithm.to_jwk(self.key.public_key(), as_dict=True))
        return dict(RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True))

    def jwks(self) -> dict[str, Any]:
        jwk = self.jwk_public() | {"kid": self.kid, "use": "sig", "alg": self.algorithm}
        return {"keys": [jwk]}

    def mint(self, *, issuer: str, client_id: str, national_id: str, scope: str) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"psc:{national_id}")),
            "aud": client_id,
            "azp": client_id,
            "typ": "Bearer",
            "iat": now,
            "auth_time": now,
            "exp": now + self.lifetime,
            "jti": secrets.token_hex(16),
            "acr": self.acr,
            "scope": scope,
            "SubjectNameID": national_id,
            "preferred_username": national_id,
        }
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers={"kid": self.kid})

    def mint_id_token(
        self, *, issuer: str, client_id: str, national_id: str, nonce: str | None,
        access_token: str, amr: str,
    ) -> str:
        """An OpenID Connect ID token for the authorization code flow: ``nonce`` as asked,
        ``at_hash`` of the access token issued with it, ``acr`` as the access token's."""
        now = int(time.time())
        digest = hashlib.sha512 if self.algorithm == "EdDSA" else hashlib.sha256
        half = digest(access_token.encode("ascii")).digest()
        at_hash = base64.urlsafe_b64encode(half[: len(half) // 2]).rstrip(b"=").decode()
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"psc:{national_id}")),
            "aud": client_id,
            "azp": client_id,
            "typ": "ID",
            "iat": now,
            "auth_time": now,
            "exp": now + self.lifetime,
            "acr": self.acr,
            "amr": [amr],
            "at_hash": at_hash,
            "SubjectNameID": national_id,
            "preferred_username": national_id,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers={"kid": self.kid})

    def verify(
        self, token: str, *, issuer: str | None = None, required_acr: str | None
    ) -> dict[str, Any]:
        """Return the claims of a token this authority signed, or raise :class:`InvalidToken`."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key.public_key(),
                algorithms=[self.algorithm],
                issuer=issuer,
                options={"require": ["exp", "iat", "SubjectNameID"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("invalid_token", "the access token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("invalid_token", f"the access token is not valid: {exc}") from None
        if required_acr is not None and not acr_satisfies(
            str(claims["acr"]) if "acr" in claims else None, required_acr
        ):
            raise InvalidToken(
                "insufficient_user_authentication",
                f"acr {claims.get('acr')!r} is below the required {required_acr}",
            )
        return claims


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("invalid_token", "no Authorization header: a bearer token is required")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidToken("invalid_token", "the Authorization header must be 'Bearer <token>'")
    return value.strip()
