"""The hook contract: documented, typed, prefixed; plugins validated; allow-listed discovery."""

from __future__ import annotations

import inspect
import sys
import textwrap
from pathlib import Path

import pluggy
import pytest

from prostop_plugin import hookimpl, hooks
from prostop_plugin.errors import ConfigError
from prostop_plugin.plugins import (
    check_hookimpls,
    load_entry_point_plugins,
    load_module_plugins,
    new_plugin_manager,
)

SPECS = [
    (name, func) for name, func in inspect.getmembers(hooks, inspect.isfunction)
    if name.startswith("prostop_")
]


def test_the_design_hooks_are_all_there() -> None:
    names = {name for name, _ in SPECS}
    assert {
        "prostop_diagnosis_recorded", "prostop_result_corrected", "prostop_register_adapters",
        "prostop_confirm_issuance", "prostop_practitioner_token", "prostop_write_back",
        "prostop_code_issuer", "prostop_issuance_changed", "prostop_configure",
    } <= names


@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[n for n, _ in SPECS])
def test_every_hook_is_documented_and_typed(name: str, spec: object) -> None:
    doc = inspect.getdoc(spec) or ""
    assert len(doc) > 80, f"{name} needs a real docstring"
    signature = inspect.signature(spec)  # type: ignore[arg-type]
    for param in signature.parameters:
        assert f":param {param}:" in doc, f"{name}: parameter '{param}' undocumented"
        assert signature.parameters[param].annotation is not inspect.Parameter.empty
    assert signature.return_annotation is not inspect.Signature.empty
    if signature.return_annotation not in ("None", None):
        assert ":returns:" in doc, f"{name}: return value undocumented"
    opts = spec.prostop_spec
    if opts.get("firstresult"):
        assert "First non-None result wins" in doc, f"{name} is firstresult: say so"


def test_every_hook_is_prefixed() -> None:
    pm = new_plugin_manager()
    assert all(name.startswith("prostop_") for name in pm.hook.__dict__ if not name.startswith("_"))


def test_a_hookimpl_without_a_spec_is_rejected() -> None:
    class Typo:
        @hookimpl
        def prostop_write_bak(self, record: object) -> None:  # a typo'd hook name
            pass

    pm = new_plugin_manager()
    pm.register(Typo())
    with pytest.raises(ConfigError) as error:
        check_hookimpls(pm)
    assert "prostop_write_bak" in str(error.value)


def test_a_hookimpl_with_a_wrong_argument_is_rejected() -> None:
    class Wrong:
        @hookimpl
        def prostop_write_back(self, recrod: object) -> None:
            pass

    pm = new_plugin_manager()
    with pytest.raises(pluggy.PluginValidationError):
        pm.register(Wrong())


def _fake_distribution(root: Path, name: str, module: str) -> None:
    """An installed distribution with an entry point in group 'prostop', on sys.path."""
    (root / f"{module}.py").write_text(textwrap.dedent("""
        from prostop_plugin import hookimpl
        CALLS = []

        @hookimpl
        def prostop_register_adapters(register):
            from prostop_plugin.models import AdapterInfo
            CALLS.append("registered")
            register(AdapterInfo(name="fake", title="Fake EHR"))
    """))
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[prostop]\n{name} = {module}\n")


def test_entry_points_load_only_when_allowed(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(tmp_path, "fake_ehr", "prostop_fake_ehr")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("PROSTOP_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pm = new_plugin_manager()
    assert load_entry_point_plugins(pm, []) == []
    assert not pm.has_plugin("fake_ehr")
    assert load_entry_point_plugins(pm, ["fake_ehr"]) == ["fake_ehr"]
    found: list[object] = []
    pm.hook.prostop_register_adapters(register=found.append)
    assert [a.name for a in found] == ["fake"]  # type: ignore[attr-defined]
    sys.modules.pop("prostop_fake_ehr", None)


def test_autoload_can_be_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(tmp_path, "fake_ehr2", "prostop_fake_ehr2")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PROSTOP_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = new_plugin_manager()
    assert load_entry_point_plugins(pm, ["fake_ehr2"]) == []


def test_an_allowed_but_missing_adapter_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROSTOP_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    with pytest.raises(ConfigError) as error:
        load_entry_point_plugins(new_plugin_manager(), ["no_such_adapter"])
    assert "not installed" in str(error.value) and "adapters" in str(error.value)


def test_module_plugins_by_name_and_clear_import_errors() -> None:
    pm = new_plugin_manager()
    assert load_module_plugins(pm, ["tests.fixtures.crash_plugin"]) == [
        "tests.fixtures.crash_plugin"
    ]
    with pytest.raises(ConfigError) as error:
        load_module_plugins(pm, ["no.such.module"])
    assert "cannot be imported" in str(error.value)
