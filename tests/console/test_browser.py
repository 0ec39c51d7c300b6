"""The console in Debian's chromium (Playwright), locale fr-FR, at 1366×768 and 1280×800:

* black box: ``prostop serve`` (a real process) with the file drop and the console, the
  simulator for PSC and the code service; the shared corpus's HPRIM positive dropped in the
  inbox; the notice and its link in the outbox; PSC's authorization-code login page; the
  dialog refusing a confirmation without the attestation; the code file in the outbox;
* a second browser session needs its own login (here by CIBA), a disallowed profession is
  refused, a tampered ``state`` or ``nonce`` is refused, a form without its CSRF token too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from prostop_plugin.models import IssuanceState
from prostop_plugin.simulator import RunningSimulator
from tests.console.conftest import (
    AS_OF,
    HPRIM,
    LEROY_PHARMACIST,
    RunningConsole,
    corpus,
    free_port,
)
from tests.fixtures.browser import french_context
from tests.paths import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--lang=fr-FR",
]
SCREENSHOTS = REPO / "docs" / "screenshots"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/demandes/[0-9a-f]+")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)


def context(browser: Browser, width: int, height: int) -> BrowserContext:
    return french_context(browser, width, height, timeout_ms=15_000)


def shot(page: Page, name: str) -> None:
    """Refresh docs/screenshots only with PROSTOP_UPDATE_SCREENSHOTS=1 (a clean tree)."""
    if os.environ.get("PROSTOP_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def psc_login(page: Page, who: str | None = None) -> None:
    """The console's button, then the (simulated) PSC page: choose, log in."""
    page.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()
    expect(page.get_by_role("heading", name=re.compile("Pro Santé Connect"))).to_be_visible()
    if who is not None:
        page.locator(f"input[name=practitioner][value='{who}']").check()
    page.get_by_role("button", name="Se connecter").click()


# -- the black box: prostop serve -----------------------------------------------------------------


def write_config(root: Path, simulator: RunningSimulator, port: int) -> Path:
    for folder in ("inbox", "outbox"):
        (root / folder).mkdir(exist_ok=True)
    config = root / "prostop.toml"
    config.write_text(f"""
data_dir = "var"
host_name = "CABINET-DURAND"
as_of = "{AS_OF.isoformat()}"
adapters = ["filedrop"]

[code_service]
base_url = "{simulator.base_url}"

[psc]
issuer = "{simulator.psc_issuer}"
ciba_timeout = 10.0

[console]
listen = "127.0.0.1:{port}"

[adapter.filedrop]
inbox = "{root / 'inbox'}"
outbox = "{root / 'outbox'}"
poll_interval = 0.1
settle_seconds = 0.0
""", encoding="utf-8")
    return config


@pytest.fixture
def served(tmp_path: Path, simulator: RunningSimulator) -> Iterator[tuple[str, Path]]:
    """``prostop serve`` in its own process; yields (console URL, folder)."""
    port = free_port()
    config = write_config(tmp_path, simulator, port)
    env = {k: v for k, v in os.environ.items() if k != "PROSTOP_DISABLE_PLUGIN_AUTOLOAD"}
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "prostop_plugin.cli", "--config", str(config), "serve",
         "--tick", "0.5"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/connexion", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prostop serve did not start the console"
            time.sleep(0.1)
        yield url, tmp_path
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def wait_for_file(folder: Path, pattern: str, timeout: float = 20.0) -> Path:
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {pattern} in {folder}"
        time.sleep(0.05)


def test_from_the_dropped_file_to_the_code_file(
    browser: Browser, served: tuple[str, Path]
) -> None:
    url, root = served
    (root / "inbox" / f"{HPRIM}.part").write_bytes(corpus(HPRIM))
    (root / "inbox" / f"{HPRIM}.part").rename(root / "inbox" / HPRIM)
    notice = wait_for_file(root / "outbox", "prostop-*-attente.hpr")
    text = notice.read_bytes().decode("latin-1")
    assert "Déclaration StopCovid : confirmation en attente" in text
    found = LINK.search(text)
    assert found is not None and found.group(0).startswith(url)
    issuance = found.group(0).rsplit("/", 1)[1]

    made = context(browser, 1366, 768)
    page = made.new_page()
    page.goto(found.group(0))  # the physician follows the link in the patient's record
    expect(page).to_have_url(re.compile(r"/connexion\?suite=/demandes/"))
    shot(page, "console-login")
    psc_login(page)
    expect(page).to_have_url(f"{url}/demandes/{issuance}")
    dialog = page.locator("dialog#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("cas confirmé")
    expect(dialog).to_contain_text("19/11/2020")  # the sample's date, as a French reader reads it
    shot(page, "console-dialog")
    dialog.get_by_role("button", name="Confirmer et obtenir le code").click()
    refusal = page.locator("[data-testid=refusal]")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("QR code")
    assert not (root / "outbox" / f"prostop-{issuance}.hpr").exists()
    dialog = page.locator("dialog#confirm-dialog")
    dialog.get_by_label(re.compile("QR code SI-DEP")).check()
    dialog.get_by_role("button", name="Confirmer et obtenir le code").click()
    shown = page.locator(".code-display[data-code]")
    expect(shown).to_be_visible(timeout=20_000)
    code = shown.get_attribute("data-code") or ""
    assert re.fullmatch(r"[A-Z0-9]{6}", code)
    written = wait_for_file(root / "outbox", f"prostop-{issuance}.hpr")
    deadline = time.monotonic() + 10
    while code not in written.read_bytes().decode("latin-1"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    expect(page.locator("[data-testid=written]")).to_be_visible(timeout=10_000)
    shot(page, "console-code")
    page.goto(f"{url}/demandes")
    expect(page.get_by_text("Aucune demande en attente.")).to_be_visible()
    made.close()


# -- sessions and refusals (the console in-process) ---------------------------------------------


def test_a_second_session_logs_in_itself_and_refusals_hold(
    browser: Browser, console: RunningConsole
) -> None:
    record = console.waiting()
    first = context(browser, 1280, 800)
    page = first.new_page()
    page.goto(f"{console.url}/demandes")
    psc_login(page)
    expect(page.get_by_role("link", name="Examiner")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^\(1\) Demandes en attente"))
    shot(page, "console-pending")

    # CSRF: the same form without its token is refused, and nothing changes
    page.goto(f"{console.url}/demandes/{record.id}")
    page.locator("dialog#confirm-dialog input[name=csrf]").evaluate("e => e.remove()")
    page.locator("dialog#confirm-dialog").get_by_label(re.compile("QR code SI-DEP")).check()
    page.get_by_role("button", name="Confirmer et obtenir le code").click()
    expect(page.get_by_text("Ce formulaire a expiré")).to_be_visible()
    assert console.runtime.ledger.get(record.id).state == IssuanceState.AWAITING_CONFIRMATION

    second = context(browser, 1280, 800)
    other = second.new_page()
    other.goto(f"{console.url}/demandes")  # the first session's cookie is not this browser's
    expect(other).to_have_url(re.compile(r"/connexion\?suite=/demandes$"))
    other.get_by_label("Numéro RPPS (11 chiffres)").fill("10009876543")
    other.get_by_role("button", name="Je valide sur mon application e-CPS").click()
    expect(other.get_by_test_id("who")).to_have_text("Dr Paul BERNARD", timeout=15_000)
    expect(other.get_by_role("link", name="Examiner")).to_be_visible()
    second.close()

    refused = context(browser, 1280, 800)
    pharmacist = refused.new_page()
    pharmacist.goto(f"{console.url}/connexion")
    psc_login(pharmacist, LEROY_PHARMACIST)
    expect(pharmacist.get_by_role("heading", name="Accès refusé")).to_be_visible()
    expect(pharmacist.get_by_test_id("refusal")).to_contain_text("pharmacien")
    pharmacist.goto(f"{console.url}/demandes")
    expect(pharmacist).to_have_url(re.compile("/connexion"))
    refused.close()
    first.close()


def _changed(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.mark.parametrize("tamper", ["state", "nonce"])
def test_a_tampered_state_or_nonce_is_refused(
    browser: Browser, console: RunningConsole, tamper: str
) -> None:
    made = context(browser, 1366, 768)
    page = made.new_page()

    def forge(route: Route) -> None:
        """Let the redirect through with one parameter changed (redirects themselves are not
        routed: the answer carrying the Location header is rewritten)."""
        if route.request.method != ("POST" if tamper == "state" else "GET"):
            route.continue_()
            return
        answer = route.fetch(max_redirects=0)
        headers = dict(answer.headers)
        headers["location"] = _changed(headers["location"], **{tamper: "forged-" + tamper})
        route.fulfill(status=answer.status, headers=headers, body=answer.body())

    if tamper == "state":  # on its way back from PSC: PSC's answer to the login page
        page.route(re.compile(r".*/protocol/openid-connect/auth$"), forge)
    else:  # on its way to PSC: the console's redirect to the authorization endpoint
        page.route(re.compile(r".*/connexion/psc(\?.*)?$"), forge)
    page.goto(f"{console.url}/connexion")
    psc_login(page)
    expect(page.get_by_test_id("login-error")).to_be_visible()
    page.unroute("**/*")
    page.goto(f"{console.url}/demandes")
    expect(page).to_have_url(re.compile("/connexion"))
    made.close()
