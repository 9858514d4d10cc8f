"""Folders only the bot's user may enter: the database's, the records', `.env`'s.

`Path.mkdir(parents=True, mode=...)` gives the mode to the last folder only; the
parents it creates get 0777 less the umask (0777 under `umask 000`), so another
local user could rename or replace one of them and what is created inside.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_FOLDER_MODE = 0o700


def make_private_folders(folder: Path) -> None:
    """Create every missing folder of `folder`, each with mode 0700.

    Folders that exist already are left as they are (settings warn about loose
    modes where it matters). The mode is set with fchmod after mkdir, so no umask
    changes it; a folder replaced by a link in between raises OSError.
    """
    missing: list[Path] = []
    current = folder
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_FOLDER_MODE)
        except FileExistsError:
            if not path.is_dir():
                raise
            continue  # made meanwhile by someone else: theirs, left alone
        # Through a descriptor that follows no link: had the new folder been replaced
        # by a link meanwhile, chmod would have changed the link's target instead.
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchmod(descriptor, PRIVATE_FOLDER_MODE)
        finally:
            os.close(descriptor)


def private_stat_problem(folder: Path, info: os.stat_result) -> str | None:
    """Why `folder` is not private to this user (a link, another's, mode looser than
    0700), from its status `info` (the fstat of a descriptor opened on it), or None
    when it is."""
    if not stat.S_ISDIR(info.st_mode):
        return f"{folder} must be a folder (not a link or a file)"
    if info.st_uid != os.geteuid():
        return f"{folder} belongs to another user"
    if info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        return f"{folder} may be entered by other users (mode {mode:o}): run `chmod 700 {folder}`"
    return None
