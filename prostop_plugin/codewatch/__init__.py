"""Which laboratory codes the admin should map: counted as results arrive, read by
``prostop codes unknown``. :mod:`.store` (the SQLite file), :mod:`.plugin` (the counting)."""

from __future__ import annotations

from prostop_plugin.codewatch.plugin import CodeWatchPlugin
from prostop_plugin.codewatch.store import SeenCodes, SeenCodesError, SeenRow

__all__ = ["CodeWatchPlugin", "SeenCodes", "SeenCodesError", "SeenRow"]
