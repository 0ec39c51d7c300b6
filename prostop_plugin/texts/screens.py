"""The words the physician's screens share (French by default, English on request).

The confirmation dialog, the code card and the handout are one set of templates and view
models (:mod:`prostop_plugin.screens`) shown by the console and by the demo EHR; these are
their words, and the few every screen's frame uses. A host's own catalog (the console's
:mod:`.console`, the demo EHR's) holds its other screens and may say one of these its own way
(``code.written``: what "the record" is there). The two languages have the same keys (a test
checks it).
"""

from __future__ import annotations

from collections.abc import Mapping

from prostop_plugin.models import Locale

SCREENS: dict[Locale, dict[str, str]] = {
    "fr": {
        "skip": "Aller au contenu",
        "nav.main": "Navigation principale",
        "nav.language": "Langue",
        "nav.logout": "Se déconnecter",
        "login.failed": "Connexion impossible",
        "login.retry": "Recommencer",
        "error.title": "Erreur",
        "error.csrf": "Ce formulaire a expiré ou ne vient pas de ce logiciel : rechargez la "
        "page et recommencez.",
        "state.label": "État",
        "pending.none": "Aucune demande en attente.",
        "pending.patient": "Patient",
        "pending.case": "Cas",
        "pending.review": "Examiner",
        "code.title": "Code de déclaration StopCovid",
        "code.spoken": "Code : {code}",
        "code.valid_until": "Valable jusqu'au {until}",
        "code.remaining": "Temps restant",
        "code.expired": "Validité du code dépassée. Si le patient l'a déjà saisi, ne lui en "
        "remettez pas un autre.",
        "code.reissue_attest": "J'ai vérifié avec le patient qu'il n'a pas saisi ce code dans "
        "l'application.",
        "code.handout": "Imprimer la fiche patient",
        "code.pdf": "Fiche en PDF",
        "code.reissue": "Remettre un nouveau code",
        "code.retry": "Réessayer",
        "code.progress": "Demande du code en cours…",
        "code.progress_binding": "Si votre application e-CPS le demande, validez le nombre "
        "{binding}.",
        "code.written": "Reporté dans le dossier du patient.",
        "code.write_pending": "Report dans le dossier du patient en cours…",
        "code.delivered_elsewhere": "Code transmis par une autre voie ({where}) : il "
        "n'apparaîtra dans ce dossier qu'une fois importé par le logiciel.",
        "code.replaces": "remplace le code remis le {issued} (se terminant par {last2})",
        "code.replaces_no_end": "remplace le code remis le {issued}",
        "code.replaces_request": "remplace une demande précédente",
        "dialog.attestations": "Attestations obligatoires",
        "dialog.later": "Décider plus tard",
        "dialog.onset": "Date de début des symptômes à indiquer au patient (si différente)",
        "dialog.decline_reason": "Motif du refus",
        "dialog.refused": "Impossible de valider",
        "dialog.not_eligible": "Pas de code StopCovid pour ce patient",
        "dialog.source": "Origine :",
        "dialog.close": "Fermer",
        "dialog.see_why": "Voir pourquoi",
        "handout.print": "Imprimer",
        "source.ui": "saisie en consultation",
        "source.here": "fichier importé dans le dossier",
        "source.filedrop": "dépôt de fichiers",
        "source.hl7v2_mllp": "liaison HL7 du laboratoire",
        "source.other": "module {adapter}",
    },
    "en": {
        "skip": "Skip to content",
        "nav.main": "Main navigation",
        "nav.language": "Language",
        "nav.logout": "Log out",
        "login.failed": "Login failed",
        "login.retry": "Start again",
        "error.title": "Error",
        "error.csrf": "This form expired or does not come from this software: reload the page "
        "and try again.",
        "state.label": "State",
        "pending.none": "No pending request.",
        "pending.patient": "Patient",
        "pending.case": "Case",
        "pending.review": "Review",
        "code.title": "StopCovid declaration code",
        "code.spoken": "Code: {code}",
        "code.valid_until": "Valid until {until}",
        "code.remaining": "Time left",
        "code.expired": "Code past its validity. If the patient already entered it, do not give "
        "them another one.",
        "code.reissue_attest": "I checked with the patient that they did not enter this code in "
        "the app.",
        "code.handout": "Print the patient handout",
        "code.pdf": "Handout as PDF",
        "code.reissue": "Give a new code",
        "code.retry": "Retry",
        "code.progress": "Requesting the code…",
        "code.progress_binding": "If your e-CPS app asks, approve the number {binding}.",
        "code.written": "Copied into the patient's record.",
        "code.write_pending": "Copying into the patient's record…",
        "code.delivered_elsewhere": "Code delivered another way ({where}): it shows in this "
        "record only once the software imports it.",
        "code.replaces": "replaces the code given on {issued} (ending in {last2})",
        "code.replaces_no_end": "replaces the code given on {issued}",
        "code.replaces_request": "replaces an earlier request",
        "dialog.attestations": "Mandatory attestations",
        "dialog.later": "Decide later",
        "dialog.onset": "Symptom onset date to give the patient (if different)",
        "dialog.decline_reason": "Reason for declining",
        "dialog.refused": "Cannot approve",
        "dialog.not_eligible": "No StopCovid code for this patient",
        "dialog.source": "Source:",
        "dialog.close": "Close",
        "dialog.see_why": "See why",
        "handout.print": "Print",
        "source.ui": "entered during the consultation",
        "source.here": "file imported into the record",
        "source.filedrop": "file drop",
        "source.hl7v2_mllp": "lab HL7 link",
        "source.other": "module {adapter}",
    },
}


def screen_text(locale: Locale, key: str, **values: object) -> str:
    """A shared screen text; a missing key is a bug (KeyError), not a blank."""
    template = SCREENS[locale][key]
    return template.format(**values) if values else template


def host_text(catalog: Mapping[Locale, Mapping[str, str]], locale: Locale, key: str,
              **values: object) -> str:
    """A host screen's text: its own catalog's words, else the shared ones (KeyError when
    neither has the key)."""
    template = catalog[locale].get(key)
    if template is None:
        template = SCREENS[locale][key]
    return template.format(**values) if values else template
