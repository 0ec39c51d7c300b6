"""Events in: each stored once, attached to the issuance of its patient's episode."""

from __future__ import annotations

from datetime import date

from prostop_plugin import eligibility
from prostop_plugin.config import Settings
from prostop_plugin.issuance import requests
from prostop_plugin.issuance.transitions import Transitions, log
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord, IssuanceState

S = IssuanceState
#: states in which a new event for the same episode starts a new issuance instead of joining
_REOPENING_STATES = (S.NOT_ELIGIBLE, S.DECLINED)


class Intake:
    """Stores events and files them under an issuance: one code per episode."""

    def __init__(self, settings: Settings, transitions: Transitions) -> None:
        self.settings = settings
        self.transitions = transitions
        self.ledger = transitions.ledger

    def ingest(
        self, event: DiagnosisEvent, *, today: date, evaluate: bool = False
    ) -> tuple[IssuanceRecord, bool]:
        """Durably store the event and attach it to an issuance. Returns (record, created).

        The same event twice (same dedupe key) returns the record it joined the first time.
        An event for a patient whose current episode already has a live issuance joins it:
        one code per episode. Safe under concurrent calls (one write transaction at a time).
        ``evaluate``: a new issuance is evaluated before it is written, then written once in
        the state it reached, both transitions recorded in order (one write, not two).
        """
        if event.locale is None:  # readers don't know the installation's language; we do
            event = event.model_copy(update={"locale": self.settings.locale})
        patient_key = self.ledger.patient_key(event)
        window = self.settings.eligibility.episode_window_days
        created: IssuanceRecord | None = None
        evaluated: IssuanceRecord | None = None
        with self.ledger.transaction() as tx:
            match = self.ledger.find_event(tx, event)
            joined = match.issuance_id
            if match.reused_id and joined is None:
                # never acknowledged and dropped: stored as the new message it is
                log.warning(
                    "event from %s/%s reuses a message id already stored with another "
                    "content: stored as a new event", event.source.adapter, event.source.host,
                )
            if joined is None:
                latest = self.ledger.latest_in_patient(tx, patient_key)
                in_episode = latest is not None and (today - latest.episode_start).days <= window
                if latest is not None and in_episode and latest.state not in _REOPENING_STATES:
                    joined = latest.issuance_id
                    self.ledger.insert_event(tx, event, joined, reused_id=match.reused_id)
                else:
                    if latest is not None and in_episode:
                        episode, start = latest.episode, latest.episode_start
                    else:
                        episode, start = self.ledger.episode_key(patient_key, today), today
                    now = self.transitions.clock()
                    created = IssuanceRecord(
                        id=requests.new_issuance_id(), episode=episode, state=S.RECEIVED,
                        event=event, created_at=now, updated_at=now,
                    )
                    payload = event.model_dump_json()  # as stored (made once)
                    if evaluate:  # a patient with no issuance yet has no earlier event
                        evaluated = self._evaluated(created, payload, today,
                                                    earlier=latest is not None)
                    opened = self.ledger.insert_issuance(
                        tx, created, patient_key=patient_key, episode_start=start,
                        actor=event.source.adapter, evaluated=evaluated,
                    )
                    self.ledger.insert_event(tx, event, created.id, reused_id=match.reused_id,
                                             audit_seq=opened, body=payload)
                    self.transitions.notify_after_commit(tx, created, None)
                    if evaluated is not None:
                        self.transitions.notify_after_commit(tx, evaluated, S.RECEIVED)
        if created is not None:
            return evaluated or created, True
        assert joined is not None
        return self.ledger.get(joined), False

    def _evaluated(
        self, record: IssuanceRecord, payload: str, today: date, *, earlier: bool
    ) -> IssuanceRecord | None:
        """A new issuance as its evaluation leaves it (the engine's evaluation: the episode's
        events as the ledger will hold them, this one last and read back as stored), or None
        when the evaluation failed: it is then stored received, and resumed later.
        ``earlier``: whether the episode may hold events already (not for a new patient's)."""
        try:
            stored = self.ledger.episode_events(record.episode) if earlier else []
            events = [*stored, DiagnosisEvent.model_validate_json(payload)]
            decision = eligibility.evaluate(requests.merge_evidence(events),
                                            self.settings.eligibility, today)
            evaluated = record.model_copy(update={"updated_at": self.transitions.clock()})
            requests.apply_decision(evaluated, decision)
        except Exception:
            log.exception("issuance %s: evaluation failed; stored, resumed later", record.id)
            return None
        return evaluated
