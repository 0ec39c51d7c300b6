"""Recognising a SARS-CoV-2 test from the words of its label, when no known code names it.

French laboratories code results with their own local codes (HPRIM always, HL7 v2 often), and
the label is then the only thing that says what the test is: "SARS-CoV-2 PCR (écouvillon
nasopharyngé)", "CORONAVIRUS SARS COV2 (COVID 19) : DEPISTAGE PAR RT-PCR", "Détection du génome
du SARS-CoV-2 par amplification génique", "COVID-19 TAAN salive", "2019-nCoV RNA". Labels are
compared accent-, case-, punctuation- and spacing-insensitively (:func:`normalised`).

A label is recognised as a test of SARS-CoV-2 only when it names the virus (SARS-CoV-2,
SRAS-CoV-2, COVID-19, 2019-nCoV, coronavirus 2019…) and

* **another pathogen** in the same label (influenza, RSV, the seasonal coronaviruses HKU1, OC43,
  229E, NL63, MERS…) makes it ambiguous: one value cannot say which virus it is about, so such a
  result is never a SARS-CoV-2 test (a multiplex panel's analytes are each judged on their own
  label);
* a **part** of a test — a gene target, an internal or human control, a variant or mutation
  screen, a comment — is not a result of the test (an internal control "détecté" says the
  extraction worked, a mutation "détectée" is found on an already positive sample);
* a **Ct value** or viral load is a number, not a qualitative result;
* the **technique** decides the category: amplification (RT-PCR, PCR, TAAN, NAAT, RT-LAMP, TMA,
  ARN, génome, biologie moléculaire…), antigen (Ag, antigène, TDR, autotest), serology
  (sérologie, anticorps, Ac, IgG/IgM/IgA, anti-S…). The label names it, else the result's words
  ("ARN du SARS-CoV-2 détecté"), else the order it belongs to (HL7 OBR-4: "PCR multiplex
  respiratoire" for each analyte of the panel). Two techniques at once (or a rapid test, TROD,
  that can be either antigen or serology) are not decided;
* a label naming the virus with no recognisable technique is ``unspecified``: about SARS-CoV-2,
  never confirming, and listed by ``prostop codes unknown`` so that the admin maps its code.

A label that does not name the virus at all ("Résultat", "Conclusion", "Recherche d'ARN")
inherits its order's recognition when that order is about SARS-CoV-2 alone; an empty label never
does (it could be the internal control). Specimen words (nasopharyngé, salive, écouvillon…) are
tolerated, never taken as the technique: an antigen test is done on the same swab.

Patterns are compiled once, at import; reading a label costs its length, whatever the number of
results, and recognitions are cached.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

#: the categories text can recognise (values of :class:`~.reading.LabCategory`)
NAAT, ANTIGEN, SEROLOGY, CT_VALUE, UNSPECIFIED = (
    "naat", "antigen", "serology", "ct_value", "unspecified")
_RAPID = "rapid"  # antigen or serology: a technique that cannot be decided


@functools.lru_cache(maxsize=8192)
def normalised(text: str) -> str:
    """``"SARS-CoV-2 (écouvillon) RT-PCR"`` → ``"SARS COV 2 ECOUVILLON RT PCR"``: upper case,
    accents removed, every run of other characters one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    plain = plain.replace("Œ", "OE").replace("Æ", "AE").replace("ß", "SS")
    return " ".join(re.findall(r"[A-Z0-9]+", plain))


def _words(*alternatives: str) -> re.Pattern[str]:
    """Whole words (or word sequences) of a normalised text."""
    return re.compile(r"(?<![A-Z0-9])(?:" + "|".join(alternatives) + r")(?![A-Z0-9])")


VIRUS = _words(
    r"S[AR]+S ?COV ?2", r"SARS ?2", r"(?:SARS ?)?COV ?2", r"COVID(?: ?19)?",
    r"(?:2019 ?)?N ?COV(?: ?2019)?", r"CORONAVIRUS (?:DE |DISEASE )?2019",
    r"(?:NOUVEAU|NOVEL) CORONAVIRUS",
)
_OTHER_PATHOGENS = _words(
    r"INFLU\w*", r"PARA ?INFLU\w*", r"GRIPP\w*", r"FLU ?[AB]?", r"H1N1\w*", r"H3N2", r"H5N1",
    r"RSV ?[AB]?", r"VRS ?[AB]?", r"SYNCYTI\w*", r"H?MPV", r"METAPNEUMO\w*", r"RHINO\w*",
    r"ENTERO\w*", r"ADENO\w*", r"PIV ?[1-4]?", r"BOCA\w*", r"HKU ?1", r"OC ?43", r"229 ?E",
    r"NL ?63", r"MERS\w*", r"SARS ?COV ?1", r"HCOV\w*", r"SAISONNIER\w*", r"SEASONAL",
    r"MYCOPLASM\w*", r"CHLAMYD\w*", r"BORDETELL\w*", r"PERTUSSIS", r"COQUELUCHE",
    r"LEGIONELL\w*", r"PNEUMOCOQU\w*", r"STREPTO\w*", r"VIH", r"HIV", r"HEPATIT\w*", r"HBV",
    r"HCV", r"CMV", r"EBV", r"HSV", r"HERPES", r"VZV", r"ZONA", r"ROTAVIRUS", r"NOROVIRUS",
    r"ROUGEOLE", r"MEASLES", r"DENGUE", r"AUTRES VIRUS", r"OTHER VIRUS\w*",
)
_CT = _words(
    r"CT", r"CQ", r"CYCLE THRESHOLD", r"CYCLES? SEUIL", r"VALEUR CT", r"CHARGE VIRALE",
    r"VIRAL LOAD",
)
_PARTS = _words(
    # gene targets: the test's conclusion is the result, not each target
    r"GENES?", r"CIBLES?", r"TARGETS?", r"ORF ?1 ?A?B?", r"RDRP", r"N ?[12]", r"NSP ?\d+",
    # controls: "détecté" means the sample or the extraction was good
    r"CONTROLES?", r"CONTROLS?", r"TEMOINS?", r"RNASE ?P?", r"BETA ?GLOBINE", r"GAPDH",
    r"HUMAINE?S?", r"HUMAN", r"IPC", r"INHIB\w*", r"QUALITE", r"CELLULARITE", r"EXTRACTION",
    r"VALIDITE",
    # variants: screened on positive samples, "mutation détectée" is not a positive test
    r"VARIANTS?", r"CRIBLAGE", r"MUTATIONS?", r"SEQUEN\w*", r"LIGNEES?", r"LINEAGES?",
    r"CLADES?", r"OMICRON", r"DELTA", r"ALPHA", r"GAMMA", r"[A-Z] ?\d{2,4} ?[A-Z]",
    r"DEL ?\d+",
    # what accompanies a result
    r"COMMENTAIRES?", r"COMMENTS?", r"NOTES?", r"REMARQUES?", r"RENSEIGNEMENTS?",
    r"SYMPTOM\w*", r"DATES?", r"MOTIFS?", r"INDICATIONS?", r"CONTACTS?", r"NATURE",
    r"PRELEVEUR", r"VACCIN\w*", r"RAPPORT",
)
_NAAT = _words(
    r"RT ?Q? ?PCR", r"Q ?PCR", r"PCR", r"TAAN", r"NAAT?", r"AMPLIF\w*", r"ACIDES? NUCLEIQUES?",
    r"NUCLEIC ACIDS?", r"ARN", r"RNA", r"GENOMES?", r"GENOMIQUES?", r"MOLECULAIRES?",
    r"MOLECULAR", r"RT ?LAMP", r"LAMP", r"TMA", r"X ?PERT", r"GENE ?XPERT", r"ID ?NOW",
    r"EASY ?COV", r"FILM ?ARRAY", r"BIO ?FIRE", r"APTIMA", r"ALLPLEX", r"SIMPLEXA",
)
_ANTIGEN = _words(r"AG", r"ANTIGEN\w*", r"TDR", r"AUTO ?TESTS?")
_SEROLOGY = _words(
    r"SEROLOG\w*", r"SERO", r"ANTICORPS", r"ANTIBOD\w*", r"AC", r"AB", r"ANTI", r"IG ?[GMA]",
    r"IG TOTA\w*", r"IMMUNOGLOBULIN\w*", r"NEUTRALIS\w*", r"ELISA", r"ECLIA", r"CMIA",
    r"SEROCONVERSION", r"IMMUNITE", r"IMMUNITY",
)
_RAPID_TEST = _words(r"TROD", r"TESTS? RAPIDES?", r"RAPID TESTS?", r"IMMUNOCHROMATO\w*",
                     r"LATERAL FLOW")
#: words a label may hold and still be only "the result" of its order
_GENERIC = frozenset({
    "RESULTAT", "RESULTATS", "RESULT", "RESULTS", "CONCLUSION", "INTERPRETATION", "DETECTION",
    "RECHERCHE", "DEPISTAGE", "TEST", "EXAMEN", "ANALYSE", "QUALITATIF", "QUALITATIVE", "DE",
    "DU", "DES", "LA", "LE", "LES", "L", "D", "EN", "PAR", "SUR", "ET", "THE", "OF", "BY", "IN",
    "ON", "ARN", "RNA", "PCR", "RT", "VIRAL", "VIRALE", "VIRUS", "GENOME", "FINAL", "FINALE",
})

_METHODS = ((_NAAT, NAAT), (_ANTIGEN, ANTIGEN), (_SEROLOGY, SEROLOGY), (_RAPID_TEST, _RAPID))


@dataclass(frozen=True)
class LabelReading:
    """What the words of a result say it is, and the words that said it (quoted to the
    physician: a decision made from text says so)."""

    category: str  # NAAT, ANTIGEN, SEROLOGY, CT_VALUE or UNSPECIFIED
    label: str
    value: str | None = None  # the result's words, when they gave the technique
    panel: str | None = None  # the order's label, when it gave the technique or the virus


def _methods(text: str) -> set[str]:
    found = {method for pattern, method in _METHODS if pattern.search(text)}
    if found & {ANTIGEN, SEROLOGY}:
        found.discard(_RAPID)  # "TROD antigénique": the rapid test says which it is
    return found


def _single(methods: set[str]) -> str | None:
    return next(iter(methods)) if len(methods) == 1 and _RAPID not in methods else None


def names_the_virus(label: str) -> bool:
    """Whether a label names SARS-CoV-2 / COVID-19 (accents, case and spacing ignored)."""
    return bool(VIRUS.search(normalised(label)))


@functools.lru_cache(maxsize=4096)
def read_label(label: str, value: str | None = None, panel: str | None = None,
               panel_category: str | None = None) -> LabelReading | None:
    """What a result's label says it is; ``None`` when it is not about SARS-CoV-2 (or is a part
    of a test: gene target, control, variant, comment).

    :param label: the test's display text(s), as sent.
    :param value: the result's own words, which may name the technique ("ARN détecté").
    :param panel: the order's label (OBR-4), which may name the technique or, for a label that
        is only "Résultat", the virus.
    :param panel_category: the order's category when its code is known (a LOINC NAAT panel).
    """
    text = normalised(label)
    if not text:
        return None
    if not VIRUS.search(text):
        return _inherited(label, text, panel, panel_category)
    if _OTHER_PATHOGENS.search(text):
        return LabelReading(UNSPECIFIED, label)  # one value, several viruses: never decided
    if _CT.search(text):
        return LabelReading(CT_VALUE, label)
    methods = _methods(text)
    if _single(methods) in (ANTIGEN, SEROLOGY):
        return LabelReading(_single(methods) or UNSPECIFIED, label)  # never confirming anyway
    if _PARTS.search(text):
        return None
    if methods:
        return LabelReading(_single(methods) or UNSPECIFIED, label)
    said = normalised(value or "")
    if said and (found := _single(_methods(said))) is not None:
        return LabelReading(found, label, value=value)
    panel_text = normalised(panel or "")
    from_panel = _single(_methods(panel_text)) if panel_text else None
    if panel_category in (NAAT, ANTIGEN, SEROLOGY):  # the order's code and words must agree
        from_panel = panel_category if from_panel in (None, panel_category) else None
    if from_panel is not None and not _PARTS.search(panel_text):
        return LabelReading(from_panel, label, panel=panel)
    return LabelReading(UNSPECIFIED, label)


def _inherited(label: str, text: str, panel: str | None,
               panel_category: str | None) -> LabelReading | None:
    """A label that is only "the result": the order decides, when it is about SARS-CoV-2
    alone (a multiplex order names several viruses: its "Résultat" is not decided)."""
    if not set(text.split()) <= _GENERIC or not (panel or panel_category):
        return None
    ordered = read_label(panel) if panel else None
    category = ordered.category if ordered is not None else panel_category
    if category not in (NAAT, ANTIGEN, SEROLOGY):
        return None
    return LabelReading(category, label, panel=panel)
