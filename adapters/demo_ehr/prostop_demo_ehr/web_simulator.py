"""The simulator's settings page (only face to the local simulator): how each practitioner's
e-CPS app answers (at once, or by hand on the panel), and how long new codes are valid (a
short validity shows a code expiring, and its re-issue, without waiting an hour)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from prostop_demo_ehr.catalog import ui_text
from prostop_demo_ehr.simulator_panels import (
    APPROVAL_MODES,
    CODE_VALIDITIES,
    set_approval,
    set_code_validity,
    simulator_settings,
)
from prostop_demo_ehr.web_common import ehr_of, locale_of, practitioner_of, redirect, render
from prostop_plugin.simulator.options import describe_minutes

router = APIRouter()
_NATIONAL_ID = re.compile(r"^[0-9]{1,20}$")


@router.get("/simulator", response_class=HTMLResponse)
def simulator_page(request: Request, saved: str | None = None) -> Response:
    practitioner_of(request)
    ehr, locale = ehr_of(request), locale_of(request)
    if not ehr.simulator_controls:
        return render(request, "error.html", status_code=404,
                      message=ui_text(locale, "sim.absent"))
    current = simulator_settings(ehr.settings)
    validities = list(CODE_VALIDITIES)
    if current is not None and current.code_validity_minutes not in validities:
        validities.append(current.code_validity_minutes)
    notice = ui_text(locale, f"sim.saved_{saved}") if saved in ("approval", "validity") else None
    return render(request, "simulator.html", current=current, modes=APPROVAL_MODES,
                  validities=[(m, describe_minutes(m)) for m in validities], notice=notice)


@router.post("/simulator/approval")
def change_approval(request: Request, practitioner: str = Form(...),
                    mode: str = Form(...)) -> Response:
    practitioner_of(request)
    ehr = ehr_of(request)
    if not ehr.simulator_controls or not _NATIONAL_ID.match(practitioner) \
            or not set_approval(ehr.settings, practitioner, mode):
        return render(request, "error.html", status_code=422,
                      message=ui_text(locale_of(request), "sim.failed"))
    return redirect("/simulator?saved=approval")


@router.post("/simulator/code-validity")
def change_code_validity(request: Request, minutes: float = Form(...)) -> Response:
    practitioner_of(request)
    ehr = ehr_of(request)
    if not ehr.simulator_controls or not set_code_validity(ehr.settings, minutes):
        return render(request, "error.html", status_code=422,
                      message=ui_text(locale_of(request), "sim.failed"))
    return redirect("/simulator?saved=validity")
