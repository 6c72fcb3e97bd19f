"""Where a clip's files live: `<workspace>/<clip>/`, the clip named after its video.

A clip name is one plain path component (letters, digits, `._-`, not starting
with a dot or a dash), checked here once for every way a name or a clip
directory enters dr2, so nothing outside the workspace is ever touched.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

from dr2common.errors import Dr2Error

DEFAULT_WORKSPACE = Path("dr2-work")
MAX_NAME = 100
_VALID_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def clip_name(video: Path) -> str:
    """A filesystem-safe clip name from the video's file name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(video).stem).strip("._-")[:MAX_NAME]
    return name or "clip"


def check_clip_name(name: str) -> str:
    """`name` if it is one plain path component; otherwise a Dr2Error saying what a name may hold."""
    if not name or len(name) > MAX_NAME or not _VALID_NAME.fullmatch(name) or ".." in name:
        raise Dr2Error(
            f"clip name {name!r} is not allowed; use letters, digits, '_', '-' and '.' "
            f"(one name, no '/', not starting with '.' or '-', at most {MAX_NAME} characters)"
        )
    return name


def clip_dir_of(clip: str | Path, workspace: Path) -> Path:
    """The directory of CLIP: a clip name in `workspace`, or a path WORKSPACE/CLIP to a prepared clip.

    Either way the last component must be a valid clip name, so `..`, `.`,
    `/` and the like never name a clip.
    """
    text = str(clip)
    if os.sep in text or (os.altsep and os.altsep in text):
        return check_clip_path(text)
    in_workspace = Path(workspace) / check_clip_name(text)
    if not in_workspace.is_dir() and (Path(text) / "clip.json").is_file():
        return Path(text)  # a clip folder in the current directory, as before
    return in_workspace


def check_clip_path(clip_dir: str | Path) -> Path:
    """A clip directory given as a path (train/eval --clips): its last component must be a valid clip name."""
    text = str(clip_dir).rstrip(os.sep)
    check_clip_name(Path(text).name if text and not text.endswith(os.sep + ".") else text[-1:] or "")
    return Path(text)


def redo_command(clip_dir: Path) -> str:
    """The `dr2 prep` command that re-runs the clip's unfinished or damaged stages (and only those)."""
    clip_dir = Path(clip_dir)
    source = "VIDEO"
    try:
        source = json.loads((clip_dir / "clip.json").read_text())["source"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return (f"dr2 --workspace {shlex.quote(str(clip_dir.parent))} prep {shlex.quote(str(source))} "
            f"--clip {shlex.quote(clip_dir.name)}")


def open_workspace(workspace: Path) -> Path:
    """Create the workspace if needed and check that dr2 can write there."""
    workspace = Path(workspace)
    if workspace.exists() and not workspace.is_dir():
        raise Dr2Error(f"workspace {workspace} is a file, not a directory; choose another --workspace")
    try:
        workspace.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise Dr2Error(f"cannot create workspace {workspace} ({error.strerror}); choose a writable --workspace") from None
    if not os.access(workspace, os.W_OK | os.X_OK):
        raise Dr2Error(f"workspace {workspace} is not writable; choose a writable --workspace")
    return workspace
