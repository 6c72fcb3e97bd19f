"""Shot changes: found on a generated clip with known cuts, recorded and cached by `dr2 prep`, none on a single shot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dr2common.errors import Dr2Error
from dr2prep.shots import SHOTS_FILE, find_cuts, find_fades, read_cuts, shot_ranges, steady_segments
from dr2prep.stage import read_record
from tests.cli_runner import run_dr2
from tests.prep.keypoints_clips import TEDX, excerpt
from tests.prep.shots_clips import FADE, FPS, cut_frames, joined_sources


def precision_recall(found: list[int], truth: list[int], tolerance: int = 1) -> tuple[float, float]:
    """A found cut is right when a true cut lies within `tolerance` frames (each true cut matched once)."""
    unmatched, hits = list(truth), 0
    for cut in found:
        match = next((t for t in unmatched if abs(t - cut) <= tolerance), None)
        if match is not None:
            unmatched.remove(match)
            hits += 1
    return hits / max(len(found), 1), hits / max(len(truth), 1)


def test_cuts_of_a_generated_clip_are_found_and_recorded(tmp_path):
    video = joined_sources(tmp_path / "joined.mp4")
    run_dr2("prep", video, "--until", "shots", workspace=tmp_path / "ws", check=True)
    clip_dir = tmp_path / "ws" / "joined"
    record = json.loads((clip_dir / SHOTS_FILE).read_text())
    found = [c["frame"] for c in record["cuts"]]
    precision, recall = precision_recall(found, cut_frames())
    print(f"\ngenerated clip: true cuts {cut_frames()}, found {found}: precision {precision:.2f}, recall {recall:.2f}")
    assert (precision, recall) == (1.0, 1.0)
    assert found == cut_frames()  # to the frame
    assert record["cuts"][0]["time"] == pytest.approx(cut_frames()[0] / FPS, abs=1e-3)
    assert record["shots"] == [list(r) for r in shot_ranges(record["frames"], found)]
    assert read_cuts(clip_dir) == found

    # Cached like every stage: a second run does not look at the frames again.
    first = read_record(clip_dir, "shots")
    run_dr2("prep", video, "--until", "shots", workspace=tmp_path / "ws", check=True)
    assert read_record(clip_dir, "shots")["finished"] == first["finished"]


def test_a_fade_through_black_is_a_shot_change(tmp_path):
    video = joined_sources(tmp_path / "fade.mp4", FADE)
    run_dr2("prep", video, "--until", "shots", workspace=tmp_path / "ws", check=True)
    cuts = json.loads((tmp_path / "ws" / "fade" / SHOTS_FILE).read_text())["cuts"]
    print(f"\nfade out and in around frame {cut_frames(FADE)[0]}: found {cuts}")
    assert [c["kind"] for c in cuts] == ["fade"]
    assert abs(cuts[0]["frame"] - cut_frames(FADE)[0]) <= 3


def test_black_runs_between_bright_frames_are_fades():
    brightness = np.array([0.5] * 10 + [0.02] * 5 + [0.4] * 10 + [0.01] * 3)  # a fade, then a fade-out at the end
    assert find_fades(brightness) == [12]
    assert find_fades(brightness, cuts=[15]) == []  # a hard cut right after the black: no second change


def test_one_shot_of_real_footage_has_no_cut(media_dir, tmp_path):
    video = excerpt(media_dir / TEDX, tmp_path / "tedx.mp4", 0.0, 9.0)  # a speaker moving and gesturing on stage
    run_dr2("prep", video, "--until", "shots", workspace=tmp_path / "ws", check=True)
    assert read_cuts(tmp_path / "ws" / "tedx") == []


def test_the_shirt_change_of_speaker_tips_is_found_to_the_frame(media_dir, tmp_path):
    # 6.0-10.5 s of the clip: one cut, at 8.6 s (checked shirt -> navy polo), frame 258 of the clip.
    video = excerpt(media_dir / "speaker_tips_46s.mp4", tmp_path / "tips.mp4", 6.0, 4.5)
    run_dr2("prep", video, "--until", "shots", workspace=tmp_path / "ws", check=True)
    assert read_cuts(tmp_path / "ws" / "tips") == [258 - 180]


def test_an_isolated_spike_is_a_cut_and_steady_change_is_not():
    motion = np.full(60, 0.02, np.float32)
    motion[30:40] = 0.15  # a fast gesture: high, but so are its neighbours
    motion[50] = 0.3  # a cut
    assert find_cuts(motion) == [51]


def test_shots_and_their_steady_parts():
    assert shot_ranges(100, [40, 70]) == [(0, 40), (40, 70), (70, 100)]
    assert shot_ranges(100, []) == [(0, 100)]
    assert steady_segments(100, [40, 70], margin=2) == [(0, 38), (42, 68), (72, 100)]


def test_a_workspace_from_before_shot_detection_is_one_shot_and_a_damaged_record_is_clear(tmp_path):
    assert read_cuts(tmp_path) == []
    (tmp_path / "shots").mkdir()
    (tmp_path / SHOTS_FILE).write_text("{not json")
    with pytest.raises(Dr2Error, match="re-run `dr2 prep --only shots --force`"):
        read_cuts(tmp_path)


def test_fit_runs_never_span_a_cut():
    from dr2prep.fitting.fit import shot_runs

    assert shot_runs(0, 20, 8, [5, 18]) == [(0, 5), (5, 8), (8, 16), (16, 18), (18, 20)]
    assert shot_runs(0, 20, 8, []) == [(0, 8), (8, 16), (16, 20)]  # as before shot detection
