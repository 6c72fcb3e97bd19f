"""dr2common.side_by_side.share_out: every item handled once, the caller's thread one of the handlers,
a failure stops the others and is raised."""

from __future__ import annotations

import threading
import time

import pytest

from dr2common.side_by_side import share_out


def test_every_item_is_handled_once_and_the_first_handler_is_this_thread():
    handled: dict[int, str] = {}
    lock = threading.Lock()

    def handler(name: str):
        def handle(item: int) -> None:
            time.sleep(0.002)
            with lock:
                assert item not in handled
                handled[item] = threading.current_thread().name if name != "here" else "here"
        return handle

    here = threading.current_thread()
    seen_threads = set()

    def handle_here(item: int) -> None:
        seen_threads.add(threading.current_thread())
        handler("here")(item)

    share_out(range(40), [handle_here, handler("a"), handler("b")])
    assert sorted(handled) == list(range(40))
    assert seen_threads == {here}
    assert len(set(handled.values())) == 3  # all three took items


def test_a_failure_stops_the_others_and_is_raised():
    taken = []

    def handle(item: int) -> None:
        taken.append(item)
        if item == 2:
            raise ValueError("item 2 failed")
        time.sleep(0.01)

    with pytest.raises(ValueError, match="item 2 failed"):
        share_out(range(100), [handle, handle])
    assert len(taken) < 10  # nobody went on through the other 90-odd items
