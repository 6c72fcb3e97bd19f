"""Where a clip's files live: `<workspace>/<clip>/`, the clip named after its video."""

from __future__ import annotations

import os
import re
from pathlib import Path

from dr2prep.errors import Dr2Error

DEFAULT_WORKSPACE = Path("dr2-work")


def clip_name(video: Path) -> str:
    """A filesystem-safe clip name from the video's file name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(video).stem).strip("._")
    return name or "clip"


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
