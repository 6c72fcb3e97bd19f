"""Worker processes that end at once when they are done, without finalising their modules.

A spawned worker that imported torch or MediaPipe spends 0.2-1 s at exit tearing its
modules down, and the stage that stops it (the end of keypoint detection, of the fit)
waits for that with the cores idle. Its results have been sent and multiprocessing has
flushed its streams by then, so there is nothing left to finalise.
"""

from __future__ import annotations

import atexit
import os


def exit_quickly_when_done() -> None:
    """In a worker process (a pool's initializer): end with exit code 0, skipping module teardown.

    Registered first, this runs after every other exit handler. A worker that crashes never
    gets here; one that exits normally would have exited with 0 anyway.
    """
    atexit.register(os._exit, 0)
