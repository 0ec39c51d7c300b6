"""``/_simulator/…``: what a test, the demo or an IT admin's dry run steers the simulator with.

Loopback only, like the simulator itself; never faulted, never delayed.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from prostop_plugin.simulator.faults import ADMIN_PREFIX
from prostop_plugin.simulator.options import (
    Approval,
    Fault,
    describe_minutes,
    parse_code_validity,
    parse_fault,
)
from prostop_plugin.simulator.state import SimulatorState


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "error_description": what}, status_code=404)


def _invalid(what: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "error_description": what}, status_code=422)


def _faults_from(body: Any) -> list[Fault]:
    """A fault object, a short spec string (``"503:2"``), or a list of either."""
    items = body if isinstance(body, list) else [body]
    return [parse_fault(i) if isinstance(i, str) else Fault.model_validate(i) for i in items]


def admin_router(state: SimulatorState) -> APIRouter:
    router = APIRouter(prefix=ADMIN_PREFIX, tags=["simulator admin"])

    def practitioners() -> list[dict[str, object]]:
        return [
            {
                "national_id": p.national_id,
                "rpps": p.rpps,
                "name": p.display(),
                "profession_code": p.profession_code,
                "approval": state.approval_for(p).model_dump(),
                "approval_text": state.approval_for(p).describe(),
            }
            for p in state.options.practitioners
        ]

    @router.get("")
    async def overview() -> dict[str, object]:
        return {
            "practitioners": practitioners(),
            "faults": state.faults.listing(),
            "ciba": state.ciba.listing(),
            "code_validity": code_validity(),
            "stats": stats(),
        }

    def code_validity() -> dict[str, object]:
        minutes = state.options.code_validity_minutes
        return {"minutes": minutes, "text": describe_minutes(minutes)}

    @router.get("/code-validity")
    async def get_code_validity() -> dict[str, object]:
        return code_validity()

    @router.put("/code-validity")
    async def set_code_validity(request: Request) -> JSONResponse:
        """How long codes generated from now on are valid: ``{"duration": "2m"}`` or
        ``{"minutes": 2}`` (the real service: 60 min). Lets a demo show a code expiring."""
        try:
            body = await request.json()
            if not isinstance(body, dict) or not ({"duration", "minutes"} & body.keys()):
                raise ValueError('expected {"duration": "2m"} or {"minutes": 2}')
            spec = str(body["duration"]) if "duration" in body else str(float(body["minutes"]))
            minutes = parse_code_validity(spec)
        except (ValueError, TypeError) as exc:
            return _invalid(str(exc))
        state.set_code_validity(minutes)
        return JSONResponse(code_validity())

    def stats() -> dict[str, int]:
        return {
            "codes_generated": state.codes.generated,
            "codes_verified": state.codes.verified,
            "faults_injected": state.faults.injected,
            "tokens_issued": state.tokens_issued,
        }

    @router.post("/reset")
    async def reset() -> dict[str, str]:
        """Forget faults, CIBA requests and codes; approvals back to the run's start."""
        state.reset()
        return {"simulator": "reset"}

    @router.get("/stats")
    async def get_stats() -> dict[str, int]:
        return stats()

    @router.get("/faults")
    async def list_faults() -> list[dict[str, Any]]:
        return state.faults.listing()

    @router.post("/faults")
    async def queue_faults(request: Request) -> JSONResponse:
        """Queue faults for the next matching requests, e.g. ``["503:2", "429=1"]``."""
        try:
            faults = _faults_from(await request.json())
        except (ValueError, ValidationError) as exc:
            return _invalid(str(exc))
        state.faults.add(faults)
        return JSONResponse({"queued": [f.describe() for f in faults]}, status_code=201)

    @router.delete("/faults")
    async def clear_faults() -> dict[str, str]:
        state.faults.clear()
        return {"faults": "cleared"}

    @router.get("/practitioners")
    async def list_practitioners() -> list[dict[str, object]]:
        return practitioners()

    @router.put("/practitioners/{national_id}/approval")
    async def set_approval(national_id: str, request: Request) -> JSONResponse:
        practitioner = state.practitioner(national_id)
        if practitioner is None:
            return _not_found(f"no practitioner {national_id}")
        try:
            approval = Approval.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return _invalid(str(exc))
        state.options.approvals[practitioner.national_id] = approval
        return JSONResponse(
            {"national_id": practitioner.national_id, "approval": approval.describe()}
        )

    @router.get("/ciba")
    async def list_ciba() -> list[dict[str, object]]:
        return state.ciba.listing()

    async def decide(auth_req_id: str, decision: Literal["approved", "denied"]) -> JSONResponse:
        request = state.ciba.decide(auth_req_id, decision)
        if request is None:
            return _not_found(f"no CIBA request {auth_req_id}")
        listing = next(r for r in state.ciba.listing() if r["auth_req_id"] == auth_req_id)
        status = 200 if listing["status"] == decision else 409
        return JSONResponse(listing, status_code=status)

    @router.post("/ciba/{auth_req_id}/approve")
    async def approve(auth_req_id: str) -> JSONResponse:
        """As if the practitioner tapped "approve" on the e-CPS app."""
        return await decide(auth_req_id, "approved")

    @router.post("/ciba/{auth_req_id}/deny")
    async def deny(auth_req_id: str) -> JSONResponse:
        return await decide(auth_req_id, "denied")

    @router.post("/practitioners/{national_id}/{answer}")
    async def answer_pending(national_id: str, answer: str) -> JSONResponse:
        """Approve or deny every pending request of one practitioner (the demo's button)."""
        practitioner = state.practitioner(national_id)
        if practitioner is None or answer not in ("approve", "deny"):
            return _not_found(f"no practitioner {national_id} or answer {answer}")
        decision: Literal["approved", "denied"] = "approved" if answer == "approve" else "denied"
        decided = []
        for item in state.ciba.listing():
            if item["national_id"] == practitioner.national_id and item["status"] == "pending":
                state.ciba.decide(str(item["auth_req_id"]), decision)
                decided.append(item["auth_req_id"])
        return JSONResponse({"decided": decided, "decision": decision})

    return router
