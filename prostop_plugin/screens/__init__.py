"""What the physician's screens share, wherever they are shown (the console, the demo EHR):
one set of view models (:mod:`.views`: the code card, the confirmation dialog), of Jinja2
templates (``screens/macros.html``: the card, the dialog, the handout sheet;
``screens/handout.html``: the handout page), of static files (``screens.css``, ``screens.js``,
``handout.css``, the code font), the PDF handout (:mod:`.handout_pdf`), the handout's page and
PDF as a host's routes serve them (:mod:`.handout`), the dialog's form read as a decision
(:mod:`.decision`), a refusal kept for the dialog (:mod:`.refusals`), and the forms' CSRF
protection (:mod:`.csrf`). A host serves them through :mod:`.web`; its words come from its own
catalog, then :mod:`prostop_plugin.texts.screens`.

Nothing here imports the web stack (Jinja2, Starlette, fpdf2) until it is used.
"""

from prostop_plugin.screens.csrf import (
    CSRF_FIELD,
    CsrfCheck,
    CsrfGuard,
    cookies_of,
    csrf_token_of,
    keyed_token,
)
from prostop_plugin.screens.decision import decision_from_form
from prostop_plugin.screens.handout import handout_page, handout_pdf_response, record_with_code
from prostop_plugin.screens.handout_pdf import handout_pdf, latin1
from prostop_plugin.screens.refusals import Refusals
from prostop_plugin.screens.views import (
    CodeCard,
    Dialog,
    code_card,
    current_record,
    day_text,
    dialog_for,
    group_code,
    source_label,
    still_valid_notice,
)
from prostop_plugin.screens.web import ScreenPaths, screen_environment, screen_static_files

__all__ = [
    "CSRF_FIELD",
    "CodeCard",
    "CsrfCheck",
    "CsrfGuard",
    "Dialog",
    "Refusals",
    "ScreenPaths",
    "code_card",
    "cookies_of",
    "csrf_token_of",
    "current_record",
    "day_text",
    "decision_from_form",
    "dialog_for",
    "group_code",
    "handout_page",
    "handout_pdf",
    "handout_pdf_response",
    "keyed_token",
    "latin1",
    "record_with_code",
    "screen_environment",
    "screen_static_files",
    "source_label",
    "still_valid_notice",
]
