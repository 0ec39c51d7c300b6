"""The simulator itself, over loopback: the code service, the PSC realm, faults, the log, CLI."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from prostop_plugin.cli.simulator import options_from, register
from prostop_plugin.config import PSC_REALM_PATH
from prostop_plugin.simulator import (
    Approval,
    RunningSimulator,
    SimulatorOptions,
    parse_approval,
    parse_fault,
    run_in_thread,
)
from prostop_plugin.simulator.codes import CodeStore
from prostop_plugin.simulator.options import describe_minutes, parse_code_validity, parse_duration
from prostop_plugin.simulator.tokens import TokenAuthority
from tests.fixtures.simulator import shared_signing_key, simulator_options
from tests.paths import REPO

CLAIRE = "810003456789"
PAUL = "810009876543"
NURSE = "810005550123"
PHARMACIST = "810007770456"
CLIENT = ("prostop-plugin", "simulator-secret")
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
OIDC = PSC_REALM_PATH + "/protocol/openid-connect"


@pytest.fixture
def http(simulator: RunningSimulator) -> Any:
    with httpx.Client(base_url=simulator.base_url, timeout=5) as client:
        yield client


def ciba_start(http: httpx.Client, national_id: str = CLAIRE) -> dict[str, Any]:
    response = http.post(
        OIDC + "/ext/ciba/auth", auth=CLIENT,
        data={"login_hint": national_id, "binding_message": "42", "scope": "openid scope_all",
              "acr_values": "eidas1", "channel": "MOBILE"},
    )
    assert response.status_code == 200, response.text
    started: dict[str, Any] = response.json()
    return started


def poll(http: httpx.Client, auth_req_id: str) -> httpx.Response:
    return http.post(
        OIDC + "/token", auth=CLIENT, data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id}
    )


def token_for(http: httpx.Client, national_id: str = CLAIRE) -> str:
    started = ciba_start(http, national_id)
    time.sleep(started["interval"])
    response = poll(http, started["auth_req_id"])
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- code service ----------------------------------------------------------------------------


def test_generate_short_answers_the_documented_contract(http: httpx.Client) -> None:
    response = http.get("/api/v1/generate/short", headers=bearer(token_for(http)))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"code", "validFrom", "validUntil", "dateGenerate"}
    assert re.fullmatch(r"[A-Z0-9]{6}", body["code"])
    for field in ("validFrom", "validUntil", "dateGenerate"):
        assert ISO_MILLIS.match(body[field]), body[field]
    valid_from = datetime.fromisoformat(body["validFrom"])
    valid_until = datetime.fromisoformat(body["validUntil"])
    assert valid_until - valid_from == timedelta(minutes=60)
    assert abs(datetime.now(UTC) - valid_from) < timedelta(seconds=5)


def test_the_code_validity_can_be_shortened_at_run_time_to_see_expiry(
    simulator: RunningSimulator, http: httpx.Client
) -> None:
    assert http.get("/_simulator/code-validity").json() == {"minutes": 60, "text": "60 min"}
    changed = http.put("/_simulator/code-validity", json={"duration": "2m"})
    assert changed.status_code == 200 and changed.json()["text"] == "2 min"
    body = http.get("/api/v1/generate/short", headers=bearer(token_for(http))).json()
    window = datetime.fromisoformat(body["validUntil"]) - datetime.fromisoformat(body["validFrom"])
    assert window == timedelta(minutes=2)
    assert http.get("/_simulator").json()["code_validity"]["minutes"] == 2
    assert http.put("/_simulator/code-validity", json={"minutes": 0.5}).json()["text"] == "30 s"
    for bad in ({"duration": "soon"}, {"duration": "5s"}, {"minutes": 2000}, {}, ["2m"]):
        refused = http.put("/_simulator/code-validity", json=bad)
        assert refused.status_code == 422, bad
        assert refused.json()["error"] == "invalid_request"
    simulator.reset()  # back to the run's own validity
    assert http.get("/_simulator/code-validity").json()["minutes"] == 60


def test_durations_and_code_validity() -> None:
    assert [parse_duration(s) for s in ("2m", "90s", "1h", "1h30m", "2", "2 min", "0.5m")] \
        == [120, 90, 3600, 5400, 120, 120, 30]
    assert parse_code_validity("2m") == 2 and parse_code_validity("24h") == 24 * 60
    for bad in ("", "m", "2x", "5s", "25h", "-2m"):
        with pytest.raises(ValueError):
            parse_code_validity(bad)
    assert [describe_minutes(m) for m in (60, 2, 1.5)] == ["60 min", "2 min", "90 s"]


def test_generate_short_requires_a_valid_eidas1_token(
    simulator: RunningSimulator, http: httpx.Client
) -> None:
    url = "/api/v1/generate/short"
    assert http.get(url).status_code == 401
    assert http.get(url, headers=bearer("not-a-jwt")).status_code == 401
    assert http.get(url, headers={"Authorization": "Basic abc"}).status_code == 401
    key = shared_signing_key("RS256")
    issuer = simulator.psc_issuer

    def minted(**kw: Any) -> str:
        values: dict[str, Any] = {"algorithm": "RS256", "key": key, "lifetime": 120,
                                  "acr": "eidas1"} | kw
        return TokenAuthority.create(**values).mint(
            issuer=issuer, client_id="x", national_id=CLAIRE, scope="openid"
        )

    expired = http.get(url, headers=bearer(minted(lifetime=-60)))
    assert expired.status_code == 401 and "expired" in expired.json()["error_description"]
    weak = http.get(url, headers=bearer(minted(acr="eidas0")))
    assert weak.status_code == 401
    assert weak.json()["error"] == "insufficient_user_authentication"
    forged = http.get(url, headers=bearer(minted(key=None)))  # a key PSC never published
    assert forged.status_code == 401 and "signature" in forged.json()["error_description"].lower()
    assert http.get(url, headers=bearer(minted())).status_code == 200


def test_verify_uses_a_code_up_once(http: httpx.Client) -> None:
    code = http.get("/api/v1/generate/short", headers=bearer(token_for(http))).json()["code"]
    assert http.get("/api/v1/verify", params={"code": code, "type": 2}).json() == {"valid": True}
    assert http.get("/api/v1/verify", params={"code": code, "type": 2}).json() == {"valid": False}
    assert http.get("/api/v1/verify", params={"code": "ZZZZZZ", "type": 2}).json()["valid"] is False
    assert http.get("/api/v1/verify", params={"code": code, "type": 1}).json()["valid"] is False
    assert http.get("/api/v1/verify", params={"code": code, "type": 7}).status_code == 400


def test_code_values_are_not_reused_within_24_hours() -> None:
    draws = iter(["AAAAAA", "AAAAAA", "BBBBBB", "AAAAAA"])
    store = CodeStore(timedelta(minutes=60), timedelta(hours=24), draw=lambda: next(draws))
    t0 = datetime(2020, 11, 20, 9, tzinfo=UTC)
    assert store.generate(t0).code == "AAAAAA"
    assert store.generate(t0 + timedelta(hours=23)).code == "BBBBBB"  # AAAAAA still too recent
    assert store.generate(t0 + timedelta(hours=25)).code == "AAAAAA"


def test_codes_come_from_the_whole_alphabet_without_repeats() -> None:
    store = CodeStore(timedelta(minutes=60), timedelta(hours=24))
    codes = [store.generate().code for _ in range(2000)]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[A-Z0-9]{6}", c) for c in codes)
    assert set("".join(codes)) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def test_expired_codes_do_not_verify() -> None:
    store = CodeStore(timedelta(minutes=60), timedelta(hours=24))
    code = store.generate(datetime.now(UTC) - timedelta(minutes=61))
    assert store.verify(code.code) is False


# -- Pro Santé Connect -----------------------------------------------------------------------


def test_discovery_lists_the_psc_endpoints(simulator: RunningSimulator, http: httpx.Client) -> None:
    doc = http.get(PSC_REALM_PATH + "/.well-known/wallet-openid-configuration").json()
    issuer = simulator.psc_issuer
    assert doc["issuer"] == issuer
    ciba = issuer + "/protocol/openid-connect/ext/ciba/auth"
    assert doc["backchannel_authentication_endpoint"] == ciba
    assert doc["token_endpoint"] == issuer + "/protocol/openid-connect/token"
    assert doc["jwks_uri"] == issuer + "/protocol/openid-connect/certs"
    assert doc["backchannel_token_delivery_modes_supported"] == ["poll"]
    assert "eidas1" in doc["acr_values_supported"]


def test_ciba_token_is_a_signed_eidas1_jwt_checked_against_jwks(
    simulator: RunningSimulator, http: httpx.Client
) -> None:
    token = token_for(http)
    jwks = jwt.PyJWKSet.from_dict(http.get(OIDC + "/certs").json())
    header = jwt.get_unverified_header(token)
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=simulator.psc_issuer,
                        options={"verify_aud": False})
    assert claims["acr"] == "eidas1"
    assert claims["SubjectNameID"] == CLAIRE
    assert 110 <= claims["exp"] - time.time() <= 121


@pytest.mark.parametrize("simulator", [{"signing_algorithm": "EdDSA"}], indirect=True)
def test_eddsa_tokens(http: httpx.Client) -> None:
    token = token_for(http)
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    assert http.get("/api/v1/generate/short", headers=bearer(token)).status_code == 200
    assert http.get(OIDC + "/certs").json()["keys"][0]["kty"] == "OKP"


def test_userinfo_and_introspection(http: httpx.Client) -> None:
    token = token_for(http, PHARMACIST)
    info = http.get(OIDC + "/userinfo", headers=bearer(token)).json()
    assert info["SubjectNameID"] == PHARMACIST
    assert [e["codeProfession"] for e in info["SubjectRefPro"]["exercices"]] == ["21"]
    active = http.post(OIDC + "/token/introspect", auth=CLIENT, data={"token": token}).json()
    assert active["active"] is True and active["SubjectNameID"] == PHARMACIST
    inactive = http.post(OIDC + "/token/introspect", auth=CLIENT, data={"token": "x"}).json()
    assert inactive == {"active": False}
    assert http.get(OIDC + "/userinfo").status_code == 401


def test_ciba_refuses_bad_clients_and_unknown_practitioners(http: httpx.Client) -> None:
    form = {"login_hint": CLAIRE, "scope": "openid scope_all", "binding_message": "12"}
    wrong = http.post(OIDC + "/ext/ciba/auth", auth=("prostop-plugin", "nope"), data=form)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    nobody = form | {"login_hint": "899999999999"}
    unknown = http.post(OIDC + "/ext/ciba/auth", auth=CLIENT, data=nobody)
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_user_id"
    no_openid = http.post(OIDC + "/ext/ciba/auth", auth=CLIENT, data=form | {"scope": "x"})
    assert no_openid.json()["error"] == "invalid_scope"
    channel = http.post(OIDC + "/ext/ciba/auth", auth=CLIENT, data=form | {"channel": "FAX"})
    assert channel.json()["error"] == "invalid_request"


def test_ciba_polling_answers_pending_slow_down_then_the_token(
    simulator: RunningSimulator, http: httpx.Client
) -> None:
    simulator.state.options.approvals[CLAIRE] = Approval(mode="after", after=0.3)
    started = ciba_start(http)
    assert set(started) == {"auth_req_id", "expires_in", "interval"}
    time.sleep(started["interval"])
    assert poll(http, started["auth_req_id"]).json()["error"] == "authorization_pending"
    assert poll(http, started["auth_req_id"]).json()["error"] == "slow_down"  # no wait at all
    time.sleep(0.4)
    answer = poll(http, started["auth_req_id"])
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    assert poll(http, started["auth_req_id"]).json()["error"] == "invalid_grant"  # single use


@pytest.mark.parametrize("simulator", [{"approvals": {PAUL: Approval(mode="deny")}}], indirect=True)
def test_ciba_denied(http: httpx.Client) -> None:
    started = ciba_start(http, PAUL)
    time.sleep(started["interval"])
    assert poll(http, started["auth_req_id"]).json()["error"] == "access_denied"


@pytest.mark.parametrize(
    "simulator", [{"approvals": {CLAIRE: Approval(mode="never")}, "ciba_expires_in": 1}],
    indirect=True,
)
def test_ciba_never_answered_expires(http: httpx.Client) -> None:
    started = ciba_start(http)
    time.sleep(started["interval"])
    assert poll(http, started["auth_req_id"]).json()["error"] == "authorization_pending"
    time.sleep(1.0)
    assert poll(http, started["auth_req_id"]).json()["error"] == "expired_token"


NEVER = {"approvals": {CLAIRE: Approval(mode="never")}}


@pytest.mark.parametrize("simulator", [NEVER], indirect=True)
def test_admin_approves_or_denies_by_hand(http: httpx.Client) -> None:
    first, second = ciba_start(http), ciba_start(http)
    pending = http.get("/_simulator/ciba").json()
    assert {p["status"] for p in pending} == {"pending"}
    assert {p["binding_message"] for p in pending} == {"42"}
    approved = http.post(f"/_simulator/ciba/{first['auth_req_id']}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert http.post(f"/_simulator/ciba/{first['auth_req_id']}/deny").status_code == 409
    assert http.post("/_simulator/ciba/nope/approve").status_code == 404
    time.sleep(0.06)
    assert poll(http, first["auth_req_id"]).status_code == 200
    denied = http.post(f"/_simulator/practitioners/{CLAIRE}/deny").json()
    assert denied["decided"] == [second["auth_req_id"]]
    assert poll(http, second["auth_req_id"]).json()["error"] == "access_denied"


def test_admin_changes_a_practitioners_approval(http: httpx.Client) -> None:
    changed = http.put(f"/_simulator/practitioners/{NURSE}/approval", json={"mode": "deny"})
    assert changed.status_code == 200
    started = ciba_start(http, NURSE)
    time.sleep(0.06)
    assert poll(http, started["auth_req_id"]).json()["error"] == "access_denied"
    assert http.put("/_simulator/practitioners/1/approval", json={}).status_code == 404
    bad = http.put(f"/_simulator/practitioners/{NURSE}/approval", json={"mode": "maybe"})
    assert bad.status_code == 422


def test_the_directory_has_the_corpus_practitioners(http: httpx.Client) -> None:
    people = {p["rpps"]: p for p in http.get("/_simulator/practitioners").json()}
    assert people["10003456789"]["name"] == "Dr Claire DURAND"
    assert people["10009876543"]["name"] == "Dr Paul BERNARD"
    assert {p["profession_code"] for p in people.values()} >= {"10", "60", "21"}
    assert all(p["national_id"] == "8" + p["rpps"] for p in people.values())
    assert all(p["approval"]["mode"] == "now" for p in people.values())


# -- faults ----------------------------------------------------------------------------------


def test_parse_fault_short_forms() -> None:
    fault = parse_fault("429=3:2")
    assert (fault.kind, fault.value, fault.count, fault.endpoint) == ("429", 3.0, 2, "generate")
    assert parse_fault("token/slow_down").endpoint == "token"
    assert parse_fault("slow_down").endpoint == "token"
    forever = parse_fault("any/500:*@0.25")
    assert (forever.count, forever.endpoint, forever.probability) == (None, "any", 0.25)
    assert parse_fault("503", default_count=None).count is None
    for bad in ("explode", "token/bad_code", "nowhere/500", "503:x", "latency=999"):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_parse_approval() -> None:
    assert parse_approval("after:2.5") == Approval(mode="after", after=2.5)
    assert parse_approval("deny").mode == "deny"
    with pytest.raises(ValueError):
        parse_approval("later")


def test_queued_faults_hit_the_next_matching_requests_only(
    simulator: RunningSimulator, http: httpx.Client
) -> None:
    token = token_for(http)
    queued = http.post("/_simulator/faults", json=["503:2", {"kind": "500", "endpoint": "verify"}])
    assert queued.status_code == 201
    assert len(http.get("/_simulator/faults").json()) == 2
    url = "/api/v1/generate/short"
    assert [http.get(url, headers=bearer(token)).status_code for _ in range(3)] == [503, 503, 200]
    assert http.get("/api/v1/verify", params={"code": "AAAAAA"}).status_code == 500
    assert http.get("/api/v1/verify", params={"code": "AAAAAA"}).status_code == 200
    assert http.get("/_simulator/faults").json() == []
    assert http.post("/_simulator/faults", json="explode").status_code == 422
    misplaced = {"kind": "bad_code", "endpoint": "token"}
    assert http.post("/_simulator/faults", json=misplaced).status_code == 422
    simulator.queue_faults("500:*")
    assert http.get(url, headers=bearer(token)).status_code == 500
    assert http.delete("/_simulator/faults").status_code == 200
    assert http.get(url, headers=bearer(token)).status_code == 200


def test_every_fault_kind(http: httpx.Client) -> None:
    token = token_for(http)
    url = "/api/v1/generate/short"

    def with_fault(spec: str, **kw: Any) -> httpx.Response:
        return http.get(url, headers=bearer(token) | {"X-Simulator-Fault": spec}, **kw)

    started = time.monotonic()
    assert with_fault("latency=0.2").status_code == 200
    assert time.monotonic() - started >= 0.2
    assert with_fault("500").status_code == 500
    assert with_fault("503").status_code == 503
    limited = with_fault("429=2")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert with_fault("401").status_code == 401  # the token itself is fine
    with pytest.raises(ValueError):
        with_fault("malformed_json").json()
    assert not re.fullmatch(r"[A-Za-z0-9]{6}", with_fault("bad_code").json()["code"])
    stale = with_fault("expired_validity").json()
    assert datetime.fromisoformat(stale["validUntil"]) < datetime.now(UTC)
    with pytest.raises(httpx.ReadError):  # a real TCP reset
        with_fault("reset")
    with pytest.raises(httpx.ReadTimeout):
        with_fault("timeout=1", timeout=0.2)
    assert with_fault("token/slow_down").status_code == 400  # wrong endpoint for that fault
    assert with_fault("nonsense").status_code == 400


def test_faults_can_target_psc_endpoints(simulator: RunningSimulator, http: httpx.Client) -> None:
    simulator.queue_faults("token/slow_down", "ciba/503")
    assert http.post(OIDC + "/ext/ciba/auth", auth=CLIENT, data={}).status_code == 503
    started = ciba_start(http)
    time.sleep(0.06)
    assert poll(http, started["auth_req_id"]).json()["error"] == "slow_down"


# -- request log -----------------------------------------------------------------------------


def test_request_log_records_requests_with_secrets_redacted(
    simulator: RunningSimulator, http: httpx.Client
) -> None:
    token = token_for(http)
    http.get("/api/v1/generate/short", headers=bearer(token))
    entries = simulator.logged_requests()
    assert [e["path"] for e in entries] == [
        OIDC + "/ext/ciba/auth", OIDC + "/token", "/api/v1/generate/short"
    ]
    raw = Path(str(simulator.state.options.request_log)).read_text()
    assert token not in raw and "simulator-secret" not in raw
    ciba, _, generate = entries
    assert ciba["headers"]["authorization"] == "Basic <redacted>"
    assert "login_hint=810003456789" in ciba["body"] and "binding_message=42" in ciba["body"]
    assert generate["headers"]["authorization"] == "Bearer <redacted>"
    assert generate["method"] == "GET" and generate["query"] == "" and generate["body"] == ""


def test_a_reset_request_is_still_logged(simulator: RunningSimulator, http: httpx.Client) -> None:
    with pytest.raises(httpx.TransportError):
        http.get("/api/v1/generate/short", headers={"X-Simulator-Fault": "reset"})
    assert [e["path"] for e in simulator.logged_requests()] == ["/api/v1/generate/short"]


# -- serving ---------------------------------------------------------------------------------


def test_run_in_thread_binds_loopback_and_frees_the_port(tmp_path: Path) -> None:
    with run_in_thread(simulator_options(tmp_path)) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        port = sim.port
        assert httpx.get(sim.base_url + "/_simulator/stats").status_code == 200
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(1)
        probe.connect(("127.0.0.1", port))
    sim.stop()  # twice is harmless


def test_stop_does_not_wait_for_a_sleeping_fault(tmp_path: Path) -> None:
    sim = run_in_thread(simulator_options(tmp_path))
    sim.queue_faults("timeout=30")
    worker = threading.Thread(
        target=lambda: httpx.get(sim.base_url + "/api/v1/generate/short", timeout=40)
    )
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 3
    worker.join(5)


def test_run_in_thread_reports_a_taken_port(tmp_path: Path) -> None:
    with run_in_thread(simulator_options(tmp_path)) as sim, pytest.raises(RuntimeError):
        run_in_thread(simulator_options(tmp_path), port=sim.port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prostop")
    register(parser.add_subparsers())
    return parser


def test_cli_options_build_the_run(tmp_path: Path) -> None:
    args = _parser().parse_args(
        ["simulator", "--port", "0", "--fault", "503:2", "--fault", "latency=0.1",
         "--approve-after", "3", "--approval", "10009876543=deny",
         "--request-log", str(tmp_path / "log.jsonl"), "--client-secret", "",
         "--code-validity", "2m"]
    )
    options = options_from(args)
    assert options.code_validity_minutes == 2
    assert [f.describe() for f in options.faults] == [
        "503 on generate (next 2)", "latency=0.1 on generate (every request)"
    ]
    assert options.client_secret is None
    assert options.approvals[CLAIRE] == Approval(mode="after", after=3)
    assert options.approvals[PAUL].mode == "deny"
    directory = {p.national_id: p for p in options.practitioners}
    assert options.approval_for(directory[PAUL]).mode == "deny"
    with pytest.raises(SystemExit):
        _parser().parse_args(["simulator", "--fault", "explode"])


def test_cli_help_explains_faults_and_endpoints(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["simulator", "--help"])
    text = capsys.readouterr().out
    for word in ("generate/short", "wallet-openid-configuration", "malformed_json", "Retry-After",
                 "--request-log", "--approve-after", "X-Simulator-Fault"):
        assert word in text


def test_cli_refuses_a_non_loopback_address(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["simulator", "--host", "0.0.0.0"])
    assert args.func(args) == 2
    assert "loopback" in capsys.readouterr().err


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    script = (
        "import argparse, sys\n"
        "from prostop_plugin.cli.simulator import register\n"
        "p = argparse.ArgumentParser(prog='prostop'); register(p.add_subparsers())\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "simulator", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO, env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_simulator/stats", timeout=1).is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the simulator did not start")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert f"listening on http://127.0.0.1:{port}" in out
    assert "810003456789  Dr Claire DURAND" in out and "810007770456" in out
    assert "stopped" in out


def test_default_options_match_the_plugin_defaults() -> None:
    from prostop_plugin.config import CodeServiceSettings, PSCSettings

    options = SimulatorOptions()
    assert CodeServiceSettings().base_url == "http://127.0.0.1:8700"
    assert PSCSettings().issuer == "http://127.0.0.1:8700" + PSC_REALM_PATH
    assert PSCSettings().client_id == options.client_id
    secret = PSCSettings().client_secret
    assert secret is not None and secret.get_secret_value() == options.client_secret
