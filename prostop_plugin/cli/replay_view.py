"""How ``prostop submit`` shows a replay: a progress bar on a terminal (rich), plain lines
otherwise (a log, a pipe, a scheduled task), and the summary table at the end."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from prostop_plugin.models import Locale
from prostop_plugin.replay import ReplayProgress, ReplaySummary
from prostop_plugin.texts.operations import operations_text


class RateColumn(ProgressColumn):
    """Files per second, in the installation's language."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}".replace(",", " ") if speed else "",
                    style="progress.data.speed")


class TerminalProgress:
    """A rich progress bar: files, rate, time left."""

    def __init__(self, locale: Locale, console: Console) -> None:
        unit = "fichiers/s" if locale == "fr" else "files/s"
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            RateColumn(unit), TimeRemainingColumn(), console=console,
        )
        self.description = operations_text("replay.progress", locale)
        self.task: TaskID | None = None

    def start(self, total: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task(self.description, total=total)

    def advance(self, done: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, done)

    def finish(self) -> None:
        self.progress.stop()


class PlainProgress:
    """One line at every tenth of the way, and at the end: readable in a log."""

    def __init__(self, locale: Locale, stream: TextIO) -> None:
        self.locale = locale
        self.stream = stream
        self.total = self.done = self.shown = 0
        self.started = time.monotonic()

    def start(self, total: int) -> None:
        self.total, self.started = total, time.monotonic()

    def advance(self, done: int = 1) -> None:
        self.done += done
        if self.total and self.done * 10 // self.total > self.shown * 10 // self.total:
            self._line()

    def finish(self) -> None:
        if self.done != self.shown or not self.total:
            self._line()

    def _line(self) -> None:
        self.shown = self.done
        elapsed = max(time.monotonic() - self.started, 1e-9)
        percent = self.done * 100 // self.total if self.total else 100
        line = operations_text("replay.line", self.locale, done=self.done, total=self.total,
                               percent=percent, rate=f"{self.done / elapsed:.0f}")
        print(f"prostop: {line}", file=self.stream, flush=True)


def progress_for(locale: Locale, stream: TextIO | None = None) -> ReplayProgress:
    """A bar when ``stream`` (stderr) is a terminal, lines otherwise."""
    stream = stream or sys.stderr
    console = Console(file=stream)
    if console.is_terminal:
        return TerminalProgress(locale, console)
    return PlainProgress(locale, stream)


def summary_rows(summary: ReplaySummary) -> list[tuple[str, int]]:
    """(text key, count): the table's rows, zero rows of the rarer kinds left out."""
    states = summary.states
    waiting = states.get("awaiting_confirmation", 0)
    not_eligible = states.get("not_eligible", 0)
    rows = [
        ("replay.found", summary.found),
        ("replay.too_old", summary.too_old),
        ("replay.resumed", summary.resumed),
        ("replay.read", summary.read),
        ("replay.not_relevant", summary.not_relevant),
        ("replay.unreadable", len(summary.unreadable)),
        ("replay.events_stored", summary.events_stored),
        ("replay.events_known", summary.events_known),
        ("replay.waiting", waiting),
        ("replay.not_eligible", not_eligible),
        ("replay.other_states", sum(states.values()) - waiting - not_eligible),
    ]
    optional = {"replay.too_old", "replay.resumed", "replay.events_known",
                "replay.other_states"}
    return [(key, count) for key, count in rows if count or key not in optional]


def summary_json(summary: ReplaySummary) -> dict[str, Any]:
    payload = asdict(summary)
    payload["unreadable"] = [asdict(u) for u in summary.unreadable]
    return payload


def print_summary(summary: ReplaySummary, locale: Locale, stream: TextIO | None = None) -> None:
    console = Console(file=stream or sys.stdout, highlight=False)
    table = Table(title=operations_text("replay.title", locale),
                  box=box.ROUNDED if console.is_terminal else box.ASCII)
    table.add_column(operations_text("replay.col.what", locale))
    table.add_column(operations_text("replay.col.count", locale), justify="right")
    for key, count in summary_rows(summary):
        table.add_row(operations_text(key, locale), str(count))
    console.print(table)
    if summary.unreadable:
        console.print(operations_text("replay.unreadable_title", locale))
        for item in summary.unreadable:
            console.print(f"  - {item.reason}", markup=False, soft_wrap=True)
    if summary.interrupted:
        console.print(operations_text("replay.interrupted", locale))
    elif summary.states.get("awaiting_confirmation"):
        console.print(operations_text("replay.pending_hint", locale))
