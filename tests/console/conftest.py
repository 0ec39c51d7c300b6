"""The console for real: the simulator (PSC and the code service), a Prostop runtime with the
file-drop adapter on a temporary data folder, and the console served by uvicorn on a free
loopback port. Requests are made over real HTTP (httpx) or by chromium (Playwright)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from prostop_filedrop.plugin import FiledropPlugin
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.console import ConsoleService
from prostop_plugin.models import IssuanceRecord, IssuanceState
from prostop_plugin.readers import read_bytes
from prostop_plugin.simulator import RunningSimulator
from tests.corpus_location import CORPUS
from tests.fixtures.simulator import code_service_settings, psc_settings

AS_OF = date(2020, 11, 20)  # the shared corpus is dated November 2020
DURAND = "810003456789"
BERNARD = "810009876543"
PETIT_NURSE = "810005550123"
LEROY_PHARMACIST = "810007770456"
HPRIM = "hprim_rtpcr_positif.hpr"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: a second patient: the HPRIM positive with another valid NIR, name and recipient
OTHER_NIR = b"180013306312329"


def other_patient(name: bytes = b"MARTIN", recipient: bytes = b"10003456789 DR DURAND") -> bytes:
    return corpus(HPRIM).replace(b"280013306312376", OTHER_NIR).replace(b"DUPONT", name) \
        .replace(b"10003456789 DR DURAND", recipient)


def corpus(name: str) -> bytes:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"shared corpus file {path} is not available")
    return path.read_bytes()


@dataclass
class RunningConsole:
    runtime: Prostop
    service: ConsoleService
    simulator: RunningSimulator
    root: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.bound_port}"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    def waiting(self, name: str = HPRIM, data: bytes | None = None) -> IssuanceRecord:
        """A corpus file as the file drop hands it over: a request waiting for a physician."""
        [event] = read_bytes(data if data is not None else corpus(name), name, "filedrop")
        record = self.runtime.hooks.diagnosis_recorded(event)
        assert record is not None and record.state == IssuanceState.AWAITING_CONFIRMATION
        return record


def console_settings(root: Path, simulator: RunningSimulator, port: int,
                     **console: Any) -> Settings:
    (root / "inbox").mkdir(exist_ok=True)
    (root / "outbox").mkdir(exist_ok=True)
    return Settings(
        data_dir=root / "var", as_of=AS_OF, host_name="CABINET-DURAND",
        code_service=code_service_settings(simulator),
        psc=psc_settings(simulator, ciba_timeout=10.0),
        console={"listen": f"127.0.0.1:{port}"} | console,
        adapter={"filedrop": {"inbox": str(root / "inbox"), "outbox": str(root / "outbox"),
                              "poll_interval": 0.05, "settle_seconds": 0.0}},
    )


@contextmanager
def started_console(root: Path, simulator: RunningSimulator,
                    **console: Any) -> Iterator[RunningConsole]:
    settings = console_settings(root, simulator, free_port(), **console)
    runtime = Prostop.open(settings, plugins=[FiledropPlugin()])
    service = ConsoleService(runtime)
    try:
        service.start()
        yield RunningConsole(runtime, service, simulator, root)
    finally:
        service.stop()
        runtime.close()


@pytest.fixture
def console(tmp_path: Path, simulator: RunningSimulator) -> Iterator[RunningConsole]:
    with started_console(tmp_path, simulator) as running:
        yield running


@pytest.fixture
def browser_client() -> Iterator[httpx.Client]:
    """A client that keeps cookies like a browser (redirects followed by hand)."""
    with httpx.Client(follow_redirects=False, timeout=10.0) as client:
        yield client


def follow(client: httpx.Client, response: httpx.Response, limit: int = 10) -> httpx.Response:
    for _ in range(limit):
        if response.status_code not in (301, 302, 303, 307):
            return response
        response = client.get(urljoin(str(response.url), response.headers["location"]))
    raise AssertionError("too many redirects")


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def psc_login_page(client: httpx.Client, console: RunningConsole,
                   next_path: str = "/demandes") -> httpx.Response:
    """From the console's button to the simulated PSC login page."""
    started = client.get(f"{console.url}/connexion/psc", params={"suite": next_path})
    assert started.status_code == 303, started.text
    page = client.get(started.headers["location"])
    assert page.status_code == 200 and "Pro Santé Connect" in page.text
    return page


def answer_psc(client: httpx.Client, console: RunningConsole, page: httpx.Response,
               national_id: str) -> str:
    """Choose the practitioner on PSC's page; return the callback URL PSC redirects to."""
    page_id = re.search(r'name="page" value="([^"]+)"', page.text)
    assert page_id is not None
    answer = client.post(console.simulator.psc_issuer + "/protocol/openid-connect/auth",
                         data={"page": page_id.group(1), "practitioner": national_id,
                               "method": "ecps", "answer": "login"})
    assert answer.status_code == 302
    return str(answer.headers["location"])


def log_in(client: httpx.Client, console: RunningConsole, national_id: str = DURAND,
           next_path: str = "/demandes") -> httpx.Response:
    """The whole authorization code login; returns the page after it."""
    callback = answer_psc(client, console, psc_login_page(client, console, next_path),
                          national_id)
    landed = client.get(callback)
    assert landed.status_code == 200, landed.text
    assert 'http-equiv="refresh"' in landed.text
    return follow(client, client.get(f"{console.url}{next_path}"))
