"""Everything one simulator run holds in memory; shared by its routers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from starlette.requests import Request

from prostop_plugin.config import PSC_REALM_PATH
from prostop_plugin.simulator.ciba import CibaRequests
from prostop_plugin.simulator.codes import CodeStore
from prostop_plugin.simulator.faults import FaultQueue
from prostop_plugin.simulator.options import Approval, SimPractitioner, SimulatorOptions
from prostop_plugin.simulator.tokens import TokenAuthority


@dataclass
class SimulatorState:
    options: SimulatorOptions
    authority: TokenAuthority
    codes: CodeStore
    ciba: CibaRequests
    faults: FaultQueue
    #: set when the server stops, so injected sleeps end at once
    stopping: threading.Event = field(default_factory=threading.Event)
    tokens_issued: int = 0

    @classmethod
    def from_options(cls, options: SimulatorOptions) -> SimulatorState:
        return cls(
            options=options,
            authority=TokenAuthority.create(
                options.signing_algorithm, options.signing_key, options.token_lifetime,
                options.token_acr,
            ),
            codes=CodeStore(
                timedelta(minutes=options.code_validity_minutes),
                timedelta(hours=options.code_reuse_hours),
            ),
            ciba=CibaRequests(
                options.ciba_expires_in, options.ciba_interval, options.slow_down_increment
            ),
            faults=FaultQueue(options.faults),
        )

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
