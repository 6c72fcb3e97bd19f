"""Hand a list of work items to several handlers side by side, each taking the next item when free.

The fit's shot ranges and the keypoint segments are shared out this way: the caller's own
thread is one handler, the others run in threads (each typically waiting on a process).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor


def share_out(items: Sequence, handlers: Sequence[Callable[[object], None]]) -> None:
    """Call one of `handlers` on each item, in the items' order of taking; returns when all are done.

    handlers[0] runs in this thread, each other in a thread of its own. A handler that fails, or
    Ctrl-C, stops the others after their current item, and the failure is raised.
    """
    queue = deque(items)
    lock = threading.Lock()
    failed = threading.Event()

    def serve(handler: Callable[[object], None]) -> None:
        try:
            while True:
                with lock:
                    if failed.is_set() or not queue:
                        return
                    item = queue.popleft()
                handler(item)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=max(1, len(handlers) - 1), thread_name_prefix="side-by-side") as threads:
        others = [threads.submit(serve, handler) for handler in handlers[1:]]
        try:
            serve(handlers[0])
            for future in others:
                future.result()
        except BaseException:  # a failed item, or Ctrl-C while waiting: no handler takes another
            failed.set()
            raise
