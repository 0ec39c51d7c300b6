"""How a host serves the screens: one Jinja2 environment over its own templates and the shared
ones (``screens/macros.html``, ``screens/handout.html``), one ``/static`` over its own files and
the shared ones (``screens.css``, ``screens.js``, ``handout.css``, the code font), and the paths
of its routes the shared templates link to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prostop_plugin.screens.csrf import CSRF_FIELD

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.staticfiles import StaticFiles

SHARED = Path(__file__).parent
TEMPLATES = SHARED / "templates"
STATIC = SHARED / "static"


@dataclass(frozen=True)
class ScreenPaths:
    """A host's routes for one issuance (``{id}``: the issuance id), and its choices of how
    the shared screens look there."""

    decide: str
    retry: str
    reissue: str
    state: str
    handout: str
    handout_pdf: str
    #: a card's link to its dialog, on a host whose pages open it by query (``{back}``: the
    #: page); None: the page offers its own button
    review: str | None = None
    #: the level of the card's title (under the page's ``h1``, or a section's ``h2``)
    card_heading: int = 2
    #: say "being copied into the record" while the write-back runs
    write_pending: bool = False

    def url(self, kind: str, issuance_id: str, back: str = "") -> str:
        template: str | None = getattr(self, kind)
        if template is None:
            raise ValueError(f"this host has no {kind} path")
        return template.format(id=issuance_id, back=back)


def screen_environment(own_templates: Path, paths: ScreenPaths) -> Environment:
    """The host's Jinja2 environment: its templates first, the shared ones as ``screens/…``;
    HTML escaped; ``screen`` (the paths) and ``csrf_field`` known to every template."""
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, select_autoescape

    environment = Environment(
        loader=ChoiceLoader([FileSystemLoader(own_templates),
                             PrefixLoader({"screens": FileSystemLoader(TEMPLATES)})]),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["screen"] = paths
    environment.globals["csrf_field"] = CSRF_FIELD
    return environment


def screen_static_files(own_static: Path) -> StaticFiles:
    """``/static``: the host's own files, then the shared ones (its own win a name clash)."""
    from starlette.staticfiles import StaticFiles

    return StaticFiles(directory=own_static, packages=[("prostop_plugin.screens", "static")])
