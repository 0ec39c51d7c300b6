"""Checks on a PSC access token before it is used: expiry, subject, ``acr``, profession."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prostop_plugin.errors import TokenError
from prostop_plugin.models import PROFESSIONS, AccessToken, Practitioner

#: acr levels from weakest to strongest; PSC's CPS / e-CPS authentication is eidas1
ACR_LEVELS = ("eidas0", "eidas1", "eidas2", "eidas3")
DEFAULT_ALLOWED_PROFESSIONS = ("10", "60")


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



def profession_codes(claims: dict[str, Any]) -> list[str]:
    """``SubjectRefPro.exercices[].codeProfession``, in order, without repeats."""
    ref = claims.get("SubjectRefPro")
    exercices = ref.get("exercices") if isinstance(ref, dict) else None
    if not isinstance(exercices, list):
        return []
    codes = [str(e["codeProfession"]) for e in exercices if isinstance(e, dict)
             and e.get("codeProfession")]
    return list(dict.fromkeys(codes))
