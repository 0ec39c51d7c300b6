"""Committing one step of the state machine, then telling the observers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from prostop_plugin.ledger import Ledger, Tx
from prostop_plugin.models import IssuanceRecord, IssuanceState
from prostop_plugin.plugins import HookFacade

# the flow's one logger, whichever module a step lives in (log lines name it)
log = logging.getLogger("prostop_plugin.issuance")


class Transitions:
    """Saves a record's new state (compare-and-set) and notifies ``prostop_issuance_changed``."""

    def __init__(
        self, ledger: Ledger, hooks: HookFacade, clock: Callable[[], datetime]
    ) -> None:
        self.ledger = ledger
        self.hooks = hooks
        self.clock = clock

    def notify(self, record: IssuanceRecord, previous: IssuanceState | None) -> None:
        if previous == record.state and previous is not None:
            return
        log.info(
            "issuance %s: %s -> %s%s", record.id, previous.value if previous else "-",
            record.state.value, f" (code …{record.code_last2})" if record.code_last2 else "",
        )
        # observers never see the code (the snapshot of notify_after_commit has none already)
        shown = record if record.code is None else record.model_copy(update={"code": None})
        self.hooks.issuance_changed(shown, previous)

    def save(
        self, record: IssuanceRecord, *, expect: IssuanceState | tuple[IssuanceState, ...],
        actor: str = "system", lease: float | None = None,
    ) -> IssuanceState:
        with self.ledger.transaction() as tx:
            previous = self.ledger.save(
                tx, record, expect=expect, actor=actor, lease_seconds=lease, now=self.clock()
            )
            self.notify_after_commit(tx, record, previous)
        return previous

    def notify_after_commit(
        self, tx: Tx, record: IssuanceRecord, previous: IssuanceState | None
    ) -> None:
        """Notify once ``tx`` is durable (in a group commit: in the sender's thread, after
        its batch), with the record as it is now."""
        snapshot = record.model_copy(update={"code": None})
        tx.after_commit(lambda: self.notify(snapshot, previous))
