"""Code issuers: where declaration codes come from.

The interface is deliberately small so that a second back-end (an exposure-notification
verification server's "issue" API, say) can be a plugin answering ``prostop_code_issuer``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from prostop_plugin.models import AccessToken, CodeRequest, IssuedCode


@runtime_checkable
class CodeIssuer(Protocol):
    """Issues one declaration code per call, authenticated as the confirming practitioner."""

    #: short name shown in audit entries and errors, e.g. "prostopcovid"
    name: str

    def issue_code(self, token: AccessToken, request: CodeRequest) -> IssuedCode:
        """Ask the service for one code.

        :param token: the confirming practitioner's PSC access token.
        :param request: what kind of case; carries no patient identifier.
        :returns: the code with its validity window, validated.
        :raises prostop_plugin.errors.IssuerError: on any failure, with ``retryable`` set.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
