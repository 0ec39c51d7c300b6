"""The token sources answering ``prostop_practitioner_token``: the host's tokens, then CIBA."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from prostop_plugin.config import PSCSettings
from prostop_plugin.errors import TokenError
from prostop_plugin.hooks import hookimpl
from prostop_plugin.models import AccessToken, Practitioner, utcnow
from prostop_plugin.psc.checks import DEFAULT_ALLOWED_PROFESSIONS
from prostop_plugin.psc.ciba import SLOW_DOWN_STEP, CibaTokenSource

if TYPE_CHECKING:
    from prostop_plugin.config import Settings


#: the host session on whose behalf the current work runs (:meth:`HostTokenStore.session`)
_acting_session: ContextVar[str | None] = ContextVar("prostop_host_session", default=None)


class HostTokenStore:
    """Tokens a host obtained with its own PSC login, handed over with :meth:`put`.

    A token belongs to the authentication that obtained it. A host with several users at once
    (a web EHR) puts each login's token under that login's ``session`` and runs the work a
    session starts inside ``with store.session(session_id):``; the store then hands a token
    only to work of the session that put it. A single-user desktop host may put tokens without
    a session: they serve work outside any session.

    Import it from the root (``from prostop_plugin import HostTokenStore``), build one and
    register it with the runtime (``Prostop.open(settings, plugins=[store])``); :meth:`put` is
    called on that instance at login. It answers ``prostop_practitioner_token``
    with such a token while it is fresh, else ``None`` (the next source, CIBA, tries). The core
    verifies every token (:func:`~prostop_plugin.psc.first_verified_token`): what the host
    wrote in the :class:`AccessToken` is only used to find it, never trusted.
    """

    def __init__(
        self, *, refresh_margin: float = 15.0, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._tokens: dict[tuple[str | None, str], AccessToken] = {}
        self._lock = threading.Lock()

    def put(self, token: AccessToken, *, session: str | None = None) -> None:
        """Keep ``token`` (in memory) for the practitioner its ``subject`` names, for work of
        ``session`` only (``None``: work outside any session).

        :raises TokenError: when ``subject`` is not a national id.
        """
        try:
            national_id = Practitioner(national_id=token.subject).national_id
        except ValidationError:
            raise TokenError(
                f"the host's token names {token.subject!r}, not a PSC national id",
                fix="pass the SubjectNameID claim ('8' + RPPS) as the token's subject",
            ) from None
        with self._lock:
            self._tokens[(session, national_id)] = token

    def forget(
        self, practitioner: Practitioner | None = None, *, session: str | None = None
    ) -> None:
        """Drop the tokens of ``session`` (``None``: those put without one), of one
        practitioner or all of them (at logout)."""
        with self._lock:
            for key in list(self._tokens):
                if key[0] == session and (
                    practitioner is None or key[1] == practitioner.national_id
                ):
                    del self._tokens[key]

    @staticmethod
    @contextmanager
    def session(session: str) -> Iterator[None]:
        """Run the block on behalf of ``session``: tokens put for it are offered inside only."""
        reset = _acting_session.set(session)
        try:
            yield
        finally:
            _acting_session.reset(reset)

    @hookimpl
    def prostop_practitioner_token(
        self, practitioner: Practitioner, binding_message: str
    ) -> AccessToken | None:
        key = (_acting_session.get(), practitioner.national_id)
        with self._lock:
            token = self._tokens.get(key)
            if token is None:
                return None
            if token.expires_within(self.refresh_margin, self._clock()):
                del self._tokens[key]
                return None
            return token


class PSCTokenPlugin:
    """The built-in fallback token source: CIBA with the ``[psc]`` settings.

    Built from the configuration in ``prostop_configure`` (or given settings); raises
    :class:`TokenError` when the practitioner refuses or does not answer, so the reason
    reaches the physician.
    """

    def __init__(
        self,
        settings: PSCSettings | None = None,
        allowed_professions: Sequence[str] = DEFAULT_ALLOWED_PROFESSIONS,
        *,
        slow_down_step: float = SLOW_DOWN_STEP,
    ) -> None:
        self._settings = settings
        self._allowed = tuple(allowed_professions)
        self._slow_down_step = slow_down_step
        self._source: CibaTokenSource | None = None
        self._lock = threading.Lock()

    @hookimpl
    def prostop_configure(self, settings: Settings) -> None:
        with self._lock:
            self._settings = settings.psc
            self._allowed = tuple(settings.eligibility.allowed_professions)
            if self._source is not None:
                self._source.close()
                self._source = None
        self.source()  # fail at start-up, not at the first code, on a bad certificate

    def source(self) -> CibaTokenSource:
        with self._lock:
            if self._source is None:
                self._source = CibaTokenSource(
                    self._settings or PSCSettings(), self._allowed,
                    slow_down_step=self._slow_down_step,
                )
            return self._source

    @hookimpl(trylast=True)
    def prostop_practitioner_token(
        self, practitioner: Practitioner, binding_message: str
    ) -> AccessToken | None:
        return self.source().token_for(practitioner, binding_message)

    def close(self) -> None:
        with self._lock:
            if self._source is not None:
                self._source.close()
                self._source = None
