"""``[adapter.medicab]`` in ``prostop.toml``, validated when the runtime starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from prostop_plugin import Settings, parse_adapter_section

ADAPTER_NAME = "medicab"


class MedicabSettings(BaseModel):
    """``[adapter.medicab]``: ``import_dir = "/srv/medicab/import"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    import_dir: Path = Field(description="the folder MediCab imports patient notes from")

    @field_validator("import_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("expected an absolute folder path such as /srv/medicab/import")
        return value


def load_medicab_settings(settings: Settings) -> MedicabSettings:
    """:raises ConfigError: naming the key (``adapter.medicab.import_dir``) and the fix."""
    return parse_adapter_section(
        MedicabSettings, ADAPTER_NAME, settings.adapter_settings(ADAPTER_NAME)
    )
