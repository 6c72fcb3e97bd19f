"""Issue 16 (prep side): no code from a user's file, nothing outside the workspace, damage noticed, one-line faults."""

from __future__ import annotations

import errno
import io
import json
import pickle
import shlex
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest

from dr2prep import media as media_module
from dr2prep.bodymodel.loading import load_body_model
from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import ffmpeg_exe, probe, run_ffmpeg
from dr2prep.media import prepare_media
from dr2common.safe_npz import check_pickle_free, read_npz
from dr2prep.stage import PARTIAL_DIR, StageSpec, is_up_to_date, read_record, require_record, run_stage
from dr2prep.workspace import check_clip_name, check_clip_path, clip_name
from tests.cli_runner import assert_one_line_error, run_dr2


class _TouchOnUnpickle:
    """Unpickling this creates a file: proof that something unpickled user data."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _object_npy(marker) -> bytes:
    """The bytes of an .npy holding a pickled object (what np.load(allow_pickle=True) would run)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(_TouchOnUnpickle(marker), dtype=object), allow_pickle=True)
    return buffer.getvalue()


def _add_members(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


# --- 1. code execution ------------------------------------------------------------------------------------------

def test_npz_reader_never_unpickles_any_member(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "user.npz"
    np.savez(path, plain=np.arange(3))
    # a pickle under a name without .npy (numpy still reads it as an array), one with .npy, and raw pickle bytes
    _add_members(path, {"evil": _object_npy(marker), "evil2.npy": _object_npy(marker),
                        "raw": pickle.dumps(_TouchOnUnpickle(marker))})
    arrays = read_npz(path)
    assert list(arrays) == ["plain"] and arrays["plain"].tolist() == [0, 1, 2]
    with pytest.raises(Dr2Error, match="pickled or non-array members"):
        check_pickle_free(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_npz_reader_reports_damage_in_one_line(tmp_path, damage):
    path = tmp_path / "params.npz"
    np.savez(path, a=np.zeros((100, 10)))
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"x" * len(data), "empty": b""}[damage])
    with pytest.raises(Dr2Error, match="params.npz is damaged or not an .npz.*do this"):
        read_npz(path, "SMPL-X parameters", "do this")


@pytest.fixture
def hostile_smplx(tmp_path):
    """A valid SMPL-X-format file (the open body's arrays) that also carries a pickle under a name not ending
    in .npy, which numpy (and so smplx, with allow_pickle=True) reads and unpickles all the same."""
    marker = tmp_path / "unpickled"
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(path, **read_npz(load_body_model("open").model_file))
    _add_members(path, {"part2num": _object_npy(marker)})  # the only pickle, and its name has no .npy
    return path, marker


@pytest.mark.slow
def test_hostile_smplx_model_never_runs_its_pickle_in_the_fit_overlay(hostile_smplx, tmp_path):
    """`fit-smplx --overlay` with such a model: smplx (allow_pickle=True) only ever sees a plain-array copy."""
    from dr2prep.fitting.fit import FitSettings
    from dr2prep.fitting.stage import cpu_threads
    from dr2prep.fitting.synthetic import make_clip
    from dr2prep.keypoints.openpose_format import quantize, save_keypoints_npz
    from dr2prep.keypoints.stage import KEYPOINTS
    from dr2prep.pipeline import fit_clip

    model, marker = hostile_smplx
    body = load_body_model(model, cache=tmp_path / "cache")
    check_pickle_free(body.model_file)
    assert body.model_file != model
    folder, size, frames = tmp_path / "ws" / "clip", (320, 180), 6
    clip = make_clip(load_body_model("open"), n_frames=frames, seed=4, focal_length=800.0, image_size=size)

    def build_media(partial):
        (partial / "frames").mkdir()
        for t in range(frames):
            cv2.imwrite(str(partial / "frames" / f"{t + 1:06d}.jpg"), np.full((size[1], size[0], 3), 80, np.uint8))
        (partial / "clip.json").write_text(json.dumps({"width": size[0], "height": size[1], "fps": 30,
                                                       "frames": frames, "source": "v.mp4"}))

    def build_keypoints(partial):
        (partial / "keypoints").mkdir()
        save_keypoints_npz(partial / "keypoints" / "keypoints.npz", quantize(clip.keypoints), size)

    run_stage(folder, StageSpec("media", "test", ("frames", "clip.json")), {}, None, build_media)
    run_stage(folder, KEYPOINTS, {}, None, build_keypoints)
    settings = FitSettings(first_frame_iterations=2, window=3, iterations=2, focal_length=800.0)
    with cpu_threads(1):
        fit_clip(folder, settings, str(model), overlay=True)
    assert (folder / "smplx" / "overlay.mp4").is_file()
    assert not marker.exists()


# --- 2. clip names ----------------------------------------------------------------------------------------------

BAD_NAMES = ["..", ".", "", "../up", "/abs/clip", "a/b", ".hidden", "-rf", "a..b", "x" * 101, "tab\tname"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_clip_names_are_refused(name):
    with pytest.raises(Dr2Error, match="is not allowed"):
        check_clip_name(name)


@pytest.mark.parametrize("path", ["..", ".", "/", "ws/..", "ws/.", "ws/.hidden"])
def test_clip_paths_ending_in_a_bad_name_are_refused(path):
    with pytest.raises(Dr2Error, match="is not allowed"):
        check_clip_path(path)


@pytest.mark.parametrize("stem", ["..", "...", "-rf", ".hidden", "a b/c", "ünïcode", "x" * 300])
def test_names_derived_from_video_files_are_valid(stem):
    assert check_clip_name(clip_name(f"/videos/{stem}.mp4"))


def _tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


@pytest.mark.slow
def test_nothing_outside_the_workspace_is_touched(tmp_path, make_video):
    """Every command that takes a clip name or clip path refuses '..', absolute paths and the like, in one line."""
    home = tmp_path / "home"
    workspace = home / "ws"
    workspace.mkdir(parents=True)
    (home / "precious.txt").write_text("mine")
    (home / "frames").mkdir()
    (home / "frames" / "keep.jpg").write_bytes(b"mine")
    video = make_video(1.0)
    before = _tree(tmp_path)
    for clip in ("..", "../x", str(home), "a/b"):  # the other names: test_bad_clip_names_are_refused
        assert_one_line_error(run_dr2("prep", video, "--clip", clip, "--until", "media", workspace=workspace),
                              "not allowed")
    assert_one_line_error(run_dr2("fit-smplx", "..", workspace=workspace), "not allowed")
    assert_one_line_error(run_dr2("fit-smplx", f"{workspace}/..", workspace=workspace), "not allowed")
    for workers in ("0", "two"):  # checked before the clip is looked up
        assert_one_line_error(run_dr2("fit-smplx", "..", "--workers", workers, workspace=workspace), "--workers")
    assert_one_line_error(run_dr2("train", "--clips", f"{workspace}/..", "--out", tmp_path / "m",
                                  workspace=workspace), "not allowed")
    assert_one_line_error(run_dr2("eval", "--clips", "..", workspace=workspace), "not allowed")
    assert _tree(tmp_path) == before


# --- 3. damaged outputs -----------------------------------------------------------------------------------------

SPEC = StageSpec("thing", "1", ("thing",))


def _thing_stage(clip_dir, calls):
    def build(partial):
        calls.append(1)
        (partial / "thing").mkdir()
        (partial / "thing" / "data.bin").write_bytes(b"0123456789" * 100)

    return run_stage(clip_dir, SPEC, {}, None, build)


@pytest.mark.parametrize("damage", ["delete", "truncate", "same_size_garbage", "touch_only"])
def test_a_damaged_output_makes_the_stage_run_again(tmp_path, damage):
    calls = []
    _thing_stage(tmp_path, calls)
    data = tmp_path / "thing" / "data.bin"
    if damage == "delete":
        data.unlink()
    elif damage == "truncate":
        data.write_bytes(data.read_bytes()[:10])
    elif damage == "same_size_garbage":
        data.write_bytes(b"x" * 1000)
    else:
        data.write_bytes(data.read_bytes())  # mtime moves, content does not: still up to date
    up_to_date = is_up_to_date(tmp_path, SPEC, {}, None)
    assert up_to_date == (damage == "touch_only")
    if damage != "touch_only":
        with pytest.raises(Dr2Error, match=r"stage 'thing' is damaged \(thing/data.bin .*\); run `dr2 --workspace"):
            require_record(tmp_path, "thing", "train")
    _thing_stage(tmp_path, calls)
    assert len(calls) == (1 if damage == "touch_only" else 2)
    assert data.read_bytes() == b"0123456789" * 100
    require_record(tmp_path, "thing", "train")


@pytest.mark.slow
def test_deleted_frames_are_noticed_and_the_advised_command_restores_them(tmp_path, make_video):
    workspace = tmp_path / "ws"
    video = make_video(1.0)
    run_dr2("prep", video, "--until", "media", workspace=workspace, check=True)
    clip_dir = workspace / video.stem
    digest = read_record(clip_dir, "media")["output_digest"]
    (clip_dir / "frames" / "000003.jpg").unlink()
    result = run_dr2("prep", video, "--only", "keypoints", workspace=workspace)
    assert_one_line_error(result, "stage 'media' is damaged", "frames/000003.jpg is missing")
    advised = result.stderr.split("`")[1]
    assert advised.startswith("dr2 ")
    redo = subprocess.run([sys.executable, "-m", "cli", "--quiet", *shlex.split(advised)[1:], "--until", "media"],
                          capture_output=True, text=True)
    assert redo.returncode == 0, redo.stderr
    assert (clip_dir / "frames" / "000003.jpg").is_file()
    assert read_record(clip_dir, "media")["output_digest"] == digest  # identical frames: later stages stay valid


# --- 4. another video under the same clip name ------------------------------------------------------------------

@pytest.mark.slow
def test_another_video_with_the_same_clip_name_is_refused(tmp_path, make_video):
    workspace = tmp_path / "ws"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_video(1.0).rename(tmp_path / "a" / "talk.mp4")
    second = make_video(1.4, size=(128, 96)).rename(tmp_path / "b" / "talk.mp4")
    run_dr2("prep", first, "--until", "media", workspace=workspace, check=True)
    clip_dir = workspace / "talk"
    digest = read_record(clip_dir, "media")["output_digest"]
    assert_one_line_error(run_dr2("prep", second, "--until", "media", workspace=workspace),
                          "prepared from another video", "--clip NAME", "--replace")
    assert read_record(clip_dir, "media")["output_digest"] == digest  # the first clip is intact
    run_dr2("prep", second, "--until", "media", "--clip", "talk2", workspace=workspace, check=True)
    run_dr2("prep", second, "--until", "media", "--replace", workspace=workspace, check=True)
    clip = json.loads((clip_dir / "clip.json").read_text())
    assert clip["source"] == str(second.resolve()) and clip["width"] == 128


# --- 6. disk full, permissions ----------------------------------------------------------------------------------

def test_a_full_disk_in_ffmpeg_is_named_as_such(tmp_path, make_video):
    """Real ffmpeg writing to /dev/full (ENOSPC on every write): not reported as a damaged video."""
    video = make_video(1.0)
    with pytest.raises(OSError) as caught:
        run_ffmpeg([ffmpeg_exe(), "-y", "-i", str(video), "-f", "wav", "/dev/full"], video, 1.0, "audio")
    assert caught.value.errno == errno.ENOSPC


def test_a_full_disk_during_the_media_stage_removes_the_partial_frames(tmp_path, make_video, monkeypatch):
    """ENOSPC injected after ffmpeg wrote the frames: one line naming the full disk, no frames left behind."""
    video = make_video(1.0)
    real = media_module.run_ffmpeg

    def disk_fills_up(args, source, duration, desc):
        real(args, source, duration, desc)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(media_module, "run_ffmpeg", disk_fills_up)
    clip_dir = tmp_path / "ws" / "clip"
    with pytest.raises(Dr2Error, match="no space left on the device holding .*ws/clip; free some space"):
        prepare_media(video, clip_dir)
    assert not (clip_dir / PARTIAL_DIR / "media").exists() and not (clip_dir / "frames").exists()


@pytest.mark.slow
def test_a_workspace_path_under_a_file_is_one_line(tmp_path, make_video):
    """Tests run as root, where chmod does not stop writes: a path under a regular file does (ENOTDIR)."""
    (tmp_path / "file").write_text("x")
    assert_one_line_error(run_dr2("prep", make_video(1.0), "--until", "media", workspace=tmp_path / "file" / "ws"),
                          "workspace")


# --- 7. rotated phone video -------------------------------------------------------------------------------------

@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_a_rotated_video_is_recorded_with_its_upright_size(tmp_path, make_video, rotation):
    plain = make_video(1.0, size=(160, 96))
    rotated = tmp_path / f"phone{rotation}.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-display_rotation", str(rotation), "-i", str(plain),
                    "-c", "copy", str(rotated)], check=True)
    upright = (96, 160) if rotation % 180 else (160, 96)
    assert (probe(rotated).width, probe(rotated).height) == upright
    clip_dir = tmp_path / "ws" / "phone"
    prepare_media(rotated, clip_dir)
    clip = json.loads((clip_dir / "clip.json").read_text())
    frame = cv2.imread(str(clip_dir / "frames" / "000001.jpg"))
    assert (clip["width"], clip["height"]) == upright == (frame.shape[1], frame.shape[0])


# --- 8. smaller -------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_failing_input_leaves_no_clip_folder(tmp_path):
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("not a video")
    workspace = tmp_path / "ws"
    assert_one_line_error(run_dr2("prep", not_a_video, workspace=workspace), "not a readable video")
    assert list(workspace.iterdir()) == []
