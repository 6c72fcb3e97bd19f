"""The audio_features stage on prepared clips, and features of real speech."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dr2prep.audio import AudioFeatureSettings, extract_features, load_clip_features, run_audio_features_stage
from dr2prep.audio.builtin_features import CHANNELS
from dr2prep.audio.deepspeech_graph import random_deepspeech_tensors, write_constants_graph
from dr2prep.audio.reading import load_audio
from dr2common.errors import Dr2Error
from dr2prep.media import MediaSettings, prepare_media


def prepared_clip(make_video, tmp_path, fps: float, seconds: float = 1.6, audio: bool = True):
    clip_dir = tmp_path / f"clip{fps}"
    prepare_media(make_video(seconds=seconds, fps=fps, audio=audio), clip_dir, MediaSettings())
    return clip_dir


@pytest.mark.parametrize("fps", [25, 30, 60])
def test_rows_equal_the_media_stage_frames(make_video, tmp_path, fps):
    clip_dir = prepared_clip(make_video, tmp_path, fps)
    outcome = run_audio_features_stage(clip_dir, AudioFeatureSettings())
    frames = json.loads((clip_dir / "clip.json").read_text())["frames"]
    features, info = load_clip_features(clip_dir, "builtin")
    assert features.shape == (frames, 29) and features.dtype == np.float32
    assert info["kind"] == "builtin" and info["fps"] == 30 and info["frames"] == frames
    assert not outcome.skipped and outcome.record["summary"]["frames"] == frames


def test_stage_is_cached_and_follows_the_graph(make_video, tmp_path, monkeypatch):
    clip_dir = prepared_clip(make_video, tmp_path, 30)
    assert run_audio_features_stage(clip_dir, AudioFeatureSettings()).skipped is False
    assert run_audio_features_stage(clip_dir, AudioFeatureSettings()).skipped is True

    graph = write_constants_graph(tmp_path / "a.pb", random_deepspeech_tensors(n_hidden=8, seed=1))
    settings = AudioFeatureSettings(kind="deepspeech", deepspeech_graph=str(graph))
    assert run_audio_features_stage(clip_dir, settings).skipped is False
    features, info = load_clip_features(clip_dir, "deepspeech")
    assert features.shape[1] == 29 and len(info["graph_sha256"]) == 64
    moved = graph.rename(tmp_path / "moved.pb")  # same content elsewhere: still up to date
    assert run_audio_features_stage(clip_dir, AudioFeatureSettings("deepspeech", str(moved))).skipped is True
    write_constants_graph(moved, random_deepspeech_tensors(n_hidden=8, seed=2))  # other weights: re-run
    assert run_audio_features_stage(clip_dir, AudioFeatureSettings("deepspeech", str(moved))).skipped is False

    monkeypatch.delenv("DR2_DEEPSPEECH_GRAPH", raising=False)
    with pytest.raises(Dr2Error, match="--deepspeech-graph"):
        run_audio_features_stage(clip_dir, AudioFeatureSettings(kind="deepspeech"))
    with pytest.raises(Dr2Error, match="unknown audio feature kind"):
        run_audio_features_stage(clip_dir, AudioFeatureSettings(kind="mel"))


def test_stage_needs_media_and_audio(make_video, tmp_path):
    with pytest.raises(Dr2Error, match="stage 'media'"):
        run_audio_features_stage(tmp_path / "nothing", AudioFeatureSettings())
    clip_dir = prepared_clip(make_video, tmp_path, 30, audio=False)
    with pytest.raises(Dr2Error, match="no audio track"):
        run_audio_features_stage(clip_dir, AudioFeatureSettings())


def speech_and_pause_frames(samples: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Label 30 FPS frames from the waveform alone: speech within 15 dB of the clip's loud
    frames (95th percentile of frame RMS), pause 25 dB or more below them."""
    hop = 16000 / 30
    rms = np.array([np.sqrt(np.mean(samples[int(t * hop) : int((t + 1) * hop)] ** 2) + 1e-12) for t in range(n_frames)])
    level = 20 * np.log10(rms)
    level -= np.percentile(level, 95)
    return level >= -15, level <= -25


def speech_pause_statistics(features: np.ndarray, speech: np.ndarray, pause: np.ndarray) -> dict:
    """Energy gap, voicing in both, and the balanced accuracy (mean of the per-class hit rates) of a
    leave-one-out nearest-centroid classifier that sees no energy channel."""
    energy, voicing = CHANNELS.index("energy"), CHANNELS.index("voicing")
    keep = [i for i, name in enumerate(CHANNELS) if "energy" not in name]
    x = features[:, keep]
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    labelled = np.flatnonzero(speech | pause)
    hits = {True: 0, False: 0}
    for i in labelled:
        others = labelled[labelled != i]
        centroids = [x[others[speech[others]]].mean(axis=0), x[others[pause[others]]].mean(axis=0)]
        guess_speech = np.linalg.norm(x[i] - centroids[0]) < np.linalg.norm(x[i] - centroids[1])
        hits[bool(speech[i])] += bool(guess_speech == speech[i])
    return {
        "speech_frames": int(speech.sum()),
        "pause_frames": int(pause.sum()),
        "energy_gap_db": float(20 * (np.median(features[speech, energy]) - np.median(features[pause, energy]))),
        "voicing_speech": float(features[speech, voicing].mean()),
        "voicing_pause": float(features[pause, voicing].mean()),
        "balanced_accuracy_without_energy": (hits[True] / speech.sum() + hits[False] / pause.sum()) / 2,
    }


@pytest.mark.media
@pytest.mark.parametrize("name", ["oliver_talkshow_7s.mp4", "tedx_speaker_9s.mp4"])
def test_real_speech_differs_from_pauses(media_dir, name, capsys):
    samples = load_audio(media_dir / name)
    features = extract_features(samples)
    speech, pause = speech_and_pause_frames(samples, len(features))
    stats = speech_pause_statistics(features, speech, pause)
    with capsys.disabled():
        shown = (f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items())
        print(f"\n{name}: " + ", ".join(shown))
    assert stats["pause_frames"] >= 10
    assert stats["energy_gap_db"] > 15
    assert stats["voicing_speech"] > stats["voicing_pause"] + 0.2
    assert stats["balanced_accuracy_without_energy"] > 0.8


def test_loading_features_of_another_kind_says_what_is_there(make_video, tmp_path):
    clip_dir = prepared_clip(make_video, tmp_path, 30)
    run_audio_features_stage(clip_dir, AudioFeatureSettings())
    with pytest.raises(Dr2Error, match="no 'deepspeech' audio features \\(it holds 'builtin' features\\)"):
        load_clip_features(clip_dir, "deepspeech")
