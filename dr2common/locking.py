"""One lock file per directory dr2 writes (a clip, a model directory): a second run there fails at once.

flock is released by the kernel when the process dies, so a crashed or killed
run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from dr2common.errors import Dr2Error, storage_error

LOCK_NAME = ".lock"


@contextmanager
def directory_lock(directory: Path, busy: str, option: str):
    """Hold `directory/.lock` for the block; `busy` (with {pid}) is the error when another run holds it.

    `option` names what the user can change when the directory cannot be
    written (e.g. "--workspace", "--out").
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / LOCK_NAME, "a+")
    except OSError as error:
        problem = storage_error(error, directory, option)
        raise (problem or Dr2Error(f"cannot write to {directory} ({error.strerror}); choose another {option}")) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise Dr2Error(busy.format(pid=handle.read().strip() or "unknown")) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield directory
    finally:
        handle.close()
