"""``prostop hl7 send``: send a file's messages over MLLP and print each ACK."""

from __future__ import annotations

import argparse
import ssl
import sys
from pathlib import Path
from typing import Any

from prostop_plugin.errors import HL7ParseError, InputError
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.reader import split_messages
from prostop_plugin.hl7.send import DEFAULT_TIMEOUT, MLLPClient, MLLPSendError, parse_address


def register(subparsers: Any) -> None:
    """Add ``prostop hl7 send`` to the command line."""
    hl7 = subparsers.add_parser("hl7", help="HL7 v2 tools for interface administrators")
    sub = hl7.add_subparsers(dest="hl7_command", metavar="ACTION", required=True)
    p = sub.add_parser("send", help="send a file's messages over MLLP and print each ACK",
                       description="Send each message of FILE (one message, several, a batch, "
                       "or an MLLP capture) on one connection, waiting for each ACK.")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--to", required=True, metavar="HOST:PORT", help="the MLLP listener")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"seconds to connect, and to wait for each ACK "
                   f"(default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--tls", action="store_true", help="connect with TLS (certificate verified)")
    p.add_argument("--ca-file", type=Path, metavar="PEM",
                   help="CA certificates to verify the peer with (default: the system's)")
    p.set_defaults(func=run)


def _fail(message: str, code: int) -> int:
    print(f"prostop: {message}", file=sys.stderr)
    return code


def _control_id(data: bytes) -> str | None:
    """MSH-10, read from the MSH line alone when the rest does not parse (the message is sent
    as it is: the peer's AE is what the admin wants to see)."""
    first_line = data.replace(b"\n", b"\r").split(b"\r", 1)[0]
    try:
        return parse(first_line).control_id.strip() or None
    except HL7ParseError:
        return None


def run(args: argparse.Namespace) -> int:
    """Send every message of ``args.file`` to ``args.to``; print one line per ACK."""
    try:
        host, port = parse_address(args.to)
    except ValueError as exc:
        return _fail(f"--to: {exc}", 2)
    timeout = float(args.timeout)
    if not timeout > 0:
        return _fail("--timeout must be a positive number of seconds", 2)
    try:
        data = Path(args.file).read_bytes()
        messages = split_messages(data)
    except OSError as exc:
        return _fail(f"{args.file}: cannot read: {exc.strerror or exc}", 2)
    except HL7ParseError as exc:
        return _fail(f"{args.file}: {exc.one_line()}", 2)
    context: ssl.SSLContext | None = None
    ca_file = getattr(args, "ca_file", None)
    if getattr(args, "tls", False) or ca_file is not None:
        try:
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            return _fail(f"--ca-file {ca_file}: {exc}", 2)
    accepted = 0
    total = len(messages)
    with MLLPClient(host, port, connect_timeout=timeout, ssl_context=context) as client:
        for raw in messages:
            control_id = _control_id(raw.data)
            label = f"{raw.number}/{total} {control_id or '(no MSH-10)'}"
            try:
                reply = client.exchange(raw.data, control_id, timeout)
            except InputError as exc:
                return _fail(f"{args.file}, message {raw.number}: {exc.one_line()}", 2)
            except MLLPSendError as exc:
                print(f"{label} → no ACK: {exc.one_line()}")
                return 1
            line = f"{label} → {reply.code or '(empty MSA-1)'} (MSA-2 {reply.control_id or '-'})"
            print(line + (f": {reply.text}" if reply.text else ""))
            accepted += reply.accepted
    if accepted < total:
        print(f"{total - accepted} of {total} messages not accepted", file=sys.stderr)
        return 1
    return 0
