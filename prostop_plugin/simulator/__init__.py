"""A local stand-in for the ProStopCovid code service and Pro Santé Connect.

The real code service was withdrawn in December 2022; the demo, the tests and an IT admin's dry
run all talk to this instead. It behaves like the real services (``DOMAIN.md`` §2–3), knows a
few fictional practitioners, injects faults on demand and can log every request it receives.

    from prostop_plugin.simulator import SimulatorOptions, run_in_thread

    with run_in_thread(SimulatorOptions()) as sim:
        ...  # point [code_service] base_url at sim.base_url, [psc] issuer at sim.psc_issuer
"""

from typing import TYPE_CHECKING, Any

from prostop_plugin.simulator.options import (
    Approval,
    Fault,
    SimPractitioner,
    SimulatorOptions,
    default_directory,
    parse_approval,
    parse_fault,
)

if TYPE_CHECKING:
    from prostop_plugin.simulator.app import create_app
    from prostop_plugin.simulator.server import RunningSimulator, ServerTLS, run_in_thread

_LAZY = {
    "create_app": "prostop_plugin.simulator.app",
    "RunningSimulator": "prostop_plugin.simulator.server",
    "ServerTLS": "prostop_plugin.simulator.server",
    "run_in_thread": "prostop_plugin.simulator.server",
}


def __getattr__(name: str) -> Any:
    """The web stack (FastAPI, uvicorn) loads on first use, not with the package."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Approval",
    "Fault",
    "RunningSimulator",
    "ServerTLS",
    "SimPractitioner",
    "SimulatorOptions",
    "create_app",
    "default_directory",
    "parse_approval",
    "parse_fault",
    "run_in_thread",
]
