"""The intake journal's folder, held open: its files are made, listed, read and
deleted relative to the folder checked at start, never by its path again.

The segments hold embargoed reports. With paths, a local user who may write in the
database's parent folder could rename the journal's folder once the bot had
checked it, and put a link or a folder of their own in its place: the next
segment would be written there. Every operation here goes through the
descriptor of the folder that was checked (`dir_fd`), and names are single path
components opened with O_NOFOLLOW, so a swap after start changes nothing the bot
writes. The checks (a folder, the bot user's, 0700) run on the opened descriptor
(fstat), so the folder cannot be swapped between the check and the open either.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
from pathlib import Path

from bot.core.logs import fields
from bot.core.private_paths import make_private_folders, private_stat_problem
from bot.db.connection import StoreUnavailable

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
_LOCK_NAME = "lock"
_NOT_A_FILE = "must be a regular file (not a link, a folder or a pipe): remove it"

log = logging.getLogger("ghsa_bot.journal")


class JournalFolder:
    """An open, locked, private folder; file names are single components in it."""

    def __init__(self, path: Path, descriptor: int, lock_descriptor: int) -> None:
        self.path = path  # for messages and tests; never opened again
        self._descriptor = descriptor
        self._lock_descriptor = lock_descriptor
        self._replaced_warned = False

    @classmethod
    def open(cls, path: Path) -> JournalFolder | None:
        """The folder at `path` (made 0700 if missing), held open and locked; None when
        another process holds its lock. StoreUnavailable for a folder that is a link,
        another user's, or open to other users, or whose lock file cannot be used."""
        make_private_folders(path)
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                refused = f"{path} must be a folder (not a link or a file)"
            else:
                refused = f"{path} cannot be opened: {error.strerror}"
            raise StoreUnavailable(f"{refused}; it holds embargoed reports") from None
        try:
            problem = private_stat_problem(path, os.fstat(descriptor))
            if problem is not None:
                raise StoreUnavailable(f"{problem}; it holds embargoed reports")
            lock = _open_lock(path, descriptor)
        except BaseException:
            os.close(descriptor)
            raise
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(lock)
            os.close(descriptor)
            if isinstance(error, BlockingIOError):
                return None
            raise StoreUnavailable(
                f"{path / _LOCK_NAME} cannot be locked: {error.strerror}"
            ) from None
        return cls(path, descriptor, lock)

    def warn_once_if_replaced(self) -> None:
        """Log once when `path` no longer names the folder held open (moved, deleted,
        or another put in its place): nothing is written elsewhere, but the next start
        would look at `path` and not find what this folder keeps."""
        if self._replaced_warned:
            return
        try:
            now, held = os.lstat(self.path), os.fstat(self._descriptor)
            replaced = (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)
        except OSError:
            replaced = True
        if replaced:
            self._replaced_warned = True
            log.warning(
                "intake journal: its folder was moved or replaced since start; segments "
                "are still written to the folder opened then, which a restart will not find",
                extra=fields(folder=self.path.name),
            )

    def create(self, name: str) -> int:
        """A new file `name` (0600, opened for appending); FileExistsError if it exists."""
        return os.open(name, _NEW_FILE, 0o600, dir_fd=self._descriptor)

    def delete(self, name: str) -> None:
        """Delete `name`; one that is gone already is no error."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._descriptor)

    def names(self, suffix: str) -> list[str]:
        """The names in the folder that end in `suffix`, sorted."""
        return sorted(name for name in os.listdir(self._descriptor) if name.endswith(suffix))

    def read(self, name: str) -> bytes:
        """The whole of `name`, without following a link."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        descriptor = os.open(name, flags, dir_fd=self._descriptor)
        with os.fdopen(descriptor, "rb") as file:
            return file.read()

    def sync(self) -> None:
        """fsync the folder, so the names made in it survive a power loss."""
        os.fsync(self._descriptor)

    def close(self) -> None:
        """Let go of the lock and the folder (once: a second call does nothing)."""
        lock, self._lock_descriptor = self._lock_descriptor, -1
        folder, self._descriptor = self._descriptor, -1
        try:
            if lock >= 0:
                os.close(lock)
        finally:
            if folder >= 0:
                os.close(folder)


def _open_lock(path: Path, folder: int) -> int:
    """The folder's lock file, opened (made 0600 if missing); StoreUnavailable when the
    entry is anything but a regular file (a link, a folder, a pipe, a socket)."""
    where = path / _LOCK_NAME
    try:
        lock = os.open(
            _LOCK_NAME,
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
            0o600,
            dir_fd=folder,
        )
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EISDIR):
            raise StoreUnavailable(f"{where} {_NOT_A_FILE}") from None
        raise StoreUnavailable(f"{where} cannot be opened: {error.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(lock).st_mode):
            raise StoreUnavailable(f"{where} {_NOT_A_FILE}")
    except BaseException:
        os.close(lock)
        raise
    return lock
