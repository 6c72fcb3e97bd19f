"""CPU time of `dr2 --help`, `--version` and every `dr2 COMMAND --help` (goal: <= 0.3 s user + sys each).

Baselines in the same run: a bare `python -c pass`, and `python -c "import torch"` (what the CLI
used to pay at start-up). Each row is the median of --repeats runs in fresh processes.

    .venv/bin/python benchmarks/bench_cli_start.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("prep", "fit-smplx", "train", "synth", "eval", "export", "view", "demo", "info")
GOAL_CPU_SECONDS = 0.3


def cpu_and_wall(args: list[str]) -> tuple[float, float]:
    """(user + sys CPU seconds, wall seconds) of one child process."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    python = sys.executable
    rows = [("python -c pass (baseline)", [python, "-c", "pass"]),
            ("python -c 'import torch' (baseline)", [python, "-c", "import torch"]),
            ("python -c 'import dr2'", [python, "-c", "import dr2"]),
            ("dr2 --help", [python, "-m", "cli", "--help"]),
            ("dr2 --version", [python, "-m", "cli", "--version"]),
            *[(f"dr2 {c} --help", [python, "-m", "cli", c, "--help"]) for c in COMMANDS]]
    print(f"{'command':40s} {'CPU s (user+sys)':>17s} {'wall s':>8s}  goal <= {GOAL_CPU_SECONDS} s CPU")
    for label, args in rows:
        runs = [cpu_and_wall(args) for _ in range(repeats)]
        cpu, wall = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        verdict = "" if "baseline" in label else ("ok" if cpu <= GOAL_CPU_SECONDS else "MISS")
        print(f"{label:40s} {cpu:17.3f} {wall:8.3f}  {verdict}")


if __name__ == "__main__":
    main()
