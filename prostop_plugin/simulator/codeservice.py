"""The simulated ProStopCovid code service (``submission-code-server`` contract)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from prostop_plugin.simulator.codes import iso_millis
from prostop_plugin.simulator.options import Fault
from prostop_plugin.simulator.state import SimulatorState
from prostop_plugin.simulator.tokens import InvalidToken, bearer_token

REQUIRED_ACR = "eidas1"


def token_refused(error: InvalidToken) -> JSONResponse:
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=401,
        headers={"WWW-Authenticate": f'Bearer error="{error.error}"'},
    )


def code_service_router(state: SimulatorState) -> APIRouter:
    router = APIRouter(tags=["code service"])

    @router.get("/api/v1/generate/short")
    async def generate_short(request: Request) -> JSONResponse:
        """One 6-character code, valid 60 minutes. Needs a PSC bearer token (acr eidas1)."""
        try:
            token = bearer_token(request.headers.get("authorization"))
            state.authority.verify(token, required_acr=REQUIRED_ACR)
        except InvalidToken as exc:
            return token_refused(exc)
        body = state.codes.generate().as_json()
        fault: Fault | None = getattr(request.state, "fault", None)
        if fault is not None and fault.kind == "bad_code":
            body["code"] = "K7-Q2!"  # the real code was still created: an orphan
        elif fault is not None and fault.kind == "expired_validity":
            now = datetime.now(UTC)
            body["validFrom"] = iso_millis(now - timedelta(hours=2))
            body["validUntil"] = iso_millis(now - timedelta(hours=1))
        return JSONResponse(body)

    @router.get("/api/v1/verify")
    async def verify(code: str, type: str = "2") -> JSONResponse:
        """What the app back-end calls when a patient types a code; a valid code is used up."""
        if type not in ("1", "2"):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "type is 1 (long) or 2 (short)"},
                status_code=400,
            )
        # this simulator hands out short codes only: a long code is never valid
        return JSONResponse({"valid": type == "2" and state.codes.verify(code)})

    return router
