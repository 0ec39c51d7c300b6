"""``prostop demo``: the whole flow against the local simulator, narrated in French.

It runs a real flow — simulator over loopback HTTP, a real ledger and audit log in a temporary
folder, Pro Santé Connect by CIBA — with a minimal in-process host standing in for the EHR, and
checks every outcome it narrates: exit 0 only when each step did what it says.

Adapters may add their part through the entry point group ``prostop.demo``: the MSSanté adapter
offers a local stand-in mail server (not MSSanté) that the demo lab sends a CR-BIO through, and
where the code note comes back to the physician's mailbox (:class:`MailDemo`). With the
file-drop adapter installed, the demo also plays a practice software that imports lab files,
confirmed in the physician console (:mod:`prostop_plugin.demo_console`).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.demo_console import (
    DemoFolders,
    console_case,
    filedrop_plugin,
    interactive_part,
)
from prostop_plugin.documents import cda_note_problems
from prostop_plugin.errors import ConfirmationRefused
from prostop_plugin.hooks import hookimpl
from prostop_plugin.models import (
    Coding,
    ConfirmationDecision,
    DiagnosisEvent,
    DiagnosisEvidence,
    ImagingFinding,
    IssuanceRecord,
    IssuanceState,
    LabResult,
    PatientRef,
    Practitioner,
    SymptomEvidence,
    WriteBackReceipt,
)
from prostop_plugin.texts import get_texts

DR_DURAND = Practitioner(national_id="10003456789", family_name="DURAND", given_name="Claire",
                         profession_code="10")
CAMILLE = PatientRef(host_patient_id="DOS-4411", family_name="DUPONT", given_name="Camille",
                     birth_date=datetime(1980, 1, 15).date(), sex="F")
LUC = PatientRef(host_patient_id="DOS-5120", family_name="MARTIN", given_name="Luc",
                 birth_date=datetime(1967, 3, 2).date(), sex="M")
HELENE = PatientRef(host_patient_id="DOS-6230", family_name="LEFÈVRE", given_name="Hélène",
                    birth_date=datetime(1992, 6, 30).date(), sex="F")
#: a patient of the demo EHR too (adapters/demo_ehr); her lab report comes by MSSanté
JEANNE = PatientRef(host_patient_id="DOS-9012", ins="285046912345672",
                    ins_oid="1.2.250.1.213.1.4.10", family_name="ROUSSEAU", given_name="Jeanne",
                    birth_date=datetime(1985, 4, 21).date(), sex="F")
DEMO_GROUP = "prostop.demo"


class MailDemo(Protocol):
    """What the ``mssante`` entry of :data:`DEMO_GROUP` offers: a local stand-in mail server
    (``start``/``stop``), the adapter's settings for it, the demo lab, the physicians' mail."""

    @property
    def section(self) -> dict[str, Any]: ...
    @property
    def plugin(self) -> object: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def describe(self) -> list[str]: ...
    def send_lab_report(self, patient: PatientRef, now: datetime) -> object: ...
    def received(self, rpps: str) -> list[Path]: ...
    def mailbox_of(self, rpps: str) -> Path: ...
    def read_document(self, path: Path) -> tuple[str, bytes]: ...


def demo_channels(names: Iterable[str]) -> dict[str, Callable[..., Any]]:
    """The :data:`DEMO_GROUP` entry points of the adapters ``names``, loaded; one that cannot
    load (an optional library missing) is left out, with a line saying how to add it."""
    from importlib.metadata import entry_points

    wanted, found = set(names), {}
    for entry in entry_points(group=DEMO_GROUP):
        if entry.name not in wanted:
            continue
        try:
            found[entry.name] = entry.load()
        except Exception as exc:  # e.g. aiosmtpd not installed: the demo goes on without it
            print(f"(démonstration {entry.name} non montrée : {type(exc).__name__}: {exc} — "
                  f"pip install 'prostop-{entry.name}[demo]')")
    return found


@dataclass
class DemoHost:
    """The EHR's side: a patient record and a consultation summary per patient."""

    records: dict[str, list[str]] = field(default_factory=dict)
    summaries: dict[str, list[str]] = field(default_factory=dict)

    @hookimpl
    def prostop_write_back(self, record: IssuanceRecord) -> WriteBackReceipt | None:
        if record.event.source.adapter != "demo":
            return None
        texts = get_texts(record.locale)
        patient = record.patient.host_patient_id
        self.records.setdefault(patient, []).append(texts.record_note(record))
        self.summaries.setdefault(patient, []).append(texts.summary_line(record))
        return WriteBackReceipt(adapter="demo", target=f"dossier {patient}")


class Narrator:
    def __init__(self, pause: bool) -> None:
        self.pause = pause and sys.stdin.isatty()
        self.step = 0
        self.failures: list[str] = []

    def title(self, text: str) -> None:
        if self.pause and self.step:
            input("\n   (Entrée pour continuer) ")
        self.step += 1
        print(f"\n=== {self.step}. {text}")

    def say(self, text: str, indent: int = 3) -> None:
        for line in text.splitlines() or [""]:
            print(" " * indent + line)

    def expect(self, ok: bool, what: str) -> None:
        mark = "✓" if ok else "✗"
        print(f"   {mark} {what}")
        if not ok:
            self.failures.append(what)


def _event(patient: PatientRef, message_id: str, evidence: list[object], when: datetime,
           host: str = "CABINET-DURAND") -> DiagnosisEvent:
    return DiagnosisEvent.model_validate({
        "source": {"adapter": "demo", "host": host, "message_id": message_id},
        "patient": patient.model_dump(), "practitioner": DR_DURAND.model_dump(),
        "evidence": [e.model_dump() for e in evidence],  # type: ignore[attr-defined]
        "recorded_at": when,
    })


def _show_dialog(say: Narrator, prostop: Prostop, record: IssuanceRecord) -> None:
    request = prostop.engine.confirmation_request(record)
    dialog = get_texts("fr").confirmation(request)
    say.say(f"┌ {dialog.title}")
    say.say(f"│ {dialog.lead}")
    for reason in dialog.reasons:
        say.say(f"│  • {reason}")
    say.say(f"│ {dialog.patient_date}")
    for previous in dialog.previous_codes:
        say.say(f"│ {previous}")
    if dialog.qr_attestation:
        say.say(f"│ ☐ {dialog.qr_attestation}")
    if dialog.rtpcr_attestation:
        say.say(f"│ ☐ {dialog.rtpcr_attestation}")
    say.say(f"│ {dialog.binding_message}")
    say.say(f"└ [{dialog.approve}]  [{dialog.decline}]")


#: adapters the interactive demo starts when installed, with their demo settings
DEMO_ADAPTERS: dict[str, dict[str, object]] = {
    "demo_ehr": {"port": 8800},
    "filedrop": {"inbox": "{data}/inbox", "outbox": "{data}/outbox"},
    "hl7v2_mllp": {"listen": "127.0.0.1:2575"},
    "mssante": {},  # its settings come from its demo entry point (the local mail server)
}


def run_demo(*, scripted: bool = True, port: int = 0, pause: bool = False,
             code_validity: float = 60.0) -> int:
    """``code_validity``: minutes the simulator's codes are valid (shorter shows expiry)."""
    if not scripted:
        return run_interactive_demo(port=port, code_validity=code_validity)
    return run_scripted_demo(port=port, pause=pause, code_validity=code_validity)


def run_interactive_demo(*, port: int = 0, data_dir: Path = Path("demo-data"),
                         code_validity: float = 60.0) -> int:
    """Simulator + the runtime with every installed demo adapter, until Ctrl-C."""
    import threading
    from importlib.metadata import entry_points

    from prostop_plugin.runner import install_stop_signals, serve
    from prostop_plugin.simulator.options import SimulatorOptions, describe_minutes
    from prostop_plugin.simulator.server import run_in_thread

    installed = {ep.name for ep in entry_points(group="prostop")}
    adapters = [name for name in DEMO_ADAPTERS if name in installed]
    if "demo_ehr" not in adapters:
        print("The demo EHR (adapters/demo_ehr) is not installed: running the scripted demo.")
        return run_scripted_demo(port=port, pause=True)
    data = data_dir.resolve()
    for folder in ("inbox", "outbox"):  # the file-drop adapter's folders must exist
        (data / folder).mkdir(parents=True, exist_ok=True)
    channels = demo_channels(adapters)
    adapters = [name for name in adapters if name != "mssante" or name in channels]
    adapter_settings = {
        name: {k: str(v).format(data=data) if isinstance(v, str) else v
               for k, v in DEMO_ADAPTERS[name].items()}
        for name in adapters
    }
    console: dict[str, Any] = {}
    walkthrough = ""
    if "filedrop" in adapters:  # the console, on the file drop's demo inbox
        console, walkthrough = interactive_part(data, datetime.now(UTC))
    stop = threading.Event()
    install_stop_signals(stop)
    options = SimulatorOptions(ciba_interval=0.5, code_validity_minutes=code_validity)
    with contextlib.ExitStack() as running:
        mail: MailDemo | None = None
        if "mssante" in channels:
            mail = channels["mssante"](data / "mssante", on_delivery=_announce_delivery)
            mail.start()
            running.callback(mail.stop)
            adapter_settings["mssante"] = mail.section
        simulator = running.enter_context(run_in_thread(options, port=port or 8700))
        settings = Settings(
            data_dir=data / "var", adapters=adapters, adapter=adapter_settings,
            code_service={"base_url": simulator.base_url},
            psc={"issuer": simulator.psc_issuer}, console=console,
        )
        print(f"Simulateur ProStopCovid + Pro Santé Connect : {simulator.base_url}")
        if code_validity != 60:
            print(f"Codes valables {describe_minutes(code_validity)} (le vrai service : 60 min)")
        print(f"Données de démonstration : {data}")
        with Prostop.open(settings) as prostop:
            if mail is not None:
                _mail_lab_report(mail)

            def announce(line: str) -> None:
                if walkthrough and line.startswith("prostop serving"):  # all started
                    print(walkthrough, flush=True)
                print(line, flush=True)

            serve(prostop, stop, tick=2.0, announce=announce)
    print("Démonstration arrêtée.")
    return 0


def _announce_delivery(address: str, path: Path) -> None:
    print(f"MSSanté (serveur local) : message remis à {address} → {path}", flush=True)


def _mail_lab_report(mail: MailDemo) -> None:
    """The interactive demo's lab sends Jeanne ROUSSEAU's CR-BIO by MSSanté at start."""
    for line in mail.describe():
        print(line)
    mail.send_lab_report(JEANNE, datetime.now(UTC))
    print("  Le laboratoire LABO-DEMO a envoyé par MSSanté le compte rendu (CR-BIO, CDA R2 dans "
          "IHE_XDM.ZIP) de Jeanne ROUSSEAU : il attend dans « Confirmations en attente ».")
    print("  Une fois le code validé, il repart par MSSanté vers la boîte du médecin : "
          f"{mail.mailbox_of(DR_DURAND.rpps or '')}/new/")


def run_scripted_demo(*, port: int = 0, pause: bool = False, code_validity: float = 60.0) -> int:
    from prostop_plugin.simulator.options import SimulatorOptions
    from prostop_plugin.simulator.server import run_in_thread

    say = Narrator(pause=pause)
    now = datetime.now(UTC)
    channels = demo_channels(["mssante"])
    filedrop = filedrop_plugin()
    with tempfile.TemporaryDirectory(prefix="prostop-demo-") as tmp, run_in_thread(
        SimulatorOptions(ciba_interval=0.2, code_validity_minutes=code_validity), port=port
    ) as simulator, contextlib.ExitStack() as running:
        mail: MailDemo | None = None
        if "mssante" in channels:
            mail = channels["mssante"](Path(tmp) / "mssante", poll_interval=0.1)
            mail.start()
            running.callback(mail.stop)
        folders = DemoFolders.under(Path(tmp))
        adapter: dict[str, Any] = {"mssante": mail.section} if mail is not None else {}
        if filedrop is not None:  # the console's path: a watched inbox, an import folder
            adapter["filedrop"] = folders.section(poll_interval=0.05, settle_seconds=0.0)
        settings = Settings(
            data_dir=Path(tmp) / "var",
            code_service={"base_url": simulator.base_url},
            psc={"issuer": simulator.psc_issuer}, adapter=adapter,
            console={"listen": "127.0.0.1:8710"} if filedrop is not None else {},
        )
        host = DemoHost()
        print("prostop-plugin — démonstration (simulateur ProStopCovid + Pro Santé Connect sur "
              f"{simulator.base_url}, données dans {tmp})")
        plugins = [host] + [p for p in (filedrop, mail and mail.plugin) if p is not None]
        with Prostop.open(settings, plugins=plugins) as prostop:
            _confirmed_case(say, prostop, host, simulator.base_url, now)
            _probable_case(say, prostop, now)
            _not_eligible_case(say, prostop, now)
            if filedrop is not None:  # links to the console; no server needed to decide
                console_case(say, prostop, filedrop, folders, DR_DURAND, now)
            if mail is not None:
                _mssante_case(say, prostop, mail, now)
            _integrity(say, prostop, Path(tmp))
    if say.failures:
        print(f"\nDémonstration INCOMPLÈTE : {len(say.failures)} étape(s) en échec.")
        return 1
    print("\nDémonstration terminée : chaque étape a produit le résultat attendu.")
    return 0


def _confirmed_case(say: Narrator, prostop: Prostop, host: DemoHost, base_url: str,
                    now: datetime) -> None:
    say.title("Le laboratoire envoie une RT-PCR SARS-CoV-2 positive pour Camille DUPONT")
    sample = now - timedelta(days=1)
    pcr = LabResult(test=Coding(code="94500-6", system="LN", display="SARS-CoV-2 ARN (RT-PCR)"),
                    value_type="CWE", value_coded=Coding(code="10828004", system="SCT",
                                                         display="positif"),
                    collected_at=sample, observed_at=now - timedelta(hours=2),
                    source_ref="OBX[1]")
    event = _event(CAMILLE, "LG-DEMO-0001", [pcr], now, host="LABO-GARONNE")
    record = prostop.hooks.diagnosis_recorded(event)
    assert record is not None
    say.expect(record.state == IssuanceState.AWAITING_CONFIRMATION,
               "cas confirmé : demande de confirmation affichée au médecin")
    _show_dialog(say, prostop, record)

    say.title("Dr Claire DURAND valide sans cocher l'attestation QR code")
    try:
        prostop.engine.decide(record.id, ConfirmationDecision(approved=True,
                                                              practitioner=DR_DURAND))
        say.expect(False, "la validation sans attestation aurait dû être refusée")
    except ConfirmationRefused as refused:
        say.say(f"« {refused.fr} »")
        say.expect(True, "refusé : l'attestation est obligatoire pour un cas confirmé")

    say.title("Elle coche l'attestation et valide ; l'application e-CPS affiche "
              f"« {record.binding_message} », elle approuve")
    done = prostop.engine.decide(record.id, ConfirmationDecision(
        approved=True, practitioner=DR_DURAND, qr_unavailable_attested=True))
    say.expect(done.state == IssuanceState.WRITTEN_BACK,
               "code obtenu auprès de ProStopCovid et reporté dans le dossier")
    say.say("Synthèse de consultation : " + " / ".join(host.summaries.get("DOS-4411", [])))
    say.say("Dossier patient :")
    for note in host.records.get("DOS-4411", []):
        say.say(note, indent=6)

    say.title("La fiche remise à la patiente")
    with_code = prostop.ledger.get(record.id, with_code=True)
    sheet = get_texts("fr").handout(with_code)
    say.say(f"{sheet.title}\n  {sheet.code_grouped}\n{sheet.validity}\n{sheet.hurry}")
    for step in sheet.numbered_steps:
        say.say("  " + step)
    say.say(f"{sheet.date_line}\n{sheet.single_use}\n{sheet.practitioner}")

    say.title("Sur le téléphone de la patiente : l'application vérifie le code")
    assert with_code.code is not None
    code = with_code.code.get_secret_value()
    first = httpx.get(f"{base_url}/api/v1/verify", params={"code": code, "type": "2"}).json()
    second = httpx.get(f"{base_url}/api/v1/verify", params={"code": code, "type": "2"}).json()
    say.expect(first.get("valid") is True, "première saisie : code accepté")
    say.expect(second.get("valid") is False, "seconde saisie : code déjà utilisé, refusé")

    say.title("Le laboratoire renvoie le même message (délai d'acquittement dépassé)")
    again = prostop.hooks.diagnosis_recorded(event.model_copy(deep=True))
    say.expect(again is not None and again.id == record.id,
               "reconnu : même demande, aucun second code")


def _probable_case(say: Narrator, prostop: Prostop, now: datetime) -> None:
    say.title("Luc MARTIN : U07.2, symptômes depuis 3 jours, scanner thoracique évocateur")
    onset = (now - timedelta(days=3)).date()
    event = _event(LUC, "CD-DEMO-0002", [
        DiagnosisEvidence(code=Coding(code="U07.2", system="I10"), status="working"),
        SymptomEvidence(present=True, onset_date=onset, description="fièvre, toux"),
        ImagingFinding(exam=Coding(code="24627-2", system="LN", display="Scanner thoracique"),
                       finding=Coding(code="1217294009", system="SCT",
                                      display="opacités en verre dépoli"),
                       suggestive_of_covid=True, observed_at=now - timedelta(hours=5)),
    ], now)
    record = prostop.hooks.diagnosis_recorded(event)
    assert record is not None
    say.expect(record.decision is not None and record.decision.decision == "probable",
               "cas probable : signes cliniques et scanner")
    _show_dialog(say, prostop, record)
    done = prostop.engine.decide(record.id, ConfirmationDecision(
        approved=True, practitioner=DR_DURAND, symptom_onset=onset))
    say.expect(done.state == IssuanceState.WRITTEN_BACK, "code remis pour le cas probable")


def _not_eligible_case(say: Narrator, prostop: Prostop, now: datetime) -> None:
    say.title("Hélène LEFÈVRE : sérologie positive seule")
    serology = LabResult(test=Coding(code="94563-4", system="LN", display="IgG SARS-CoV-2"),
                         value_type="CWE", value_coded=Coding(code="10828004", system="SCT"),
                         collected_at=now - timedelta(days=2))
    record = prostop.hooks.diagnosis_recorded(_event(HELENE, "LG-DEMO-0003", [serology], now))
    assert record is not None and record.decision is not None
    say.expect(record.state == IssuanceState.NOT_ELIGIBLE, "non éligible, sans bouton :")
    for reason in record.decision.reasons:
        say.say(f"  • {reason.fr}")


MAIL_WAIT = 15.0  # seconds the demo waits for the mailbox watcher (it polls every 0.1 s)


def _waiting_from(prostop: Prostop, adapter: str) -> IssuanceRecord | None:
    for request in prostop.engine.pending():
        record = prostop.ledger.get(request.issuance_id)
        if record.event.source.adapter == adapter:
            return record
    return None


def _mssante_case(say: Narrator, prostop: Prostop, mail: MailDemo, now: datetime) -> None:
    say.title("Jeanne ROUSSEAU : le laboratoire envoie son compte rendu par MSSanté "
              "(CR-BIO, CDA R2 dans IHE_XDM.ZIP)")
    for line in mail.describe():
        say.say(line)
    mail.send_lab_report(JEANNE, now)
    services = prostop.hooks.background_services(prostop)
    for service in services:
        service.start()
    try:  # the adapter's mailbox watcher reads the application mailbox
        deadline = time.monotonic() + MAIL_WAIT
        record = _waiting_from(prostop, "mssante")
        while record is None and time.monotonic() < deadline:
            time.sleep(0.05)
            record = _waiting_from(prostop, "mssante")
    finally:
        for service in services:
            service.stop()
    say.expect(record is not None and record.decision is not None
               and record.decision.decision == "confirmed",
               "message lu dans la boîte applicative : cas confirmé, demande de confirmation "
               "affichée au médecin")
    if record is None:
        return

    say.title("Dr Claire DURAND valide ; le code repart par MSSanté vers sa messagerie")
    done = prostop.engine.decide(record.id, ConfirmationDecision(
        approved=True, practitioner=DR_DURAND, qr_unavailable_attested=True))
    say.expect(done.state == IssuanceState.WRITTEN_BACK,
               "code obtenu auprès de ProStopCovid et envoyé par MSSanté")
    received = mail.received(DR_DURAND.rpps or "")
    say.expect(len(received) == 1, "message reçu dans la boîte MSSanté de Dr Claire DURAND")
    if not received:
        return
    subject, document = mail.read_document(received[0])
    say.say(f"Objet : {subject}")
    say.say(f"Fichier : {received[0]}")
    code = prostop.ledger.get(done.id, with_code=True).code
    say.expect(code is not None and code.get_secret_value() in document.decode("utf-8")
               and cda_note_problems(document) == [],
               "pièce jointe IHE_XDM.ZIP : la note CDA R2 porte le code ; le logiciel du "
               "médecin la classe dans le dossier de la patiente")


def _integrity(say: Narrator, prostop: Prostop, folder: Path) -> None:
    say.title("Traçabilité et confidentialité")
    result = prostop.audit.verify()
    say.expect(result.ok, f"journal d'audit signé et chaîné intact ({result.entries_checked} "
               "entrées)")
    codes = [
        r.code.get_secret_value()
        for r in (prostop.ledger.get(s.id, with_code=True) for s in prostop.ledger.summaries())
        if r.code is not None
    ]
    prostop.ledger.close()
    stored = b"".join(p.read_bytes() for p in (folder / "var").rglob("*") if p.is_file())
    say.expect(bool(codes) and not any(c.encode() in stored for c in codes),
               f"aucun des {len(codes)} codes n'apparaît en clair dans les fichiers stockés")
