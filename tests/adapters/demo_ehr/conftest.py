"""The demo EHR for real: the simulator in a thread, a Prostop runtime on a temporary data
folder with the demo EHR's plugin, and the web service on a free loopback port.

Browser tests share one EHR (starting it and the browser costs more than the tests), and each
test uses its own patient and its own browser context (cookies: a fresh login).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from prostop_demo_ehr.plugin import DemoEhrPlugin
from prostop_demo_ehr.samples import sample_file
from prostop_demo_ehr.service import EhrWebService
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.models import IssuanceRecord, IssuanceState
from prostop_plugin.readers import read_bytes
from prostop_plugin.simulator import RunningSimulator, run_in_thread
from prostop_plugin.texts.formatting import PARIS
from tests.corpus_location import CORPUS
from tests.fixtures.browser import french_context
from tests.fixtures.simulator import code_service_settings, psc_settings, simulator_options

#: the shared corpus's dates: its files are eligible "as of" this day
CORPUS_AS_OF = date(2020, 11, 20)
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


class ShiftableClock:
    """The real time, plus an offset a test can move (to see a code expire)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class RunningEhr:
    simulator: RunningSimulator
    runtime: Prostop
    plugin: DemoEhrPlugin
    service: EhrWebService
    clock: ShiftableClock

    @property
    def url(self) -> str:
        return self.service.url


def corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():  # the corpus ships beside the repository (shared/)
        pytest.skip(f"shared corpus file {path} is not available")
    return path


def ehr_settings(data_dir: Path, simulator: RunningSimulator, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "host_name": "CABINET-DURAND",
        "code_service": code_service_settings(simulator),
        "psc": psc_settings(simulator, ciba_timeout=10.0),
        "adapter": {"demo_ehr": {"port": 0}},
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@contextmanager
def started_ehr(folder: Path, simulator: RunningSimulator,
                **overrides: object) -> Iterator[RunningEhr]:
    """A runtime with the demo EHR's plugin, and its web service on a free port."""
    clock = ShiftableClock()
    plugin = DemoEhrPlugin()
    runtime = Prostop.open(ehr_settings(folder, simulator, **overrides), plugins=[plugin],
                           clock=clock)
    try:
        service = runtime.hooks.background_services(runtime)[0]
        assert isinstance(service, EhrWebService)
        service.start(announce=False)
        try:
            yield RunningEhr(simulator, runtime, plugin, service, clock)
        finally:
            service.stop()
    finally:
        runtime.close()
        plugin.close()


def lab_request(ehr: RunningEhr, patient_id: str) -> IssuanceRecord:
    """The patient's positive RT-PCR, arrived from the lab today: a request waiting for a
    decision."""
    patient = ehr.plugin.store().patient(patient_id)
    assert patient is not None
    data = sample_file("rtpcr_positive", patient, datetime.now(PARIS), "LABO-DEMO")
    event = read_bytes(data, "inbox/rtpcr.hl7", "demo_ehr")[0]
    record = ehr.runtime.hooks.diagnosis_recorded(
        event.model_copy(update={"patient": patient.ref()}))
    assert record is not None and record.state == IssuanceState.AWAITING_CONFIRMATION
    return record


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page of a fresh browser context (a fresh login), on a desktop's screen."""
    context = french_context(browser, 1280, 900)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def ehr_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    with run_in_thread(simulator_options(tmp_path_factory.mktemp("simulator"))) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def running_ehr(tmp_path_factory: pytest.TempPathFactory,
                ehr_simulator: RunningSimulator) -> Iterator[RunningEhr]:
    """Today's EHR: events are recorded with today's dates."""
    with started_ehr(tmp_path_factory.mktemp("demo-ehr"), ehr_simulator) as ehr:
        yield ehr


@pytest.fixture(scope="session")
def corpus_ehr(tmp_path_factory: pytest.TempPathFactory,
               ehr_simulator: RunningSimulator) -> Iterator[RunningEhr]:
    """An EHR replaying the shared corpus: eligibility as of the corpus's day."""
    with started_ehr(tmp_path_factory.mktemp("demo-ehr-corpus"), ehr_simulator,
                     as_of=CORPUS_AS_OF) as ehr:
        yield ehr
