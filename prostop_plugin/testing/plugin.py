"""The pytest plugin of the test kit, registered with pytest's ``pytest11`` entry point: once
prostop-plugin is installed, these fixtures are available in every test (run pytest with
``-p prostop_plugin.testing.plugin`` when plugin autoloading is off).

``prostop_simulator``
    the ProStopCovid + Pro Santé Connect simulator on a free loopback port: one server per
    session, reset before each test, its request log in the test's ``tmp_path``
    (``logged_requests()``), faults on demand (``queue_faults("503:2")``); other options
    (latency, approvals, token lifetime…) by indirect parametrisation.
``prostop_plugins`` / ``prostop_adapters``
    what ``prostop_runtime`` registers: override them in your ``conftest.py`` (default: none).
``prostop_runtime``
    a :class:`~prostop_plugin.Prostop` on a temporary ``data_dir``, talking to the simulator.
``make_prostop_runtime``
    a factory for more: ``make_prostop_runtime(MyPlugin(), adapters=["my_ehr"], as_of=...)``;
    each runtime is closed after the test.
``prostop_physician``
    a :class:`~prostop_plugin.testing.ScriptedPhysician` (Dr DURAND, approving).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.plugins import DISABLE_AUTOLOAD_ENV
from prostop_plugin.testing.helpers import ScriptedPhysician, runtime_settings
from prostop_plugin.testing.simulator import running_simulator

if TYPE_CHECKING:
    from prostop_plugin.simulator.server import RunningSimulator


class RuntimeFactory:
    """Opens runtimes for one test (``make_prostop_runtime``) and closes them after it."""

    def __init__(
        self, root: Path, simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.root = root
        self.simulator = simulator
        self.monkeypatch = monkeypatch
        self.opened: list[Prostop] = []

    def __call__(
        self, *plugins: object, adapters: tuple[str, ...] | list[str] = (),
        resume_every: float | None = None, clock: Callable[[], datetime] | None = None,
        **settings: Any,
    ) -> Prostop:
        """A runtime with ``plugins`` registered and ``adapters`` loaded by their entry points
        (entry-point loading is switched on for it); ``settings`` override any key, e.g.
        ``as_of=date(2020, 11, 20)`` or ``adapter={"my_ehr": {...}}``."""
        if adapters:
            self.monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
        data_dir = self.root / f"prostop-{len(self.opened) + 1}"
        values: dict[str, Any] = {"adapters": list(adapters)} | settings
        extra: dict[str, Any] = {} if clock is None else {"clock": clock}
        runtime = Prostop.open(
            runtime_settings(data_dir, self.simulator, **values), plugins=list(plugins),
            resume_every=resume_every, **extra,
        )
        self.opened.append(runtime)
        return runtime

    def close(self) -> None:
        for runtime in reversed(self.opened):
            runtime.close()


@pytest.fixture
def prostop_simulator(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[RunningSimulator]:
    yield from running_simulator(request, tmp_path)


@pytest.fixture
def prostop_plugins() -> list[object]:
    return []


@pytest.fixture
def prostop_adapters() -> list[str]:
    return []


@pytest.fixture
def make_prostop_runtime(
    tmp_path: Path, prostop_simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RuntimeFactory]:
    factory = RuntimeFactory(tmp_path, prostop_simulator, monkeypatch)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def prostop_runtime(
    make_prostop_runtime: RuntimeFactory, prostop_plugins: list[object],
    prostop_adapters: list[str],
) -> Prostop:
    return make_prostop_runtime(*prostop_plugins, adapters=prostop_adapters)


@pytest.fixture
def prostop_physician() -> ScriptedPhysician:
    return ScriptedPhysician()
