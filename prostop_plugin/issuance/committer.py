"""Group commit: events from every sender stored by one writer, many per durable commit.

An MLLP connection, the file drop, an in-process host… each hands its work (store an event,
evaluate it) to :meth:`GroupCommitter.run` and waits. One writer thread takes whatever work is
waiting and runs it all in one transaction, each piece in a savepoint of its own (a piece that
fails is rolled back alone and its sender gets the error), then commits once: one sync for the
whole batch. Only then are the senders released, each with its result, and each runs its own
after-commit callbacks (the observers) in its own thread. A sender is therefore answered only
once its work is durable, and a crash before the commit loses nothing that was acknowledged.

The wait is bounded: while the disk syncs one batch, the next one gathers by itself; beyond
that, the writer waits for more work only when the previous batch had several senders, at most
``max_wait`` seconds and up to ``max_batch`` pieces.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from prostop_plugin.ledger import Ledger

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 64
MAX_WAIT = 0.002


@dataclass(eq=False)
class _Job(Generic[T]):
    work: Callable[[], T]
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None
    callbacks: list[Callable[[], None]] = field(default_factory=list)


class GroupCommitter:
    """One writer thread committing the work of many senders in batches."""

    def __init__(
        self, ledger: Ledger, *, max_batch: int = MAX_BATCH, max_wait: float = MAX_WAIT
    ) -> None:
        self.ledger = ledger
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait)
        self._queue: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._last_batch = 1
        #: batches committed and pieces of work in them (for benchmarks and tests)
        self.batches = 0
        self.pieces = 0

    def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` in the next batch; return its result once the batch is durable.

        Called from inside a transaction of this thread (or the writer itself), or after
        :meth:`close`, the work runs at once in a transaction (a savepoint) of its own.
        """
        if self.ledger.current() is not None or self._closed or (
            threading.current_thread() is self._thread
        ):
            with self.ledger.transaction():
                return work()
        job: _Job[T] = _Job(work)
        self._ensure_writer()
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        for callback in job.callbacks:
            callback()
        return job.result  # type: ignore[return-value]

    def _ensure_writer(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="prostop-ledger-writer")
                self._thread.start()

    def close(self) -> None:
        """Finish the batches waiting, then stop the writer (later work runs at once)."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(30)

    # -- the writer ----------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while (first := self._queue.get()) is not None:
                batch = self._gather(first)
                self._commit(batch[:-1] if batch[-1] is None else batch)
                if batch[-1] is None:
                    return
        finally:
            self.ledger.close_thread()

    def _gather(self, first: _Job[Any]) -> list[_Job[Any] | None]:
        batch: list[_Job[Any] | None] = [first]
        expected = min(self.max_batch, self._last_batch)
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if len(batch) >= expected or remaining <= 0:
                    break
                try:
                    job = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            batch.append(job)
            if job is None:
                break
        return batch

    def _commit(self, batch: list[Any]) -> None:
        jobs: list[_Job[Any]] = batch
        if not jobs:
            return
        try:
            with self.ledger.transaction() as tx:
                for job in jobs:
                    try:
                        with self.ledger.savepoint():  # fails alone
                            job.result = job.work()
                    except Exception as exc:
                        job.error = exc
                    job.callbacks = tx.take_after_commit()
        except BaseException as exc:  # the commit itself failed: none of them is stored
            log.error("ledger writer: a batch of %d could not be committed: %s", len(jobs), exc)
            for job in jobs:
                if job.error is None:
                    job.error = exc
                job.callbacks = []
        self._last_batch = len(jobs)
        self.batches += 1
        self.pieces += len(jobs)
        for job in jobs:
            job.done.set()
