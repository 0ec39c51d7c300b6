"""prostop-plugin: StopCovid declaration codes from inside the physician's EHR.

Public API for adapters and host integrations::

    from prostop_plugin import hookimpl, DiagnosisEvent, IssuanceRecord
"""

from prostop_plugin.hooks import hookimpl, hookspec
from prostop_plugin.models import (
    AccessToken,
    AdapterInfo,
    CodeRequest,
    Coding,
    ConfirmationDecision,
    ConfirmationRequest,
    DiagnosisEvent,
    DiagnosisEvidence,
    EligibilityDecision,
    EventSource,
    ImagingFinding,
    IssuanceRecord,
    IssuanceState,
    IssuedCode,
    LabResult,
    LocalizedText,
    PatientRef,
    Practitioner,
    ResultCorrection,
    SymptomEvidence,
    WriteBackReceipt,
)

__version__ = "0.1.0"

__all__ = [
    "AccessToken",
    "AdapterInfo",
    "CodeRequest",
    "Coding",
    "ConfirmationDecision",
    "ConfirmationRequest",
    "DiagnosisEvent",
    "DiagnosisEvidence",
    "EligibilityDecision",
    "EventSource",
    "ImagingFinding",
    "IssuanceRecord",
    "IssuanceState",
    "IssuedCode",
    "LabResult",
    "LocalizedText",
    "PatientRef",
    "Practitioner",
    "ResultCorrection",
    "SymptomEvidence",
    "WriteBackReceipt",
    "__version__",
    "hookimpl",
    "hookspec",
]
