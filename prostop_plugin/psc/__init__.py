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

Modules, each importing only those above it: :mod:`.checks` (the checks, profession claims),
:mod:`.discovery` (PSC's endpoints, the HTTP client), :mod:`.ciba` (:class:`CibaTokenSource`)
and :mod:`.plugins` (the two hook implementations).
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
from prostop_plugin.psc.ciba import (
    CIBA_GRANT,
    CLOCK_LEEWAY,
    SIGNING_ALGORITHMS,
    SLOW_DOWN_STEP,
    CibaTokenSource,
)
from prostop_plugin.psc.discovery import DISCOVERY_PATH, PSCEndpoints, discover, psc_client
from prostop_plugin.psc.plugins import HostTokenStore, PSCTokenPlugin

__all__ = [
    "ACR_LEVELS",
    "CIBA_GRANT",
    "CLOCK_LEEWAY",
    "DEFAULT_ALLOWED_PROFESSIONS",
    "DISCOVERY_PATH",
    "SIGNING_ALGORITHMS",
    "SLOW_DOWN_STEP",
    "CibaTokenSource",
    "HostTokenStore",
    "PSCEndpoints",
    "PSCTokenPlugin",
    "acr_satisfies",
    "check_token",
    "discover",
    "new_binding_message",
    "profession_codes",
    "psc_client",
]
