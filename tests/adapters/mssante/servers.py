"""Real mail servers on 127.0.0.1 for the MSSanté tests, over TLS with a throw-away CA.

* IMAP: Debian's Dovecot (``dovecot-imapd``), started in the foreground from a temporary folder
  with its own configuration. Run as root (CI), it runs as ``nobody`` (``setpriv``) so that no
  file it writes belongs to root and nothing of the machine's own Dovecot is used; run as
  another user, it runs as that user. It starts in about 0.3 s. A pure-Python IMAP server of
  quality does not exist, and a hand-written one would test the adapter against our own reading
  of RFC 3501 rather than against a server MSSanté operators actually run (Dovecot is one).
* SMTP: aiosmtpd with implicit TLS (port 465 style), AUTH LOGIN/PLAIN, and optionally a client
  certificate required; it keeps every message it accepts.

Both stop by themselves at the end of the test (fixtures), with bounded waits.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from prostop_plugin.simulator.pki import Pki

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
PASSWORD = "mot-de-passe-de-test"
START_TIMEOUT = 10.0
#: TLS is implicit (the whole connection): aiosmtpd's AUTH-over-TLS check only sees STARTTLS
AIOSMTPD_WARNING = "ignore:Requiring AUTH while not requiring TLS:UserWarning"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, log: Path | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            detail = "".join(p.read_text(errors="replace") for p in (log, log.with_name(
                "stderr.log")) if p.exists()) if log else ""
            raise RuntimeError(f"the test server stopped at start: {detail[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"the test server did not listen on 127.0.0.1:{port} in time")


def require_dovecot() -> None:
    if os.access(DOVECOT, os.X_OK):
        return
    if os.environ.get("CI"):
        pytest.fail("dovecot is not installed: .ci/run installs dovecot-imapd")
    pytest.skip("dovecot-imapd is not installed (apt-get install dovecot-imapd)")


@dataclass
class Dovecot:
    """A running Dovecot: its port, its CA, the mailbox folders on disk."""

    port: int
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Kill the whole process group: Dovecot's master waits seconds for its children on
        SIGTERM, and the mail in this throw-away folder needs no clean shutdown."""
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def _config(root: Path, port: int, pki: Pki, user: str, group: str, uid: int, gid: int,
            client_cert: bool) -> str:
    verify = (f"ssl_ca = <{root}/ca.pem\nssl_verify_client_cert = yes\nssl_require_crl = no\n"
              "auth_ssl_require_client_cert = yes\n") if client_cert else ""
    return f"""
base_dir = {root}/run
state_dir = {root}/run/state
instance_name = prostop-test-{port}
protocols = imap
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
ssl = required
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
ssl_min_protocol = TLSv1.2
{verify}log_path = {root}/dovecot.log
mail_location = maildir:{root}/mail/%n
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%n
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


@contextmanager
def running_dovecot(pki: Pki, *, client_cert: bool = False) -> Iterator[Dovecot]:
    """Dovecot on a free port of 127.0.0.1 (IMAPS only), stopped and removed afterwards."""
    require_dovecot()
    as_root = os.geteuid() == 0
    account = pwd.getpwnam("nobody") if as_root else pwd.getpwuid(os.geteuid())
    # not under pytest's tmp_path: its parents are private to root, unreadable to nobody
    root = Path(tempfile.mkdtemp(prefix="prostop-dovecot-"))
    for sub in ("run", "mail", "home"):
        (root / sub).mkdir()
    shutil.copy(pki.server_cert, root / "server.pem")
    shutil.copy(pki.server_key, root / "server.key")
    shutil.copy(pki.ca, root / "ca.pem")
    port = free_port()
    (root / "dovecot.conf").write_text(_config(root, port, pki, account.pw_name,
                                               grp.getgrgid(account.pw_gid).gr_name,
                                               account.pw_uid, account.pw_gid, client_cert))
    command = [DOVECOT, "-F", "-c", str(root / "dovecot.conf")]
    if as_root:
        for path in [root, *root.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
        command = [SETPRIV, f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
                   "--clear-groups", *command]
    root.chmod(0o700)
    log = root / "dovecot.log"
    with (root / "stderr.log").open("wb") as errors:  # start-up errors go to stderr
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=errors,
                                   stderr=errors, start_new_session=True)
    server = Dovecot(port, root, process, log)
    try:
        wait_for_port(port, process, log)
        yield server
    finally:
        server.stop()


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SmtpSink:
    """What the test SMTP server accepted, and who logged in."""

    port: int
    messages: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse: int = 0  # how many DATA commands to refuse with a 451 first

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        content = envelope.original_content or b""
        self.messages.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                                      bytes(content)))
        return "250 2.0.0 accepted"

    def authenticate(self, server: Any, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and auth_data.password.decode() == PASSWORD:
            self.logins.append(auth_data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class TlsController(Controller):  # type: ignore[misc]
    """aiosmtpd's controller, whose readiness probe presents the test client certificate."""

    def __init__(self, pki: Pki, *args: Any, **kwargs: Any) -> None:
        self.pki = pki
        super().__init__(*args, **kwargs)

    def _trigger_server(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as raw, \
                self.pki.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.recv(1024)


@contextmanager
def running_smtp(pki: Pki, *, client_cert: bool = False,
                 starttls: bool = False) -> Iterator[SmtpSink]:
    """aiosmtpd on a free port of 127.0.0.1, AUTH required: implicit TLS (port 465 style), or
    a plain connection that must STARTTLS first (port 587 style)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if client_cert:
        context.load_verify_locations(cafile=pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    sink = SmtpSink(free_port())
    common: dict[str, Any] = {"hostname": "127.0.0.1", "port": sink.port,
                              "authenticator": sink.authenticate, "auth_required": True,
                              "ready_timeout": START_TIMEOUT}
    controller = (
        Controller(sink, tls_context=context, require_starttls=True, auth_require_tls=True,
                   **common) if starttls
        else TlsController(pki, sink, ssl_context=context, auth_require_tls=False, **common)
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
