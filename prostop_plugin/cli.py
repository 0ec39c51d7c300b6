"""The ``prostop`` command (argparse: no extra dependency, subcommands in one place).

Exit codes: 0 done; 1 an operation failed (service down, refused decision…); 2 unusable input
or configuration. Errors are one line on stderr — what, where, how to fix — never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from prostop_plugin import __version__
from prostop_plugin.config import Settings, load_settings
from prostop_plugin.errors import ConfigError, ConfirmationRefused, InputError, ProstopError

Handler = Callable[[argparse.Namespace], int]


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a date: expected YYYY-MM-DD, e.g. 2020-11-20"
        ) from None


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


# -- check ---------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from prostop_plugin import eligibility
    from prostop_plugin.readers import read_file
    from prostop_plugin.texts import get_texts

    settings = settings_from(args)
    evidence: list[Any] = []
    for name in args.files:
        for event in read_file(Path(name)):
            evidence.extend(event.evidence)
    decision = eligibility.evaluate(evidence, settings.eligibility, args.as_of or settings.as_of)
    if args.json:
        _print_json({
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
    _print_json(schema)
    return 0


# -- the flow ------------------------------------------------------------------------------------


def _open(args: argparse.Namespace) -> Any:
    from prostop_plugin.app import Prostop

    return Prostop.open(settings_from(args))


def cmd_submit(args: argparse.Namespace) -> int:
    """Feed files into the flow, as an adapter would (JSON events, HL7, HPRIM, CDA)."""
    from prostop_plugin.readers import read_file

    events = [e for name in args.files for e in read_file(Path(name), adapter=args.adapter)]
    with _open(args) as prostop:
        results = [prostop.hooks.diagnosis_recorded(e) for e in events]
    _print_rows([_record_row(r) for r in results if r is not None], as_json=args.json)
    return 0


def _record_row(record: Any) -> dict[str, Any]:
    decision = record.decision
    return {
        "id": record.id,
        "state": record.state.value,
        "decision": decision.decision if decision else None,
        "patient": record.event.patient.display_name(),
        "binding_message": record.binding_message,
        "code_last2": record.code_last2,
        "valid_until": record.valid_until,
        "error": record.error.model_dump() if record.error else None,
        "flag": record.flag.model_dump() if record.flag else None,
        "replaces": record.replaces,
    }


def _row_line(row: dict[str, Any]) -> str:
    parts = [row["id"], row["state"]]
    if row["decision"]:
        parts.append(row["decision"])
    parts.append(row["patient"])
    if row["code_last2"]:
        parts.append(f"code …{row['code_last2']} until {row['valid_until']}")
    if row["error"]:
        parts.append(f"! {row['error']['en']}")
    if row["flag"]:
        parts.append(f"⚑ {row['flag']['en']}")
    return "  ".join(str(p) for p in parts)


def _print_rows(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        _print_json(rows)
    else:
        for row in rows:
            print(_row_line(row))


def cmd_pending_list(args: argparse.Namespace) -> int:
    with _open(args) as prostop:
        requests = prostop.engine.pending()
        if args.json:
            _print_json([r.model_dump(mode="json") for r in requests])
            return 0
        if not requests:
            print("no confirmation waiting")
        for request in requests:
            d = request.decision
            attest = " [QR attestation required]" if d.requires_qr_attestation else ""
            rtpcr = " [RT-PCR attestation required]" if d.requires_rtpcr_attestation else ""
            print(f"{request.issuance_id}  {d.decision}  {request.patient.display_name()}"
                  f"  date: {d.reference_date} ({d.reference_date_kind}){attest}{rtpcr}")
            for reason in d.reasons:
                print(f"    - {reason.en}")
            for previous in request.previous_issuances:
                print(f"    earlier: {previous.state.value} {previous.issued_at} "
                      f"…{previous.code_last2}")
    return 0


def _resolve_id(prostop: Any, raw: str) -> str:
    return str(prostop.ledger.find_by_prefix(raw))


def cmd_pending_approve(args: argparse.Namespace) -> int:
    from prostop_plugin.models import ConfirmationDecision, Practitioner

    decision = ConfirmationDecision(
        approved=True,
        practitioner=Practitioner(national_id=args.practitioner, profession_code=args.profession),
        qr_unavailable_attested=args.attest_qr_unavailable,
        rtpcr_positive_attested=args.attest_rtpcr_positive,
        symptom_onset=args.symptom_onset,
    )
    with _open(args) as prostop:
        record = prostop.engine.decide(_resolve_id(prostop, args.id), decision)
        print(_row_line(_record_row(record)))
        return 0 if record.state.value in ("issued", "written_back", "write_back_failed") else 1


def cmd_pending_decline(args: argparse.Namespace) -> int:
    from prostop_plugin.models import ConfirmationDecision, Practitioner

    decision = ConfirmationDecision(
        approved=False,
        practitioner=Practitioner(national_id=args.practitioner),
        decline_reason=args.reason,
    )
    with _open(args) as prostop:
        record = prostop.engine.decide(_resolve_id(prostop, args.id), decision)
        print(_row_line(_record_row(record)))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with _open(args) as prostop:
        if args.id:
            record = prostop.ledger.get(_resolve_id(prostop, args.id))
            row = _record_row(record)
            row["transitions"] = prostop.ledger.transitions(record.id)
            row["outbox"] = prostop.ledger.outbox_entry(record.id)
            if args.json:
                _print_json(row)
            else:
                print(_row_line(row))
                for before, after, actor in row["transitions"]:
                    print(f"    {before or '-'} -> {after}  by {actor}")
            return 0
        rows = [_record_row(prostop.ledger.get(s.id)) for s in prostop.ledger.summaries()]
        _print_rows(rows, as_json=args.json)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    with _open(args) as prostop:
        record = prostop.engine.retry(_resolve_id(prostop, args.id))
        print(_row_line(_record_row(record)))
    return 0


def cmd_reissue(args: argparse.Namespace) -> int:
    with _open(args) as prostop:
        record = prostop.engine.reissue(_resolve_id(prostop, args.id))
        print(_row_line(_record_row(record)))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Advance every unfinished issuance once (after a crash or from cron)."""
    with _open(args) as prostop:
        for record in prostop.engine.resume():
            print(_row_line(_record_row(record)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the allowed adapters' services (MLLP listener, inbox watcher…) and the worker."""
    import threading

    from prostop_plugin.serve import install_stop_signals, serve

    stop = threading.Event()
    install_stop_signals(stop)
    with _open(args) as prostop:
        serve(prostop, stop, tick=args.tick)
    return 0


# -- audit ---------------------------------------------------------------------------------------


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from prostop_plugin.audit import AuditLog
    from prostop_plugin.keys import KeyRing

    settings = settings_from(args)
    log = AuditLog(settings.audit_path, KeyRing.open(settings.key_dir, create=False))
    result = log.verify()
    if result.ok:
        print(f"audit log intact: {result.entries_checked} entries ({settings.audit_path})")
        return 0
    where = f" at entry {result.first_broken}" if result.first_broken is not None else ""
    print(f"audit log BROKEN{where}: {result.problem}", file=sys.stderr)
    return 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    from prostop_plugin.audit import AuditLog
    from prostop_plugin.keys import KeyRing

    settings = settings_from(args)
    log = AuditLog(settings.audit_path, KeyRing.open(settings.key_dir, create=False))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            count = log.export(out)
        print(f"{count} entries written to {args.output}")
    else:
        log.export(sys.stdout)
    return 0


# -- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prostop",
        description="StopCovid declaration codes from inside the physician's software.",
    )
    parser.add_argument("--version", action="version", version=f"prostop-plugin {__version__}")
    parser.add_argument("--config", type=Path, help="prostop.toml (default: $PROSTOP_CONFIG, "
                        "then ./prostop.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("check", help="evaluate files as one patient's evidence (no side effect)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--as-of", type=_date, help="evaluate as of this date (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--lang", choices=["fr", "en"], help="language of the reasons")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("schema", help="print the JSON Schema of the plugin's event format")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("submit", help="feed files into the flow as an adapter would")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--adapter", default="cli", help="source adapter name recorded (default cli)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_submit)

    pending = sub.add_parser("pending", help="the confirmation queue for hosts without a UI")
    psub = pending.add_subparsers(dest="pending_command", metavar="ACTION", required=True)
    p = psub.add_parser("list", help="requests waiting for a physician")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_pending_list)
    p = psub.add_parser("approve", help="approve a request: the code is then issued")
    p.add_argument("id", help="issuance id (a unique prefix is enough)")
    p.add_argument("--practitioner", required=True, metavar="RPPS",
                   help="the approving practitioner's RPPS (11 digits) or national id")
    p.add_argument("--profession", default=None, metavar="CODE",
                   help="profession code when known (10 médecin, 60 infirmier)")
    p.add_argument("--attest-qr-unavailable", action="store_true",
                   help="attest that the SI-DEP QR code is unavailable or not working and will "
                   "not be used by anyone else (mandatory for a confirmed case)")
    p.add_argument("--attest-rtpcr-positive", action="store_true",
                   help="attest a positive RT-PCR when none is on file")
    p.add_argument("--symptom-onset", type=_date, metavar="DATE",
                   help="symptom onset date the patient will give (YYYY-MM-DD)")
    p.set_defaults(func=cmd_pending_approve)
    p = psub.add_parser("decline", help="decline a request, with a reason")
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    p.add_argument("--practitioner", required=True, metavar="RPPS")
    p.set_defaults(func=cmd_pending_decline)

    p = sub.add_parser("status", help="issuances and their states (no code shown)")
    p.add_argument("id", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("retry", help="retry a failed code request or write-back now")
    p.add_argument("id")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("reissue", help="a new code for an expired one (asks for confirmation)")
    p.add_argument("id")
    p.set_defaults(func=cmd_reissue)

    p = sub.add_parser("resume", help="advance every unfinished issuance once")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("serve", help="run the adapters' services and the retry/expiry worker")
    p.add_argument("--tick", type=float, default=5.0, metavar="SECONDS",
                   help="how often the worker retries due write-backs and expires codes")
    p.set_defaults(func=cmd_serve)

    audit = sub.add_parser("audit", help="the signed, hash-chained audit log")
    asub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = asub.add_parser("verify", help="exit 0 when intact, 1 naming the first broken entry")
    p.set_defaults(func=cmd_audit_verify)
    p = asub.add_parser("export", help="write the entries as JSON lines")
    p.add_argument("--output", "-o", type=Path)
    p.set_defaults(func=cmd_audit_export)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list[Callable[[Any], None]]:
    """Subcommands that live beside their feature (setup, simulator, demo)."""
    from prostop_plugin import setup_commands
    from prostop_plugin.hl7.send import register as register_hl7
    from prostop_plugin.simulator.command import register as register_simulator

    return [setup_commands.register, register_simulator, register_hl7]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except ConfirmationRefused as exc:
        print(f"prostop: refused: {exc.fr} ({exc.one_line()})", file=sys.stderr)
        return 1
    except (InputError, ConfigError) as exc:
        print(f"prostop: {exc.one_line()}", file=sys.stderr)
        return 2
    except ProstopError as exc:
        print(f"prostop: {exc.one_line()}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        print(f"prostop: {exc.title} {field}: {first['msg']}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("prostop: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
