"""The local-code map: a laboratory's own test codes → LOINC, filled by the IT admin.

Two sources, merged and checked when the settings load (a mistake stops the start, with the
line or key to correct):

* ``[eligibility.local_codes]`` in prostop.toml — a code for every sender, or a table per
  sender (the sender as ``prostop codes unknown`` shows it: HL7 MSH-4, the HPRIM sender line,
  the CDA author's organisation)::

      [eligibility.local_codes]
      "COVPCR" = "94309-2"                 # whoever sends it
      [eligibility.local_codes.LABO-DORDOGNE]
      "SCOV2" = "94500-6"                  # this laboratory only
      "KALISIL:CVAG" = "94558-4"           # SYSTEM:CODE when the code system matters

* ``eligibility.local_codes_file``, a CSV file (``,`` ``;`` or tab; UTF-8, or Windows-1252 as
  Excel saves it) with a header naming the columns ``sender`` (``émetteur``, ``laboratoire``;
  empty or ``*``: any sender), ``code`` (``code_local``), ``loinc``, and optionally ``system``
  (``système``) and ``label`` (``libellé``, ignored: for the admin's own reading).

A code mapped here is never read from its label: the map is applied first, so a mapping to a
LOINC code outside the SARS-CoV-2 lists also says "this is not a SARS-CoV-2 test". LOINC codes
are checked (form and check digit). Looking a result up costs a few dictionary reads.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prostop_plugin.errors import ConfigError
from prostop_plugin.models import CodeSystem, Coding, normalise_system

ANY_SENDER = ""
_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_COLUMNS = {
    "sender": "sender", "emetteur": "sender", "expediteur": "sender", "laboratoire": "sender",
    "lab": "sender", "code": "code", "code local": "code", "local code": "code",
    "loinc": "loinc", "code loinc": "loinc", "system": "system", "systeme": "system",
    "label": "label", "libelle": "label", "comment": "label", "commentaire": "label",
}
_MAX_FILE_BYTES = 5_000_000


def loinc_problem(value: str) -> str | None:
    """Why ``value`` is not a LOINC code (form ``NNNNN-D``, D its mod-10 check digit)."""
    match = _LOINC.match(value.strip())
    if match is None:
        return f"{value!r} is not a LOINC code (digits, a hyphen and a check digit: 94309-2)"
    total = 0
    for index, char in enumerate(reversed(match[1])):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    expected = (10 - total % 10) % 10
    if expected != int(match[2]):
        return f"{value!r} is not a LOINC code: its check digit should be {expected}"
    return None


def sender_key(sender: str | None) -> str:
    """Senders compare without case and surrounding or repeated spaces; ``*`` is any."""
    key = " ".join((sender or "").split()).upper()
    return ANY_SENDER if key == "*" else key


def code_key(key: str) -> str:
    """``CODE`` or ``SYSTEM:CODE``, the system in its canonical spelling, upper case."""
    system, sep, code = key.strip().rpartition(":")
    return f"{normalise_system(system)}:{code.strip()}".upper() if sep else key.strip().upper()


@dataclass(frozen=True)
class LocalCodeMap:
    """(sender, code key) → LOINC; ``ANY_SENDER`` holds the codes of every sender."""

    entries: Mapping[tuple[str, str], str]

    def lookup(self, sender: str | None, coding: Coding) -> str | None:
        """The LOINC code the admin mapped this coding to, for this sender or any sender."""
        if not self.entries or coding.system == CodeSystem.LOINC:
            return None
        keys = (f"{coding.system}:{coding.code}".upper(), coding.code.upper())
        for who in (sender_key(sender), ANY_SENDER):
            for key in keys:
                if (loinc := self.entries.get((who, key))) is not None:
                    return loinc
        return None

    def __len__(self) -> int:
        return len(self.entries)


def _add(entries: dict[tuple[str, str], tuple[str, str]], sender: str, code: str, loinc: str,
         origin: str) -> None:
    where = origin
    if not code.rpartition(":")[2].strip():
        raise ConfigError("a local code is empty", where=where,
                          fix="write the laboratory's code, e.g. COVPCR")
    if (problem := loinc_problem(loinc)) is not None:
        raise ConfigError(problem, where=where,
                          fix="copy the LOINC code from the laboratory's catalogue or loinc.org")
    key = (sender_key(sender), code_key(code))
    previous = entries.get(key)
    if previous is not None and previous[0] != loinc.strip():
        raise ConfigError(
            f"the code {code.strip()!r} is mapped to {previous[0]} ({previous[1]}) and to "
            f"{loinc.strip()}", where=where, fix="keep one LOINC code per sender and code")
    entries[key] = (loinc.strip(), origin)


def build_map(settings: Mapping[str, str | Mapping[str, str]],
              file: Path | None) -> LocalCodeMap:
    """Merge ``[eligibility.local_codes]`` and the CSV file; :class:`ConfigError` naming the
    key or the line on anything wrong."""
    entries: dict[tuple[str, str], tuple[str, str]] = {}
    for key, value in settings.items():
        if isinstance(value, str):
            _add(entries, ANY_SENDER, key, value, f"[eligibility.local_codes] {key!r}")
            continue
        if not key.strip():
            raise ConfigError("a sender's table has no name", where="[eligibility.local_codes]",
                              fix="name the sender as 'prostop codes unknown' shows it")
        for code, loinc in value.items():
            _add(entries, key, code, loinc, f"[eligibility.local_codes.{key}] {code!r}")
    if file is not None:
        for line, sender, code, loinc in read_csv(file):
            _add(entries, sender, code, loinc, f"{file}, line {line}")
    return LocalCodeMap({key: loinc for key, (loinc, _) in entries.items()})


def _column(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.strip().lower().replace("_", " "))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def read_csv(path: Path) -> list[tuple[int, str, str, str]]:
    """(line, sender, code, LOINC) rows of the admin's CSV file; ``system`` joins the code as
    ``SYSTEM:CODE``. :class:`ConfigError` when the file cannot be used."""
    fix = ("a CSV file with a header line: sender;code;loinc (optional: system, label), "
           "see docs/local_codes.md")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"the local-code file cannot be read: {exc.strerror}",
                          where=str(path), fix="check eligibility.local_codes_file") from None
    if len(data) > _MAX_FILE_BYTES:
        raise ConfigError(f"the local-code file is over {_MAX_FILE_BYTES} bytes", where=str(path),
                          fix="it maps laboratory codes: a few hundred lines at most")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # what Excel writes on French Windows
    lines = text.splitlines()
    header_at = next((i for i, line in enumerate(lines)
                      if line.strip() and not line.lstrip().startswith("#")), None)
    if header_at is None:
        raise ConfigError("the local-code file is empty", where=str(path), fix=fix)
    header = lines[header_at]
    delimiter = max((";", ",", "\t"), key=header.count)
    reader = csv.reader(io.StringIO("\n".join(lines[header_at:])), delimiter=delimiter)
    names = [_column(n) for n in next(reader)]
    unknown = [n for n in names if n not in _COLUMNS]
    columns = [_COLUMNS.get(n) for n in names]
    missing = [c for c in ("code", "loinc") if c not in columns]
    if unknown or missing or len(set(columns)) != len(columns):
        what = (f"unknown column(s) {', '.join(repr(n) for n in unknown)}" if unknown else
                f"no column {' nor '.join(missing)}" if missing else "a column appears twice")
        raise ConfigError(f"header line: {what}", where=f"{path}, line {header_at + 1}", fix=fix)
    rows: list[tuple[int, str, str, str]] = []
    for row in reader:
        offset = header_at + reader.line_num
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if len(row) > len(columns):
            raise ConfigError(f"{len(row)} cells for {len(columns)} columns",
                              where=f"{path}, line {offset}",
                              fix=f"separate the cells with {delimiter!r}, as the header does")
        cells = dict(zip(columns, [*row, *[""] * len(columns)], strict=False))
        code = cells.get("code", "").strip()
        if system := cells.get("system", "").strip():
            code = f"{system}:{code}"
        rows.append((offset, cells.get("sender", ""), code, cells.get("loinc", "")))
    return rows
