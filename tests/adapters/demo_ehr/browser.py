"""Playwright helpers for the demo EHR's browser tests (Debian's chromium, never a download)."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, expect

from prostop_plugin.models import IssuanceState
from tests.adapters.demo_ehr.conftest import SCREENSHOTS, RunningEhr
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: F401  (re-exported)

DURAND = "810003456789"
BERNARD = "810009876543"
CODE = re.compile(r"^[A-Z0-9]{6}$")
SCRATCH = Path(tempfile.gettempdir()) / "prostop-screenshots"


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Take a screenshot; refresh docs/screenshots (shown by the README and docs/demo.md) only
    with PROSTOP_UPDATE_SCREENSHOTS=1, so a test run leaves the working tree clean."""
    folder = SCREENSHOTS if os.environ.get("PROSTOP_UPDATE_SCREENSHOTS") else SCRATCH
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


def login(page: Page, ehr: RunningEhr, national_id: str = DURAND) -> None:
    page.goto(f"{ehr.url}/login")
    page.select_option("#practitioner", national_id)
    page.get_by_role("button", name="Se connecter avec l'e-CPS").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/patients")


def open_consultation(page: Page, ehr: RunningEhr, patient_id: str) -> None:
    page.goto(f"{ehr.url}/patients/{patient_id}/consultation")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Consultation")


def import_file(page: Page, path: Path) -> None:
    page.set_input_files("#file", str(path))
    page.locator("form[action$='/import'] button[type=submit]:not([formaction])").click()


def record_diagnosis(
    page: Page, code: str, *, status: str = "final", onset: str | None = None,
    signs: str | None = None, ct_date: str | None = None,
) -> None:
    """Fill the consultation form (dates as YYYY-MM-DD) and save."""
    page.select_option("#diagnosis_code", code)
    page.select_option("#diagnosis_status", status)
    if onset is not None:
        page.check("#signs_present")
        page.fill("#onset", onset)
        if signs:
            page.fill("#signs_text", signs)
    if ct_date is not None:
        page.check("#ct_suggestive")
        page.fill("#ct_date", ct_date)
    page.get_by_role("button", name="Enregistrer").click()


def the_dialog(page: Page) -> Locator:
    dialog = page.locator("dialog#confirm-dialog")
    expect(dialog).to_be_visible()
    return dialog


def approve(dialog: Locator, *, qr: bool = False, rtpcr: bool = False) -> None:
    if qr:
        dialog.get_by_label(re.compile("QR code SI-DEP")).check()
    if rtpcr:
        dialog.get_by_label(re.compile("RT-PCR SARS-CoV-2 positive a été réalisée")).check()
    dialog.get_by_role("button", name="Confirmer et obtenir le code").click()


def issued_code(page: Page) -> tuple[str, str]:
    """Wait for the code card (the page reloads itself while the code is requested);
    return (issuance id, code)."""
    display = page.locator(".code-card .code-display[data-code]").first
    expect(display).to_be_visible(timeout=15_000)
    code = display.get_attribute("data-code") or ""
    assert CODE.match(code), code
    card = page.locator(".code-card:has(.code-display[data-code])").first
    return card.get_attribute("data-issuance") or "", code


def wait_written_back(ehr: RunningEhr, issuance_id: str, timeout: float = 20.0) -> None:
    """The code card shows once the code is issued; the write-back into the record follows
    in the background: wait for it (bounded) before reading the record."""
    deadline = time.monotonic() + timeout
    while ehr.runtime.ledger.get(issuance_id).state != IssuanceState.WRITTEN_BACK:
        assert time.monotonic() < deadline, f"issuance {issuance_id} not written back in time"
        time.sleep(0.05)


def focus_is_in_dialog(page: Page) -> bool:
    return bool(page.evaluate(
        "() => document.activeElement !== null && "
        "document.activeElement.closest('dialog[open]') !== null"))


def unlabelled_fields(page: Page) -> list[str]:
    """Visible form fields without a label (a <label>, aria-label or aria-labelledby)."""
    found: list[str] = page.evaluate("""() => Array.from(
        document.querySelectorAll('input, select, textarea'))
        .filter(el => el.type !== 'hidden')
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                      && !el.getAttribute('aria-labelledby'))
        .map(el => el.outerHTML.slice(0, 120))""")
    return found


def _channel(value: float) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: tuple[float, float, float]) -> float:
    r, g, b = (_channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg: tuple[float, float, float], bg: tuple[float, float, float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""
    high, low = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def css_rgb(value: str) -> tuple[float, float, float]:
    """``rgb(10, 31, 60)`` or ``rgba(…, 1)`` as computed by the browser."""
    numbers = re.findall(r"[\d.]+", value)
    if len(numbers) == 4 and float(numbers[3]) != 1.0:
        raise AssertionError(f"translucent colour {value}: contrast depends on what is behind")
    r, g, b = (float(n) for n in numbers[:3])
    return r, g, b


def off_screen(locator: Locator) -> list[str]:
    """The elements of ``locator`` not wholly inside the viewport (as drawn, without scrolling)."""
    found: list[str] = locator.evaluate_all("""els => els.filter(el => {
        const r = el.getBoundingClientRect();
        return r.width === 0 || r.top < 0 || r.left < 0 || r.bottom > window.innerHeight
            || r.right > window.innerWidth || el.checkVisibility() === false;
    }).map(el => (el.innerText || el.outerHTML).trim().slice(0, 80))""")
    return found


def header_rows(page: Page) -> int:
    """How many rows the top bar's items take (1: nothing wrapped)."""
    rows: int = page.evaluate("""() => {
        const items = Array.from(document.querySelectorAll('.topbar > *, .topbar nav > *'))
            .filter(el => el.getBoundingClientRect().height > 0);
        const tops = [];
        for (const el of items) {
            const r = el.getBoundingClientRect();
            if (!tops.some(t => r.top < t.bottom && t.top < r.bottom)) tops.push(r);
        }
        return tops.length;
    }""")
    return rows
