"""End to end, in one process: the adapter loaded from its entry point, real threads, real
folders, the simulator over loopback HTTP. Corpus files in, codes out as import files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from prostop_filedrop.service import InboxService
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.documents import cda_note_problems
from prostop_plugin.hl7.cda import NS, hardened_parser
from prostop_plugin.models import ConfirmationDecision, IssuanceState, Practitioner
from prostop_plugin.plugins import DISABLE_AUTOLOAD_ENV
from prostop_plugin.simulator import RunningSimulator
from tests.adapters.adapter_fixtures import AS_OF
from tests.adapters.filedrop.helpers import (
    CORPUS,
    CORPUS_FILES,
    GLUCOSE_HPRIM,
    drop,
    filedrop_section,
    files,
    original_names,
    wait_until,
)
from tests.fixtures.simulator import code_service_settings, psc_settings

PRACTITIONER = Practitioner(national_id="10003456789", profession_code="10")


def test_corpus_files_in_codes_out(
    tmp_path: Path, simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    section = filedrop_section(tmp_path, write_back_format="both", settle_seconds=0.1)
    settings = Settings(
        data_dir=tmp_path / "var", as_of=AS_OF, adapters=["filedrop"],
        adapter={"filedrop": section},
        code_service=code_service_settings(simulator), psc=psc_settings(simulator),
    )
    inbox, outbox = Path(section["inbox"]), Path(section["outbox"])
    with Prostop.open(settings) as runtime:
        assert "filedrop" in [info.name for info in runtime.hooks.adapters()]
        [service] = runtime.hooks.background_services(runtime)
        assert isinstance(service, InboxService)
        service.start()
        try:
            for name in CORPUS_FILES:
                shutil.copy(CORPUS / name, inbox / f".{name}.copying")  # as a careful sender
                (inbox / f".{name}.copying").rename(inbox / name)
            drop(inbox, "glucose.hpr", GLUCOSE_HPRIM)
            wait_until(lambda: len(files(service.files.folders.done)) == 4, timeout=20,
                       what="four files in done/")
        finally:
            service.stop()
        assert original_names(service.files.folders.done) == sorted([*CORPUS_FILES,
                                                                     "glucose.hpr"])
        assert files(inbox) == files(service.files.folders.processing) == []
        assert files(service.files.folders.quarantine) == []
        assert runtime.ledger.event_count() == 3  # the glucose report stored nothing

        pending = runtime.engine.pending()
        assert sorted(p.patient.family_name or "" for p in pending) == ["DUPONT", "MARTIN"]
        assert all(p.decision.decision == "confirmed" for p in pending)
        for request in pending:  # a physician approves through the engine (no UI here)
            record = runtime.engine.decide(request.issuance_id, ConfirmationDecision(
                approved=True, practitioner=PRACTITIONER, qr_unavailable_attested=True))
            assert record.state == IssuanceState.WRITTEN_BACK, record.error

        for request in pending:
            stored = runtime.ledger.get(request.issuance_id, with_code=True)
            assert stored.code is not None
            code = stored.code.get_secret_value()
            cda = (outbox / f"prostop-{stored.id}.xml").read_bytes()
            assert cda_note_problems(cda) == []
            root = etree.fromstring(cda, parser=hardened_parser())
            note = "".join(root.xpath("//hl7:section/hl7:text//text()", namespaces=NS))
            assert code in note
            family = root.xpath("string(//hl7:patient/hl7:name/hl7:family)", namespaces=NS)
            assert family == request.patient.family_name
            hprim = (outbox / f"prostop-{stored.id}.hpr").read_bytes().decode("latin-1")
            assert code in hprim and hprim.endswith("****FINFICHIER****\r\n")
            assert stored.receipts[-1].target == (
                f"{outbox / f'prostop-{stored.id}.xml'}, {outbox / f'prostop-{stored.id}.hpr'}")
        assert len(list(outbox.iterdir())) == 4  # two codes, two formats, no temporary file
