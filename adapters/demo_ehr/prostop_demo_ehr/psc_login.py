"""Logging in to the EHR with Pro Santé Connect, and handing the token to the plugin.

The physician picks their name and approves on the e-CPS app (CIBA, the two digits shown on
both screens). The EHR knows who is at the keyboard from PSC's verified answer, and gives the
access token to the plugin through a :class:`~prostop_plugin.psc.HostTokenStore`, under this
login's session: a code asked for from this session within the token's life (about two
minutes) needs no second approval. Other sessions never get it (each login is its own CIBA
request, approved on the phone); after that the plugin's CIBA fallback asks again, with the
confirmation dialog's two digits.

A new login of a physician cancels their login still waiting (a closed tab must not hold up
the next one); its request on the phone is then answered in vain.

Sessions are in memory: restarting the EHR logs everyone out, as tokens must not be stored.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from prostop_plugin import (
    CibaTokenSource,
    HostTokenStore,
    Practitioner,
    ProstopError,
    Settings,
    new_binding_message,
)

log = logging.getLogger(__name__)

#: the practice's user accounts: the simulator's two fictional physicians
PRACTITIONERS: tuple[Practitioner, ...] = (
    Practitioner(national_id="810003456789", family_name="DURAND", given_name="Claire",
                 profession_code="10"),
    Practitioner(national_id="810009876543", family_name="BERNARD", given_name="Paul",
                 profession_code="10"),
)
PRACTITIONERS_BY_ID = {p.national_id: p for p in PRACTITIONERS}


@dataclass
class LoginAttempt:
    id: str
    practitioner: Practitioner
    binding_message: str
    status: Literal["waiting", "done", "failed"] = "waiting"
    error: str | None = None
    session_id: str | None = field(default=None, repr=False)
    #: PSC's id of this login's request (the phone shows it; the wait page offers only it)
    auth_req_id: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    started: float = field(default_factory=time.monotonic, repr=False)


#: finished attempts are forgotten after this long (seconds)
_ATTEMPTS_KEPT = 600.0


class PscLogin:
    """CIBA logins running in the background, and the sessions they open."""

    def __init__(self, settings: Settings, tokens: HostTokenStore) -> None:
        self._source = CibaTokenSource(settings.psc, settings.eligibility.allowed_professions)
        self._tokens = tokens
        self._attempts: dict[str, LoginAttempt] = {}
        self._sessions: dict[str, Practitioner] = {}
        self._lock = threading.Lock()
        # one waiting login per physician at most (a new one cancels the old): a few threads
        self._pool = ThreadPoolExecutor(max_workers=len(PRACTITIONERS) + 2,
                                        thread_name_prefix="demo-ehr-login")

    def start(self, practitioner: Practitioner) -> LoginAttempt:
        attempt = LoginAttempt(secrets.token_urlsafe(12), practitioner, new_binding_message())
        now = time.monotonic()
        with self._lock:
            for other in list(self._attempts.values()):
                if other.status == "waiting" and \
                        other.practitioner.national_id == practitioner.national_id:
                    other.cancel.set()  # superseded: stops polling, can no longer log in
                elif other.status != "waiting" and now - other.started > _ATTEMPTS_KEPT:
                    del self._attempts[other.id]
            self._attempts[attempt.id] = attempt
        self._pool.submit(self._run, attempt)
        return attempt

    def _run(self, attempt: LoginAttempt) -> None:
        def started(auth_req_id: str) -> None:
            attempt.auth_req_id = auth_req_id

        try:
            token = self._source.token_for(attempt.practitioner, attempt.binding_message,
                                           cancel=attempt.cancel, on_started=started)
        except ProstopError as exc:
            attempt.error, attempt.status = exc.one_line(), "failed"
            return
        except Exception as exc:  # shown to the user, never a dead spinner
            log.exception("PSC login failed")
            attempt.error, attempt.status = f"{type(exc).__name__}: {exc}", "failed"
            return
        # who logs in: PSC's verified answer (token_for checked it is the one chosen)
        who = PRACTITIONERS_BY_ID.get(token.subject, attempt.practitioner)
        session_id = secrets.token_urlsafe(24)
        with self._lock:
            if attempt.cancel.is_set():  # superseded while PSC answered: this login is void
                attempt.error, attempt.status = "replaced by a newer login", "failed"
                return
            self._sessions[session_id] = who
            self._tokens.put(token, session=session_id)
            attempt.session_id = session_id
            attempt.status = "done"

    def attempt(self, attempt_id: str) -> LoginAttempt | None:
        with self._lock:
            return self._attempts.get(attempt_id)

    def practitioner(self, session_id: str | None) -> Practitioner | None:
        if not session_id:
            return None
        with self._lock:
            return self._sessions.get(session_id)

    def logout(self, session_id: str | None) -> None:
        with self._lock:
            practitioner = self._sessions.pop(session_id or "", None)
        if practitioner is not None and session_id:
            self._tokens.forget(session=session_id)

    def close(self) -> None:
        with self._lock:
            for attempt in self._attempts.values():
                attempt.cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._source.close()
