"""What a simulator run is configured with: practitioners, approval behaviour, faults.

Everything here is plain data so that the CLI, the admin endpoints and the tests build the same
objects: ``parse_fault("429=2:3")`` is what ``--fault 429=2:3`` and a test both use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Every fault the simulator can inject. ``latency`` delays then answers normally; ``timeout``
#: answers only after the client should have given up; the rest replace the answer.
FaultKind = Literal[
    "latency",
    "500",
    "503",
    "429",
    "reset",
    "timeout",
    "malformed_json",
    "bad_code",
    "expired_validity",
    "401",
    "slow_down",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

#: Endpoints a fault can target (``any`` = all of them except the admin ones).
Endpoint = Literal[
    "generate", "verify", "discovery", "jwks", "ciba", "token", "introspect", "userinfo", "any"
]
ENDPOINTS: tuple[str, ...] = get_args(Endpoint)

#: Faults that only make sense on one endpoint, because they change its payload.
FAULT_ONLY_ON: dict[str, str] = {
    "bad_code": "generate",
    "expired_validity": "generate",
    "slow_down": "token",
}
FAULT_DESCRIPTIONS: dict[str, str] = {
    "latency": "wait VALUE seconds (default 1), then answer normally",
    "500": "500 Internal Server Error",
    "503": "503 Service Unavailable",
    "429": "429 Too Many Requests with Retry-After: VALUE seconds (default 1)",
    "reset": "drop the TCP connection (RST) without answering",
    "timeout": "answer only after VALUE seconds (default 15, longer than the client waits)",
    "malformed_json": "200 with a truncated JSON body",
    "bad_code": "200 with a code that breaks [A-Za-z0-9]{6} (generate only)",
    "expired_validity": "200 with a validity window already past (generate only)",
    "401": "401 invalid_token, even for a valid token",
    "slow_down": "400 slow_down to a CIBA poll (token only)",
}
#: No injected sleep lasts longer than this, whatever was asked: the simulator must stop.
MAX_FAULT_SLEEP = 60.0


class Fault(BaseModel):
    """One fault to inject into the next ``count`` matching requests (``None``: all of them)."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    value: float | None = Field(default=None, ge=0, le=MAX_FAULT_SLEEP)
    count: int | None = Field(default=1, ge=1)
    endpoint: Endpoint = "generate"
    probability: float = Field(default=1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _endpoint_fits(self) -> Fault:
        only = FAULT_ONLY_ON.get(self.kind)
        if only is not None and self.endpoint != only:
            raise ValueError(f"fault '{self.kind}' only applies to endpoint '{only}'")
        return self

    def describe(self) -> str:
        value = "" if self.value is None else f"={self.value:g}"
        times = "every request" if self.count is None else f"next {self.count}"
        chance = "" if self.probability == 1 else f", p={self.probability:g}"
        return f"{self.kind}{value} on {self.endpoint} ({times}{chance})"


_FAULT_SPEC = re.compile(
    r"^(?:(?P<endpoint>[a-z]+)/)?(?P<kind>[a-z0-9_]+)(?:=(?P<value>[0-9.]+))?"
    r"(?::(?P<count>[0-9]+|\*))?(?:@(?P<probability>[0-9.]+))?$"
)
FAULT_SPEC_HELP = (
    "[ENDPOINT/]KIND[=VALUE][:COUNT|:*][@PROBABILITY], e.g. 503:2 (next two generate calls), "
    "429=3 (Retry-After 3 s), token/slow_down, generate/500:*@0.2 (one call in five, for ever)"
)


def parse_fault(spec: str, *, default_count: int | None = 1) -> Fault:
    """Read a fault from its short form (CLI ``--fault``, header ``X-Simulator-Fault``).

    :raises ValueError: with the expected form when ``spec`` does not fit.
    """
    match = _FAULT_SPEC.match(spec.strip())
    if match is None:
        raise ValueError(f"cannot read fault {spec!r}: expected {FAULT_SPEC_HELP}")
    kind = match["kind"]
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault {kind!r}: one of {', '.join(FAULT_KINDS)}")
    endpoint = match["endpoint"] or FAULT_ONLY_ON.get(kind, "generate")
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}: one of {', '.join(ENDPOINTS)}")
    count_text = match["count"]
    count = default_count
    if count_text is not None:
        count = None if count_text == "*" else int(count_text)
    return Fault.model_validate(
        {
            "kind": kind,
            "endpoint": endpoint,
            "value": float(match["value"]) if match["value"] else None,
            "count": count,
            "probability": float(match["probability"]) if match["probability"] else 1.0,
        }
    )


#: the shortest and longest code validity a run accepts: long enough to type a code, at most
#: the 24 h during which a code value is never handed out again
MIN_CODE_VALIDITY_SECONDS = 10.0
MAX_CODE_VALIDITY_SECONDS = 24 * 3600.0
_DURATION = re.compile(r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m(?:in)?)?"
                       r"(?:(?P<s>\d+(?:\.\d+)?)s)?$")


def parse_duration(spec: str) -> float:
    """Seconds from ``90s``, ``2m``, ``1h``, ``1h30m`` or a bare number of minutes (``2``).

    :raises ValueError: with the expected form.
    """
    text = spec.strip().lower().replace(" ", "")
    try:
        return float(text) * 60
    except ValueError:
        pass
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"cannot read duration {spec!r}: expected e.g. 2m, 90s, 1h or 1h30m")
    hours, minutes, seconds = (float(match[k] or 0) for k in ("h", "m", "s"))
    return hours * 3600 + minutes * 60 + seconds


def parse_code_validity(spec: str) -> float:
    """A code validity (``--code-validity 2m``) in minutes, within the accepted bounds."""
    seconds = parse_duration(spec)
    if not MIN_CODE_VALIDITY_SECONDS <= seconds <= MAX_CODE_VALIDITY_SECONDS:
        raise ValueError(f"code validity {spec!r} is out of range: from "
                         f"{MIN_CODE_VALIDITY_SECONDS:g} s to 24 h (the real service: 60 min)")
    return seconds / 60


def describe_minutes(minutes: float) -> str:
    """``60 min``, ``2 min``, ``90 s``: a validity as people say it."""
    seconds = round(minutes * 60)
    if seconds % 60:
        return f"{seconds} s"
    return f"{seconds // 60} min"


ApprovalMode = Literal["now", "after", "deny", "never"]


class Approval(BaseModel):
    """How a practitioner answers a CIBA request on their e-CPS app.

    ``never`` waits until the request expires, unless someone approves or denies it through
    ``POST /_simulator/ciba/{auth_req_id}/approve|deny`` (the demo's "approve on your e-CPS app").
    """

    model_config = ConfigDict(extra="forbid")

    mode: ApprovalMode = "now"
    after: float = Field(default=0.0, ge=0, description="seconds, for mode 'after'")

    def describe(self) -> str:
        return {
            "now": "approves at once",
            "after": f"approves after {self.after:g} s",
            "deny": "denies",
            "never": "never answers (approve/deny by hand)",
        }[self.mode]


def parse_approval(spec: str) -> Approval:
    """``now``, ``deny``, ``never`` or ``after:SECONDS``."""
    text = spec.strip().lower()
    if text.startswith("after:"):
        try:
            return Approval(mode="after", after=float(text.removeprefix("after:")))
        except ValueError:
            pass
    elif text in ("now", "deny", "never"):
        return Approval.model_validate({"mode": text})
    raise ValueError(f"cannot read approval {spec!r}: expected now, deny, never or after:SECONDS")


@dataclass(frozen=True)
class SimPractitioner:
    """A fictional practitioner the simulated PSC knows."""

    rpps: str
    given_name: str
    family_name: str
    profession_code: str
    approval: Approval = field(default_factory=Approval)
    civility: str = "DR"

    @property
    def national_id(self) -> str:
        return "8" + self.rpps

    def display(self) -> str:
        title = "Dr " if self.civility == "DR" else ""
        return f"{title}{self.given_name} {self.family_name}"


def default_directory() -> list[SimPractitioner]:
    """The fictional practitioners; the two médecins appear in the shared corpus."""
    return [
        SimPractitioner("10003456789", "Claire", "DURAND", "10"),
        SimPractitioner("10009876543", "Paul", "BERNARD", "10"),
        SimPractitioner("10005550123", "Julie", "PETIT", "60", civility="MME"),
        SimPractitioner("10007770456", "Marc", "LEROY", "21", civility="M"),
    ]


SigningAlgorithm = Literal["RS256", "EdDSA"]


@dataclass
class SimulatorOptions:
    """One simulator run. The defaults behave like the real services on a good day."""

    practitioners: list[SimPractitioner] = field(default_factory=default_directory)
    #: national id or bare RPPS → approval, overriding the directory's behaviour
    approvals: dict[str, Approval] = field(default_factory=dict)
    #: faults active from the start (the CLI's ``--fault``); more can be queued at run time
    faults: list[Fault] = field(default_factory=list)
    #: seconds added to every request (not the admin ones)
    latency: float = 0.0
    request_log: Path | None = None
    client_id: str = "prostop-plugin"
    #: ``None`` accepts any client without a secret (mTLS-style, client_id in the form)
    client_secret: str | None = "simulator-secret"
    signing_algorithm: SigningAlgorithm = "RS256"
    #: a private key to sign with (tests share one to save key generation); new one otherwise
    signing_key: object | None = None
    token_lifetime: int = 120
    token_acr: str = "eidas1"
    ciba_interval: float = 2.0
    ciba_expires_in: int = 120
    #: CIBA: a client polling too fast gets ``slow_down`` and must add this to its interval
    slow_down_increment: float = 5.0
    #: the real service's codes are valid 60 min; shorter lets a demo show expiry
    code_validity_minutes: float = 60
    code_reuse_hours: int = 24
    #: the URL clients reach us at; by default taken from each request's Host
    public_url: str | None = None

    def approval_for(self, practitioner: SimPractitioner) -> Approval:
        for key in (practitioner.national_id, practitioner.rpps):
            if key in self.approvals:
                return self.approvals[key]
        return practitioner.approval
