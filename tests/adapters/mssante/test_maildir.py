"""``intake = "maildir"``: the application mailbox read from a local Maildir (the demo's local
mail server, a mailbox delivered on prostop's machine) with the same service as IMAPS — read,
record, move to the handled folder only once durable, quarantine with one note."""

from __future__ import annotations

import email
import email.policy
import mailbox
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prostop_mssante.mailbox import MailboxError
from prostop_mssante.maildir import LocalMailbox
from prostop_mssante.service import MailboxService, describe
from prostop_mssante.settings import load_mssante_settings, parse_mssante_settings
from prostop_plugin.app import Prostop
from prostop_plugin.errors import ConfigError
from tests.adapters.mssante.helpers import (
    APP_ADDRESS,
    CRBIO,
    PHYSICIAN_ADDRESS,
    RPPS,
    corpus,
    lab_message,
    lab_package,
    open_runtime,
)

QUARANTINE = ".prostop-quarantaine"
HANDLED = ".prostop-traites"


def maildir_section(root: Path, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "address": APP_ADDRESS, "password": "x", "intake": "maildir", "maildir": str(root),
        "smtp_host": "127.0.0.1", "recipients": {RPPS: PHYSICIAN_ADDRESS},
        "poll_interval": 0.1,
    }
    return values | overrides


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "mail" / APP_ADDRESS
    path.parent.mkdir(parents=True)
    mailbox.Maildir(path, create=True)
    return path


@pytest.fixture
def runtime(tmp_path: Path, root: Path) -> Iterator[Prostop]:
    with open_runtime(tmp_path, maildir_section(root)) as app:
        yield app


@pytest.fixture
def service(runtime: Prostop) -> MailboxService:
    return MailboxService(runtime, load_mssante_settings(runtime.settings))


def deliver(root: Path, raw: bytes) -> Path:
    key = mailbox.Maildir(root, create=False).add(raw)
    return root / "new" / key


def files(folder: Path) -> list[Path]:
    return sorted(p for sub in ("new", "cur") for p in (folder / sub).iterdir())


def test_a_crbio_positive_is_recorded_then_moved_to_the_handled_folder(
    root: Path, runtime: Prostop, service: MailboxService
) -> None:
    raw = lab_message(lab_package(corpus(CRBIO)))
    delivered = deliver(root, raw)
    assert service.name == describe(service.config) and "maildir" in service.name
    assert service.poll_once() == 1
    assert runtime.ledger.event_count() == 1
    assert files(root) == []
    [kept] = files(root / HANDLED)
    assert kept.read_bytes() == raw and kept.name == f"{delivered.name}:2,"
    [request] = runtime.engine.pending()
    assert runtime.ledger.get(request.issuance_id).event.source.adapter == "mssante"
    assert service.poll_once() == 0
    deliver(root, lab_message(lab_package(corpus(CRBIO)), message_id="<resent@x>"))
    assert service.poll_once() == 1
    assert runtime.ledger.event_count() == 1, "the lab's resend is the same document"


def test_an_unusable_message_is_quarantined_beside_one_note(
    root: Path, runtime: Prostop, service: MailboxService, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = lab_message(None)  # no IHE_XDM.ZIP
    deliver(root, raw)
    calls: list[int] = []

    def crash_before_move(self: LocalMailbox, uid: int, name: str) -> None:
        calls.append(uid)
        raise MailboxError("disk unplugged", where="test")

    with monkeypatch.context() as patch:
        patch.setattr(LocalMailbox, "_move", crash_before_move)
        with pytest.raises(MailboxError):
            service.poll_once()
    assert calls and len(files(root / QUARANTINE)) == 1  # the note only
    assert len(files(root)) == 1  # the message is still in the inbox
    assert service.poll_once() == 1  # the note is found again: not written twice
    assert files(root) == []
    quarantined = files(root / QUARANTINE)
    assert len(quarantined) == 2 and runtime.ledger.event_count() == 0
    notes = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in quarantined]
    [note] = [m for m in notes if m["X-Prostop-Note-For"]]
    assert "no IHE_XDM.ZIP attachment" in note.get_body(("plain",)).get_content()
    assert note["In-Reply-To"] == "<crbio-7710050@labo-garonne.mssante.fr>"
    assert raw in [p.read_bytes() for p in quarantined], "moved byte for byte, never deleted"


def test_an_oversize_message_is_quarantined_unread(tmp_path: Path, root: Path) -> None:
    with open_runtime(tmp_path, maildir_section(root, max_message_bytes=1000)) as runtime:
        service = MailboxService(runtime, load_mssante_settings(runtime.settings))
        deliver(root, lab_message(lab_package(corpus(CRBIO))))
        assert service.poll_once() == 1
        assert runtime.ledger.event_count() == 0
    assert len(files(root / QUARANTINE)) == 2


def test_a_folder_that_is_not_a_maildir_stops_the_service_at_start(
    tmp_path: Path, root: Path
) -> None:
    with open_runtime(tmp_path, maildir_section(tmp_path / "nowhere")) as runtime:
        service = MailboxService(runtime, load_mssante_settings(runtime.settings))
        with pytest.raises(ConfigError, match="is not a Maildir"):
            service.start()


def test_settings_of_the_two_intakes(root: Path) -> None:
    assert parse_mssante_settings(maildir_section(root)).intake == "maildir"
    with pytest.raises(ConfigError, match="set imap_host"):
        parse_mssante_settings(maildir_section(root, intake="imap"))
    with pytest.raises(ConfigError, match="needs maildir"):
        parse_mssante_settings(maildir_section(root, maildir=None))
    with pytest.raises(ConfigError, match="absolute"):
        parse_mssante_settings(maildir_section(root, maildir="mail/box"))
    with pytest.raises(ConfigError, match="three different folders"):
        parse_mssante_settings(maildir_section(root, handled_folder="INBOX"))
