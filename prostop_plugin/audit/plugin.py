"""The built-in observer: one audit entry per issuance transition and per failed observer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from prostop_plugin.audit.log import MAX_MESSAGE_LENGTH, AuditLog, DetailValue
from prostop_plugin.hooks import hookimpl
from prostop_plugin.models import IssuanceRecord, IssuanceState


class Appends(Protocol):
    """Where entries go: the file log, or the ledger's chain (``AuditTrail``)."""

    def append(
        self, *, actor: str, action: str, issuance_id: str | None = None,
        episode: str | None = None, details: Mapping[str, DetailValue] | None = None,
    ) -> Any: ...


class AuditPlugin:
    """Writes one audit entry per issuance transition to a file log, after the fact. Never
    reads ``record.code``. The runtime no longer uses it: the ledger's chain records each
    transition in the transaction that commits it (:mod:`~prostop_plugin.audit.table`)."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    @hookimpl
    def prostop_issuance_changed(
        self, record: IssuanceRecord, previous: IssuanceState | None
    ) -> None:
        confirmation = record.confirmation
        self.log.append(
            actor=confirmation.practitioner.national_id if confirmation else "system",
            action=f"transition:{record.state.value}",
            issuance_id=record.id,
            episode=record.episode,
            details=transition_details(record, previous),
        )


def transition_details(
    record: IssuanceRecord, previous: IssuanceState | None
) -> dict[str, DetailValue]:
    """What an auditor needs about a transition; the code only as digest and last two."""
    details: dict[str, DetailValue] = {"previous": previous.value if previous else None}
    if record.decision is not None:
        details["decision"] = record.decision.decision
        details["rule"] = record.decision.rule
    if record.code_digest:
        details["code_digest"] = record.code_digest
    if record.code_last2:
        details["code_last2"] = record.code_last2
    if record.replaces:
        details["replaces"] = record.replaces
    if record.error is not None:
        details["error"] = record.error.en
    return details


def record_observer_failure(
    log: Appends, plugin_name: str, hook: str, exc: BaseException
) -> None:
    """Audit an observer that raised (fits ``HookFacade(on_observer_error=partial(…, log))``).

    Observers never receive the code in clear (see the hook's contract), so their messages
    should not carry it; they are cut at :data:`MAX_MESSAGE_LENGTH` characters all the same.
    """
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}"
    )
    log.append(
        actor="system",
        action="observer_failed",
        details={
            "plugin": plugin_name,
            "hook": hook,
            "exception": name,
            "message": str(exc)[:MAX_MESSAGE_LENGTH],
        },
    )


def record_set_aside(log: Appends, issuance_id: str, reason: str) -> None:
    """Audit that recovery set a row aside (its data unreadable, or a step that cannot run)."""
    log.append(
        actor="system", action="set_aside", issuance_id=issuance_id,
        details={"reason": reason[:MAX_MESSAGE_LENGTH]},
    )
