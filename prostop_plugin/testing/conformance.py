"""``AdapterConformance``: the tests every adapter passes, as a class its tests subclass.

::

    from prostop_plugin.testing import AdapterConformance

    class TestMedicabConformance(AdapterConformance):
        adapter = "medicab"

        def make_plugin(self):
            return MedicabPlugin()

        def adapter_section(self, workdir):
            return {"export_dir": str(workdir / "export")}

        def bad_adapter_section(self, workdir):
            return {"export_dir": "relative/path"}, "export_dir"

        def delivered(self, runtime, issuance_id):
            return [p.read_text() for p in (self.workdir / "export").glob(f"*{issuance_id}*")]

        def break_write_back(self, runtime): ...
        def repair_write_back(self, runtime): ...

Each test opens its own runtime on a temporary folder, talking to the simulator (the
``prostop_simulator`` fixture of the kit): the physician is Dr DURAND, whose e-CPS approves at
once. What is checked, and why a host needs it:

* its entry point (group ``prostop``) loads, the runtime registers it for ``adapters = [...]``,
  and given both by entry point and in ``plugins=[...]`` its hooks answer once;
* bad settings fail when the runtime starts, naming the key;
* it ignores other adapters' records (write-back) and requests (confirmation dialog);
* a write-back replayed (after a crash, the core calls it again) changes nothing in the host;
* a write-back that raises stays in the outbox, and a retry delivers it;
* it works under ``prostop serve`` with no UI: its background services start, the request
  waits in the pending queue, the serve worker issues the code and writes it back once a
  physician decided, and the services stop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.errors import ConfigError
from prostop_plugin.hooks import hookimpl
from prostop_plugin.ledger import OutboxStatus
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord, IssuanceState, WriteBackReceipt
from prostop_plugin.plugins import DISABLE_AUTOLOAD_ENV, ENTRY_POINT_GROUP
from prostop_plugin.runner import serve
from prostop_plugin.testing.helpers import (
    ScriptedPhysician,
    issued_record,
    positive_pcr_event,
    runtime_settings,
    wait_until,
)

if TYPE_CHECKING:
    from prostop_plugin.simulator.server import RunningSimulator

S = IssuanceState
#: the adapter name of the records the conformance tests make for "another adapter"
OTHER_ADAPTER = "prostop-testing-other"
_NOT_TAKEN = "no adapter took this write-back"


class OtherAdapterHost:
    """Another adapter of the same installation: takes its own write-backs only."""

    def __init__(self) -> None:
        self.written: list[str] = []

    @hookimpl
    def prostop_write_back(self, record: IssuanceRecord) -> WriteBackReceipt | None:
        if record.event.source.adapter != OTHER_ADAPTER:
            return None
        self.written.append(record.id)
        return WriteBackReceipt(adapter=OTHER_ADAPTER, target=f"other/{record.id}")


class AdapterConformance:
    """Subclass it in a class named ``Test…``, set :attr:`adapter`, implement the methods
    marked *required*; the others have defaults. Per-test state (a peer listening for the
    write-back, a folder) may live on ``self``: pytest makes one instance per test, and an
    ``autouse`` fixture of the subclass can start and stop what the adapter talks to."""

    #: the adapter's name: its entry point in group ``prostop`` and its ``EventSource.adapter``
    adapter: ClassVar[str] = ""
    #: bound on the waits of the ``prostop serve`` test (seconds)
    serve_timeout: ClassVar[float] = 30.0

    #: the plugin of the current test (from :meth:`make_plugin`), and its working folder
    plugin: object
    workdir: Path

    # -- what the adapter's test class provides -------------------------------------------------

    def make_plugin(self) -> object:
        """*Required.* A fresh plugin object: a new instance of the class your entry point's
        object is an instance of (or the entry point's module, for a module plugin)."""
        raise NotImplementedError("AdapterConformance needs make_plugin()")

    def adapter_section(self, workdir: Path) -> dict[str, Any]:
        """The ``[adapter.<name>]`` table of a working installation under ``workdir`` (an
        empty folder of the test's own; :attr:`workdir` holds it for the other methods)."""
        return {}

    def bad_adapter_section(self, workdir: Path) -> tuple[dict[str, Any], str]:
        """*Required.* A table the adapter must refuse at start, and the key its error names."""
        raise NotImplementedError("AdapterConformance needs bad_adapter_section()")

    def settings_overrides(self) -> dict[str, Any]:
        """Other settings of the test installation (e.g. ``as_of`` for dated samples)."""
        return {}

    def feed(self, runtime: Prostop, event: DiagnosisEvent) -> str:
        """Hand ``event`` (eligible, from this adapter) to the core as the adapter does once it
        has read it from its channel; return the issuance id. The default fires
        ``prostop_diagnosis_recorded``; override it to prepare the host first (a patient file
        the write-back needs) or to send the event through the channel itself."""
        record = runtime.hooks.diagnosis_recorded(event)
        assert record is not None, "no plugin answered prostop_diagnosis_recorded"
        return record.id

    def delivered(self, runtime: Prostop, issuance_id: str) -> list[str]:
        """*Required.* What the host holds of this issuance's write-back (files, messages,
        notes: one string each, as the host would see them)."""
        raise NotImplementedError("AdapterConformance needs delivered()")

    def break_write_back(self, runtime: Prostop) -> None:
        """*Required.* Make the host refuse the next write-backs (folder gone, peer down…),
        so that the adapter's ``prostop_write_back`` raises."""
        raise NotImplementedError("AdapterConformance needs break_write_back()")

    def repair_write_back(self, runtime: Prostop) -> None:
        """*Required.* Undo :meth:`break_write_back`."""
        raise NotImplementedError("AdapterConformance needs repair_write_back()")

    # -- the kit's plumbing -----------------------------------------------------------------

    @contextmanager
    def open_runtime(
        self, root: Path, simulator: RunningSimulator, *, plugins: list[object] | None = None,
        adapters: tuple[str, ...] = (), section: dict[str, Any] | None = None,
    ) -> Iterator[Prostop]:
        """A runtime under ``root`` with this adapter's section (or ``section``), talking to
        the simulator; closed on exit."""
        root.mkdir(parents=True, exist_ok=True)
        self.workdir = root
        table = self.adapter_section(root) if section is None else section
        settings = runtime_settings(
            root / "prostop", simulator, adapters=list(adapters),
            adapter={self.adapter: table}, **self.settings_overrides(),
        )
        runtime = Prostop.open(settings, plugins=plugins or [])
        try:
            yield runtime
        finally:
            runtime.close()

    @pytest.fixture
    def adapter_runtime(
        self, tmp_path: Path, prostop_simulator: RunningSimulator
    ) -> Iterator[Prostop]:
        """A runtime with another adapter's host registered first, then this adapter's plugin
        (pluggy asks the last registered first: this adapter always gets the first word)."""
        self.other = OtherAdapterHost()
        self.plugin = self.make_plugin()
        with self.open_runtime(tmp_path, prostop_simulator,
                               plugins=[self.other, self.plugin]) as runtime:
            yield runtime

    def event(self, runtime: Prostop, n: int = 1) -> DiagnosisEvent:
        """An eligible event from this adapter for patient ``n``, dated as the runtime sees
        today (``as_of`` when set)."""
        return positive_pcr_event(self.adapter, n=n, on=runtime.engine.today(),
                                  host=runtime.settings.host_name)

    def run_to_code(self, runtime: Prostop, issuance_id: str) -> IssuanceRecord:
        """Dr DURAND approves the request (when it still waits); the flow runs to the code and
        the write-back on this thread."""
        record = runtime.ledger.get(issuance_id)
        if record.state == S.AWAITING_CONFIRMATION:
            record = ScriptedPhysician().decide(runtime, issuance_id)
        return record

    # -- the conformance tests --------------------------------------------------------------

    def test_its_entry_point_loads_and_registers_once(
        self, tmp_path: Path, prostop_simulator: RunningSimulator,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == self.adapter]
        assert found, (f"no entry point '{self.adapter}' in group '{ENTRY_POINT_GROUP}': "
                       "declare it in your pyproject.toml and reinstall the distribution")
        loaded = found[0].load()
        monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
        with self.open_runtime(tmp_path / "entry-point", prostop_simulator,
                               adapters=(self.adapter,)) as runtime:
            assert runtime.pm.get_plugin(self.adapter) is loaded
            names = [info.name for info in runtime.hooks.adapters()]
            assert self.adapter in names, (
                f"prostop_register_adapters did not describe '{self.adapter}' (got {names})")
        with self.open_runtime(tmp_path / "both-ways", prostop_simulator,
                               adapters=(self.adapter,), plugins=[loaded]) as runtime:
            same = [p for p in runtime.pm.get_plugins() if p is loaded or (
                not isinstance(loaded, ModuleType) and type(p) is type(loaded))]
            assert len(same) == 1, "given in plugins=[...] and by its entry point: registered twice"

    def test_bad_settings_fail_at_start_naming_the_key(
        self, tmp_path: Path, prostop_simulator: RunningSimulator
    ) -> None:
        section, key = self.bad_adapter_section(tmp_path)
        with pytest.raises(ConfigError) as refused, self.open_runtime(
            tmp_path, prostop_simulator, plugins=[self.make_plugin()], section=section
        ):
            pass
        assert key in str(refused.value), f"the error does not name '{key}': {refused.value}"

    def test_it_ignores_other_adapters_records_and_requests(self, adapter_runtime: Prostop) -> None:
        record = issued_record(adapter_runtime, adapter=OTHER_ADAPTER, n=7)
        assert record.state == S.WRITTEN_BACK and self.other.written == [record.id], (
            f"the adapter took the write-back of another adapter's record: {record.receipts}")
        assert self.delivered(adapter_runtime, record.id) == []
        engine = adapter_runtime.engine
        waiting, _ = engine.ingest(positive_pcr_event(OTHER_ADAPTER, n=8, on=engine.today()))
        waiting = engine.evaluate_waiting(waiting.id)
        assert waiting.state == S.AWAITING_CONFIRMATION
        answer = adapter_runtime.hooks.confirm_issuance(engine.confirmation_request(waiting))
        assert answer is None, "the adapter answered another adapter's confirmation request"

    def test_a_replayed_write_back_changes_nothing(self, adapter_runtime: Prostop) -> None:
        issuance_id = self.feed(adapter_runtime, self.event(adapter_runtime))
        record = self.run_to_code(adapter_runtime, issuance_id)
        assert record.state == S.WRITTEN_BACK, record.error
        first = self.delivered(adapter_runtime, issuance_id)
        assert first, "delivered() shows nothing for a record written back"
        for _ in range(2):  # the core calls it again after a crash: idempotent by record id
            again = adapter_runtime.hooks.write_back(
                adapter_runtime.ledger.get(issuance_id, with_code=True))
            assert again is not None, "a replayed write-back was not taken"
        assert self.delivered(adapter_runtime, issuance_id) == first

    def test_a_failing_write_back_stays_in_the_outbox_and_a_retry_delivers_it(
        self, adapter_runtime: Prostop
    ) -> None:
        self.break_write_back(adapter_runtime)
        issuance_id = self.feed(adapter_runtime, self.event(adapter_runtime))
        record = self.run_to_code(adapter_runtime, issuance_id)
        assert record.state == S.WRITE_BACK_FAILED
        entry = adapter_runtime.ledger.outbox_entry(issuance_id)
        assert entry is not None and entry.status == OutboxStatus.PENDING
        assert entry.last_error is not None and entry.last_error != _NOT_TAKEN, (
            "the write-back returned None instead of raising: the host's failure is hidden")
        assert self.delivered(adapter_runtime, issuance_id) == []
        self.repair_write_back(adapter_runtime)
        assert adapter_runtime.engine.retry(issuance_id).state == S.WRITTEN_BACK
        assert self.delivered(adapter_runtime, issuance_id)

    def test_it_works_under_serve_without_a_ui(
        self, tmp_path: Path, prostop_simulator: RunningSimulator
    ) -> None:
        self.plugin = self.make_plugin()
        with self.open_runtime(tmp_path, prostop_simulator, plugins=[self.plugin]) as runtime:
            stop = threading.Event()
            lines: list[str] = []
            thread = threading.Thread(
                target=serve, args=(runtime, stop),
                kwargs={"tick": 0.05, "announce": lines.append}, daemon=True,
            )
            thread.start()
            try:
                wait_until(lambda: any("serving" in line for line in lines),
                           timeout=self.serve_timeout, what="'prostop serve' to start")
                issuance_id = self.feed(runtime, self.event(runtime))
                if runtime.ledger.get(issuance_id).state == S.AWAITING_CONFIRMATION:
                    assert issuance_id in [r.issuance_id for r in runtime.engine.pending()]
                    # a physician approves from a terminal: the serve worker does the rest
                    ScriptedPhysician().decide(runtime, issuance_id, advance=False)
                wait_until(lambda: runtime.ledger.get(issuance_id).state == S.WRITTEN_BACK,
                           timeout=self.serve_timeout, what="the code to be written back")
            finally:
                stop.set()
                thread.join(self.serve_timeout)
            assert not thread.is_alive(), "'prostop serve' did not stop"
            started = [line.removeprefix("started: ") for line in lines
                       if line.startswith("started: ")]
            stopped = [line.removeprefix("stopped: ") for line in lines
                       if line.startswith("stopped: ")]
            assert sorted(started) == sorted(stopped), f"services not stopped: {lines}"
            assert self.delivered(runtime, issuance_id)
