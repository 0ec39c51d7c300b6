"""The confirmation dialog's form read as a decision, alike in the console and the demo EHR."""

from __future__ import annotations

from datetime import date

from prostop_plugin import decision_from_form
from tests.fixtures.builders import DURAND


def test_an_approval_keeps_its_attestations_and_onset() -> None:
    decision = decision_from_form(DURAND, action="approve", qr_unavailable="on",
                                  rtpcr_positive=None, onset="2020-11-16", reason="")
    assert decision.approved and decision.qr_unavailable_attested
    assert not decision.rtpcr_positive_attested
    assert decision.symptom_onset == date(2020, 11, 16)
    assert decision.decline_reason is None


def test_a_decline_has_no_onset_and_its_reason_within_the_limit() -> None:
    decision = decision_from_form(DURAND, action="decline", qr_unavailable=None,
                                  rtpcr_positive=None, onset="2020-11-16",
                                  reason="  " + "x" * 600, max_reason=500)
    assert not decision.approved and decision.symptom_onset is None
    assert decision.decline_reason == "x" * 500


def test_an_onset_that_is_not_a_date_is_no_onset() -> None:
    decision = decision_from_form(DURAND, action="approve", qr_unavailable=None,
                                  rtpcr_positive=None, onset="16/11/2020", reason="")
    assert decision.symptom_onset is None
