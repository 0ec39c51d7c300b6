"""The simulator, for real, on a free loopback port, and client settings pointing at it.

:func:`running_simulator` is what the ``prostop_simulator`` fixture runs: one server per test
session, reset before each test (no faults, no CIBA requests, no codes, a new request log in
the test's ``tmp_path``). A test needing other options gets its own server by indirect
parametrisation::

    @pytest.mark.parametrize("prostop_simulator", [{"latency": 2.0}], indirect=True)
    def test_slow_service(prostop_simulator): ...

Faults: ``prostop_simulator.queue_faults("503:2")``; approvals: the ``approvals`` option
(``{"810003456789": Approval(mode="deny")}``); the wire: ``prostop_simulator.logged_requests()``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from pydantic import SecretStr

from prostop_plugin.config import CodeServiceSettings, PSCSettings
from prostop_plugin.models import AccessToken
from prostop_plugin.simulator.options import SimulatorOptions

if TYPE_CHECKING:  # the web stack loads only when a simulator starts
    from prostop_plugin.simulator.server import RunningSimulator

#: fast enough for tests, slow enough that the simulator can tell a too-fast poll
TEST_CIBA_INTERVAL = 0.05


@functools.cache
def shared_signing_key(algorithm: str = "RS256") -> object:
    """One key per test session: RSA generation costs more than starting uvicorn."""
    from prostop_plugin.simulator.tokens import new_signing_key

    return new_signing_key("EdDSA" if algorithm == "EdDSA" else "RS256")


def simulator_options(tmp_path: Path, **overrides: Any) -> SimulatorOptions:
    """Options for a test run: a request log in ``tmp_path``, quick CIBA polling."""
    values: dict[str, Any] = {
        "request_log": tmp_path / "simulator-requests.jsonl",
        "ciba_interval": TEST_CIBA_INTERVAL,
        "slow_down_increment": 0.2,
    }
    values |= overrides
    values.setdefault("signing_key", shared_signing_key(values.get("signing_algorithm", "RS256")))
    return SimulatorOptions(**values)


def code_service_settings(sim: RunningSimulator, **overrides: Any) -> CodeServiceSettings:
    """Client settings for the simulator, with small timeouts and backoff so tests stay fast
    (a read timeout above any latency the simulator was started with)."""
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "connect_timeout": 1.0,
        "read_timeout": 1.0 + sim.state.options.latency,
        "max_attempts": 3,
        "backoff_initial": 0.01,
        "backoff_max": 1.5,
    }
    return CodeServiceSettings(**(values | overrides))


def psc_settings(sim: RunningSimulator, **overrides: Any) -> PSCSettings:
    """``[psc]`` settings for the simulator's PSC realm."""
    values: dict[str, Any] = {"issuer": sim.psc_issuer, "ciba_timeout": 5.0}
    return PSCSettings(**(values | overrides))


def minted_token(sim: RunningSimulator, national_id: str = "810003456789") -> AccessToken:
    """A token signed by the simulator's PSC, without a CIBA round (what a host that did its
    own PSC login hands over)."""
    raw = sim.state.authority.mint(
        issuer=sim.psc_issuer, client_id=sim.state.options.client_id, national_id=national_id,
        scope="openid scope_all",
    )
    return AccessToken(
        access_token=SecretStr(raw),
        expires_at=datetime.fromtimestamp(time.time() + sim.state.authority.lifetime, UTC),
        subject=national_id, acr=sim.state.authority.acr, profession_codes=["10"],
    )


def signed_token(
    sim: RunningSimulator, national_id: str = "810003456789", *, drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A token signed with the simulator's own PSC key, its claims overridden or dropped: to
    forge what PSC would never issue (expired, another issuer or client, a low ``acr``).
    Test-only: the simulator itself mints only well-formed tokens."""
    authority = sim.state.authority
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": sim.psc_issuer, "sub": f"sub-{national_id}", "aud": sim.state.options.client_id,
        "azp": sim.state.options.client_id, "typ": "Bearer", "iat": now, "auth_time": now,
        "exp": now + authority.lifetime, "acr": authority.acr, "scope": "openid scope_all",
        "SubjectNameID": national_id, "preferred_username": national_id,
    }
    values |= claims
    for name in drop:
        values.pop(name, None)
    return jwt.encode(values, authority.key, algorithm=authority.algorithm,
                      headers={"kid": authority.kid})


_SHARED = pytest.StashKey["RunningSimulator"]()


def shared_simulator(request: pytest.FixtureRequest) -> RunningSimulator:
    """One server for the session: started on first use, stopped when pytest finishes."""
    from prostop_plugin.simulator.server import run_in_thread

    config = request.config
    if _SHARED not in config.stash:
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        running = run_in_thread(simulator_options(factory.mktemp("simulator")))
        config.stash[_SHARED] = running
        config.add_cleanup(running.stop)
    return config.stash[_SHARED]


def running_simulator(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[RunningSimulator]:
    """The body of the simulator fixtures: the shared server, reset, logging to ``tmp_path``;
    or, with options given by indirect parametrisation, a server of the test's own."""
    from prostop_plugin.simulator.server import run_in_thread

    overrides: dict[str, Any] | None = getattr(request, "param", None)
    if overrides:
        with run_in_thread(simulator_options(tmp_path, **overrides)) as running:
            yield running
        return
    shared = shared_simulator(request)
    shared.reset(request_log=tmp_path / "simulator-requests.jsonl")
    yield shared
    shared.reset()
