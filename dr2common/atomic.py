"""Writing a file so that readers see the old one or the whole new one, never half of it.

Every writer goes through `atomic_path`: the data lands in a hidden temporary
file beside the target, is flushed to disk and renamed over it; on an error
the temporary file is removed and the target is untouched.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path):
    """A temporary path beside `path` to write to; it replaces `path` when the block ends without error."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_file(path: Path, mode: str = "wb", **open_args):
    """An open file whose contents replace `path`, synced to disk, when the block ends without error."""
    with atomic_path(path) as tmp, open(tmp, mode, **open_args) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_json_atomic(path: Path, data: dict) -> None:
    """Write `data` as indented JSON with sorted keys (creating the folder)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_file(path, "w", encoding="utf-8") as f:
        f.write(text)


def savez_atomic(path: Path, /, **arrays) -> None:
    """`numpy.savez` to `path`, atomically."""
    import numpy as np

    with atomic_file(path) as f:
        np.savez(f, **arrays)


def savez_compressed_atomic(path: Path, /, **arrays) -> None:
    """`numpy.savez_compressed` to `path`, atomically."""
    import numpy as np

    with atomic_file(path) as f:
        np.savez_compressed(f, **arrays)
