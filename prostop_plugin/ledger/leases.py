"""Leases on the slow steps: who holds one, and when another process may take it over."""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime


def process_identity() -> str:
    """Who holds a lease: host, pid and thread, so a dead owner on this host is recognised at
    once and two threads of one process never share a lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def owner_is_dead(owner: str) -> bool:
    host, pid_text, _thread = [*owner.rsplit(":", 2), "", ""][:3]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's process: only the lease expiry can free it
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lease_free(owner: str | None, until: datetime | None, now: datetime) -> bool:
    """True when nobody else holds the lease: none, ours, run out, or its owner died."""
    if owner is None or owner == process_identity():
        return True
    return (until is not None and until <= now) or owner_is_dead(owner)
