"""`prostop check` is right on every case of the shared corpus and of our own JSON events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prostop_plugin.cli import main
from tests.corpus_location import CORPUS as SHARED
from tests.corpus_location import SHARED_CORPUS, SNAPSHOT

REPO = Path(__file__).resolve().parents[1]
OURS = Path(__file__).parent / "events"


Case = tuple[str, list[Path], dict[str, Any], str]


def cases(folder: Path) -> list[Case]:
    """(as_of, files, expectation, name); 'NAME@VARIANT' keys carry policy overrides."""
    manifest = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    found: list[Case] = [
        (manifest["as_of"], [folder / name.partition("@")[0]], case, name)
        for name, case in manifest["single_files"].items()
    ]
    found += [
        (manifest["as_of"], [folder / f for f in bundle["files"]], bundle,
         "+".join(bundle["files"]))
        for bundle in manifest.get("bundles", [])
    ]
    return found


ALL = []
if SHARED.exists():
    ALL += [pytest.param(*c, id=f"shared:{c[3]}") for c in cases(SHARED)]
if (OURS / "expected.json").exists():
    ALL += [pytest.param(*c, id=f"ours:{c[3]}") for c in cases(OURS)]


def check_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main(["check", "--json", *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    result: dict[str, Any] = json.loads(out.out)
    return result


def test_the_shared_corpus_is_there() -> None:
    assert (SHARED / "expected.json").is_file(), f"expected the shared corpus at {SHARED}"


@pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason="no ../shared beside this checkout")
def test_the_snapshot_is_the_shared_corpus() -> None:
    """tests/shared_corpus serves bare clones; it must be byte-identical to ../shared/corpus."""
    shared = {p.name: p.read_bytes() for p in SHARED_CORPUS.iterdir() if p.is_file()}
    snapshot = {p.name: p.read_bytes() for p in SNAPSHOT.iterdir() if p.is_file()}
    assert snapshot == shared, "refresh it: cp ../shared/corpus/* tests/shared_corpus/"


@pytest.mark.parametrize(("as_of", "files", "expected", "name"), ALL)
def test_check_decides_like_the_manifest(
    as_of: str, files: list[Path], expected: dict[str, Any], name: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # policy variants go through the environment, as an admin would set them
    for key, value in expected.get("policy", {}).items():
        monkeypatch.setenv(f"PROSTOP_ELIGIBILITY__{key.upper()}", json.dumps(value))
    result = check_json(capsys, "--as-of", as_of, *map(str, files))
    assert result["decision"] == expected["decision"], result["reasons"]
    if "rule" in expected:
        assert result["rule"] == expected["rule"]
    assert result["reasons"] and all(r["fr"] and r["en"] for r in result["reasons"])
    assert isinstance(result["evidence"], list)


def test_check_as_a_real_command_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prostop_plugin.cli", "check", "--as-of", "2020-11-20", "--json",
         str(SHARED / "oru_rtpcr_positive.hl7")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decision"] == "confirmed"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02garbage", "unrecognised format"),
        (b'{"source": {"adapter": "x"}', "not valid JSON"),
        (b'{"schema_version": 1}', "field"),
        (b"MSH|^~\\&|truncated", ""),
        (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", ""),
    ],
    ids=["empty", "binary", "truncated-json", "invalid-event", "truncated-hl7", "xml-entity"],
)
def test_unusable_input_exits_2_with_one_line(
    content: bytes, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.input"
    bad.write_bytes(content)
    code = main(["check", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err and needle in err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope.hl7")]) == 2
    assert "no such file" in capsys.readouterr().err
