"""The physician's decision as the confirmation dialog's form posts it (the console, the demo
EHR): approve or decline, the attestations ticked, the symptom onset, the reason to decline."""

from __future__ import annotations

from datetime import date

from prostop_plugin.models import ConfirmationDecision, Practitioner

__all__ = ["decision_from_form"]


def decision_from_form(
    practitioner: Practitioner, *, action: str, qr_unavailable: str | None,
    rtpcr_positive: str | None, onset: str, reason: str, max_reason: int | None = None,
) -> ConfirmationDecision:
    """``action`` ``approve`` approves, anything else declines; a checkbox is ticked when
    posted at all; an onset that is not a date, or given with a decline, is no onset; the
    reason is kept to ``max_reason`` characters (the engine checks the rest)."""
    approved = action == "approve"
    try:
        symptom_onset = date.fromisoformat(onset) if onset and approved else None
    except ValueError:
        symptom_onset = None
    return ConfirmationDecision(
        approved=approved, practitioner=practitioner,
        qr_unavailable_attested=qr_unavailable is not None,
        rtpcr_positive_attested=rtpcr_positive is not None,
        symptom_onset=symptom_onset, decline_reason=reason.strip()[:max_reason] or None,
    )
