"""Fixtures: a runtime with the MLLP plugin module registered directly (no entry point), and
its listener started on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from prostop_hl7v2_mllp.plugin import plugin as mllp_plugin
from prostop_hl7v2_mllp.server import MLLPService
from prostop_hl7v2_mllp.settings import load_mllp_settings
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.simulator import RunningSimulator
from tests.fixtures.simulator import code_service_settings, psc_settings

#: the corpus is dated 19 November 2020
AS_OF = date(2020, 11, 20)


def mllp_section(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "listen": "127.0.0.1:0", "idle_timeout": 10.0, "shutdown_grace": 1.0,
        "connect_timeout": 2.0, "ack_timeout": 2.0,
    }
    return values | overrides


def runtime_settings(
    tmp_path: Path, section: dict[str, Any], simulator: RunningSimulator | None = None
) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "var", "as_of": AS_OF, "adapter": {"hl7v2_mllp": section},
        "write_back": {"backoff_initial": 0.0, "max_attempts": 4},
    }
    if simulator is not None:
        values |= {"code_service": code_service_settings(simulator),
                   "psc": psc_settings(simulator)}
    return Settings(**values)


@pytest.fixture
def section() -> dict[str, Any]:
    return mllp_section()


@pytest.fixture
def runtime(tmp_path: Path, section: dict[str, Any]) -> Iterator[Prostop]:
    with Prostop.open(runtime_settings(tmp_path, section), plugins=[mllp_plugin]) as app:
        yield app


@pytest.fixture
def listener(runtime: Prostop) -> Iterator[MLLPService]:
    service = MLLPService(runtime, load_mllp_settings(runtime.settings))
    service.start()
    try:
        yield service
    finally:
        service.stop()
