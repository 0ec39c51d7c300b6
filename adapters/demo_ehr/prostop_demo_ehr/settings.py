"""``[adapter.demo_ehr]``: where the demo EHR listens and keeps its own records."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prostop_plugin import ConfigError, Settings

ADAPTER_NAME = "demo_ehr"
DEFAULT_PORT = 8800


class EhrSettings(BaseModel):
    """The adapter's own section, e.g. ``[adapter.demo_ehr] port = 8800``."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="loopback only: this is a demo host")
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535, description="0: any free port")
    database: str | None = Field(
        default=None,
        description="the EHR's own SQLite file (patients, record notes, summaries); "
        "default {data_dir}/demo_ehr/ehr.sqlite3; ':memory:' keeps nothing",
    )
    simulator_controls: bool | None = Field(
        default=None,
        description="show the simulated e-CPS approval buttons; default: when the code "
        "service is a loopback simulator",
    )

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        try:
            loopback = value == "localhost" or ipaddress.ip_address(value).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError("the demo EHR only listens on a loopback address (127.0.0.1)")
        return value

    def database_path(self, settings: Settings) -> str:
        if self.database is None:
            return str(settings.data_dir / ADAPTER_NAME / "ehr.sqlite3")
        if self.database == ":memory:":
            return self.database
        path = Path(self.database)
        return str(path if path.is_absolute() else settings.data_dir / path)

    def shows_simulator_controls(self, settings: Settings) -> bool:
        if self.simulator_controls is not None:
            return self.simulator_controls
        host = urlsplit(settings.code_service.base_url).hostname or ""
        try:
            return host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def load_ehr_settings(settings: Settings) -> EhrSettings:
    """The ``[adapter.demo_ehr]`` section, validated.

    :raises ConfigError: naming the bad key and the expected form.
    """
    raw: dict[str, Any] = settings.adapter_settings(ADAPTER_NAME)
    try:
        return EhrSettings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(section)"
        raise ConfigError(
            f"setting '{key}' is invalid: {first['msg']}", where=f"[adapter.{ADAPTER_NAME}]",
            fix="see adapters/demo_ehr/README.md for the keys (host, port, database, "
            "simulator_controls)",
        ) from None
