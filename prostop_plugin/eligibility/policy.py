"""The ``[eligibility]`` settings: the codes, words and switches the rules read."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from prostop_plugin.eligibility.local_codes import LocalCodeMap, build_map


class EligibilityPolicy(BaseModel):
    """The ``[eligibility]`` configuration section. Defaults are the 2020 mission's doctrine."""

    model_config = ConfigDict(extra="forbid")

    accept_antigen: bool = Field(
        default=False,
        description="count a positive antigen test as confirming (the mission requires RT-PCR)",
    )
    contact_window_days: int = Field(
        default=14, ge=0, le=365,
        description="results and symptom onsets older than this many days are too old",
    )
    episode_window_days: int = Field(
        default=14, ge=1, le=365, description="one code per patient per episode of this length"
    )
    allowed_professions: list[str] = Field(
        default=["10", "60"],
        description="PSC profession codes allowed to confirm (10 médecin, 60 infirmier)",
    )
    naat_loinc: list[str] = Field(
        default=["94500-6", "94309-2", "94759-8", "94845-5", "94565-9", "95608-6", "94533-7",
                 "94534-5", "94531-1", "94306-8"],
        description="LOINC codes of SARS-CoV-2 RT-PCR / NAAT results, panels included",
    )
    antigen_loinc: list[str] = Field(
        default=["94558-4", "95209-3"], description="LOINC codes of SARS-CoV-2 antigen tests"
    )
    serology_loinc: list[str] = Field(
        default=["94762-2", "94563-4", "94564-2", "94562-6", "94547-7", "94769-7"],
        description="LOINC codes of SARS-CoV-2 antibody tests (never confirming)",
    )
    ct_value_loinc: list[str] = Field(
        default=["94745-7", "94746-5"],
        description="LOINC codes of RT-PCR cycle-threshold values (numbers, not results)",
    )
    chest_ct_loinc: list[str] = Field(
        default=["24627-2"], description="LOINC codes of a chest CT exam"
    )
    symptoms_question_loinc: list[str] = Field(
        default=["95419-8"], description="LOINC codes of the 'has symptoms' yes/no question"
    )
    symptom_onset_loinc: list[str] = Field(
        default=["65222-2"], description="LOINC codes whose value is the symptom onset date"
    )
    confirmed_cim10: list[str] = Field(
        default=["U07.1", "U07.10", "U07.12", "U07.14"],
        description="CIM-10 codes of COVID-19 with the virus identified",
    )
    suspected_cim10: list[str] = Field(
        default=["U07.2", "U07.11", "U07.15"],
        description="CIM-10 codes of COVID-19 with the virus not identified (probable, suspected)",
    )
    ruled_out_cim10: list[str] = Field(
        default=["U07.13"], description="CIM-10 codes of a contact or a ruled-out case"
    )
    confirmed_snomed: list[str] = Field(
        default=["840539006"], description="SNOMED CT codes of COVID-19 disease"
    )
    suspected_snomed: list[str] = Field(
        default=["840544004"], description="SNOMED CT codes of suspected COVID-19"
    )
    positive_snomed: list[str] = Field(
        default=["10828004", "260373001"], description="SNOMED CT result values: positive"
    )
    negative_snomed: list[str] = Field(
        default=["260385009", "260415000"], description="SNOMED CT result values: negative"
    )
    indeterminate_snomed: list[str] = Field(
        default=["373068000"], description="SNOMED CT result values: indeterminate"
    )
    chest_ct_finding_snomed: list[str] = Field(
        default=["1217294009"],
        description="SNOMED CT chest-CT findings suggestive of COVID-19 (ground-glass opacity)",
    )
    chest_ct_abnormal_flags: list[str] = Field(
        default=["A", "AA"],
        description="abnormal flags that make a chest CT suggestive when it carries no coded "
        "finding outside chest_ct_finding_snomed; empty to require a coded finding",
    )
    positive_texts: list[str] = Field(
        default=["POSITIF", "POSITIVE", "POS", "DETECTE", "DÉTECTÉ", "DÉTECTÉE", "DETECTED",
                 "DET", "DÉTECTABLE", "DETECTABLE", "PRÉSENCE", "PRÉSENT", "PRÉSENTE",
                 "PRESENT", "+"],
        description="result words read as positive; matched as whole words, ignoring case, "
        "accents and punctuation, and never when the text also holds a negation (non, pas, "
        "absence…); '+' alone (or '++', '+++') is a value of its own",
    )
    negative_texts: list[str] = Field(
        default=["NEGATIF", "NÉGATIF", "NÉGATIVE", "NEGATIVE", "NEG", "NON DETECTE",
                 "NON DÉTECTÉ", "NON DÉTECTÉE", "NON DÉTECTABLE", "NOT DETECTED",
                 "NOT DETECTABLE", "UNDETECTED", "INDÉTECTABLE", "ND", "ABSENCE", "ABSENT",
                 "ABSENTE", "ABSENCE D'ARN", "ABSENCE DE DÉTECTION", "-"],
        description="result words read as negative (whole words, case and accents ignored; "
        "'-' alone is a value of its own)",
    )
    indeterminate_texts: list[str] = Field(
        default=["ININTERPRETABLE", "ININTERPRÉTABLE", "NON INTERPRÉTABLE", "INDETERMINE",
                 "INDÉTERMINÉ", "INDÉTERMINÉE", "INDETERMINATE", "IND", "INDET", "DOUTEUX",
                 "DOUTEUSE", "ÉQUIVOQUE", "LIMITE", "NON CONCLUANT", "INCONCLUSIF",
                 "INCONCLUSIVE", "INVALIDE", "INVALID", "NON VALIDE", "INHIBÉ", "INHIBITION",
                 "NON RÉALISABLE", "À CONTRÔLER", "À RECONTRÔLER", "À CONFIRMER", "À REFAIRE"],
        description="result words read as indeterminate (whole words, case and accents ignored)",
    )
    symptom_yes_texts: list[str] = Field(
        default=["Y", "OUI", "YES", "O"], description="answers meaning 'has symptoms'"
    )
    symptom_no_texts: list[str] = Field(
        default=["N", "NON", "NO"], description="answers meaning 'has no symptoms'"
    )
    negative_naat_blocks_diagnosis: bool = Field(
        default=True,
        description="a negative RT-PCR on file, and no positive one, stops a 'virus identified' "
        "diagnosis from being confirmed on the physician's attestation alone",
    )
    max_evidence: int = Field(
        default=10_000, ge=1, le=1_000_000,
        description="most pieces of evidence evaluated together for one patient (results, "
        "diagnoses…); beyond it nothing is evaluated and the decision says so "
        "(rule too_many_results) rather than judging part of the record",
    )
    local_codes: dict[str, str | dict[str, str]] = Field(
        default={},
        description="a laboratory's local test code ('CODE' or 'SYSTEM:CODE') mapped to a "
        "LOINC code, for every sender; or a table per sender (as 'prostop codes unknown' names "
        "it) of such codes. Applied before any recognition from the label",
    )
    local_codes_file: Path | None = Field(
        default=None,
        description="a CSV file of local codes (columns sender, code, loinc; optional system, "
        "label), merged with local_codes; a relative path is relative to prostop.toml",
    )

    _local_map: LocalCodeMap = PrivateAttr(default_factory=lambda: LocalCodeMap({}))
    _local_source: tuple[object, object] = PrivateAttr(default=(None, None))

    @model_validator(mode="after")
    def _check_local_codes(self) -> EligibilityPolicy:
        """Read and check the map now: a wrong code or file stops the start, not a result."""
        self._build_local_map()
        return self

    def _build_local_map(self) -> None:
        self._local_map = build_map(self.local_codes, self.local_codes_file)
        self._local_source = (self.local_codes, self.local_codes_file)

    def local_code_map(self) -> LocalCodeMap:
        """The merged map, rebuilt when ``local_codes`` or the file was replaced after loading
        (``model_copy(update=…)``, assignment); checked by identity: once per result, it must
        not cost the size of the map."""
        source, file = self._local_source
        if source is not self.local_codes or file != self.local_codes_file:
            self._build_local_map()
        return self._local_map


@functools.cache
def default_policy() -> EligibilityPolicy:
    """The doctrine's defaults, built once (building a policy copies every list default).

    Treat it as read-only: a changed policy is a new object (``model_copy(update=…)``).
    """
    return EligibilityPolicy()
