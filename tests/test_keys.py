"""Key files, encryption, digests and signatures, on real files."""

from __future__ import annotations

import multiprocessing
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import SecretStr

from prostop_plugin.errors import DecryptionError, KeyFileError
from prostop_plugin.keys import (
    CODE_DIGEST_PURPOSE,
    DIGEST_KEY_FILE,
    ENCRYPTION_KEY_FILE,
    PUBLIC_KEY_FILE,
    SECRET_KEY_FILES,
    SIGNING_KEY_FILE,
    KeyRing,
    code_fingerprint,
    publish_file,
)


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def keyring(key_dir: Path) -> KeyRing:
    return KeyRing.open(key_dir)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def key_material(key_dir: Path) -> list[str]:
    """Every spelling of key bytes an error or repr could leak."""
    shown: list[str] = []
    for name in SECRET_KEY_FILES:
        data = (key_dir / name).read_bytes()
        shown += [data.hex(), repr(data)[2:-1]]
        if name == SIGNING_KEY_FILE:
            shown.append(data.decode().splitlines()[1])
    return shown


# -- creation ------------------------------------------------------------------------------------


def test_open_creates_private_key_files(keyring: KeyRing, key_dir: Path) -> None:
    assert mode_of(key_dir) == 0o700
    for name in (*SECRET_KEY_FILES, PUBLIC_KEY_FILE):
        assert mode_of(key_dir / name) == 0o600, name
    assert len((key_dir / ENCRYPTION_KEY_FILE).read_bytes()) == 32
    assert len((key_dir / DIGEST_KEY_FILE).read_bytes()) == 32
    assert (key_dir / SIGNING_KEY_FILE).read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (key_dir / PUBLIC_KEY_FILE).read_text() == keyring.public_key_pem()
    assert not [p for p in key_dir.iterdir() if p.name.endswith(".tmp")]


def test_reopening_uses_the_same_keys(keyring: KeyRing, key_dir: Path) -> None:
    blob = keyring.encrypt(b"AB12CD", context=b"code:1")
    again = KeyRing.open(key_dir, create=False)
    assert again.decrypt(blob, context=b"code:1") == b"AB12CD"
    assert again.digest("x", purpose="p") == keyring.digest("x", purpose="p")
    assert again.public_key_pem() == keyring.public_key_pem()


def test_create_false_on_an_empty_directory_says_no_key_ring(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="no key ring in this directory"):
        KeyRing.open(key_dir, create=False)
    assert list(key_dir.iterdir()) == []


def test_create_false_on_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        KeyRing.open(tmp_path / "nowhere", create=False)


@pytest.mark.parametrize("create", [True, False])
def test_a_lost_key_is_never_silently_replaced(key_dir: Path, create: bool) -> None:
    KeyRing.open(key_dir)
    (key_dir / ENCRYPTION_KEY_FILE).unlink()
    with pytest.raises(KeyFileError) as caught:
        KeyRing.open(key_dir, create=create)
    message = str(caught.value)
    assert str(key_dir / ENCRYPTION_KEY_FILE) in message
    assert "restore it from backup: data encrypted with the lost key cannot be read" in message
    assert not (key_dir / ENCRYPTION_KEY_FILE).exists()


def test_a_missing_public_key_is_rewritten_from_the_private_key(
    keyring: KeyRing, key_dir: Path
) -> None:
    (key_dir / PUBLIC_KEY_FILE).unlink()
    with pytest.raises(KeyFileError, match=re.escape(PUBLIC_KEY_FILE)):
        KeyRing.open(key_dir, create=False)
    KeyRing.open(key_dir)
    assert (key_dir / PUBLIC_KEY_FILE).read_text() == keyring.public_key_pem()


def test_a_public_key_of_another_ring_is_refused(key_dir: Path, tmp_path: Path) -> None:
    KeyRing.open(key_dir)
    other = KeyRing.open(tmp_path / "other")
    (key_dir / PUBLIC_KEY_FILE).write_text(other.public_key_pem())
    with pytest.raises(KeyFileError, match=r"does not match signing-key\.pem"):
        KeyRing.open(key_dir)


def _open_and_report(key_dir: str, start: Any, results: Any) -> None:
    start.wait()
    keyring = KeyRing.open(Path(key_dir))
    results.put((
        keyring.public_key_pem(),
        keyring.digest("same", purpose="race"),
        keyring.encrypt(b"from a racer", context=b"race"),
    ))


def test_processes_opening_an_empty_directory_together_share_the_keys(tmp_path: Path) -> None:
    key_dir = tmp_path / "new" / "keys"  # even the directory does not exist yet
    context = multiprocessing.get_context("fork")
    racers = 6
    start, results = context.Barrier(racers), context.Queue()
    processes = [
        context.Process(target=_open_and_report, args=(str(key_dir), start, results))
        for _ in range(racers)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=20) for _ in processes]
    for process in processes:
        process.join(timeout=20)
        assert process.exitcode == 0
    keyring = KeyRing.open(key_dir, create=False)
    assert {pem for pem, _, _ in reports} == {keyring.public_key_pem()}
    assert {digest for _, digest, _ in reports} == {keyring.digest("same", purpose="race")}
    for _, _, blob in reports:
        assert keyring.decrypt(blob, context=b"race") == b"from a racer"
    assert sorted(p.name for p in key_dir.iterdir() if not p.name.startswith(".")) == sorted(
        (*SECRET_KEY_FILES, PUBLIC_KEY_FILE)
    )


def test_publishing_a_key_file_keeps_the_first_writer(tmp_path: Path) -> None:
    path = tmp_path / "k"
    publish_file(path, b"first")
    publish_file(path, b"second")  # a racer that lost: its content is dropped, not written
    assert path.read_bytes() == b"first"
    assert mode_of(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k"]  # no temporary file left


# -- refusing bad key files ----------------------------------------------------------------------


@pytest.mark.parametrize("name", SECRET_KEY_FILES)
def test_a_key_readable_by_others_is_refused_with_the_chmod_fix(
    keyring: KeyRing, key_dir: Path, name: str
) -> None:
    path = key_dir / name
    path.chmod(0o644)
    with pytest.raises(KeyFileError) as caught:
        KeyRing.open(key_dir)
    message = str(caught.value)
    assert str(path) in message
    assert "accessible to other users (mode 0644)" in message
    assert f"chmod 600 {path}" in message
    assert not any(secret in message for secret in key_material(key_dir))


def test_a_key_directory_writable_by_others_is_refused(keyring: KeyRing, key_dir: Path) -> None:
    key_dir.chmod(0o777)
    with pytest.raises(KeyFileError, match=re.escape(f"chmod 700 {key_dir}")):
        KeyRing.open(key_dir)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (ENCRYPTION_KEY_FILE, b"short", "holds 5 bytes, expected 32"),
        (DIGEST_KEY_FILE, os.urandom(33), "holds 33 bytes, expected 32"),
        (SIGNING_KEY_FILE, b"-----BEGIN PRIVATE KEY-----\nnot a key\n", "not an unencrypted"),
    ],
)
def test_a_malformed_key_file_is_refused(
    keyring: KeyRing, key_dir: Path, name: str, content: bytes, expected: str
) -> None:
    (key_dir / name).write_bytes(content)
    with pytest.raises(KeyFileError, match=expected) as caught:
        KeyRing.open(key_dir)
    assert str(key_dir / name) in str(caught.value)
    assert "restore" in str(caught.value)


def test_a_signing_key_of_another_algorithm_is_refused(keyring: KeyRing, key_dir: Path) -> None:
    ec_pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (key_dir / SIGNING_KEY_FILE).write_bytes(ec_pem)
    with pytest.raises(KeyFileError, match="expected an Ed25519 private key"):
        KeyRing.open(key_dir)


def test_a_key_path_that_is_not_a_file_is_refused(keyring: KeyRing, key_dir: Path) -> None:
    (key_dir / DIGEST_KEY_FILE).unlink()
    (key_dir / DIGEST_KEY_FILE).mkdir()
    with pytest.raises(KeyFileError, match="not a regular file"):
        KeyRing.open(key_dir)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key_is_refused(keyring: KeyRing, key_dir: Path) -> None:
    (key_dir / DIGEST_KEY_FILE).chmod(0o000)
    with pytest.raises(KeyFileError, match="cannot read the key file"):
        KeyRing.open(key_dir)


def test_repr_shows_no_key_material(keyring: KeyRing, key_dir: Path) -> None:
    assert repr(keyring) == f"KeyRing({str(key_dir)!r})"
    assert not any(secret in repr(vars(keyring)) for secret in key_material(key_dir))


# -- encryption ----------------------------------------------------------------------------------


def test_round_trip_with_a_fresh_nonce_each_time(keyring: KeyRing) -> None:
    first = keyring.encrypt(b"AB12CD", context=b"code:42")
    second = keyring.encrypt(b"AB12CD", context=b"code:42")
    assert first != second
    assert first[0] == 1  # format version
    assert len(first) == 1 + 12 + 6 + 16
    assert b"AB12CD" not in first
    assert keyring.decrypt(first, context=b"code:42") == b"AB12CD"
    assert keyring.decrypt(keyring.encrypt(b"", context=b""), context=b"") == b""


def test_a_wrong_context_is_refused(keyring: KeyRing) -> None:
    blob = keyring.encrypt(b"AB12CD", context=b"code:42")
    with pytest.raises(DecryptionError, match="another key file, or it was altered"):
        keyring.decrypt(blob, context=b"code:43")


def test_another_key_ring_cannot_decrypt(keyring: KeyRing, key_dir: Path, tmp_path: Path) -> None:
    blob = keyring.encrypt(b"AB12CD", context=b"code:42")
    with pytest.raises(DecryptionError) as caught:
        KeyRing.open(tmp_path / "other").decrypt(blob, context=b"code:42")
    assert "another key file" in str(caught.value)
    assert "restore encryption.key from backup" in str(caught.value)


@pytest.mark.parametrize("position", [0, 1, 12, 13, -1])  # version, nonce, body, tag
def test_a_changed_byte_is_refused(keyring: KeyRing, position: int) -> None:
    blob = bytearray(keyring.encrypt(b"AB12CD", context=b"c"))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError, match="stored data cannot be decrypted"):
        keyring.decrypt(bytes(blob), context=b"c")


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + bytes(28)])
def test_truncated_data_is_refused(keyring: KeyRing, blob: bytes) -> None:
    with pytest.raises(DecryptionError, match="stored data cannot be decrypted"):
        keyring.decrypt(blob, context=b"c")


# -- digests and signatures ----------------------------------------------------------------------


def test_digest_is_stable_keyed_and_purpose_separated(
    keyring: KeyRing, key_dir: Path, tmp_path: Path
) -> None:
    digest = keyring.digest("AB12CD", purpose="code")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert KeyRing.open(key_dir).digest("AB12CD", purpose="code") == digest
    assert keyring.digest("AB12CD", purpose="episode") != digest
    assert keyring.digest("AB12CE", purpose="code") != digest
    assert KeyRing.open(tmp_path / "other").digest("AB12CD", purpose="code") != digest
    # the purpose/value boundary is part of what is hashed
    assert keyring.digest("bc", purpose="a") != keyring.digest("c", purpose="ab")
    with pytest.raises(ValueError, match="purpose"):
        keyring.digest("AB12CD", purpose="")


def test_sign_and_verify(keyring: KeyRing, tmp_path: Path) -> None:
    signature = keyring.sign(b"entry hash")
    assert len(signature) == 64
    assert keyring.verify(b"entry hash", signature)
    assert not keyring.verify(b"entry hash!", signature)
    assert not keyring.verify(b"entry hash", signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not keyring.verify(b"entry hash", b"too short")
    assert not KeyRing.open(tmp_path / "other").verify(b"entry hash", signature)
    # an outside verifier needs only the published public key
    public = serialization.load_pem_public_key(keyring.public_key_pem().encode())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(signature, b"entry hash")


def test_code_fingerprint_is_a_keyed_digest_and_the_last_two(keyring: KeyRing) -> None:
    digest, last2 = code_fingerprint(keyring, "AB12CD")
    assert last2 == "CD"
    assert digest == keyring.digest("AB12CD", purpose=CODE_DIGEST_PURPOSE)
    assert "AB12CD" not in digest
    assert code_fingerprint(keyring, SecretStr("AB12CD")) == (digest, last2)
    assert code_fingerprint(keyring, "ab12cd") == (digest, last2)  # codes are A-Z0-9
    with pytest.raises(ValueError, match="at least 6 characters") as caught:
        code_fingerprint(keyring, "AB1")
    assert "AB1" not in str(caught.value)
