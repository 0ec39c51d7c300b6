"""The simulated code service: short codes, their validity, single use, no reuse within 24 h."""

from __future__ import annotations

import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

CODE_ALPHABET = string.ascii_uppercase + string.digits
CODE_LENGTH = 6


def draw_code() -> str:
    """Six characters from ``A-Z0-9``, from the operating system's secure RNG."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def iso_millis(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:mm:ss.sssZ``, the format the real service answers with."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class ShortCode:
    code: str
    valid_from: datetime
    valid_until: datetime
    generated_at: datetime
    used_at: datetime | None = None

    def as_json(self) -> dict[str, str]:
        return {
            "code": self.code,
            "validFrom": iso_millis(self.valid_from),
            "validUntil": iso_millis(self.valid_until),
            "dateGenerate": iso_millis(self.generated_at),
        }


class CodeStore:
    """In-memory codes. A value is never handed out twice within ``reuse_after``."""

    def __init__(
        self, validity: timedelta, reuse_after: timedelta,
        draw: Callable[[], str] | None = None,
    ) -> None:
        self.validity = validity
        self._draw = draw or draw_code
        self.reuse_after = reuse_after
        self._codes: dict[str, ShortCode] = {}
        self._lock = threading.Lock()
        self.generated = 0
        self.verified = 0

    def generate(self, now: datetime | None = None) -> ShortCode:
        now = now or datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the wire carries ms
        with self._lock:
            # 36^6 ≈ 2.2e9 values: a clash is rare, but the rule is "never within 24 h"
            for _ in range(100):
                value = self._draw()
                previous = self._codes.get(value)
                if previous is None or now - previous.generated_at >= self.reuse_after:
                    break
            else:  # pragma: no cover - needs billions of live codes
                raise RuntimeError("no free code value")
            code = ShortCode(value, now, now + self.validity, now)
            self._codes[value] = code
            self.generated += 1
            if self.generated % 1000 == 0:
                self._forget_older_than(now - self.reuse_after)
            return code

    def verify(self, value: str, now: datetime | None = None) -> bool:
        """True once for a known, unused, unexpired code; the code is then used up."""
        now = now or datetime.now(UTC)
        with self._lock:
            code = self._codes.get(value.upper())
            if code is None or code.used_at is not None:
                return False
            if not code.valid_from <= now < code.valid_until:
                return False
            code.used_at = now
            self.verified += 1
            return True

    def _forget_older_than(self, cutoff: datetime) -> None:
        stale = [v for v, c in self._codes.items() if c.generated_at < cutoff]
        for value in stale:
            del self._codes[value]
