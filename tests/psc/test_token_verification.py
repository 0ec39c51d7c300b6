"""Every PSC token the core uses is verified: signature against PSC's JWKS, issuer, audience
(azp), expiry, ``acr``, the confirming practitioner, an allowed profession — and the identity
comes from the verified claims, never from what the host wrote in :class:`AccessToken`.

End to end against the simulator over loopback HTTP: a host hands a token over through
:class:`HostTokenStore`, the physician approves, and we look at what reached the code service.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from prostop_plugin import hookimpl
from prostop_plugin.app import Prostop
from prostop_plugin.errors import TokenError, TokenRefused
from prostop_plugin.models import (
    AccessToken,
    ConfirmationDecision,
    ConfirmationRequest,
    IssuanceRecord,
    IssuanceState,
    Practitioner,
    WriteBackReceipt,
)
from prostop_plugin.psc import HostTokenStore, TokenVerifier
from prostop_plugin.simulator import Approval, RunningSimulator
from prostop_plugin.simulator.tokens import TokenAuthority
from tests.fixtures.builders import DURAND, rtpcr_event, settings_for
from tests.fixtures.simulator import (
    code_service_settings,
    minted_token,
    psc_settings,
    signed_token,
)

S = IssuanceState
BERNARD = "810009876543"
LEROY = "810007770456"  # the simulator's pharmacien
GENERATE = "/api/v1/generate/short"
CIBA_PATH = "/auth/realms/esante-wallet/protocol/openid-connect/ext/ciba/auth"


class ApprovingHost:
    """A host that approves at once, as ``confirmer``, and hands its own PSC token over."""

    def __init__(self, confirmer: Practitioner) -> None:
        self.confirmer = confirmer
        self.tokens = HostTokenStore()

    @hookimpl
    def prostop_confirm_issuance(self, request: ConfirmationRequest) -> ConfirmationDecision:
        return ConfirmationDecision(approved=True, practitioner=self.confirmer,
                                    qr_unavailable_attested=True)

    @hookimpl
    def prostop_practitioner_token(self, practitioner: Practitioner,
                                   binding_message: str) -> AccessToken | None:
        return self.tokens.prostop_practitioner_token(practitioner, binding_message)

    @hookimpl
    def prostop_write_back(self, record: IssuanceRecord) -> WriteBackReceipt:
        return WriteBackReceipt(adapter="test", target="record")


def labelled(raw: str, subject: str = DURAND.national_id, **fields: Any) -> AccessToken:
    """What a host fills in: everything here is its claim, nothing is checked yet."""
    values: dict[str, Any] = {
        "access_token": SecretStr(raw), "subject": subject, "acr": "eidas1",
        "expires_at": datetime.now(UTC) + timedelta(seconds=100), "profession_codes": ["10"],
    }
    return AccessToken.model_validate(values | fields)


def generate_calls(sim: RunningSimulator) -> list[dict[str, object]]:
    return [e for e in sim.logged_requests() if e["path"] == GENERATE]


def ciba_calls(sim: RunningSimulator) -> list[dict[str, object]]:
    return [e for e in sim.logged_requests() if e["path"] == CIBA_PATH]


@pytest.fixture
def runtime_for(tmp_path: Path, simulator: RunningSimulator) -> Iterator[Any]:
    """``runtime_for(host, ciba=False)``: a runtime on the simulator, with or without the
    built-in CIBA fallback."""
    opened: list[Prostop] = []

    def build(host: ApprovingHost, *, ciba: bool = True) -> Prostop:
        settings = settings_for(tmp_path / str(len(opened)),
                                code_service=code_service_settings(simulator),
                                psc=psc_settings(simulator))
        runtime = Prostop.open(settings, plugins=[host])
        opened.append(runtime)
        if not ciba:
            runtime.pm.unregister(name="prostop.psc")
        return runtime

    yield build
    for runtime in opened:
        runtime.close()


def issue_with(runtime: Prostop) -> IssuanceRecord:
    record = runtime.hooks.diagnosis_recorded(rtpcr_event(when=datetime.now(UTC)))
    assert record is not None
    return record


def _bad_tokens(sim: RunningSimulator) -> dict[str, tuple[AccessToken, Practitioner]]:
    now = int(time.time())
    pharmacist = Practitioner(national_id=LEROY)  # the host says nothing of the profession
    return {
        "malformed": (labelled("garbage"), DURAND),
        "practitioner": (labelled(signed_token(sim, BERNARD)), DURAND),
        "expired": (labelled(signed_token(sim, exp=now - 120, iat=now - 240)), DURAND),
        "issuer": (labelled(signed_token(sim, iss="https://auth.example.org/realms/x")), DURAND),
        "audience": (labelled(signed_token(sim, aud="another-software", azp="another-software")),
                     DURAND),
        "acr": (labelled(signed_token(sim, acr="eidas0")), DURAND),
        "profession": (labelled(signed_token(sim, LEROY), subject=LEROY), pharmacist),
    }


#: what the physician reads (French) for each refusal, and words of the English detail
EXPECTED: dict[str, tuple[str, str]] = {
    "malformed": ("n'a pas pu être vérifiée", "not a JWT"),
    "practitioner": ("celle d'un autre praticien (810009876543)", "belongs to 810009876543"),
    "expired": ("a expiré", "expired"),
    "issuer": ("n'a pas pu être vérifiée", "issuer"),
    "audience": ("n'a pas pu être vérifiée", "another-software"),
    "acr": ("niveau d'authentification (eidas0) est insuffisant", "eidas0 is below eidas1"),
    "profession": ("pharmacien", "pharmacist (21)"),
}


@pytest.mark.parametrize("reason", list(EXPECTED))
def test_a_bad_handed_over_token_is_refused_with_its_reason_and_no_code_is_asked(
    reason: str, simulator: RunningSimulator, runtime_for: Any
) -> None:
    token, confirmer = _bad_tokens(simulator)[reason]
    host = ApprovingHost(confirmer)
    host.tokens.put(token)
    runtime = runtime_for(host, ciba=False)
    record = issue_with(runtime)
    assert record.state == S.ISSUE_FAILED
    assert record.code is None and record.code_last2 is None
    assert generate_calls(simulator) == []  # nothing reached the code service
    assert record.error is not None
    french, english = EXPECTED[reason]
    assert french in record.error.fr and "aucun code n'a été demandé" in record.error.fr.lower()
    assert english in record.error.en
    # nothing was recorded under anyone's name but the confirming practitioner's
    assert runtime.ledger.get(record.id).confirmation.practitioner.national_id \
        == confirmer.national_id  # type: ignore[union-attr]


def test_a_valid_handed_over_token_is_used_without_asking_the_phone(
    simulator: RunningSimulator, runtime_for: Any
) -> None:
    host = ApprovingHost(DURAND)
    host.tokens.put(minted_token(simulator))
    record = issue_with(runtime_for(host))
    assert record.state == S.WRITTEN_BACK and record.code_last2
    assert len(generate_calls(simulator)) == 1
    assert ciba_calls(simulator) == []


def test_another_practitioners_token_falls_back_to_ciba_for_the_confirming_one(
    simulator: RunningSimulator, runtime_for: Any
) -> None:
    """Dr BERNARD's real token, labelled as Dr DURAND's: refused; Dr DURAND is asked on the
    e-CPS app, and the code is obtained with her own token."""
    host = ApprovingHost(DURAND)
    host.tokens.put(labelled(signed_token(simulator, BERNARD)))
    record = issue_with(runtime_for(host))
    assert record.state == S.WRITTEN_BACK
    (ciba,) = ciba_calls(simulator)
    assert "login_hint=810003456789" in str(ciba["body"])
    assert f"binding_message={record.binding_message}" in str(ciba["body"])
    assert len(generate_calls(simulator)) == 1


def test_garbage_falls_back_to_ciba_and_a_refusal_there_names_both(
    simulator: RunningSimulator, runtime_for: Any
) -> None:
    simulator.state.options.approvals[DURAND.national_id] = Approval(mode="deny")
    host = ApprovingHost(DURAND)
    host.tokens.put(labelled("garbage"))
    record = issue_with(runtime_for(host))
    assert record.state == S.ISSUE_FAILED and generate_calls(simulator) == []
    assert len(ciba_calls(simulator)) == 1
    assert record.error is not None
    assert "refused the request on the e-CPS app" in record.error.en
    assert "not a JWT" in record.error.en


def test_when_ciba_is_refused_too_the_physician_reads_the_last_reason(
    simulator: RunningSimulator, runtime_for: Any
) -> None:
    """Garbage from the host, then a pharmacien approving by CIBA: the profession is what the
    physician must read; the host's refusal stays in the technical detail."""
    host = ApprovingHost(Practitioner(national_id=LEROY))
    host.tokens.put(labelled("garbage", subject=LEROY))
    record = issue_with(runtime_for(host))
    assert record.state == S.ISSUE_FAILED and generate_calls(simulator) == []
    assert record.error is not None
    assert "pharmacien" in record.error.fr
    assert "refused before" in record.error.en and "not a JWT" in record.error.en


# -- the verifier on its own -------------------------------------------------------------------


@pytest.fixture
def verifier(simulator: RunningSimulator) -> Iterator[TokenVerifier]:
    checker = TokenVerifier(psc_settings(simulator))
    yield checker
    checker.close()


def test_identity_comes_from_the_verified_claims(
    simulator: RunningSimulator, verifier: TokenVerifier
) -> None:
    lying = labelled(signed_token(simulator, BERNARD), subject=DURAND.national_id, acr="eidas3",
                     profession_codes=["10"], expires_at=datetime.now(UTC) + timedelta(days=1))
    verified = verifier.verify(lying.access_token)
    assert verified.subject == BERNARD
    assert verified.acr == "eidas1" and verified.profession_codes == ["10"]
    assert verified.expires_at < datetime.now(UTC) + timedelta(seconds=121)
    bernard = Practitioner(national_id=BERNARD)
    assert verifier.verify_for(lying, bernard, allowed_professions=["10"]).subject == BERNARD
    with pytest.raises(TokenRefused) as caught:
        verifier.verify_for(lying, DURAND, allowed_professions=["10"])
    assert caught.value.reason == "practitioner"


def test_each_refusal_has_its_typed_reason(
    simulator: RunningSimulator, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    forger = TokenAuthority.create("RS256", None, 120, "eidas1")
    cases = {
        "malformed": "garbage",
        "algorithm": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.",
        "signature": forger.mint(issuer=simulator.psc_issuer, client_id="prostop-plugin",
                                 national_id=DURAND.national_id, scope="openid"),
        "issuer": signed_token(simulator, iss="http://elsewhere"),
        "audience": signed_token(simulator, azp="other", aud="other"),
        "expired": signed_token(simulator, exp=now - 60),
        "acr": signed_token(simulator, acr="eidas0"),
        "not_access_token": signed_token(simulator, typ="ID"),
    }
    for reason, raw in cases.items():
        with pytest.raises(TokenRefused) as caught:
            verifier.verify(raw)
        assert caught.value.reason == reason, (reason, caught.value)
        assert caught.value.fr and caught.value.en and caught.value.fr != caught.value.en
    # no azp: the audience must then name this software
    assert verifier.verify(signed_token(simulator, drop=("azp",))).subject == DURAND.national_id
    with pytest.raises(TokenRefused, match="another-software"):
        verifier.verify(signed_token(simulator, drop=("azp",), aud=["another-software"]))


def test_expiry_is_checked_with_a_small_leeway_only(
    simulator: RunningSimulator, verifier: TokenVerifier
) -> None:
    expiry = int(time.time()) + 60  # PSC (its userinfo) still takes it: our clock is ahead
    raw = signed_token(simulator, exp=expiry)
    at_expiry = datetime.fromtimestamp(expiry, UTC)
    assert verifier.verify(raw, now=at_expiry + timedelta(seconds=5)).subject \
        == DURAND.national_id
    with pytest.raises(TokenRefused, match="expired"):
        verifier.verify(raw, now=at_expiry + timedelta(seconds=60))
    late = signed_token(simulator, BERNARD, exp=expiry)  # not verified before: refused early
    with pytest.raises(TokenRefused, match="expired"):
        verifier.verify(late, now=at_expiry + timedelta(seconds=60))


def test_verification_is_cached_by_token_and_keys_are_fetched_once(
    simulator: RunningSimulator, verifier: TokenVerifier
) -> None:
    first, second = signed_token(simulator), signed_token(simulator, BERNARD)
    for _ in range(3):
        verifier.verify(first)
        verifier.verify(second)
    paths = [e["path"] for e in simulator.logged_requests()]
    assert sum(p.endswith("/certs") for p in paths) == 1  # type: ignore[union-attr]
    assert sum(p.endswith("/userinfo") for p in paths) == 2  # type: ignore[union-attr]


def test_unknown_keys_do_not_make_us_hammer_the_jwks(
    simulator: RunningSimulator, verifier: TokenVerifier
) -> None:
    forger = TokenAuthority.create("RS256", None, 120, "eidas1")
    forged = forger.mint(issuer=simulator.psc_issuer, client_id="prostop-plugin",
                         national_id=DURAND.national_id, scope="openid")
    for _ in range(5):
        with pytest.raises(TokenRefused):
            verifier.verify(forged)
    paths = [e["path"] for e in simulator.logged_requests()]
    assert sum(p.endswith("/certs") for p in paths) <= 2  # type: ignore[union-attr]


def test_psc_unreachable_is_a_clear_error_not_a_refusal(simulator: RunningSimulator) -> None:
    checker = TokenVerifier(psc_settings(simulator, issuer="http://127.0.0.1:9/auth/realms/x",
                                         connect_timeout=0.5))
    with pytest.raises(TokenError) as caught:
        checker.verify(signed_token(simulator))
    checker.close()
    assert not isinstance(caught.value, TokenRefused)
    assert "discovery failed" in str(caught.value)
