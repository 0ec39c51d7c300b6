"""The simulator's FastAPI application: code service + PSC realm + admin, behind the request log
and the fault injector."""

from __future__ import annotations

from fastapi import FastAPI

from prostop_plugin.simulator.admin import admin_router
from prostop_plugin.simulator.authcode import authorization_router
from prostop_plugin.simulator.codeservice import code_service_router
from prostop_plugin.simulator.faults import FaultMiddleware
from prostop_plugin.simulator.oidc import psc_router
from prostop_plugin.simulator.options import SimulatorOptions
from prostop_plugin.simulator.requestlog import RequestLogMiddleware
from prostop_plugin.simulator.state import SimulatorState

STATE_ATTRIBUTE = "simulator"


def create_app(options: SimulatorOptions | None = None) -> FastAPI:
    """A fresh simulator; its state is ``app.state.simulator`` (a :class:`SimulatorState`)."""
    options = options or SimulatorOptions()
    state = SimulatorState.from_options(options)
    app = FastAPI(
        title="prostop simulator",
        description="Local stand-in for the ProStopCovid code service and Pro Santé Connect.",
        version="1",
    )
    setattr(app.state, STATE_ATTRIBUTE, state)
    app.include_router(code_service_router(state))
    app.include_router(psc_router(state))
    app.include_router(authorization_router(state))
    app.include_router(admin_router(state))
    # added last = outermost: the log sees every request, even one a fault then drops
    app.add_middleware(FaultMiddleware, queue=state.faults, latency=options.latency,
                       stopping=state.stopping)
    if state.request_log is not None:
        app.add_middleware(RequestLogMiddleware, log=state.request_log)
    return app


def simulator_state(app: FastAPI) -> SimulatorState:
    state: SimulatorState = getattr(app.state, STATE_ATTRIBUTE)
    return state
