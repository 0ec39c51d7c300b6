"""The demo EHR as a ``prostop serve`` / ``prostop demo`` background service."""

from __future__ import annotations

import uvicorn

from prostop_demo_ehr.host import DemoEhr
from prostop_demo_ehr.plugin import DemoEhrPlugin
from prostop_plugin import Prostop, ServerDidNotStart, ServerThread

WALKTHROUGH = """\
Logiciel de cabinet de démonstration : {url}
  1. Connectez-vous comme Dr Claire DURAND (Pro Santé Connect, e-CPS) : le nombre à deux
     chiffres s'affiche ; le simulateur valide seul, ou par le panneau « Application e-CPS ».
  2. Ouvrez la « Consultation du jour » de Camille DUPONT et importez l'exemple « RT-PCR
     SARS-CoV-2 positive (HL7 v2) » (ou un fichier HL7, HPRIM, CDA de votre laboratoire).
  3. Dans la fenêtre de confirmation, lisez les motifs, cochez l'attestation « QR code SI-DEP
     indisponible » et confirmez : le code s'affiche, reporté au dossier et dans la synthèse.
  4. Imprimez la fiche patient (A5, ou PDF) avec le code, sa validité et la date à saisir.
  5. Ouvrez « Téléphone du patient », saisissez le code : accepté ; une seconde fois : refusé,
     car déjà utilisé. Essayez aussi Luc MARTIN (cas probable : U07.2, signes cliniques et
     scanner évocateur) et Hélène LEFÈVRE (U07.2 sans scanner : non éligible).
"""


class EhrWebService:
    """uvicorn in a thread, on loopback; bounded start and stop."""

    def __init__(self, runtime: Prostop, plugin: DemoEhrPlugin) -> None:
        self.runtime = runtime
        self.plugin = plugin
        self.ehr: DemoEhr | None = None
        self._running: ServerThread | None = None
        settings = plugin.ehr_settings
        self.name = f"demo EHR http://{settings.host}:{settings.port or '(free port)'}"

    @property
    def port(self) -> int:
        if self._running is None or not self._running.server.servers:
            raise RuntimeError("the demo EHR is not running")
        return self._running.port

    @property
    def url(self) -> str:
        return f"http://{self.plugin.ehr_settings.host}:{self.port}"

    def start(self, *, announce: bool = True) -> None:
        from prostop_demo_ehr.web import create_app

        self.ehr = DemoEhr(self.runtime, self.plugin)
        settings = self.plugin.ehr_settings
        config = uvicorn.Config(
            create_app(self.ehr), host=settings.host, port=settings.port, lifespan="off",
            log_level="warning", access_log=False, timeout_graceful_shutdown=1,
        )
        try:
            self._running = ServerThread.start(uvicorn.Server(config), "demo-ehr-http")
        except ServerDidNotStart as exc:
            self.ehr.close()
            if exc.timed_out:
                raise RuntimeError("the demo EHR did not start in time") from None
            raise RuntimeError(
                f"the demo EHR could not listen on {settings.host}:{settings.port} "
                "(port taken? set [adapter.demo_ehr] port)") from None
        self.name = f"demo EHR {self.url}"
        if announce:
            print(WALKTHROUGH.format(url=self.url), flush=True)

    def stop(self) -> None:
        """Stop serving (bounded), then the background work; safe to call twice."""
        if self._running is not None:
            self._running.stop()
        self._running = None
        if self.ehr is not None:
            self.ehr.close()
            self.ehr = None
