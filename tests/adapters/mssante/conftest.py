"""Fixtures: a CA, Dovecot (IMAPS) and aiosmtpd (SMTP over TLS) on 127.0.0.1, an installation
with the MSSanté plugin registered directly (no entry point)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prostop_mssante.plugin import MssantePlugin
from prostop_mssante.service import MailboxService
from prostop_mssante.settings import MssanteSettings
from prostop_plugin.app import Prostop
from prostop_plugin.simulator.pki import Pki, make_pki
from tests.adapters.adapter_fixtures import config, runtime
from tests.adapters.mssante.helpers import mssante_section
from tests.adapters.mssante.servers import (
    AIOSMTPD_WARNING,
    Dovecot,
    SmtpSink,
    running_dovecot,
    running_smtp,
)

__all__ = ["config", "runtime"]  # the shared fixtures, used here


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", AIOSMTPD_WARNING)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def dovecot(pki: Pki) -> Iterator[Dovecot]:
    with running_dovecot(pki) as server:
        yield server


@pytest.fixture
def smtp(pki: Pki) -> Iterator[SmtpSink]:
    with running_smtp(pki) as sink:
        yield sink


@pytest.fixture
def section(dovecot: Dovecot, pki: Pki, smtp: SmtpSink) -> dict[str, Any]:
    return mssante_section(dovecot, pki, smtp)


@pytest.fixture
def adapter_plugin() -> MssantePlugin:
    return MssantePlugin()


@pytest.fixture
def service(runtime: Prostop, config: MssanteSettings) -> MailboxService:
    """Not started: tests drive it with ``poll_once``."""
    return MailboxService(runtime, config)
