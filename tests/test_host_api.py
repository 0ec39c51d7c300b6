"""The host API that never blocks a UI: Prostop.record / decide_later (and their asyncio
forms) return at once, the issuance goes on on the runtime's worker, the host hears of it
through prostop_issuance_changed; a failing dialog hook never loses a request."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prostop_plugin import (
    ConfirmationDecision,
    ConfirmationRefused,
    ConfirmationRequest,
    HostTokenStore,
    IssuanceRecord,
    IssuanceState,
    Prostop,
    WriteBackReceipt,
    hookimpl,
)
from prostop_plugin.host_api import RuntimeWorker
from prostop_plugin.simulator import RunningSimulator
from prostop_plugin.testing import (
    DR_DURAND,
    RuntimeFactory,
    ScriptedPhysician,
    minted_token,
    positive_pcr_event,
    wait_until,
)

S = IssuanceState
HOST = "ui-host"


class UiHost:
    """A desktop host: shows its own dialog (its hook answers None), follows progress through
    the observer, writes the code into its record. Notes the thread of every call."""

    def __init__(self) -> None:
        self.dialog_threads: list[str] = []
        self.changes: list[tuple[str, IssuanceState, str | None]] = []
        self.written: list[str] = []
        self.fail_write_back = False

    @hookimpl
    def prostop_confirm_issuance(self, request: ConfirmationRequest) -> ConfirmationDecision | None:
        self.dialog_threads.append(threading.current_thread().name)
        return None

    @hookimpl
    def prostop_issuance_changed(self, record: IssuanceRecord, previous: Any) -> None:
        self.changes.append((threading.current_thread().name, record.state, record.code_last2))

    @hookimpl
    def prostop_write_back(self, record: IssuanceRecord) -> WriteBackReceipt | None:
        if record.event.source.adapter != HOST:
            return None
        if self.fail_write_back:
            raise ConnectionError("the host's record is locked")
        assert record.code is not None
        self.written.append(record.code.get_secret_value())
        return WriteBackReceipt(adapter=HOST, target="record")

    def states(self) -> list[IssuanceState]:
        return [state for _, state, _ in self.changes]


def generate_requests(sim: RunningSimulator) -> list[dict[str, Any]]:
    return [e for e in sim.logged_requests() if e["path"].endswith("/generate/short")]


@pytest.mark.parametrize("prostop_simulator", [{"latency": 2.0}], indirect=True)
def test_a_ui_thread_records_and_decides_before_the_code_service_is_called(
    prostop_simulator: RunningSimulator, make_prostop_runtime: RuntimeFactory
) -> None:
    """Every request to the simulated services takes 2 s: had record() or decide_later()
    waited for the flow, the code request would be in the simulator's log when they return."""
    host, tokens = UiHost(), HostTokenStore()
    runtime = make_prostop_runtime(host, tokens)
    tokens.put(minted_token(prostop_simulator), session="ui-session")  # the host's PSC login
    seen: dict[str, Any] = {}

    def ui_thread() -> None:
        with HostTokenStore.session("ui-session"):
            recorded = runtime.record(positive_pcr_event(HOST, on=runtime.engine.today()))
            seen["after record"] = generate_requests(prostop_simulator)
            assert recorded.confirmation is not None  # the dialog the UI shows itself
            decision = ScriptedPhysician().decision_for(recorded.confirmation)
            seen["decided"] = runtime.decide_later(recorded.issuance_id, decision)
            seen["after decide"] = generate_requests(prostop_simulator)
            seen["recorded"] = recorded

    ui = threading.Thread(target=ui_thread, name="ui")
    ui.start()
    ui.join(30)
    assert not ui.is_alive()
    assert seen["after record"] == [] and seen["after decide"] == []
    recorded, decided = seen["recorded"], seen["decided"]
    assert recorded.record.state == S.AWAITING_CONFIRMATION and decided.state == S.APPROVED
    wait_until(lambda: S.WRITTEN_BACK in host.states(), what="the code written back")
    # the code arrived through the observer and the write-back, on the runtime's worker
    issued = [(thread, last2) for thread, state, last2 in host.changes if state == S.ISSUED]
    assert len(issued) == 1 and issued[0][0].startswith("prostop-worker")
    assert len(host.written) == 1 and host.written[0].endswith(str(issued[0][1]))
    assert len(generate_requests(prostop_simulator)) == 1
    # the dialog hook ran on the worker too, and the UI session's token was the one used
    assert host.dialog_threads and "ui" not in host.dialog_threads
    assert not [e for e in prostop_simulator.logged_requests() if "/ciba/" in e["path"]]


class RaisingDialog:
    """A host whose dialog hook raises (its UI crashed)."""

    @hookimpl
    def prostop_confirm_issuance(self, request: ConfirmationRequest) -> ConfirmationDecision | None:
        raise RuntimeError("the dialog window could not be created")


def test_a_raising_dialog_hook_leaves_the_request_pending_and_the_caller_gets_its_record(
    make_prostop_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = make_prostop_runtime(RaisingDialog())
    event = positive_pcr_event(HOST, on=datetime.now(UTC).date())
    with caplog.at_level(logging.ERROR, logger="prostop_plugin.plugins"):
        record = runtime.hooks.diagnosis_recorded(event)  # the synchronous path
    assert record is not None and record.state == S.AWAITING_CONFIRMATION
    assert [r.issuance_id for r in runtime.engine.pending()] == [record.id]
    assert "RaisingDialog" in caplog.text and "pending queue" in caplog.text
    assert record.id in caplog.text


def test_after_a_raising_dialog_hook_the_next_one_is_asked(
    make_prostop_runtime: RuntimeFactory
) -> None:
    physician = ScriptedPhysician()
    runtime = make_prostop_runtime(physician, RaisingDialog())  # the raising one is asked first
    record = runtime.hooks.diagnosis_recorded(positive_pcr_event(HOST, on=runtime.engine.today()))
    assert record is not None and record.state.received_code
    assert len(physician.asked) == 1


def test_record_asks_the_dialog_hooks_on_the_worker_and_applies_their_answer(
    make_prostop_runtime: RuntimeFactory
) -> None:
    host, physician = UiHost(), ScriptedPhysician()
    runtime = make_prostop_runtime(physician, host)
    recorded = runtime.record(positive_pcr_event(HOST, on=runtime.engine.today()))
    assert recorded.record.state == S.AWAITING_CONFIRMATION
    assert runtime.worker.wait_idle(30)
    assert host.dialog_threads and all(t.startswith("prostop-worker") for t in host.dialog_threads)
    assert len(physician.asked) == 1
    assert runtime.ledger.get(recorded.issuance_id).state == S.WRITTEN_BACK


def test_a_refused_decision_is_told_at_once_in_both_languages_and_nothing_moves(
    make_prostop_runtime: RuntimeFactory
) -> None:
    runtime = make_prostop_runtime(UiHost())
    recorded = runtime.record(positive_pcr_event(HOST, on=runtime.engine.today()))
    no_attestation = ConfirmationDecision(approved=True, practitioner=DR_DURAND)
    with pytest.raises(ConfirmationRefused) as refused:
        runtime.decide_later(recorded.issuance_id, no_attestation)
    assert "QR code SI-DEP" in refused.value.fr and "QR code" in refused.value.en
    assert refused.value.text("en") == refused.value.en != refused.value.fr
    assert runtime.worker.wait_idle(30)
    assert runtime.ledger.get(recorded.issuance_id).state == S.AWAITING_CONFIRMATION


def test_a_not_eligible_event_comes_back_without_a_request(
    make_prostop_runtime: RuntimeFactory
) -> None:
    runtime = make_prostop_runtime(UiHost())
    event = positive_pcr_event(HOST, on=runtime.engine.today())
    event.evidence[0] = event.evidence[0].model_copy(update={"status": "P"})  # preliminary
    recorded = runtime.record(event)
    assert recorded.record.state == S.NOT_ELIGIBLE and recorded.confirmation is None


def test_asyncio_hosts_await_record_and_decide_and_keep_their_session(
    prostop_simulator: RunningSimulator, make_prostop_runtime: RuntimeFactory
) -> None:
    host, tokens = UiHost(), HostTokenStore()
    runtime = make_prostop_runtime(host, tokens)
    tokens.put(minted_token(prostop_simulator), session="web-session")

    async def request_handler() -> str:
        with HostTokenStore.session("web-session"):
            recorded = await runtime.arecord(positive_pcr_event(HOST, on=runtime.engine.today()))
            assert recorded.confirmation is not None
            decision = ScriptedPhysician().decision_for(recorded.confirmation)
            decided = await runtime.adecide_later(recorded.issuance_id, decision)
            assert decided.state == S.APPROVED
            return recorded.issuance_id

    # the host's own event loop, in its own thread: a browser test's Playwright loop may be
    # running on this one (session fixtures), and asyncio.run() refuses to nest
    with concurrent.futures.ThreadPoolExecutor(1) as host_loop:
        issuance_id = host_loop.submit(asyncio.run, request_handler()).result(timeout=60)
    assert runtime.worker.wait_idle(30)
    assert runtime.ledger.get(issuance_id).state == S.WRITTEN_BACK
    assert not [e for e in prostop_simulator.logged_requests() if "/ciba/" in e["path"]]


class ShiftableClock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_an_in_process_runtime_retries_its_write_backs_and_expires_its_codes(
    make_prostop_runtime: RuntimeFactory
) -> None:
    host, clock = UiHost(), ShiftableClock()
    host.fail_write_back = True
    runtime = make_prostop_runtime(host, resume_every=0.05, clock=clock)
    recorded = runtime.record(positive_pcr_event(HOST, on=runtime.engine.today()))
    assert recorded.confirmation is not None
    runtime.decide_later(recorded.issuance_id,
                         ScriptedPhysician().decision_for(recorded.confirmation))
    issuance_id = recorded.issuance_id
    wait_until(lambda: runtime.ledger.get(issuance_id).state == S.WRITE_BACK_FAILED,
               what="the first write-back to fail")
    host.fail_write_back = False  # nobody calls retry or resume: the runtime's ticker does
    wait_until(lambda: runtime.ledger.get(issuance_id).state == S.WRITTEN_BACK,
               what="the write-back retried by the runtime itself")
    clock.offset = timedelta(hours=2)  # past the code's validity
    wait_until(lambda: runtime.ledger.get(issuance_id).state == S.EXPIRED,
               what="the code expired by the runtime itself")


def test_closing_the_runtime_stops_its_worker(make_prostop_runtime: RuntimeFactory) -> None:
    runtime: Prostop = make_prostop_runtime(UiHost(), resume_every=0.05)
    runtime.record(positive_pcr_event(HOST, on=runtime.engine.today()))
    assert runtime.worker.alive()
    runtime.close()
    assert runtime.worker.alive() == []
    assert runtime.worker.submit("late", lambda: None) is False


def test_a_step_runs_in_the_context_of_the_caller_that_handed_it_over(
    make_prostop_runtime: RuntimeFactory
) -> None:
    worker = RuntimeWorker(make_prostop_runtime().engine, threads=1)
    acting: contextvars.ContextVar[str] = contextvars.ContextVar("acting", default="nobody")
    seen: list[str] = []
    try:
        token = acting.set("session-A")
        worker.submit("step", lambda: seen.append(acting.get()))
        acting.reset(token)
        worker.submit("step", lambda: seen.append(acting.get()))
        assert worker.wait_idle(10)
    finally:
        worker.close()
    assert seen == ["session-A", "nobody"]
