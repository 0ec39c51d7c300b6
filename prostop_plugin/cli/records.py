"""``prostop status``, ``retry``, ``reissue``, ``resume`` and ``serve``: the issuances over time."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

from prostop_plugin.cli.common import (
    open_runtime,
    print_json,
    print_rows,
    record_row,
    resolve_id,
    row_line,
)
from prostop_plugin.errors import LedgerError
from prostop_plugin.ledger import IssuanceSummary


def cmd_status(args: argparse.Namespace) -> int:
    with open_runtime(args) as prostop:
        if args.id:
            record = prostop.ledger.get(resolve_id(prostop, args.id))
            row = record_row(record)
            row["transitions"] = prostop.ledger.transitions(record.id)
            row["outbox"] = prostop.ledger.outbox_entry(record.id)
            locale = prostop.settings.locale
            row["reasons"] = [r.get(locale) for r in record.decision.reasons] \
                if record.decision else []
            if args.json:
                print_json(row)
            else:
                print(row_line(row))
                for reason in row["reasons"]:  # why it is (not) eligible, in words
                    print(f"    - {reason}")
                for before, after, actor in row["transitions"]:
                    print(f"    {before or '-'} -> {after}  by {actor}")
            return 0
        rows = [summary_row(prostop, s) for s in prostop.ledger.summaries()]
        print_rows(rows, as_json=args.json)
    return 0


def summary_row(prostop: Prostop, summary: IssuanceSummary) -> dict[str, Any]:
    """A listing row; a row recovery set aside is listed from its columns, with why."""
    try:
        row = record_row(prostop.ledger.get(summary.id))
    except LedgerError as exc:
        row = {
            "id": summary.id, "state": summary.state.value, "decision": None,
            "patient": "(illisible)", "binding_message": None,
            "code_last2": summary.code_last2, "valid_until": summary.valid_until,
            "error": {"fr": exc.one_line(), "en": exc.one_line()}, "flag": None,
            "replaces": None,
        }
    if summary.set_aside:
        row["set_aside"] = summary.set_aside
    return row


def cmd_retry(args: argparse.Namespace) -> int:
    with open_runtime(args) as prostop:
        record = prostop.engine.retry(resolve_id(prostop, args.id))
        print(row_line(record_row(record)))
    return 0


def cmd_reissue(args: argparse.Namespace) -> int:
    with open_runtime(args) as prostop:
        record = prostop.engine.reissue(
            resolve_id(prostop, args.id), unused_attested=args.attest_unused
        )
        print(row_line(record_row(record)))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Advance every unfinished issuance once (after a crash or from cron)."""
    with open_runtime(args) as prostop:
        for record in prostop.engine.resume():
            print(row_line(record_row(record)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the allowed adapters' services (MLLP listener, inbox watcher…) and the worker."""
    import threading

    from prostop_plugin.logformat import apply_log_settings
    from prostop_plugin.runner import install_stop_signals, serve

    stop = threading.Event()
    install_stop_signals(stop)
    with open_runtime(args) as prostop:
        # -v wins; otherwise the installation's 'log_level'; 'log_format' text or json
        apply_log_settings(prostop.settings.log_level, prostop.settings.log_format,
                           verbose=args.verbose)
        serve(prostop, stop, tick=args.tick)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="issuances and their states (no code shown)")
    p.add_argument("id", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("retry", help="retry a failed code request or write-back now")
    p.add_argument("id")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("reissue", help="a new code for an expired one (asks for confirmation)")
    p.add_argument("--attest-unused", action="store_true",
                   help="attest that you checked with the patient that they did not enter the "
                   "expired code in the app (mandatory: otherwise they would declare twice)")
    p.add_argument("id")
    p.set_defaults(func=cmd_reissue)

    p = sub.add_parser("resume", help="advance every unfinished issuance once")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("serve", help="run the adapters' services and the retry/expiry worker")
    p.add_argument("--tick", type=float, default=5.0, metavar="SECONDS",
                   help="how often the worker retries due write-backs and expires codes")
    p.set_defaults(func=cmd_serve)
