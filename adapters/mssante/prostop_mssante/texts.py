"""What the adapter writes for people: the write-back message to the physician (French first,
English when the record's locale is English) and the quarantine note for the administrator
(French then English, the note being read by whoever looks after the mailbox)."""

from __future__ import annotations

from prostop_plugin import Locale, ProstopError

WRITE_BACK: dict[Locale, dict[str, str]] = {
    "fr": {
        "body": (
            "Bonjour,\n\n"
            "Le code de déclaration StopCovid de votre patient(e) {patient} a été émis après "
            "votre confirmation.\n\n"
            "La note correspondante est jointe au format CDA R2 dans l'archive IHE_XDM.ZIP : "
            "votre logiciel la classe dans le dossier du patient (identifié par son INS "
            "lorsqu'il est qualifié). Le code lui-même figure dans cette note, pas dans ce "
            "message.\n\n"
            "Référence de l'émission : {issuance}\n"
            "Un renvoi éventuel de ce message porte le même identifiant (Message-ID) et le "
            "même document : il peut être ignoré.\n\n"
            "— prostop-plugin (message automatique, ne pas répondre)\n"
        ),
    },
    "en": {
        "body": (
            "Hello,\n\n"
            "The StopCovid declaration code for your patient {patient} was issued after your "
            "confirmation.\n\n"
            "The note is attached as a CDA R2 document in the IHE_XDM.ZIP archive: your "
            "software files it in the patient's record (matched on the INS when it is "
            "qualified). The code itself is in that note, not in this message.\n\n"
            "Issuance reference: {issuance}\n"
            "Should this message be sent again, the copy carries the same Message-ID and the "
            "same document: it can be ignored.\n\n"
            "— prostop-plugin (automatic message, do not reply)\n"
        ),
    },
}


def write_back_body(locale: Locale, *, patient: str, issuance: str) -> str:
    return WRITE_BACK.get(locale, WRITE_BACK["fr"])["body"].format(patient=patient,
                                                                    issuance=issuance)


def quarantine_subject(problem: ProstopError) -> str:
    return f"[prostop] Message non lu — not read: {problem.what}"


def quarantine_note(problem: ProstopError, *, subject: str, sender: str, received: str,
                    folder: str, inbox: str) -> str:
    """The note an administrator reads beside the quarantined message; never a traceback."""
    facts = [
        ("Objet / Subject", subject), ("De / From", sender), ("Reçu / Received", received),
        ("Problème / Problem", problem.what), ("Où / Where", problem.where),
        ("Correction / How to fix", problem.fix),
    ]
    width = max(len(label) for label, _ in facts) + 1
    lines = [
        "prostop n'a pas pu utiliser le message ci-dessous ; il est conservé tel quel dans ce "
        f"dossier ({folder}).",
        "prostop could not use the message below; it is kept unchanged in this folder.",
        "",
        *(f"{label + ':':<{width}} {value}" for label, value in facts if value),
        "",
        "Pour le soumettre à nouveau / To submit it again:",
        "  1. faites renvoyer le document par l'expéditeur ; si la cause était un réglage, "
        "corrigé depuis,",
        f"     redéplacez ce message dans le dossier {inbox!r} : il sera relu.",
        "     Have the sender send it again; if a setting was the cause and is now fixed, move",
        f"     the message back into the folder {inbox!r}: it is read again.",
        "  2. supprimez ensuite cette note / then delete this note.",
    ]
    return "\n".join(lines) + "\n"
