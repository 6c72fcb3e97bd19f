"""Issue 16's cases as a user would hit them, through `python -m cli`, in a scratch folder under /tmp.

    python benchmarks/hardening_repro.py CODE_ROOT SCRATCH

CODE_ROOT is the dr2 checkout whose code runs (e.g. /work/main for "before",
this worktree for "after"); fixtures are built with that checkout's code too.
Prints one Markdown row per case: exit code, the last line printed on
stderr, and whether the user's data stayed intact.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve()
SCRATCH = Path(sys.argv[2]).resolve()
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

import numpy as np  # noqa: E402

from tests.conftest import build_video  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "DR2_CACHE_DIR": str(SCRATCH / "cache")}
ROWS = []


def dr2(*args, workspace=None, wait=True, env=None):
    command = [sys.executable, "-m", "cli", "--quiet"]
    if workspace is not None:
        command += ["--workspace", str(workspace)]
    command += [str(a) for a in args]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or ENV)
    return subprocess.run(command, capture_output=True, text=True, env=env or ENV)


def last_line(result) -> str:
    lines = [line for line in (result.stderr or "").splitlines() if line.strip()]
    text = lines[-1] if lines else "(nothing)"
    if "Traceback" in (result.stderr or ""):
        text = "TRACEBACK: " + text
    return text[:230].replace("|", "/")


def row(case, result, intact):
    code = result.returncode if hasattr(result, "returncode") else result
    line = last_line(result) if hasattr(result, "stderr") else "-"
    ROWS.append(f"| {case} | {code} | {line} | {intact} |")
    print(ROWS[-1], flush=True)


class _TouchOnUnpickle:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def object_npy(marker) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(_TouchOnUnpickle(marker), dtype=object), allow_pickle=True)
    return buffer.getvalue()


def tree(root: Path):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def case_code_execution():
    """1. A hostile SMPL-X .npz through `fit-smplx --overlay`."""
    from dr2prep.bodymodel.loading import load_body_model
    from dr2prep.fitting.synthetic import make_clip
    from dr2prep.keypoints.openpose_format import quantize, write_frame_json

    work = SCRATCH / "c1"
    work.mkdir()
    size, frames, focal = (320, 180), 30, 5000.0 * 180 / 720 / 3
    video = build_video(work / "talk.mp4", 1.0, 30, size)
    clip = make_clip(load_body_model("open"), n_frames=frames, seed=4, focal_length=focal, image_size=size)
    (work / "kp").mkdir()
    for t, person in enumerate(quantize(clip.keypoints)):
        write_frame_json(work / "kp" / f"talk_{t:012d}_keypoints.json", person)
    marker = work / "PWNED"
    hostile = work / "SMPLX_NEUTRAL.npz"
    with np.load(load_body_model("open").model_file, allow_pickle=False) as data:
        np.savez(hostile, **{k: data[k] for k in data.files})
    with zipfile.ZipFile(hostile, "a") as archive:
        archive.writestr("part2num", object_npy(marker))
    ws = work / "ws"
    r = dr2("prep", video, "--keypoints", "import", "--keypoints-dir", work / "kp", "--until", "keypoints",
            workspace=ws)
    assert r.returncode == 0, r.stderr
    r = dr2("fit-smplx", "talk", "--smplx-model", hostile, "--overlay", "--focal-length", focal, "--window", 8,
            workspace=ws)
    row("1 hostile SMPL-X npz, `fit-smplx --overlay`", r, f"pickle ran: {marker.exists()}")

    # 3c. frames deleted, then the overlay again
    (ws / "talk" / "frames" / "000002.jpg").unlink()
    (ws / "talk" / "smplx" / "overlay.mp4").unlink(missing_ok=True)
    r = dr2("fit-smplx", "talk", "--smplx-model", hostile, "--overlay", "--focal-length", focal, "--window", 8,
            workspace=ws)
    row("3c frames deleted, `fit-smplx --overlay`", r, "-")
    advice = r.stderr.split("`")[1] if r.stderr.count("`") >= 2 else ""
    if advice.startswith("dr2 "):
        import shlex

        follow = dr2(*shlex.split(advice)[1:], "--until", "media")
        again = dr2("fit-smplx", "talk", "--smplx-model", hostile, "--overlay", "--focal-length", focal,
                    "--window", 8, workspace=ws)
        row(f"3c ... then the advised `{advice[:60]}...` and the overlay again", again,
            f"advice exit {follow.returncode}; frame back: {(ws / 'talk' / 'frames' / '000002.jpg').is_file()}")
    else:
        follow = dr2("prep", video, "--only", "media", "--force", workspace=ws)
        again = dr2("fit-smplx", "talk", "--smplx-model", hostile, "--overlay", "--focal-length", focal,
                    "--window", 8, workspace=ws)
        row("3c ... then `prep VIDEO --only media --force` and the overlay again", again,
            f"advice exit {follow.returncode}")


def case_clip_names():
    """2. --clip '..' and friends."""
    home = SCRATCH / "c2"
    ws = home / "ws"
    ws.mkdir(parents=True)
    (home / "frames").mkdir()
    (home / "frames" / "holiday.jpg").write_bytes(b"user's photo")
    (home / "clip.json").write_text("user's file")
    video = build_video(SCRATCH / "c2v.mp4", 1.0, 30)
    before = tree(home)
    for name in ("..", "../x", "/tmp/i16-outside", "a/b", "."):
        r = dr2("prep", video, "--clip", name, "--until", "media", workspace=ws)
        row(f"2 `prep --clip {name}`", r, f"files outside ws intact: {tree(home) == before}")
        shutil.rmtree("/tmp/i16-outside", ignore_errors=True)
        if tree(home) != before:  # restore for the next case
            shutil.rmtree(home / "frames", ignore_errors=True)
            (home / "frames").mkdir()
            (home / "frames" / "holiday.jpg").write_bytes(b"user's photo")
            (home / "clip.json").write_text("user's file")
            for extra in ("audio.wav", "media", ".lock", ".partial"):
                p = home / extra
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            before = tree(home)
    r = dr2("train", "--clips", f"{ws}/..", "--out", SCRATCH / "c2m", "--max-steps", 1, workspace=ws)
    row("2 `train --clips WS/..`", r, "-")


def prepared(workspace, name, seed):
    from tests.model.tiny_model import speech_clip

    return speech_clip(workspace, name, seed=seed)


def case_damaged():
    """3. truncated/garbage params.npz and features; train and eval."""
    ws = SCRATCH / "c3" / "ws"
    good = prepared(ws, "good", 1)
    for target, how in (("smplx/params.npz", "truncated"), ("audio_features/builtin.npy", "garbage")):
        bad = prepared(ws, f"bad_{how}", 2)
        data = (bad / target).read_bytes()
        (bad / target).write_bytes(data[: len(data) // 2] if how == "truncated" else bytes(len(data)))
        r = dr2("train", "--clips", good, "--clips", bad, "--out", SCRATCH / "c3" / f"m_{how}", "--max-steps", 2)
        row(f"3 {how} {target}, `train`", r, "-")
        r = dr2("eval", "--clips", bad)
        row(f"3 {how} {target}, `eval --clips`", r, "-")


def case_same_name():
    """4. another video with the same file name."""
    work = SCRATCH / "c4"
    (work / "a").mkdir(parents=True)
    (work / "b").mkdir()
    first = build_video(work / "a" / "talk.mp4", 1.0, 30, (160, 120))
    second = build_video(work / "b" / "talk.mp4", 1.5, 30, (128, 96))
    ws = work / "ws"
    dr2("prep", first, "--until", "media", workspace=ws)
    frames_before = tree(ws / "talk" / "frames")
    r = dr2("prep", second, "--until", "media", workspace=ws)
    row("4 other video, same clip name (`prep b/talk.mp4`)", r,
        f"first clip's frames intact: {tree(ws / 'talk' / 'frames') == frames_before}")


def case_training(ws_clips):
    """5. lock, Ctrl-C resume, --max-steps."""
    work = SCRATCH / "c5"
    work.mkdir()
    clips = []
    for c in ws_clips:
        clips += ["--clips", c]
    out = work / "m"
    first = dr2("train", *clips, "--out", out, "--max-steps", 150, "--batch-size", 2, wait=False)
    time.sleep(8)
    second = dr2("train", *clips, "--out", out, "--max-steps", 150, "--batch-size", 2)
    first_out = first.communicate()
    row("5 two `train` into one --out: the second", second, f"first exit {first.returncode}")

    straight = dr2("train", *clips, "--out", work / "straight", "--max-steps", 60, "--batch-size", 2)
    assert straight.returncode == 0, straight.stderr
    interrupted = dr2("train", *clips, "--out", work / "resumed", "--max-steps", 60, "--batch-size", 2, wait=False)
    config = work / "resumed" / "config.json"
    deadline = time.time() + 300
    while time.time() < deadline and not (work / "resumed" / "logs").exists():
        time.sleep(0.5)
    time.sleep(6)
    interrupted.send_signal(signal.SIGINT)
    interrupted.communicate()
    step = json.loads(config.read_text())["step"] if config.is_file() else None
    resumed = dr2("train", *clips, "--out", work / "resumed", "--max-steps", 60, "--batch-size", 2)
    from safetensors.numpy import load_file

    a, b = load_file(str(work / "straight" / "model.safetensors")), load_file(str(work / "resumed" / "model.safetensors"))
    differ = [k for k in a if not np.array_equal(a[k], b[k])]
    row(f"5 Ctrl-C at step {step}, resume to 60", resumed,
        f"weights equal to uninterrupted: {not differ} ({len(differ)} tensors differ, e.g. {differ[:1]})")

    r = dr2("train", *clips, "--out", work / "epochs", "--epochs", 1, "--max-steps", 25, "--batch-size", 2)
    steps = json.loads((work / "epochs" / "config.json").read_text())["step"] if (work / "epochs" / "config.json").is_file() else None
    row("5 `train --epochs 1 --max-steps 25`", r, f"steps trained: {steps} (wanted 25)")


def case_disk():
    """6. full disk in the media stage (ffmpeg writes into /dev/full); --out under a file; EROFS on --out."""
    work = SCRATCH / "c6"
    work.mkdir()
    video = build_video(work / "talk.mp4", 1.0, 30)
    driver = work / "enospc.py"
    driver.write_text(f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
from dr2prep import media
real = media.run_ffmpeg
def full_disk(args, source, duration, desc):
    target = next((a for a in args if a.endswith('%06d.jpg')), None)
    if target:  # the frames go to a full device: real ENOSPC from ffmpeg
        for i in range(1, 40):
            os.symlink('/dev/full', os.path.join(os.path.dirname(target), f'{{i:06d}}.jpg'))
    return real(args, source, duration, desc)
media.run_ffmpeg = full_disk
sys.argv = ['dr2', '--quiet', '--workspace', {str(work / 'ws')!r}, 'prep', {str(video)!r}, '--until', 'media']
import cli
cli.main()
""")
    r = subprocess.run([sys.executable, str(driver)], capture_output=True, text=True, env=ENV)
    left = [p for p in (work / "ws").rglob("*") if p.is_file() or p.is_symlink()] if (work / "ws").exists() else []
    row("6 disk full while extracting frames", r, f"files left in ws: {len(left)}")

    ws = SCRATCH / "c3" / "ws"
    (work / "file").write_text("x")
    r = dr2("train", "--clips", ws / "good", "--out", work / "file" / "model", "--max-steps", 1)
    row("6 `train --out` under a file (not writable)", r, "-")
    driver = work / "erofs.py"
    driver.write_text(f"""
import errno, os, sys
sys.path.insert(0, {str(ROOT)!r})
from dr2model import checkpoint
def read_only(*a, **k):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(a[1]) if len(a) > 1 else '')
checkpoint.save_file = read_only
sys.argv = ['dr2', '--quiet', 'train', '--clips', {str(ws / 'good')!r}, '--out', {str(work / 'rofs')!r}, '--max-steps', '1']
import cli
cli.main()
""")
    r = subprocess.run([sys.executable, str(driver)], capture_output=True, text=True, env=ENV)
    staging = [p.name for p in (work / "rofs").iterdir() if p.name.startswith(".staging")] if (work / "rofs").exists() else []
    row("6 `train --out` on a read-only filesystem (EROFS injected)", r, f"staging left: {staging}")


def case_rotation():
    """7. a phone video with display rotation."""
    work = SCRATCH / "c7"
    work.mkdir()
    plain = build_video(work / "plain.mp4", 1.0, 30, (160, 96))
    rotated = work / "phone.mp4"
    from dr2common.ffmpeg_tools import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-display_rotation", "90", "-i", str(plain), "-c", "copy",
                    str(rotated)], check=True)
    ws = work / "ws"
    r = dr2("prep", rotated, "--until", "media", workspace=ws)
    clip = json.loads((ws / "phone" / "clip.json").read_text())
    import cv2

    frame = cv2.imread(str(ws / "phone" / "frames" / "000001.jpg"))
    row("7 rotated phone video, `prep --until media`", r,
        f"clip.json {clip['width']}x{clip['height']}, frames {frame.shape[1]}x{frame.shape[0]}")
    r = dr2("prep", rotated, "--until", "keypoints", workspace=ws)
    row("7 ... then `prep --until keypoints`", r, "-")
    if "--only media --force" in r.stderr:
        dr2("prep", rotated, "--only", "media", "--force", workspace=ws)
        r = dr2("prep", rotated, "--until", "keypoints", workspace=ws)
        row("7 ... the advised `--only media --force`, then keypoints again", r, "-")


def case_smaller(model_dir):
    """8. failing input leaves no clip folder; same-stem speech files into one --out."""
    work = SCRATCH / "c8"
    work.mkdir()
    bad = work / "notes.mp4"
    bad.write_text("not a video")
    r = dr2("prep", bad, workspace=work / "ws")
    row("8 `prep` of a non-video", r, f"left in ws: {[str(p.relative_to(work / 'ws')) for p in (work / 'ws').rglob('*')]}")
    from dr2model.demo_input import make_demo_speech
    from dr2common.ffmpeg_tools import ffmpeg_exe

    wav_a = make_demo_speech(work / "a.wav", 1.0, 5)
    wav_b = make_demo_speech(work / "b.wav", 1.3, 6)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav_a), str(work / "speech.mp3")], check=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav_b), str(work / "speech.m4a")], check=True)
    out = work / "out"
    dr2("synth", work / "speech.mp3", "--model", model_dir, "--out", out, "--no-preview")
    first = (out / "speech_seed0.npz").read_bytes()
    r = dr2("synth", work / "speech.m4a", "--model", model_dir, "--out", out, "--no-preview")
    row("8 `synth speech.mp3` then `synth speech.m4a` into one --out", r,
        f"speech.mp3's result intact: {(out / 'speech_seed0.npz').read_bytes() == first}")


def main():
    if SCRATCH.exists():
        shutil.rmtree(SCRATCH)
    SCRATCH.mkdir(parents=True)
    from dr2common.progress import set_quiet
    from tests.model.tiny_model import tiny_model

    set_quiet(True)
    print(f"code: {ROOT}\n\n| case | exit | last line on stderr | data |\n|---|---|---|---|", flush=True)
    case_clip_names()
    case_damaged()
    case_same_name()
    case_disk()
    case_rotation()
    case_code_execution()
    model_dir = tiny_model(SCRATCH / "tiny")
    case_smaller(model_dir)
    case_training([SCRATCH / "c3" / "ws" / "good", SCRATCH / "tiny" / "work" / "clip_a"])


if __name__ == "__main__":
    main()
