"""What the plugin adds to one code issuance, against a bare httpx GET to the same endpoint.

Both sides talk to the same in-process simulator over loopback, with the same token, timeouts
and keep-alive; ours adds the header building, status handling and strict answer validation
of :class:`~prostop_plugin.issuers.prostopcovid.ProStopCovidIssuer`. Target: under 2× the bare
request time, i.e. ratio (bare p50 / ours p50) ≥ 0.5.
"""

from __future__ import annotations

import httpx

from bench.harness import Harness
from prostop_plugin.config import CodeServiceSettings, PSCSettings
from prostop_plugin.http_client import USER_AGENT
from prostop_plugin.issuers.prostopcovid import ProStopCovidIssuer
from prostop_plugin.models import CodeRequest, Practitioner
from prostop_plugin.psc import CibaTokenSource
from prostop_plugin.simulator import SimulatorOptions, run_in_thread


def run(harness: Harness) -> None:
    options = SimulatorOptions(ciba_interval=0.05, token_lifetime=3600)
    with run_in_thread(options) as sim:
        settings = CodeServiceSettings(base_url=sim.base_url)
        source = CibaTokenSource(PSCSettings(issuer=sim.psc_issuer))
        token = source.token_for(Practitioner(national_id="810003456789"), "42")
        source.close()
        issuer = ProStopCovidIssuer(settings)
        request = CodeRequest(idempotency_key="bench", test_type="confirmed")
        bare = httpx.Client(
            timeout=httpx.Timeout(
                connect=settings.connect_timeout, read=settings.read_timeout,
                write=settings.read_timeout, pool=settings.connect_timeout,
            ),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            trust_env=False,
        )
        url = settings.base_url + settings.generate_path
        headers = {"Authorization": f"Bearer {token.access_token.get_secret_value()}"}

        def ours() -> object:
            return issuer.issue_code(token, request)

        def peer() -> object:
            response = bare.get(url, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"bare GET failed: {response.status_code}")
            return response

        try:
            harness.compare(
                "issuance: issue_code vs bare GET (loopback)",
                ours,
                peer,
                peer_name="httpx GET",
                target_ratio=0.5,
                iterations=1000,
                warmup=20,
                note="same simulator, token, timeouts and keep-alive; p50 ratio",
            )
        finally:
            issuer.close()
            bare.close()
