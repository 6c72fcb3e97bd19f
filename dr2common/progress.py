"""Progress bars and status lines, silenced together by `dr2 --quiet`.

tqdm already hides bars when stderr is not a terminal; `--quiet` also hides
them (and status lines) on a terminal.
"""

import sys

from tqdm import tqdm

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """A tqdm bar that is off under --quiet and on non-TTY stderr."""
    kwargs.setdefault("disable", True if _quiet else None)
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)


def say(message: str) -> None:
    """One status line on stderr (not shown under --quiet)."""
    if not _quiet:
        print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A warning line on stderr; shown even under --quiet."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
