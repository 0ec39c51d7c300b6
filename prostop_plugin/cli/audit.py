"""``prostop audit verify`` and ``export``: the signed, hash-chained audit kept in the ledger."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prostop_plugin.cli.common import settings_from


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from prostop_plugin.issuance.trail import open_trail

    settings = settings_from(args)
    trail = open_trail(settings)
    try:
        result = trail.verify()
        backfilled = trail.backfilled() if result.ok else 0
        where = trail.ledger.where
    finally:
        trail.ledger.close()
    if result.ok:
        print(f"audit log intact: {result.entries_checked} entries, every ledger row matching "
              f"its entry ({where})")
        if backfilled:
            print(f"note: {backfilled} entries were written when the ledger was upgraded, for "
                  "steps the earlier audit file did not record (marked 'backfilled')")
        return 0
    at = f" at entry {result.first_broken}" if result.first_broken is not None else ""
    print(f"audit log BROKEN{at}: {result.problem}", file=sys.stderr)
    return 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    from prostop_plugin.issuance.trail import open_trail

    settings = settings_from(args)
    trail = open_trail(settings)
    try:
        if args.output:
            with open(args.output, "w", encoding="utf-8") as out:
                count = trail.export(out)
            print(f"{count} entries written to {args.output}")
        else:
            trail.export(sys.stdout)
    finally:
        trail.ledger.close()
    return 0


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the signed, hash-chained audit log")
    asub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = asub.add_parser("verify", help="exit 0 when intact and matching the ledger, 1 naming "
                        "the first problem")
    p.set_defaults(func=cmd_audit_verify)
    p = asub.add_parser("export", help="write the entries as JSON lines")
    p.add_argument("--output", "-o", type=Path)
    p.set_defaults(func=cmd_audit_export)
