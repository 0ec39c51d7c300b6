"""FHIR R4 read into the plugin's evidence model: the Patient, Observation and Condition
resources a CDS Hooks call prefetches (:mod:`.reader`), through pydantic models of only the
fields read (:mod:`.resources`)."""

from __future__ import annotations

from prostop_plugin.fhir.reader import (
    FORMAT,
    INS_SYSTEMS,
    MAX_FHIR_BYTES,
    FhirInputError,
    Prefetched,
    PrefetchMissing,
    parse_json,
    read_prefetch,
)

__all__ = [
    "FORMAT",
    "INS_SYSTEMS",
    "MAX_FHIR_BYTES",
    "FhirInputError",
    "PrefetchMissing",
    "Prefetched",
    "parse_json",
    "read_prefetch",
]
