"""Hook specifications: the whole contract between the core, adapters and host integrations.

Every hook is prefixed ``prostop_``. Implement one with :data:`prostop_plugin.hookimpl`::

    from prostop_plugin import hookimpl

    @hookimpl
    def prostop_write_back(record):
        if record.event.source.adapter != "my_ehr":
            return None
        ...

Two kinds of hooks:

* **events** adapters fire and the built-in issuance plugin handles
  (:func:`prostop_diagnosis_recorded`, :func:`prostop_result_corrected`);
* **services** hosts provide and the core calls (confirmation dialog, PSC token, write-back,
  code issuer) and **observers** (:func:`prostop_issuance_changed`).

The core never calls ``pm.hook`` directly: it goes through
:class:`prostop_plugin.plugins.HookFacade`, which types the results and isolates observers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop
    from prostop_plugin.config import Settings
    from prostop_plugin.issuers import CodeIssuer
    from prostop_plugin.models import (
        AccessToken,
        AdapterInfo,
        ConfirmationDecision,
        ConfirmationRequest,
        DiagnosisEvent,
        IssuanceRecord,
        IssuanceState,
        Practitioner,
        ResultCorrection,
        WriteBackReceipt,
    )

PROJECT_NAME = "prostop"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class BackgroundService(Protocol):
    """A long-running adapter service (see :func:`prostop_background_services`)."""

    #: shown in ``prostop serve``'s output, e.g. "MLLP 127.0.0.1:2575"
    name: str

    def start(self) -> None:
        """Start serving in background threads; return once ready to accept work."""
        ...

    def stop(self) -> None:
        """Stop accepting work, finish or hand back what is in flight, release resources."""
        ...

    # Optional: ``def check(self) -> str`` — what ``start`` would check (folders, files),
    # without starting; returns a one-line summary, raises a ProstopError naming the setting.
    # ``prostop doctor`` calls it when present.


# -- start-up ------------------------------------------------------------------------------------


@hookspec
def prostop_configure(settings: Settings) -> None:
    """Called once after all plugins are registered, with the loaded configuration.

    Use it to read your adapter's own settings section (``settings.adapter_settings(name)``)
    and to fail early, with a :class:`prostop_plugin.errors.ConfigError`, on bad values.

    :param settings: the validated configuration.
    """


@hookspec
def prostop_register_adapters(register: Callable[[AdapterInfo], None]) -> None:
    """Describe the adapters this plugin provides (shown by ``prostop doctor`` and the demo).

    :param register: call it once per adapter with an :class:`~prostop_plugin.models.AdapterInfo`.
    """


@hookspec
def prostop_background_services(runtime: Prostop) -> list[BackgroundService] | None:
    """Long-running services this plugin provides, started by ``prostop serve``: an MLLP
    listener, a watched inbox folder…

    Each service receives events from its channel and hands them to the core through
    ``runtime.hooks.diagnosis_recorded(event)``; acknowledging its sender only after that call
    returned (the event is then durable).

    :param runtime: the running core (settings, hooks facade, engine, ledger).
    :returns: the services to start, or ``None``.
    """


@hookspec
def prostop_writable_paths(settings: Settings) -> list[Path] | None:
    """Folders this plugin's services write to when ``prostop serve`` runs them (an inbox's
    state folders, an outbox…), from its settings alone: ``prostop service-unit`` grants them
    in the systemd unit's ``ReadWritePaths`` (the rest of the system is read-only there).

    :param settings: the validated configuration.
    :returns: absolute folder paths, or ``None``.
    """


# -- events (adapters fire them) -------------------------------------------------------------


@hookspec(firstresult=True)
def prostop_diagnosis_recorded(event: DiagnosisEvent) -> IssuanceRecord | None:
    """A confirmed or probable COVID-19 diagnosis was recorded, or evidence that may imply one
    (a positive RT-PCR result, a chest-CT finding) arrived.

    The built-in issuance plugin answers: it stores the event durably (so an adapter may
    acknowledge its sender once this returns), deduplicates it, evaluates eligibility and asks
    for confirmation. A repeated event returns the record it was first attached to.
    First non-None result wins.

    :param event: the event, as transcribed by the adapter.
    :returns: the issuance record the event is attached to.
    """


@hookspec
def prostop_result_corrected(correction: ResultCorrection) -> None:
    """A lab result was corrected (HL7 OBX-11 ``C``) or deleted (``D``).

    If a code was issued on that result, the built-in plugin flags the issuance and tells the
    physician; the code itself cannot be withdrawn from the service.

    :param correction: the corrected result and whose it is.
    """


# -- services (hosts provide them) -----------------------------------------------------------


@hookspec(firstresult=True)
def prostop_confirm_issuance(request: ConfirmationRequest) -> ConfirmationDecision | None:
    """Show the confirmation dialog in the host's UI and return the physician's decision.

    Return ``None`` when this host has no synchronous UI channel: the request then waits in the
    pending queue (``prostop pending``, the demo's page) until a physician decides.
    First non-None result wins. Answer only for your own adapter's requests
    (``request.source.adapter``) and return ``None`` for the others.

    Called on the thread that fired ``prostop_diagnosis_recorded``, or on the runtime's worker
    when the host recorded the event with :meth:`Prostop.record` (which returns the request to
    show instead of waiting for this hook). An exception raised here is logged and the next
    implementation asked; the request then waits in the pending queue. Each implementation is
    called on its own for that reason: wrappers do not apply to this hook.

    :param request: what to show: decision, reasons, evidence, earlier codes, attestation.
    :returns: the physician's decision, or ``None``.
    """


@hookspec(firstresult=True)
def prostop_practitioner_token(
    practitioner: Practitioner, binding_message: str
) -> AccessToken | None:
    """A Pro Santé Connect access token for the confirming practitioner.

    Hosts that already did a PSC login hand theirs over (only the token of the session whose
    work is running: see :class:`~prostop_plugin.psc.HostTokenStore`); the built-in fallback
    asks PSC by CIBA (the practitioner approves on the e-CPS app, which shows
    ``binding_message``). Tokens live about two minutes: keep them in memory only. The core
    verifies every token (signature, issuer, client, expiry, acr, this practitioner, an
    allowed profession) and reads the identity from its verified claims, whatever the
    :class:`AccessToken`'s fields say.
    First non-None result wins if it passes those checks; a refused one makes the core ask
    the next source.

    :param practitioner: who confirmed the issuance.
    :param binding_message: the two digits the confirmation dialog showed.
    :returns: a token, or ``None`` to let the next source try.
    """


@hookspec(firstresult=True)
def prostop_write_back(record: IssuanceRecord) -> WriteBackReceipt | None:
    """Write the issued code into the patient record and the consultation summary.

    Implement it in the adapter the event came from (``record.event.source.adapter``) and
    return ``None`` for other adapters' records. Raising, or no adapter answering, leaves the
    write-back in the outbox: it is retried with backoff and shown to the physician as pending.
    It may be called again for the same record after a crash: make it idempotent (the record id
    is a stable key). First non-None result wins.

    :param record: the issuance, with ``record.code`` readable in memory.
    :returns: where the code was written, or ``None`` when the record is not yours.
    """


@hookspec(firstresult=True)
def prostop_code_issuer(settings: Settings) -> CodeIssuer | None:
    """The service that issues declaration codes; ProStopCovid is the built-in.

    First non-None result wins, so a plugin registered later can replace the built-in.

    :param settings: the configuration (the built-in reads ``settings.code_service``).
    :returns: an object implementing :class:`prostop_plugin.issuers.CodeIssuer`.
    """


@hookspec
def prostop_notify_pending(
    request: ConfirmationRequest, record: IssuanceRecord, link: str
) -> None:
    """A confirmation request started waiting for a physician: write a notice into the
    patient record ("Déclaration StopCovid : confirmation en attente") with ``link``, the
    console's page for this request.

    Implement it in the adapter the event came from (``record.event.source.adapter``) and do
    nothing for other adapters' records: the file-drop adapter writes an import file, the HL7
    adapter sends an ORU^R01 / MDM^T02 note. Called once, when the request starts waiting,
    only when the console is enabled and ``[console] notice_in_record`` is true. A notice is a
    courtesy: an exception raised here is logged and audited and neither stops the flow nor
    the other implementations; the request stays in the console's pending list whatever
    happens to its notice.

    :param request: what the confirmation dialog will show (decision, reasons, evidence).
    :param record: the waiting issuance (its event: source, patient, practitioner; no code).
    :param link: the console's address for this request; it holds no patient data.
    """


# -- observers -------------------------------------------------------------------------------


@hookspec
def prostop_issuance_changed(record: IssuanceRecord, previous: IssuanceState | None) -> None:
    """An issuance moved to a new state (already committed to the ledger).

    Called on the thread that made the step: the caller's for the synchronous path, the
    runtime's worker after ``Prostop.record``/``decide_later`` (a desktop host hands the news
    over to its UI thread). Observers (audit, statistics, printing, notifications) must not
    change the flow: an exception raised here is logged and audited, and neither stops the
    flow nor the other observers. Each implementation is called on its own for that reason,
    so wrapper implementations (``wrapper=True``) and hook-call monitoring do not apply to
    this hook.

    :param record: the record in its new state (``record.code`` is not set here).
    :param previous: the state it left, ``None`` for a new record.
    """
