"""One received message, from its bytes to its ACK.

:meth:`InboundHandler.prepare` decodes (charset from MSH-18) and maps the message; it answers
at once when the core has nothing to do: a message that cannot be read (AE/CE with ERR naming
the position), a type the plugin does not read (AR/CR), or one that is not about COVID-19 (AA/CA
with nothing stored). A message whose OBX-5 holds a Base64 CDA document (ED, the ANS CI-SIS
profile "Transmission de documents CDA en HL7v2": an ORU^R01 or MDM^T02 carrying a CR-BIO) is
read through that document: decoded within ``max_document_bytes``, read by the CDA reader,
checked against PID (PID-3 INS, PID-32 status); a bad Base64, an oversize or unreadable
document is answered AE naming OBX-5. When there is something to store, it returns a
:class:`Delivery`, which
:meth:`InboundHandler.deliver` hands to the core (blocking: run it in a worker thread); the
accept ACK is built only after that returned, i.e. once the events are durable in the ledger.
Any failure of the core is answered AR/CR ("retry later"): the sender sends again, and the
core recognises a message it already stored (MSH-10 + sender) and answers from the ledger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prostop_hl7v2_mllp.settings import ADAPTER_NAME, MLLPSettings
from prostop_plugin import (
    DiagnosisEvent,
    InputError,
    Prostop,
    ProstopError,
    ResultCorrection,
    is_covid_relevant,
)
from prostop_plugin.hl7.ack import AckError, build_ack, build_ack_for_unparsed, wants_ack
from prostop_plugin.hl7.cda_transfer import map_cda_transfer
from prostop_plugin.hl7.er7 import Message, parse
from prostop_plugin.hl7.mapping import map_message
from prostop_plugin.hl7.mllp import MLLPFramingError
from prostop_plugin.hl7.send import parse_address

log = logging.getLogger(__name__)

#: answered when the core failed: nothing in the message is wrong, the sender should resend
RETRY_LATER = AckError("the message could not be stored now, send it again later",
                       code="207", outcome="reject")


@dataclass(frozen=True)
class Delivery:
    """A message about COVID-19, mapped, waiting to be handed to the core."""

    message: Message
    events: list[DiagnosisEvent]
    corrections: list[ResultCorrection]

    def describe(self) -> str:
        sender = self.message["MSH-4.1"] or self.message["MSH-3.1"]
        return f"MSH-10 {self.message.control_id!r} from {sender!r}"


class InboundHandler:
    """Turns frames into ACKs for one runtime (thread-safe: it keeps no per-message state)."""

    def __init__(self, runtime: Prostop, config: MLLPSettings) -> None:
        self.runtime = runtime
        self.config = config
        self.options = config.parse_options
        self.policy = runtime.settings.eligibility

    def prepare(self, frame: bytes) -> Delivery | bytes | None:
        """Parse and map ``frame``. Returns the ACK to send now (``None``: the sender asked for
        none), or a :class:`Delivery` when the core must store something first."""
        try:
            message = parse(frame, self.options)
        except InputError as exc:
            log.warning("MLLP: unreadable message answered AE: %s", exc.one_line())
            return build_ack_for_unparsed(frame, AckError.from_exception(exc))
        try:
            mapped = map_cda_transfer(
                message, adapter=ADAPTER_NAME, max_bytes=self.config.max_document_bytes,
            ) or map_message(message, adapter=ADAPTER_NAME, raw=frame)
        except InputError as exc:
            error = AckError.from_exception(exc)
            log.warning("MLLP: MSH-10 %r refused (%s): %s", message.control_id, error.outcome,
                        exc.one_line())
            return self.acknowledge(message, error)
        if mapped.warnings:  # their text may quote patient data: counted, not logged
            log.info("MLLP: MSH-10 %r read with %d warning(s)", message.control_id,
                     len(mapped.warnings))
        events = [e for e in mapped.events if is_covid_relevant(e.evidence, self.policy)]
        corrections = [c for c in mapped.corrections
                       if is_covid_relevant([c.result], self.policy)]
        if not events and not corrections:
            log.debug("MLLP: MSH-10 %r is not about COVID-19: acknowledged, nothing stored",
                      message.control_id)
            return self.acknowledge(message)
        return Delivery(message, events, corrections)

    def deliver(self, delivery: Delivery) -> None:
        """Hand the events to the core; returns once they are durable. Raises on failure."""
        hooks = self.runtime.hooks
        for event in delivery.events:
            if hooks.diagnosis_recorded(event) is None:
                raise ProstopError("no plugin stored the event (is the issuance plugin off?)")
        for correction in delivery.corrections:
            hooks.result_corrected(correction)

    def acknowledge(self, message: Message, error: AckError | None = None) -> bytes | None:
        """The ACK for a parsed message, or ``None`` when MSH-15 asks for none in this case."""
        outcome = "accept" if error is None else error.outcome
        if not wants_ack(message, outcome):
            return None
        return build_ack(message, error)

    def after_delivery(self, delivery: Delivery, failure: BaseException | None) -> bytes | None:
        """The ACK once :meth:`deliver` returned (``failure`` None) or raised."""
        if failure is None:
            log.info("MLLP: %s stored (%d event(s), %d correction(s)), acknowledged",
                     delivery.describe(), len(delivery.events), len(delivery.corrections))
            return self.acknowledge(delivery.message)
        if isinstance(failure, ProstopError):
            log.error("MLLP: %s not stored, answered AR: %s", delivery.describe(),
                      failure.one_line())
        else:
            log.error("MLLP: %s not stored, answered AR: unexpected %s", delivery.describe(),
                      type(failure).__name__, exc_info=failure)
        return self.acknowledge(delivery.message, RETRY_LATER)

    @staticmethod
    def framing_error(error: MLLPFramingError) -> bytes:
        """The AR for a break in the MLLP framing (no message to correlate it with)."""
        return build_ack_for_unparsed(b"", AckError(error.one_line(), outcome="reject"))


def service_name(config: MLLPSettings, port: int | None = None) -> str:
    host, configured = parse_address(config.listen)
    shown = f"[{host}]" if ":" in host else host
    tls = " (TLS)" if config.tls_cert_file is not None else ""
    return f"MLLP {shown}:{port if port is not None else configured}{tls}"
