"""Links from a CDS Hooks card to "this patient" in the console, without patient data in URLs.

A card's link carries a random handle; the console keeps, in memory only, what the handle
stands for: the patient as the EHR's prefetch named them, the ledger's keyed digest of their
INS (to find their requests), and the decision evaluated from the prefetch. Handles expire
(12 hours by default) and are forgotten when the console stops: the EHR shows a fresh card,
with a fresh link, each time the patient's record is opened. The same patient keeps the same
handle while it is valid, so repeated calls do not pile up handles.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

from prostop_plugin.models import EligibilityDecision, PatientRef

#: how long a card's link opens the patient's page
LINK_LIFETIME_SECONDS = 12 * 3600
#: the most patients remembered at once (the oldest are forgotten first)
MAX_LINKS = 10_000


@dataclass(frozen=True)
class PatientView:
    """What a card's link shows: the patient, their requests' key, the evaluation."""

    patient: PatientRef
    patient_key: str | None  # the ledger's digest of the INS; None without a qualified INS
    decision: EligibilityDecision | None  # None when the prefetch held nothing relevant
    created: float


class PatientLinks:
    """Handles to :class:`PatientView`, in memory, bounded in number and lifetime."""

    def __init__(self, *, lifetime: float = LINK_LIFETIME_SECONDS,
                 limit: int = MAX_LINKS) -> None:
        self.lifetime = lifetime
        self.limit = limit
        self._views: OrderedDict[str, PatientView] = OrderedDict()
        self._by_patient: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, patient: PatientRef, patient_key: str | None,
            decision: EligibilityDecision | None) -> str:
        """The handle of this patient's page (the same one while it is valid)."""
        identity = patient_key or f"host:{patient.host_patient_id}"
        now = time.monotonic()
        view = PatientView(patient, patient_key, decision, now)
        with self._lock:
            self._expire(now)
            handle = self._by_patient.get(identity)
            if handle is not None:
                created = self._views[handle].created
                self._views[handle] = replace(view, created=created)
                return handle
            handle = secrets.token_urlsafe(24)
            self._views[handle] = view
            self._by_patient[identity] = handle
            while len(self._views) > self.limit:
                self._forget(next(iter(self._views)))
            return handle

    def get(self, handle: str) -> PatientView | None:
        with self._lock:
            self._expire(time.monotonic())
            return self._views.get(handle)

    def _expire(self, now: float) -> None:
        while self._views:
            handle, view = next(iter(self._views.items()))
            if now - view.created < self.lifetime:
                return
            self._forget(handle)

    def _forget(self, handle: str) -> None:
        view = self._views.pop(handle)
        identity = view.patient_key or f"host:{view.patient.host_patient_id}"
        if self._by_patient.get(identity) == handle:
            del self._by_patient[identity]
