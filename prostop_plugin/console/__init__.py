"""The physician console: confirm StopCovid code requests where no host screen can.

``prostop serve`` serves it when ``[console] listen = "HOST:PORT"`` is set (``prostop init``
sets 127.0.0.1:8710): the physician logs in with Pro Santé Connect (authorization code with
PKCE, or CIBA on the e-CPS app), sees the practice's pending requests, confirms in the same
dialog the demo EHR shows, gets the code and the patient's handout. The same server answers
CDS Hooks calls from EHRs that speak it. See docs/console.md.

Modules: :mod:`.sessions` (server-side sessions, rate limit), :mod:`.identity` (PSC logins,
who may act), :mod:`.guard` (security headers, login required, CSRF), :mod:`.web` (the
:class:`Console` and its app), :mod:`.routes_login`, :mod:`.routes_requests`, :mod:`.cds`,
:mod:`.views` and :mod:`.handout_pdf` (what the pages show), :mod:`.server` (uvicorn).
"""

from prostop_plugin.console.server import ConsoleService, check_console_settings
from prostop_plugin.console.web import Console, create_app

__all__ = ["Console", "ConsoleService", "check_console_settings", "create_app"]
