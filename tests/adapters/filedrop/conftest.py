"""Fixtures: an installation with the file-drop plugin registered directly (no entry point)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prostop_filedrop.service import InboxService
from prostop_filedrop.settings import FiledropSettings, load_filedrop_settings
from prostop_plugin.app import Prostop
from tests.adapters.filedrop.helpers import FakeMonotonic, filedrop_section, open_runtime


@pytest.fixture
def section(tmp_path: Path) -> dict[str, Any]:
    return filedrop_section(tmp_path)


@pytest.fixture
def runtime(tmp_path: Path, section: dict[str, Any]) -> Iterator[Prostop]:
    with open_runtime(tmp_path, section) as app:
        yield app


@pytest.fixture
def config(runtime: Prostop) -> FiledropSettings:
    return load_filedrop_settings(runtime.settings)


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def service(runtime: Prostop, config: FiledropSettings, clock: FakeMonotonic) -> InboxService:
    """Not started: tests drive it with ``poll_once`` (the thread is tested separately)."""
    inbox = InboxService(runtime, config, clock=clock)
    inbox.files.prepare()
    return inbox
