"""The web EHR: login, patient list, patient record, consultation screen.

The confirmation flow (dialog answers, retry, re-issue, handout, pending page, the phones)
is in :mod:`prostop_demo_ehr.web_flow`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from prostop_demo_ehr import samples
from prostop_demo_ehr.catalog import CIM10_BY_CODE, CIM10_CODES, ui_text
from prostop_demo_ehr.host import DemoEhr
from prostop_demo_ehr.psc_login import PRACTITIONERS, PRACTITIONERS_BY_ID
from prostop_demo_ehr.recording import (
    ConsultationEntry,
    WrongPatient,
    consultation_event,
    imported_events,
    summary_lines,
    unreadable_file,
)
from prostop_demo_ehr.simulator_panels import pending_ecps_requests
from prostop_demo_ehr.store import Patient
from prostop_demo_ehr.views import code_card, dialog_for
from prostop_demo_ehr.web_common import (
    LANG_COOKIE,
    LOGIN_NONCE_COOKIE,
    PACKAGE_DIR,
    PRE_COOKIE,
    SESSION_COOKIE,
    LoginRequired,
    ehr_of,
    locale_of,
    practitioner_of,
    redirect,
    refuse,
    render,
    safe_next,
)
from prostop_plugin import (
    MAX_FILE_BYTES,
    CsrfGuard,
    DiagnosisStatus,
    InputError,
    IssuanceNotFound,
    IssuanceRecord,
    IssuanceState,
    format_date,
    screen_static_files,
    still_valid_notice,
)

router = APIRouter()
COOKIE_OPTIONS = {"httponly": True, "samesite": "strict"}
#: the largest form the CSRF guard reads: a lab file at its limit, and room for the rest
MAX_FORM_BYTES = MAX_FILE_BYTES + 1024 * 1024


def create_app(ehr: DemoEhr) -> FastAPI:
    from prostop_demo_ehr.web_flow import router as flow_router
    from prostop_demo_ehr.web_simulator import router as simulator_router

    app = FastAPI(title="prostop demo EHR", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ehr = ehr
    app.mount("/static", screen_static_files(PACKAGE_DIR / "static"), name="static")
    app.include_router(router)
    app.include_router(flow_router)
    app.include_router(simulator_router)
    # every form carries this browser's token (the console's scheme): a POST without it, or
    # with another, is refused before its route runs
    app.add_middleware(CsrfGuard, session_cookie=SESSION_COOKIE, pre_cookie=PRE_COOKIE,
                       refuse=refuse, max_body=MAX_FORM_BYTES)

    @app.exception_handler(LoginRequired)
    def to_login(request: Request, exc: LoginRequired) -> Response:
        return redirect(f"/login?next={exc.next_url}")

    @app.exception_handler(IssuanceNotFound)
    def not_found(request: Request, exc: IssuanceNotFound) -> Response:
        return render(request, "error.html", status_code=404,
                      message=ui_text(locale_of(request), "error.not_found"),
                      detail=exc.one_line())

    return app


def patient_or_404(ehr: DemoEhr, patient_id: str) -> Patient:
    patient = ehr.store.patient(patient_id)
    if patient is None:
        raise IssuanceNotFound(f"no patient {patient_id}", where="demo EHR")
    return patient


# -- language and login -----------------------------------------------------------------------


@router.get("/")
def home() -> Response:
    return redirect("/patients")


@router.get("/lang/{locale}")
def switch_language(locale: str, next: str = "/patients") -> Response:
    response = redirect(safe_next(next))
    response.set_cookie(LANG_COOKIE, "en" if locale == "en" else "fr", samesite="strict")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/patients") -> Response:
    return render(request, "login.html", practitioners=PRACTITIONERS, next=safe_next(next))


@router.post("/login")
def login_start(request: Request, practitioner: str = Form(...),
                next: str = Form("/patients")) -> Response:
    who = PRACTITIONERS_BY_ID.get(practitioner)
    if who is None:
        return render(request, "login.html", status_code=422, practitioners=PRACTITIONERS,
                      next=safe_next(next), error=practitioner)
    attempt = ehr_of(request).login.start(who)
    response = redirect(f"/login/wait?next={safe_next(next)}")
    response.set_cookie(LOGIN_NONCE_COOKIE, attempt.id, **COOKIE_OPTIONS)  # type: ignore[arg-type]
    return response


@router.get("/login/wait", response_class=HTMLResponse)
def login_wait(request: Request, next: str = "/patients") -> Response:
    ehr = ehr_of(request)
    attempt = ehr.login.attempt(request.cookies.get(LOGIN_NONCE_COOKIE, ""))
    if attempt is None:
        return redirect("/login")
    status, session_id = attempt.status, attempt.session_id  # one reading: it runs meanwhile
    if status == "done" and session_id:
        response = redirect(safe_next(next))
        response.set_cookie(SESSION_COOKIE, session_id, **COOKIE_OPTIONS)  # type: ignore[arg-type]
        response.delete_cookie(LOGIN_NONCE_COOKIE)
        return response
    # the phone panel offers this login's request only (not an abandoned login's)
    ecps = [r for r in pending_ecps_requests(ehr.settings, attempt.practitioner.national_id)
            if r.auth_req_id == attempt.auth_req_id] \
        if ehr.simulator_controls and status == "waiting" else []
    # the simulated e-CPS app may not have received the request yet: until it shows it,
    # poll with a state that never matches, so the page reloads at the next tick
    poll_state = "ecps-not-yet" if ehr.simulator_controls and status == "waiting" and not ecps \
        else status
    return render(request, "login_wait.html", attempt=attempt, status=status, ecps=ecps,
                  poll_state=poll_state, next=safe_next(next))


@router.get("/login/wait/status.json")
def login_status(request: Request) -> JSONResponse:
    attempt = ehr_of(request).login.attempt(request.cookies.get(LOGIN_NONCE_COOKIE, ""))
    return JSONResponse({"status": attempt.status if attempt else "unknown"})


@router.post("/logout")
def logout(request: Request) -> Response:
    ehr_of(request).login.logout(request.cookies.get(SESSION_COOKIE))
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- patients and their record ------------------------------------------------------------------


@router.get("/patients", response_class=HTMLResponse)
def patient_list(request: Request) -> Response:
    practitioner_of(request)
    ehr, locale = ehr_of(request), locale_of(request)
    rows = []
    for patient in ehr.store.patients():
        latest = next(iter(ehr.issuances_of(patient)), None)
        card = code_card(ehr.runtime, latest, locale) if latest else None
        rows.append((patient, format_date(patient.birth_date, locale), card))
    return render(request, "patients.html", rows=rows)


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_record(request: Request, patient_id: str, dialog: str | None = None) -> Response:
    practitioner_of(request)
    ehr, locale = ehr_of(request), locale_of(request)
    patient = patient_or_404(ehr, patient_id)
    shown = None
    if dialog:
        shown = dialog_for(ehr.runtime, ehr.runtime.ledger.get(dialog), locale,
                           refusal=ehr.refusals.take(dialog))
    consultations = [
        (c, format_date(c.day, locale), ehr.store.summary(c.id))
        for c in ehr.store.consultations(patient.id)
    ]
    return render(
        request, "record.html", patient=patient,
        born=format_date(patient.birth_date, locale),
        cards=[code_card(ehr.runtime, r, locale) for r in ehr.issuances_of(patient)],
        notes=ehr.store.record_notes(patient.id), consultations=consultations,
        dialog=shown, back=f"/patients/{patient.id}",
    )


# -- the consultation screen --------------------------------------------------------------------


def consultation_page(
    request: Request, patient: Patient, *, dialog_id: str | None = None,
    error: str | None = None, notice: str | None = None, status_code: int = 200,
    error_detail: str | None = None,
) -> Response:
    practitioner = practitioner_of(request)
    ehr, locale = ehr_of(request), locale_of(request)
    consultation = ehr.store.open_consultation(patient.id, practitioner.national_id,
                                               ehr.runtime.engine.today())
    dialog = None
    if dialog_id:
        record = ehr.runtime.ledger.get(dialog_id)
        dialog = dialog_for(ehr.runtime, record, locale, refusal=ehr.refusals.take(dialog_id))
    cards = [code_card(ehr.runtime, r, locale) for r in ehr.issuances_of(patient)[:3]]
    ecps = []
    if ehr.simulator_controls and any(c.in_progress for c in cards):
        ecps = pending_ecps_requests(ehr.settings, practitioner.national_id)
    return render(
        request, "consultation.html", status_code=status_code, patient=patient,
        born=format_date(patient.birth_date, locale), consultation=consultation,
        day=format_date(consultation.day, locale), summary=ehr.store.summary(consultation.id),
        cards=cards, dialog=dialog, error=error, error_detail=error_detail, notice=notice,
        cim10=CIM10_CODES,
        today=ehr.runtime.engine.today().isoformat(), samples=samples.SAMPLES, ecps=ecps,
        back=f"/patients/{patient.id}/consultation",
    )


@router.get("/patients/{patient_id}/consultation", response_class=HTMLResponse)
def consultation(request: Request, patient_id: str, dialog: str | None = None,
                 notice: str | None = None) -> Response:
    practitioner_of(request)
    ehr = ehr_of(request)
    patient = patient_or_404(ehr, patient_id)
    text = None
    if notice:
        record = ehr.runtime.ledger.get(notice)
        text = still_valid_notice(record, locale_of(request))
    return consultation_page(request, patient, dialog_id=dialog, notice=text)


def _after_recording(patient: Patient, record: IssuanceRecord) -> Response:
    base = f"/patients/{patient.id}/consultation"
    if record.state in (IssuanceState.AWAITING_CONFIRMATION, IssuanceState.NOT_ELIGIBLE):
        return redirect(f"{base}?dialog={record.id}")
    if record.state.holds_code:
        return redirect(f"{base}?notice={record.id}")
    return redirect(base)


def _parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.post("/patients/{patient_id}/consultation")
def record_consultation(
    request: Request, patient_id: str,
    diagnosis_code: str = Form(""), diagnosis_status: str = Form("final"),
    signs_present: str | None = Form(None), onset: str = Form(""), signs_text: str = Form(""),
    ct_suggestive: str | None = Form(None), ct_finding: str = Form("ground_glass"),
    ct_date: str = Form(""),
) -> Response:
    practitioner = practitioner_of(request)
    ehr, locale = ehr_of(request), locale_of(request)
    patient = patient_or_404(ehr, patient_id)
    status: DiagnosisStatus = "working" if diagnosis_status == "working" else "final"
    entry = ConsultationEntry(
        diagnosis_code=diagnosis_code if diagnosis_code in CIM10_BY_CODE else None,
        diagnosis_status=status, signs_present=signs_present is not None,
        onset=_parse_day(onset), signs_text=signs_text.strip() or None,
        ct_suggestive=ct_suggestive is not None, ct_finding=ct_finding,
        ct_date=_parse_day(ct_date),
    )
    if entry.is_empty():
        return consultation_page(request, patient, error=ui_text(locale, "consult.nothing"),
                                 status_code=422)
    consult = ehr.store.open_consultation(patient.id, practitioner.national_id,
                                          ehr.runtime.engine.today())
    for line in summary_lines(entry, locale):
        ehr.store.add_summary_line(consult.id, line)
    if not entry.concerns_covid():
        return consultation_page(request, patient, notice=ui_text(locale, "consult.not_covid"))
    event = consultation_event(
        entry, patient, practitioner, host=ehr.settings.host_name, consultation_id=consult.id,
        locale=locale, now=ehr.now(),
    )
    return _after_recording(patient, ehr.record(event, consult.id))


def _import(request: Request, patient: Patient, data: bytes, name: str) -> Response:
    practitioner = practitioner_of(request)
    ehr, locale = ehr_of(request), locale_of(request)
    try:
        events = imported_events(data, name, patient, locale)
    except InputError as exc:
        return consultation_page(request, patient, error=unreadable_file(data, name, locale),
                                 error_detail=exc.one_line(), status_code=422)
    except WrongPatient as exc:
        other = exc.other.display_name() + (
            f" ({format_date(exc.other.birth_date, locale)})" if exc.other.birth_date else "")
        message = ui_text(locale, "consult.wrong_patient", other=other,
                          patient=patient.display_name)
        return consultation_page(request, patient, error=message, status_code=422)
    consult = ehr.store.open_consultation(patient.id, practitioner.national_id,
                                          ehr.runtime.engine.today())
    records = []
    for event in events:
        ehr.store.add_summary_line(consult.id, ui_text(
            locale, "consult.imported", name=name, sender=event.source.host))
        records.append(ehr.record(event, consult.id))
    return _after_recording(patient, records[-1])


@router.post("/patients/{patient_id}/import")
def import_file(request: Request, patient_id: str,
                file: Annotated[UploadFile, File()]) -> Response:
    practitioner_of(request)
    patient = patient_or_404(ehr_of(request), patient_id)
    data = file.file.read(MAX_FILE_BYTES + 1)
    return _import(request, patient, data, file.filename or "fichier")


@router.get("/patients/{patient_id}/samples/{kind}")
def download_sample(request: Request, patient_id: str, kind: str) -> Response:
    practitioner_of(request)
    ehr = ehr_of(request)
    patient = patient_or_404(ehr, patient_id)
    if kind not in samples.SAMPLES:
        return RedirectResponse(f"/patients/{patient.id}/consultation", status_code=303)
    data = samples.sample_file(kind, patient, ehr.now(), ehr.settings.host_name)
    name = samples.SAMPLES[kind].name
    return Response(data, media_type="application/hl7-v2",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/patients/{patient_id}/samples/{kind}")
def import_sample(request: Request, patient_id: str, kind: str) -> Response:
    practitioner_of(request)
    ehr = ehr_of(request)
    patient = patient_or_404(ehr, patient_id)
    if kind not in samples.SAMPLES:
        return redirect(f"/patients/{patient.id}/consultation")
    data = samples.sample_file(kind, patient, ehr.now(), ehr.settings.host_name)
    return _import(request, patient, data, samples.SAMPLES[kind].name)

