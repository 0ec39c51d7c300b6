"""The two phones of the demo: the patient's (TousAntiCovid: type the code) and the
practitioner's (e-CPS: approve a Pro Santé Connect request).

Both talk to the simulator like the real apps' back-ends would: the code is checked with the
code service's ``verify`` endpoint (which uses it up), and e-CPS answers go through the
simulator's admin endpoints (``/_simulator/ciba``), which only exist on a simulator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import httpx

from prostop_plugin import Settings

CODE_FORM = re.compile(r"^[A-Za-z0-9]{6}$")
_TIMEOUT = httpx.Timeout(5.0)

VerifyOutcome = Literal["accepted", "refused", "malformed", "unreachable"]


@dataclass(frozen=True)
class VerifyResult:
    outcome: VerifyOutcome
    detail: str = ""


def normalise_code(typed: str) -> str:
    """What a patient types: spaces and dashes ignored, case ignored (the app does the same)."""
    return re.sub(r"[\s\-]", "", typed).upper()


def verify_code(settings: Settings, typed: str) -> VerifyResult:
    """Play the app: ``GET {code service}/api/v1/verify?code=…&type=2``; a valid code is used."""
    code = normalise_code(typed)
    if not CODE_FORM.match(code):
        return VerifyResult("malformed")
    url = settings.code_service.base_url + settings.code_service.verify_path
    try:
        with httpx.Client(timeout=_TIMEOUT, trust_env=False) as client:
            response = client.get(url, params={"code": code, "type": "2"})
            response.raise_for_status()
            valid = response.json().get("valid") is True
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return VerifyResult("unreachable", f"{type(exc).__name__}: {exc}")
    return VerifyResult("accepted" if valid else "refused")


@dataclass(frozen=True)
class EcpsRequest:
    auth_req_id: str
    binding_message: str
    expires_in: int


def _admin_url(settings: Settings, path: str) -> str:
    return settings.code_service.base_url + "/_simulator" + path


def pending_ecps_requests(settings: Settings, national_id: str) -> list[EcpsRequest]:
    """The CIBA requests waiting on this practitioner's (simulated) e-CPS app."""
    try:
        with httpx.Client(timeout=_TIMEOUT, trust_env=False) as client:
            response = client.get(_admin_url(settings, "/ciba"))
            response.raise_for_status()
            listing = response.json()
    except (httpx.HTTPError, ValueError):
        return []
    if not isinstance(listing, list):
        return []
    return [
        EcpsRequest(str(item["auth_req_id"]), str(item["binding_message"]),
                    int(item.get("expires_in", 0)))
        for item in listing
        if isinstance(item, dict) and item.get("national_id") == national_id
        and item.get("status") == "pending"
    ]


def answer_ecps(settings: Settings, auth_req_id: str, approve: bool) -> bool:
    """As if the practitioner tapped approve (or deny) on the e-CPS app."""
    answer = "approve" if approve else "deny"
    try:
        with httpx.Client(timeout=_TIMEOUT, trust_env=False) as client:
            response = client.post(_admin_url(settings, f"/ciba/{auth_req_id}/{answer}"))
    except httpx.HTTPError:
        return False
    return response.status_code == 200


# -- the simulator's settings page (demo only) ---------------------------------------------------

#: the e-CPS behaviours the demo offers: approve at once, wait for the panel's button, deny
APPROVAL_MODES = ("now", "never", "deny")
#: code validities the demo offers, in minutes (the real service: 60)
CODE_VALIDITIES = (60.0, 10.0, 5.0, 2.0, 1.0)


@dataclass(frozen=True)
class SimPractitionerSetting:
    national_id: str
    name: str
    mode: str
    after: float


@dataclass(frozen=True)
class SimulatorSettings:
    practitioners: list[SimPractitionerSetting]
    code_validity_minutes: float


def simulator_settings(settings: Settings) -> SimulatorSettings | None:
    """What the simulator does now: each practitioner's e-CPS answer, the codes' validity.
    ``None`` when the simulator does not answer."""
    try:
        with httpx.Client(timeout=_TIMEOUT, trust_env=False) as client:
            people = client.get(_admin_url(settings, "/practitioners"))
            validity = client.get(_admin_url(settings, "/code-validity"))
            people.raise_for_status()
            validity.raise_for_status()
            listing, minutes = people.json(), float(validity.json()["minutes"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(listing, list):
        return None
    return SimulatorSettings(
        practitioners=[
            SimPractitionerSetting(str(p["national_id"]), str(p["name"]),
                                   str(p["approval"]["mode"]), float(p["approval"]["after"]))
            for p in listing if isinstance(p, dict)
        ],
        code_validity_minutes=minutes,
    )


def set_approval(settings: Settings, national_id: str, mode: str) -> bool:
    """How this practitioner's (simulated) e-CPS app answers from now on."""
    if mode not in APPROVAL_MODES:
        return False
    try:
        with httpx.Client(timeout=_TIMEOUT, trust_env=False) as client:
            response = client.put(_admin_url(settings, f"/practitioners/{national_id}/approval"),
                                  json={"mode": mode})
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def set_code_validity(settings: Settings, minutes: float) -> bool:
    """How long the codes the simulator generates from now on are valid."""
    try:
        with httpx.Client(timeout=_TIMEOUT, trust_env=False) as client:
            response = client.put(_admin_url(settings, "/code-validity"),
                                  json={"minutes": minutes})
    except httpx.HTTPError:
        return False
    return response.status_code == 200
