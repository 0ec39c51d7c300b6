"""The running EHR: the plugin runtime, its own database, logins, and slow work off the
request threads (asking PSC and the code service can take as long as an e-CPS approval)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from prostop_demo_ehr.plugin import DemoEhrPlugin
from prostop_demo_ehr.psc_login import PscLogin
from prostop_demo_ehr.settings import ADAPTER_NAME
from prostop_demo_ehr.store import EhrStore, Patient
from prostop_plugin import (
    DiagnosisEvent,
    EventSource,
    IssuanceRecord,
    IssuanceState,
    Prostop,
    ProstopError,
    Refusals,
    SymptomEvidence,
    in_paris,
)

log = logging.getLogger(__name__)


class DemoEhr:
    def __init__(self, runtime: Prostop, plugin: DemoEhrPlugin) -> None:
        self.runtime = runtime
        self.plugin = plugin
        self.settings = runtime.settings
        self.ehr_settings = plugin.ehr_settings
        self.store: EhrStore = plugin.store()
        self.login = PscLogin(runtime.settings, plugin.tokens)
        self.simulator_controls = self.ehr_settings.shows_simulator_controls(runtime.settings)
        self._jobs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="demo-ehr-flow")
        self.refusals = Refusals()  # a refusal shown in the dialog once
        self._announced: list[str] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The time events are recorded at; on the ``as_of`` day when one is set (a test
        installation replaying archived messages), so that "today" agrees with the plugin."""
        now = self.runtime.engine.clock()
        as_of = self.settings.as_of
        if as_of is None:
            return now
        local = in_paris(now)
        return datetime.combine(as_of, local.timetz())

    # -- to the plugin -----------------------------------------------------------------------

    def record(self, event: DiagnosisEvent, consultation_id: int | None) -> IssuanceRecord:
        """Fire ``prostop_diagnosis_recorded``; remember the consultation for the write-back."""
        record = self.runtime.hooks.diagnosis_recorded(event)
        if record is None:
            raise RuntimeError("no plugin answered prostop_diagnosis_recorded")
        self.store.link_issuance(record.id, event.patient.host_patient_id, consultation_id)
        self.shown_on_screen(record.id)
        return record

    def shown_on_screen(self, issuance_id: str) -> None:
        """The screen that caused this request shows its dialog itself: no banner for it."""
        self._collect_announcements()
        with self._lock:
            self._announced = [i for i in self._announced if i != issuance_id]

    def _collect_announcements(self) -> None:
        new = self.plugin.take_new_requests()
        with self._lock:
            self._announced.extend(i for i in new if i not in self._announced)

    def announced(self) -> list[IssuanceRecord]:
        """Confirmation requests that arrived from channels without a screen, still waiting."""
        self._collect_announcements()
        with self._lock:
            ids = list(self._announced)
        waiting = [r for r in (self.runtime.ledger.get(i) for i in ids)
                   if r.state == IssuanceState.AWAITING_CONFIRMATION]
        with self._lock:
            self._announced = [r.id for r in waiting]
        return waiting

    def in_background(self, what: str, action: Callable[[], object],
                      session: str | None = None) -> None:
        """Run a slow step (advance, retry) off the request thread; failures are logged,
        and the record's own state shows the physician what happened. ``session``: the login
        the step runs for — only its PSC token may be used (else the CIBA fallback asks)."""

        def run() -> None:
            try:
                if session is None:
                    action()
                else:
                    with self.plugin.tokens.session(session):
                        action()
            except ProstopError as exc:
                log.warning("%s: %s", what, exc.one_line())
            except Exception:
                log.exception("%s failed", what)

        self._jobs.submit(run)

    def advance_later(self, issuance_id: str, session: str | None = None) -> None:
        self.in_background(f"issuance {issuance_id}",
                           lambda: self.runtime.engine.advance(issuance_id), session)

    def retry_later(self, issuance_id: str, session: str | None = None) -> None:
        self.in_background(f"retry {issuance_id}",
                           lambda: self.runtime.engine.retry(issuance_id), session)

    # -- reading the ledger ------------------------------------------------------------------

    def issuances_of(self, patient: Patient) -> list[IssuanceRecord]:
        """Every issuance for this patient, from any channel, newest first."""
        probe = DiagnosisEvent(
            source=EventSource(adapter=ADAPTER_NAME, host=self.settings.host_name,
                               message_id="probe"),
            patient=patient.ref(), evidence=[SymptomEvidence(present=False)],
        )
        ledger = self.runtime.ledger
        return list(reversed(ledger.patient_history(ledger.patient_key(probe))))

    def close(self) -> None:
        self._jobs.shutdown(wait=False, cancel_futures=True)
        self.login.close()
