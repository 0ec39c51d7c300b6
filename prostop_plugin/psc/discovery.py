"""PSC's discovery document and the HTTP client every PSC exchange goes through."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from pydantic import TypeAdapter, ValidationError

from prostop_plugin.config import PSCSettings
from prostop_plugin.errors import TokenError
from prostop_plugin.http_client import build_client

DISCOVERY_PATH = "/.well-known/wallet-openid-configuration"


@dataclass(frozen=True)
class PSCEndpoints:
    """What PSC's discovery document says, the parts we use."""

    issuer: str
    backchannel_authentication_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    introspection_endpoint: str | None = None
    #: the authorization code flow's endpoints (the console's "Se connecter avec PSC")
    authorization_endpoint: str | None = None
    end_session_endpoint: str | None = None


#: reads the document: the fields above, other members ignored
_DISCOVERY = TypeAdapter(PSCEndpoints)


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
        found = _DISCOVERY.validate_json(response.content)
    except httpx.HTTPError as exc:
        raise TokenError(f"Pro Santé Connect discovery failed: {exc}", where=url, fix=fix) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        # a document that is not even an object has no field to name
        field = ".".join(str(part) for part in first["loc"]) or "the document"
        raise TokenError(
            f"not a PSC discovery document with CIBA ({exc.error_count()} problem(s), first: "
            f"{field} {first['msg']})", where=url, fix=fix,
        ) from None
    if found.issuer.rstrip("/") != issuer.rstrip("/"):
        raise TokenError(
            f"the discovery document is for issuer {found.issuer}", where=url,
            fix="set [psc] issuer to exactly that value, or check the proxy's configuration",
        )
    return found


def psc_client(settings: PSCSettings) -> httpx.Client:
    """An HTTP client for PSC: verifying TLS, optional mTLS, explicit timeouts."""
    return build_client(
        url=settings.issuer, tls=settings, section="psc",
        connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout,
    )
