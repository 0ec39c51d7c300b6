"""The ``prostop`` command (argparse: no extra dependency).

Each command group lives in its own module and registers its own parser, as tox's
``session/cmd/*.py`` do; this module only assembles them and turns errors into exit codes.
Library modules never import argparse.

Exit codes: 0 done; 1 an operation failed (service down, refused decision…); 2 unusable input
or configuration. Errors are one line on stderr — what, where, how to fix — never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from prostop_plugin.cli import (
    audit,
    check,
    codes,
    hl7,
    pending,
    records,
    service,
    setup,
    simulator,
    stats,
)
from prostop_plugin.cli.common import Handler
from prostop_plugin.errors import ConfigError, ConfirmationRefused, InputError, ProstopError
from prostop_plugin.version import __version__

__all__ = ["build_parser", "main"]

#: the command groups, in the order ``prostop --help`` lists them
COMMAND_GROUPS = (check, pending, records, stats, audit, setup, service, simulator, hl7, codes)


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
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


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
    except BrokenPipeError:
        # the reader went away (`prostop status | head`): stop quietly, as other tools do;
        # stdout now points at /dev/null so that the interpreter's last flush cannot fail
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
