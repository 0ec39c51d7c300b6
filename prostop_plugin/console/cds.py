"""CDS Hooks 2.0 on the console's server: how an EHR that speaks CDS Hooks shows, inside its
own screen, what the plugin decides for this patient and that a StopCovid code request waits.

* ``GET /cds-services`` — discovery: two services, ``patient-view`` and ``encounter-start``,
  each asking as prefetch for the ``Patient`` (its INS is what requests are matched on), and
  the patient's ``Observation`` and ``Condition`` searches (:data:`PREFETCH`).
* ``POST /cds-services/{id}`` — the EHR's call: ``hookInstance``, ``hook``, ``context``
  (``patientId``…), ``prefetch``. The answer is ``{"cards": [...]}``: a card in French for
  each request of this patient waiting for confirmation (matched by INS through the ledger's
  keyed digest: nothing is looked up in clear), with a link to that request in the console;
  when none waits, the prefetch read by :mod:`prostop_plugin.fhir` and evaluated as of today
  gives one card with a link to this patient in the console (:mod:`.cds_evaluation`); no card
  (``{"cards": []}``) when nothing waits and the record holds nothing recent about COVID-19.

The EHR authenticates each call with a JWT it signs (CDS Hooks "Trusting CDS Clients"):
``iss``, ``aud`` (this service's URL), ``exp``, ``iat`` and a ``jti`` used once, signed with a
key from ``[console] cds_jwks_file``. Errors are the spec's: 400 for a malformed request or
prefetch (the reason names the field's path, never its value), 401 for a missing or bad JWT,
404 for an unknown service, 412 when a prefetch the service needs is missing (the service does
not query the EHR's FHIR server itself), 413 for a body over :data:`MAX_REQUEST_BYTES`. Logs
never carry patient data (ids, names, INS, values).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from typing import Any

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from prostop_plugin.console.cds_evaluation import MAX_SUMMARY, SOURCE_LABEL, evaluation_card
from prostop_plugin.console.web import Console, console_of
from prostop_plugin.errors import InputError
from prostop_plugin.fhir import MAX_FHIR_BYTES, PrefetchMissing, parse_json, read_prefetch
from prostop_plugin.models import IssuanceState, PatientRef
from prostop_plugin.texts import get_texts

log = logging.getLogger(__name__)
router = APIRouter()

JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS384"]
SERVICES = {
    "prostop-stopcovid-patient-view": "patient-view",
    "prostop-stopcovid-encounter-start": "encounter-start",
}
#: what each call needs: the patient (its INS), its results and its diagnoses, most recent
#: first (only the recent ones can make a case), within the spec's recommended query subset
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&_sort=-date&_count=200",
    "conditions": "Condition?patient={{context.patientId}}&_sort=-recorded-date&_count=100",
}
#: the largest call read (a prefetch of a few hundred resources is well under it)
MAX_REQUEST_BYTES = MAX_FHIR_BYTES
#: a FHIR logical id
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def discovery() -> dict[str, Any]:
    return {"services": [
        {
            "hook": hook, "id": service_id,
            "title": "Déclaration StopCovid",
            "description": "Évalue le dossier du patient (résultats, diagnostics) pour un code "
            "de déclaration StopCovid et signale une demande en attente de confirmation, avec "
            "le lien vers la console. / Evaluates the patient's record (results, diagnoses) "
            "for a StopCovid declaration code and shows a request waiting for confirmation, "
            "with the link to the console.",
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


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The body, or ``None`` when it is over ``limit`` bytes (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


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
    raw = await _bounded_body(request, MAX_REQUEST_BYTES)
    if raw is None:
        return _problem(413, f"the request is over {MAX_REQUEST_BYTES} bytes")
    try:
        body = parse_json(raw, "request")
    except InputError as exc:
        log.warning("CDS Hooks call to %s: %s", service_id, exc.one_line())
        return _problem(400, exc.one_line())
    if not isinstance(body, dict) or body.get("hook") != hook \
            or not isinstance(body.get("hookInstance"), str) \
            or not isinstance(body.get("context"), dict) \
            or not isinstance(body["context"].get("patientId"), str):
        return _problem(400, f"expected a {hook} request: hookInstance, hook, "
                        "context.patientId")
    patient_id = body["context"]["patientId"]
    if not _FHIR_ID.fullmatch(patient_id):
        return _problem(400, "context.patientId is not a FHIR id (1-64 letters, digits, - .)")
    prefetch = body.get("prefetch")
    try:
        found = read_prefetch(prefetch if prefetch is not None else {}, patient_id=patient_id)
    except PrefetchMissing as exc:
        log.warning("CDS Hooks %s: %s", hook, exc.one_line())
        templates = ", ".join(f"{k}: {v}" for k, v in PREFETCH.items())
        return _problem(412, f"{exc.one_line()}; this service needs every prefetch: "
                        f"{templates}")
    except InputError as exc:  # the reason names a path, never a value: fit for the log
        log.warning("CDS Hooks %s: bad prefetch: %s", hook, exc.one_line())
        return _problem(400, exc.one_line())
    ins = found.patient.ins if found.patient is not None else None
    key = patient_key(console, ins)
    cards = pending_cards(console, key) if key else []
    if not cards:
        card = evaluation_card(console, found, patient_id, key)
        cards = [card] if card is not None else []
    log.info("CDS Hooks %s: %d piece(s) of evidence read, %d card(s)", hook,
             len(found.evidence), len(cards))
    return JSONResponse({"cards": cards})


def patient_key(console: Console, ins: str | None) -> str | None:
    """The ledger's keyed digest of an INS (what its records are filed under), or None."""
    if not ins:
        return None
    return console.runtime.ledger.patient_key_for(
        PatientRef(host_patient_id="cds-hooks", ins=ins), "cds-hooks")


def pending_cards(console: Console, key: str) -> list[dict[str, Any]]:
    """A card per request of this patient (by INS) waiting for confirmation."""
    ledger = console.runtime.ledger
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
