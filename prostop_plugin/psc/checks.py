"""Checks on a PSC access token's verified claims before it is used: expiry, subject, ``acr``,
profession."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prostop_plugin.errors import TokenRefusalReason, TokenRefused
from prostop_plugin.models import PROFESSIONS, AccessToken, Practitioner
from prostop_plugin.texts import Message, get_texts

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


def _refused(what: str, reason: TokenRefusalReason, who: str, fix: str,
             message: Message, **values: object) -> TokenRefused:
    return TokenRefused(
        what, reason=reason, where=who, fix=fix,
        fr=get_texts("fr").error_text(message, **values),
        en=get_texts("en").error_text(message, **values),
    )


def check_token(
    token: AccessToken,
    practitioner: Practitioner,
    *,
    allowed_professions: Sequence[str],
    required_acr: str = "eidas1",
    now: datetime | None = None,
    leeway: float = 0.0,
) -> None:
    """Refuse a token that must not be used to issue a code for ``practitioner``.

    Only meaningful on a token whose fields come from verified claims
    (:meth:`~prostop_plugin.psc.TokenVerifier.verify`), never on fields a host filled in.

    :param leeway: seconds a token is still accepted after its expiry (clock differences).
    :raises TokenRefused: expired, someone else's, authenticated below ``required_acr``, or
        held by a profession not in ``allowed_professions`` (named in French and English).
    """
    who = f"practitioner {practitioner.national_id}"
    if token.expires_within(-leeway, now):
        raise _refused(
            f"the Pro Santé Connect token expired at {token.expires_at:%H:%M:%S} UTC", "expired",
            who, "authenticate again with the CPS card or e-CPS", Message.TOKEN_EXPIRED,
        )
    if token.subject != practitioner.national_id:
        raise _refused(
            f"the token belongs to {token.subject}, not to the confirming practitioner",
            "practitioner", who, "the practitioner who confirms must be the one who authenticates",
            Message.TOKEN_OTHER_PRACTITIONER, holder=token.subject,
        )
    if not acr_satisfies(token.acr, required_acr):
        raise _refused(
            f"authentication level {token.acr or 'unknown'!s} is below {required_acr}", "acr",
            who, "authenticate with a CPS card or the e-CPS app (level eidas1)",
            Message.TOKEN_LEVEL, level=token.acr or "?", required=required_acr,
        )
    allowed = list(dict.fromkeys(allowed_professions))
    held = [_profession_names(c) for c in token.profession_codes]
    fr = ", ".join(f"{n[0]} ({c})" for n, c in zip(held, token.profession_codes, strict=True))
    en = ", ".join(f"{n[1]} ({c})" for n, c in zip(held, token.profession_codes, strict=True))
    allowed_fr = ", ".join(_profession_names(c)[0] for c in allowed) or "aucune"
    allowed_en = ", ".join(_profession_names(c)[1] for c in allowed) or "none"
    if not token.profession_codes or not set(token.profession_codes) & set(allowed):
        what = (
            f"profession non autorisée à délivrer un code StopCovid : {fr} "
            f"(autorisées : {allowed_fr}) / profession not allowed to issue a StopCovid "
            f"code: {en} (allowed: {allowed_en})"
            if token.profession_codes
            else "Pro Santé Connect gave no profession for this practitioner"
        )
        raise TokenRefused(
            what, reason="profession", where=who,
            fix="the allowed professions are set in eligibility.allowed_professions"
            if token.profession_codes else "check the practitioner's registration in the RPPS",
            fr=get_texts("fr").error_text(
                Message.PROFESSION_NOT_ALLOWED, allowed=allowed_fr,
                profession=", ".join(n[0] for n in held) or "inconnue"),
            en=get_texts("en").error_text(
                Message.PROFESSION_NOT_ALLOWED, allowed=allowed_en,
                profession=", ".join(n[1] for n in held) or "unknown"),
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
