"""The stage cache: fingerprints, atomic commits, resume and the per-clip lock.

A stage is up to date when `<clip>/<stage>/.stage.json` records the same code
version, input fingerprints and settings as now and its outputs are intact:
the record lists every output file with its size, mtime and sha256, so a
missing, truncated or overwritten output makes the stage run again (and a
later stage or `dr2 train` refuses the clip with the command that redoes it). A stage
builds into `<clip>/.partial/<stage>/` and its outputs are moved into place
only when complete; the record is written last, so an interrupted run never
leaves a result that looks finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dr2common.atomic import write_json_atomic
from dr2common.errors import Dr2Error, storage_error
from dr2common.locking import LOCK_NAME, directory_lock
from dr2common.progress import say

RECORD_NAME = ".stage.json"
PARTIAL_DIR = ".partial"
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


def _output_files(path: Path) -> list[Path]:
    """The files an output consists of: the file itself, or a directory's files (dot-files left out)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return [f for f in files if not any(part.startswith(".") for part in f.relative_to(path).parts)]


def fingerprint_path(path: Path, hashes: dict[Path, str] | None = None) -> str:
    """sha256 of a file, or of a directory's sorted (name, content) pairs.

    Dot-files (stage records, locks) are left out so a record does not change
    the fingerprint of the outputs it describes. `hashes` reuses file digests
    already computed.
    """
    path = Path(path)
    hashes = hashes or {}
    if path.is_file():
        return hashes.get(path) or sha256_file(path)
    digest = hashlib.sha256()
    for file in _output_files(path):
        digest.update(str(file.relative_to(path)).encode() + b"\0" + (hashes.get(file) or sha256_file(file)).encode()
                      + b"\n")
    return digest.hexdigest()


def output_manifest(clip_dir: Path, outputs: tuple[str, ...]) -> dict[str, list]:
    """relative path -> [size, mtime_ns, sha256] of every file of the outputs (what a record fingerprints)."""
    clip_dir = Path(clip_dir)
    manifest = {}
    for output in outputs:
        for file in _output_files(clip_dir / output):
            stat = file.stat()
            manifest[str(file.relative_to(clip_dir))] = [stat.st_size, stat.st_mtime_ns, sha256_file(file)]
    return manifest


def output_damage(clip_dir: Path, record: dict) -> str | None:
    """What is wrong with a finished stage's outputs ("smplx/params.npz was changed"), or None when intact.

    Size and presence are checked for every file; the content hash only for
    files whose mtime moved (like git's index), so checking a clip costs a few
    stat calls. Records written before manifests existed are checked for presence.
    """
    clip_dir = Path(clip_dir)
    manifest = record.get("output_files")
    if manifest is None:
        missing = [o for o in record.get("outputs", ()) if not (clip_dir / o).exists()]
        return f"{missing[0]} is missing" if missing else None
    for relative, (size, mtime_ns, digest) in manifest.items():
        file = clip_dir / relative
        try:
            stat = file.stat()
        except OSError:
            return f"{relative} is missing"
        if stat.st_size != size:
            return f"{relative} was changed ({stat.st_size} bytes instead of {size})"
        if stat.st_mtime_ns != mtime_ns and sha256_file(file) != digest:
            return f"{relative} was changed (its content differs from what the stage wrote)"
    return None


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
    """The record of a finished upstream stage with intact outputs, or one line naming the command that redoes it."""
    from dr2prep.workspace import redo_command

    record = read_record(clip_dir, name)
    if record is None:
        raise Dr2Error(
            f"stage '{needed_by}' needs stage '{name}' of clip {Path(clip_dir).name}, "
            f"which has not finished; run `{redo_command(clip_dir)}`"
        )
    damage, stale = output_damage(clip_dir, record), stale_inputs(clip_dir, record)
    if damage or stale:
        state = f"is damaged ({damage})" if damage else f"is out of date ({stale})"
        raise Dr2Error(f"clip {Path(clip_dir).name}: stage '{name}' {state}; run `{redo_command(clip_dir)}` "
                       f"(plus the options it was prepared with) to redo it")
    return record


def stale_inputs(clip_dir: Path, record: dict) -> str | None:
    """Which upstream stage changed since this stage ran ("made from an older 'media'"), or None.

    A stage's inputs name its upstream stages with their output digests; a
    record whose upstream was redone since (e.g. `--until media` on an edited
    video) must not be mixed with the new upstream outputs.
    """
    for upstream, digest in (record.get("inputs") or {}).items():
        current = read_record(clip_dir, upstream)
        if current is not None and current.get("output_digest") != digest:
            return f"made from an older '{upstream}' result"
    return None


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
    if any(not (Path(clip_dir) / output).exists() for output in spec.outputs):
        return False
    damage = output_damage(clip_dir, record)
    if damage:
        say(f"{spec.name}: {damage}; running it again")
    return damage is None


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
    try:
        partial = _prepare_partial(clip_dir, spec, key)
        record = _build_and_commit(clip_dir, spec, key, partial, build)
    except OSError as error:
        problem = storage_error(error, clip_dir)
        if problem is None:
            raise
        if not spec.resumable:  # give the space back; a resumable stage keeps its finished chunks
            shutil.rmtree(clip_dir / PARTIAL_DIR / spec.name, ignore_errors=True)
        raise problem from None
    except BaseException:
        if not spec.resumable:  # nothing in it can be reused: do not leave it filling the disk
            shutil.rmtree(clip_dir / PARTIAL_DIR / spec.name, ignore_errors=True)
        raise
    say(f"{spec.name}: done in {record['seconds']:.1f} s")
    return StageOutcome(spec.name, False, record)


def _build_and_commit(clip_dir: Path, spec: StageSpec, key: dict, partial: Path, build) -> dict:
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
    manifest = output_manifest(clip_dir, spec.outputs)
    hashes = {clip_dir / relative: entry[2] for relative, entry in manifest.items()}
    output_digest = hashlib.sha256(
        "".join(f"{o}:{fingerprint_path(clip_dir / o, hashes)}\n" for o in spec.outputs).encode()
    ).hexdigest()
    record = {
        **key,
        "outputs": list(spec.outputs),
        "output_digest": output_digest,
        "output_files": manifest,
        "summary": summary,
        "seconds": round(time.time() - started, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json_atomic(old_record, record)
    shutil.rmtree(partial, ignore_errors=True)
    return record


@contextmanager
def clip_lock(clip_dir: Path):
    """Hold the clip's lock for a whole run; a second run on the same clip fails at once.

    A run that ends with nothing in a clip folder it created (a bad input)
    removes the folder again, so no empty clip with a lock is left behind.
    """
    clip_dir = Path(clip_dir)
    busy = (f"clip {clip_dir.name} is being processed by another dr2 run (pid {{pid}}); "
            f"wait for it to finish, or use another --workspace")
    with directory_lock(clip_dir, busy, "--workspace"):
        try:
            yield clip_dir
        finally:
            _remove_if_empty(clip_dir)  # still under the lock: never another run's fresh folder


def _remove_if_empty(clip_dir: Path) -> None:
    """Remove a clip folder that holds nothing but its lock and empty scratch folders."""
    try:
        entries = {p.name for p in clip_dir.iterdir()}
        if entries - {LOCK_NAME, PARTIAL_DIR}:
            return
        partial = clip_dir / PARTIAL_DIR
        if partial.is_dir() and any(p.is_file() for p in partial.rglob("*")):
            return
        shutil.rmtree(clip_dir)
    except OSError:
        pass
