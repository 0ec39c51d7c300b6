"""``prostop demo``'s MSSanté part: the demo lab's CR-BIO goes through the local stand-in mail
server into the application mailbox, and the code note comes back the same way into the
physician's mailbox; an adapter whose demo part cannot load leaves the demo running."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from prostop_plugin.demo import DEMO_GROUP, demo_channels, run_scripted_demo


def test_the_scripted_demo_sends_the_lab_report_and_the_code_by_mssante(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_scripted_demo() == 0
    out = capsys.readouterr().out
    assert "✗" not in out
    mssante = out[out.index("par MSSanté (CR-BIO"):]
    assert "un remplaçant local, pas MSSanté" in mssante
    for step in ("✓ message lu dans la boîte applicative : cas confirmé",
                 "✓ code obtenu auprès de ProStopCovid et envoyé par MSSanté",
                 "✓ message reçu dans la boîte MSSanté de Dr Claire DURAND",
                 "✓ pièce jointe IHE_XDM.ZIP : la note CDA R2 porte le code"):
        assert step in mssante, mssante
    assert "Objet : XDM/1.0/DDM+Déclaration StopCovid" in mssante
    assert "claire.durand@medecin.mssante.fr/new/" in mssante


def test_a_demo_part_that_cannot_load_is_left_out_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    broken = importlib.metadata.EntryPoint(
        name="mssante", value="prostop_no_such_module:MssanteDemo", group=DEMO_GROUP)

    def entry_points(**select: Any) -> list[importlib.metadata.EntryPoint]:
        return [broken] if select.get("group") == DEMO_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert demo_channels(["mssante"]) == {}
    out = capsys.readouterr().out
    assert "démonstration mssante non montrée" in out and "prostop-mssante[demo]" in out
