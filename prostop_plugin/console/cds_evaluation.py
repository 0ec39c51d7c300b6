"""The CDS Hooks card from the EHR's own record: the FHIR prefetch read by
:mod:`prostop_plugin.fhir`, evaluated by :func:`prostop_plugin.eligibility.evaluate` with the
installation's policy as of today (the engine's today), shown as one card in the physician's
language with a link to this patient in the console (:mod:`.patient_links`).

* eligible (confirmed, probable) → a ``warning`` card: a code can be given;
* eligible, but a code given to this patient (by INS) is still valid → an ``info`` card saying
  so, not an invitation to a second code;
* not eligible, with something recent about COVID-19 (a test, a diagnosis, signs, a chest CT
  within the contact window) → an ``info`` card with the reasons;
* nothing recent about COVID-19 (a glucose, an old result) → no card.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from prostop_plugin.console.web import Console
from prostop_plugin.eligibility import EligibilityPolicy, evaluate, is_covid_relevant, read_fact
from prostop_plugin.fhir import Prefetched
from prostop_plugin.models import EligibilityDecision, Evidence, PatientRef
from prostop_plugin.texts import get_texts
from prostop_plugin.texts.console import console_text
from prostop_plugin.texts.formatting import format_date

MAX_SUMMARY = 140
SOURCE_LABEL = "Console StopCovid (prostop-plugin)"


def recent_covid_evidence(evidence: list[Evidence], policy: EligibilityPolicy,
                          today: date) -> bool:
    """Whether any piece is about COVID-19 and dated within the contact window (or undated)."""
    start = today - timedelta(days=policy.contact_window_days)
    for item in evidence:
        if is_covid_relevant([item], policy):
            day = read_fact(item, policy).day
            if day is None or day >= start:
                return True
    return False


def shortened(text: str, limit: int = MAX_SUMMARY) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _headline(decision: EligibilityDecision, locale: str) -> str:
    """The first reason's lead ("Cas suspect", "Résultat négatif"), for the summary."""
    if not decision.reasons:
        return ""
    first = decision.reasons[0].get("en" if locale == "en" else "fr")
    return first.split(" : " if locale != "en" else ": ", 1)[0].rstrip(" .")


def valid_code_until(console: Console, patient_key: str | None) -> str | None:
    """When this patient holds a code still valid, the day it ends (in the console's words)."""
    if patient_key is None:
        return None
    now = console.runtime.engine.clock()
    for record in console.runtime.ledger.patient_history(patient_key):
        if record.state.holds_code and record.valid_until is not None \
                and record.valid_until > now:
            return format_date(record.valid_until, console.settings.locale)
    return None


def evaluation_card(console: Console, found: Prefetched, patient_id: str,
                    patient_key: str | None) -> dict[str, Any] | None:
    """The card for what the record shows, or ``None`` when nothing recent is relevant."""
    policy = console.settings.eligibility
    today = console.runtime.engine.today()
    if not recent_covid_evidence(found.evidence, policy, today):
        return None
    decision = evaluate(found.evidence, policy, as_of=today)
    locale = console.settings.locale
    patient = found.patient or PatientRef(host_patient_id=patient_id)
    handle = console.patient_links.add(patient, patient_key, decision)
    eligible = decision.decision != "not_eligible"
    held = valid_code_until(console, patient_key) if eligible else None
    if held is not None:
        summary, indicator = console_text(locale, "cds.held", until=held), "info"
    elif eligible:
        case = get_texts(locale).decision_label(decision.decision)
        summary, indicator = console_text(locale, "cds.eligible", case=case), "warning"
    else:
        summary = console_text(locale, "cds.not_eligible", why=_headline(decision, locale))
        indicator = "info"
    reasons = "\n".join(f"* {reason.get(locale)}" for reason in decision.reasons)
    evaluated = console_text(locale, "cds.evaluated", day=format_date(today, locale))
    return {
        "uuid": str(uuid.uuid4()),
        "summary": shortened(summary),
        "indicator": indicator,
        "detail": f"{reasons}\n\n{evaluated}",
        "source": {"label": SOURCE_LABEL},
        "links": [{"label": console_text(locale, "cds.open_patient"),
                   "url": f"{console.base_url}/patient/{handle}", "type": "absolute"}],
    }
