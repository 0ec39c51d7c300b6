"""Recognising a COVID-19 diagnosis from its words, when it carries no known code.

A practice's software may send a diagnosis as text only ("COVID-19 confirmé", HL7 DG1-3 with no
code, a CDA problem with only its original text) or under a local code with a label. The words
are read accent-, case-, punctuation- and spacing-insensitively, most cautious reading first:

1. not the current illness: a history, sequelae, long COVID, a vaccination, a screening
   ("antécédent de COVID-19", "COVID long", "post-COVID") → unrelated;
2. a negation or a contact ("COVID-19 exclue", "pas de COVID", "cas contact", "test négatif")
   → ruled out;
3. a CIM-10 code written in the text ("COVID-19 (U07.1)") → that code, read as a code;
4. doubt ("suspicion", "probable", "possible", "non confirmé", "virus non identifié", "?")
   → suspected;
5. confirmation ("confirmé", "virus identifié", "PCR positive", "confirmed") → virus identified;
6. the disease named without either ("COVID-19", "infection à SARS-CoV-2") → suspected: nothing
   says the virus was identified.

A diagnosis recognised from text is named with its words in the decision's reasons.
"""

from __future__ import annotations

import enum
import functools
import re

from prostop_plugin.eligibility.labels import VIRUS, normalised


class DiagnosisReading(enum.StrEnum):
    CONFIRMED = "confirmed"
    SUSPECTED = "suspected"
    RULED_OUT = "ruled_out"
    CODED = "coded"  # a CIM-10 code is written in the text: read as that code
    UNRELATED = "unrelated"


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Z0-9])(?:" + "|".join(alternatives) + r")(?![A-Z0-9])")


_NOT_CURRENT = _words(
    r"ANTECEDENTS?", r"ATCD", r"HISTOIRE", r"HISTORY", r"SEQUELLES?", r"SEQUELAE", r"LONG",
    r"LONGUE", r"POST", r"PERSISTANT\w*", r"VACCIN\w*", r"IMMUNISATION", r"DEPISTAGE",
    r"SCREENING", r"GUERI\w*", r"ANCIEN\w*", r"PASSEE?", r"PAST", r"PREVIOUS", r"PIMS",
    r"MIS C",
)
_UNCONFIRMED = _words(
    r"NON CONFIRME\w*", r"PAS CONFIRME\w*", r"UNCONFIRMED", r"NOT CONFIRMED",
    r"NON IDENTIFIE\w*", r"PAS IDENTIFIE\w*", r"NOT IDENTIFIED",
)
_RULED_OUT = re.compile(
    _words(r"EXCLUE?S?", r"ECARTEE?S?", r"INFIRMEE?S?", r"NEGATI\w*", r"NEG", r"RULED OUT",
           r"CONTACTS?", r"EXPOSITION", r"EXPOSURE", r"NON ATTEINTE?").pattern
    + r"|(?<![A-Z0-9])(?:PAS|ABSENCE|NO|NOT|SANS|NI)(?: [A-Z0-9]+){0,3}? " + VIRUS.pattern
)
_CIM10 = re.compile(r"(?<![A-Z0-9])U ?0?7 ?(1[0-5]?|2)(?![0-9])")
_DOUBT = _words(
    r"SUSPICION", r"SUSPECTE?E?S?", r"SUSPECTED", r"PROBABLES?", r"POSSIBLES?", r"EVOCAT\w*",
    r"HYPOTHESE", r"PRESUME\w*", r"PRESUMPTIVE", r"A CONFIRMER", r"EN COURS", r"EN ATTENTE",
    r"CLINIQUE", r"CLINICAL", r"DOUTE\w*", r"EVENTUEL\w*", r"LIKELY",
)
_CONFIRMED = _words(
    r"CONFIRME\w*", r"CONFIRMED", r"IDENTIFIE\w*", r"IDENTIFIED", r"PROUVE\w*", r"PROVEN",
    r"DOCUMENTE\w*", r"BIOLOGIQUE\w*", r"(?:RT )?PCR POSITIVE?",
)
_PLUS = re.compile(r"(?:COVID[\W_]*(?:19)?|CO?V[\W_]*2|PCR)[\W_]*\+", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def read_diagnosis_text(text: str) -> tuple[DiagnosisReading, str | None]:
    """What a diagnosis's words say; with :attr:`DiagnosisReading.CODED`, the CIM-10 code
    written in them (``U07.1``…), to be read as any code is."""
    plain = normalised(text)
    code = _CIM10.search(plain)
    if code is None and not VIRUS.search(plain):
        return DiagnosisReading.UNRELATED, None
    if _NOT_CURRENT.search(plain):
        return DiagnosisReading.UNRELATED, None
    if _UNCONFIRMED.search(plain):
        return DiagnosisReading.SUSPECTED, None
    if _RULED_OUT.search(plain):
        return DiagnosisReading.RULED_OUT, None
    if code is not None:
        return DiagnosisReading.CODED, f"U07.{code[1]}"
    if _DOUBT.search(plain) or "?" in text:
        return DiagnosisReading.SUSPECTED, None
    if _CONFIRMED.search(plain) or _PLUS.search(text):
        return DiagnosisReading.CONFIRMED, None
    return DiagnosisReading.SUSPECTED, None
