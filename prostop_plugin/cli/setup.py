"""``prostop init``, ``prostop doctor`` and ``prostop demo``: installing and checking a setup."""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from prostop_plugin.config import Settings, load_settings
from prostop_plugin.errors import ConfigError, ProstopError
from prostop_plugin.http_client import build_client

CONFIG_TEMPLATE = """\
# prostop-plugin configuration. Every key has a default that works with the local simulator
# (`prostop simulator`); environment variables override keys: PROSTOP_<KEY>, nested with "__"
# (e.g. PROSTOP_CODE_SERVICE__BASE_URL). `prostop doctor` checks this file.

# Language of everything the physician and the patient read: "fr" (default) or "en".
locale = "fr"

# Ledger (SQLite), audit log and key files. Relative to this file. Back it up, keys included:
# data encrypted with lost keys cannot be read.
data_dir = "var"

# This installation's name (shown in audit entries and write-back messages).
host_name = "{host_name}"

# Adapters allowed to load (entry points of group "prostop"): installing a package never
# activates it by itself. E.g. ["hl7v2_mllp", "filedrop"].
adapters = []

# What `prostop serve` logs: "DEBUG", "INFO" (default), "WARNING", "ERROR"; and how: "text"
# (default), or "json" for log shippers (one object a line: time, level, logger, message,
# issuance_id). Log lines name issuances by their id, never the patient.
# log_level = "INFO"
# log_format = "text"

[eligibility]
# The doctrine of the 2020 mission text; change only on medical instruction.
accept_antigen = false        # antigen-only positives do not qualify
contact_window_days = 14      # evidence older than this is too old
episode_window_days = 14      # one code per patient per episode of this length
allowed_professions = ["10", "60"]   # 10 médecin, 60 infirmier
# max_evidence = 10000        # beyond, a patient's record is not judged (too_many_results)
# Laboratories' own test codes → LOINC, per sender (see 'prostop codes unknown' and
# docs/local_codes.md); or a CSV file: local_codes_file = "local_codes.csv"
# [eligibility.local_codes.LABO-EXEMPLE]
# "SCOV2" = "94309-2"

[code_service]
# ProStopCovid code service. The public endpoint was withdrawn in 2022: the default is the
# local simulator. Production: your e-Santé proxy's https URL.
base_url = "http://127.0.0.1:8700"
# client_certificate = "/etc/prostop/client.p12"   # mTLS, PKCS#12
# client_certificate_password = "…"   # or PROSTOP_CODE_SERVICE__CLIENT_CERTIFICATE_PASSWORD

[psc]
# Pro Santé Connect. Sandbox: https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet
issuer = "http://127.0.0.1:8700/auth/realms/esante-wallet"
client_id = "prostop-plugin"
client_secret = "simulator-secret"   # better: PROSTOP_PSC__CLIENT_SECRET
channel = "MOBILE"                  # MOBILE (e-CPS app) or CARD

[write_back]
# A JSON file per issued code, for hosts integrated through JSON events only.
# folder = "outbox"

[console]
# The physician console, served by `prostop serve`: the physician logs in with Pro Santé
# Connect and confirms the requests that came through files or HL7 (docs/console.md).
listen = "127.0.0.1:8710"
# From the practice's network: listen on the server's address WITH a certificate, e.g.
# listen = "0.0.0.0:8710"
# public_url = "https://serveur-cabinet:8710"     # what the browsers type; register
#                                                 # {{public_url}}/connexion/retour with PSC
# tls_cert_file = "/etc/prostop/console.crt"
# tls_key_file = "/etc/prostop/console.key"
# practitioners = ["10003456789"]   # RPPS allowed to log in (empty: any allowed profession)
notice_in_record = true             # a "confirmation en attente" note in the patient record
idle_timeout_minutes = 15
# cds_jwks_file = "/etc/prostop/ehr-keys.json"   # CDS Hooks: the EHR's public keys

[metrics]
# A Prometheus endpoint (GET /metrics) served by `prostop serve` on its own port: counts and
# durations only, no patient data. Loopback only unless allow_remote = true (no TLS, no login:
# then a firewall must limit who reaches it).
# listen = "127.0.0.1:9710"
"""


def cmd_init(args: argparse.Namespace) -> int:
    from prostop_plugin.keys import KeyRing
    from prostop_plugin.ledger import Ledger

    target = Path(args.dir)
    target.mkdir(parents=True, exist_ok=True)
    config = target / "prostop.toml"
    if config.exists() and not args.force:
        raise ConfigError(
            "a configuration already exists", where=str(config),
            fix="keep it, or pass --force to overwrite it (keys and ledger are kept)",
        )
    config.write_text(CONFIG_TEMPLATE.format(host_name=args.host_name), encoding="utf-8")
    settings = load_settings(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    keyring = KeyRing.open(settings.key_dir, create=True)
    Ledger(settings.ledger_path, keyring).close()
    print(f"written: {config}")
    print(f"keys:    {settings.key_dir} (mode 0600 — back them up)")
    print(f"ledger:  {settings.ledger_path}")
    print(f"console: {settings.console.base_url()} (with 'prostop serve')")
    print("next:    prostop --config", config, "doctor")
    return 0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _check(name: str, run: Callable[[], str], unreachable_fix: str = "") -> Check:
    try:
        return Check(name, True, run())
    except ProstopError as exc:
        return Check(name, False, exc.what if not exc.where else f"{exc.where}: {exc.what}",
                     exc.fix or "")
    except (OSError, httpx.HTTPError) as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}", unreachable_fix)


def doctor_checks(settings: Settings) -> list[Check]:
    from prostop_plugin.issuance.trail import open_trail
    from prostop_plugin.keys import KeyRing
    from prostop_plugin.ledger import Ledger

    checks: list[Check] = []

    def keys() -> str:
        KeyRing.open(settings.key_dir, create=False)
        return f"{settings.key_dir} readable by this user only"

    checks.append(_check("keys", keys))

    def data_dir() -> str:
        mode = stat.S_IMODE(settings.data_dir.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"data folder is accessible to other users (mode {mode:o})",
                where=str(settings.data_dir), fix=f"chmod 700 {settings.data_dir}",
            )
        return f"{settings.data_dir} (mode {mode:o})"

    checks.append(_check("data folder", data_dir))

    def ledger() -> str:
        keyring = KeyRing.open(settings.key_dir, create=False)
        store = Ledger(settings.ledger_location, keyring)
        try:
            summaries = store.summaries()
            aside = [s.id for s in summaries if s.set_aside]
            if aside:
                raise ProstopError(
                    f"{len(aside)} issuance(s) set aside, recovery skips them: "
                    + ", ".join(aside[:5]) + ("…" if len(aside) > 5 else ""),
                    where=store.where,
                    fix="'prostop status' says why; restore the ledger and keys from the same "
                    "backup, then 'prostop retry ID'",
                )
            return f"schema v{store.schema_version()}, {len(summaries)} issuances"
        finally:
            store.close()

    checks.append(_check("ledger", ledger))

    def audit() -> str:
        trail = open_trail(settings)
        try:
            result = trail.verify()
        finally:
            trail.ledger.close()
        if not result.ok:
            at = f" at entry {result.first_broken}" if result.first_broken is not None else ""
            raise ProstopError(
                f"broken{at}: {result.problem}",
                where=trail.ledger.where,
                fix="keep the ledger as evidence and tell your security officer",
            )
        return f"intact, {result.entries_checked} entries"

    checks.append(_check("audit log", audit))

    def adapters() -> str:
        from prostop_plugin.app import Prostop

        if not checks[0].ok:
            raise ProstopError("not checked: the keys are not usable", fix="fix the keys first")
        # loading the runtime validates each allowed adapter's [adapter.NAME] section, and
        # each service checks what it would check at start (folders…), without starting
        with Prostop.open(settings) as runtime:
            found = [f"{a.name} ({a.title})" for a in runtime.hooks.adapters()]
            ready = [
                check() for service in runtime.hooks.background_services(runtime)
                if callable(check := getattr(service, "check", None))
            ]
        summary = ", ".join(found) if found else "none allowed (setting 'adapters')"
        return "; ".join([summary, *ready])

    checks.append(_check("adapters", adapters))

    timeout = httpx.Timeout(settings.code_service.read_timeout,
                            connect=settings.code_service.connect_timeout)
    clock_skew: dict[str, float] = {}

    def code_service() -> str:
        cs = settings.code_service
        url = cs.base_url + cs.generate_path
        # the generate endpoint asked without a token must refuse (401/403): that proves it is
        # the code service, reached over TLS (and mTLS) as the issuer will; no code is made
        with build_client(url=cs.base_url, tls=cs, section="code_service",
                          connect_timeout=cs.connect_timeout,
                          read_timeout=cs.read_timeout) as client:
            response = client.get(url)
        if "date" in response.headers:
            server = parsedate_to_datetime(response.headers["date"])
            clock_skew["code service"] = (datetime.now(UTC) - server).total_seconds()
        if response.status_code in (401, 403):
            return f"{url} answered (HTTP {response.status_code} without a token, as expected)"
        if response.status_code == 404:
            raise ProstopError(
                "no code service at this address (HTTP 404)", where=url,
                fix="check [code_service] base_url and generate_path against your e-Santé "
                "proxy's documentation",
            )
        raise ProstopError(
            f"unexpected answer HTTP {response.status_code}", where=url,
            fix="the service may be down, or base_url points at another service",
        )

    checks.append(_check(
        "code service", code_service,
        f"check [code_service] base_url ({settings.code_service.base_url}) and the network; "
        "for a dry run start the simulator: prostop simulator",
    ))

    def psc() -> str:
        url = settings.psc.issuer + "/.well-known/wallet-openid-configuration"
        response = httpx.get(url, timeout=timeout)
        if response.status_code != 200:
            raise ProstopError(f"discovery answered HTTP {response.status_code}", where=url,
                               fix="check [psc] issuer")
        issuer = response.json().get("issuer")
        if issuer != settings.psc.issuer:
            raise ProstopError(f"discovery names issuer {issuer!r}", where=url,
                               fix="set [psc] issuer to exactly that value")
        return f"{settings.psc.issuer} discovery ok"

    checks.append(_check(
        "Pro Santé Connect", psc,
        f"check [psc] issuer ({settings.psc.issuer}) and the network; "
        "for a dry run start the simulator: prostop simulator",
    ))

    def clock() -> str:
        if not clock_skew:
            raise ProstopError("no server date to compare with (code service unreachable)")
        skew = max(clock_skew.values(), key=abs)
        if abs(skew) > 60:
            raise ProstopError(f"this machine's clock is {skew:+.0f} s off the code service",
                               fix="enable NTP time synchronisation (timedatectl set-ntp true)")
        return f"within {abs(skew):.1f} s of the code service"

    checks.append(_check("clock", clock))
    return checks


def cmd_doctor(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"✗ configuration: {exc.one_line()}")
        return 1
    print(f"✓ configuration: {args.config or 'defaults / environment'}")
    checks = doctor_checks(settings)
    for check in checks:
        mark = "✓" if check.ok else "✗"
        print(f"{mark} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            print(f"    fix: {check.fix}")
    return 0 if all(c.ok for c in checks) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from prostop_plugin.demo import run_demo

    return run_demo(scripted=args.scripted, port=args.port, pause=not args.scripted,
                    code_validity=args.code_validity)


def register(sub: Any) -> None:
    from prostop_plugin.cli.simulator import code_validity_argument

    p = sub.add_parser("init", help="write a commented prostop.toml and create the key files")
    p.add_argument("dir", nargs="?", default=".", help="folder for prostop.toml (default .)")
    p.add_argument("--host-name", default="cabinet", help="this installation's name")
    p.add_argument("--force", action="store_true", help="overwrite an existing prostop.toml")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("doctor", help="check configuration, keys, storage, clock and services")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="the demo EHR, the simulator and the adapters, until Ctrl-C")
    p.add_argument("--scripted", action="store_true",
                   help="headless: run the scenario in-process and print a checked transcript")
    p.add_argument("--port", type=int, default=0,
                   help="simulator port (default: 8700 interactive, any free one scripted)")
    p.add_argument("--code-validity", type=code_validity_argument, default=60.0,
                   metavar="DURATION",
                   help="how long the simulator's codes are valid: 60m like the real service "
                   "(default); e.g. 2m to see a code expire and be given again")
    p.set_defaults(func=cmd_demo)

