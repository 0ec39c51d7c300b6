"""CDS Hooks 2.0 on the console's server: how an EHR that speaks CDS Hooks shows, inside its
own screen, that a StopCovid code request waits for this patient.

* ``GET /cds-services`` — discovery: two services, ``patient-view`` and ``encounter-start``,
  each asking for the ``Patient`` as prefetch (its INS is what we match on).
* ``POST /cds-services/{id}`` — the EHR's call: ``hookInstance``, ``hook``, ``context``
  (``patientId``…), ``prefetch``. The answer is ``{"cards": [...]}``: one card in French for a
  request of this patient waiting for confirmation (matched by INS through the ledger's keyed
  digest: nothing is looked up in clear), with a link to that request in the console; no card
  (``{"cards": []}``) when nothing waits.

The EHR authenticates each call with a JWT it signs (CDS Hooks "Trusting CDS Clients"):
``iss``, ``aud`` (this service's URL), ``exp``, ``iat`` and a ``jti`` used once, signed with a
key from ``[console] cds_jwks_file``. Errors are the spec's: 400 for a malformed request, 401
for a missing or bad JWT, 404 for an unknown service, 412 when the prefetch the service needs
is missing. Logs never carry patient data (ids, names, INS).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from prostop_plugin.console.web import Console, console_of
from prostop_plugin.identity import checked_ins
from prostop_plugin.models import IssuanceState, PatientRef
from prostop_plugin.texts import get_texts

log = logging.getLogger(__name__)
router = APIRouter()

#: INS OIDs (FR Core): INS-NIR, INS-NIA, test NIR, demo
INS_SYSTEMS = tuple(f"urn:oid:1.2.250.1.213.1.4.{n}" for n in (8, 9, 10, 11))
JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS384"]
SERVICES = {
    "prostop-stopcovid-patient-view": "patient-view",
    "prostop-stopcovid-encounter-start": "encounter-start",
}
PREFETCH = {"patient": "Patient/{{context.patientId}}"}
MAX_SUMMARY = 140
SOURCE_LABEL = "Console StopCovid (prostop-plugin)"


def discovery() -> dict[str, Any]:
    return {"services": [
        {
            "hook": hook, "id": service_id,
            "title": "Déclaration StopCovid",
            "description": "Signale une demande de code de déclaration StopCovid en attente de "
            "confirmation pour ce patient, avec le lien vers la console. / Shows a StopCovid "
            "declaration code request waiting for this patient's physician, with the link to "
            "the console.",
            "prefetch": PREFETCH,
        }
        for service_id, hook in SERVICES.items()
    ]}


@router.get("/cds-services")
def cds_discovery() -> JSONResponse:
    return JSONResponse(discovery())


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class JwtReplay:
    """``jti`` values seen, until their token expires: a JWT serves one call."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, jti: str, expires: float) -> bool:
        now = time.time()
        with self._lock:
            for key, until in list(self._seen.items()):
                if until < now:
                    del self._seen[key]
            if jti in self._seen:
                return False
            self._seen[jti] = expires
            return True


_REPLAY = JwtReplay()


def _check_jwt(console: Console, request: Request, audience: str) -> str | None:
    """Why the call's JWT is refused, or ``None`` when it is good."""
    config = console.settings.console
    if config.cds_jwks_file is None:
        return "no CDS client is trusted: set [console] cds_jwks_file"
    scheme, _, raw = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw:
        return "a bearer JWT signed by the CDS client is required"
    try:
        keys = jwt.PyJWKSet.from_dict(json.loads(config.cds_jwks_file.read_text("utf-8")))
    except (OSError, ValueError, jwt.PyJWKSetError):
        log.error("CDS Hooks: cannot read the trusted keys in %s", config.cds_jwks_file)
        return "the trusted CDS client keys cannot be read"
    try:
        header = jwt.get_unverified_header(raw)
        kid = header.get("kid")
        found = [k for k in keys.keys if kid is None or k.key_id == kid]
        if not found:
            return "the JWT's key is not trusted"
        claims = jwt.decode(raw, found[0].key, algorithms=JWT_ALGORITHMS, audience=audience,
                            options={"require": ["iss", "aud", "exp", "iat", "jti"]},
                            leeway=10)
    except jwt.InvalidTokenError as exc:
        return f"the JWT is not valid: {type(exc).__name__}"
    if config.cds_issuers and claims["iss"] not in config.cds_issuers:
        return "the JWT's issuer is not trusted"
    if not _REPLAY.first_use(str(claims["jti"]), float(claims["exp"]) + 10):
        return "this JWT was used already (jti)"
    return None


def _ins_of(patient: Any) -> str | None:
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        return None
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") in INS_SYSTEMS:
            found = checked_ins(str(identifier.get("value") or ""))
            if found is not None:
                return found
    return None


@router.post("/cds-services/{service_id}")
async def cds_call(request: Request, service_id: str) -> JSONResponse:
    console = console_of(request)
    hook = SERVICES.get(service_id)
    if hook is None:
        return _problem(404, f"no CDS service {service_id!r}")
    refused = _check_jwt(console, request, console.base_url + request.url.path)
    if refused is not None:
        log.warning("CDS Hooks call to %s refused: %s", service_id, refused)
        return _problem(401, refused)
    try:
        body = await request.json()
    except ValueError:
        return _problem(400, "the body is not JSON")
    if not isinstance(body, dict) or body.get("hook") != hook \
            or not isinstance(body.get("hookInstance"), str) \
            or not isinstance(body.get("context"), dict) \
            or not isinstance(body["context"].get("patientId"), str):
        return _problem(400, f"expected a {hook} request: hookInstance, hook, "
                        "context.patientId")
    prefetch = body.get("prefetch")
    patient = prefetch.get("patient") if isinstance(prefetch, dict) else None
    if patient is None:
        return _problem(412, "prefetch 'patient' is required (Patient/{{context.patientId}})")
    ins = _ins_of(patient)
    cards = pending_cards(console, ins) if ins else []
    log.info("CDS Hooks %s: %d card(s)", hook, len(cards))
    return JSONResponse({"cards": cards})


def pending_cards(console: Console, ins: str) -> list[dict[str, Any]]:
    """A card per request of this patient (by INS) waiting for confirmation."""
    ledger = console.runtime.ledger
    key = ledger.patient_key_for(PatientRef(host_patient_id="cds-hooks", ins=ins), "cds-hooks")
    texts = get_texts(console.settings.locale)
    cards = []
    for record in ledger.patient_history(key):
        if record.state != IssuanceState.AWAITING_CONFIRMATION or record.decision is None:
            continue
        label = texts.decision_label(record.decision.decision)
        summary = f"StopCovid : {label}, un code de déclaration attend votre confirmation"
        if console.settings.locale == "en":
            summary = f"StopCovid: {label}, a declaration code awaits your confirmation"
        reasons = "\n".join(f"* {r.get(console.settings.locale)}"
                            for r in record.decision.reasons)
        cards.append({
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"prostop:cds:{record.id}")),
            "summary": summary[:MAX_SUMMARY],
            "indicator": "warning",
            "detail": reasons,
            "source": {"label": SOURCE_LABEL},
            "links": [{
                "label": "Confirmer dans la console StopCovid"
                if console.settings.locale == "fr" else "Confirm in the StopCovid console",
                "url": f"{console.base_url}/demandes/{record.id}",
                "type": "absolute",
            }],
        })
    return cards
