"""Everything one simulator run holds in memory; shared by its routers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from starlette.requests import Request

from prostop_plugin.config import PSC_REALM_PATH
from prostop_plugin.simulator.authcodes import AuthCodes
from prostop_plugin.simulator.ciba import CibaRequests
from prostop_plugin.simulator.codes import CodeStore
from prostop_plugin.simulator.faults import FaultQueue
from prostop_plugin.simulator.options import Approval, SimPractitioner, SimulatorOptions
from prostop_plugin.simulator.requestlog import RequestLog
from prostop_plugin.simulator.tokens import TokenAuthority


def _codes(options: SimulatorOptions) -> CodeStore:
    return CodeStore(
        timedelta(minutes=options.code_validity_minutes), timedelta(hours=options.code_reuse_hours)
    )


def _ciba(options: SimulatorOptions) -> CibaRequests:
    return CibaRequests(options.ciba_expires_in, options.ciba_interval, options.slow_down_increment)


@dataclass
class SimulatorState:
    options: SimulatorOptions
    authority: TokenAuthority
    codes: CodeStore
    ciba: CibaRequests
    faults: FaultQueue
    request_log: RequestLog | None = None
    #: set when the server stops, so injected sleeps end at once
    stopping: threading.Event = field(default_factory=threading.Event)
    tokens_issued: int = 0
    initial_approvals: dict[str, Approval] = field(default_factory=dict)
    initial_code_validity: float = 60.0
    #: the authorization code flow's open login pages and codes (:mod:`.authcode`)
    authcodes: AuthCodes = field(default_factory=lambda: AuthCodes())

    @classmethod
    def from_options(cls, options: SimulatorOptions) -> SimulatorState:
        return cls(
            options=options,
            request_log=RequestLog(options.request_log) if options.request_log else None,
            initial_approvals=dict(options.approvals),
            initial_code_validity=options.code_validity_minutes,
            authority=TokenAuthority.create(
                options.signing_algorithm, options.signing_key, options.token_lifetime,
                options.token_acr,
            ),
            codes=_codes(options),
            ciba=_ciba(options),
            faults=FaultQueue(options.faults),
        )

    def reset(self) -> None:
        """Back to a fresh start: no queued faults, CIBA requests or codes, counters at zero,
        the approvals and code validity the run began with (the run's own ``--fault`` list is
        dropped too)."""
        self.faults.clear()
        self.faults.injected = 0
        self.options.approvals = dict(self.initial_approvals)
        self.options.code_validity_minutes = self.initial_code_validity
        self.codes = _codes(self.options)
        self.ciba = _ciba(self.options)
        self.authcodes = AuthCodes()
        self.tokens_issued = 0

    def set_code_validity(self, minutes: float) -> None:
        """Codes generated from now on are valid this long; earlier ones keep theirs."""
        self.options.code_validity_minutes = minutes
        self.codes.validity = timedelta(minutes=minutes)

    def practitioner(self, national_id: str) -> SimPractitioner | None:
        for practitioner in self.options.practitioners:
            if national_id in (practitioner.national_id, practitioner.rpps):
                return practitioner
        return None

    def approval_for(self, practitioner: SimPractitioner) -> Approval:
        return self.options.approval_for(practitioner)

    def base_url(self, request: Request) -> str:
        return (self.options.public_url or str(request.base_url)).rstrip("/")

    def issuer(self, request: Request) -> str:
        return self.base_url(request) + PSC_REALM_PATH
