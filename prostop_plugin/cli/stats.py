"""``prostop stats``: what the plugin did, week by week or day by day (counts only)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from prostop_plugin.cli.common import parse_date, settings_from
from prostop_plugin.models import Locale
from prostop_plugin.stats import Outcome, StatsReport, compute_stats, report_csv
from prostop_plugin.texts.operations import duration_text, operations_text


def stats_table(report: StatsReport, locale: Locale, *, terminal: bool) -> Table:
    def t(key: str) -> str:
        return operations_text(key, locale)

    table = Table(title=t("stats.title"), box=box.ROUNDED if terminal else box.ASCII)
    table.add_column(t(f"stats.period.{report.by}"))
    for outcome in Outcome:
        table.add_column(t(f"stats.{outcome.value}"), justify="right")
    table.add_column(t("stats.median"), justify="right")
    for period in report.periods:
        table.add_row(period.start.strftime("%d/%m/%Y"),
                      *(str(period.counts[o]) for o in Outcome),
                      duration_text(period.median_seconds, locale))
    table.add_section()
    table.add_row(t("stats.total"), *(str(report.totals.get(o, 0)) for o in Outcome),
                  duration_text(report.median_seconds, locale))
    return table


def cmd_stats(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    locale: Locale = args.lang or settings.locale
    report = compute_stats(settings.ledger_path, by=args.by, since=args.since)
    if args.csv:
        sys.stdout.write(report_csv(report))
        return 0
    console = Console(highlight=False)
    if not console.is_terminal:  # a file or a pipe: whole lines, never cut to 80 columns
        console = Console(highlight=False, width=200)
    if not report.periods:
        console.print(operations_text("stats.none", locale))
        return 0
    console.print(stats_table(report, locale, terminal=console.is_terminal))
    console.print(operations_text("stats.notes", locale), soft_wrap=not console.is_terminal)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("stats", help="counts per week or day: offered, confirmed, declined, "
                       "not eligible, issued, validity passed, failed (no patient data)")
    p.add_argument("--since", type=parse_date, metavar="DATE",
                   help="from this date (YYYY-MM-DD, Paris time); default: the first activity")
    p.add_argument("--by", choices=["week", "day"], default="week")
    p.add_argument("--csv", action="store_true", help="CSV for a spreadsheet (machine column "
                   "names, comma-separated, UTF-8)")
    p.add_argument("--lang", choices=["fr", "en"], help="language of the table")
    p.set_defaults(func=cmd_stats)
