"""French catalog (the default). Keys and placeholders must match :mod:`.en` exactly."""

from __future__ import annotations

CATALOG: dict[str, str] = {
    # decisions
    "decision.confirmed": "cas confirmé",
    "decision.probable": "cas probable",
    "decision.not_eligible": "non éligible",
    # issuance states
    "state.received": "reçu",
    "state.not_eligible": "non éligible",
    "state.awaiting_confirmation": "en attente de confirmation",
    "state.declined": "non remis",
    "state.approved": "confirmé, code en attente",
    "state.issuing": "code en cours d'obtention",
    "state.issued": "code obtenu",
    "state.written_back": "code remis et enregistré au dossier",
    "state.write_back_failed": "code obtenu, non enregistré au dossier",
    "state.issue_failed": "échec de l'obtention du code",
    "state.expired": "code expiré",
    "declined.because": "non remis — motif : {reason}",
    # the date the app asks for, in the app's own words
    "date.symptom_onset": "date de début des symptômes",
    "date.test_date": "date du test",
    # confirmation dialog
    "confirm.title": "Déclaration StopCovid : remettre un code au patient ?",
    "confirm.lead": "{decision} de COVID-19 — {patient} : un code de déclaration StopCovid à "
    "6 caractères peut être remis au patient.",
    "confirm.lead_not_eligible": "{patient} : aucun code de déclaration StopCovid ne peut être "
    "remis ({decision}).",
    "confirm.reasons": "Motifs",
    "confirm.evidence": "Éléments du dossier",
    "confirm.previous": "Codes précédents",
    "confirm.patient_date": "Date que l'application demandera au patient : {what}, le {date}.",
    "confirm.patient_date_unknown": "Date que l'application demandera au patient : date de début "
    "des symptômes (sans symptômes, date du test), à préciser avec lui.",
    "confirm.qr_attestation": "Je certifie que le QR code SI-DEP du patient est indisponible ou "
    "ne fonctionne pas, et qu'il ne sera pas utilisé en parallèle par une autre personne.",
    "confirm.rtpcr_attestation": "Je certifie qu'une RT-PCR SARS-CoV-2 positive a été réalisée "
    "pour ce patient, bien que le résultat ne figure pas au dossier.",
    "confirm.binding": "Votre application e-CPS affichera le nombre {binding} : validez-le.",
    "confirm.approve": "Confirmer et obtenir le code",
    "confirm.decline": "Ne pas remettre de code",
    "confirm.decline_prompt": "Motif du refus (obligatoire) :",
    # previous codes for this patient
    "previous.with_code": "Un code a déjà été remis à ce patient le {issued_on} (se terminant "
    "par {last2}), {status}",
    "previous.without_code": "Un code a déjà été remis à ce patient le {issued_on}, {status}",
    "previous.request": "Une demande de code a déjà été faite pour ce patient : {status}",
    "previous.expired": "expiré",
    "previous.valid_until": "valable jusqu'au {valid_until}",
    # consultation summary and patient record
    "summary.issued": "Déclaration StopCovid : code {code} remis le {issued_at} ({decision}), "
    "valable jusqu'au {valid_until}.",
    "summary.no_code": "Déclaration StopCovid ({decision}) : {state}.",
    "notice.title": "Déclaration StopCovid : confirmation en attente",
    "notice.lead": "{decision} de COVID-19 : un code de déclaration StopCovid peut être remis "
    "à ce patient, après votre confirmation.",
    "notice.link": "Confirmez (ou refusez) dans la console StopCovid : {link}",
    "notice.login": "Connexion avec Pro Santé Connect (carte CPS ou e-CPS).",
    "note.title": "Déclaration StopCovid — code de déclaration remis au patient",
    "note.code": "Code : {code} (usage unique, valable jusqu'au {valid_until})",
    "note.issued": "Remis le : {issued_at}",
    "note.case": "Type de cas : {decision}",
    "note.reasons": "Motifs :",
    "note.patient_date": "Date à indiquer dans l'application : {what}, le {date}",
    "note.patient_date_unknown": "Date à indiquer dans l'application : date de début des "
    "symptômes (sans symptômes, date du test), non renseignée",
    "note.confirmed_by": "Confirmé par : {practitioner}",
    "note.qr_attested": "Attestation : QR code SI-DEP indisponible ou ne fonctionnant pas, et "
    "non utilisé par une autre personne.",
    "note.rtpcr_attested": "Attestation : RT-PCR SARS-CoV-2 positive réalisée (résultat absent "
    "du dossier).",
    "note.replaces": "Nouveau code : la validité du précédent était dépassée et le médecin a "
    "vérifié que le patient ne l'avait pas saisi.",
    "note.flag": "Attention : {flag}",
    "practitioner.unknown": "praticien non identifié",
    # patient handout
    "handout.title": "Votre code de déclaration StopCovid",
    "handout.validity": "valable jusqu'au {valid_until}",
    "handout.hurry": "Saisissez-le avant cette heure : ensuite, il ne fonctionne plus.",
    "handout.step.open": "Ouvrez l'application StopCovid (TousAntiCovid) sur votre téléphone.",
    "handout.step.declare": "Touchez « Me déclarer », puis choisissez de saisir un code.",
    "handout.step.code": "Saisissez le code à 6 caractères : {code}.",
    "handout.step.date": "Quand l'application vous la demande, indiquez la {what} : {date}.",
    "handout.step.date_unknown": "Quand l'application vous la demande, indiquez la date de début "
    "de vos symptômes (sans symptômes, la date de votre test).",
    "handout.date": "{what} : {date}",
    "handout.date_unknown": "date de début de vos symptômes (sans symptômes, date de votre test)",
    "handout.single_use": "Ce code est personnel et ne sert qu'une seule fois : ne le donnez à "
    "personne.",
    "handout.anonymity": "Les personnes que vous avez croisées seront prévenues sans que votre "
    "identité leur soit révélée.",
    "handout.practitioner": "Code remis par {practitioner} le {issued_at}.",
    # messages the engine shows (see texts.Message)
    "message.issue_failed": "Le service de codes StopCovid est indisponible : aucun code n'a été "
    "obtenu. Réessayez dans quelques minutes.",
    "message.write_back_pending": "Le code a été obtenu mais n'est pas encore enregistré dans le "
    "dossier du patient : nouvel essai automatique en cours.",
    "message.write_back_failed": "Le code n'a pas pu être enregistré dans le dossier du patient : "
    "les essais automatiques sont arrêtés, relancez l'enregistrement.",
    "message.token_denied": "La demande a été refusée sur l'application e-CPS : aucun code n'a "
    "été demandé.",
    "message.token_timeout": "La demande n'a pas été validée sur l'application e-CPS à temps : "
    "aucun code n'a été demandé. Recommencez la confirmation.",
    "message.profession_not_allowed": "Votre profession ({profession}) ne permet pas de remettre "
    "un code StopCovid ; professions autorisées : {allowed}. Aucun code n'a été demandé.",
    "message.token_unverified": "L'authentification Pro Santé Connect transmise par votre "
    "logiciel n'a pas pu être vérifiée (jeton illisible, non signé par Pro Santé Connect, délivré "
    "à un autre logiciel ou révoqué) : aucun code n'a été demandé. Reconnectez-vous avec votre "
    "carte CPS ou l'e-CPS ; si cela se reproduit, prévenez votre informaticien.",
    "message.token_expired": "Votre authentification Pro Santé Connect a expiré : aucun code n'a "
    "été demandé. Reconnectez-vous avec votre carte CPS ou l'e-CPS.",
    "message.token_other_practitioner": "L'authentification Pro Santé Connect transmise est "
    "celle d'un autre praticien ({holder}) que celui qui a confirmé : aucun code n'a été demandé. "
    "Chaque praticien confirme avec sa propre carte CPS ou e-CPS.",
    "message.token_level": "Le niveau d'authentification ({level}) est insuffisant : aucun code "
    "n'a été demandé. Connectez-vous avec votre carte CPS ou l'application e-CPS (niveau "
    "{required} au moins).",
    "message.result_corrected": "Le résultat {test} sur lequel reposait le code remis le "
    "{issued_on} a été corrigé par le laboratoire. Vérifiez la situation du patient ; un code "
    "déjà utilisé ne peut pas être annulé.",
    "message.result_deleted": "Le résultat {test} sur lequel reposait le code remis le "
    "{issued_on} a été supprimé par le laboratoire. Vérifiez la situation du patient ; un code "
    "déjà utilisé ne peut pas être annulé.",
    "message.qr_attestation_missing": "Pour un cas confirmé, le médecin doit attester que le QR "
    "code SI-DEP est indisponible ou ne fonctionne pas : aucun code sans cette attestation.",
    "message.rtpcr_attestation_missing": "Aucune RT-PCR positive au dossier : le médecin doit "
    "attester qu'une RT-PCR SARS-CoV-2 positive a été réalisée.",
    "message.code_still_valid": "Un code remis à ce patient est encore valable jusqu'au "
    "{valid_until} : pas de nouveau code, redonnez celui-ci.",
    "message.code_validity_passed": "Validité dépassée le {valid_until}. Si le patient l'a déjà "
    "saisi dans l'application, ne lui en remettez pas un autre.",
    "message.reissue_unused_attestation": "Je confirme avoir vérifié avec le patient qu'il n'a "
    "pas saisi ce code dans l'application TousAntiCovid.",
    "message.reissue_unused_missing": "Un nouveau code n'est remis qu'après avoir vérifié avec le "
    "patient qu'il n'a pas saisi le précédent : sinon, il se déclarerait deux fois.",
    "message.reissue_not_latest": "Ce code a déjà été remplacé, ou une demande plus récente "
    "existe pour ce patient : aucun nouveau code à partir de celui-ci.",
    "message.reissue_in_progress": "Une demande de code est déjà en cours pour ce patient : "
    "attendez son issue.",
    "cli.no_pending": "Aucune confirmation en attente.",
    "cli.attest_qr": "à attester : QR code SI-DEP indisponible (--attest-qr-unavailable)",
    "cli.attest_rtpcr": "à attester : RT-PCR positive réalisée (--attest-rtpcr-positive)",
    "cli.approve_wait": "Validez la demande sur votre application e-CPS (code de vérification "
    "{binding}). En attente…",
    "cli.code": "Code à remettre au patient : {code} (usage unique, valable jusqu'au "
    "{valid_until}).",
    "cli.no_code": "Aucun code : {status}.",
}
