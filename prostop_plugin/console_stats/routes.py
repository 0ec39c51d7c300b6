"""The statistics page: a FastAPI router the console includes, and the page's HTML.

::

    app.include_router(stats_router(runtime, dependencies=[Depends(logged_in)]))

serves ``GET /statistiques`` (``?by=week|day&since=YYYY-MM-DD&lang=fr|en``): a form, the
chart (SVG drawn on the server: no script, nothing downloaded) and the same figures in a table
beside it, and ``GET /statistiques.csv``. The page stands alone (its style inline); a console
with its own layout can put :func:`render_stats_section` inside it instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from prostop_plugin.console_stats.chart import build_chart
from prostop_plugin.errors import LedgerError
from prostop_plugin.models import Locale
from prostop_plugin.stats import (
    Grouping,
    Outcome,
    StatsReport,
    compute_stats,
    empty_report,
    report_csv,
)
from prostop_plugin.texts.operations import duration_text, operations_text
from prostop_plugin.values import PARIS

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

__all__ = ["default_since", "render_stats_page", "render_stats_section", "stats_router"]

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
#: periods shown when no date is asked: twelve weeks, or thirty days
DEFAULT_SPAN = {"week": timedelta(weeks=11), "day": timedelta(days=29)}


def default_since(by: Grouping, today: date) -> date:
    start = today - DEFAULT_SPAN[by]
    return start - timedelta(days=start.weekday()) if by == "week" else start


def _context(report: StatsReport, locale: Locale, base: str) -> dict[str, Any]:
    def t(key: str, **values: object) -> str:
        return operations_text(key, locale, **values)

    names = {o: t(f"stats.{o.value}") for o in Outcome}
    period = t(f"stats.by.{report.by}")
    chart = build_chart(report, names, lambda d: d.strftime("%d/%m/%Y"),
                        colon=" : " if locale == "fr" else ": ")
    return {
        "locale": locale, "t": t, "report": report, "chart": chart, "names": names,
        "outcomes": list(Outcome), "period": period, "base": base,
        "median": lambda seconds: duration_text(seconds, locale),
        "since": report.since.isoformat() if report.since else "",
    }


def render_stats_section(report: StatsReport, locale: Locale, base: str = "/statistiques"
                         ) -> Markup:
    """The chart, the table and the notes, for a page of the console's own."""
    return Markup(templates.get_template("stats_section.html").render(
        _context(report, locale, base)))


def render_stats_page(report: StatsReport, locale: Locale, base: str = "/statistiques") -> str:
    """The whole page, standing alone."""
    context = _context(report, locale, base)
    context["section"] = render_stats_section(report, locale, base)
    return templates.get_template("stats_page.html").render(context)


def parse_since(value: str | None) -> date | None:
    """The form's date (empty: the default span). :raises HTTPException: 400, saying the form."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"since={value!r}: expected a date, YYYY-MM-DD") from None


def stats_router(
    runtime: Prostop, *, dependencies: Sequence[Any] = (), prefix: str = "/statistiques",
    locale_of: Callable[[Request], Locale | None] | None = None,
    today: Callable[[], date] = lambda: datetime.now(PARIS).date(),
) -> APIRouter:
    """The page and its CSV. ``dependencies``: the console's login check; ``locale_of``: the
    console's language choice (else ``?lang=``, else the installation's ``locale``)."""
    router = APIRouter(dependencies=list(dependencies))

    def report_for(by: Grouping, since: date | None) -> StatsReport:
        since = since or default_since(by, today())
        try:
            return compute_stats(runtime.settings.ledger_path, by=by, since=since,
                                 today=today())
        except LedgerError:  # no ledger yet: nothing happened
            return empty_report(by, since, today())

    def language(request: Request, lang: Locale | None) -> Locale:
        chosen = lang or (locale_of(request) if locale_of is not None else None)
        return chosen or runtime.settings.locale

    @router.get(prefix, response_class=HTMLResponse)
    def stats_page(
        request: Request, by: Literal["week", "day"] = "week", since: str | None = None,
        lang: Literal["fr", "en"] | None = None,
    ) -> HTMLResponse:
        report = report_for(by, parse_since(since))
        return HTMLResponse(render_stats_page(report, language(request, lang), prefix),
                            headers={"Cache-Control": "no-store"})

    @router.get(prefix + ".csv", response_class=PlainTextResponse)
    def stats_csv(by: Literal["week", "day"] = "week",
                  since: str | None = None) -> PlainTextResponse:
        return PlainTextResponse(
            report_csv(report_for(by, parse_since(since))), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="prostop-statistiques.csv"',
                     "Cache-Control": "no-store"},
        )

    return router
