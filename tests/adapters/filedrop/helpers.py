"""Shared helpers for the file-drop tests: corpus files, folders, bounded waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prostop_filedrop.folders import ERROR_SUFFIX, ClaimedFile
from prostop_filedrop.plugin import FiledropPlugin
from prostop_plugin.app import Prostop
from tests.adapters.adapter_fixtures import open_adapter_runtime
from tests.corpus_location import CORPUS

REPO = Path(__file__).resolve().parents[3]
#: one HPRIM médecin, one CDA CR-BIO (same patient: one issuance) and one HL7 v2 (another one)
CORPUS_FILES = ("hprim_rtpcr_positif.hpr", "cda_crbio_positive.xml", "oru_localcode_latin1.hl7")

#: an HPRIM médecin report with a blood glucose only: no COVID evidence
GLUCOSE_HPRIM = (
    "LABO-GARONNE\r\nMARTIN\r\nLUC\r\n3 PLACE DU MARCHE\r\n\r\n24000 PERIGUEUX\r\n02/03/1967\r\n"
    "167032432204539\r\nLG-7710099\r\n19/11/2020\r\nLG01 LABO-GARONNE\r\n"
    "10003456789 DR DURAND CLAIRE\r\n\r\nGlycémie à jeun.\r\n\r\n****LAB****\r\n"
    "RES|Glucose|2345-7|N|5.1|mmol/l|3.9|5.5|N|F\r\n****FIN****\r\n****FINFICHIER****\r\n"
).encode("latin-1")


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def filedrop_section(root: Path, **overrides: Any) -> dict[str, Any]:
    """An ``[adapter.filedrop]`` table with fresh inbox and outbox folders under ``root``."""
    (root / "inbox").mkdir(exist_ok=True)
    (root / "outbox").mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "inbox": str(root / "inbox"), "outbox": str(root / "outbox"),
        "poll_interval": 0.05, "settle_seconds": 0.0,
    }
    return values | overrides


def drop(folder: Path, name: str, data: bytes) -> Path:
    """As a well-behaved sender does: write under a temporary name, then rename."""
    partial = folder / f"{name}.part"
    partial.write_bytes(data)
    target = folder / name
    partial.rename(target)
    return target


def files(folder: Path) -> list[Path]:
    """Every file below ``folder`` except quarantine notes, sorted."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(ERROR_SUFFIX))


def original_names(folder: Path) -> list[str]:
    return sorted(ClaimedFile.at(p).original_name for p in files(folder))


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.02)


class FakeMonotonic:
    """A monotonic clock the test moves by hand (settle times, retry delays)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def open_runtime(tmp_path: Path, section: dict[str, Any], *plugins: object) -> Prostop:
    return open_adapter_runtime(tmp_path, FiledropPlugin(), section, *plugins)
