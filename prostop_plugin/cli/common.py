"""What every command shares: settings, the runtime, dates, rows of issuances."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from prostop_plugin.config import Settings, load_settings

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

Handler = Callable[[argparse.Namespace], int]


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a date: expected YYYY-MM-DD, e.g. 2020-11-20"
        ) from None


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def open_runtime(args: argparse.Namespace) -> Prostop:
    from prostop_plugin.app import Prostop  # the runtime loads plugins: only when needed

    return Prostop.open(settings_from(args))


def print_json(payload: Any) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def record_row(record: Any) -> dict[str, Any]:
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
        "written_back_to": [f"{r.adapter}: {r.target}" for r in record.receipts],
    }


def row_line(row: dict[str, Any]) -> str:
    parts = [row["id"], row["state"]]
    if row["decision"]:
        parts.append(row["decision"])
    parts.append(row["patient"])
    if row["code_last2"]:
        parts.append(f"code …{row['code_last2']} until {row['valid_until']}")
    if row.get("written_back_to"):
        parts.append("→ " + "; ".join(row["written_back_to"]))
    if row["error"]:
        parts.append(f"! {row['error']['en']}")
    if row["flag"]:
        parts.append(f"⚑ {row['flag']['en']}")
    if row.get("set_aside"):
        parts.append(f"SET ASIDE (recovery skips it): {row['set_aside']}")
    return "  ".join(str(p) for p in parts)


def print_rows(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        print_json(rows)
    else:
        for row in rows:
            print(row_line(row))


def resolve_id(prostop: Any, raw: str) -> str:
    return str(prostop.ledger.find_by_prefix(raw))

