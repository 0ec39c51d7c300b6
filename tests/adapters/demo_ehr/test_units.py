"""The demo EHR's parts without a browser: its store, what it sends the plugin, its settings,
the entry point and the service's start and stop."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest

from prostop_demo_ehr import plugin as plugin_module
from prostop_demo_ehr.plugin import DemoEhrPlugin, UnknownPatient
from prostop_demo_ehr.recording import (
    ConsultationEntry,
    WrongPatient,
    entry_evidence,
    imported_events,
    same_person,
)
from prostop_demo_ehr.samples import sample_file
from prostop_demo_ehr.service import EhrWebService
from prostop_demo_ehr.settings import EhrSettings, load_ehr_settings
from prostop_demo_ehr.store import DEMO_PATIENTS, EhrStore
from prostop_plugin import AdapterInfo, handout_pdf, hookimpl, latin1
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.errors import ConfigError
from prostop_plugin.models import IssuanceRecord, IssuanceState, PatientRef
from prostop_plugin.testing import positive_pcr_event
from prostop_plugin.texts import Handout
from tests.adapters.demo_ehr.browser import contrast_ratio
from tests.fixtures.builders import rtpcr_event

CAMILLE, LUC, HELENE = DEMO_PATIENTS[0], DEMO_PATIENTS[1], DEMO_PATIENTS[2]
#: the stylesheet the EHR shares with the console
CSS = Path(__file__).resolve().parents[3] / "prostop_plugin" / "screens" / "static" \
    / "screens.css"
NOW = datetime(2020, 11, 19, 14, 0, tzinfo=UTC)


def test_write_back_is_idempotent_by_issuance_id() -> None:
    store = EhrStore(":memory:")
    consultation = store.open_consultation(CAMILLE.id, "810003456789", date(2020, 11, 19))
    assert store.open_consultation(CAMILLE.id, None, date(2020, 11, 19)) == consultation
    store.link_issuance("abc123", CAMILLE.id, consultation.id)
    store.write_back("abc123", CAMILLE.id, "note v1", "line v1")
    store.write_back("abc123", CAMILLE.id, "note v2", "line v2")  # after a crash: again
    assert [n.text for n in store.record_notes(CAMILLE.id)] == ["note v2"]
    assert [n.text for n in store.summary(consultation.id)] == ["line v2"]
    assert store.linked_issuances(CAMILLE.id) == ["abc123"]


def test_patients_are_listed_in_french_alphabetical_order() -> None:
    names = [p.family_name for p in EhrStore(":memory:").patients()]
    assert names == ["DUPONT", "ÉMERY", "LEFÈVRE", "MARTIN", "N'GUYEN", "ROUSSEAU"]


def test_patients_are_matched_by_ins_else_by_name_without_accents_and_birth_date() -> None:
    other = PatientRef(host_patient_id="X", family_name="Lefevre", given_name="HELENE MARIE",
                       birth_date=HELENE.birth_date)
    assert same_person(HELENE, other)
    assert not same_person(HELENE, other.model_copy(update={"birth_date": date(1990, 1, 1)}))
    assert not same_person(CAMILLE, PatientRef(host_patient_id="DOS-4411",
                                               ins="167032432204539"))


def test_an_imported_file_is_attached_to_the_ehr_patient_and_keeps_its_sender() -> None:
    data = sample_file("rtpcr_positive", CAMILLE, NOW, "CABINET-DURAND")
    events = imported_events(data, "rtpcr.hl7", CAMILLE, "fr")
    assert len(events) == 1
    assert events[0].patient == CAMILLE.ref()
    assert events[0].source.adapter == "demo_ehr"
    assert events[0].source.host == "LABO-DEMO"
    with pytest.raises(WrongPatient) as wrong:
        imported_events(data, "rtpcr.hl7", LUC, "fr")
    assert wrong.value.other.family_name == "DUPONT"


def test_only_covid_diagnoses_or_a_suggestive_ct_reach_the_plugin() -> None:
    assert not ConsultationEntry(diagnosis_code="J06.9", signs_present=True).concerns_covid()
    assert ConsultationEntry(diagnosis_code="U07.2").concerns_covid()
    assert ConsultationEntry(ct_suggestive=True).concerns_covid()
    entry = ConsultationEntry(diagnosis_code="U07.2", diagnosis_status="working",
                              signs_present=True, onset=date(2020, 11, 16), ct_suggestive=True,
                              ct_date=date(2020, 11, 18))
    kinds = [e.kind for e in entry_evidence(entry, NOW)]
    assert kinds == ["diagnosis", "symptoms", "imaging"]


def test_settings_refuse_a_non_loopback_host_and_default_under_the_data_dir(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, adapter={"demo_ehr": {"host": "0.0.0.0"}})
    with pytest.raises(ConfigError, match="loopback"):
        load_ehr_settings(settings)
    assert EhrSettings().database_path(settings) == str(tmp_path / "demo_ehr" / "ehr.sqlite3")
    assert EhrSettings().shows_simulator_controls(Settings())  # the default: local simulator
    remote = Settings(code_service={"base_url": "https://codes.example.org"})
    assert not EhrSettings().shows_simulator_controls(remote)


def test_write_back_answers_only_for_its_own_records(tmp_path: Path) -> None:
    plugin = DemoEhrPlugin()
    plugin.prostop_configure(Settings(data_dir=tmp_path))
    try:
        other = IssuanceRecord(id="x1", episode="e", state=IssuanceState.ISSUED,
                               event=rtpcr_event(when=NOW, adapter="hl7v2_mllp"))
        assert plugin.prostop_write_back(other) is None
        unknown = other.model_copy(update={"event": rtpcr_event(when=NOW, adapter="demo_ehr")})
        with pytest.raises(UnknownPatient):  # the outbox keeps it and shows the failure
            plugin.prostop_write_back(unknown)
    finally:
        plugin.close()


def test_handout_pdf_is_a_pdf_and_text_stays_french() -> None:
    sheet = Handout(
        title="Votre code de déclaration StopCovid", code="EC1Y05", code_grouped="EC1 Y05",
        validity="valable jusqu'au 19/11/2020 à 15h32", hurry="Vite.", steps=["Ouvrez…"],
        date_label="date du test", date_value="18/11/2020", date_line="Date du test : 18/11/2020",
        single_use="Cœur d'usage unique.", anonymity="Anonyme.", practitioner="Dr Claire DURAND",
    )
    assert handout_pdf(sheet).startswith(b"%PDF")
    assert handout_pdf(sheet, paper="A4").startswith(b"%PDF")
    assert latin1("Cœur … « déclarer » — été") == 'Coeur ... « déclarer » - été'


def test_the_code_colours_in_the_stylesheet_have_enough_contrast() -> None:
    css = CSS.read_text(encoding="utf-8")

    def colour(name: str) -> tuple[float, float, float]:
        found = re.search(rf"--{name}:\s*#([0-9a-fA-F]{{6}})", css)
        assert found, name
        value = found.group(1)
        r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
        return float(r), float(g), float(b)

    assert contrast_ratio(colour("code-fg"), colour("code-bg")) >= 4.5
    assert contrast_ratio((255, 255, 255), colour("accent")) >= 4.5  # primary buttons


def test_entry_point_loads_the_plugin_and_its_service_starts_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    assert {ep.name: ep.value for ep in entry_points(group="prostop")}.get("demo_ehr") \
        == "prostop_demo_ehr.plugin:plugin"
    monkeypatch.delenv("PROSTOP_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    settings = Settings(data_dir=tmp_path, adapters=["demo_ehr"],
                        adapter={"demo_ehr": {"port": 0}})
    try:
        with Prostop.open(settings) as runtime:
            assert [a.name for a in runtime.hooks.adapters()] == ["demo_ehr"]
            services = runtime.hooks.background_services(runtime)
            assert len(services) == 1 and isinstance(services[0], EhrWebService)
            service = services[0]
            service.start()
            url = service.url
            try:
                assert url.startswith("http://127.0.0.1:")
                answer = httpx.get(f"{url}/login", timeout=5)
                assert answer.status_code == 200 and "Pro Santé Connect" in answer.text
                assert httpx.get(f"{url}/patients", timeout=5).status_code == 303  # log in first
            finally:
                service.stop()
            service.stop()  # twice is fine
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"{url}/login", timeout=1)
    finally:
        plugin_module.plugin.close()
    printed = capsys.readouterr().out
    assert "Logiciel de cabinet de démonstration : http://127.0.0.1:" in printed
    assert "5. Ouvrez « Téléphone du patient »" in printed


class DesktopHost:
    """Another host of the installation, which shows its own confirmation dialog."""

    @hookimpl
    def prostop_register_adapters(self, register: Callable[[AdapterInfo], None]) -> None:
        register(AdapterInfo(name="desktop", title="Desktop EHR", has_confirmation_ui=True))


def test_the_banner_announces_screenless_channels_but_not_another_hosts_dialog(
    tmp_path: Path,
) -> None:
    plugin = DemoEhrPlugin()
    settings = Settings(data_dir=tmp_path, adapter={"demo_ehr": {"port": 0}})
    try:
        with Prostop.open(settings, plugins=[DesktopHost(), plugin]) as runtime:
            plugin.prostop_background_services(runtime)  # the EHR starts: it learns the others
            ids = {adapter: runtime.record(positive_pcr_event(
                adapter, n=n, on=runtime.engine.today())).issuance_id
                for n, adapter in enumerate(("demo_ehr", "hl7v2_mllp", "desktop"), start=1)}
            assert runtime.worker.wait_idle(30)
            assert sorted(plugin.take_new_requests()) == sorted(
                [ids["demo_ehr"], ids["hl7v2_mllp"]])
    finally:
        plugin.close()
