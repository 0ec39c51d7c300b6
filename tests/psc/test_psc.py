"""Pro Santé Connect tokens against the simulator: CIBA approve / deny / timeout / slow_down,
one authentication per request, checks (acr, subject, profession), and the two hook sources."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from prostop_plugin.config import PSCSettings, Settings
from prostop_plugin.errors import TokenError
from prostop_plugin.models import AccessToken, Practitioner
from prostop_plugin.plugins import HookFacade, new_plugin_manager
from prostop_plugin.psc import (
    CibaTokenSource,
    HostTokenStore,
    PSCTokenPlugin,
    acr_satisfies,
    check_token,
    discover,
    new_binding_message,
    profession_codes,
)
from prostop_plugin.simulator import Approval, RunningSimulator
from prostop_plugin.simulator.tokens import TokenAuthority
from tests.fixtures.simulator import minted_token, psc_settings, shared_signing_key

CLAIRE = Practitioner(national_id="10003456789", family_name="DURAND", profession_code="10")
PAUL = Practitioner(national_id="810009876543", family_name="BERNARD", profession_code="10")
NURSE = Practitioner(national_id="810005550123", profession_code="60")
PHARMACIST = Practitioner(national_id="810007770456", profession_code="21")
CIBA_PATH = "/auth/realms/esante-wallet/protocol/openid-connect/ext/ciba/auth"
TOKEN_PATH = "/auth/realms/esante-wallet/protocol/openid-connect/token"


@pytest.fixture
def source(simulator: RunningSimulator) -> Iterator[CibaTokenSource]:
    ciba = CibaTokenSource(psc_settings(simulator), slow_down_step=0.2)
    yield ciba
    ciba.close()


def calls(sim: RunningSimulator, path: str) -> list[dict[str, object]]:
    return [e for e in sim.logged_requests() if e["path"] == path]


def poll_gaps(polls: list[dict[str, object]]) -> list[float]:
    """Seconds between successive polls, as the simulator saw them arrive."""
    times = [float(str(p["monotonic"])) for p in polls]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


# -- CIBA ------------------------------------------------------------------------------------


def test_ciba_approved_at_once(simulator: RunningSimulator, source: CibaTokenSource) -> None:
    token = source.token_for(CLAIRE, "42")
    assert token.subject == "810003456789"
    assert token.acr == "eidas1"
    assert token.profession_codes == ["10"]
    assert 100 < (token.expires_at - datetime.now(UTC)).total_seconds() <= 121
    (request,) = calls(simulator, CIBA_PATH)
    body = str(request["body"])
    for expected in ("login_hint=810003456789", "binding_message=42", "channel=MOBILE",
                     "scope=openid+scope_all", "acr_values=eidas1"):
        assert expected in body
    assert request["headers"]["authorization"] == "Basic <redacted>"  # type: ignore[index]


def test_both_nurses_and_physicians_are_allowed_by_default(source: CibaTokenSource) -> None:
    assert source.token_for(NURSE, "07").profession_codes == ["60"]


def test_ciba_waits_for_a_late_approval(
    simulator: RunningSimulator, source: CibaTokenSource
) -> None:
    simulator.state.options.approvals[CLAIRE.national_id] = Approval(mode="after", after=0.3)
    assert source.token_for(CLAIRE, "42").subject == CLAIRE.national_id
    polls = calls(simulator, TOKEN_PATH)
    assert len(polls) >= 4  # authorization_pending a few times, at the server's interval
    assert min(poll_gaps(polls)) >= 0.045


def test_ciba_approved_by_hand_on_the_admin_endpoint(
    simulator: RunningSimulator, source: CibaTokenSource
) -> None:
    simulator.state.options.approvals[CLAIRE.national_id] = Approval(mode="never")

    def tap_approve() -> None:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            answer = httpx.post(f"{simulator.base_url}/_simulator/practitioners/"
                                f"{CLAIRE.national_id}/approve").json()
            if answer["decided"]:
                return
            time.sleep(0.05)

    phone = threading.Thread(target=tap_approve)
    phone.start()
    assert source.token_for(CLAIRE, "42").subject == CLAIRE.national_id
    phone.join(5)


def test_ciba_denied(simulator: RunningSimulator, source: CibaTokenSource) -> None:
    simulator.state.options.approvals[PAUL.national_id] = Approval(mode="deny")
    with pytest.raises(TokenError) as caught:
        source.token_for(PAUL, "42")
    assert "refused the request on the e-CPS app" in str(caught.value)


def test_ciba_gives_up_after_ciba_timeout(simulator: RunningSimulator) -> None:
    simulator.state.options.approvals[CLAIRE.national_id] = Approval(mode="never")
    source = CibaTokenSource(psc_settings(simulator, ciba_timeout=0.4))
    started = time.monotonic()
    with pytest.raises(TokenError) as caught:
        source.token_for(CLAIRE, "42")
    source.close()
    assert 0.35 <= time.monotonic() - started < 2
    assert "did not approve on the e-CPS app within 0.4 s" in str(caught.value)


@pytest.mark.parametrize(
    "simulator", [{"approvals": {"810003456789": Approval(mode="never")}, "ciba_expires_in": 1}],
    indirect=True,
)
def test_ciba_expired_at_psc(source: CibaTokenSource) -> None:
    with pytest.raises(TokenError) as caught:
        source.token_for(CLAIRE, "42")
    assert "expired before the practitioner answered" in str(caught.value)


def test_slow_down_lengthens_the_polling_interval(
    simulator: RunningSimulator, source: CibaTokenSource
) -> None:
    simulator.state.options.approvals[CLAIRE.national_id] = Approval(mode="after", after=0.4)
    simulator.queue_faults("token/slow_down")
    source.token_for(CLAIRE, "42")
    polls = calls(simulator, TOKEN_PATH)
    gaps = poll_gaps(polls)
    assert gaps and min(gaps) >= 0.05 + 0.2 - 0.01  # interval + slow_down step, every time


def test_unknown_practitioner(source: CibaTokenSource) -> None:
    with pytest.raises(TokenError) as caught:
        source.token_for(Practitioner(national_id="899999999999"), "42")
    assert "knows no practitioner with national id 899999999999" in str(caught.value)


def test_wrong_client_secret(simulator: RunningSimulator) -> None:
    source = CibaTokenSource(psc_settings(simulator, client_secret=SecretStr("wrong")))
    with pytest.raises(TokenError) as caught:
        source.token_for(CLAIRE, "42")
    source.close()
    assert "client credentials" in str(caught.value) and "client_secret" in str(caught.value)


@pytest.mark.parametrize("simulator", [{"client_secret": None}], indirect=True)
def test_client_id_alone_when_psc_authenticates_the_client_by_mtls(
    simulator: RunningSimulator,
) -> None:
    for secret in (None, SecretStr("")):  # unset, or emptied from the environment
        source = CibaTokenSource(psc_settings(simulator, client_secret=secret))
        assert source.token_for(CLAIRE, "42").subject == CLAIRE.national_id
        source.close()
    request = calls(simulator, CIBA_PATH)[-1]
    assert "client_id=prostop-plugin" in str(request["body"])
    assert "authorization" not in request["headers"]  # type: ignore[operator]


def test_psc_down_while_polling_is_a_clear_error(
    simulator: RunningSimulator, source: CibaTokenSource
) -> None:
    simulator.queue_faults("token/503:*")
    with pytest.raises(TokenError) as caught:
        source.token_for(CLAIRE, "42")
    assert "HTTP 503" in str(caught.value)
    assert len(calls(simulator, TOKEN_PATH)) == 3  # a few transient failures are tolerated


def test_psc_unreachable(simulator: RunningSimulator) -> None:
    simulator.queue_faults("discovery/reset")
    source = CibaTokenSource(psc_settings(simulator))
    with pytest.raises(TokenError) as caught:
        source.token_for(CLAIRE, "42")
    source.close()
    assert "discovery failed" in str(caught.value) and "[psc] issuer" in str(caught.value)


@pytest.mark.parametrize("simulator", [{"signing_algorithm": "EdDSA"}], indirect=True)
def test_eddsa_signed_tokens(source: CibaTokenSource) -> None:
    assert source.token_for(CLAIRE, "42").acr == "eidas1"


# -- discovery and signatures ------------------------------------------------------------------


def test_discovery(simulator: RunningSimulator) -> None:
    with httpx.Client() as client:
        endpoints = discover(client, simulator.psc_issuer)
        assert endpoints.issuer == simulator.psc_issuer
        assert endpoints.backchannel_authentication_endpoint.endswith("/ext/ciba/auth")
        with pytest.raises(TokenError) as caught:
            discover(client, simulator.base_url + "/auth/realms/other")
        assert "discovery failed" in str(caught.value)
        simulator.state.options.public_url = "http://127.0.0.2:1"
        try:
            with pytest.raises(TokenError) as wrong:
                discover(client, simulator.psc_issuer)
        finally:
            simulator.state.options.public_url = None
        assert "is for issuer http://127.0.0.2:1" in str(wrong.value)


def test_a_token_psc_did_not_sign_is_refused(
    simulator: RunningSimulator, source: CibaTokenSource
) -> None:
    forger = TokenAuthority.create("RS256", None, 120, "eidas1")
    forged = forger.mint(issuer=simulator.psc_issuer, client_id="prostop-plugin",
                         national_id=CLAIRE.national_id, scope="openid")
    with pytest.raises(TokenError) as caught:
        source.verifier.claims(forged)
    assert "unknown to Pro Santé Connect's JWKS" in str(caught.value)
    real = TokenAuthority.create("RS256", shared_signing_key("RS256"), 120, "eidas1")
    other_issuer = real.mint(issuer="http://elsewhere", client_id="prostop-plugin",
                             national_id=CLAIRE.national_id, scope="openid")
    with pytest.raises(TokenError, match="issuer is 'http://elsewhere'"):
        source.verifier.claims(other_issuer)
    unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0."
    with pytest.raises(TokenError, match="'none'"):
        source.verifier.claims(unsigned)


# -- checks ------------------------------------------------------------------------------------


def test_a_pharmacist_is_refused_in_french_and_english(
    simulator: RunningSimulator, source: CibaTokenSource
) -> None:
    for _ in range(2):
        with pytest.raises(TokenError) as caught:
            source.token_for(PHARMACIST, "42")
    message = str(caught.value)
    assert "pharmacien (21)" in message and "pharmacist (21)" in message
    assert "médecin, infirmier" in message and "physician, nurse" in message
    assert len(calls(simulator, CIBA_PATH)) == 2  # a refused token is never cached


def test_allowed_professions_are_configuration(simulator: RunningSimulator) -> None:
    source = CibaTokenSource(psc_settings(simulator), allowed_professions=["10", "21"])
    assert source.token_for(PHARMACIST, "42").profession_codes == ["21"]
    source.close()


@pytest.mark.parametrize("simulator", [{"token_acr": "eidas0"}], indirect=True)
def test_a_token_below_eidas1_is_refused(source: CibaTokenSource) -> None:
    with pytest.raises(TokenError) as caught:
        source.token_for(CLAIRE, "42")
    assert "authentication level eidas0 is below eidas1" in str(caught.value)


def _token(**fields: object) -> AccessToken:
    values: dict[str, object] = {
        "access_token": SecretStr("t"), "expires_at": datetime.now(UTC) + timedelta(minutes=2),
        "subject": "810003456789", "acr": "eidas1", "profession_codes": ["10"],
    }
    return AccessToken.model_validate(values | fields)


def test_check_token_rules() -> None:
    allowed = ("10", "60")
    check_token(_token(), CLAIRE, allowed_professions=allowed)
    cases = {
        "expired": _token(expires_at=datetime.now(UTC) - timedelta(seconds=1)),
        "belongs to 810009876543": _token(subject="810009876543"),
        "level unknown is below eidas1": _token(acr=None),
        "no profession": _token(profession_codes=[]),
        "infirmier": _token(profession_codes=["60", "21"]),
    }
    for words, token in cases.items():
        if words == "infirmier":
            check_token(token, CLAIRE, allowed_professions=allowed)  # one allowed is enough
            continue
        with pytest.raises(TokenError, match=words):
            check_token(token, CLAIRE, allowed_professions=allowed)
    assert acr_satisfies("eidas2", "eidas1") and not acr_satisfies("eidas0", "eidas1")
    assert not acr_satisfies("something", "eidas1")


def test_profession_codes_from_userinfo_shapes() -> None:
    exercices = [{"codeProfession": "10"}, {"codeProfession": "10"}, {"codeProfession": "60"}]
    assert profession_codes({"SubjectRefPro": {"exercices": exercices}}) == ["10", "60"]
    assert profession_codes({"SubjectRefPro": "garbage"}) == []
    assert profession_codes({}) == []


# -- one authentication per request -------------------------------------------------------------


def test_every_request_is_its_own_authentication(
    simulator: RunningSimulator, source: CibaTokenSource
) -> None:
    """A token serves the request that asked for it only: a second request, even seconds
    later for the same practitioner, is a new approval showing its own two digits."""
    first = source.token_for(CLAIRE, "42")
    second = source.token_for(CLAIRE, "17")
    assert first.access_token != second.access_token
    bodies = [str(c["body"]) for c in calls(simulator, CIBA_PATH)]
    assert len(bodies) == 2
    assert "binding_message=42" in bodies[0] and "binding_message=17" in bodies[1]


def test_concurrent_requests_for_one_practitioner_do_not_wait_for_each_other(
    simulator: RunningSimulator, source: CibaTokenSource
) -> None:
    """An abandoned request (never approved) must not hold up the next one."""
    simulator.state.options.approvals[CLAIRE.national_id] = Approval(mode="never")
    started: list[str] = []
    abandoned = threading.Event()
    errors: list[TokenError] = []

    def forgotten() -> None:
        try:
            source.token_for(CLAIRE, "11", cancel=abandoned, on_started=started.append)
        except TokenError as exc:
            errors.append(exc)

    waiting = threading.Thread(target=forgotten)
    waiting.start()
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started, "the first request never reached PSC"
    simulator.state.options.approvals[CLAIRE.national_id] = Approval(mode="now")
    token = source.token_for(CLAIRE, "22")  # while the first one still waits
    assert token.subject == CLAIRE.national_id
    assert waiting.is_alive()
    abandoned.set()
    waiting.join(5)
    assert not waiting.is_alive()
    assert errors and "cancelled" in str(errors[0])
    (old,) = [r for r in simulator.state.ciba.listing() if r["auth_req_id"] == started[0]]
    assert old["status"] == "pending"  # PSC has no cancel: nobody will use its answer


# -- hook sources ------------------------------------------------------------------------------


def test_binding_message_is_two_random_digits() -> None:
    seen = {new_binding_message() for _ in range(400)}
    assert all(len(m) == 2 and m.isdigit() for m in seen)
    assert len(seen) > 50


def test_host_token_store_hands_over_fresh_tokens_only() -> None:
    store = HostTokenStore(refresh_margin=15)
    store.put(_token())
    assert store.prostop_practitioner_token(CLAIRE, "42") is not None
    assert store.prostop_practitioner_token(PAUL, "42") is None
    store.put(_token(expires_at=datetime.now(UTC) + timedelta(seconds=10)))
    assert store.prostop_practitioner_token(CLAIRE, "42") is None
    store.put(_token())
    store.forget(CLAIRE)
    assert store.prostop_practitioner_token(CLAIRE, "42") is None


def test_a_session_token_serves_the_work_of_its_own_session_only() -> None:
    store = HostTokenStore()
    mine = _token()
    store.put(mine, session="browser-a")
    assert store.prostop_practitioner_token(CLAIRE, "42") is None  # outside any session
    with store.session("browser-b"):
        assert store.prostop_practitioner_token(CLAIRE, "42") is None
    with store.session("browser-a"):
        assert store.prostop_practitioner_token(CLAIRE, "42") is mine
        assert store.prostop_practitioner_token(PAUL, "42") is None
    seen: list[AccessToken | None] = []
    with store.session("browser-a"):  # another thread is another context
        other = threading.Thread(
            target=lambda: seen.append(store.prostop_practitioner_token(CLAIRE, "42")))
        other.start()
        other.join(5)
    assert seen == [None]
    store.forget(session="browser-a")
    with store.session("browser-a"):
        assert store.prostop_practitioner_token(CLAIRE, "42") is None


def test_host_token_wins_and_ciba_is_the_fallback(simulator: RunningSimulator) -> None:
    pm = new_plugin_manager()
    ciba = PSCTokenPlugin(psc_settings(simulator))
    pm.register(ciba, name="psc-ciba")
    store = HostTokenStore()
    pm.register(store, name="host-tokens")
    facade = HookFacade(pm)
    handed_over = minted_token(simulator)
    store.put(handed_over)
    assert facade.practitioner_token(CLAIRE, "42") is handed_over
    assert calls(simulator, CIBA_PATH) == []
    by_ciba = facade.practitioner_token(NURSE, "42")
    assert by_ciba is not None and by_ciba.subject == NURSE.national_id
    assert len(calls(simulator, CIBA_PATH)) == 1
    ciba.close()


def test_psc_plugin_reads_the_configuration(simulator: RunningSimulator) -> None:
    plugin = PSCTokenPlugin()
    settings = Settings.model_validate({
        "psc": psc_settings(simulator).model_dump(),
        "eligibility": {"allowed_professions": ["21"]},
    })
    plugin.prostop_configure(settings)
    assert plugin.source().settings.issuer == simulator.psc_issuer
    token = plugin.prostop_practitioner_token(PHARMACIST, "42")
    assert token is not None and token.profession_codes == ["21"]
    with pytest.raises(TokenError, match="médecin"):
        plugin.prostop_practitioner_token(CLAIRE, "42")
    plugin.close()


def test_psc_settings_default_to_the_simulator() -> None:
    assert PSCSettings().issuer.endswith("/auth/realms/esante-wallet")


def test_host_token_store_refuses_a_token_without_a_national_id() -> None:
    with pytest.raises(TokenError, match="not a PSC national id"):
        HostTokenStore().put(_token(subject="someone"))


def test_a_discovery_document_that_is_not_an_object_is_one_clear_error() -> None:
    """`[1]` served as the discovery document: a TokenError naming it, never a traceback."""
    import http.server
    import threading

    class NotAnObject(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"[1]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotAnObject)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with httpx.Client(timeout=5) as client, pytest.raises(TokenError) as caught:
            discover(client, f"http://127.0.0.1:{server.server_port}/auth/realms/x")
    finally:
        server.shutdown()
        server.server_close()
    assert "not a PSC discovery document" in str(caught.value)
    assert "the document" in str(caught.value)
