"""HPRIM readers give each result its sender (the local-code map's key) and its order."""

from __future__ import annotations

from tests.hl7.test_senders_and_orders import results


def test_hprim_results_carry_their_sender_and_the_sante_order() -> None:
    (result,) = results("hprim_pcr_label_positif.hpr")
    assert result.sender == "LABO DES DEUX RIVES"
    first, *_ = results("hprim_sante_multiplex_sarscov2.hpr")
    assert first.sender == "BIOLAB ATLANTIQUE"
    assert first.panel is not None and first.panel.code == "PCRRESP"
