"""Key files and what they protect: at-rest encryption, keyed digests, signatures.

One directory holds the key ring (``Settings.key_dir``):

=======================  ============================================================
``encryption.key``       32 random bytes, AES-256-GCM: codes stored in the ledger
``digest.key``           32 random bytes, HMAC-SHA256: keyed digests (code fingerprints)
``signing-key.pem``      Ed25519 private key, PKCS#8 PEM, unencrypted: audit signatures
``signing-key.pub.pem``  its public key, SubjectPublicKeyInfo PEM (for outside verifiers)
``.keyring.lock``        empty; ``flock`` target while a new key ring is created
=======================  ============================================================

Files are created ``0600`` in a ``0700`` directory, and refused when other users can read
them. Creation is race-safe: each file is written under a temporary name, then hard-linked
into place (which fails if the name exists) and read back, all under a lock file, so processes
starting together on an empty directory end up with the same keys.

Losing a key is not recoverable (data encrypted with it cannot be read), so once a key ring
exists, a missing key file is an error, never silently replaced: back the directory up.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from prostop_plugin.errors import DecryptionError, KeyFileError
from prostop_plugin.fileio import fsync_directory

ENCRYPTION_KEY_FILE = "encryption.key"
DIGEST_KEY_FILE = "digest.key"
SIGNING_KEY_FILE = "signing-key.pem"
PUBLIC_KEY_FILE = "signing-key.pub.pem"
LOCK_FILE = ".keyring.lock"
#: the files that cannot be re-derived: all exist, or none (a fresh key ring)
SECRET_KEY_FILES = (ENCRYPTION_KEY_FILE, DIGEST_KEY_FILE, SIGNING_KEY_FILE)

SYMMETRIC_KEY_SIZE = 32
#: first byte of every ciphertext, so the format can change without guessing
CIPHERTEXT_VERSION = 1
NONCE_SIZE = 12  # 96 bits, the GCM standard nonce
TAG_SIZE = 16
#: key files are tiny; never read more than this from a path someone got wrong
MAX_KEY_FILE_SIZE = 64 * 1024

CODE_DIGEST_PURPOSE = "declaration-code"
MIN_CODE_LENGTH = 6

#: what losing each file costs, said in the error that reports it missing
_LOSS = {
    ENCRYPTION_KEY_FILE: "data encrypted with the lost key cannot be read",
    DIGEST_KEY_FILE: "digests made with the lost key can no longer be matched",
    SIGNING_KEY_FILE: "audit entries signed with the lost key can no longer be verified",
}


class KeyRing:
    """The keys of one key directory; get one with :meth:`open`.

    ``repr`` and errors never show key material.
    """

    def __init__(
        self,
        key_dir: Path,
        *,
        encryption_key: bytes,
        digest_key: bytes,
        signing_key: Ed25519PrivateKey,
    ) -> None:
        self.key_dir = key_dir
        self._aead = AESGCM(encryption_key)
        # a prepared HMAC state, copied per digest: the raw key is not kept as an attribute
        self._digest_mac = hmac.new(digest_key, digestmod=hashlib.sha256)
        self._signing_key = signing_key
        self._public_key = signing_key.public_key()

    def __repr__(self) -> str:
        return f"KeyRing({str(self.key_dir)!r})"

    @classmethod
    def open(cls, key_dir: Path, *, create: bool = True) -> KeyRing:
        """Load the key ring in ``key_dir``, creating it when absent and ``create`` is true.

        :raises KeyFileError: a key file is missing, unreadable, malformed or readable by
            other users; the message names the file and the fix.
        """
        key_dir = Path(key_dir)
        _prepare_directory(key_dir, create=create)
        missing = [name for name in SECRET_KEY_FILES if not os.path.lexists(key_dir / name)]
        if missing:
            if not create:
                raise _missing_error(key_dir, missing)
            with _exclusive_lock(key_dir / LOCK_FILE):
                _create_secret_files(key_dir)
        signing_key = _load_signing_key(key_dir / SIGNING_KEY_FILE)
        _check_public_key_file(key_dir / PUBLIC_KEY_FILE, signing_key, create=create)
        return cls(
            key_dir,
            encryption_key=_load_symmetric_key(key_dir / ENCRYPTION_KEY_FILE),
            digest_key=_load_symmetric_key(key_dir / DIGEST_KEY_FILE),
            signing_key=signing_key,
        )

    # -- encryption ------------------------------------------------------------------------

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes:
        """AES-256-GCM with a random nonce: ``version (1) | nonce (12) | ciphertext+tag``.

        ``context`` (e.g. ``b"ledger:code:<issuance id>"``) is authenticated, not stored:
        a blob decrypts only with the same context, so it cannot be moved to another record.
        """
        nonce = os.urandom(NONCE_SIZE)
        version = bytes([CIPHERTEXT_VERSION])
        return version + nonce + self._aead.encrypt(nonce, plaintext, version + context)

    def decrypt(self, blob: bytes, *, context: bytes) -> bytes:
        """:raises DecryptionError: wrong key file, wrong context, or altered data."""
        if len(blob) < 1 + NONCE_SIZE + TAG_SIZE:
            raise self._decryption_error("the data is too short to be an encrypted value")
        if blob[0] != CIPHERTEXT_VERSION:
            raise self._decryption_error(f"unknown encryption format version {blob[0]}")
        nonce, sealed = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
        try:
            return self._aead.decrypt(nonce, sealed, blob[:1] + context)
        except InvalidTag:
            raise self._decryption_error(
                "the data was encrypted with another key file, or it was altered (or moved "
                "from another record)"
            ) from None

    def _decryption_error(self, reason: str) -> DecryptionError:
        return DecryptionError(
            f"stored data cannot be decrypted: {reason}",
            where=str(self.key_dir / ENCRYPTION_KEY_FILE),
            fix="use the key directory this data was written with (restore encryption.key "
            "from backup if it was replaced); altered data cannot be recovered",
        )

    # -- digests ---------------------------------------------------------------------------

    def digest(self, value: str, *, purpose: str) -> str:
        """Keyed HMAC-SHA256 of ``value``, hex; ``purpose`` separates domains.

        The same value gives unrelated digests under two purposes, so a digest made for one
        use cannot be matched against another's.
        """
        if not purpose:
            raise ValueError("digest() needs a non-empty purpose")
        mac = self._digest_mac.copy()
        label = purpose.encode("utf-8")
        # length prefix: ("ab", "c") and ("a", "bc") must not hash the same bytes
        mac.update(len(label).to_bytes(4, "big") + label + value.encode("utf-8"))
        return mac.hexdigest()

    # -- signatures ------------------------------------------------------------------------

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature (64 bytes)."""
        return self._signing_key.sign(data)

    def verify(self, data: bytes, signature: bytes) -> bool:
        try:
            self._public_key.verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def public_key_pem(self) -> str:
        return _public_pem(self._signing_key).decode("ascii")


def code_fingerprint(keyring: KeyRing, code: str | SecretStr) -> tuple[str, str]:
    """``(keyed digest, last two characters)`` of a declaration code.

    The only form in which a code may appear in logs and the audit. Codes are drawn from
    ``A-Z0-9``; the code is upper-cased first so a code typed in lower case still matches.
    """
    clear = (code.get_secret_value() if isinstance(code, SecretStr) else code).strip().upper()
    if len(clear) < MIN_CODE_LENGTH:
        # never echo the value: it may be a real code cut short
        raise ValueError(f"a declaration code has at least {MIN_CODE_LENGTH} characters")
    return keyring.digest(clear, purpose=CODE_DIGEST_PURPOSE), clear[-2:]


# -- the directory -------------------------------------------------------------------------


def _prepare_directory(key_dir: Path, *, create: bool) -> None:
    if create and not key_dir.is_dir():
        try:
            key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(key_dir, 0o700)  # mkdir's mode goes through the umask
        except OSError as exc:
            raise KeyFileError(
                f"cannot create the key directory ({exc.strerror})",
                where=str(key_dir),
                fix="create it (mkdir -m 700) or choose a writable data_dir",
            ) from exc
    try:
        mode = key_dir.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(
            "the key directory does not exist",
            where=str(key_dir),
            fix="point data_dir to the directory holding keys/, or allow creating a new key ring",
        ) from None
    except OSError as exc:
        raise KeyFileError(
            f"cannot access the key directory ({exc.strerror})", where=str(key_dir),
            fix="run prostop as the user owning the key directory",
        ) from exc
    if not stat.S_ISDIR(mode):
        raise KeyFileError(
            "the key directory is not a directory", where=str(key_dir),
            fix="point data_dir to a directory; keys are kept in its keys/ folder",
        )
    if mode & 0o022:
        # whoever can write here can swap the keys
        raise KeyFileError(
            f"the key directory is writable by other users (mode {stat.S_IMODE(mode):04o})",
            where=str(key_dir),
            fix=f"chmod 700 {key_dir}",
        )


def _missing_error(key_dir: Path, missing: list[str]) -> KeyFileError:
    if len(missing) == len(SECRET_KEY_FILES):
        return KeyFileError(
            "no key ring in this directory",
            where=str(key_dir),
            fix="point data_dir to the directory holding the keys, or allow creating a new "
            "key ring (only for a new installation)",
        )
    name = missing[0]
    return KeyFileError(
        "the key file is missing",
        where=str(key_dir / name),
        fix=f"restore it from backup: {_LOSS[name]}",
    )


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise KeyFileError(
            f"cannot create the key ring's lock file ({exc.strerror})", where=str(path),
            fix="make the key directory writable by the user running prostop",
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _create_secret_files(key_dir: Path) -> None:
    """Create a fresh key ring. Called under the directory lock; a partial ring is an error."""
    present = [name for name in SECRET_KEY_FILES if os.path.lexists(key_dir / name)]
    if len(present) == len(SECRET_KEY_FILES):
        return  # another process created it while we waited for the lock
    if present:
        missing = [name for name in SECRET_KEY_FILES if name not in present]
        raise _missing_error(key_dir, missing)
    signing_pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    publish_file(key_dir / ENCRYPTION_KEY_FILE, os.urandom(SYMMETRIC_KEY_SIZE))
    publish_file(key_dir / DIGEST_KEY_FILE, os.urandom(SYMMETRIC_KEY_SIZE))
    publish_file(key_dir / SIGNING_KEY_FILE, signing_pem)


def publish_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` only if it does not exist, never showing a partial file.

    The content is written and synced under a temporary name, then hard-linked into place:
    ``link`` fails when the name exists, so the first writer wins and everyone re-reads it.
    """
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(temp_name, path)
    except OSError as exc:
        raise KeyFileError(
            f"cannot write the key file ({exc.strerror})", where=str(path),
            fix="make the key directory writable by the user running prostop",
        ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
    fsync_directory(path.parent)




# -- reading key files ---------------------------------------------------------------------


def _read_key_file(path: Path, *, secret: bool = True) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if path.name in _LOSS:
            raise _missing_error(path.parent, [path.name]) from None
        raise KeyFileError(
            "the key file is missing", where=str(path),
            fix=f"allow creating a key ring here: it is rewritten from {SIGNING_KEY_FILE}",
        ) from None
    except OSError as exc:
        raise KeyFileError(
            f"cannot read the key file ({exc.strerror})", where=str(path),
            fix=f"make it readable by the user running prostop: chown that user {path}, "
            f"then chmod 600 {path}",
        ) from exc
    try:
        info = os.fstat(fd)  # checks the file actually opened, not the name
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(
                "the key file is not a regular file", where=str(path),
                fix="restore the key file from backup",
            )
        mode = stat.S_IMODE(info.st_mode)
        if secret and mode & 0o077:
            raise KeyFileError(
                f"the key file is accessible to other users (mode {mode:04o})",
                where=str(path),
                fix=f"chmod 600 {path}",
            )
        return os.read(fd, MAX_KEY_FILE_SIZE + 1)
    finally:
        os.close(fd)


def _load_symmetric_key(path: Path) -> bytes:
    data = _read_key_file(path)
    if len(data) != SYMMETRIC_KEY_SIZE:
        raise KeyFileError(
            f"the key file holds {len(data)} bytes, expected {SYMMETRIC_KEY_SIZE} random bytes",
            where=str(path),
            fix="restore it from backup (a text editor or a copy in text mode can damage it)",
        )
    return data


def _load_signing_key(path: Path) -> Ed25519PrivateKey:
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        # the library's message may quote the content: say only what is wrong
        raise KeyFileError(
            "the key file is not an unencrypted PKCS#8 PEM private key",
            where=str(path),
            fix="restore it from backup",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(
            f"the key file holds a {type(key).__name__}, expected an Ed25519 private key",
            where=str(path),
            fix="restore the Ed25519 signing key from backup",
        )
    return key


def _public_pem(signing_key: Ed25519PrivateKey) -> bytes:
    return signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_public_key_file(path: Path, signing_key: Ed25519PrivateKey, *, create: bool) -> None:
    """The public key file is derived: rewrite it when missing, refuse it when it differs."""
    expected = _public_pem(signing_key)
    if create and not os.path.lexists(path):
        publish_file(path, expected)
    found = _read_key_file(path, secret=False)
    if found.strip() != expected.strip():
        raise KeyFileError(
            f"the public key does not match {SIGNING_KEY_FILE}",
            where=str(path),
            fix=f"delete {path}: it is rewritten from {SIGNING_KEY_FILE} on the next start",
        )
