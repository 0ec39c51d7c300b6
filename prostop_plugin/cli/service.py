"""``prostop service-unit``: print a hardened systemd unit for ``prostop serve``."""

from __future__ import annotations

import argparse
from typing import Any

from prostop_plugin.cli.common import settings_from
from prostop_plugin.config import find_config_file
from prostop_plugin.errors import ConfigError


def cmd_service_unit(args: argparse.Namespace) -> int:
    from prostop_plugin.service_unit import UnitOptions, systemd_unit

    config = find_config_file(args.config)
    if config is None or not config.is_file():
        raise ConfigError(
            "the service needs the installation's configuration file",
            where=str(config) if config else "--config",
            fix="create it with 'prostop init FOLDER', then give it with --config",
        )
    settings = settings_from(args)
    print(systemd_unit(settings, UnitOptions(config=config.absolute(), user=args.user,
                                             group=args.group)), end="")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("service-unit", help="print a hardened systemd unit running 'prostop "
                       "serve' (dedicated user, read-only system, restart on failure)")
    p.add_argument("--user", default="prostop", help="the system user it runs as (default "
                   "prostop; create it with useradd --system)")
    p.add_argument("--group", help="its group (default: the user's name)")
    p.set_defaults(func=cmd_service_unit)
