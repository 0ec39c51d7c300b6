"""Lab files for the demo, made for one patient with today's dates: what a lab would send.

The consultation screen offers them for download or direct import, so that a newcomer can try
the import path without a lab (the shared corpus files are dated November 2020: today they are
too old for a code).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from prostop_demo_ehr.store import Patient
from prostop_plugin import in_paris


@dataclass(frozen=True)
class Sample:
    name: str
    fr: str
    en: str
    obx: str  # the result segment(s), {when} = observation time


SAMPLES: dict[str, Sample] = {
    "rtpcr_positive": Sample(
        "rtpcr_positif.hl7", "RT-PCR SARS-CoV-2 positive (HL7 v2)",
        "Positive SARS-CoV-2 RT-PCR (HL7 v2)",
        "OBX|1|CWE|94500-6^SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA "
        "with probe detection^LN||10828004^positif^SCT|||A|||F|||{when}",
    ),
    "rtpcr_negative": Sample(
        "rtpcr_negatif.hl7", "RT-PCR SARS-CoV-2 négative (HL7 v2)",
        "Negative SARS-CoV-2 RT-PCR (HL7 v2)",
        "OBX|1|CWE|94500-6^SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA "
        "with probe detection^LN||260385009^négatif^SCT|||N|||F|||{when}",
    ),
    "serology_positive": Sample(
        "serologie_positive.hl7", "Sérologie SARS-CoV-2 IgG positive (HL7 v2)",
        "Positive SARS-CoV-2 IgG serology (HL7 v2)",
        "OBX|1|CWE|94563-4^SARS-CoV-2 (COVID-19) IgG Ab [Presence] in Serum or Plasma by "
        "Immunoassay^LN||10828004^positif^SCT|||A|||F|||{when}",
    ),
}


def _ts(moment: datetime) -> str:
    return f"{in_paris(moment):%Y%m%d%H%M%S}"


def _escape(text: str) -> str:
    return (text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
            .replace("&", "\\T\\").replace("~", "\\R\\"))


def sample_file(kind: str, patient: Patient, now: datetime, host: str) -> bytes:
    """An ORU^R01 from the fictional "LABO-DEMO" for ``patient``: sampled yesterday, result
    this morning; UTF-8, segments ending with CR.

    :raises KeyError: an unknown sample kind.
    """
    sample = SAMPLES[kind]
    sampled, resulted = now - timedelta(days=1), now - timedelta(hours=2)
    ins = (f"{patient.ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS~"
           if patient.ins else "")
    segments = [
        f"MSH|^~\\&|SIL-DEMO|LABO-DEMO|EHR|{_escape(host)}|{_ts(resulted)}||ORU^R01^ORU_R01|"
        f"LD-{secrets.token_hex(5).upper()}|P|2.5|||AL|NE|FRA|UNICODE UTF-8",
        f"PID|||{ins}{patient.id}^^^{_escape(host)}^PI||{_escape(patient.family_name)}^"
        f"{_escape(patient.given_name.upper())}^^^^^L||{patient.birth_date:%Y%m%d}|{patient.sex}",
        "PV1|1|O",
        f"OBR|1|CMD-{secrets.randbelow(10**6):06d}||94531-1^SARS-CoV-2 RNA panel^LN|||"
        f"{_ts(sampled)}|||||||||||||||{_ts(resulted)}|||F",
        sample.obx.format(when=_ts(resulted)),
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")
