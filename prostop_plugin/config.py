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
    model_validator,
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


DEFAULT_CONSOLE_PORT = 8710


def split_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8710`` for IPv6) as (host, port).

    :raises ValueError: with the expected form.
    """
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(
            f"expected HOST:PORT such as 127.0.0.1:{DEFAULT_CONSOLE_PORT} or "
            f"[::1]:{DEFAULT_CONSOLE_PORT}, got {value!r}"
        )
    return host, int(port)


class ConsoleSettings(Section):
    """``[console]``: the physician console (``prostop serve``) and its CDS Hooks service."""

    listen: str | None = Field(
        default=None, description="HOST:PORT to serve the console on; unset: no console"
    )
    public_url: str | None = Field(
        default=None, description="the console's address as the practice's browsers reach it "
        "(links in record notices, PSC redirect); default from listen and TLS",
    )
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    practitioners: list[str] = Field(
        default_factory=list,
        description="RPPS (11 digits) or national ids ('8' + RPPS) allowed to log in; "
        "empty: every practitioner of an allowed profession",
    )
    notice_in_record: bool = Field(
        default=True, description="the adapter writes a notice with the console link into "
        "the patient record when a request starts waiting",
    )
    idle_timeout_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    session_lifetime_hours: float = Field(default=10.0, gt=0, le=24)
    login_attempts_per_minute: int = Field(default=10, ge=1, le=1000)
    authorization_endpoint: str | None = Field(
        default=None, description="PSC's authorize endpoint when it is not the discovery "
        "document's (production: https://wallet.esw.esante.gouv.fr/auth)",
    )
    cds_hooks: bool = Field(default=True, description="serve /cds-services")
    cds_jwks_file: Path | None = Field(
        default=None, description="JWKS file with the public keys of the EHRs allowed to call "
        "the CDS Hooks services (their signed JWT); unset: every call is refused",
    )
    cds_issuers: list[str] = Field(
        default_factory=list, description="the EHRs' JWT issuers allowed; empty: any issuer "
        "whose key is in cds_jwks_file",
    )

    @field_validator("public_url", "authorization_endpoint")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return check_url(value) if value is not None else None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    @field_validator("practitioners")
    @classmethod
    def _ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not (value.isdigit() and (len(value) == 11 or
                                         (len(value) == 12 and value[0] in "80"))):
                raise ValueError(f"{value!r} is not an RPPS (11 digits) or a national id "
                                 "('8' + RPPS)")
        return values

    @model_validator(mode="after")
    def _tls(self) -> ConsoleSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both tls_cert_file and tls_key_file, or neither")
        if self.listen is not None and not self.tls:
            host, _ = split_listen(self.listen)
            if not is_loopback(host):
                raise ValueError(
                    f"the console would listen on {host}, reachable from the network, without "
                    "TLS: set tls_cert_file and tls_key_file (a certificate for the address the "
                    "practice's browsers use), or listen on 127.0.0.1"
                )
        return self

    @property
    def enabled(self) -> bool:
        return self.listen is not None

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    def base_url(self) -> str | None:
        """Where browsers reach the console (``public_url``, else from ``listen``)."""
        if self.public_url is not None:
            return self.public_url
        if self.listen is None:
            return None
        host, port = split_listen(self.listen)
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{port}"

    def request_link(self, issuance_id: str) -> str | None:
        """The console's page for one request (no patient data in it); ``None`` without a
        console."""
        base = self.base_url()
        return f"{base}/demandes/{issuance_id}" if base is not None else None

    def allows(self, national_id: str) -> bool:
        """Whether the practitioners list (when set) names this national id."""
        if not self.practitioners:
            return True
        return any(national_id in (entry, "8" + entry) for entry in self.practitioners)


DEFAULT_METRICS_PORT = 9710


class MetricsSettings(Section):
    """``[metrics]``: a Prometheus endpoint on its own port, served by ``prostop serve``.

    It has neither TLS nor a login: it listens on a loopback address unless ``allow_remote``
    says the admin put it behind a firewall (or a TLS proxy) on purpose. Its figures are counts
    and durations only, never patient data.
    """

    listen: str | None = Field(
        default=None, description=f"HOST:PORT to serve /metrics on, e.g. "
        f"127.0.0.1:{DEFAULT_METRICS_PORT}; unset: no endpoint",
    )
    allow_remote: bool = Field(
        default=False, description="allow a non-loopback listen address (no TLS, no login: "
        "restrict who reaches it with a firewall)",
    )

    def address(self) -> tuple[str, int] | None:
        """(host, port) to listen on, ``None`` when unset."""
        if self.listen is None:
            return None
        return split_listen(self.listen)

    @model_validator(mode="after")
    def _reachable_on_purpose(self) -> MetricsSettings:
        address = self.address()
        if address is not None and not is_loopback(address[0]) and not self.allow_remote:
            raise ValueError(
                f"the metrics endpoint would listen on {address[0]}, reachable from the "
                "network, without TLS nor login: listen on 127.0.0.1, or set allow_remote = "
                "true once a firewall limits who reaches it"
            )
        return self


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
    log_format: Literal["text", "json"] = Field(
        default="text", description="`prostop serve`'s log lines: text, or one JSON object per "
        "line for log shippers (time, level, logger, message, issuance_id)",
    )
    as_of: date | None = Field(
        default=None,
        description="evaluate eligibility as of this date instead of today: for replaying "
        "archived messages in a test installation, never in production",
    )
    eligibility: EligibilityPolicy = Field(default_factory=EligibilityPolicy)
    code_service: CodeServiceSettings = Field(default_factory=CodeServiceSettings)
    psc: PSCSettings = Field(default_factory=PSCSettings)
    write_back: WriteBackSettings = Field(default_factory=WriteBackSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
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
        console = values.get("console")
        if isinstance(console, dict):
            for key in ("tls_cert_file", "tls_key_file", "cds_jwks_file"):
                found = console.get(key)
                if isinstance(found, str) and not Path(found).is_absolute():
                    console[key] = str(base / found)
        codes = values.get("eligibility", {}).get("local_codes_file")
        if isinstance(codes, str) and not Path(codes).is_absolute():
            values["eligibility"]["local_codes_file"] = str(base / codes)
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise _describe(exc, origin) from None
