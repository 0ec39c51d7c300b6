"""``prostop service-unit``: a hardened systemd unit running ``prostop serve``.

The unit runs as a dedicated system user, with the file system read-only except the folders
the service writes to (``data_dir``, the built-in write-back folder, and what the allowed
adapters declare through ``prostop_writable_paths``), no new privileges, no devices, no kernel
tunables, and a restart on failure. It is computed from the configuration alone: nothing is
opened or created (no keys, no ledger), so an admin may run it as root without side effects.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from prostop_plugin.config import Settings
from prostop_plugin.plugins import (
    HookFacade,
    load_entry_point_plugins,
    load_module_plugins,
    new_plugin_manager,
)

__all__ = ["UnitOptions", "systemd_unit", "writable_paths"]

HOMES = ("/home", "/root", "/run/user")


def writable_paths(settings: Settings) -> list[Path]:
    """``data_dir``, ``write_back.folder``, and the allowed adapters' folders, once each."""
    pm = new_plugin_manager()
    load_module_plugins(pm, settings.plugins)
    load_entry_point_plugins(pm, settings.adapters)
    found = [settings.data_dir]
    if settings.write_back.folder is not None:
        found.append(settings.write_back.folder)
    found += HookFacade(pm).writable_paths(settings)
    return list(dict.fromkeys(path.absolute() for path in found))


def default_command() -> str:
    """The ``prostop`` of this environment (its virtualenv), absolute."""
    script = Path(sys.executable).parent / "prostop"
    if script.is_file():
        return str(script)
    return f"{sys.executable} -m prostop_plugin.cli"


@dataclass(frozen=True)
class UnitOptions:
    config: Path
    user: str = "prostop"
    group: str | None = None
    command: str = ""
    stop_timeout: int = 60


def _quoted(path: Path | str) -> str:
    text = str(path)
    return f'"{text}"' if any(c in text for c in ' "\\') else text


def systemd_unit(settings: Settings, options: UnitOptions) -> str:
    command = options.command or default_command()
    group = options.group or options.user
    paths = writable_paths(settings)
    under_home = any(str(p).startswith(HOMES) for p in [*paths, options.config,
                                                          Path(command.split()[0])])
    writable = "\n".join(f"ReadWritePaths=-{_quoted(p)}" for p in paths)
    data_dir = settings.data_dir.absolute()
    return f"""\
# prostop-plugin: 'prostop serve' as a systemd service (written by 'prostop service-unit').
#
# Install:
#   sudo useradd --system --home-dir {_quoted(data_dir)} --shell /usr/sbin/nologin {options.user}
#   sudo chown -R {options.user}:{group} {_quoted(data_dir)}    # ledger, audit log, keys (0600)
#   sudo -u {options.user} {command} --config {_quoted(options.config)} doctor
#   prostop service-unit --config … | sudo tee /etc/systemd/system/prostop.service
#   sudo systemctl daemon-reload && sudo systemctl enable --now prostop
#   journalctl -u prostop -f
#
# The file system is read-only for the service except the ReadWritePaths below: add one for
# any other folder an adapter writes to. A '-' before a path: started even if it is missing
# (then 'prostop doctor' says what to create).

[Unit]
Description=prostop-plugin: StopCovid declaration codes (prostop serve)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={options.user}
Group={group}
ExecStart={command} --config {_quoted(options.config)} serve
WorkingDirectory={_quoted(options.config.parent)}
Environment=PYTHONUNBUFFERED=1
Restart=on-failure
RestartSec=5s
KillSignal=SIGTERM
TimeoutStopSec={options.stop_timeout}
UMask=0077

NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
{writable}
ProtectHome={"read-only" if under_home else "yes"}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged

[Install]
WantedBy=multi-user.target
"""
