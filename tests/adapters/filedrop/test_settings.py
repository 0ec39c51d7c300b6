"""[adapter.filedrop]: defaults, and every bad value named with its key and expected form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prostop_filedrop.plugin import FiledropPlugin
from prostop_filedrop.settings import FiledropSettings, parse_filedrop_settings
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings, load_settings
from prostop_plugin.errors import ConfigError
from prostop_plugin.readers import MAX_FILE_BYTES


def test_defaults_put_the_state_folders_beside_the_inbox(tmp_path: Path) -> None:
    config = parse_filedrop_settings({"inbox": str(tmp_path / "labo" / "inbox"),
                                      "outbox": str(tmp_path / "ehr-import")})
    folders = config.folders()
    state = tmp_path / "labo" / "inbox-prostop"
    assert (folders.processing, folders.done, folders.quarantine) == (
        state / "processing", state / "done", state / "quarantine")
    assert config.write_back_format == "hprim" and config.formats() == ("hprim",)
    assert config.hprim_encoding == "latin-1"
    assert config.max_file_bytes == MAX_FILE_BYTES
    assert (config.poll_interval, config.settle_seconds, config.host) == (2.0, 5.0, None)


def test_explicit_folders_and_both_formats(tmp_path: Path) -> None:
    config = parse_filedrop_settings({
        "inbox": str(tmp_path / "in"), "outbox": str(tmp_path / "out"),
        "done": str(tmp_path / "archive"), "write_back_format": "both",
        "hprim_encoding": "utf-8",
    })
    assert config.folders().done == tmp_path / "archive"
    assert config.formats() == ("cda", "hprim")


def test_the_section_is_read_from_prostop_toml(tmp_path: Path) -> None:
    toml = tmp_path / "prostop.toml"
    toml.write_text(
        'adapters = ["filedrop"]\n[adapter.filedrop]\n'
        f'inbox = "{tmp_path / "in"}"\noutbox = "{tmp_path / "out"}"\n'
        'write_back_format = "cda"\nsettle_seconds = 1.5\n'
    )
    config = parse_filedrop_settings(load_settings(toml).adapter_settings("filedrop"))
    assert isinstance(config, FiledropSettings)
    assert (config.write_back_format, config.settle_seconds) == ("cda", 1.5)


BAD_VALUES = [
    ({"outbox": "/srv/out"}, "'adapter.filedrop.inbox' is required"),
    ({"inbox": "/srv/in"}, "'adapter.filedrop.outbox' is required"),
    ({"inbox": "labo/inbox", "outbox": "/srv/out"},
     "'adapter.filedrop.inbox' = 'labo/inbox' is invalid: expected an absolute folder path"),
    ({"inbox": "/srv/in", "outbox": "/srv/out", "write_back_format": "pdf"},
     "'adapter.filedrop.write_back_format' = 'pdf' is invalid: Input should be 'cda', "
     "'hprim' or 'both'"),
    ({"inbox": "/srv/in", "outbox": "/srv/out", "hprim_encoding": "klingon"},
     "'adapter.filedrop.hprim_encoding' = 'klingon' is invalid: unknown encoding"),
    ({"inbox": "/srv/in", "outbox": "/srv/out", "hprim_encoding": "utf-16"},
     "'adapter.filedrop.hprim_encoding' = 'utf-16' is invalid: not an ASCII-compatible"),
    ({"inbox": "/srv/in", "outbox": "/srv/out", "poll_interval": 0},
     "'adapter.filedrop.poll_interval' = 0 is invalid: Input should be greater than 0"),
    ({"inbox": "/srv/in", "outbox": "/srv/out", "settle_seconds": "soon"},
     "'adapter.filedrop.settle_seconds' = 'soon' is invalid"),
    ({"inbox": "/srv/in", "outbox": "/srv/out", "incomplete_timeout": -1},
     "'adapter.filedrop.incomplete_timeout' = -1 is invalid: Input should be greater than or "
     "equal to 0"),
    ({"inbox": "/srv/in", "outbox": "/srv/out", "max_file_bytes": MAX_FILE_BYTES + 1},
     f"'adapter.filedrop.max_file_bytes' = {MAX_FILE_BYTES + 1} is invalid: Input should be "
     f"less than or equal to {MAX_FILE_BYTES}"),
    ({"inbox": "/srv/in", "outbox": "/srv/out", "inbx": "/srv/x"},
     "unknown setting 'adapter.filedrop.inbx'"),
    ({"inbox": "/srv/in", "outbox": "/srv/in/"},
     "the outbox folder is the same as the inbox folder (/srv/in)"),
    ({"inbox": "/srv/in", "outbox": "/srv/out", "done": "/srv/out"},
     "the outbox folder is the same as the done folder"),
    ({"inbox": "/", "outbox": "/srv/out"}, "not the root itself"),
]


@pytest.mark.parametrize(("values", "message"), BAD_VALUES)
def test_bad_settings_are_config_errors_naming_key_value_and_form(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_filedrop_settings(values)
    error = caught.value
    assert message in error.what
    assert error.where == "[adapter.filedrop]"
    assert error.fix and "prostop.toml" in error.fix


def test_a_bad_section_stops_the_runtime_at_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", adapter={"filedrop": {"inbox": "/srv/in"}})
    with pytest.raises(ConfigError, match=r"'adapter\.filedrop\.outbox' is required"):
        Prostop.open(settings, plugins=[FiledropPlugin()])
