"""French identifiers read the same way in every format: NIR/NIA (the INS matricule), RPPS.

The INS matricule is a NIR, or for people awaiting one a NIA (numéro identifiant d'attente),
which is "constituted like a NIR": 13 characters and a 2-digit key, 97 − (number mod 97), the
Corsican departments 2A and 2B read as 19 and 18 for the key. An identifier whose key is wrong
or missing is never used as the INS, whatever the message format (HL7 v2, CDA, HPRIM).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: INS assigning authorities: INS-NIR, INS-NIA, test INS-NIR (PID-3.4.2, CDA patientRole/id)
INS_OIDS = frozenset({"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10"})
#: an RPPS number, bare or as IdNat_PS (``8`` + 11 digits); group 1 is the 11 digits
RPPS = re.compile(r"^8?(\d{11})$")

_NIR_SHAPE = re.compile(r"^[1-478]\d{4}(?:\d{2}|2[AB])\d{6}(?:\d{2})?$")
#: the key of a Corsican NIR is computed with 2A read as 19 and 2B as 18
_CORSICA = {"2A": "19", "2B": "18"}


@dataclass(frozen=True)
class Nir:
    """A NIR (French social-security number, the INS matricule) as written, normalised."""

    value: str
    key_ok: bool | None  # None: written without its 2-digit key

    @property
    def sex(self) -> str | None:
        return {"1": "M", "2": "F"}.get(self.value[0]) if self.key_ok else None


def parse_nir(raw: str | None) -> Nir | None:
    """Return the NIR in ``raw`` (spaces and dots allowed) with its key checked, or None."""
    if not raw:
        return None
    value = re.sub(r"[\s.]", "", raw).upper()
    if not _NIR_SHAPE.match(value):
        return None
    if len(value) == 13:
        return Nir(value, None)
    department = value[5:7]
    number = value[:5] + _CORSICA.get(department, department) + value[7:13]
    return Nir(value, 97 - int(number) % 97 == int(value[13:]))


def checked_ins(raw: str | None) -> str | None:
    """The INS matricule in ``raw``, normalised, when its key checks out; else None."""
    nir = parse_nir(raw)
    return nir.value if nir is not None and nir.key_ok else None


def masked(identifier: str) -> str:
    """An identifier as logs may show it: never whole (logs are not a place for an INS)."""
    value = identifier.strip()
    return f"{value[0]}…{value[-2:]}" if len(value) >= 6 else "…"
