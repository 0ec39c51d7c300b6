"""``prostop audit verify`` and ``export``: the signed, hash-chained audit log."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prostop_plugin.cli.common import settings_from


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


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the signed, hash-chained audit log")
    asub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = asub.add_parser("verify", help="exit 0 when intact, 1 naming the first broken entry")
    p.set_defaults(func=cmd_audit_verify)
    p = asub.add_parser("export", help="write the entries as JSON lines")
    p.add_argument("--output", "-o", type=Path)
    p.set_defaults(func=cmd_audit_export)
