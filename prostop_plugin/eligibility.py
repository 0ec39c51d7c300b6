"""Eligibility doctrine (DOMAIN.md §4) as pure, table-driven rules. PLACEHOLDER: being written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict

from prostop_plugin.events import EligibilityDecision, Evidence, LocalizedText


class EligibilityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accept_antigen: bool = False
    contact_window_days: int = 14
    episode_window_days: int = 14
    allowed_professions: list[str] = ["10", "60"]
    local_codes: dict[str, str] = {}


def evaluate(
    evidence: Sequence[Evidence], policy: EligibilityPolicy, as_of: date | None = None
) -> EligibilityDecision:
    return EligibilityDecision(
        decision="not_eligible", rule="placeholder",
        reasons=[LocalizedText(fr="À écrire", en="To be written")], as_of=as_of or date.today(),
    )
