"""The physician console's own words (French by default, English on request).

What the plugin says about an issuance (dialog, states, handout) comes from the main catalogs
(:mod:`.fr`, :mod:`.en`), the words of the screens it shares with the demo EHR (the code card,
the dialog) from :mod:`.screens`; this catalog holds only the console's own screens, and the
few shared words it says its own way. The two languages have the same keys (a test checks it).
"""

from __future__ import annotations

from prostop_plugin.models import Locale
from prostop_plugin.texts.screens import host_text

CONSOLE: dict[Locale, dict[str, str]] = {
    "fr": {
        "app.name": "Console StopCovid",
        "app.subtitle": "Codes de déclaration — cabinet",
        "nav.pending": "Demandes en attente",
        "nav.history": "Historique",
        "nav.stats": "Statistiques",
        "login.title": "Connexion",
        "login.lead": "Identifiez-vous avec Pro Santé Connect pour confirmer les demandes de "
        "code StopCovid du cabinet.",
        "login.psc": "Se connecter avec Pro Santé Connect",
        "login.psc_hint": "Carte CPS ou application e-CPS, sur la page de Pro Santé Connect.",
        "login.or": "ou",
        "login.ciba": "Je valide sur mon application e-CPS",
        "login.rpps": "Numéro RPPS (11 chiffres)",
        "login.ciba_submit": "Envoyer la demande à mon e-CPS",
        "login.waiting": "Validez la demande dans votre application e-CPS",
        "login.binding": "Votre application e-CPS affiche ce nombre : vérifiez que c'est le même.",
        "login.bad_rpps": "Un numéro RPPS compte 11 chiffres.",
        "login.expired": "Votre session a expiré : reconnectez-vous.",
        "login.logged_out": "Vous êtes déconnecté.",
        "login.again": "Cette connexion n'est plus valable : recommencez.",
        "login.too_many": "Trop de tentatives de connexion depuis ce poste : réessayez dans une "
        "minute.",
        "login.continue": "Continuer",
        "refused.title": "Accès refusé",
        "refused.lead": "Pro Santé Connect vous a bien identifié, mais vous ne pouvez pas "
        "utiliser cette console :",
        "pending.title": "Demandes en attente",
        "pending.lead": "Résultats et diagnostics arrivés sans écran (fichiers, HL7) : examinez "
        "chaque demande et décidez. Celles qui vous sont adressées sont en tête.",
        "pending.source": "Reçu par",
        "pending.received": "Reçu le",
        "pending.addressed": "Adressée à",
        "pending.mine": "vous",
        "pending.notify": "Me prévenir des nouvelles demandes (notification du navigateur)",
        "request.title": "Demande de code StopCovid",
        "request.back": "Retour aux demandes",
        "request.declined": "Demande refusée.",
        "request.decided_elsewhere": "Cette demande a déjà été traitée.",
        "dialog.source": "Reçu par",
        "history.title": "Historique du cabinet",
        "history.lead": "Les demandes et codes du cabinet. La recherche se fait en mémoire, sur "
        "les dossiers déchiffrés : rien n'est indexé en clair.",
        "history.name": "Nom du patient",
        "history.from": "Du",
        "history.to": "Au",
        "history.search": "Rechercher",
        "history.none": "Aucune demande ne correspond.",
        "history.date": "Date",
        "history.state": "État",
        "history.open": "Ouvrir",
        "error.not_found": "Cette demande n'existe pas.",
        "error.csrf": "Ce formulaire a expiré ou ne vient pas de la console : rechargez la "
        "page et recommencez.",
        "cds.eligible": "StopCovid : {case} d'après le dossier — un code de déclaration peut "
        "être remis",
        "cds.held": "StopCovid : un code de déclaration valable jusqu'au {until} a déjà été "
        "remis à ce patient",
        "cds.not_eligible": "StopCovid : pas de code de déclaration ({why})",
        "cds.evaluated": "Évalué le {day} à partir du dossier de votre logiciel (FHIR).",
        "cds.open_patient": "Ouvrir le patient dans la console StopCovid",
        "patient.title": "Patient",
        "patient.born": "né(e) le {day}",
        "patient.evaluation": "Évaluation du dossier de votre logiciel, le {day}",
        "patient.nothing": "Rien de récent sur la COVID-19 dans le dossier.",
        "patient.pending": "Demandes en attente pour ce patient",
        "patient.none": "Aucune demande n'attend pour ce patient.",
        "patient.no_ins": "Le dossier ne porte pas d'INS qualifiée : les demandes de ce patient "
        "ne peuvent pas être retrouvées ici. Consultez la liste des demandes en attente.",
        "patient.expired": "Ce lien a expiré : rouvrez le dossier du patient dans votre "
        "logiciel.",
    },
    "en": {
        "app.name": "StopCovid console",
        "app.subtitle": "Declaration codes — practice",
        "nav.pending": "Pending requests",
        "nav.history": "History",
        "nav.stats": "Statistics",
        "login.title": "Log in",
        "login.lead": "Identify yourself with Pro Santé Connect to confirm the practice's "
        "StopCovid code requests.",
        "login.psc": "Log in with Pro Santé Connect",
        "login.psc_hint": "CPS card or e-CPS app, on Pro Santé Connect's page.",
        "login.or": "or",
        "login.ciba": "I approve on my e-CPS app",
        "login.rpps": "RPPS number (11 digits)",
        "login.ciba_submit": "Send the request to my e-CPS",
        "login.waiting": "Approve the request in your e-CPS app",
        "login.binding": "Your e-CPS app shows this number: check that it is the same.",
        "login.bad_rpps": "An RPPS number has 11 digits.",
        "login.expired": "Your session expired: log in again.",
        "login.logged_out": "You are logged out.",
        "login.again": "This login is no longer valid: start again.",
        "login.too_many": "Too many login attempts from this computer: try again in a minute.",
        "login.continue": "Continue",
        "refused.title": "Access refused",
        "refused.lead": "Pro Santé Connect identified you, but you may not use this console:",
        "pending.title": "Pending requests",
        "pending.lead": "Results and diagnoses that came without a screen (files, HL7): review "
        "each request and decide. Those addressed to you come first.",
        "pending.source": "Received through",
        "pending.received": "Received on",
        "pending.addressed": "Addressed to",
        "pending.mine": "you",
        "pending.notify": "Notify me of new requests (browser notification)",
        "request.title": "StopCovid code request",
        "request.back": "Back to the requests",
        "request.declined": "Request declined.",
        "request.decided_elsewhere": "This request was already dealt with.",
        "dialog.source": "Received through",
        "history.title": "Practice history",
        "history.lead": "The practice's requests and codes. The search runs in memory on the "
        "decrypted records: nothing is indexed in clear.",
        "history.name": "Patient name",
        "history.from": "From",
        "history.to": "To",
        "history.search": "Search",
        "history.none": "No request matches.",
        "history.date": "Date",
        "history.state": "State",
        "history.open": "Open",
        "error.not_found": "This request does not exist.",
        "error.csrf": "This form expired or does not come from the console: reload the page "
        "and try again.",
        "cds.eligible": "StopCovid: {case} according to the record — a declaration code can be "
        "given",
        "cds.held": "StopCovid: this patient was already given a declaration code, valid until "
        "{until}",
        "cds.not_eligible": "StopCovid: no declaration code ({why})",
        "cds.evaluated": "Evaluated on {day} from your software's record (FHIR).",
        "cds.open_patient": "Open the patient in the StopCovid console",
        "patient.title": "Patient",
        "patient.born": "born on {day}",
        "patient.evaluation": "Evaluation of your software's record, on {day}",
        "patient.nothing": "Nothing recent about COVID-19 in the record.",
        "patient.pending": "Pending requests for this patient",
        "patient.none": "No request is waiting for this patient.",
        "patient.no_ins": "The record has no qualified INS: this patient's requests cannot be "
        "found here. See the list of pending requests.",
        "patient.expired": "This link expired: open the patient's record in your software "
        "again.",
    },
}


def console_text(locale: Locale, key: str, **values: object) -> str:
    """A console screen text (its own, else the shared screens'); a missing key is a bug
    (KeyError), not a blank."""
    return host_text(CONSOLE, locale, key, **values)
