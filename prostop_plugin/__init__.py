"""prostop-plugin: StopCovid declaration codes from inside the physician's EHR.

This is the public API for adapters and host integrations; import from here, not from the
modules behind it (their layout may change, these names will not)::

    from prostop_plugin import Prostop, load_settings, hookimpl, DiagnosisEvent

    with Prostop.open(load_settings(), plugins=[MyHostPlugin()], resume_every=5) as prostop:
        recorded = prostop.record(event)     # returns at once; recorded.confirmation to show
        prostop.decide_later(recorded.issuance_id, decision)   # returns at once too

(``prostop.hooks.diagnosis_recorded(event)`` is the synchronous path, for scripts and
adapters without a UI.) The format toolkits :mod:`prostop_plugin.hl7` (ER7, MLLP, ACKs,
outgoing messages) are public subpackages for adapters that speak HL7 v2, and
:mod:`prostop_plugin.testing` is the test kit (pytest fixtures, ``AdapterConformance``).
A host with web screens shows the plugin's own (:mod:`prostop_plugin.screens`, exported here):
the code card and confirmation dialog view models (``code_card``, ``dialog_for``), their Jinja2
templates and static files (``screen_environment``, ``screen_static_files``), the PDF handout
(``handout_pdf``) and the forms' CSRF guard (``CsrfGuard``) — as the demo EHR and the console do.
See docs/vendors.md for a walkthrough and docs/architecture.md for the package map.
"""

from prostop_plugin.adapter_plugin import AdapterPlugin
from prostop_plugin.app import Prostop
from prostop_plugin.config import (
    CodeServiceSettings,
    ConsoleSettings,
    MetricsSettings,
    PSCSettings,
    Settings,
    WriteBackSettings,
    load_settings,
    parse_adapter_section,
)
from prostop_plugin.documents import (
    RecordNote,
    build_cda_note,
    build_hprim_report,
    build_record_note,
)
from prostop_plugin.eligibility import EligibilityPolicy, is_covid_relevant
from prostop_plugin.errors import (
    AuditError,
    ConfigError,
    ConfirmationRefused,
    DecryptionError,
    HL7ParseError,
    IncompleteInputError,
    InputError,
    InvalidTransition,
    IssuanceNotFound,
    IssuerError,
    KeyFileError,
    LedgerError,
    ProstopError,
    TokenError,
    TokenRefused,
    UnsafeXMLError,
)
from prostop_plugin.file_intake import (
    IntakeOutcome,
    IntakeResult,
    as_received,
    reader_failure,
    record_received,
)
from prostop_plugin.fileio import write_atomically
from prostop_plugin.filenames import display_name, is_ignored_name
from prostop_plugin.hooks import BackgroundService, hookimpl, hookspec
from prostop_plugin.host_api import Recorded
from prostop_plugin.input_limits import MAX_FILE_BYTES
from prostop_plugin.issuers import CodeIssuer
from prostop_plugin.models import (
    AccessToken,
    AdapterInfo,
    CodeRequest,
    Coding,
    ConfirmationDecision,
    ConfirmationRequest,
    DiagnosisEvent,
    DiagnosisEvidence,
    DiagnosisStatus,
    EligibilityDecision,
    EventSource,
    Evidence,
    EvidenceUsed,
    ImagingFinding,
    IssuanceRecord,
    IssuanceState,
    IssuedCode,
    LabResult,
    Locale,
    LocalizedText,
    PatientRef,
    Practitioner,
    PreviousIssuance,
    ResultCorrection,
    SymptomEvidence,
    WriteBackReceipt,
    utcnow,
)
from prostop_plugin.psc import CibaTokenSource, HostTokenStore, new_binding_message
from prostop_plugin.readers import read_bytes, sniff_format
from prostop_plugin.screens import (
    CodeCard,
    CsrfGuard,
    Dialog,
    Refusals,
    ScreenPaths,
    code_card,
    csrf_token_of,
    current_record,
    decision_from_form,
    dialog_for,
    handout_page,
    handout_pdf,
    handout_pdf_response,
    latin1,
    record_with_code,
    screen_environment,
    screen_static_files,
    source_label,
    still_valid_notice,
)
from prostop_plugin.server_thread import ServerDidNotStart, ServerThread
from prostop_plugin.telemetry import metrics
from prostop_plugin.texts import ConfirmationText, Handout, Message, get_texts
from prostop_plugin.texts.formatting import format_date, format_datetime, in_paris
from prostop_plugin.texts.screens import host_text
from prostop_plugin.values import PARIS
from prostop_plugin.version import __version__

__all__ = [
    "MAX_FILE_BYTES",
    "PARIS",
    "AccessToken",
    "AdapterInfo",
    "AdapterPlugin",
    "AuditError",
    "BackgroundService",
    "CibaTokenSource",
    "CodeCard",
    "CodeIssuer",
    "CodeRequest",
    "CodeServiceSettings",
    "Coding",
    "ConfigError",
    "ConfirmationDecision",
    "ConfirmationRefused",
    "ConfirmationRequest",
    "ConfirmationText",
    "ConsoleSettings",
    "CsrfGuard",
    "DecryptionError",
    "DiagnosisEvent",
    "DiagnosisEvidence",
    "DiagnosisStatus",
    "Dialog",
    "EligibilityDecision",
    "EligibilityPolicy",
    "EventSource",
    "Evidence",
    "EvidenceUsed",
    "HL7ParseError",
    "Handout",
    "HostTokenStore",
    "ImagingFinding",
    "IncompleteInputError",
    "InputError",
    "IntakeOutcome",
    "IntakeResult",
    "InvalidTransition",
    "IssuanceNotFound",
    "IssuanceRecord",
    "IssuanceState",
    "IssuedCode",
    "IssuerError",
    "KeyFileError",
    "LabResult",
    "LedgerError",
    "Locale",
    "LocalizedText",
    "Message",
    "MetricsSettings",
    "PSCSettings",
    "PatientRef",
    "Practitioner",
    "PreviousIssuance",
    "Prostop",
    "ProstopError",
    "RecordNote",
    "Recorded",
    "Refusals",
    "ResultCorrection",
    "ScreenPaths",
    "ServerDidNotStart",
    "ServerThread",
    "Settings",
    "SymptomEvidence",
    "TokenError",
    "TokenRefused",
    "UnsafeXMLError",
    "WriteBackReceipt",
    "WriteBackSettings",
    "__version__",
    "as_received",
    "build_cda_note",
    "build_hprim_report",
    "build_record_note",
    "code_card",
    "csrf_token_of",
    "current_record",
    "decision_from_form",
    "dialog_for",
    "display_name",
    "format_date",
    "format_datetime",
    "get_texts",
    "handout_page",
    "handout_pdf",
    "handout_pdf_response",
    "hookimpl",
    "hookspec",
    "host_text",
    "in_paris",
    "is_covid_relevant",
    "is_ignored_name",
    "latin1",
    "load_settings",
    "metrics",
    "new_binding_message",
    "parse_adapter_section",
    "read_bytes",
    "reader_failure",
    "record_received",
    "record_with_code",
    "screen_environment",
    "screen_static_files",
    "sniff_format",
    "source_label",
    "still_valid_notice",
    "utcnow",
    "write_atomically",
]
