"""The patient's handout as a host's routes serve it (the console, the demo EHR): the record
with its code while it holds one, the page's context and the PDF response, French unless
English is asked for, A5 unless A4 is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prostop_plugin.screens.handout_pdf import handout_pdf
from prostop_plugin.screens.views import current_record
from prostop_plugin.texts import get_texts

if TYPE_CHECKING:
    from starlette.responses import Response

    from prostop_plugin.app import Prostop
    from prostop_plugin.models import IssuanceRecord

__all__ = ["handout_page", "handout_pdf_response", "record_with_code"]


def record_with_code(runtime: Prostop, record: IssuanceRecord) -> IssuanceRecord | None:
    """The record with its code in clear, or ``None`` when it holds none (any more: a code
    past its validity is marked expired on sight)."""
    if not current_record(runtime, record).state.holds_code:
        return None
    return runtime.ledger.get(record.id, with_code=True)


def handout_page(record: IssuanceRecord, lang: str, paper: str) -> dict[str, Any]:
    """What ``screens/handout.html`` is rendered with."""
    sheet_locale = "en" if lang == "en" else "fr"
    return {"record": record, "paper": "a4" if paper == "a4" else "a5",
            "sheet": get_texts(sheet_locale).handout(record), "sheet_locale": sheet_locale}


def handout_pdf_response(record: IssuanceRecord, lang: str, paper: str, *,
                         creator: str) -> Response:
    """The handout as an inline PDF; ``creator``: the software named in the PDF."""
    from starlette.responses import Response

    sheet = get_texts("en" if lang == "en" else "fr").handout(record)
    data = handout_pdf(sheet, paper="A4" if paper == "a4" else "A5", creator=creator)
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="code-stopcovid-{record.id}.pdf"'})
