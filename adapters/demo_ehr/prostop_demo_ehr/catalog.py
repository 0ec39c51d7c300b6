"""The EHR's own words (French by default, English on request) and its CIM-10 picker.

What the plugin itself says to the physician or the patient (dialog, summary line, handout)
comes from :mod:`prostop_plugin.texts`, the words of the screens the EHR shares with the
console (the code card, the dialog) from the plugin's shared catalog (``host_text``); this
catalog only holds the EHR's own screens, and the few shared words it says its own way.
"""

from __future__ import annotations

from dataclasses import dataclass

from prostop_plugin import Locale, host_text


@dataclass(frozen=True)
class Cim10Code:
    code: str
    fr: str
    en: str
    #: recording it tells the plugin (a COVID-19 code); other codes stay in the EHR
    covid: bool

    def label(self, locale: Locale) -> str:
        return f"{self.code} — {self.fr if locale == 'fr' else self.en}"


CIM10_CODES: tuple[Cim10Code, ...] = (
    Cim10Code("U07.1", "COVID-19, virus identifié", "COVID-19, virus identified", True),
    Cim10Code("U07.10", "COVID-19, forme respiratoire, virus identifié",
              "COVID-19, respiratory, virus identified", True),
    Cim10Code("U07.11", "COVID-19, forme respiratoire, virus non identifié",
              "COVID-19, respiratory, virus not identified", True),
    Cim10Code("U07.12", "Porteur asymptomatique de SARS-CoV-2, virus identifié",
              "Asymptomatic SARS-CoV-2 carrier, virus identified", True),
    Cim10Code("U07.13", "Autres examens et mises en observation liés à l'épidémie de COVID-19",
              "Other examinations and observation related to the COVID-19 epidemic", True),
    Cim10Code("U07.14", "COVID-19, autres formes cliniques, virus identifié",
              "COVID-19, other clinical forms, virus identified", True),
    Cim10Code("U07.15", "COVID-19, autres formes cliniques, virus non identifié",
              "COVID-19, other clinical forms, virus not identified", True),
    Cim10Code("U07.2", "COVID-19, virus non identifié", "COVID-19, virus not identified", True),
    Cim10Code("J06.9", "Infection aiguë des voies respiratoires supérieures, sans précision",
              "Acute upper respiratory infection, unspecified", False),
    Cim10Code("J11.1", "Grippe avec manifestations respiratoires, virus non identifié",
              "Influenza with respiratory manifestations, virus not identified", False),
    Cim10Code("J18.9", "Pneumopathie, sans précision", "Pneumonia, unspecified", False),
    Cim10Code("R05", "Toux", "Cough", False),
    Cim10Code("R50.9", "Fièvre, sans précision", "Fever, unspecified", False),
    Cim10Code("Z20.8", "Sujet en contact avec une maladie transmissible",
              "Contact with and exposure to other communicable diseases", False),
)
CIM10_BY_CODE = {c.code: c for c in CIM10_CODES}

UI: dict[Locale, dict[str, str]] = {
    "fr": {
        "app.name": "Cabinet médical — dossier patient",
        "app.short_name": "Cabinet médical",
        "app.name_more": "dossier patient",
        "app.subtitle": "Logiciel de démonstration (patients fictifs)",
        "nav.patients": "Patients",
        "nav.pending": "Confirmations en attente",
        "nav.phone": "Téléphone du patient",
        "login.title": "Connexion Pro Santé Connect",
        "login.lead": "Identifiez-vous avec votre e-CPS : une demande de validation est envoyée "
        "sur votre téléphone.",
        "login.practitioner": "Praticien",
        "login.submit": "Se connecter avec l'e-CPS",
        "login.waiting": "Validez la demande sur votre application e-CPS",
        "login.binding": "Votre application e-CPS affiche ce nombre : vérifiez qu'il est "
        "identique.",
        "login.failed": "Connexion impossible",
        "login.retry": "Recommencer",
        "login.done": "Connecté",
        "ecps.title": "Application e-CPS (simulateur)",
        "ecps.lead": "Ce panneau joue le téléphone du praticien : il n'existe que face au "
        "simulateur.",
        "ecps.approve": "Valider sur l'e-CPS",
        "ecps.deny": "Refuser",
        "ecps.none": "Aucune demande en attente sur l'e-CPS.",
        "patients.title": "Patients",
        "patients.name": "Nom",
        "patients.birth": "Date de naissance",
        "patients.ins": "INS",
        "patients.stopcovid": "StopCovid",
        "patients.open": "Ouvrir le dossier",
        "record.title": "Dossier patient",
        "record.identity": "Identité",
        "record.born": "Né(e) le",
        "record.consult": "Consultation du jour",
        "record.notes": "Notes du dossier",
        "record.no_notes": "Aucune note StopCovid dans le dossier.",
        "record.issuances": "Déclaration StopCovid",
        "record.no_issuances": "Aucune demande de code pour ce patient.",
        "record.consultations": "Consultations",
        "consult.title": "Consultation",
        "consult.diagnosis": "Diagnostic",
        "consult.code": "Code CIM-10",
        "consult.code_none": "— aucun diagnostic —",
        "consult.status": "Statut du diagnostic",
        "consult.status_final": "définitif",
        "consult.status_working": "provisoire",
        "consult.signs": "Signes cliniques",
        "consult.signs_present": "Signes cliniques évocateurs présents",
        "consult.onset": "Date de début des symptômes",
        "consult.signs_text": "Signes observés",
        "consult.ct": "Scanner thoracique",
        "consult.ct_attest": "J'atteste que le scanner thoracique montre des signes évocateurs "
        "de COVID-19",
        "consult.ct_finding": "Aspect observé",
        "consult.ct_ggo": "Opacités en verre dépoli",
        "consult.ct_other": "Autre aspect évocateur",
        "consult.ct_date": "Date du scanner",
        "consult.save": "Enregistrer",
        "consult.import": "Importer un résultat de laboratoire",
        "consult.file": "Fichier (HL7 v2, HPRIM, CDA)",
        "consult.import_submit": "Importer",
        "consult.summary": "Synthèse de la consultation",
        "consult.summary_empty": "Rien n'est encore noté pour cette consultation.",
        "consult.nothing": "Rien à enregistrer : choisissez un diagnostic, des signes cliniques "
        "ou un scanner.",
        "consult.not_covid": "Diagnostic enregistré ; ce n'est pas un diagnostic de COVID-19 : "
        "rien n'est transmis au module StopCovid.",
        "consult.wrong_patient": "Ce fichier concerne {other}, pas {patient} : il n'a pas été "
        "importé.",
        "consult.imported": "Résultat importé : {name} ({sender})",
        "import.empty": "Le fichier « {name} » est vide : rien n'a été importé.",
        "import.too_large": "Le fichier « {name} » pèse {size} Mo, plus que les {limit} Mo "
        "d'un compte rendu de laboratoire : rien n'a été importé.",
        "import.unknown_format": "Le fichier « {name} » n'est pas un résultat de laboratoire "
        "lisible (HL7 v2, HPRIM ou CDA) : rien n'a été importé.",
        "import.unreadable": "Le fichier « {name} » ressemble à un résultat {format} mais n'a "
        "pas pu être lu : rien n'a été importé. Demandez au laboratoire de le renvoyer.",
        "import.detail": "Détail technique (pour le support)",
        "consult.recorded": "Diagnostic : {what}",
        "consult.signs_line": "Signes cliniques depuis le {onset}{text}",
        "consult.ct_line": "Scanner thoracique : signes évocateurs de COVID-19 ({finding})",
        "code.written": "Reporté au dossier et dans la synthèse de consultation.",
        "samples.lead": "Pas de fichier sous la main ? Résultats d'exemple du laboratoire de "
        "démonstration, au nom de ce patient et datés d'hier :",
        "samples.download": "Télécharger",
        "new_request": "Nouvelle demande de confirmation",
        "pending.title": "Demandes de confirmation en attente",
        "pending.lead": "Résultats arrivés par un canal sans écran (HL7, fichiers) : examinez-les "
        "et décidez.",
        "pending.source": "Origine",
        "pending.decided": "Décision enregistrée",
        "phone.title": "Téléphone du patient — application TousAntiCovid",
        "phone.lead": "Ce panneau joue l'application du patient : le code est vérifié auprès du "
        "service de codes, comme le fait l'application. Comme le téléphone du patient, il "
        "s'ouvre sans connexion au logiciel, et les réponses e-CPS de la démo aussi : ce sont "
        "des panneaux du simulateur, absents d'une vraie installation.",
        "phone.declare": "Me déclarer",
        "phone.code": "Code de déclaration (6 caractères)",
        "phone.submit": "Valider le code",
        "phone.accepted": "Code accepté. L'application demande maintenant la date de début des "
        "symptômes (sans symptômes, la date du test) : les personnes croisées seront prévenues.",
        "phone.refused": "Code refusé : il a déjà été utilisé, a expiré, ou n'existe pas.",
        "phone.malformed": "Un code compte 6 lettres ou chiffres.",
        "phone.unreachable": "Le service de codes ne répond pas : {what}",
        "sim.title": "Simulateur de démonstration",
        "sim.lead": "Ces réglages pilotent le simulateur local du service de codes ProStopCovid "
        "et de Pro Santé Connect ; face aux vrais services, cette page n'existe pas.",
        "sim.ecps": "Application e-CPS des praticiens",
        "sim.ecps_lead": "« À valider à la main » : la demande attend le bouton « Valider sur "
        "l'e-CPS » du panneau de l'application e-CPS (connexion, demande de code).",
        "sim.answer": "Réponse de l'e-CPS",
        "sim.mode_now": "valide aussitôt",
        "sim.mode_never": "à valider à la main",
        "sim.mode_deny": "refuse",
        "sim.mode_after": "valide après {after} s",
        "sim.save": "Enregistrer",
        "sim.validity": "Durée de validité des nouveaux codes",
        "sim.validity_lead": "Le vrai service donne 60 minutes. Avec 1 ou 2 minutes, un code "
        "remis expire sous vos yeux : la carte passe à « code expiré » et propose « Remettre un "
        "nouveau code ». Les codes déjà remis gardent leur validité.",
        "sim.validity_label": "Validité",
        "sim.validity_real": "(comme le vrai service)",
        "sim.apply": "Appliquer",
        "sim.saved_approval": "Réponse de l'e-CPS enregistrée.",
        "sim.saved_validity": "Durée de validité enregistrée : elle vaut pour les prochains codes.",
        "sim.unreachable": "Le simulateur ne répond pas.",
        "sim.failed": "Le simulateur a refusé ce réglage.",
        "sim.absent": "Cette page n'existe que face au simulateur local.",
        "nav.simulator": "Simulateur",
        "error.not_found": "Ce patient ou cette demande n'existe pas (ou plus) dans ce logiciel.",
        "error.too_big": "Ce formulaire (ou le fichier joint) dépasse la taille admise : rien "
        "n'a été enregistré.",
    },
    "en": {
        "app.name": "Medical practice — patient record",
        "app.short_name": "Medical practice",
        "app.name_more": "patient record",
        "app.subtitle": "Demonstration software (fictional patients)",
        "nav.patients": "Patients",
        "nav.pending": "Pending confirmations",
        "nav.phone": "Patient's phone",
        "login.title": "Pro Santé Connect login",
        "login.lead": "Sign in with your e-CPS: an approval request is sent to your phone.",
        "login.practitioner": "Practitioner",
        "login.submit": "Sign in with e-CPS",
        "login.waiting": "Approve the request in your e-CPS app",
        "login.binding": "Your e-CPS app shows this number: check that it is the same.",
        "login.failed": "Sign-in failed",
        "login.retry": "Try again",
        "login.done": "Signed in",
        "ecps.title": "e-CPS app (simulator)",
        "ecps.lead": "This panel plays the practitioner's phone: it exists only with the "
        "simulator.",
        "ecps.approve": "Approve on e-CPS",
        "ecps.deny": "Deny",
        "ecps.none": "No request waiting on the e-CPS app.",
        "patients.title": "Patients",
        "patients.name": "Name",
        "patients.birth": "Date of birth",
        "patients.ins": "INS",
        "patients.stopcovid": "StopCovid",
        "patients.open": "Open record",
        "record.title": "Patient record",
        "record.identity": "Identity",
        "record.born": "Born",
        "record.consult": "Today's consultation",
        "record.notes": "Record notes",
        "record.no_notes": "No StopCovid note in the record.",
        "record.issuances": "StopCovid declaration",
        "record.no_issuances": "No code request for this patient.",
        "record.consultations": "Consultations",
        "consult.title": "Consultation",
        "consult.diagnosis": "Diagnosis",
        "consult.code": "ICD-10 code",
        "consult.code_none": "— no diagnosis —",
        "consult.status": "Diagnosis status",
        "consult.status_final": "final",
        "consult.status_working": "working",
        "consult.signs": "Clinical signs",
        "consult.signs_present": "Suggestive clinical signs present",
        "consult.onset": "Symptom onset date",
        "consult.signs_text": "Signs observed",
        "consult.ct": "Chest CT",
        "consult.ct_attest": "I attest that the chest CT shows signs suggestive of COVID-19",
        "consult.ct_finding": "Finding",
        "consult.ct_ggo": "Ground-glass opacities",
        "consult.ct_other": "Other suggestive finding",
        "consult.ct_date": "CT date",
        "consult.save": "Save",
        "consult.import": "Import a lab result",
        "consult.file": "File (HL7 v2, HPRIM, CDA)",
        "consult.import_submit": "Import",
        "consult.summary": "Consultation summary",
        "consult.summary_empty": "Nothing recorded for this consultation yet.",
        "consult.nothing": "Nothing to save: choose a diagnosis, clinical signs or a chest CT.",
        "consult.not_covid": "Diagnosis saved; it is not a COVID-19 diagnosis: nothing is sent "
        "to the StopCovid module.",
        "consult.wrong_patient": "This file is about {other}, not {patient}: it was not "
        "imported.",
        "consult.imported": "Result imported: {name} ({sender})",
        "import.empty": "The file “{name}” is empty: nothing was imported.",
        "import.too_large": "The file “{name}” is {size} MB, more than the {limit} MB of a lab "
        "report: nothing was imported.",
        "import.unknown_format": "The file “{name}” is not a readable lab result (HL7 v2, HPRIM "
        "or CDA): nothing was imported.",
        "import.unreadable": "The file “{name}” looks like a {format} result but could not be "
        "read: nothing was imported. Ask the lab to send it again.",
        "import.detail": "Technical detail (for support)",
        "consult.recorded": "Diagnosis: {what}",
        "consult.signs_line": "Clinical signs since {onset}{text}",
        "consult.ct_line": "Chest CT: signs suggestive of COVID-19 ({finding})",
        "code.written": "Copied into the record and the consultation summary.",
        "samples.lead": "No file at hand? Sample results from the demo lab, in this patient's "
        "name and dated yesterday:",
        "samples.download": "Download",
        "new_request": "New confirmation request",
        "pending.title": "Pending confirmation requests",
        "pending.lead": "Results that came through a channel without a screen (HL7, files): "
        "review them and decide.",
        "pending.source": "Source",
        "pending.decided": "Decision recorded",
        "phone.title": "Patient's phone — TousAntiCovid app",
        "phone.lead": "This panel plays the patient's app: the code is checked with the code "
        "service, as the app does. Like the patient's phone, it opens without logging in to the "
        "software, and so do the demo's e-CPS answers: they are simulator panels, absent from "
        "a real installation.",
        "phone.declare": "Declare myself",
        "phone.code": "Declaration code (6 characters)",
        "phone.submit": "Submit the code",
        "phone.accepted": "Code accepted. The app now asks for the symptom onset date (without "
        "symptoms, the test date): the people met will be notified.",
        "phone.refused": "Code refused: already used, expired, or unknown.",
        "phone.malformed": "A code is 6 letters or digits.",
        "phone.unreachable": "The code service does not answer: {what}",
        "sim.title": "Demo simulator",
        "sim.lead": "These settings steer the local simulator of the ProStopCovid code service "
        "and Pro Santé Connect; with the real services, this page does not exist.",
        "sim.ecps": "Practitioners' e-CPS app",
        "sim.ecps_lead": "“Approve by hand”: the request waits for the “Approve on e-CPS” "
        "button of the e-CPS app panel (login, code request).",
        "sim.answer": "e-CPS answer",
        "sim.mode_now": "approves at once",
        "sim.mode_never": "approve by hand",
        "sim.mode_deny": "denies",
        "sim.mode_after": "approves after {after} s",
        "sim.save": "Save",
        "sim.validity": "Validity of new codes",
        "sim.validity_lead": "The real service gives 60 minutes. With 1 or 2 minutes, a code "
        "expires before your eyes: the card turns to “code expired” and offers “Give a new "
        "code”. Codes already given keep their validity.",
        "sim.validity_label": "Validity",
        "sim.validity_real": "(like the real service)",
        "sim.apply": "Apply",
        "sim.saved_approval": "e-CPS answer saved.",
        "sim.saved_validity": "Validity saved: it applies to the next codes.",
        "sim.unreachable": "The simulator does not answer.",
        "sim.failed": "The simulator refused this setting.",
        "sim.absent": "This page exists only with the local simulator.",
        "nav.simulator": "Simulator",
        "error.not_found": "This patient or request does not exist (any more) in this software.",
        "error.too_big": "This form (or its attached file) is over the size allowed: nothing was "
        "saved.",
    },
}


def ui_text(locale: Locale, key: str, **values: object) -> str:
    """An EHR screen text (its own, else the shared screens'); a missing key is a bug
    (KeyError), not a blank."""
    return host_text(UI, locale, key, **values)
