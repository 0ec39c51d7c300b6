"""Dates and times as the physician and the patient read them, always in French time.

French: ``19/11/2020 à 15h32``; English: ``19 Nov 2020 at 15:32``. A time without a zone is
taken as French local time (HL7 and HPRIM send local times); aware times are converted.
"""

from __future__ import annotations

from datetime import date, datetime

from prostop_plugin.models import Locale
from prostop_plugin.values import PARIS

# Not strftime("%b"): that follows the process locale, and the handout must not.
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def in_paris(moment: datetime) -> datetime:
    """The same instant on the French wall clock (unchanged if it has no zone)."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(PARIS)
    except (OverflowError, ValueError):  # at the very ends of the calendar
        return moment


def format_date(day: date | datetime, locale: Locale) -> str:
    if isinstance(day, datetime):
        day = in_paris(day).date()
    if locale == "fr":
        return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year:04d}"


def format_time(moment: datetime, locale: Locale) -> str:
    local = in_paris(moment)
    return f"{local.hour}h{local.minute:02d}" if locale == "fr" else f"{local:%H:%M}"


def format_datetime(moment: datetime, locale: Locale) -> str:
    joiner = "à" if locale == "fr" else "at"
    return f"{format_date(moment, locale)} {joiner} {format_time(moment, locale)}"
