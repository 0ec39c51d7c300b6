"""The plugin: what ``prostop`` loads for ``adapters = ["hl7v2_mllp"]`` (entry point group
``prostop``, name ``hl7v2_mllp``, this module).

It provides the MLLP listener (:func:`prostop_background_services`, run by ``prostop serve``)
and the write-back (:func:`prostop_write_back`) for records whose event came through it. It has
no confirmation UI: requests wait in the pending queue (the console, ``prostop pending``), and
:func:`prostop_notify_pending` sends the peer a note with the console's link to the request.

The module is the plugin, so its configuration is per process: :func:`prostop_configure`
validates ``[adapter.hl7v2_mllp]`` when a runtime starts, and the write-back uses it.
"""

from __future__ import annotations

from prostop_hl7v2_mllp.server import MLLPService
from prostop_hl7v2_mllp.settings import ADAPTER_NAME, MLLPSettings, load_mllp_settings
from prostop_hl7v2_mllp.writeback import send_notice, send_write_back
from prostop_plugin import AdapterInfo, AdapterPlugin

INFO = AdapterInfo(
    name=ADAPTER_NAME,
    title="HL7 v2 / MLLP (moteur d'interface, laboratoire, établissement)",
    description="Reçoit les résultats (ORU^R01) et diagnostics (ADT) HL7 v2 sur MLLP, les "
    "acquitte une fois enregistrés, et renvoie le code au logiciel en ORU^R01 ou MDM^T02. "
    "Receives HL7 v2 results and diagnoses over MLLP, acknowledges them once stored, and "
    "sends the code back as ORU^R01 or MDM^T02.",
    has_confirmation_ui=False,
    formats=["hl7v2"],
)


class MLLPPlugin(AdapterPlugin[MLLPSettings]):
    """Holds the validated ``[adapter.hl7v2_mllp]`` section between hook calls."""

    def __init__(self) -> None:
        super().__init__(INFO, load_mllp_settings, label="HL7 v2 / MLLP", service=MLLPService,
                         write_back=send_write_back, notice=send_notice)


#: the instance the entry point registers
plugin = MLLPPlugin()
