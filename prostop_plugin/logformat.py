"""How ``prostop serve`` logs: its level and format (``log_level``, ``log_format``).

``log_format = "json"`` writes one JSON object per line for log shippers (Filebeat, Vector,
Promtail, the Windows event forwarders' JSON inputs): ``time`` (UTC, ISO 8601), ``level``,
``logger``, ``message`` and, when the line concerns one issuance, ``issuance_id``. The id is the
issuance's random identifier, never anything about the patient: the flow's log lines name the
issuance and not the patient (tests keep it so), and this module only adds the id as a field.

A line concerns an issuance when its logger passed ``extra={"issuance_id": …}`` or when its
message names it the way the flow's lines do (``issuance 3f2a9c…: received -> …``):
:class:`IssuanceIdFilter` finds it in either.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Literal

__all__ = ["IssuanceIdFilter", "JsonFormatter", "apply_log_settings"]

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: the flow's lines say "issuance <id>" (ids are 12 hex digits, see issuance.requests)
_NAMED = re.compile(r"\bissuance (?P<id>[0-9a-f]{12})\b")


class IssuanceIdFilter(logging.Filter):
    """Sets ``record.issuance_id`` (``None`` when the line concerns no issuance)."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = getattr(record, "issuance_id", None)
        if found is None:
            match = _NAMED.search(record.getMessage())
            found = match.group("id") if match else None
        record.issuance_id = found
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a traceback, when there is one, in ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        issuance_id = getattr(record, "issuance_id", None)
        if issuance_id is not None:
            entry["issuance_id"] = issuance_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def apply_log_settings(
    level: str, log_format: LogFormat, *, verbose: bool = False,
    logger: logging.Logger | None = None,
) -> None:
    """Apply ``log_level`` (``-v`` wins: INFO) and ``log_format`` to the root logger's
    handlers (``basicConfig``'s, set up by ``main``)."""
    root = logger or logging.getLogger()
    root.setLevel(logging.INFO if verbose else level)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in root.handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, IssuanceIdFilter) for f in handler.filters):
            handler.addFilter(IssuanceIdFilter())
