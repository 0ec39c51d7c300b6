"""The screens' view models (the plugin's, shared with the console), as this EHR shows them:
a code its own write-back took is "in this record", one another adapter delivered is
"delivered elsewhere", and its own events are named in its words ("saisie en consultation",
"fichier importé dans le dossier")."""

from __future__ import annotations

from prostop_demo_ehr.settings import ADAPTER_NAME
from prostop_plugin import CodeCard, Dialog, IssuanceRecord, Locale, Prostop
from prostop_plugin import code_card as shared_code_card
from prostop_plugin import dialog_for as shared_dialog_for
from prostop_plugin import source_label as shared_source_label


def code_card(runtime: Prostop, record: IssuanceRecord, locale: Locale) -> CodeCard:
    return shared_code_card(runtime, record, locale, here=ADAPTER_NAME)


def dialog_for(runtime: Prostop, record: IssuanceRecord, locale: Locale,
               refusal: str | None = None) -> Dialog | None:
    return shared_dialog_for(runtime, record, locale, refusal, here=ADAPTER_NAME)


def source_label(record: IssuanceRecord, locale: Locale = "fr") -> str:
    return shared_source_label(record, locale, here=ADAPTER_NAME)
