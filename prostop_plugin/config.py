"""Configuration: ``prostop.toml`` plus ``PROSTOP_*`` environment overrides.

Nested keys use a double underscore in the environment: ``PROSTOP_CODE_SERVICE__BASE_URL``.
The file is found from ``--config``, then ``PROSTOP_CONFIG``, then ``./prostop.toml``; without
one, the defaults work with the local simulator (``prostop simulator``).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from prostop_plugin.eligibility import EligibilityPolicy
from prostop_plugin.errors import ConfigError

SIMULATOR_URL = "http://127.0.0.1:8700"
PSC_REALM_PATH = "/auth/realms/esante-wallet"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: str) -> str:
    """https everywhere; plain http only to a loopback address (the local simulator)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an absolute http(s) URL such as https://host/path")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            "plain http is only allowed to a loopback address (the local simulator); "
            "use https for any other host"
        )
    return value.rstrip("/")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeServiceSettings(Section):
    """The ProStopCovid code service (or the simulator)."""

    base_url: str = SIMULATOR_URL
    generate_path: str = "/api/v1/generate/short"
    verify_path: str = "/api/v1/verify"
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=10)
    backoff_initial: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=8.0, ge=0)
    ca_bundle: Path | None = Field(default=None, description="extra CA file; system CAs otherwise")
    client_certificate: Path | None = Field(default=None, description="PKCS#12 file for mTLS")
    client_certificate_password: SecretStr | None = None

    _url = field_validator("base_url")(classmethod(lambda cls, v: check_url(v)))


class PSCSettings(Section):
    """Pro Santé Connect (or the simulator's stand-in)."""

    issuer: str = SIMULATOR_URL + PSC_REALM_PATH
    client_id: str = "prostop-plugin"
    client_secret: SecretStr | None = SecretStr("simulator-secret")
    scope: str = "openid scope_all"
    acr_values: str = "eidas1"
    channel: Literal["CARD", "MOBILE"] = "MOBILE"
    ciba_timeout: float = Field(default=180.0, gt=0, description="give up waiting after this")
    token_refresh_margin: float = Field(default=15.0, ge=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=10.0, gt=0)
    ca_bundle: Path | None = None
    client_certificate: Path | None = None
    client_certificate_password: SecretStr | None = None

    _url = field_validator("issuer")(classmethod(lambda cls, v: check_url(v)))


class WriteBackSettings(Section):
    folder: Path | None = Field(
        default=None, description="write a JSON file per code here when no adapter takes it"
    )
    max_attempts: int = Field(default=8, ge=1)
    backoff_initial: float = Field(default=2.0, ge=0)
    backoff_max: float = Field(default=600.0, ge=0)


class Settings(BaseSettings):
    """All settings. Every section has defaults that work with the local simulator."""

    model_config = SettingsConfigDict(
        env_prefix="PROSTOP_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    locale: Literal["fr", "en"] = "fr"
    data_dir: Path = Field(default=Path("var"), description="ledger, audit log and keys")
    data_url: str | None = Field(
        default=None,
        description="the ledger in PostgreSQL instead of data_dir's SQLite file, for several "
        "workers: postgresql://user:password@host:port/database (keys stay in data_dir)",
    )
    host_name: str = Field(default="cabinet", description="this installation's name")
    adapters: list[str] = Field(
        default_factory=list, description="entry points (group 'prostop') allowed to load"
    )
    plugins: list[str] = Field(
        default_factory=list, description="extra plugin modules to import by dotted name"
    )
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(lambda v: str(v).upper())
    ] = Field(default="INFO", description="what `prostop serve` logs (-v: INFO)")
    as_of: date | None = Field(
        default=None,
        description="evaluate eligibility as of this date instead of today: for replaying "
        "archived messages in a test installation, never in production",
    )
    eligibility: EligibilityPolicy = Field(default_factory=EligibilityPolicy)
    code_service: CodeServiceSettings = Field(default_factory=CodeServiceSettings)
    psc: PSCSettings = Field(default_factory=PSCSettings)
    write_back: WriteBackSettings = Field(default_factory=WriteBackSettings)
    adapter: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-adapter sections: [adapter.hl7v2_mllp] …"
    )

    @property
    def ledger_path(self) -> Path:
        return self.data_dir / "ledger.sqlite3"

    @property
    def ledger_location(self) -> Path | str:
        """Where the ledger is: the PostgreSQL URL when ``data_url`` is set, else the file."""
        return self.data_url or self.ledger_path

    @property
    def audit_path(self) -> Path:
        """The audit log file of earlier versions, carried into the ledger once."""
        return self.data_dir / "audit.jsonl"

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    def adapter_settings(self, name: str) -> dict[str, Any]:
        return dict(self.adapter.get(name, {}))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # environment beats the file (passed as init values by load_settings)
        return (env_settings, init_settings)


def _describe(error: ValidationError, origin: str) -> ConfigError:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(root)"
    bad = first.get("input")
    shown = repr(bad) if not isinstance(bad, dict) else "a table"
    env_name = "PROSTOP_" + "__".join(str(p).upper() for p in first["loc"])
    return ConfigError(
        f"setting '{key}' = {shown} is invalid: {first['msg']}",
        where=origin,
        fix=f"correct '{key}' in the file, or the environment variable {env_name}",
    )


SectionModel = TypeVar("SectionModel", bound=BaseModel)


def parse_adapter_section(
    model: type[SectionModel], adapter: str, values: Mapping[str, Any]
) -> SectionModel:
    """Validate an ``[adapter.NAME]`` table into ``model``.

    :raises ConfigError: naming the key, the bad value and the expected form.
    """
    section = f"adapter.{adapter}"
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        key = f"{section}.{loc}" if loc else section
        if first["type"] == "missing":
            raise ConfigError(
                f"setting '{key}' is required", where=f"[{section}]",
                fix=f"add '{loc}' to the [{section}] section of prostop.toml "
                "(see the adapter's README)",
            ) from None
        if first["type"] == "extra_forbidden":
            raise ConfigError(
                f"unknown setting '{key}'", where=f"[{section}]",
                fix=f"remove it from [{section}] in prostop.toml or correct its spelling; "
                f"known settings: "
                f"{', '.join(model.model_fields)}",
            ) from None
        bad = first.get("input")
        shown = "a table" if isinstance(bad, dict) else repr(bad)
        message = str(first["msg"]).removeprefix("Value error, ")
        subject = f"setting '{key}' = {shown}" if loc else f"section [{section}]"
        raise ConfigError(
            f"{subject} is invalid: {message}", where=f"[{section}]",
            fix=f"correct it in the [{section}] section of prostop.toml "
            "(see the adapter's README)",
        ) from None


def find_config_file(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        return explicit
    env = os.environ.get("PROSTOP_CONFIG")
    if env:
        return Path(env)
    default = Path("prostop.toml")
    return default if default.exists() else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load and validate the configuration; any problem is a :class:`ConfigError`.

    Relative ``data_dir`` and file paths in the file are relative to the file's folder.
    """
    path = find_config_file(config_file)
    values: dict[str, Any] = {}
    origin = "environment / defaults"
    if path is not None:
        origin = str(path)
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                "configuration file not found", where=str(path),
                fix="create it with 'prostop init', or point PROSTOP_CONFIG at the right file",
            ) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"not valid TOML: {exc}", where=str(path), fix="fix the syntax at that line"
            ) from None
        values.pop("$schema", None)
        base = path.resolve().parent
        if "data_dir" in values and not Path(str(values["data_dir"])).is_absolute():
            values["data_dir"] = str(base / str(values["data_dir"]))
        elif "data_dir" not in values and "PROSTOP_DATA_DIR" not in os.environ:
            values["data_dir"] = str(base / "var")
        folder = values.get("write_back", {}).get("folder")
        if isinstance(folder, str) and not Path(folder).is_absolute():
            values["write_back"]["folder"] = str(base / folder)
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise _describe(exc, origin) from None
