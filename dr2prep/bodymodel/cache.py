"""Where dr2 keeps files it derives once per machine (the open body, checked model copies).

The user cache dir from platformdirs, or $DR2_CACHE_DIR (tests and CI point it elsewhere).
"""

import os
from pathlib import Path

import platformdirs

from dr2common.errors import Dr2Error

CACHE_ENV = "DR2_CACHE_DIR"


def cache_dir(override: Path | None = None) -> Path:
    """The cache directory (created): `override`, else $DR2_CACHE_DIR, else the user cache dir."""
    path = Path(override or os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("dr2"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise Dr2Error(
            f"cannot create cache directory {path} ({error.strerror}); set {CACHE_ENV} to a writable directory"
        ) from None
    return path
