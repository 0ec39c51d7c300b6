"""Fixtures: an installation with the file-drop plugin registered directly (no entry point)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prostop_filedrop.plugin import FiledropPlugin
from prostop_filedrop.service import InboxService
from prostop_filedrop.settings import FiledropSettings
from prostop_plugin.app import Prostop
from tests.adapters.adapter_fixtures import config, runtime
from tests.adapters.filedrop.helpers import FakeMonotonic, filedrop_section

__all__ = ["config", "runtime"]  # the shared fixtures, used here


@pytest.fixture
def section(tmp_path: Path) -> dict[str, Any]:
    return filedrop_section(tmp_path)


@pytest.fixture
def adapter_plugin() -> FiledropPlugin:
    return FiledropPlugin()


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def service(runtime: Prostop, config: FiledropSettings, clock: FakeMonotonic) -> InboxService:
    """Not started: tests drive it with ``poll_once`` (the thread is tested separately)."""
    inbox = InboxService(runtime, config, clock=clock)
    inbox.files.prepare()
    return inbox
