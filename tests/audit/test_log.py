"""The audit log on real files: chain, signatures, head anchor, tampering, concurrency, observer."""

from __future__ import annotations

import base64
import functools
import io
import itertools
import json
import multiprocessing
import shutil
import stat
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pluggy
import pytest
from pydantic import SecretStr

from prostop_plugin import hooks
from prostop_plugin.audit import AuditLog
from prostop_plugin.audit.chain import GENESIS_HASH, canonical, entry_hash
from prostop_plugin.audit.plugin import AuditPlugin, record_observer_failure
from prostop_plugin.errors import AuditError
from prostop_plugin.keys import KeyRing, code_fingerprint
from prostop_plugin.models import (
    Coding,
    ConfirmationDecision,
    DiagnosisEvent,
    DiagnosisEvidence,
    EligibilityDecision,
    EventSource,
    IssuanceRecord,
    IssuanceState,
    LocalizedText,
    PatientRef,
    Practitioner,
)
from prostop_plugin.plugins import HookFacade

N = 8


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return KeyRing.open(tmp_path / "keys")


@pytest.fixture
def log(tmp_path: Path, keyring: KeyRing) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl", keyring)


@pytest.fixture
def full_log(log: AuditLog) -> AuditLog:
    for i in range(1, N + 1):
        log.append(actor="system", action=f"test:{i}", issuance_id=f"iss-{i}", details={"i": i})
    return log


def lines_of(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def rewrite(log: AuditLog, change: Callable[[list[str]], list[str]]) -> None:
    log.path.write_text("".join(change(lines_of(log))))


def edit_entry(log: AuditLog, seq: int, **changes: Any) -> None:
    lines = lines_of(log)
    fields = json.loads(lines[seq - 1])
    fields.update(changes)
    lines[seq - 1] = canonical(fields).decode() + "\n"
    log.path.write_text("".join(lines))


def assert_broken(log: AuditLog, first: int | None, *words: str) -> None:
    result = log.verify()
    assert not result.ok
    assert result.first_broken == first, result.problem
    assert result.problem is not None
    for word in words:
        assert word in result.problem


# -- writing and reading -------------------------------------------------------------------------


def test_an_absent_or_empty_log_verifies_with_no_entries(log: AuditLog) -> None:
    assert log.verify() == log.verify().__class__(ok=True, entries_checked=0)
    assert list(log.entries()) == []
    assert log.export(io.StringIO()) == 0
    log.path.touch()
    assert log.verify().ok and log.verify().entries_checked == 0


def test_a_chain_of_entries_verifies(full_log: AuditLog, keyring: KeyRing) -> None:
    entries = list(full_log.entries())
    assert [e.seq for e in entries] == list(range(1, N + 1))
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    first = entries[0]
    assert (first.actor, first.action, first.issuance_id, first.details) == (
        "system", "test:1", "iss-1", {"i": 1},
    )
    assert first.at.utcoffset() == timedelta(0)
    result = full_log.verify()
    assert (result.ok, result.entries_checked, result.first_broken, result.problem) == (
        True, N, None, None,
    )
    head = json.loads(full_log.head_path.read_text())
    assert (head["seq"], head["hash"]) == (N, entries[-1].hash)


def test_the_entry_format(log: AuditLog, keyring: KeyRing) -> None:
    at = datetime(2024, 5, 1, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    entry = log.append(
        actor="810003456789", action="transition:issued", issuance_id="iss-1",
        episode="ep-9f2c", details={"s": "é", "n": 2, "f": 0.5, "b": False, "none": None}, at=at,
    )
    line = lines_of(log)[0]
    fields = json.loads(line)
    assert sorted(fields) == sorted([
        "seq", "at", "actor", "action", "issuance_id", "episode", "details",
        "prev_hash", "hash", "signature",
    ])
    assert fields["at"] == "2024-05-01T09:30:00.000000+00:00"
    assert line == canonical(fields).decode() + "\n"
    assert fields["hash"] == entry_hash(fields) == entry.hash
    assert keyring.verify(fields["hash"].encode(), base64.b64decode(fields["signature"]))
    assert entry.details == {"s": "é", "n": 2, "f": 0.5, "b": False, "none": None}
    for path in (log.path, log.head_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"at": datetime(2024, 5, 1)}, "timezone-aware"),
        ({"details": {"x": [1]}}, "string, number, boolean or None"),
        ({"details": {"x": float("nan")}}, "finite"),
        ({"actor": ""}, "non-empty actor"),
    ],
)
def test_bad_arguments_are_refused(log: AuditLog, kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"actor": "system", "action": "x", **kwargs}
    with pytest.raises(ValueError, match=message):
        log.append(**arguments)
    assert not log.path.exists()


def test_export_writes_the_verified_entries(full_log: AuditLog) -> None:
    out = io.StringIO()
    assert full_log.export(out) == N
    exported = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["seq"] for e in exported] == list(range(1, N + 1))
    assert [e["hash"] for e in exported] == [e.hash for e in full_log.entries()]
    edit_entry(full_log, 5, actor="someone else")
    out = io.StringIO()
    assert full_log.export(out) == 4  # stops before the first broken entry
    assert "someone else" not in out.getvalue()


# -- tampering -----------------------------------------------------------------------------------


def test_an_edited_field_is_caught(full_log: AuditLog) -> None:
    edit_entry(full_log, 3, actor="810009999999")
    assert_broken(full_log, 3, "entry 3 was altered")
    assert full_log.verify().entries_checked == 2


def test_an_edited_detail_is_caught(full_log: AuditLog) -> None:
    rewrite(full_log, lambda lines: [line.replace('{"i":6}', '{"i":7}') for line in lines])
    assert_broken(full_log, 6, "entry 6 was altered")


def test_an_edit_with_a_recomputed_hash_is_caught_by_the_signature(full_log: AuditLog) -> None:
    fields = json.loads(lines_of(full_log)[2])
    fields["action"] = "transition:declined"
    edit_entry(full_log, 3, action=fields["action"], hash=entry_hash(fields))
    assert_broken(full_log, 3, "entry 3 is not signed by this key ring")


def test_a_formatting_only_edit_is_caught(full_log: AuditLog) -> None:
    rewrite(full_log, lambda ls: [*ls[:4], ls[4].replace(",", ", ", 1), *ls[5:]])
    assert_broken(full_log, 5, "line 5 was edited")


@pytest.mark.parametrize("deleted", [1, 4, N - 1])
def test_a_deleted_entry_is_caught(full_log: AuditLog, deleted: int) -> None:
    rewrite(full_log, lambda lines: lines[: deleted - 1] + lines[deleted:])
    assert_broken(full_log, deleted, f"line {deleted} holds entry number {deleted + 1}")


def test_swapped_entries_are_caught(full_log: AuditLog) -> None:
    rewrite(full_log, lambda ls: [*ls[:2], ls[3], ls[2], *ls[4:]])
    assert_broken(full_log, 3, "line 3 holds entry number 4")


@pytest.mark.parametrize("removed", [1, 3])
def test_a_truncated_tail_is_caught(full_log: AuditLog, removed: int) -> None:
    rewrite(full_log, lambda lines: lines[:-removed])
    first = N - removed + 1
    assert_broken(full_log, first, f"ends at entry {N - removed}", f"records {N} entries")
    assert full_log.verify().entries_checked == N - removed
    with pytest.raises(AuditError, match="signed head records 8 entries: entries were removed"):
        full_log.append(actor="system", action="after the cut")


def test_a_log_removed_under_its_head_is_caught(full_log: AuditLog) -> None:
    full_log.path.unlink()
    assert_broken(full_log, 1, "the log is missing or empty", f"records {N} entries")


def test_a_forged_appended_entry_is_caught(full_log: AuditLog, tmp_path: Path) -> None:
    last = list(full_log.entries())[-1]
    forger = KeyRing.open(tmp_path / "forger")
    forged: dict[str, Any] = {
        "seq": N + 1, "at": "2024-05-01T09:30:00.000000+00:00", "actor": "810003456789",
        "action": "transition:declined", "issuance_id": "iss-1", "episode": None,
        "details": {}, "prev_hash": last.hash,
    }
    forged["hash"] = entry_hash(forged)
    forged["signature"] = base64.b64encode(forger.sign(forged["hash"].encode())).decode()
    with full_log.path.open("a") as file:
        file.write(canonical(forged).decode() + "\n")
    assert_broken(full_log, N + 1, f"entry {N + 1} is not signed by this key ring")
    with pytest.raises(AuditError, match="last entry of the log is damaged"):
        full_log.append(actor="system", action="on top of a forgery")


def test_an_older_head_file_is_caught(log: AuditLog) -> None:
    for i in range(5):
        log.append(actor="system", action=f"a{i}")
    old_head = log.head_path.read_bytes()
    for i in range(3):
        log.append(actor="system", action=f"b{i}")
    log.head_path.write_bytes(old_head)
    assert_broken(log, 6, "entries 6 to 8 are not covered by the signed head")


def test_a_forged_head_file_is_caught(full_log: AuditLog, tmp_path: Path) -> None:
    forger = AuditLog(tmp_path / "forged.jsonl", KeyRing.open(tmp_path / "forger"))
    for i in range(N):
        forger.append(actor="system", action=f"test:{i}")
    shutil.copy(forger.head_path, full_log.head_path)
    result = full_log.verify()
    assert (result.ok, result.first_broken, result.entries_checked) == (False, None, N)
    assert "is not signed by this key ring: it was replaced or forged" in (result.problem or "")


def test_a_head_file_of_another_log_is_caught(full_log: AuditLog, keyring: KeyRing) -> None:
    other = AuditLog(full_log.path.with_name("other.jsonl"), keyring)
    for i in range(N):
        other.append(actor="system", action=f"other:{i}")
    shutil.copy(other.head_path, full_log.head_path)
    assert_broken(full_log, N, f"entry {N} is not the one the signed head records")


@pytest.mark.parametrize("content", ["{}", '{"seq": 3}', "not json"])
def test_a_malformed_head_file_is_caught(full_log: AuditLog, content: str) -> None:
    full_log.head_path.write_text(content)
    result = full_log.verify()
    assert (result.ok, result.first_broken) == (False, None)
    assert str(full_log.head_path) in (result.problem or "")


def test_a_deleted_head_file_is_caught(full_log: AuditLog) -> None:
    full_log.head_path.unlink()
    result = full_log.verify()
    assert (result.ok, result.first_broken) == (False, None)
    assert "is missing" in (result.problem or "")
    with pytest.raises(AuditError, match="head file is missing"):
        full_log.append(actor="system", action="x")


@pytest.mark.parametrize(
    ("change", "first", "words"),
    [
        (lambda ls: [ls[0], "not json\n", *ls[2:]], 2, "line 2 is not a valid audit entry"),
        (lambda ls: [*ls[:2], "\n", *ls[2:]], 3, "it is not JSON"),
        (lambda ls: [*ls[:3], "[1, 2]\n", *ls[4:]], 4, "not a JSON object"),
        (lambda ls: [*ls[:-1], ls[-1][:-1]], N, "incomplete"),
        (lambda ls: [ls[0].replace('"seq":1', '"seq":"1"'), *ls[1:]], 1, "seq is not"),
    ],
)
def test_a_malformed_line_is_caught(
    full_log: AuditLog, change: Callable[[list[str]], list[str]], first: int, words: str
) -> None:
    rewrite(full_log, change)
    assert_broken(full_log, first, words)
    with pytest.raises(AuditError, match=f"line {first} is not an audit entry"):
        list(full_log.entries())


def test_an_interrupted_append_is_reported_then_completed(log: AuditLog) -> None:
    log.append(actor="system", action="one")
    head_before = log.head_path.read_bytes()
    log.append(actor="system", action="two")
    log.head_path.write_bytes(head_before)  # as if the process died before the head update
    assert_broken(log, 2, "the last append was interrupted")
    log.append(actor="system", action="three")
    assert log.verify().ok and log.verify().entries_checked == 3


def test_a_crash_during_the_very_first_append_is_recoverable(log: AuditLog) -> None:
    log.append(actor="system", action="one")
    log._write_head(0, GENESIS_HASH)  # the empty log's head, written before the first line
    assert_broken(log, 1, "the last append was interrupted")
    log.append(actor="system", action="two")
    assert log.verify().ok and log.verify().entries_checked == 2


# -- concurrency ---------------------------------------------------------------------------------


def _append_many(key_dir: str, log_path: str, worker: int, count: int, start: Any) -> None:
    log = AuditLog(Path(log_path), KeyRing.open(Path(key_dir), create=False))
    start.wait()
    for i in range(count):
        log.append(actor=f"worker-{worker}", action="concurrent", details={"i": i})


def test_processes_appending_at_once_keep_every_entry_and_the_chain(
    tmp_path: Path, keyring: KeyRing, log: AuditLog
) -> None:
    workers, each = 4, 50
    context = multiprocessing.get_context("fork")
    start = context.Barrier(workers)
    processes = [
        context.Process(
            target=_append_many,
            args=(str(tmp_path / "keys"), str(log.path), worker, each, start),
        )
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    result = log.verify()
    assert (result.ok, result.entries_checked) == (True, workers * each), result.problem
    seen = sorted((e.actor, e.details["i"]) for e in log.entries())
    assert seen == sorted((f"worker-{w}", i) for w in range(workers) for i in range(each))


def test_threads_appending_at_once_keep_every_entry(log: AuditLog) -> None:
    def append_some(worker: int) -> None:
        for i in range(25):
            log.append(actor=f"thread-{worker}", action="concurrent", details={"i": i})

    threads = [threading.Thread(target=append_some, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.verify() == log.verify().__class__(ok=True, entries_checked=100)


# -- the observer plugin -------------------------------------------------------------------------

CODE = "ZX81QW"


def make_record(**changes: Any) -> IssuanceRecord:
    event = DiagnosisEvent(
        source=EventSource(adapter="filedrop", host="cabinet-1", message_id="MSG-1"),
        patient=PatientRef(host_patient_id="P-42", family_name="MARTIN", given_name="Anne"),
        evidence=[DiagnosisEvidence(code=Coding(code="U07.1", system="I10"))],
    )
    fields: dict[str, Any] = {
        "id": "iss-7", "episode": "ep-3a1f", "state": IssuanceState.AWAITING_CONFIRMATION,
        "event": event,
        "decision": EligibilityDecision(
            decision="confirmed", rule="diagnosis_u07_1", reasons=[], as_of=date(2024, 5, 1)
        ),
    }
    fields.update(changes)
    return IssuanceRecord(**fields)


def plugin_manager(log: AuditLog) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hooks.PROJECT_NAME)
    pm.add_hookspecs(hooks)
    pm.register(AuditPlugin(log), name="audit")
    return pm


def test_the_observer_writes_one_entry_per_transition(log: AuditLog) -> None:
    hook = plugin_manager(log).hook.prostop_issuance_changed
    hook(record=make_record(state=IssuanceState.RECEIVED, decision=None), previous=None)
    hook(record=make_record(), previous=IssuanceState.RECEIVED)
    practitioner = Practitioner(national_id="810003456789")
    hook(
        record=make_record(
            state=IssuanceState.ISSUE_FAILED,
            confirmation=ConfirmationDecision(approved=True, practitioner=practitioner),
            error=LocalizedText(fr="service indisponible", en="service unavailable"),
        ),
        previous=IssuanceState.ISSUING,
    )
    received, awaiting, failed = log.entries()
    assert (received.actor, received.action, received.issuance_id, received.episode) == (
        "system", "transition:received", "iss-7", "ep-3a1f",
    )
    assert received.details == {"previous": None}
    assert awaiting.action == "transition:awaiting_confirmation"
    assert awaiting.details == {
        "previous": "received", "decision": "confirmed", "rule": "diagnosis_u07_1",
    }
    assert (failed.actor, failed.action) == ("810003456789", "transition:issue_failed")
    assert failed.details["previous"] == "issuing"
    assert failed.details["error"] == "service unavailable"
    assert log.verify().ok


def test_the_observer_never_writes_the_code(
    log: AuditLog, keyring: KeyRing, tmp_path: Path
) -> None:
    digest, last2 = code_fingerprint(keyring, CODE)
    record = make_record(
        state=IssuanceState.ISSUED, code=SecretStr(CODE), code_digest=digest, code_last2=last2,
        issued_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    )
    plugin_manager(log).hook.prostop_issuance_changed(
        record=record, previous=IssuanceState.ISSUING
    )
    (entry,) = log.entries()
    assert entry.details["code_digest"] == digest
    assert entry.details["code_last2"] == "QW"
    written = b"".join(p.read_bytes() for p in tmp_path.glob("audit.jsonl*"))
    assert CODE.encode() not in written and CODE.lower().encode() not in written
    # nor the patient's name: the record carries it, the audit must not
    assert b"MARTIN" not in written


def test_an_observer_failure_is_audited(log: AuditLog) -> None:
    record_observer_failure(log, "stats", "prostop_issuance_changed", KeyError("oops"))
    (entry,) = log.entries()
    assert (entry.actor, entry.action) == ("system", "observer_failed")
    assert entry.details == {
        "plugin": "stats", "hook": "prostop_issuance_changed",
        "exception": "KeyError", "message": "'oops'",
    }


class _BrokenObserver:
    @hooks.hookimpl
    def prostop_issuance_changed(
        self, record: IssuanceRecord, previous: IssuanceState | None
    ) -> None:
        raise AuditError("disk full")


def test_the_facade_audits_a_failing_observer(log: AuditLog) -> None:
    pm = plugin_manager(log)
    pm.register(_BrokenObserver(), name="printer")
    facade = HookFacade(pm, on_observer_error=functools.partial(record_observer_failure, log))
    facade.issuance_changed(make_record(), IssuanceState.RECEIVED)
    actions = sorted((e.action, e.details.get("plugin")) for e in log.entries())
    assert actions == [("observer_failed", "printer"), ("transition:awaiting_confirmation", None)]
    failure = next(e for e in log.entries() if e.action == "observer_failed")
    assert failure.details["exception"] == "prostop_plugin.errors.AuditError"
