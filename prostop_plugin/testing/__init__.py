"""The test kit for adapters and host integrations (a pytest plugin, like pytest's own
``pytester`` or datasette's test client).

Installed with prostop-plugin and registered through pytest's ``pytest11`` entry point, so its
fixtures are there in every test of an environment holding the package (see
:mod:`prostop_plugin.testing.plugin`): ``prostop_simulator``, ``prostop_runtime``,
``make_prostop_runtime``, ``prostop_physician``. Import the rest from here::

    from prostop_plugin.testing import AdapterConformance, ScriptedPhysician, issued_record

- :class:`AdapterConformance` — the tests every adapter passes; subclass it
  (``docs/vendors.md`` walks through it);
- :class:`ScriptedPhysician` — approves or declines, as a dialog hook or from the pending queue;
- :func:`issued_record` — an issuance run to its code; :func:`positive_pcr_event` — an
  eligible event; :func:`wait_until` — a bounded wait;
- :func:`minted_token` / :func:`signed_token` — PSC tokens signed by the simulator (a host's
  own login; forged claims); :func:`simulator_options` — options for a simulator of your own.

It needs pytest (``pip install prostop-plugin[testing]``).
"""

import pytest

# assertions of the kit's test classes explain themselves when they fail
pytest.register_assert_rewrite("prostop_plugin.testing.conformance")

from prostop_plugin.testing.conformance import (  # noqa: E402
    OTHER_ADAPTER,
    AdapterConformance,
    OtherAdapterHost,
)
from prostop_plugin.testing.helpers import (  # noqa: E402
    DR_DURAND,
    Answer,
    ScriptedPhysician,
    issued_record,
    patient_ref,
    positive_pcr_event,
    runtime_settings,
    wait_until,
)
from prostop_plugin.testing.plugin import RuntimeFactory  # noqa: E402
from prostop_plugin.testing.simulator import (  # noqa: E402
    code_service_settings,
    minted_token,
    psc_settings,
    signed_token,
    simulator_options,
)

__all__ = [
    "DR_DURAND",
    "OTHER_ADAPTER",
    "AdapterConformance",
    "Answer",
    "OtherAdapterHost",
    "RuntimeFactory",
    "ScriptedPhysician",
    "code_service_settings",
    "issued_record",
    "minted_token",
    "patient_ref",
    "positive_pcr_event",
    "psc_settings",
    "runtime_settings",
    "signed_token",
    "simulator_options",
    "wait_until",
]
