"""prostop-hl7v2-mllp: HL7 v2 over MLLP for prostop-plugin (interface engines, labs, hospitals).

Modules: :mod:`.settings` (``[adapter.hl7v2_mllp]``), :mod:`.inbound` (one received message:
decode, map, hand to the core, ACK), :mod:`.server` (the asyncio MLLP listener and its service),
:mod:`.writeback` (the code sent back as ORU^R01 / MDM^T02), :mod:`.plugin` (the hooks).
"""

__version__ = "0.1.0"
