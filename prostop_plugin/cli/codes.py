"""``prostop codes unknown``: the laboratory codes to map, so that no decision rests on words.

A result coded with a laboratory's own code is recognised from its label when nothing else
says what it is (``reconnu d'après le libellé``). The codes behind those results — and those
whose words name SARS-CoV-2 without saying the technique, which cannot count at all — are
counted per sender as results arrive (``<data_dir>/codes_seen.sqlite3``), or read from files
given on the command line. This command lists the ones the local-code map does not map yet,
with a ``prostop.toml`` block to check against the laboratory's catalogue and paste.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prostop_plugin.cli.common import print_json, settings_from
from prostop_plugin.codewatch import SeenCodes, SeenRow
from prostop_plugin.eligibility import EligibilityPolicy
from prostop_plugin.eligibility.labels import names_the_virus
from prostop_plugin.eligibility.local_codes import sender_key
from prostop_plugin.eligibility.observations import CodeSeen, codes_seen
from prostop_plugin.models import CodeSystem, Coding, Locale
from prostop_plugin.texts.formatting import format_date

#: what the words were read as, for the admin (fr, en), and the LOINC code to suggest
_CATEGORIES: dict[str, tuple[str, str, str | None]] = {
    "naat": ("RT-PCR / amplification génique", "RT-PCR / nucleic acid amplification", "94309-2"),
    "antigen": ("test antigénique", "antigen test", "94558-4"),
    "serology": ("sérologie", "serology", "94762-2"),
    "ct_value": ("valeur de Ct", "Ct value", "94745-7"),
    "unspecified": ("SARS-CoV-2, technique non reconnue", "SARS-CoV-2, technique not recognised",
                    None),
}
_TEXTS: dict[str, tuple[str, str]] = {
    "none": ("Aucun code local à associer : aucun résultat n'a été lu d'après son libellé.",
             "No local code to map: no result was read from its label."),
    "head": ("{n} code(s) local(aux) lu(s) d'après leur libellé, à associer à un code LOINC :",
             "{n} local code(s) read from their label, to map to a LOINC code:"),
    "results": ("{n} résultat(s), du {first} au {last}", "{n} result(s), {first} to {last}"),
    "in_files": ("{n} résultat(s) dans les fichiers", "{n} result(s) in the files"),
    "label": ("libellé", "label"), "read_as": ("lu comme", "read as"),
    "any_sender": ("(émetteur non précisé)", "(sender not named)"),
    "paste": ("Vérifiez chaque code dans le catalogue du laboratoire, puis ajoutez dans "
              "prostop.toml :", "Check each code in the laboratory's catalogue, then add to "
              "prostop.toml:"),
    "check": ("à vérifier", "to check"),
    "generic": ("libellé générique : seulement si ce code ne sert qu'à cette analyse",
                "generic label: only if this code serves this test alone"),
    "loinc_list": ("à ajouter à la liste eligibility.{category}_loinc s'il convient",
                   "add it to the list eligibility.{category}_loinc if it fits"),
    "fill": ("technique à lire dans le catalogue", "technique to read in the catalogue"),
}


def _text(key: str, locale: Locale, **values: object) -> str:
    fr, en = _TEXTS[key]
    return (fr if locale == "fr" else en).format(**values)


def _from_files(files: Iterable[str], policy: EligibilityPolicy) -> list[SeenRow | CodeSeen]:
    from prostop_plugin.readers import read_file

    return [seen for name in files for event in read_file(Path(name))
            for seen in codes_seen(event.evidence, policy)]


def _grouped(items: list[SeenRow | CodeSeen]) -> list[dict[str, Any]]:
    """One row per sender, code and category; counts added, the latest label kept."""
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for item in items:
        key = (item.sender, item.system, item.code, item.category)
        row = rows.setdefault(key, {
            "sender": item.sender, "system": item.system, "code": item.code,
            "category": item.category, "label": item.label, "results": 0,
            "first_seen": None, "last_seen": None,
        })
        row["label"] = item.label
        if isinstance(item, SeenRow):
            row["results"] += item.results
            row["first_seen"], row["last_seen"] = item.first_seen, item.last_seen
        else:
            row["results"] += 1
    return sorted(rows.values(), key=lambda r: (r["sender"], r["code"], r["category"]))


def _unmapped(rows: list[dict[str, Any]], policy: EligibilityPolicy,
              sender: str | None) -> list[dict[str, Any]]:
    """The rows the admin still has to map (a code mapped since it was counted is done)."""
    mapping = policy.local_code_map()
    wanted = sender_key(sender) if sender else None
    return [row for row in rows
            if (wanted is None or sender_key(row["sender"]) == wanted)
            and (row["system"] == CodeSystem.LOINC or mapping.lookup(
                row["sender"], Coding(code=row["code"], system=row["system"])) is None)]


def _toml_block(rows: list[dict[str, Any]], locale: Locale) -> list[str]:
    lines: list[str] = []
    for sender in dict.fromkeys(row["sender"] for row in rows):
        lines.append("")
        lines.append(f"[eligibility.local_codes.{json.dumps(sender, ensure_ascii=False)}]"
                     if sender else "[eligibility.local_codes]")
        for row in (r for r in rows if r["sender"] == sender):
            fr, en, loinc = _CATEGORIES[row["category"]]
            what = fr if locale == "fr" else en
            key = row["code"] if row["system"] == CodeSystem.LOCAL \
                else f"{row['system']}:{row['code']}"
            if row["system"] == CodeSystem.LOINC:  # a LOINC code the lists do not hold
                lines.append(f"# LOINC {row['code']} ({what}) : "
                             + _text("loinc_list", locale, category=row["category"]))
            elif not names_the_virus(row["label"]):  # "Résultat": its order said the rest
                lines.append(f"# {json.dumps(key, ensure_ascii=False)} = \"{loinc or '?????-?'}\""
                             f"  # {_text('generic', locale)}")
            elif loinc is None:
                lines.append(f"# {json.dumps(key, ensure_ascii=False)} = \"?????-?\"  # "
                             f"{what} : {_text('fill', locale)}")
            else:
                lines.append(f"{json.dumps(key, ensure_ascii=False)} = \"{loinc}\"  # {what}, "
                             f"{_text('check', locale)}")
    return lines


def _print(rows: list[dict[str, Any]], policy: EligibilityPolicy, locale: Locale) -> None:
    if not rows:
        print(_text("none", locale))
        return
    print(_text("head", locale, n=len(rows)))
    sender: str | None = None
    for row in rows:
        if row["sender"] != sender:
            sender = row["sender"]
            print(f"\n{sender or _text('any_sender', locale)}")
        fr, en, _ = _CATEGORIES[row["category"]]
        if row["first_seen"] is not None:
            counts = _text("results", locale, n=row["results"],
                           first=format_date(row["first_seen"], locale),
                           last=format_date(row["last_seen"], locale))
        else:
            counts = _text("in_files", locale, n=row["results"])
        print(f"  {row['code']} ({row['system']}) — {counts}")
        label = f"« {row['label']} »" if locale == "fr" else f"“{row['label']}”"
        print(f"      {_text('label', locale)} : {label}" if locale == "fr"
              else f"      {_text('label', locale)}: {label}")
        print(f"      {_text('read_as', locale)} : {fr}" if locale == "fr"
              else f"      {_text('read_as', locale)}: {en}")
        if not names_the_virus(row["label"]):
            print(f"      {_text('generic', locale)}")
    print()
    print(_text("paste", locale))
    for line in _toml_block(rows, locale):
        print(line)


def cmd_unknown(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    policy = settings.eligibility
    locale: Locale = args.lang or settings.locale
    items: list[SeenRow | CodeSeen] = list(_from_files(args.files, policy)) if args.files \
        else list(SeenCodes(settings.data_dir).rows())
    rows = _unmapped(_grouped(items), policy, args.sender)
    if args.json:
        print_json(rows)
    else:
        _print(rows, policy, locale)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("codes", help="laboratory codes: which ones to map to LOINC")
    codes = p.add_subparsers(dest="codes_command", metavar="ACTION", required=True)
    q = codes.add_parser(
        "unknown", help="local codes of results read from their label (SARS-CoV-2 named in "
        "words), per sender, not yet in [eligibility.local_codes]")
    q.add_argument("files", nargs="*", metavar="FILE",
                   help="read these files instead of the codes counted as results arrived")
    q.add_argument("--sender", help="only this sender (as shown)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.add_argument("--lang", choices=["fr", "en"], help="language of the listing")
    q.set_defaults(func=cmd_unknown)
