"""Issuance: the state machine from a recorded diagnosis to a code written back.

- :mod:`~prostop_plugin.issuance.engine`: :class:`IssuanceEngine`, the one class that drives it;
- :mod:`~prostop_plugin.issuance.requests`: what is computed (pure functions);
- :mod:`~prostop_plugin.issuance.transitions`: committing a step and notifying observers;
- :mod:`~prostop_plugin.issuance.writeback`: the outbox and expiry;
- :mod:`~prostop_plugin.issuance.plugin`: the built-in plugin answering the event hooks.
"""

from prostop_plugin.issuance.engine import IssuanceEngine
from prostop_plugin.issuance.plugin import IssuancePlugin
from prostop_plugin.issuance.requests import new_issuance_id

__all__ = ["IssuanceEngine", "IssuancePlugin", "new_issuance_id"]
