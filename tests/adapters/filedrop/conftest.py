"""Fixtures: an installation with the file-drop plugin registered directly (no entry point)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from prostop_filedrop.plugin import FiledropPlugin
from prostop_filedrop.service import InboxService
from prostop_filedrop.settings import FiledropSettings, load_filedrop_settings

from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from tests.adapters.filedrop.helpers import filedrop_section

AS_OF = date(2020, 11, 20)  # the corpus is dated November 2020


class FakeMonotonic:
    """A monotonic clock the test moves by hand (settle times, retry delays)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def section(tmp_path: Path) -> dict[str, Any]:
    return filedrop_section(tmp_path)


def open_runtime(tmp_path: Path, section: dict[str, Any], *plugins: object) -> Prostop:
    settings = Settings(data_dir=tmp_path / "var", as_of=AS_OF, adapter={"filedrop": section})
    return Prostop.open(settings, plugins=[FiledropPlugin(), *plugins])


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
