"""Opening the runtime: a plugin given both ways is registered once; a new data folder is
private (0700); a runtime that fails to start holds nothing open."""

from __future__ import annotations

import os
import stat
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from prostop_plugin import ConfigError, IssuanceRecord, Prostop, Settings, hookimpl
from prostop_plugin.plugins import DISABLE_AUTOLOAD_ENV


class TwinAdapter:
    """An adapter counting how often each of its hooks is called."""

    def __init__(self) -> None:
        self.configured = 0

    @hookimpl
    def prostop_configure(self, settings: Settings) -> None:
        self.configured += 1

    @hookimpl
    def prostop_write_back(self, record: IssuanceRecord) -> None:
        return None


#: what the fake entry point ``twin = "tests.test_app:TWIN"`` loads
TWIN = TwinAdapter()


@pytest.fixture
def twin_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution declaring ``twin`` in group ``prostop``."""
    point = EntryPoint(name="twin", value="tests.test_app:TWIN", group="prostop")
    monkeypatch.setattr("prostop_plugin.plugins.entry_points", lambda group: [point])
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    TWIN.configured = 0


def hook_owners(runtime: Prostop, hook: str) -> list[object]:
    return [impl.plugin for impl in getattr(runtime.pm.hook, hook).get_hookimpls()]


@pytest.mark.usefixtures("twin_entry_point")
def test_an_adapter_given_by_entry_point_and_in_plugins_is_registered_once(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "var", adapters=["twin"])
    with Prostop.open(settings, plugins=[TWIN]) as runtime:
        assert hook_owners(runtime, "prostop_write_back").count(TWIN) == 1
        assert TWIN.configured == 1
    another = TwinAdapter()  # an instance of the same class, as a host builds its own
    with Prostop.open(settings, plugins=[another]) as runtime:
        owners = hook_owners(runtime, "prostop_write_back")
        assert another in owners and TWIN not in owners
        assert another.configured == 1


@pytest.mark.usefixtures("twin_entry_point")
def test_the_entry_point_alone_registers_the_adapter_under_its_name(tmp_path: Path) -> None:
    with Prostop.open(Settings(data_dir=tmp_path / "var", adapters=["twin"])) as runtime:
        assert runtime.pm.get_plugin("twin") is TWIN
        assert TWIN.configured == 1


def test_the_same_plugin_twice_in_plugins_is_registered_once(tmp_path: Path) -> None:
    twin = TwinAdapter()
    with Prostop.open(Settings(data_dir=tmp_path / "var"), plugins=[twin, twin]) as runtime:
        assert hook_owners(runtime, "prostop_write_back").count(twin) == 1
        assert twin.configured == 1


def test_a_module_plugin_given_both_ways_is_registered_once(tmp_path: Path) -> None:
    from tests.fixtures import crash_plugin

    settings = Settings(data_dir=tmp_path / "var", plugins=["tests.fixtures.crash_plugin"])
    with Prostop.open(settings, plugins=[crash_plugin]) as runtime:
        assert hook_owners(runtime, "prostop_write_back").count(crash_plugin) == 1


def test_a_new_data_folder_is_private_and_an_existing_one_is_left_as_it_is(
    tmp_path: Path,
) -> None:
    previous = os.umask(0o022)  # the usual umask: mkdir would give 0755
    try:
        with Prostop.open(Settings(data_dir=tmp_path / "new" / "var")):
            pass
        existing = tmp_path / "existing"
        existing.mkdir(mode=0o750)
        with Prostop.open(Settings(data_dir=existing)):
            pass
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new" / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE(existing.stat().st_mode) == 0o750


class BadSettingsAdapter:
    @hookimpl
    def prostop_configure(self, settings: Settings) -> None:
        raise ConfigError("setting 'adapter.bad.port' = 70000 is invalid", where="[adapter.bad]")


def open_files_under(folder: Path) -> list[str]:
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_runtime_that_fails_to_start_closes_what_it_opened(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"adapter\.bad\.port") as failed:
        Prostop.open(Settings(data_dir=tmp_path / "var"), plugins=[BadSettingsAdapter()])
    assert failed.value  # the traceback (and the half-built runtime) is still alive here
    assert open_files_under(tmp_path / "var") == []
