"""The CLI and `import dr2` start light: no torch, OpenCV, MediaPipe, SMPL-X, numpy or tqdm until a command runs.

Also: every command's --help works, --version answers, a usage mistake is one
line, and every `--flag` a library error message names is an option the CLI really has.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "cv2", "mediapipe", "smplx", "numpy", "scipy", "librosa", "tqdm", "safetensors", "PIL")
COMMANDS = ("prep", "fit-smplx", "train", "synth", "eval", "export", "view", "demo", "info")
# flags of other programs that dr2's messages quote: Slurm's sbatch --array
FOREIGN_FLAGS = {"--array"}


def loaded_modules(code: str) -> set[str]:
    """The top-level packages in sys.modules after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint('MODULES', *sorted({{m.split('.')[0] for m in sys.modules}}))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("MODULES ")]
    return set(line.split()[1:])


@pytest.mark.parametrize("code", ["import cli", "import dr2", "import cli, dr2; dr2.__version__; dr2.resolve_device"])
def test_importing_the_cli_and_dr2_loads_nothing_heavy(code):
    modules = loaded_modules(code)
    assert "click" in modules or "cli" not in code  # the probe really ran the import
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_dr2_prep_reaches_its_first_stage_without_importing_torch():
    """torch (about 2 s of one core) is imported beside keypoint detection, not before the first stage: building
    `dr2 prep`'s settings, importing the pipeline and resolving --device cpu load none of it."""
    modules = loaded_modules("from dr2 import preparation; preparation.prep_settings(); import dr2prep.pipeline; "
                             "from dr2common.device import resolve_device; resolve_device('cpu')")
    assert "dr2prep" in modules and "cv2" in modules  # the pipeline really was imported
    assert "torch" not in modules
    assert "torch" in loaded_modules("from dr2common.device import resolve_device; resolve_device('auto')")


def test_help_of_the_cli_loads_nothing_heavy():
    """`dr2 COMMAND --help` builds every command's options (choice lists included) without a heavy import."""
    code = ("import sys, cli\n"
            "for args in ([], *[[c] for c in " + repr(COMMANDS) + "]):\n"
            "    try:\n"
            "        cli.dr2.main([*args, '--help'], prog_name='dr2', standalone_mode=False)\n"
            "    except SystemExit:\n"
            "        pass")
    modules = loaded_modules(code)
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_dr2_names_its_functions_lazily():
    """Each public name resolves, to a function or class of the dr2 package (or Dr2Error)."""
    import dr2

    for name in dr2.__all__:
        value = getattr(dr2, name)
        assert value is not None, name
    assert set(dir(dr2)) >= {"prepare", "train", "load_model", "evaluate", "export"}
    with pytest.raises(AttributeError):
        dr2.no_such_thing  # noqa: B018


@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_every_command_help_works(command):
    args = [sys.executable, "-m", "cli", *([command] if command else []), "--help"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "--help" in result.stdout
    if command:
        assert f" {command} " in result.stdout.splitlines()[0] + " "


def test_version_answers():
    result = subprocess.run([sys.executable, "-m", "cli", "--version"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and re.search(r"version \d+\.\d+", result.stdout), result


def cli_flags() -> set[str]:
    """Every option name of the group and its commands."""
    import cli

    flags = set()
    for command in (cli.dr2, *cli.dr2.commands.values()):
        for param in command.params:
            flags.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
    return flags


def test_library_messages_name_only_flags_the_cli_has():
    """A message telling the user to pass `--x` must name an option that exists (`--lr`, `--feature-kind` did not)."""
    flag = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])")
    known = cli_flags() | {"--help", "--version"} | FOREIGN_FLAGS
    unknown = []
    for path in sorted([*ROOT.glob("dr2prep/**/*.py"), *ROOT.glob("dr2model/**/*.py"), *ROOT.glob("dr2/*.py")]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            unknown += [f"{path.relative_to(ROOT)}:{number}: {f}" for f in flag.findall(line) if f not in known]
    assert not unknown, "\n".join(unknown)


@pytest.mark.parametrize(
    ("args", "says"),
    (
        (("fit-smplx", "--window", "0", "clip"),
         "Invalid value for '--window': 0 is not in the range x>=1; see `dr2 fit-smplx --help`"),
        (("synth",), "Missing argument 'SPEECH'; see `dr2 synth --help`"),
        (("no-such-command",), "No such command 'no-such-command'; see `dr2 --help`"),
    ),
)
def test_a_usage_mistake_is_one_line_naming_the_help(args, says):
    result = subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"dr2: error: {says}"]


def test_dr2_alone_shows_its_help():
    result = subprocess.run([sys.executable, "-m", "cli"], cwd=ROOT, capture_output=True, text=True, check=False)
    shown = result.stdout + result.stderr
    assert "Commands:" in shown and "prep" in shown and "dr2: error" not in shown
