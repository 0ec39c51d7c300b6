"""Shared fixtures. Plugin autoload is off in tests: each test registers what it needs."""

from __future__ import annotations

import os

os.environ.setdefault("PROSTOP_DISABLE_PLUGIN_AUTOLOAD", "1")
from tests.fixtures.browser import browser  # noqa: F401
from tests.fixtures.postgres import postgres_server, postgres_url  # noqa: F401
from tests.fixtures.simulator import simulator  # noqa: F401

pytest_plugins = ["pytester"]  # the test kit is tested as a vendor's project would use it
