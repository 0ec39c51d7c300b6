"""The ``[adapter.filedrop]`` section of ``prostop.toml``, validated.

Paths must be absolute: the service runs from wherever ``prostop serve`` was started, so a
relative path would silently point somewhere else. The state folders default to a folder
beside the inbox named after it (``/srv/labo/inbox`` → ``/srv/labo/inbox-prostop/``), so they
are on the same disk (a rename, hence a claim, is only atomic within one file system) and two
installations watching two inboxes in the same parent never share them.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prostop_plugin import MAX_FILE_BYTES, Settings, parse_adapter_section

ADAPTER_NAME = "filedrop"
SECTION = f"adapter.{ADAPTER_NAME}"
STATE_SUFFIX = "-prostop"

WriteBackFormat = Literal["cda", "hprim", "both"]


class FiledropSettings(BaseModel):
    """``[adapter.filedrop]``; see the adapter's README for what each setting does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inbox: Path = Field(description="folder the lab files arrive in (dedicated to this adapter)")
    outbox: Path = Field(description="folder the EHR imports write-back files from")
    processing: Path | None = Field(default=None, description="default <inbox>-prostop/processing")
    done: Path | None = Field(default=None, description="default <inbox>-prostop/done")
    quarantine: Path | None = Field(default=None, description="default <inbox>-prostop/quarantine")
    write_back_format: WriteBackFormat = "hprim"
    hprim_encoding: str = "latin-1"
    poll_interval: float = Field(default=2.0, gt=0, le=3600)
    settle_seconds: float = Field(default=5.0, ge=0, le=3600)
    incomplete_timeout: float = Field(
        default=300.0, ge=0, le=86_400,
        description="how long a file that looks cut short may wait for the rest before it is "
        "quarantined",
    )
    max_file_bytes: int = Field(default=MAX_FILE_BYTES, gt=0, le=MAX_FILE_BYTES)
    host: str | None = Field(
        default=None, min_length=1,
        description="sender name for files that carry none; default: the installation's host_name",
    )

    @field_validator("inbox", "outbox", "processing", "done", "quarantine")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_absolute():
            raise ValueError("expected an absolute folder path such as /srv/labo/inbox or "
                             "D:\\Labo\\inbox")
        if value.parent == value:
            raise ValueError("expected a folder below the root, not the root itself")
        return value

    @field_validator("hprim_encoding")
    @classmethod
    def _ascii_compatible(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError("unknown encoding: expected latin-1 (default), cp1252, "
                             "iso-8859-15 or utf-8") from None
        # HPRIM markers and separators are ASCII: UTF-16 and the like would break every importer
        if "****FIN|\r\n".encode(value) != b"****FIN|\r\n":
            raise ValueError("not an ASCII-compatible encoding: expected latin-1 (default), "
                             "cp1252, iso-8859-15 or utf-8")
        return value

    @model_validator(mode="after")
    def _distinct_folders(self) -> FiledropSettings:
        folders = self.folders()
        seen: dict[str, str] = {}
        for role, path in folders.named():
            key = os.path.normcase(os.path.normpath(path))
            if key in seen:
                raise ValueError(f"the {role} folder is the same as the {seen[key]} folder "
                                 f"({path}): each folder needs its own path")
            seen[key] = role
        return self

    def folders(self) -> Folders:
        state = self.inbox.parent / f"{self.inbox.name}{STATE_SUFFIX}"
        return Folders(
            inbox=self.inbox,
            processing=self.processing or state / "processing",
            done=self.done or state / "done",
            quarantine=self.quarantine or state / "quarantine",
            outbox=self.outbox,
        )

    def formats(self) -> tuple[Literal["cda", "hprim"], ...]:
        return ("cda", "hprim") if self.write_back_format == "both" else (
            self.write_back_format,
        )


@dataclass(frozen=True)
class Folders:
    """Where files are: arriving, being read, finished, unusable; and the write-back outbox."""

    inbox: Path
    processing: Path
    done: Path
    quarantine: Path
    outbox: Path

    def named(self) -> list[tuple[str, Path]]:
        return [("inbox", self.inbox), ("processing", self.processing), ("done", self.done),
                ("quarantine", self.quarantine), ("outbox", self.outbox)]


def parse_filedrop_settings(values: dict[str, Any]) -> FiledropSettings:
    """Validate a ``[adapter.filedrop]`` table.

    :raises ConfigError: naming the key, the bad value and the expected form.
    """
    return parse_adapter_section(FiledropSettings, ADAPTER_NAME, values)


def load_filedrop_settings(settings: Settings) -> FiledropSettings:
    """The adapter's section of the loaded configuration (:class:`ConfigError` when bad)."""
    return parse_filedrop_settings(settings.adapter_settings(ADAPTER_NAME))
