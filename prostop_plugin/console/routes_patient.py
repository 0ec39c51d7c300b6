"""This patient, as a CDS Hooks card's link opens it: what the EHR's record showed (the
evaluation made for the card) and the patient's requests waiting for confirmation, found by
INS through the ledger's keyed digest. The URL holds a random handle
(:mod:`.patient_links`), never patient data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from prostop_plugin.console.web import console_of, locale_of, render, session_of
from prostop_plugin.models import IssuanceState
from prostop_plugin.screens import code_card, source_label
from prostop_plugin.texts import get_texts
from prostop_plugin.texts.console import console_text
from prostop_plugin.texts.formatting import format_date

router = APIRouter()


@router.get("/patient/{handle}", response_class=HTMLResponse)
def patient_page(request: Request, handle: str) -> Response:
    session_of(request)
    console, locale = console_of(request), locale_of(request)
    view = console.patient_links.get(handle)
    if view is None:
        return render(request, "error.html", status_code=404,
                      message=console_text(locale, "patient.expired"))
    texts = get_texts(locale)
    rows: list[dict[str, Any]] = []
    if view.patient_key is not None:
        for record in console.runtime.ledger.patient_history(view.patient_key):
            if record.state == IssuanceState.AWAITING_CONFIRMATION and record.decision:
                rows.append({
                    "id": record.id, "case": texts.decision_label(record.decision.decision),
                    "source": source_label(record, locale),
                    "received": code_card(console.runtime, record, locale).created_on,
                })
    decision = view.decision
    evaluated = decision.as_of if decision is not None else console.runtime.engine.today()
    birth = view.patient.birth_date
    return render(
        request, "patient.html", view=view, rows=rows,
        born=format_date(birth, locale) if birth else None,
        evaluated=format_date(evaluated, locale),
        case=texts.decision_label(decision.decision) if decision else "",
        reasons=[r.get(locale) for r in decision.reasons] if decision else [],
    )
