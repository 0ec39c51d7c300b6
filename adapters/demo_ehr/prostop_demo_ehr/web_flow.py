"""The confirmation flow on screen: the physician's decision, retry, re-issue, the handout,
the pending-confirmations page, and the two simulated phones."""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from prostop_demo_ehr.catalog import ui_text
from prostop_demo_ehr.simulator_panels import (
    answer_ecps,
    normalise_code,
    pending_ecps_requests,
    verify_code,
)
from prostop_demo_ehr.views import code_card, dialog_for, source_label
from prostop_demo_ehr.web_common import (
    ehr_of,
    locale_of,
    practitioner_of,
    redirect,
    render,
    safe_next,
    session_of,
)
from prostop_plugin import (
    ConfirmationRefused,
    InvalidTransition,
    IssuanceRecord,
    IssuanceState,
    current_record,
    decision_from_form,
    get_texts,
    handout_page,
    handout_pdf_response,
    record_with_code,
)

router = APIRouter()
_AUTH_REQ_ID = re.compile(r"^[A-Za-z0-9_\-.]{1,200}$")


def _path_only(url: str) -> str:
    return safe_next(url).split("?", 1)[0]


def _landing(page: str, issuance_id: str) -> str:
    """Where a decision (or a retry) returns: the same page; on the pending list, which no
    longer lists the request, with the request's own card (progress, then the code)."""
    return f"{page}?done={issuance_id}" if page == "/pending" else page


#: how long a retry request waits for the engine's first step before redirecting
RETRY_SETTLE_SECONDS = 5.0


@router.post("/issuances/{issuance_id}/decide")
def decide(
    request: Request, issuance_id: str, action: str = Form(...),
    qr_unavailable: str | None = Form(None), rtpcr_positive: str | None = Form(None),
    onset: str = Form(""), reason: str = Form(""), back: str = Form("/pending"),
) -> Response:
    """Approve or decline. The engine checks the attestations: a refusal is shown in the
    dialog; an approval then runs (PSC token, code, write-back) off the request thread."""
    practitioner = practitioner_of(request)
    ehr, locale = ehr_of(request), locale_of(request)
    page = _path_only(back)
    decision = decision_from_form(practitioner, action=action, qr_unavailable=qr_unavailable,
                                  rtpcr_positive=rtpcr_positive, onset=onset, reason=reason)
    try:
        ehr.runtime.engine.decide(issuance_id, decision, advance=False)
    except ConfirmationRefused as refused:
        ehr.refusals.remember(issuance_id, refused.text(locale))
        return redirect(f"{page}?dialog={issuance_id}")
    except InvalidTransition:  # decided meanwhile, elsewhere: the page shows the outcome
        return redirect(_landing(page, issuance_id))
    if decision.approved:
        ehr.advance_later(issuance_id, session_of(request))
    return redirect(_landing(page, issuance_id))


@router.post("/issuances/{issuance_id}/retry")
def retry(request: Request, issuance_id: str, back: str = Form("/patients")) -> Response:
    practitioner_of(request)
    ehr = ehr_of(request)
    record = ehr.runtime.ledger.get(issuance_id)
    if record.state in (IssuanceState.ISSUE_FAILED, IssuanceState.WRITE_BACK_FAILED):
        ehr.retry_later(issuance_id, session_of(request))
        # the page we redirect to shows a spinner (and polls) only once the state has moved:
        # wait for that first, quick step, so the physician never sees the old failure again
        deadline = time.monotonic() + RETRY_SETTLE_SECONDS
        while (ehr.runtime.ledger.get(issuance_id).state == record.state
               and time.monotonic() < deadline):
            time.sleep(0.02)
    return redirect(_landing(_path_only(back), issuance_id))


@router.post("/issuances/{issuance_id}/reissue")
def reissue(request: Request, issuance_id: str, back: str = Form("/patients"),
            attest_unused: str = Form("")) -> Response:
    """A code past its validity, which the patient did not enter (the physician checked it):
    a new issuance for the same episode, confirmed again. The engine refuses it while another
    code is valid, after a newer code, or a second time; the card then says why."""
    practitioner_of(request)
    ehr = ehr_of(request)
    page = _path_only(back)
    try:
        new = ehr.runtime.engine.reissue(issuance_id, unused_attested=attest_unused == "on")
    except (InvalidTransition, ConfirmationRefused):
        return redirect(page)
    ehr.store.link_issuance(new.id, new.patient.host_patient_id,
                            ehr.store.consultation_of(issuance_id, new.patient.host_patient_id))
    ehr.shown_on_screen(new.id)
    return redirect(f"{page}?dialog={new.id}")


@router.get("/issuances/{issuance_id}/state.json")
def state(request: Request, issuance_id: str) -> JSONResponse:
    practitioner_of(request)
    ehr = ehr_of(request)
    record = current_record(ehr.runtime, ehr.runtime.ledger.get(issuance_id))
    return JSONResponse({"state": record.state.value})


# -- the patient's handout ---------------------------------------------------------------------


def _with_code(request: Request, issuance_id: str) -> IssuanceRecord | None:
    runtime = ehr_of(request).runtime
    return record_with_code(runtime, runtime.ledger.get(issuance_id))


@router.get("/issuances/{issuance_id}/handout", response_class=HTMLResponse)
def handout(request: Request, issuance_id: str, lang: str = "fr",
            paper: str = "a5") -> Response:
    """The printable sheet for the patient: French unless asked otherwise, A5 or A4."""
    practitioner_of(request)
    record = _with_code(request, issuance_id)
    if record is None:
        return render(request, "error.html", status_code=409,
                      message=ui_text(locale_of(request), "code.expired"))
    return render(request, "screens/handout.html", **handout_page(record, lang, paper))


@router.get("/issuances/{issuance_id}/handout.pdf")
def handout_as_pdf(request: Request, issuance_id: str, lang: str = "fr",
                   paper: str = "a5") -> Response:
    practitioner_of(request)
    record = _with_code(request, issuance_id)
    if record is None:
        return render(request, "error.html", status_code=409,
                      message=ui_text(locale_of(request), "code.expired"))
    return handout_pdf_response(record, lang, paper, creator="prostop-demo-ehr")


# -- requests from channels without a screen -----------------------------------------------------


@router.get("/pending", response_class=HTMLResponse)
def pending(request: Request, dialog: str | None = None, done: str | None = None) -> Response:
    practitioner = practitioner_of(request)
    ehr, locale = ehr_of(request), locale_of(request)
    texts = get_texts(locale)
    rows = []
    for item in ehr.runtime.engine.pending():
        record = ehr.runtime.ledger.get(item.issuance_id)
        received = code_card(ehr.runtime, record, locale).created_on
        rows.append((item, texts.decision_label(item.decision.decision),
                     source_label(record, locale), received))
    shown = None
    if dialog:
        shown = dialog_for(ehr.runtime, ehr.runtime.ledger.get(dialog), locale,
                           refusal=ehr.refusals.take(dialog))
    decided, ecps = None, []
    if done:  # the request just decided here: its progress, then its code
        decided = code_card(ehr.runtime, ehr.runtime.ledger.get(done), locale)
        if ehr.simulator_controls and decided.in_progress:
            ecps = pending_ecps_requests(ehr.settings, practitioner.national_id)
    return render(request, "pending.html", rows=rows, dialog=shown, back="/pending",
                  decided=decided, ecps=ecps)


# -- the phones ----------------------------------------------------------------------------------


@router.get("/phone", response_class=HTMLResponse)
def phone(request: Request) -> Response:
    return render(request, "phone.html", result=None, typed="")


@router.post("/phone", response_class=HTMLResponse)
def phone_submit(request: Request, code: str = Form("")) -> Response:
    ehr = ehr_of(request)
    result = verify_code(ehr.settings, code)
    status = 200 if result.outcome == "accepted" else 422
    return render(request, "phone.html", status_code=status, result=result,
                  typed=normalise_code(code))


@router.post("/ecps/{auth_req_id}/{answer}")
def ecps_answer(request: Request, auth_req_id: str, answer: str,
                back: str = Form("/patients")) -> Response:
    """The simulated e-CPS app's buttons (only with the simulator)."""
    ehr = ehr_of(request)
    if ehr.simulator_controls and _AUTH_REQ_ID.match(auth_req_id):
        answer_ecps(ehr.settings, auth_req_id, approve=answer == "approve")
    return redirect(safe_next(back))
