"""``prostop check``, ``schema`` and ``submit``: reading files as the adapters do."""

from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path
from typing import Any

from prostop_plugin.cli.common import (
    open_runtime,
    parse_date,
    print_json,
    record_row,
    settings_from,
)
from prostop_plugin.errors import InputError
from prostop_plugin.models import PatientRef


def person_key(patient: PatientRef) -> tuple[object, ...]:
    """Who a file is about: the INS when given, else names without accents and birth date."""
    if patient.ins:
        return ("ins", patient.ins)
    if patient.family_name or patient.given_name:
        def plain(text: str | None) -> str:
            decomposed = unicodedata.normalize("NFKD", text or "")
            return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()

        return ("name", plain(patient.family_name), plain(patient.given_name),
                patient.birth_date)
    return ("host", patient.host_patient_id)


def cmd_check(args: argparse.Namespace) -> int:
    from prostop_plugin import eligibility
    from prostop_plugin.readers import read_file
    from prostop_plugin.texts import get_texts

    settings = settings_from(args)
    evidence: list[Any] = []
    patients: dict[tuple[object, ...], str] = {}
    for name in args.files:
        for event in read_file(Path(name)):
            evidence.extend(event.evidence)
            patients.setdefault(person_key(event.patient), event.patient.display_name())
    if len(patients) > 1:  # one patient's evidence only: never a case made of two people
        raise InputError(
            f"the files are about {len(patients)} different patients "
            f"({', '.join(sorted(patients.values()))})",
            where=", ".join(args.files),
            fix="check one patient's files at a time",
        )
    decision = eligibility.evaluate(evidence, settings.eligibility, args.as_of or settings.as_of)
    if args.json:
        print_json({
            "decision": decision.decision,
            "rule": decision.rule,
            "reasons": [r.model_dump() for r in decision.reasons],
            "evidence": [e.model_dump(mode="json") for e in decision.evidence],
            "reference_date": decision.reference_date,
            "reference_date_kind": decision.reference_date_kind,
            "requires_qr_attestation": decision.requires_qr_attestation,
            "requires_rtpcr_attestation": decision.requires_rtpcr_attestation,
            "as_of": decision.as_of,
        })
        return 0
    locale = args.lang or settings.locale
    texts = get_texts(locale)
    print(f"{texts.decision_label(decision.decision)} ({decision.rule})")
    for reason in decision.reasons:
        print(f"  - {reason.get(locale)}")
    for used in decision.evidence:
        print(f"  • {used.summary.get(locale)}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from prostop_plugin.models import DiagnosisEvent

    schema = DiagnosisEvent.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "prostop-plugin DiagnosisEvent"
    print_json(schema)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """Feed files and folders into the flow, as an adapter would: a progress bar, a summary,
    and Ctrl-C resumes (see :mod:`prostop_plugin.replay`)."""
    from prostop_plugin.cli.replay_view import print_summary, progress_for, summary_json
    from prostop_plugin.replay import replay

    with open_runtime(args) as prostop:
        locale = args.lang or prostop.settings.locale
        summary = replay(prostop, [Path(p) for p in args.files], since=args.since,
                         adapter=args.adapter, progress=None if args.json else progress_for(locale))
        if args.json:
            payload = summary_json(summary)
            payload["issuances"] = [record_row(prostop.ledger.get(i))
                                    for i in summary.issuance_ids]
            print_json(payload)
        else:
            print_summary(summary, locale)
    if args.json or not (sys.stdout.isatty() and sys.stderr.isatty()):  # else: said above
        for item in summary.unreadable:  # errors on stderr too, one line each, for scripts
            print(f"prostop: {item.reason}", file=sys.stderr)
    if summary.interrupted:
        return 130
    return 2 if summary.unreadable else 0


def register(sub: Any) -> None:
    p = sub.add_parser("check", help="evaluate files as one patient's evidence (no side effect)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--as-of", type=parse_date, help="evaluate as of this date (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--lang", choices=["fr", "en"], help="language of the reasons")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("schema", help="print the JSON Schema of the plugin's event format")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser(
        "submit", help="feed files and folders into the flow as an adapter would (a backlog "
        "replay: progress, summary; Ctrl-C, then the same command resumes)")
    p.add_argument("files", nargs="+", metavar="FILE_OR_FOLDER")
    p.add_argument("--since", type=parse_date, metavar="DATE",
                   help="only files modified on or after this date (YYYY-MM-DD, Paris time)")
    p.add_argument("--adapter", default="cli", help="source adapter name recorded (default cli)")
    p.add_argument("--json", action="store_true",
                   help="the summary and the issuances as JSON (no progress bar)")
    p.add_argument("--lang", choices=["fr", "en"], help="language of the summary")
    p.set_defaults(func=cmd_submit)
