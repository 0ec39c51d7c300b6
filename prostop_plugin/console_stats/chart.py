"""The statistics chart's geometry: grouped bars, one group per period, one bar per outcome.

Pure computation (no drawing library, no JavaScript): the template turns a :class:`Chart`
into SVG on the server. Colours are the Okabe–Ito palette, told apart with the common colour
vision deficiencies; every bar carries its own text (a ``<title>``), and the page shows the
same figures in a table beside the chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from prostop_plugin.stats import Outcome, StatsReport

__all__ = ["COLOURS", "Bar", "Chart", "Tick", "build_chart", "nice_step"]

COLOURS: dict[Outcome, str] = {
    Outcome.OFFERED: "#0072B2",
    Outcome.CONFIRMED: "#56B4E9",
    Outcome.DECLINED: "#E69F00",
    Outcome.NOT_ELIGIBLE: "#7F7F7F",
    Outcome.ISSUED: "#009E73",
    Outcome.VALIDITY_PASSED: "#CC79A7",
    Outcome.FAILED: "#D55E00",
}
WIDTH, HEIGHT = 880, 360
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 52


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str  #: what a tooltip and a screen reader say, e.g. "16/11/2020 — Proposés : 3"


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class XLabel:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    plot_width: float
    plot_height: float
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[XLabel]
    legend: list[tuple[str, str]]  #: (colour, outcome's name)


def nice_step(top: int, ticks: int = 5) -> int:
    """A round step (1, 2, 5 × 10ⁿ) giving about ``ticks`` gridlines up to ``top``."""
    if top <= ticks:
        return 1
    raw = top / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return int(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def build_chart(
    report: StatsReport, names: Mapping[Outcome, str], period_name: Callable[[date], str],
    colon: str = " : ",
) -> Chart:
    """``colon``: " : " in French, ": " in English (in the bars' titles)."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    highest = max((p.counts[o] for p in report.periods for o in Outcome), default=0)
    step = nice_step(highest)
    top = max(step, math.ceil(highest / step) * step)
    count = max(len(report.periods), 1)
    group = plot_width / count
    bar_width = group * 0.8 / len(Outcome)
    every = math.ceil(count / 12)  # at most a dozen dates under the axis
    bars: list[Bar] = []
    labels: list[XLabel] = []
    for index, period in enumerate(report.periods):
        start = LEFT + index * group + group * 0.1
        when = period_name(period.start)
        for rank, outcome in enumerate(Outcome):
            value = period.counts[outcome]
            height = plot_height * value / top
            bars.append(Bar(
                x=round(start + rank * bar_width, 2), y=round(TOP + plot_height - height, 2),
                width=round(max(bar_width - 1, 1), 2), height=round(height, 2),
                colour=COLOURS[outcome], title=f"{when} — {names[outcome]}{colon}{value}",
            ))
        if index % every == 0:
            labels.append(XLabel(x=round(LEFT + (index + 0.5) * group, 2), text=when))
    ticks = [Tick(y=round(TOP + plot_height - plot_height * v / top, 2), value=v)
             for v in range(0, top + 1, step)]
    return Chart(
        width=WIDTH, height=HEIGHT, left=LEFT, top=TOP, plot_width=plot_width,
        plot_height=plot_height, bars=bars, ticks=ticks, labels=labels,
        legend=[(COLOURS[o], names[o]) for o in Outcome],
    )
