"""The inbox watcher: a background service polling the inbox (see the README, "Why polling").

One thread. Each poll: files waiting in ``processing/`` whose retry is due (at start: every
file a crash left there, before anything new), then the inbox's complete files, oldest
first. A file leaves ``processing/`` only after the core returned, i.e. after its events are
durable in the ledger; a crash anywhere before that leaves it in ``processing/``, read again at
the next start, and the ledger's deduplication makes that second reading a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prostop_filedrop.folders import (
    ClaimedFile,
    FolderSet,
    Seen,
    SettleTracker,
    list_candidates,
)
from prostop_filedrop.intake import incomplete, take_in
from prostop_filedrop.settings import ADAPTER_NAME, FiledropSettings
from prostop_plugin import IntakeOutcome, IntakeResult, Prostop, display_name, metrics

log = logging.getLogger(__name__)

#: files looked at per poll: a flood of files is worked through over several polls
MAX_FILES_PER_POLL = 1000
MAX_RETRY_DELAY = 300.0
STOP_TIMEOUT = 30.0


@dataclass
class _Retry:
    attempts: int
    due: float


class InboxService:
    """Claims complete files from the inbox, records them, files them in done/ or quarantine/."""

    def __init__(
        self, runtime: Prostop, config: FiledropSettings, *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.config = config
        self.files = FolderSet(config.folders())
        self.clock = clock
        self.tracker = SettleTracker(config.settle_seconds, clock)
        self.name = f"file drop {config.inbox}"
        self._retries: dict[str, _Retry] = {}
        self._incomplete: dict[str, Seen] = {}  # inbox files that look cut short, since when
        self._recovered = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_problem: str | None = None

    # -- BackgroundService ---------------------------------------------------------------

    def start(self) -> None:
        """Check the folders (a bad one is a ConfigError now, not a silent idle loop) and
        start polling."""
        self.files.prepare()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="prostop-filedrop")
        self._thread.start()

    def check(self) -> str:
        """What start checks, for ``prostop doctor``: the folders exist, are writable and the
        state folders are on the inbox's disk."""
        self.files.prepare()
        return f"inbox {self.config.inbox}, outbox {self.config.outbox}: ready"

    def stop(self) -> None:
        """Finish the file in hand (the core call is short: no UI on this channel) and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive():
                log.warning("file drop: still busy with a file after %.0f s; it stays in "
                            "processing/ and is read again at the next start", STOP_TIMEOUT)
            self._thread = None

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._guarded_poll()
                self._stop.wait(self.config.poll_interval)
        finally:
            self.runtime.ledger.close()  # this thread's connection

    def _guarded_poll(self) -> None:
        """One poll; a folder problem (share offline, permissions) is logged once, not raised."""
        try:
            self.poll_once()
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            if problem != self._last_problem:
                log.error("file drop: %s (retrying every %.1f s)", problem,
                          self.config.poll_interval)
                self._last_problem = problem
        else:
            if self._last_problem is not None:
                log.info("file drop: working again")
            self._last_problem = None

    def poll_once(self) -> int:
        """Process what is due now; return the number of files that left ``processing/``."""
        finished = 0
        for waiting in self._due_in_processing():
            if self._stop.is_set():
                return finished
            finished += self.process(waiting)
        entries = list_candidates(self.config.inbox, MAX_FILES_PER_POLL)
        stats = {name: (size, mtime_ns) for name, size, mtime_ns in entries}
        self._incomplete = {k: v for k, v in self._incomplete.items() if k in stats}
        for name in self.tracker.settled(entries):
            if self._stop.is_set():
                break
            if self._waits_for_the_rest(name, *stats[name]):
                continue
            claimed = self.files.claim(name)
            self.tracker.forget(name)
            if claimed is not None:
                finished += self.process(claimed)
        return finished

    def _waits_for_the_rest(self, name: str, size: int, mtime_ns: int) -> bool:
        """Whether a settled file that looks cut short stays in the inbox: its writer may have
        paused longer than ``settle_seconds``. It is read again after each further settle
        time, and claimed (then quarantined, saying why) once it has stayed unchanged and
        incomplete for ``incomplete_timeout``."""
        shown = display_name(name)
        problem = incomplete(self.config.inbox / name, shown, self.config.max_file_bytes)
        if problem is None:
            self._incomplete.pop(name, None)
            return False
        now = self.clock()
        since = self._incomplete.get(name)
        if since is None or (since.size, since.mtime_ns) != (size, mtime_ns):
            since = self._incomplete[name] = Seen(size, mtime_ns, now)
            log.info("%s: looks incomplete (%s); left in the inbox for up to %g s for the rest",
                     shown, problem.what, self.config.incomplete_timeout)
        if now - since.since >= self.config.incomplete_timeout:
            self._incomplete.pop(name, None)
            return False
        self.tracker.forget(name)  # looked at again after another settle time
        return True

    def _due_in_processing(self) -> list[ClaimedFile]:
        now = self.clock()
        if not self._recovered:  # first poll: whatever a crash left there, before new files
            waiting = self.files.in_processing()
            if waiting:
                log.info("file drop: %d file(s) left in processing/ by an earlier run: "
                         "reading them again first", len(waiting))
            self._retries = {claimed.name: _Retry(0, now) for claimed in waiting}
            self._recovered = True
        if not self._retries:
            return []
        waiting = self.files.in_processing()
        present = {claimed.name for claimed in waiting}
        self._retries = {k: v for k, v in self._retries.items() if k in present}
        due = [c for c in waiting if c.name in self._retries and self._retries[c.name].due <= now]
        return due[:MAX_FILES_PER_POLL]

    def process(self, claimed: ClaimedFile) -> int:
        """Read and record one claimed file, then move it; 1 when it left processing/."""
        try:
            result = take_in(claimed, self.runtime, self.config)
            if result.outcome is not IntakeOutcome.RETRY:
                self._file_away(claimed, result)
                self._retries.pop(claimed.name, None)
                return 1
            failure = result.failure or "unknown failure"
        except Exception as exc:  # disk full, share gone…: the file stays, tried again later
            log.debug("file drop: %s", claimed.original_name, exc_info=True)
            failure = f"{type(exc).__name__}: {exc}"
        retry = self._retries.get(claimed.name, _Retry(0, 0.0))
        retry.attempts += 1
        delay = min(MAX_RETRY_DELAY, self.config.poll_interval * 2 ** retry.attempts)
        retry.due = self.clock() + delay
        self._retries[claimed.name] = retry
        log.error("%s: not finished (%s); kept in processing/, trying again in %.0f s",
                  claimed.original_name, failure, delay)
        return 0

    def _file_away(self, claimed: ClaimedFile, result: IntakeResult) -> None:
        name = claimed.original_name
        unusable = result.outcome is IntakeOutcome.UNUSABLE
        outcome = "quarantined" if unusable else result.outcome.value
        metrics.file_processed(ADAPTER_NAME, outcome,
                               type(result.problem).__name__ if result.problem else None)
        if result.outcome is IntakeOutcome.UNUSABLE:
            assert result.problem is not None
            self.files.to_quarantine(claimed, result.problem)
            log.warning("%s: quarantined: %s", name, result.problem.one_line())
        elif result.outcome is IntakeOutcome.IRRELEVANT:
            self.files.to_done(claimed)
            log.info("%s: no COVID-19 evidence; filed in done/ without storing anything", name)
        else:
            self.files.to_done(claimed)
            log.info("%s: %d event(s) recorded", name, result.recorded)
