"""The FHIR R4 shapes the plugin reads, as pydantic models holding only the fields it needs.

Unknown fields are ignored (a FHIR resource carries far more than we read: narrative, meta,
extensions); the fields we read are checked: a wrong JSON type, a malformed date or a list over
its limit fails validation, and :mod:`.reader` turns the first failure into a typed error that
names the path (never the value: it may be patient data).

No FHIR library: ``fhir.resources`` models every element of every resource (hundreds of
classes), far more to load and check than the dozen fields read here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from prostop_plugin.values import PARIS

#: the most entries of a Bundle, codings of a concept, names, identifiers… read
MAX_ITEMS = 2_000
#: the longest string field read (codes, displays, result texts)
MAX_TEXT = 10_000

_DATETIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_datetime(value: object) -> datetime | None:
    """A FHIR ``dateTime`` or ``instant`` → an aware datetime (``None`` when absent).

    ``YYYY``, ``YYYY-MM`` and ``YYYY-MM-DD`` are read as the start of the period, as the HL7
    reader reads partial times; a time without its offset (FHIR requires one) is French local
    time. :class:`ValueError` when malformed: the message never repeats the value.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("a date/time is a string (YYYY-MM-DDThh:mm:ss+01:00)")
    match = _DATETIME.fullmatch(value.strip())
    if match is None:
        raise ValueError("not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or "
                         "YYYY-MM-DDThh:mm:ss+01:00)")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                          int(minute or 0), min(int(second or 0), 59),
                          int((fraction or "0")[:6].ljust(6, "0")))
    except ValueError:
        raise ValueError("not a real date/time (month 01-12, day within the month, "
                         "hour 00-23, minute 00-59)") from None
    if offset is None:
        return moment.replace(tzinfo=PARIS)
    if offset == "Z":
        return moment.replace(tzinfo=UTC)
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError("the UTC offset is out of range (-14:00 to +14:00)")
    sign = -1 if offset[0] == "-" else 1
    return moment.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))


def parse_birth_date(value: object) -> date | None:
    """A FHIR ``date``: the whole day, or ``None`` when absent or partial (a year alone says
    no birth date); :class:`ValueError` when malformed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("a date is a string (YYYY-MM-DD)")
    match = _DATE.fullmatch(value.strip())
    if match is None:
        raise ValueError("not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)")
    year, month, day = match.groups()
    try:
        found = date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise ValueError("not a real date (month 01-12, day within the month)") from None
    return found if day else None


FhirDateTime = Annotated[datetime | None, BeforeValidator(parse_datetime)]
FhirDate = Annotated[date | None, BeforeValidator(parse_birth_date)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]


#: read what we need, ignore the rest; strings as sent (JSON types are not coerced)
FHIR_CONFIG = ConfigDict(extra="ignore", strict=True, str_strip_whitespace=True)


class FhirModel(BaseModel):
    """A FHIR element or resource, as :data:`FHIR_CONFIG` reads it."""

    model_config = FHIR_CONFIG


class Coding(FhirModel):
    system: Text | None = None
    code: Text | None = None
    display: Text | None = None


class CodeableConcept(FhirModel):
    coding: list[Coding] = Field(default_factory=list, max_length=MAX_ITEMS)
    text: Text | None = None


class Reference(FhirModel):
    reference: Text | None = None


class Identifier(FhirModel):
    system: Text | None = None
    value: Text | None = None


class HumanName(FhirModel):
    use: Text | None = None
    family: Text | None = None
    given: list[Text] = Field(default_factory=list, max_length=MAX_ITEMS)
    text: Text | None = None


class Period(FhirModel):
    start: FhirDateTime = None
    end: FhirDateTime = None


class Quantity(FhirModel):
    value: float | None = Field(default=None, allow_inf_nan=False)
    unit: Text | None = None
    code: Text | None = None
    comparator: Text | None = None


class SpecimenCollection(FhirModel):
    collectedDateTime: FhirDateTime = None
    collectedPeriod: Period | None = None


class Specimen(FhirModel):
    resourceType: Literal["Specimen"]
    id: Text | None = None
    collection: SpecimenCollection | None = None


class Patient(FhirModel):
    resourceType: Literal["Patient"]
    id: Text | None = None
    identifier: list[Identifier] = Field(default_factory=list, max_length=MAX_ITEMS)
    name: list[HumanName] = Field(default_factory=list, max_length=MAX_ITEMS)
    birthDate: FhirDate = None
    gender: Text | None = None


class ObservationValue(BaseModel):
    """The value fields an Observation and its components share (``value[x]``); a base of
    its own (not a :class:`FhirModel`), so that no class chain is three deep."""

    model_config = FHIR_CONFIG

    valueCodeableConcept: CodeableConcept | None = None
    valueString: Text | None = None
    valueBoolean: bool | None = None
    valueQuantity: Quantity | None = None
    valueInteger: int | None = None
    valueDateTime: FhirDateTime = None
    dataAbsentReason: CodeableConcept | None = None
    interpretation: list[CodeableConcept] = Field(default_factory=list, max_length=MAX_ITEMS)


class ObservationComponent(ObservationValue):
    code: CodeableConcept


class Observation(ObservationValue):
    resourceType: Literal["Observation"]
    id: Text | None = None
    status: Text
    code: CodeableConcept
    subject: Reference | None = None
    effectiveDateTime: FhirDateTime = None
    effectiveInstant: FhirDateTime = None
    effectivePeriod: Period | None = None
    issued: FhirDateTime = None
    specimen: Reference | None = None
    component: list[ObservationComponent] = Field(default_factory=list, max_length=MAX_ITEMS)
    contained: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_ITEMS)


class Condition(FhirModel):
    resourceType: Literal["Condition"]
    id: Text | None = None
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    onsetDateTime: FhirDateTime = None
    onsetPeriod: Period | None = None
    recordedDate: FhirDateTime = None


class BundleSearch(FhirModel):
    mode: Text | None = None


class BundleLink(FhirModel):
    relation: Text | None = None


class BundleEntry(FhirModel):
    fullUrl: Text | None = None
    resource: dict[str, Any] | None = None
    search: BundleSearch | None = None


class Bundle(FhirModel):
    resourceType: Literal["Bundle"]
    type: Text | None = None
    entry: list[BundleEntry] = Field(default_factory=list, max_length=MAX_ITEMS)
    link: list[BundleLink] = Field(default_factory=list, max_length=MAX_ITEMS)
