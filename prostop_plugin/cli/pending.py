"""``prostop pending``: the confirmation queue for hosts without a UI."""

from __future__ import annotations

import argparse
from typing import Any

from prostop_plugin.cli.common import (
    open_runtime,
    parse_date,
    print_json,
    record_row,
    resolve_id,
    row_line,
)
from prostop_plugin.texts import get_texts


def cmd_pending_list(args: argparse.Namespace) -> int:
    with open_runtime(args) as prostop:
        requests = prostop.engine.pending()
        if args.json:
            print_json([r.model_dump(mode="json") for r in requests])
            return 0
        texts = get_texts(prostop.settings.locale)
        if not requests:
            print(texts.text("cli.no_pending"))
        for request in requests:
            shown = texts.confirmation(request)
            print(f"{request.issuance_id}  {shown.lead}")
            for line in [*shown.reasons, shown.patient_date]:
                print(f"    - {line}")
            if request.decision.requires_qr_attestation:
                print(f"    ! {texts.text('cli.attest_qr')}")
            if request.decision.requires_rtpcr_attestation:
                print(f"    ! {texts.text('cli.attest_rtpcr')}")
            for previous in shown.previous_codes:
                print(f"    {shown.previous_heading} {previous}")
    return 0


def cmd_pending_approve(args: argparse.Namespace) -> int:
    from prostop_plugin.models import ConfirmationDecision, Practitioner

    decision = ConfirmationDecision(
        approved=True,
        practitioner=Practitioner(national_id=args.practitioner, profession_code=args.profession),
        qr_unavailable_attested=args.attest_qr_unavailable,
        rtpcr_positive_attested=args.attest_rtpcr_positive,
        symptom_onset=args.symptom_onset,
    )
    with open_runtime(args) as prostop:
        texts = get_texts(prostop.settings.locale)
        issuance_id = resolve_id(prostop, args.id)
        waiting = prostop.ledger.get(issuance_id)
        if waiting.binding_message:  # the digits the e-CPS app will show: said before the wait
            print(texts.text("cli.approve_wait", binding=waiting.binding_message), flush=True)
        record = prostop.engine.decide(issuance_id, decision)
        if record.state.holds_code:
            # the physician at this terminal gives the code to the patient: shown here, once
            with_code = prostop.ledger.get(record.id, with_code=True)
            assert with_code.code is not None and with_code.valid_until is not None
            print(texts.text("cli.code", code=with_code.code.get_secret_value().upper(),
                             valid_until=with_code.valid_until))
        else:
            print(texts.text("cli.no_code", status=texts.status(record)))
        print(row_line(record_row(record)))
        return 0 if record.state.holds_code else 1


def cmd_pending_decline(args: argparse.Namespace) -> int:
    from prostop_plugin.models import ConfirmationDecision, Practitioner

    decision = ConfirmationDecision(
        approved=False,
        practitioner=Practitioner(national_id=args.practitioner),
        decline_reason=args.reason,
    )
    with open_runtime(args) as prostop:
        record = prostop.engine.decide(resolve_id(prostop, args.id), decision)
        print(row_line(record_row(record)))
    return 0


def register(sub: Any) -> None:
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
    p.add_argument("--symptom-onset", type=parse_date, metavar="DATE",
                   help="symptom onset date the patient will give (YYYY-MM-DD)")
    p.set_defaults(func=cmd_pending_approve)
    p = psub.add_parser("decline", help="decline a request, with a reason")
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    p.add_argument("--practitioner", required=True, metavar="RPPS")
    p.set_defaults(func=cmd_pending_decline)
