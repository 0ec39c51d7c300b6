"""The host API that never blocks a UI: recording and deciding return at once, and the
issuance goes on on the runtime's own worker.

A desktop EHR calls the plugin from its UI thread, an async web host from its event loop:
neither can wait for the physician's e-CPS approval (up to ``[psc] ciba_timeout``) and the
code service. Through :class:`~prostop_plugin.Prostop` they call:

* :meth:`Prostop.record(event) <prostop_plugin.Prostop.record>` — stores the event durably and
  evaluates it, then returns a :class:`Recorded`: the record, and the confirmation request to
  show when one waits for a physician. It never calls the dialog hooks on the caller's thread:
  they are asked on the worker (so other plugins — a banner, a notification — hear of the
  request), and a decision one of them returns is applied there.
* :meth:`Prostop.decide_later(issuance_id, decision) <prostop_plugin.Prostop.decide_later>` —
  checks and commits the physician's decision (a refused one raises
  :class:`~prostop_plugin.errors.ConfirmationRefused` at once, with the text to show), then
  returns; an approval goes on to the PSC token, the code and the write-back on the worker.
* ``arecord`` / ``adecide_later`` — the same for asyncio hosts (``await``, run in a thread).

The host hears of progress through ``prostop_issuance_changed`` (called on the worker's
thread: a desktop host hands it over to its UI thread). The worker carries the caller's
:mod:`contextvars` to each step, so work started inside ``HostTokenStore.session(...)`` is
offered that session's PSC token only.

:class:`RuntimeWorker` is that worker: a few daemon threads owned by the runtime (bounded in
number and in queued steps), stopped when the runtime closes, and — when the runtime is opened
with ``resume_every`` — a ticker that runs :meth:`IssuanceEngine.resume` every few seconds, so
an in-process host retries its own due write-backs and expires its own codes, as
``prostop serve`` does. Nothing is lost when the worker stops: every step is committed to the
ledger, and what did not run resumes at the next tick, ``prostop resume`` or ``serve``.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prostop_plugin.errors import ConfirmationRefused, InvalidTransition, ProstopError
from prostop_plugin.issuance import IssuanceEngine
from prostop_plugin.models import (
    ConfirmationDecision,
    ConfirmationRequest,
    DiagnosisEvent,
    IssuanceRecord,
    IssuanceState,
)

log = logging.getLogger(__name__)

#: threads issuing codes for one runtime (each may wait for an e-CPS approval)
DEFAULT_THREADS = 2
#: steps waiting for a thread; beyond, a step is left to the next resume (it is in the ledger)
DEFAULT_QUEUE_LIMIT = 1000
#: how long closing the runtime waits for the steps in progress (seconds)
DEFAULT_CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Recorded:
    """What :meth:`Prostop.record` returns once the event is durable and evaluated."""

    #: the issuance the event is attached to (``awaiting_confirmation``, ``not_eligible``…)
    record: IssuanceRecord
    #: the dialog to show when the issuance waits for a physician, else ``None``
    confirmation: ConfirmationRequest | None = None

    @property
    def issuance_id(self) -> str:
        return self.record.id


@dataclass(frozen=True)
class _Step:
    what: str
    context: contextvars.Context
    run: Callable[[], object]


def resume_once(engine: IssuanceEngine, who: str) -> None:
    """Advance every unfinished issuance once (due write-backs, expiries, orphans); never
    raises, so that a ticker or a worker loop (``who``, in the log) carries on: the next tick
    may succeed."""
    try:
        engine.resume()  # sets a damaged row aside itself
    except ProstopError as exc:  # the ledger itself unreadable: try again at the next tick
        log.error("%s: %s", who, exc.one_line())
    except Exception:
        log.exception("%s: unexpected error; trying again at the next tick", who)


class RuntimeWorker:
    """The runtime's own threads: issuance steps handed over by the host API, and the
    optional resume ticker. Threads start on first use; :meth:`close` stops them."""

    def __init__(
        self, engine: IssuanceEngine, *, threads: int = DEFAULT_THREADS,
        resume_every: float | None = None, queue_limit: int = DEFAULT_QUEUE_LIMIT,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        if threads < 1 or queue_limit < threads:
            raise ValueError("the runtime worker needs a thread, and room in its queue for "
                             "at least as many steps as threads")
        if resume_every is not None and resume_every <= 0:
            raise ValueError("resume_every must be a positive number of seconds")
        self.engine = engine
        self.threads = threads
        self.resume_every = resume_every
        self.close_timeout = close_timeout
        self._steps: queue.Queue[_Step | None] = queue.Queue(maxsize=queue_limit)
        self._pool: list[threading.Thread] = []
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._unfinished = 0
        self._closed = False

    # -- steps --------------------------------------------------------------------------------

    def submit(self, what: str, step: Callable[[], object]) -> bool:
        """Run ``step`` on a worker thread, in a copy of the caller's context; return at once.

        Returns ``False`` when the step was not queued (the runtime is closing, or the queue is
        full): the issuance then waits in the ledger for the next resume.
        """
        context = contextvars.copy_context()
        with self._lock:
            if self._closed:
                log.warning("%s: the runtime is closing; it resumes from the ledger later", what)
                return False
            try:
                self._steps.put_nowait(_Step(what, context, step))
            except queue.Full:
                log.error("%s: the worker's queue is full; it resumes from the ledger at the "
                          "next resume ('prostop resume', or the runtime's ticker)", what)
                return False
            self._unfinished += 1
            while len(self._pool) < self.threads:
                thread = threading.Thread(
                    target=self._serve, name=f"prostop-worker-{len(self._pool) + 1}", daemon=True
                )
                thread.start()
                self._pool.append(thread)
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted step has finished; ``False`` after ``timeout`` seconds.
        For scripts and tests: a host follows progress through ``prostop_issuance_changed``."""
        deadline = time.monotonic() + timeout
        with self._done:
            while self._unfinished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
        return True

    def _serve(self) -> None:
        while True:
            step = self._steps.get()
            if step is None:
                return
            try:
                step.context.run(step.run)
            except ProstopError as exc:
                log.warning("%s: %s", step.what, exc.one_line())
            except Exception:  # a step's failure is in the ledger; the thread goes on
                log.exception("%s failed", step.what)
            finally:
                with self._done:
                    self._unfinished -= 1
                    self._done.notify_all()

    # -- the resume ticker -------------------------------------------------------------------

    def start(self) -> None:
        """Start the resume ticker when ``resume_every`` is set (a first tick at once)."""
        if self.resume_every is None or self._ticker is not None:
            return
        self._ticker = threading.Thread(target=self._tick_loop, name="prostop-resume",
                                        daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        assert self.resume_every is not None
        self.tick()
        while not self._stop.wait(self.resume_every):
            self.tick()

    def tick(self) -> None:
        """Advance every unfinished issuance once: due write-backs, expiries, orphans."""
        resume_once(self.engine, "resume")

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop taking steps, drop those not started (they are in the ledger), wait up to
        ``close_timeout`` seconds for those in progress. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pool = list(self._pool)
        self._stop.set()
        dropped = 0
        while True:
            try:
                if self._steps.get_nowait() is not None:
                    dropped += 1
            except queue.Empty:
                break
        if dropped:
            log.info("%d issuance step(s) not started: they resume from the ledger later",
                     dropped)
            with self._done:
                self._unfinished -= dropped
                self._done.notify_all()
        for _ in pool:
            self._steps.put(None)
        deadline = time.monotonic() + self.close_timeout
        for thread in [*pool, *([self._ticker] if self._ticker else [])]:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s still busy after %.0f s: left to finish on its own; the ledger "
                            "has every step it committed", thread.name, self.close_timeout)

    def alive(self) -> list[threading.Thread]:
        """The worker's threads still running (none once closed and finished)."""
        return [t for t in [*self._pool, self._ticker] if t is not None and t.is_alive()]


# -- what Prostop.record and Prostop.decide_later do ---------------------------------------------


def record_event(engine: IssuanceEngine, worker: RuntimeWorker, event: DiagnosisEvent) -> Recorded:
    """Store and evaluate ``event`` on the caller's thread; the dialog hooks are asked on the
    worker. See :meth:`Prostop.record`."""
    record, _ = engine.ingest(event)
    starts_waiting = record.state == IssuanceState.RECEIVED  # not a resend of a waiting one
    if record.state in (IssuanceState.RECEIVED, IssuanceState.AWAITING_CONFIRMATION):
        record = engine.evaluate_waiting(record.id)
    if record.state != IssuanceState.AWAITING_CONFIRMATION:
        return Recorded(record)
    request = engine.confirmation_request(record)
    worker.submit(f"issuance {record.id}: confirmation hooks",
                  lambda: ask_dialog_hooks(engine, request, starts_waiting=starts_waiting))
    return Recorded(record, request)


def ask_dialog_hooks(
    engine: IssuanceEngine, request: ConfirmationRequest, *, starts_waiting: bool = False
) -> None:
    """On the worker: offer the request to the dialog hooks; apply a decision one returns.
    When none answers a request that starts waiting, the adapter writes its notice."""
    record = engine.ledger.get(request.issuance_id)
    if record.state != IssuanceState.AWAITING_CONFIRMATION:
        return  # decided meanwhile (the host's own dialog): nothing to ask
    answer = engine.hooks.confirm_issuance(request)
    if answer is None:
        if starts_waiting:
            engine.notify_waiting(request, record)
        return  # waits for the host's dialog, or in the pending queue
    try:
        engine.decide(request.issuance_id, answer)
    except InvalidTransition:
        log.info("issuance %s: decided meanwhile; the dialog hook's answer is not used",
                 request.issuance_id)
    except ConfirmationRefused as refused:
        log.warning("issuance %s: the dialog hook's decision was refused (%s); the request "
                    "waits in the pending queue", request.issuance_id, refused.what)


def decide_later(
    engine: IssuanceEngine, worker: RuntimeWorker, issuance_id: str,
    decision: ConfirmationDecision,
) -> IssuanceRecord:
    """Commit the decision on the caller's thread; issue on the worker. See
    :meth:`Prostop.decide_later`."""
    record = engine.decide(issuance_id, decision, advance=False)
    if record.state == IssuanceState.APPROVED:
        worker.submit(f"issuance {issuance_id}", lambda: engine.advance(issuance_id))
    return record
