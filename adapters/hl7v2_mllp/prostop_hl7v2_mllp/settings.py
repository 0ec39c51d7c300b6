"""The ``[adapter.hl7v2_mllp]`` section of ``prostop.toml``, validated; and its TLS contexts.

File paths must be absolute: the service runs from wherever ``prostop serve`` was started, so a
relative path would silently point somewhere else.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prostop_plugin import ConfigError, HL7ParseError, Settings, parse_adapter_section
from prostop_plugin.hl7.cda import MAX_CDA_BYTES
from prostop_plugin.hl7.er7 import ParseOptions, codec_for_charset
from prostop_plugin.hl7.mllp import DEFAULT_MAX_FRAME_BYTES
from prostop_plugin.hl7.send import parse_address

ADAPTER_NAME = "hl7v2_mllp"
SECTION = f"adapter.{ADAPTER_NAME}"
MAX_FRAME_LIMIT = 100 * 1024 * 1024


class MLLPSettings(BaseModel):
    """``[adapter.hl7v2_mllp]``; the adapter's README explains each setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- inbound: the listener
    listen: str = Field(default="127.0.0.1:2575", description="HOST:PORT to listen on")
    tls_cert_file: Path | None = Field(default=None, description="PEM certificate: TLS on")
    tls_key_file: Path | None = Field(default=None, description="PEM private key of the cert")
    tls_client_ca_file: Path | None = Field(
        default=None, description="CA file: senders must present a certificate it signed"
    )
    max_frame_bytes: int = Field(default=DEFAULT_MAX_FRAME_BYTES, ge=1024, le=MAX_FRAME_LIMIT)
    idle_timeout: float = Field(default=300.0, gt=0, description="close silent connections")
    frame_timeout: float = Field(
        default=30.0, gt=0, le=3600,
        description="a message must arrive whole within this time once its first byte came",
    )
    max_connections: int = Field(default=64, ge=1, le=10_000)
    workers: int = Field(default=4, ge=1, le=64, description="threads handing messages over")
    shutdown_grace: float = Field(default=5.0, ge=0, le=300)
    fallback_charset: str = Field(
        default="latin-1", description="when MSH-18 is empty and the bytes are not UTF-8"
    )
    max_document_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, le=MAX_CDA_BYTES,
        description="largest CDA document decoded from an ED OBX (CI-SIS profile)",
    )
    # -- outbound: the write-back
    peer: str = Field(default="127.0.0.1:2576", description="HOST:PORT receiving the code")
    peer_tls: bool = False
    peer_ca_file: Path | None = Field(default=None, description="CA to verify the peer with")
    connect_timeout: float = Field(default=5.0, gt=0, le=300)
    ack_timeout: float = Field(default=30.0, gt=0, le=3600)
    write_back_document: Literal["text", "cda"] = Field(
        default="text", description="text: the note in a TX/FT OBX; cda: the CDA R2 note in "
        "an ED OBX, as the CI-SIS profile 'Transmission de documents CDA en HL7v2' lays it out",
    )
    write_back_message_type: Literal["ORU^R01", "MDM^T02"] = Field(
        default="ORU^R01", description="default MDM^T02 when write_back_document = 'cda'")
    write_back_value_type: Literal["TX", "FT"] = "TX"
    write_back_charset: str = Field(default="UNICODE UTF-8", description="MSH-18 written")
    sending_application: str = "PROSTOP"
    sending_facility: str = "PROSTOP"
    receiving_application: str = ""
    receiving_facility: str = ""

    @field_validator("listen", "peer")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_address(value)
        return value.strip()

    @field_validator("tls_cert_file", "tls_key_file", "tls_client_ca_file", "peer_ca_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError("expected an absolute file path such as /etc/prostop/mllp.pem")
        return value

    @field_validator("fallback_charset")
    @classmethod
    def _fallback(cls, value: str) -> str:
        ParseOptions(fallback_charset=value)  # ValueError when unknown or not ASCII-compatible
        return value

    @field_validator("write_back_charset")
    @classmethod
    def _charset(cls, value: str) -> str:
        try:
            codec_for_charset(value)
        except HL7ParseError:
            raise ValueError("expected an MSH-18 name: UNICODE UTF-8, 8859/1, 8859/15 or "
                             "ASCII") from None
        return value

    @model_validator(mode="after")
    def _tls_pairs(self) -> MLLPSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both, or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file needs TLS on: set tls_cert_file and "
                             "tls_key_file too")
        if self.write_back_document == "cda" and "write_back_value_type" in self.model_fields_set:
            raise ValueError("write_back_value_type is for write_back_document = 'text': a CDA "
                             "document goes in an ED OBX; remove one of the two")
        return self

    @property
    def write_back_type(self) -> Literal["ORU^R01", "MDM^T02"]:
        """The write-back's message type: as set, else ORU^R01 for the text note and MDM^T02
        for the CDA document (the CI-SIS profile defines both)."""
        if self.write_back_document == "cda" and \
                "write_back_message_type" not in self.model_fields_set:
            return "MDM^T02"
        return self.write_back_message_type

    @property
    def listen_address(self) -> tuple[str, int]:
        return parse_address(self.listen)

    @property
    def peer_address(self) -> tuple[str, int]:
        return parse_address(self.peer)

    @property
    def parse_options(self) -> ParseOptions:
        return ParseOptions(max_bytes=self.max_frame_bytes, fallback_charset=self.fallback_charset)

    def server_ssl_context(self) -> ssl.SSLContext | None:
        """The listener's TLS context, ``None`` when TLS is off; :class:`ConfigError` when the
        files cannot be used."""
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
            if self.tls_client_ca_file is not None:
                context.load_verify_locations(cafile=self.tls_client_ca_file)
                context.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"the TLS files cannot be used: {exc}", where=f"[{SECTION}] tls_*_file",
                fix="point tls_cert_file / tls_key_file at a PEM certificate and its key, "
                "readable by the account running prostop",
            ) from None
        return context

    def peer_ssl_context(self) -> ssl.SSLContext | None:
        """TLS to the write-back peer (certificate and host name verified), or ``None``."""
        if not self.peer_tls:
            return None
        try:
            cafile = str(self.peer_ca_file) if self.peer_ca_file is not None else None
            return ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"the peer CA file cannot be used: {exc}", where=f"[{SECTION}] peer_ca_file",
                fix="point peer_ca_file at a PEM file of CA certificates",
            ) from None


def parse_mllp_settings(values: dict[str, Any]) -> MLLPSettings:
    """Validate a ``[adapter.hl7v2_mllp]`` table.

    :raises ConfigError: naming the key, the bad value and the expected form.
    """
    return parse_adapter_section(MLLPSettings, ADAPTER_NAME, values)


def load_mllp_settings(settings: Settings) -> MLLPSettings:
    """The adapter's section of the loaded configuration (:class:`ConfigError` when bad)."""
    return parse_mllp_settings(settings.adapter_settings(ADAPTER_NAME))
