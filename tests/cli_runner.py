"""Run the real `dr2` entry point in a subprocess, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_dr2(*args, workspace: Path | None = None, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cli", "--quiet"]
    if workspace is not None:
        command += ["--workspace", str(workspace)]
    command += [str(a) for a in args]
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"dr2 {' '.join(map(str, args))} failed ({result.returncode}):\n{result.stderr}")
    return result


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit code 2, a single 'dr2: error:' line naming the problem, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dr2: error: "), lines
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
