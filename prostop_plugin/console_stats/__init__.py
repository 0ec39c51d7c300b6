"""The statistics page for the physician console: a FastAPI router (:func:`stats_router`),
a server-drawn SVG chart with the same figures in a table beside it, French first."""

from prostop_plugin.console_stats.chart import Chart, build_chart
from prostop_plugin.console_stats.routes import (
    default_since,
    render_stats_page,
    render_stats_section,
    stats_router,
)

__all__ = [
    "Chart",
    "build_chart",
    "default_since",
    "render_stats_page",
    "render_stats_section",
    "stats_router",
]
