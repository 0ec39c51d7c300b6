"""Re-issue keeps one valid code per patient: in the engine, for every host and the CLI."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from prostop_plugin import ConfirmationRefused, IssuanceRecord, IssuanceState, Prostop
from prostop_plugin.simulator import RunningSimulator
from tests.fixtures.builders import Clock, HostPlugin, approve, rtpcr_event, settings_for
from tests.fixtures.simulator import minted_token, psc_settings

S = IssuanceState


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def host(clock: Clock, simulator: RunningSimulator) -> HostPlugin:
    return HostPlugin(clock=clock, decision=approve(),
                      tokens=lambda who: minted_token(simulator, who.national_id))


@pytest.fixture
def prostop(tmp_path: Path, simulator: RunningSimulator, clock: Clock,
            host: HostPlugin) -> Iterator[Prostop]:
    settings = settings_for(tmp_path, psc=psc_settings(simulator))
    with Prostop.open(settings, plugins=[host], clock=clock) as app:
        yield app


def expired_code(prostop: Prostop, clock: Clock) -> IssuanceRecord:
    record = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert record is not None and record.state == S.WRITTEN_BACK
    clock.advance(minutes=61)
    prostop.engine.resume()
    expired = prostop.ledger.get(record.id)
    assert expired.state == S.EXPIRED
    return expired


def valid_codes(prostop: Prostop, clock: Clock) -> list[str]:
    return [
        s.id for s in prostop.ledger.summaries()
        if s.state.holds_code and s.valid_until is not None and s.valid_until > clock()
    ]


def test_no_reissue_without_the_physician_checking_the_code_was_not_entered(
    prostop: Prostop, clock: Clock
) -> None:
    old = expired_code(prostop, clock)
    with pytest.raises(ConfirmationRefused) as refused:
        prostop.engine.reissue(old.id)
    assert "n'a pas saisi le précédent" in refused.value.fr
    assert len(prostop.ledger.summaries()) == 1  # nothing created


def test_an_expired_code_is_reissued_once_and_never_beside_a_valid_one(
    prostop: Prostop, clock: Clock, host: HostPlugin
) -> None:
    old = expired_code(prostop, clock)
    host.decision = None  # the new request waits for the physician
    waiting = prostop.engine.reissue(old.id, unused_attested=True)
    assert waiting.state == S.AWAITING_CONFIRMATION
    with pytest.raises(ConfirmationRefused) as refused:  # the old card clicked again
        prostop.engine.reissue(old.id, unused_attested=True)
    assert "déjà en cours" in refused.value.fr

    prostop.engine.decide(waiting.id, approve())
    assert valid_codes(prostop, clock) == [waiting.id]
    with pytest.raises(ConfirmationRefused) as refused:  # while the new code is valid
        prostop.engine.reissue(old.id, unused_attested=True)
    assert "encore valable" in refused.value.fr
    assert prostop.engine.reissue_refusal(old.id) is not None  # hosts hide the button

    clock.advance(minutes=61)
    prostop.engine.resume()
    with pytest.raises(ConfirmationRefused) as refused:  # the older expired code: not latest
        prostop.engine.reissue(old.id, unused_attested=True)
    assert "déjà été remplacé" in refused.value.fr
    assert prostop.engine.reissue_refusal(waiting.id) is None  # the latest one may be


def test_concurrent_reissues_give_one_request(prostop: Prostop, clock: Clock,
                                              host: HostPlugin) -> None:
    old = expired_code(prostop, clock)
    host.decision = None
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def click() -> None:
        start.wait()
        try:
            outcomes.append(prostop.engine.reissue(old.id, unused_attested=True).id)
        except ConfirmationRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes).count("refused") == 3, outcomes
    assert len([s for s in prostop.ledger.summaries() if s.id != old.id]) == 1


def test_prostop_reissue_asks_for_the_attestation(
    prostop: Prostop, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prostop_plugin.cli import main

    old = expired_code(prostop, clock)
    config = tmp_path / "prostop.toml"
    config.write_text(f'data_dir = "{prostop.settings.data_dir}"\n')
    assert main(["--config", str(config), "reissue", old.id]) == 1
    assert "--attest-unused" in capsys.readouterr().err
