"""The demo's second path: a practice software that imports lab files, with no screen of
ours in it — the file-drop adapter on a demo inbox and the physician console.

The lab's HPRIM report is dropped into the inbox; the adapter records it, and since no screen
answers, writes the notice "Déclaration StopCovid : confirmation en attente" with the console's
link into the software's import folder (the outbox); the physician logs in to the console with
Pro Santé Connect and confirms; the code file reaches the import folder.

``make demo`` (:func:`interactive_part`) starts the console on :data:`CONSOLE_LISTEN`, writes
the example report (:func:`example_hprim`: the shared corpus's ``hprim_rtpcr_positif.hpr``
with today's dates, for a patient of its own) and prints the walkthrough;
``prostop demo --scripted`` (:func:`console_case`) plays the same path end to end and checks
it, deciding through the engine as the console does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from prostop_plugin.app import Prostop
from prostop_plugin.fileio import write_atomically
from prostop_plugin.models import ConfirmationDecision, IssuanceRecord, IssuanceState, Practitioner
from prostop_plugin.screens import dialog_for
from prostop_plugin.texts.formatting import in_paris

#: where the demo's console listens (the simulator is on 8700, the demo EHR on 8800, the HL7
#: listener on 2575)
CONSOLE_LISTEN = "127.0.0.1:8710"
EXAMPLE_NAME = "hprim_rtpcr_positif.hpr"
#: the shared corpus's HPRIM positive (tests/shared_corpus/hprim_rtpcr_positif.hpr), its
#: patient, request number and dates left to fill (a test checks that the corpus's values give
#: the corpus's file, byte for byte)
HPRIM_TEMPLATE = (
    "LABO-GARONNE\r\n{family}\r\n{given}\r\n12 RUE DES LILAS\r\n\r\n33000 BORDEAUX\r\n"
    "{birth}\r\n{nir}\r\n{request}\r\n{reported}\r\nLG01 LABO-GARONNE\r\n"
    "10003456789 DR DURAND CLAIRE\r\n\r\n"
    "Recherche de SARS-CoV-2 par RT-PCR sur prélèvement nasopharyngé du {sampled} : POSITIF\r\n"
    "Conclusion : présence d'ARN du SARS-CoV-2.\r\n\r\n****LAB****\r\n"
    "RES|SARS-CoV-2 ARN (RT-PCR)|94500-6|A|POSITIF||||A|F\r\n"
    "RES|Cycle threshold (Ct)|94745-7|N|23.8||||N|F\r\n****FIN****\r\n****FINFICHIER****\r\n"
)
#: the example's patient: not one of the first walkthrough's (a patient holding a valid code
#: gets that code again, not a new request), so that the two paths can be tried in any order
EXAMPLE_PATIENT = {"family": "BLANC", "given": "LOUISE", "birth": "15/07/1985",
                   "nir": "285073306312324"}
NOTICE_WAIT = 15.0  # seconds the scripted demo waits for the inbox watcher (it polls 20×/s)


def example_hprim(now: datetime) -> bytes:
    """The lab's report as it arrives: sampled yesterday, reported today (French dates)."""
    local = in_paris(now)
    return HPRIM_TEMPLATE.format(
        **EXAMPLE_PATIENT, request=f"LG-{local:%y%m%d%H%M}", reported=f"{local:%d/%m/%Y}",
        sampled=f"{local - timedelta(days=1):%d/%m/%Y}",
    ).encode("latin-1")


def filedrop_plugin() -> object | None:
    """The file-drop adapter's plugin when its distribution is installed (the core never
    imports an adapter: it is found by its ``prostop`` entry point)."""
    for entry in entry_points(group="prostop"):
        if entry.name == "filedrop":
            try:
                plugin: object = entry.load()
            except Exception:  # an optional part of the demo: left out
                return None
            return plugin
    return None


@dataclass(frozen=True)
class DemoFolders:
    """The practice software's folders: the lab drops into ``inbox``, it imports ``outbox``."""

    inbox: Path
    outbox: Path
    examples: Path

    @classmethod
    def under(cls, data: Path) -> DemoFolders:
        return cls(data / "inbox", data / "outbox", data / "exemples")

    def section(self, **tuning: float) -> dict[str, Any]:
        """``[adapter.filedrop]`` for these folders (created here)."""
        for folder in (self.inbox, self.outbox):
            folder.mkdir(parents=True, exist_ok=True)
        return {"inbox": str(self.inbox), "outbox": str(self.outbox)} | tuning


WALKTHROUGH = """\
Console du médecin (logiciel qui importe les fichiers du laboratoire) : {url}
  1. Déposez le compte rendu HPRIM d'exemple (RT-PCR positive de Louise BLANC, datée
     d'aujourd'hui) dans la boîte de dépôt du laboratoire :
       cp {example} {inbox}/
  2. Quelques secondes plus tard, l'avis « Déclaration StopCovid : confirmation en attente »
     arrive dans le dossier d'import du logiciel, avec le lien vers la demande :
       {outbox}/prostop-<demande>-attente.hpr
  3. Ouvrez ce lien (ou {url}) et connectez-vous avec Pro Santé Connect :
     choisissez Dr Claire DURAND, e-CPS.
  4. La demande est en tête de la liste : lisez les motifs, cochez l'attestation « QR code
     SI-DEP indisponible » et confirmez.
  5. Le code s'affiche, avec la fiche patient ; son fichier arrive dans le dossier d'import,
     que le logiciel classe dans le dossier de la patiente :
       {outbox}/prostop-<demande>.hpr
"""


def interactive_part(data: Path, now: datetime) -> tuple[dict[str, Any], str]:
    """For ``make demo`` with the file drop: the ``[console]`` settings, and the walkthrough
    to print once everything is started (the example report written beside the inbox)."""
    folders = DemoFolders.under(data)
    folders.examples.mkdir(parents=True, exist_ok=True)
    example = folders.examples / EXAMPLE_NAME
    write_atomically(example, example_hprim(now))
    url = "http://" + CONSOLE_LISTEN
    walkthrough = WALKTHROUGH.format(url=url, example=example, inbox=folders.inbox,
                                     outbox=folders.outbox)
    return {"listen": CONSOLE_LISTEN}, walkthrough


class Narration(Protocol):
    """The scripted demo's narrator (:class:`prostop_plugin.demo.Narrator`)."""

    def title(self, text: str) -> None: ...
    def say(self, text: str, indent: int = 3) -> None: ...
    def expect(self, ok: bool, what: str) -> None: ...


def _wait_for(found: Callable[[], list[Path]]) -> list[Path]:
    deadline = time.monotonic() + NOTICE_WAIT
    files = found()
    while not files and time.monotonic() < deadline:
        time.sleep(0.05)
        files = found()
    return files


def _waiting_request(prostop: Prostop, notice: Path) -> IssuanceRecord | None:
    issuance_id = notice.name.removeprefix("prostop-").split("-attente", 1)[0]
    for request in prostop.engine.pending():
        if request.issuance_id == issuance_id:
            return prostop.ledger.get(issuance_id)
    return None


def console_case(say: Narration, prostop: Prostop, plugin: Any, folders: DemoFolders,
                 physician: Practitioner, now: datetime) -> None:
    """The second path, scripted: the report dropped, the notice in the import folder, the
    request confirmed as the console does (the engine's decision, then its steps), the code
    file in the import folder."""
    say.title("Un logiciel qui importe les fichiers du laboratoire : le laboratoire dépose le "
              "compte rendu HPRIM de Louise BLANC (RT-PCR positive)")
    dropped = folders.inbox / EXAMPLE_NAME
    write_atomically(folders.inbox / (EXAMPLE_NAME + ".part"), example_hprim(now))
    (folders.inbox / (EXAMPLE_NAME + ".part")).rename(dropped)
    say.say(f"Déposé : {dropped}")
    services = plugin.prostop_background_services(prostop)  # the inbox watcher
    for service in services:
        service.start()
    try:
        notices = _wait_for(lambda: sorted(folders.outbox.glob("prostop-*-attente.hpr")))
    finally:
        for service in services:
            service.stop()
    record = _waiting_request(prostop, notices[0]) if notices else None
    link = prostop.settings.console.request_link(record.id) if record is not None else None
    text = notices[0].read_bytes().decode("latin-1") if notices else ""
    say.expect(record is not None and link is not None and link in text
               and "Déclaration StopCovid : confirmation en attente" in text,
               "avis « confirmation en attente » dans le dossier d'import du logiciel, avec le "
               "lien vers la demande dans la console")
    if record is None:
        return
    say.say(f"Avis : {notices[0]}")
    say.say(f"Lien : {link}")

    say.title("Dans la console, Dr Claire DURAND se connecte avec Pro Santé Connect, ouvre la "
              "demande et confirme")
    dialog = dialog_for(prostop, record, "fr")
    if dialog is not None:
        say.say(f"┌ {dialog.text.title}\n│ {dialog.text.lead}")
        say.say(f"│ Origine : {dialog.source}")
        if dialog.text.qr_attestation:
            say.say(f"│ ☑ {dialog.text.qr_attestation}")
        say.say(f"└ [{dialog.text.approve}]")
    prostop.engine.decide(record.id, ConfirmationDecision(
        approved=True, practitioner=physician, qr_unavailable_attested=True), advance=False)
    done = prostop.engine.advance(record.id)  # what the console runs after the decision
    code = prostop.ledger.get(record.id, with_code=True).code
    written = folders.outbox / f"prostop-{record.id}.hpr"
    say.expect(done.state == IssuanceState.WRITTEN_BACK and code is not None
               and written.is_file()
               and code.get_secret_value().upper()
               in written.read_bytes().decode("latin-1").upper(),
               "code obtenu ; son fichier est dans le dossier d'import, le logiciel le classe "
               "dans le dossier de la patiente")
    say.say(f"Fichier du code : {written}")
