"""The practice's requests: the pending list (live), one request's page (the confirmation
dialog, then the code, its validity and write-back, the handout), retry, re-issue, and the
history. No patient data in any URL: pages are addressed by the issuance id, searches posted."""

from __future__ import annotations

import time
import unicodedata
from datetime import date
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from prostop_plugin.console.web import (
    console_of,
    locale_of,
    redirect,
    render,
    session_of,
)
from prostop_plugin.errors import ConfirmationRefused, InvalidTransition, IssuanceNotFound
from prostop_plugin.models import (
    ConfirmationRequest,
    IssuanceRecord,
    IssuanceState,
)
from prostop_plugin.screens import (
    code_card,
    current_record,
    day_text,
    decision_from_form,
    dialog_for,
    handout_page,
    handout_pdf_response,
    record_with_code,
    source_label,
)
from prostop_plugin.texts import get_texts
from prostop_plugin.texts.console import console_text

router = APIRouter()
S = IssuanceState
#: how long a retry waits for the engine's first, quick step before showing the page
RETRY_SETTLE_SECONDS = 5.0
HISTORY_LIMIT = 200


def _record(request: Request, issuance_id: str) -> IssuanceRecord | None:
    try:
        return console_of(request).runtime.ledger.get(issuance_id)
    except IssuanceNotFound:
        return None


def _not_found(request: Request) -> Response:
    return render(request, "error.html", status_code=404,
                  message=console_text(locale_of(request), "error.not_found"))


def _ordered(requests: list[ConfirmationRequest], national_id: str) -> list[ConfirmationRequest]:
    """Those addressed to this physician (ordering/attending practitioner) first."""
    def mine(r: ConfirmationRequest) -> bool:
        return r.practitioner is not None and r.practitioner.national_id == national_id

    return [r for r in requests if mine(r)] + [r for r in requests if not mine(r)]


@router.get("/")
def home() -> Response:
    return redirect("/demandes")


@router.get("/demandes", response_class=HTMLResponse)
def pending(request: Request) -> Response:
    session = session_of(request)
    console, locale = console_of(request), locale_of(request)
    texts = get_texts(locale)
    rows = []
    for item in _ordered(console.runtime.engine.pending(), session.practitioner.national_id):
        record = console.runtime.ledger.get(item.issuance_id)
        addressed = item.practitioner
        rows.append({
            "request": item, "case": texts.decision_label(item.decision.decision),
            "source": source_label(record, locale), "received": code_card(
                console.runtime, record, locale).created_on,
            "mine": addressed is not None
            and addressed.national_id == session.practitioner.national_id,
            "addressed": addressed.display_name() if addressed else "",
        })
    return render(request, "pending.html", rows=rows)


@router.get("/demandes/etat.json")
def pending_state(request: Request) -> JSONResponse:
    """What the pending page polls (every few seconds): the count and the ids."""
    ids = [r.issuance_id for r in console_of(request).runtime.engine.pending()]
    return JSONResponse({"count": len(ids), "ids": ids})


@router.get("/demandes/{issuance_id}", response_class=HTMLResponse)
def request_page(request: Request, issuance_id: str) -> Response:
    session_of(request)
    console, locale = console_of(request), locale_of(request)
    record = _record(request, issuance_id)
    if record is None:
        return _not_found(request)
    dialog = dialog_for(console.runtime, record, locale,
                        refusal=console.refusals.take(issuance_id))
    card = code_card(console.runtime, record, locale)
    return render(request, "request.html", record=record, card=card, dialog=dialog)


@router.get("/demandes/{issuance_id}/etat.json")
def request_state(request: Request, issuance_id: str) -> JSONResponse:
    record = _record(request, issuance_id)
    if record is None:
        return JSONResponse({"error": "not_found"}, status_code=404)
    record = current_record(console_of(request).runtime, record)
    return JSONResponse({"state": record.state.value})


@router.post("/demandes/{issuance_id}/decision")
def decide(
    request: Request, issuance_id: str, action: str = Form(...),
    qr_unavailable: str | None = Form(None), rtpcr_positive: str | None = Form(None),
    onset: str = Form(""), reason: str = Form(""),
) -> Response:
    """Approve or decline. The engine checks the attestations (a refusal shows in the
    dialog); an approval then runs (PSC token, code, write-back) off the request thread."""
    session = session_of(request)
    console, locale = console_of(request), locale_of(request)
    if _record(request, issuance_id) is None:
        return _not_found(request)
    page = f"/demandes/{issuance_id}"
    decision = decision_from_form(
        session.practitioner, action=action, qr_unavailable=qr_unavailable,
        rtpcr_positive=rtpcr_positive, onset=onset, reason=reason, max_reason=500)
    approved = decision.approved
    who = session.practitioner.national_id
    try:
        console.runtime.engine.decide(issuance_id, decision, advance=False)
    except ConfirmationRefused as refused:
        console.audit(who, "console_decision_refused", issuance_id, detail=refused.what[:200])
        console.refusals.remember(issuance_id, refused.fr if locale == "fr" else refused.what)
        return redirect(page)
    except InvalidTransition:
        return redirect(page)  # decided meanwhile, elsewhere: the page shows the outcome
    console.audit(who, "console_decision", issuance_id,
                  decision="approved" if approved else "declined")
    if approved:
        console.in_background(f"issuance {issuance_id}",
                              lambda: console.runtime.engine.advance(issuance_id), session)
    return redirect(page)


@router.post("/demandes/{issuance_id}/reessayer")
def retry(request: Request, issuance_id: str) -> Response:
    session = session_of(request)
    console = console_of(request)
    record = _record(request, issuance_id)
    if record is None:
        return _not_found(request)
    if record.state in (S.ISSUE_FAILED, S.WRITE_BACK_FAILED):
        console.audit(session.practitioner.national_id, "console_retry", issuance_id)
        console.in_background(f"retry {issuance_id}",
                              lambda: console.runtime.engine.retry(issuance_id), session)
        deadline = time.monotonic() + RETRY_SETTLE_SECONDS
        while (console.runtime.ledger.get(issuance_id).state == record.state
               and time.monotonic() < deadline):
            time.sleep(0.02)
    return redirect(f"/demandes/{issuance_id}")


@router.post("/demandes/{issuance_id}/nouveau-code")
def reissue(request: Request, issuance_id: str, attest_unused: str = Form("")) -> Response:
    """An expired code the patient did not enter (the physician checked it, and attests so):
    a new issuance for the same episode, confirmed again. The engine refuses it without the
    attestation, while another code is valid, after a newer code, or a second time; the card
    then says why."""
    session = session_of(request)
    console = console_of(request)
    if _record(request, issuance_id) is None:
        return _not_found(request)
    try:
        new = console.runtime.engine.reissue(issuance_id, unused_attested=attest_unused == "on")
    except ConfirmationRefused as refused:
        console.audit(session.practitioner.national_id, "console_reissue_refused", issuance_id,
                      detail=refused.what[:200])
        return redirect(f"/demandes/{issuance_id}")
    except InvalidTransition:
        return redirect(f"/demandes/{issuance_id}")
    console.audit(session.practitioner.national_id, "console_reissue", new.id,
                  replaces=issuance_id)
    return redirect(f"/demandes/{new.id}")


# -- the patient's handout ---------------------------------------------------------------------


def _with_code(request: Request, issuance_id: str) -> IssuanceRecord | None:
    record = _record(request, issuance_id)
    return None if record is None else record_with_code(console_of(request).runtime, record)


@router.get("/demandes/{issuance_id}/fiche", response_class=HTMLResponse)
def handout(request: Request, issuance_id: str, lang: str = "fr", paper: str = "a5") -> Response:
    """The printable sheet for the patient: French unless asked otherwise, A5 or A4."""
    session = session_of(request)
    record = _with_code(request, issuance_id)
    if record is None:
        return render(request, "error.html", status_code=409,
                      message=console_text(locale_of(request), "code.expired"))
    console_of(request).audit(session.practitioner.national_id, "console_handout", issuance_id)
    return render(request, "screens/handout.html", **handout_page(record, lang, paper))


@router.get("/demandes/{issuance_id}/fiche.pdf")
def handout_as_pdf(request: Request, issuance_id: str, lang: str = "fr",
                   paper: str = "a5") -> Response:
    session = session_of(request)
    record = _with_code(request, issuance_id)
    if record is None:
        return render(request, "error.html", status_code=409,
                      message=console_text(locale_of(request), "code.expired"))
    console_of(request).audit(session.practitioner.national_id, "console_handout_pdf",
                              issuance_id)
    return handout_pdf_response(record, lang, paper, creator="prostop-plugin console")


# -- history: searched in memory, never indexed in clear -------------------------------------------


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _history(request: Request, name: str = "", start: str = "", end: str = "") -> Response:
    console, locale = console_of(request), locale_of(request)
    texts = get_texts(locale)
    wanted, first, last = _folded(name.strip()), _day(start), _day(end)
    ledger = console.runtime.ledger
    rows: list[dict[str, Any]] = []
    for summary in reversed(ledger.summaries()):
        if summary.set_aside:
            continue
        day = summary.created_at.date()
        if (first and day < first) or (last and day > last):
            continue
        record = ledger.get(summary.id)  # decrypted here, in memory, for this answer only
        patient = record.event.patient
        if wanted and wanted not in _folded(patient.display_name()):
            continue
        rows.append({"id": record.id, "patient": patient.display_name(),
                     "born": day_text(patient.birth_date, locale) if patient.birth_date else "",
                     "created": day_text(record.created_at, locale),
                     "state": texts.state_label(record.state), "state_value": record.state.value,
                     "case": texts.decision_label(record.decision.decision)
                     if record.decision else ""})
        if len(rows) >= HISTORY_LIMIT:
            break
    return render(request, "history.html", rows=rows, name=name, start=start, end=end)


@router.get("/historique", response_class=HTMLResponse)
def history(request: Request) -> Response:
    session_of(request)
    return _history(request)


@router.post("/historique", response_class=HTMLResponse)
def history_search(request: Request, nom: str = Form(""), du: str = Form(""),
                   au: str = Form("")) -> Response:
    session = session_of(request)
    console_of(request).audit(session.practitioner.national_id, "console_history_search")
    return _history(request, nom[:100], du, au)
