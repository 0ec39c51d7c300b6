"""The audit log: append-only, hash-chained, Ed25519-signed.

:mod:`~prostop_plugin.audit.log` appends, reads, verifies and exports (:class:`AuditLog`);
:mod:`~prostop_plugin.audit.chain` is the chain's encoding and checks;
:mod:`~prostop_plugin.audit.plugin` writes the issuance flow's entries.
"""

from prostop_plugin.audit.chain import GENESIS_HASH, AuditVerification
from prostop_plugin.audit.log import MAX_MESSAGE_LENGTH, AuditEntry, AuditLog, DetailValue

__all__ = [
    "GENESIS_HASH",
    "MAX_MESSAGE_LENGTH",
    "AuditEntry",
    "AuditLog",
    "AuditVerification",
    "DetailValue",
]
