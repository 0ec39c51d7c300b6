"""The codes seen in results read from their words: counted once per event, never in the way."""

from __future__ import annotations

import stat
import threading
from datetime import date
from pathlib import Path

import pytest

from prostop_plugin import Prostop, Settings
from prostop_plugin.codewatch import SeenCodes, SeenCodesError
from prostop_plugin.eligibility.observations import CodeSeen, codes_seen
from prostop_plugin.models import DiagnosisEvent
from prostop_plugin.readers import read_file

CORPUS = Path(__file__).resolve().parents[1] / "eligibility" / "corpus"
DAY = date(2020, 11, 19)


def event(name: str) -> DiagnosisEvent:
    (found,) = read_file(CORPUS / name)
    return found


def test_codes_seen_names_sender_code_label_and_what_the_words_said() -> None:
    seen = codes_seen(event("hl7_24_multiplex_sarscov2_positive.hl7").evidence)
    assert seen == [CodeSeen("CH-VALLEE", "L", "MXSC2", "SARS-CoV-2", "naat")]
    (unstated,) = codes_seen(event("hl7_25_technique_unstated.hl7").evidence)
    assert (unstated.code, unstated.category) == ("RSCOV", "unspecified")
    assert codes_seen(event("hl7_24_seasonal_coronaviruses_only.hl7").evidence) == []


def test_an_event_is_counted_once_and_the_file_is_the_owners_only(tmp_path: Path) -> None:
    store = SeenCodes(tmp_path / "var")
    seen = [CodeSeen("LABO", "L", "SCOV2", "SARS-CoV-2 PCR", "naat")] * 2
    assert store.record("filedrop|LABO|msg:1", seen, DAY)
    assert not store.record("filedrop|LABO|msg:1", seen, DAY)  # sent again: not twice
    assert store.record("filedrop|LABO|msg:2", seen[:1], date(2020, 11, 20))
    (row,) = store.rows()
    assert (row.sender, row.code, row.results) == ("LABO", "SCOV2", 3)
    assert (row.first_seen, row.last_seen) == (DAY, date(2020, 11, 20))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert b"msg:1" not in store.path.read_bytes()  # event keys are kept as digests only


def test_counting_from_threads_loses_nothing(tmp_path: Path) -> None:
    store = SeenCodes(tmp_path)
    seen = [CodeSeen("LABO", "L", "SCOV2", "SARS-CoV-2 PCR", "naat")]
    threads = [threading.Thread(target=store.record, args=(f"k{i}", seen, DAY))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert store.rows()[0].results == 8


def test_an_unreadable_file_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "codes_seen.sqlite3").write_bytes(b"not a database" * 100)
    with pytest.raises(SeenCodesError) as caught:
        SeenCodes(tmp_path).rows()
    assert caught.value.fix and "codes_seen.sqlite3" in (caught.value.where or "")


def test_the_runtime_counts_what_the_core_stored(tmp_path: Path) -> None:
    with Prostop.open(Settings(data_dir=tmp_path / "var")) as prostop:
        for name in ("hl7_231_pcr_local_positive.hl7", "hl7_231_pcr_local_positive.hl7",
                     "hl7_25_technique_unstated.hl7", "hl7_231_antigen_positive.hl7"):
            assert prostop.hooks.diagnosis_recorded(event(name)) is not None
        rows = {(r.sender, r.code): r for r in SeenCodes(prostop.settings.data_dir).rows()}
    assert rows[("LABO-MISTRAL", "SCOV2")].results == 1  # the resend is not counted again
    assert rows[("LABO-MISTRAL", "SCOV2")].category == "naat"
    assert rows[("BIOLAB-ATLANTIQUE", "RSCOV")].category == "unspecified"
    assert rows[("LABO-MISTRAL", "AGCOV")].label == "Test antigénique rapide SARS-CoV-2 (TDR)"


def test_a_failing_counter_never_stops_a_result(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", as_of=date(2020, 11, 20))
    with Prostop.open(settings) as prostop:
        (prostop.settings.data_dir / "codes_seen.sqlite3").mkdir()  # cannot be a database
        record = prostop.hooks.diagnosis_recorded(event("hl7_231_pcr_local_positive.hl7"))
        assert record is not None and record.decision is not None
        assert record.decision.decision == "confirmed"
