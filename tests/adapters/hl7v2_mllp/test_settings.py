"""``[adapter.hl7v2_mllp]``: defaults, and one-line errors naming the key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prostop_hl7v2_mllp.plugin import plugin as mllp_plugin
from prostop_hl7v2_mllp.settings import load_mllp_settings, parse_mllp_settings
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.errors import ConfigError


def test_defaults() -> None:
    config = parse_mllp_settings({})
    assert config.listen_address == ("127.0.0.1", 2575)
    assert config.peer_address == ("127.0.0.1", 2576)
    assert config.server_ssl_context() is None and config.peer_ssl_context() is None
    assert (config.write_back_message_type, config.write_back_value_type) == ("ORU^R01", "TX")
    assert config.parse_options.fallback_charset == "latin-1"
    assert (config.frame_timeout, config.idle_timeout) == (30.0, 300.0)
    assert parse_mllp_settings({"listen": "[::1]:2575"}).listen_address == ("::1", 2575)


@pytest.mark.parametrize(("values", "expected"), [
    ({"lisen": "0.0.0.0:2575"}, "unknown setting 'adapter.hl7v2_mllp.lisen'"),
    ({"listen": "localhost"}, "'localhost' is not HOST:PORT"),
    ({"peer": "ehr:99999"}, "is not HOST:PORT"),
    ({"tls_cert_file": "mllp.pem", "tls_key_file": "/k"}, "expected an absolute file path"),
    ({"tls_cert_file": "/etc/mllp.pem"}, "set both, or neither"),
    ({"tls_client_ca_file": "/etc/ca.pem"}, "needs TLS on"),
    ({"fallback_charset": "utf-16"}, "not ASCII-compatible"),
    ({"write_back_charset": "KOI8-R"}, "expected an MSH-18 name"),
    ({"write_back_message_type": "ORU^R30"}, "write_back_message_type"),
    ({"max_frame_bytes": 10}, "max_frame_bytes"),
    ({"frame_timeout": 0}, "'adapter.hl7v2_mllp.frame_timeout' = 0 is invalid"),
    ({"frame_timeout": "slow"}, "'adapter.hl7v2_mllp.frame_timeout' = 'slow' is invalid"),
])
def test_bad_values_are_one_line_config_errors(values: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_mllp_settings(values)
    line = error.value.one_line()
    assert expected in line and "\n" not in line
    assert "[adapter.hl7v2_mllp]" in line


def test_unreadable_tls_files_are_a_config_error(tmp_path: Path) -> None:
    config = parse_mllp_settings({"tls_cert_file": str(tmp_path / "missing.pem"),
                                  "tls_key_file": str(tmp_path / "missing.key")})
    with pytest.raises(ConfigError, match="TLS files cannot be used"):
        config.server_ssl_context()


def test_a_bad_section_stops_the_runtime_at_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", adapter={"hl7v2_mllp": {"peer": "nowhere"}})
    with pytest.raises(ConfigError, match=r"adapter\.hl7v2_mllp\.peer"):
        Prostop.open(settings, plugins=[mllp_plugin])


def test_environment_overrides_reach_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROSTOP_ADAPTER__HL7V2_MLLP__LISTEN", "0.0.0.0:2600")
    assert load_mllp_settings(Settings()).listen_address == ("0.0.0.0", 2600)
