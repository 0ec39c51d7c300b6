"""Why the engine refused a physician's decision, kept until the dialog shows it once: the
form posts, the engine refuses (an attestation missing…), the page redirects, and the dialog
it shows next says why."""

from __future__ import annotations

import threading

__all__ = ["Refusals"]


class Refusals:
    """The refusals not shown yet, one per issuance (thread-safe: requests run in threads)."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._lock = threading.Lock()

    def remember(self, issuance_id: str, text: str) -> None:
        with self._lock:
            self._texts[issuance_id] = text

    def take(self, issuance_id: str) -> str | None:
        """The refusal to show, once; ``None`` when there is none."""
        with self._lock:
            return self._texts.pop(issuance_id, None)
