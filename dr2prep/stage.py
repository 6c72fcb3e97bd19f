"""The stage cache: fingerprints, atomic commits, resume and the per-clip lock.

A stage is up to date when `<clip>/<stage>/.stage.json` records the same code
version, input fingerprints and settings as now and its outputs exist. A stage
builds into `<clip>/.partial/<stage>/` and its outputs are moved into place
only when complete; the record is written last, so an interrupted run never
leaves a result that looks finished.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dr2prep.errors import Dr2Error
from dr2prep.progress import say

RECORD_NAME = ".stage.json"
PARTIAL_DIR = ".partial"
LOCK_NAME = ".lock"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class StageSpec:
    """What a stage is called, which code made its outputs and where they go.

    `version` is bumped whenever the stage's code changes what it writes.
    `outputs` are paths relative to the clip directory. A `resumable` stage
    keeps its partial directory across crashes when inputs and settings match.
    """

    name: str
    version: str
    outputs: tuple[str, ...]
    resumable: bool = False


@dataclass(frozen=True)
class StageOutcome:
    name: str
    skipped: bool
    record: dict


def sha256_file(path: Path) -> str:
    """Streamed sha256 of one file (never reads it whole into memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint_path(path: Path) -> str:
    """sha256 of a file, or of a directory's sorted (name, content) pairs.

    Dot-files (stage records, locks) are left out so a record does not change
    the fingerprint of the outputs it describes.
    """
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    if not path.is_dir():
        raise FileNotFoundError(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path)
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(str(relative).encode() + b"\0" + sha256_file(file).encode() + b"\n")
    return digest.hexdigest()


def settings_dict(settings) -> dict:
    """Settings as a JSON-ready dict (a dataclass, a dict or None)."""
    if settings is None:
        return {}
    if dataclasses.is_dataclass(settings):
        settings = dataclasses.asdict(settings)
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def record_path(clip_dir: Path, name: str) -> Path:
    return Path(clip_dir) / name / RECORD_NAME


def read_record(clip_dir: Path, name: str) -> dict | None:
    """The finished stage's record, or None when the stage has not finished."""
    path = record_path(clip_dir, name)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a damaged record means "not finished": the stage re-runs


def require_record(clip_dir: Path, name: str, needed_by: str) -> dict:
    """The record of a finished upstream stage, or a clear error saying what to run."""
    record = read_record(clip_dir, name)
    if record is None:
        raise Dr2Error(
            f"stage '{needed_by}' needs stage '{name}' of clip {Path(clip_dir).name}, "
            f"which has not finished; run `dr2 prep` on the video first"
        )
    return record


def upstream_fingerprint(clip_dir: Path, name: str, needed_by: str) -> str:
    """A cheap fingerprint of an upstream stage: the digest of its committed outputs."""
    return require_record(clip_dir, name, needed_by)["output_digest"]


def _key(spec: StageSpec, inputs: dict, settings: dict) -> dict:
    return {"name": spec.name, "version": spec.version, "inputs": inputs, "settings": settings}


def is_up_to_date(clip_dir: Path, spec: StageSpec, inputs: dict, settings) -> bool:
    record = read_record(clip_dir, spec.name)
    if record is None:
        return False
    wanted = _key(spec, inputs, settings_dict(settings))
    if any(record.get(field) != value for field, value in wanted.items()):
        return False
    return all((Path(clip_dir) / output).exists() for output in spec.outputs)


def _replace(new: Path, old: Path) -> None:
    """Move `new` over `old` (file or directory); at worst `old` is missing after a crash."""
    if old.exists():
        trash = old.with_name(f".trash-{old.name}-{os.getpid()}")
        os.replace(old, trash)
        os.replace(new, old)
        if trash.is_dir():
            shutil.rmtree(trash)
        else:
            trash.unlink()
    else:
        os.replace(new, old)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON through a temporary file and a rename, so readers never see half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _prepare_partial(clip_dir: Path, spec: StageSpec, key: dict) -> Path:
    """The stage's scratch directory; kept for a resumable stage whose key still matches."""
    partial = Path(clip_dir) / PARTIAL_DIR / spec.name
    key_file = partial / ".key.json"
    if partial.exists():
        keep = False
        if spec.resumable and key_file.is_file():
            try:
                keep = json.loads(key_file.read_text()) == key
            except (OSError, json.JSONDecodeError):
                keep = False
        if not keep:
            shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    write_json_atomic(key_file, key)
    return partial


def run_stage(
    clip_dir: Path,
    spec: StageSpec,
    inputs: dict,
    settings,
    build: Callable[[Path], dict | None],
    force: bool = False,
) -> StageOutcome:
    """Run `build(partial_dir)` unless the stage is up to date, then commit its outputs.

    `build` writes every path of `spec.outputs` under `partial_dir` (same
    relative names) and may return a JSON-ready summary kept in the record.
    The caller holds the clip lock.
    """
    clip_dir = Path(clip_dir)
    settings = settings_dict(settings)
    if not force and is_up_to_date(clip_dir, spec, inputs, settings):
        say(f"{spec.name}: up to date")
        return StageOutcome(spec.name, True, read_record(clip_dir, spec.name))

    key = _key(spec, inputs, settings)
    partial = _prepare_partial(clip_dir, spec, key)
    started = time.time()
    summary = build(partial) or {}
    missing = [output for output in spec.outputs if not (partial / output).exists()]
    if missing:
        raise RuntimeError(f"stage {spec.name} did not write {missing}")

    # Commit: drop the old record first, so a crash from here on re-runs the stage.
    old_record = record_path(clip_dir, spec.name)
    if old_record.exists():
        old_record.unlink()
    for output in spec.outputs:
        target = clip_dir / output
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(partial / output, target)
    output_digest = hashlib.sha256(
        "".join(f"{o}:{fingerprint_path(clip_dir / o)}\n" for o in spec.outputs).encode()
    ).hexdigest()
    record = {
        **key,
        "outputs": list(spec.outputs),
        "output_digest": output_digest,
        "summary": summary,
        "seconds": round(time.time() - started, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json_atomic(old_record, record)
    shutil.rmtree(partial, ignore_errors=True)
    say(f"{spec.name}: done in {record['seconds']:.1f} s")
    return StageOutcome(spec.name, False, record)


@contextmanager
def clip_lock(clip_dir: Path):
    """Hold the clip's lock for a whole run; a second run on the same clip fails at once.

    flock is released by the kernel when the process dies, so a crashed run
    never leaves a stale lock behind.
    """
    clip_dir = Path(clip_dir)
    try:
        clip_dir.mkdir(parents=True, exist_ok=True)
        handle = open(clip_dir / LOCK_NAME, "a+")
    except OSError as error:
        raise Dr2Error(
            f"cannot write to workspace {clip_dir.parent} ({error.strerror}); "
            f"choose a writable directory with --workspace"
        ) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise Dr2Error(
                f"clip {clip_dir.name} is being processed by another dr2 run (pid {holder}); "
                f"wait for it to finish, or use another --workspace"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield clip_dir
    finally:
        handle.close()
