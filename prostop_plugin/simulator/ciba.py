"""Simulated CIBA (poll mode): pending requests and how each practitioner answers them."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

from prostop_plugin.simulator.options import Approval, SimPractitioner

CibaStatus = Literal["pending", "approved", "denied", "expired", "consumed"]
#: polls earlier than this share of the interval count as too fast (timer jitter is forgiven)
_TOO_FAST = 0.8


@dataclass
class CibaRequest:
    auth_req_id: str
    practitioner: SimPractitioner
    binding_message: str
    scope: str
    channel: str | None
    approval: Approval
    created: float
    expires_at: float
    interval: float
    decision: Literal["approved", "denied"] | None = None
    last_poll: float | None = None
    consumed: bool = False

    def status(self, now: float) -> CibaStatus:
        if self.consumed:
            return "consumed"
        if self.decision is None:
            if self.approval.mode == "now" or (
                self.approval.mode == "after" and now - self.created >= self.approval.after
            ):
                self.decision = "approved"
            elif self.approval.mode == "deny":
                self.decision = "denied"
        if self.decision is not None:
            return self.decision
        return "expired" if now >= self.expires_at else "pending"

    def as_json(self, now: float) -> dict[str, object]:
        return {
            "auth_req_id": self.auth_req_id,
            "national_id": self.practitioner.national_id,
            "practitioner": self.practitioner.display(),
            "binding_message": self.binding_message,
            "channel": self.channel,
            "status": self.status(now),
            "expires_in": max(0, round(self.expires_at - now)),
        }


PollAnswer = Literal[
    "authorization_pending", "slow_down", "access_denied", "expired_token", "invalid_grant", "ok"
]


class CibaRequests:
    """Thread-safe store of CIBA requests (the admin endpoints decide from another thread)."""

    def __init__(self, expires_in: float, interval: float, slow_down_increment: float) -> None:
        self.expires_in = expires_in
        self.interval = interval
        self.slow_down_increment = slow_down_increment
        self._requests: dict[str, CibaRequest] = {}
        self._lock = threading.Lock()

    def start(
        self, practitioner: SimPractitioner, approval: Approval, binding_message: str,
        scope: str, channel: str | None,
    ) -> CibaRequest:
        now = time.monotonic()
        request = CibaRequest(
            auth_req_id=secrets.token_urlsafe(24),
            practitioner=practitioner,
            binding_message=binding_message,
            scope=scope,
            channel=channel,
            approval=approval,
            created=now,
            expires_at=now + self.expires_in,
            interval=self.interval,
        )
        with self._lock:
            self._forget_expired(now)
            self._requests[request.auth_req_id] = request
        return request

    def poll(self, auth_req_id: str) -> tuple[PollAnswer, CibaRequest | None]:
        """What the token endpoint answers to one poll; ``ok`` consumes the request."""
        now = time.monotonic()
        with self._lock:
            request = self._requests.get(auth_req_id)
            if request is None:
                return "invalid_grant", None
            status = request.status(now)
            if status == "consumed":
                return "invalid_grant", request
            if status == "expired":
                return "expired_token", request
            if status == "denied":
                return "access_denied", request
            too_fast = (
                request.last_poll is not None
                and now - request.last_poll < request.interval * _TOO_FAST
            )
            request.last_poll = now
            if too_fast:
                request.interval += self.slow_down_increment
                return "slow_down", request
            if status == "pending":
                return "authorization_pending", request
            request.consumed = True
            return "ok", request

    def decide(
        self, auth_req_id: str, decision: Literal["approved", "denied"]
    ) -> CibaRequest | None:
        """The practitioner's answer given by hand (admin endpoint); None when unknown."""
        now = time.monotonic()
        with self._lock:
            request = self._requests.get(auth_req_id)
            if request is None or request.status(now) != "pending":
                return request
            request.decision = decision
            return request

    def listing(self) -> list[dict[str, object]]:
        now = time.monotonic()
        with self._lock:
            return [r.as_json(now) for r in self._requests.values()]

    def _forget_expired(self, now: float) -> None:
        # keep expired requests a while so late polls still get expired_token
        stale = [k for k, r in self._requests.items() if now - r.expires_at > 600]
        for key in stale:
            del self._requests[key]
