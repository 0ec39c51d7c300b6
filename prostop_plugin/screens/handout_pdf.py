"""The patient's handout as a PDF (fpdf2: pure Python, no system library), for every host
that prints it (the console, the demo EHR).

The code is set in the bundled "Prostop Code" font (a subset of DejaVu Sans Mono Bold: a zero
with a dot inside, a 1 with a flag and a base, an I with serifs), the text in the PDF core
font Helvetica, which covers French (Latin-1); the few typographic characters beyond it are
replaced by their plain equivalents.
"""

from __future__ import annotations

from pathlib import Path

from prostop_plugin.texts import Handout

CODE_FONT = Path(__file__).parent / "static" / "fonts" / "code-font.ttf"
_PLAIN = str.maketrans({
    "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
    "\u2026": "...", "\u0153": "oe", "\u0152": "OE", "\u202f": " ", "\u2009": " ",
    "\u2022": "-",
})
INK = (17, 24, 39)
ACCENT = (12, 74, 110)


def latin1(text: str) -> str:
    """What Helvetica can show: French accents stay, other characters get a plain form."""
    plain = text.translate(_PLAIN)
    return plain.encode("latin-1", "replace").decode("latin-1")


def handout_pdf(sheet: Handout, *, paper: str = "A5", creator: str = "prostop-plugin") -> bytes:
    """The sheet on one A5 (or A4) page; ``creator``: the software named in the PDF."""
    from fpdf import FPDF  # imported when a PDF is asked for: not at every ``import``

    size = (148.0, 210.0) if paper == "A5" else (210.0, 297.0)  # ISO 216, in mm
    pdf = FPDF(orientation="portrait", unit="mm", format=size)
    pdf.set_margins(14, 14, 14)
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_font("ProstopCode", "", str(CODE_FONT))
    pdf.set_title(latin1(sheet.title))
    pdf.set_creator(creator)
    pdf.add_page()
    width = pdf.epw

    def block(height: float, text: str, align: str = "L") -> None:
        """A paragraph; the cursor goes back to the left margin under it (``multi_cell``
        would leave it at the right margin, and the next paragraph off the page)."""
        pdf.multi_cell(width, height, latin1(text), align=align, new_x="LMARGIN", new_y="NEXT")

    pdf.set_text_color(*ACCENT)
    pdf.set_font("Helvetica", "B", 15)
    block(7, sheet.title, align="C")
    pdf.ln(4)
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.6)
    pdf.set_text_color(*INK)
    pdf.set_font("ProstopCode", "", 34 if paper == "A5" else 44)
    pdf.cell(width, 20 if paper == "A5" else 26, sheet.code_grouped, border=1, align="C",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    block(5.5, sheet.validity[:1].upper() + sheet.validity[1:], align="C")
    pdf.set_font("Helvetica", "", 10)
    block(5, sheet.hurry, align="C")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 10.5)
    for step in sheet.numbered_steps:
        block(5.5, step)
        pdf.ln(1)
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    block(6, sheet.date_line)
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 9.5)
    for line in (sheet.single_use, sheet.anonymity, sheet.practitioner):
        block(4.8, line)
        pdf.ln(1)
    return bytes(pdf.output())
