"""Worker processes end without finalising their modules (the stages wait for them with the cores idle)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A spawned worker that leaves a mark when its modules are torn down: an object whose __del__
# runs only at module teardown, and an exit handler registered after the pool's initializer.
WORKER = textwrap.dedent("""
    import atexit, os, sys
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context
    from dr2common.quick_exit import exit_quickly_when_done

    class MarkAtTeardown:
        def __init__(self, path):
            self.path = path

        def __del__(self):  # os.open: the builtin open may be gone by then
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY))

    def work(mark):
        global kept
        kept = MarkAtTeardown(mark + ".teardown")
        atexit.register(lambda: open(mark + ".handler", "w").close())
        return 42

    if __name__ == "__main__":
        initializer = exit_quickly_when_done if sys.argv[2] == "quick" else None
        with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=initializer) as pool:
            print(pool.submit(work, sys.argv[1]).result())
""")


@pytest.mark.parametrize("mode", ["quick", "normal"])
def test_a_quick_worker_returns_its_result_runs_exit_handlers_and_skips_teardown(tmp_path, mode):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    mark = tmp_path / "mark"
    result = subprocess.run([sys.executable, str(script), str(mark), mode], capture_output=True, text=True,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"
    assert (tmp_path / "mark.handler").exists()  # exit handlers registered later still run first
    assert (tmp_path / "mark.teardown").exists() == (mode == "normal")  # the control shows the mark is seen
