"""The one reader of user `.npz` files: plain arrays only, nothing is ever unpickled.

An `.npz` is a zip of `.npy` members, and numpy (or `smplx`, which loads with
allow_pickle=True) unpickles object members, which can run any code. This
reader opens the zip itself, looks at every member's header and reads only
plain (non-object) `.npy` arrays; members that are pickles or not `.npy` at all
are never read. Damage (not a zip, truncated, bad header) is one Dr2Error.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from dr2common.errors import Dr2Error

_NPY = ".npy"


def _read_header(member) -> tuple[tuple, bool, np.dtype]:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(member)
    raise ValueError(f".npy format version {version} is not supported")


def npz_members(path: Path) -> dict[str, tuple[tuple, np.dtype]]:
    """name -> (shape, dtype) of every `.npy` member, read from the headers only.

    Members that are not `.npy` are listed with dtype `object` so callers treat
    them as unreadable, like pickles. Raises ValueError/zipfile errors on damage.
    """
    found: dict[str, tuple[tuple, np.dtype]] = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(_NPY):
                found[name] = ((), np.dtype(object))
                continue
            with archive.open(name) as member:
                shape, _, dtype = _read_header(member)
            found[name[: -len(_NPY)]] = (tuple(shape), dtype)
    return found


def _damaged(path: Path, what: str, advice: str, problem: str) -> Dr2Error:
    return Dr2Error(f"{what} {path} is damaged or not an .npz ({problem}); {advice}")


def read_npz(path: Path, what: str = "file", advice: str = "give an intact file",
             keys: tuple[str, ...] | None = None, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The plain arrays of `path` (all, or just `keys`), never unpickling anything.

    Object (pickled) members and non-`.npy` members are skipped, never read;
    a missing `required` key, a damaged archive or a bad array is a Dr2Error
    "<what> <path> is damaged ...; <advice>".
    """
    path = Path(path)
    if not path.is_file():
        raise Dr2Error(f"{what} {path} is missing; {advice}")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                key = name[: -len(_NPY)]
                if not name.endswith(_NPY) or (keys is not None and key not in keys):
                    continue
                with archive.open(name) as member:
                    if _read_header(member)[2].hasobject:
                        continue  # a pickle: never read
                with archive.open(name) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, zlib.error, NotImplementedError,
            OSError) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise  # the disk failed to read, the file itself may be fine
        raise _damaged(path, what, advice, str(error) or type(error).__name__) from None
    missing = [key for key in required if key not in arrays]
    if missing:
        raise _damaged(path, what, advice, f"no plain array '{missing[0]}'")
    return arrays


def check_pickle_free(path: Path) -> None:
    """Raise unless every member of `path` is a plain `.npy` array (before handing it to a loader that unpickles)."""
    try:
        members = npz_members(path)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise Dr2Error(f"{path} is damaged or not an .npz ({error}); give an intact file") from None
    unsafe = [name for name, (_, dtype) in members.items() if dtype.hasobject]
    if unsafe:
        raise Dr2Error(f"{path} holds pickled or non-array members ({', '.join(unsafe)}), which dr2 never loads")
