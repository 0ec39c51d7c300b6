"""Pro Santé Connect: where the confirming practitioner's access token comes from.

Two sources answer the ``prostop_practitioner_token`` hook, asked in hook order:

1. :class:`HostTokenStore` — hosts that already did a PSC login hand their token over with
   :meth:`HostTokenStore.put`, under the login's session when the host has several users;
2. :class:`PSCTokenPlugin` — the built-in fallback, registered ``trylast``: a CIBA poll client
   (:class:`CibaTokenSource`). PSC pushes a request to the practitioner's e-CPS app (or card),
   showing the two-digit ``binding_message`` the confirmation dialog also shows; we poll the
   token endpoint at the interval PSC asks for until they approve, refuse, or time runs out.

A token belongs to the authentication that obtained it: CIBA tokens serve the one request
that asked for them (nothing is cached), host tokens the session that logged in. Tokens are
held in memory only. Every token the core uses is verified (:func:`first_verified_token`:
signature against PSC's JWKS, issuer, client, expiry, ``acr`` at least eidas1, then
:func:`check_token`: the confirming practitioner, an allowed profession), with the identity
taken from the verified claims; a refused token falls back to the next source (CIBA).

Modules, each importing only those above it: :mod:`.checks` (the checks, profession claims),
:mod:`.discovery` (PSC's endpoints, the HTTP client), :mod:`.verify` (:class:`TokenVerifier`),
:mod:`.ciba` (:class:`CibaTokenSource`) and :mod:`.plugins` (the two hook implementations).
"""

from __future__ import annotations

from prostop_plugin.psc.checks import (
    ACR_LEVELS,
    DEFAULT_ALLOWED_PROFESSIONS,
    acr_satisfies,
    check_token,
    new_binding_message,
    profession_codes,
)
from prostop_plugin.psc.ciba import CIBA_GRANT, SLOW_DOWN_STEP, CibaTokenSource
from prostop_plugin.psc.discovery import DISCOVERY_PATH, PSCEndpoints, discover, psc_client
from prostop_plugin.psc.plugins import HostTokenStore, PSCTokenPlugin
from prostop_plugin.psc.verify import (
    EXPIRY_LEEWAY,
    SIGNING_ALGORITHMS,
    TokenVerifier,
    first_verified_token,
    verified_token,
    verifier_for,
)

__all__ = [
    "ACR_LEVELS",
    "CIBA_GRANT",
    "DEFAULT_ALLOWED_PROFESSIONS",
    "DISCOVERY_PATH",
    "EXPIRY_LEEWAY",
    "SIGNING_ALGORITHMS",
    "SLOW_DOWN_STEP",
    "CibaTokenSource",
    "HostTokenStore",
    "PSCEndpoints",
    "PSCTokenPlugin",
    "TokenVerifier",
    "acr_satisfies",
    "check_token",
    "discover",
    "first_verified_token",
    "new_binding_message",
    "profession_codes",
    "psc_client",
    "verified_token",
    "verifier_for",
]
