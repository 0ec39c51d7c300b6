"""Logging in to the EHR with Pro Santé Connect, and handing the token to the plugin.

The physician picks their name and approves on the e-CPS app (CIBA, the two digits shown on
both screens). The EHR knows who is at the keyboard from PSC's verified answer, and gives the
access token to the plugin through a :class:`~prostop_plugin.psc.HostTokenStore`: a code asked
for within the token's life (about two minutes) needs no second approval. After that the
plugin's built-in CIBA fallback asks again, with the confirmation dialog's two digits.

Sessions are in memory: restarting the EHR logs everyone out, as tokens must not be stored.
"""

from __future__ import annotations

import logging
import secrets
import threading
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


class PscLogin:
    """CIBA logins running in the background, and the sessions they open."""

    def __init__(self, settings: Settings, tokens: HostTokenStore) -> None:
        self._source = CibaTokenSource(settings.psc, settings.eligibility.allowed_professions)
        self._tokens = tokens
        self._attempts: dict[str, LoginAttempt] = {}
        self._sessions: dict[str, Practitioner] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="demo-ehr-login")

    def start(self, practitioner: Practitioner) -> LoginAttempt:
        attempt = LoginAttempt(secrets.token_urlsafe(12), practitioner, new_binding_message())
        with self._lock:
            self._attempts[attempt.id] = attempt
        self._pool.submit(self._run, attempt)
        return attempt

    def _run(self, attempt: LoginAttempt) -> None:
        try:
            token = self._source.token_for(attempt.practitioner, attempt.binding_message)
            self._tokens.put(token)
        except ProstopError as exc:
            attempt.error, attempt.status = exc.one_line(), "failed"
            return
        except Exception as exc:  # shown to the user, never a dead spinner
            log.exception("PSC login failed")
            attempt.error, attempt.status = f"{type(exc).__name__}: {exc}", "failed"
            return
        session_id = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[session_id] = attempt.practitioner
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
        if practitioner is not None:
            self._tokens.forget(practitioner)
            self._source.forget(practitioner)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._source.close()
