"""The PDF handout (the console's and the demo EHR's: one builder) read back with the positions
of its text (pdfminer.six): every character inside the page, every sentence of the sheet there,
on A5 and A4, in French and English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import BytesIO

import pytest
from pdfminer.high_level import extract_pages
from pdfminer.layout import LTChar, LTComponent, LTPage

from prostop_plugin.models import Locale
from prostop_plugin.screens import handout_pdf, latin1
from prostop_plugin.texts import Handout, get_texts
from tests.texts.test_texts import make_record

#: ISO 216 sizes in PDF points (1 pt = 1/72 in)
PAGE_POINTS = {"A5": (419.53, 595.28), "A4": (595.28, 841.89)}


def characters(item: LTComponent) -> Iterator[LTChar]:
    if isinstance(item, LTChar):
        yield item
        return
    for child in getattr(item, "_objs", []):
        yield from characters(child)


def pages(data: bytes) -> list[LTPage]:
    return list(extract_pages(BytesIO(data)))


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def sentences(sheet: Handout) -> list[str]:
    """What the patient must be able to read, as the PDF writes it (Latin-1 fonts)."""
    validity = sheet.validity[:1].upper() + sheet.validity[1:]
    return [latin1(s) for s in (sheet.title, validity, sheet.hurry, *sheet.numbered_steps,
                                sheet.date_line, sheet.single_use, sheet.anonymity,
                                sheet.practitioner)]


@pytest.mark.parametrize("paper", ["A5", "A4"])
@pytest.mark.parametrize("locale", ["fr", "en"])
def test_every_line_of_the_handout_is_printed_inside_the_page(paper: str, locale: Locale) -> None:
    sheet = get_texts(locale).handout(make_record())
    found = pages(handout_pdf(sheet, paper=paper))
    assert len(found) == 1, f"the {paper} handout takes {len(found)} pages"
    page = found[0]
    width, height = PAGE_POINTS[paper]
    assert page.width == pytest.approx(width, abs=0.5)
    assert page.height == pytest.approx(height, abs=0.5)
    chars = list(characters(page))
    outside = [c.get_text() + f"@({c.x0:.0f},{c.y0:.0f})" for c in chars
               if c.x0 < 0 or c.y0 < 0 or c.x1 > page.width or c.y1 > page.height]
    assert outside == [], f"text drawn off the {paper} page: {''.join(outside)[:200]}"
    printed = flat("".join(c.get_text() if c.get_text().strip() else " " for c in chars))
    spaced = flat(" ".join(c.get_text() for c in chars))  # pdfminer may not emit spaces
    for sentence in sentences(sheet):
        wanted = flat(sentence)
        assert wanted.replace(" ", "") in printed.replace(" ", "") \
            or wanted in spaced, f"missing from the {paper} PDF: {wanted!r}"
    code = "".join(c.get_text() for c in chars if "ProstopCode" in c.fontname)
    assert code.replace(" ", "") == sheet.code


def test_the_sentence_about_the_deadline_is_printed_between_the_margins() -> None:
    """Issue 11: it was drawn from the right margin on, off the sheet (x = 415 pt on A5)."""
    sheet = get_texts("fr").handout(make_record())
    for paper in ("A5", "A4"):
        page = pages(handout_pdf(sheet, paper=paper))[0]
        lines: dict[float, list[LTChar]] = {}
        for char in characters(page):
            lines.setdefault(round(char.y0, 1), []).append(char)
        start = latin1(sheet.hurry).replace(" ", "")[:20]
        found = [chars for chars in lines.values()
                 if "".join(c.get_text() for c in sorted(chars, key=lambda c: c.x0))
                 .replace(" ", "").startswith(start)]
        assert found, f"no line starts the deadline sentence on {paper}"
        left, right = min(c.x0 for c in found[0]), max(c.x1 for c in found[0])
        margin = 14 * 72 / 25.4 - 0.5  # the sheet's 14 mm margins, in points
        assert left >= margin and right <= page.width - margin, (paper, left, right)
