"""What the adapters' tests share: a runtime with the adapter's plugin registered directly
(no entry point) on its ``[adapter.<name>]`` section, dated as the corpus.

An adapter's ``conftest.py`` provides the ``adapter_plugin`` and ``section`` fixtures and
imports ``runtime`` and ``config`` from here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from prostop_plugin import AdapterPlugin
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings

AS_OF = date(2020, 11, 20)  # the corpus is dated November 2020

__all__ = ["AS_OF", "config", "open_adapter_runtime", "runtime"]


def open_adapter_runtime(tmp_path: Path, plugin: AdapterPlugin[Any], section: dict[str, Any],
                         *plugins: object) -> Prostop:
    settings = Settings(data_dir=tmp_path / "var", as_of=AS_OF,
                        adapter={plugin.info.name: section})
    return Prostop.open(settings, plugins=[plugin, *plugins])


@pytest.fixture
def runtime(tmp_path: Path, section: dict[str, Any],
            adapter_plugin: AdapterPlugin[Any]) -> Iterator[Prostop]:
    with open_adapter_runtime(tmp_path, adapter_plugin, section) as app:
        yield app


@pytest.fixture
def config(runtime: Prostop, adapter_plugin: AdapterPlugin[Any]) -> Any:
    """The section, validated as the adapter validates it."""
    return adapter_plugin.load(runtime.settings)
