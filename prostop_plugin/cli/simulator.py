"""``prostop simulator``: serve the simulator in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from prostop_plugin.config import PSC_REALM_PATH, is_loopback
from prostop_plugin.simulator.options import (
    FAULT_DESCRIPTIONS,
    FAULT_SPEC_HELP,
    Approval,
    Fault,
    SimulatorOptions,
    describe_minutes,
    parse_approval,
    parse_code_validity,
    parse_fault,
)

DESCRIPTION = """\
A local stand-in for the ProStopCovid code service and Pro Santé Connect (the real code service
was withdrawn in 2022). It serves, on one loopback port:

  code service   GET  /api/v1/generate/short   (bearer PSC token, acr eidas1)
                 GET  /api/v1/verify?code=…&type=2   (uses the code up, as the app would)
  PSC realm      /auth/realms/esante-wallet/.well-known/wallet-openid-configuration,
                 JWKS, CIBA (…/ext/ciba/auth), token polling, introspection, userinfo
  admin          /_simulator (overview), /_simulator/faults (queue faults),
                 /_simulator/ciba/{auth_req_id}/approve|deny, /_simulator/practitioners/…,
                 /_simulator/code-validity

It knows a few fictional practitioners (printed at start); each approves CIBA requests at once
unless told otherwise (--approval, --approve-after, or the admin endpoints).
"""

EPILOG = "fault kinds:\n" + "\n".join(
    f"  {kind:<17} {text}" for kind, text in FAULT_DESCRIPTIONS.items()
) + f"""

{textwrap.fill("--fault takes " + FAULT_SPEC_HELP + ".", 90)}
Without :COUNT a --fault applies to every matching request. At run time, queue faults with
  curl -X POST http://127.0.0.1:8700/_simulator/faults -d '["503:2", "429=3"]'
or send one with a request: header 'X-Simulator-Fault: reset'.

Point the plugin at it (these are also the defaults):
  PROSTOP_CODE_SERVICE__BASE_URL=http://127.0.0.1:8700
  PROSTOP_PSC__ISSUER=http://127.0.0.1:8700/auth/realms/esante-wallet
"""


def _fault(text: str) -> Fault:
    try:
        return parse_fault(text, default_count=None)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def code_validity_argument(text: str) -> float:
    """``--code-validity 2m`` (also used by ``prostop demo``): minutes."""
    try:
        return parse_code_validity(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _approval(text: str) -> tuple[str, Approval]:
    who, sep, how = text.partition("=")
    if not sep or not who.strip():
        raise argparse.ArgumentTypeError(f"expected RPPS_OR_NATIONAL_ID=MODE, got {text!r}")
    try:
        return who.strip(), parse_approval(how)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``simulator`` subcommand to the ``prostop`` command line."""
    parser = subparsers.add_parser(
        "simulator",
        help="run the local ProStopCovid + Pro Santé Connect simulator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=8700, help="port (default 8700)")
    parser.add_argument(
        "--request-log", type=Path, metavar="FILE",
        help="append every request received to FILE as JSON lines (secrets redacted)",
    )
    parser.add_argument(
        "--fault", type=_fault, action="append", default=[], metavar="SPEC",
        help="inject a fault (repeatable), see below",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS",
        help="add this delay to every request",
    )
    parser.add_argument(
        "--approve-after", type=float, metavar="SECONDS",
        help="every practitioner approves CIBA requests after this delay instead of at once",
    )
    parser.add_argument(
        "--approval", type=_approval, action="append", default=[], metavar="WHO=MODE",
        help="one practitioner's answer: RPPS or national id = now | after:SECONDS | deny | "
        "never (then approve or deny by hand on /_simulator/ciba/…)",
    )
    parser.add_argument(
        "--code-validity", type=code_validity_argument, default=60.0, metavar="DURATION",
        help="how long codes are valid: 60m like the real service (default), or e.g. 2m, 90s "
        "to see a code expire",
    )
    parser.add_argument(
        "--ciba-interval", type=float, default=2.0, metavar="SECONDS",
        help="polling interval the CIBA answer asks for (default 2)",
    )
    parser.add_argument(
        "--token-lifetime", type=int, default=120, metavar="SECONDS",
        help="access token lifetime (default 120, like PSC)",
    )
    parser.add_argument(
        "--signing-algorithm", choices=("RS256", "EdDSA"), default="RS256",
        help="access token signature (default RS256)",
    )
    parser.add_argument(
        "--client-id", default="prostop-plugin", help="the client id PSC accepts"
    )
    parser.add_argument(
        "--client-secret", default="simulator-secret",
        help="the client secret PSC accepts (empty: client id alone, as with mTLS)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=("critical", "error", "warning", "info", "debug")
    )
    parser.set_defaults(func=run)


def options_from(args: argparse.Namespace) -> SimulatorOptions:
    options = SimulatorOptions(
        faults=list(args.fault),
        latency=args.latency,
        request_log=args.request_log,
        client_id=args.client_id,
        client_secret=args.client_secret or None,
        signing_algorithm=args.signing_algorithm,
        token_lifetime=args.token_lifetime,
        ciba_interval=args.ciba_interval,
        code_validity_minutes=args.code_validity,
    )
    if args.approve_after is not None:
        for practitioner in options.practitioners:
            options.approvals[practitioner.national_id] = Approval(
                mode="after", after=args.approve_after
            )
    for who, approval in args.approval:
        bare_rpps = len(who) == 11 and who.isdigit()
        options.approvals["8" + who if bare_rpps else who] = approval
    return options


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM (uvicorn handles both and shuts down cleanly)."""
    if not is_loopback(args.host):
        print(
            f"prostop simulator: refusing to listen on {args.host}: its admin endpoints have no "
            "authentication, so it serves loopback only (127.0.0.1, ::1, localhost)",
            file=sys.stderr,
        )
        return 2
    # the web stack loads only when serving: `prostop --help` and other commands stay quick
    from prostop_plugin.simulator.app import create_app, simulator_state
    from prostop_plugin.simulator.server import ForegroundServer, uvicorn_config

    options = options_from(args)
    app = create_app(options)
    state = simulator_state(app)
    unknown = [who for who in options.approvals if state.practitioner(who) is None]
    if unknown:
        print(f"prostop simulator: unknown practitioner(s) in --approval: {', '.join(unknown)}",
              file=sys.stderr)
        return 2
    base = f"http://{args.host}:{args.port}"
    print(f"prostop simulator listening on {base}")
    print(f"  code service  {base}/api/v1/generate/short")
    print(f"  PSC issuer    {base}{PSC_REALM_PATH}")
    print(f"  admin         {base}/_simulator")
    if options.request_log:
        print(f"  request log   {options.request_log}")
    print("practitioners (national id = 8 + RPPS):")
    for practitioner in options.practitioners:
        print(
            f"  {practitioner.national_id}  {practitioner.display():<18} "
            f"profession {practitioner.profession_code:<3} "
            f"{options.approval_for(practitioner).describe()}"
        )
    print(f"codes valid {describe_minutes(options.code_validity_minutes)}")
    for fault in options.faults:
        print(f"fault: {fault.describe()}")
    print("Ctrl-C to stop.", flush=True)
    server = ForegroundServer(uvicorn_config(app, args.host, args.port, args.log_level))
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):  # a second Ctrl-C; uvicorn exits on a taken port
        pass
    finally:
        state.stopping.set()
    if not server.started:
        print(f"prostop simulator: could not listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    print("prostop simulator stopped.")
    return 0
