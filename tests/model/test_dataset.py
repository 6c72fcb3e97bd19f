"""Training data: arrays from params.npz + features, windows, the state bank, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dr2model.codecs import Codecs, fit_codecs
from dr2model.dataset import PROSODY_CHANNELS, ClipArrays, GestureWindows, clip_arrays_from_params, read_clip_inputs
from dr2model.train import TrainSettings, load_training_clips
from dr2common.errors import Dr2Error
from dr2prep.audio.builtin_features import CHANNELS
from tests.model.synthetic import audio_features, prepared_clip, smplx_params


def test_clip_arrays_from_params_files(tmp_path):
    params = smplx_params(140)
    # The fit also writes non-float entries and the camera (dr2prep/fitting/params_file.py).
    np.savez(tmp_path / "params.npz", **params, model_kind=np.array("open"), detected=np.ones(140, bool),
             focal_length=np.array(5000.0, np.float32), camera_center=np.array([640.0, 360.0], np.float32))
    features = audio_features(141)  # one frame more: rounding between video and audio
    np.save(tmp_path / "builtin.npy", features)
    codecs = fit_codecs([params], [features])
    clip = clip_arrays_from_params(tmp_path / "params.npz", tmp_path / "builtin.npy", codecs, name="c")
    assert clip.pose.shape == (140, 59) and clip.face.shape == (140, 10) and clip.audio.shape == (140, 29)
    assert clip.pose.dtype == np.float32
    np.testing.assert_allclose(clip.face, params["expression"])
    np.testing.assert_allclose(clip.audio, codecs.normalise_audio(features[:140]))
    assert clip.identity.name == "c"


def test_missing_key_and_length_mismatch_are_clear(tmp_path):
    params = smplx_params(140)
    codecs = fit_codecs([params], [audio_features(140)])
    broken = {k: v for k, v in params.items() if k != "jaw_pose"}
    with pytest.raises(Dr2Error, match="lacks jaw_pose"):
        clip_arrays_from_params(broken, audio_features(140), codecs)
    with pytest.raises(Dr2Error, match="140 frames but the audio features 200"):
        clip_arrays_from_params(params, audio_features(200), codecs)


def test_windows_and_state_bank():
    clips = [ClipArrays(n, np.full((t, 59), i, np.float32), np.zeros((t, 10), np.float32),
                        np.zeros((t, 29), np.float32)) for i, (n, t) in enumerate([("a", 130), ("b", 200)])]
    windows = GestureWindows(clips, 128, stride=16)
    # a: starts 0, 2 (last aligned to the end); b: 0, 16, 32, 48, 64, 72.
    assert windows.paired_starts.tolist() == [0, 2, 130, 146, 162, 178, 194, 202]
    assert len(windows.bank_starts) == 3 + 73
    batch = windows.batch(torch.tensor([1, 7]), torch.tensor([0, 75]))
    assert batch["audio"].shape == (2, 128, 29) and batch["pose"].shape == (2, 128, 59)
    # Windows never cross clips.
    assert torch.all(batch["pose"][0] == 0) and torch.all(batch["pose"][1] == 1)
    assert torch.all(batch["pose_unpaired"][0] == 0) and torch.all(batch["pose_unpaired"][1] == 1)


def test_too_short_clip_is_an_error():
    short = ClipArrays("tiny", np.zeros((100, 59), np.float32), np.zeros((100, 10), np.float32),
                       np.zeros((100, 29), np.float32))
    with pytest.raises(Dr2Error, match="tiny have fewer than 128 frames"):
        GestureWindows([short])


def test_prepared_clips_load(tmp_path):
    a = prepared_clip(tmp_path, "a", 150, seed=0)
    b = prepared_clip(tmp_path, "b", 140, seed=1)
    clips, codecs, kind, _ = load_training_clips([a, b], TrainSettings())
    assert kind == "builtin" and [c.name for c in clips] == ["a", "b"]
    assert [c.name for c in codecs.clips] == ["a", "b"]
    assert clips[0].pose.shape == (150, 59)


def test_no_clips_is_an_error():
    with pytest.raises(Dr2Error, match="no clips given"):
        load_training_clips([], TrainSettings())


def test_clip_missing_a_stage_is_an_error(tmp_path):
    clip = prepared_clip(tmp_path, "nofit", stages=("audio_features",))
    with pytest.raises(Dr2Error, match="needs stage 'smplx' of clip nofit"):
        read_clip_inputs(clip)
    clip = prepared_clip(tmp_path, "nofeatures", stages=("smplx",))
    with pytest.raises(Dr2Error, match="needs stage 'audio_features' of clip nofeatures"):
        load_training_clips([clip], TrainSettings())


def test_clips_of_different_feature_kinds_are_an_error(tmp_path):
    a = prepared_clip(tmp_path, "a", kinds=("deepspeech",))
    b = prepared_clip(tmp_path, "b", kinds=("builtin",))
    with pytest.raises(Dr2Error, match="different audio feature kinds"):
        load_training_clips([a, b], TrainSettings())
    with pytest.raises(Dr2Error, match="no 'deepspeech' audio features"):
        load_training_clips([a, b], TrainSettings(feature_kind="deepspeech"))


def test_ambiguous_feature_kind_asks_for_a_choice(tmp_path):
    a = prepared_clip(tmp_path, "a", kinds=("deepspeech", "builtin"))
    with pytest.raises(Dr2Error, match="choose one with --audio-features"):
        load_training_clips([a], TrainSettings())
    clips, _, kind, _ = load_training_clips([a], TrainSettings(feature_kind="deepspeech"))
    assert kind == "deepspeech"


def test_too_short_prepared_clip_is_an_error(tmp_path):
    from dr2model.train import train_model

    clip = prepared_clip(tmp_path, "short", frames=90)
    with pytest.raises(Dr2Error, match="fewer than 128 frames"):
        train_model([clip], tmp_path / "model", TrainSettings(max_steps=1))


def test_windows_never_reach_across_a_shot_change():
    # One clip of 400 frames cut at 150, 200 and 220: shots [0, 150), [150, 200) (short: padded, masked),
    # [200, 220) (under 32 frames: no window), [220, 400).
    pose = np.repeat(np.array([0, 1, 2, 3], np.float32), [150, 50, 20, 180])[:, None].repeat(59, axis=1)
    clip = ClipArrays("cut", pose, np.zeros((400, 10), np.float32), np.zeros((400, 29), np.float32),
                      cuts=(150, 200, 220))
    windows = GestureWindows([clip], 128, stride=16, min_shot=32)
    assert windows.paired_starts.tolist() == [0, 16, 22, 150, 166, 168, 220, 236, 252, 268, 272]
    assert windows.bank_starts.tolist() == list(range(0, 23)) + list(range(150, 169)) + list(range(220, 273))
    assert windows.frames_in_shots == 150 + 50 + 180
    every = torch.arange(len(windows))
    batch = windows.batch(every, torch.randint(len(windows.bank_starts), (len(windows),)))
    for poses in (batch["pose"], batch["pose_unpaired"]):  # each window holds one shot's frames only
        assert torch.all(poses.amin(dim=(1, 2)) == poses.amax(dim=(1, 2)))
    # Whole windows are valid throughout; a window of the 50-frame shot only up to the cut.
    valid = batch["valid"]
    assert valid[:3].all() and valid[6:].all()
    assert valid[3].sum() == 50 and valid[3, :50].all()  # starts at 150: frames 150..199
    assert valid[5].sum() == 32  # starts at 168 (the last start with 32 frames left)


def test_a_clip_cut_into_short_shots_is_an_error():
    clip = ClipArrays("choppy", np.zeros((300, 59), np.float32), np.zeros((300, 10), np.float32),
                      np.zeros((300, 29), np.float32), cuts=tuple(range(20, 300, 20)))
    with pytest.raises(Dr2Error, match="choppy have no shot of 32 frames"):
        GestureWindows([clip])


def test_shot_starts_of_the_fit_reach_the_clip_arrays(tmp_path):
    params = smplx_params(140)
    np.savez(tmp_path / "params.npz", **params, shot_starts=np.array([40], np.int32))
    features = audio_features(140)
    clip = clip_arrays_from_params(tmp_path / "params.npz", features, fit_codecs([params], [features]), name="c")
    assert clip.cuts == (40,)
    old = clip_arrays_from_params(params, features, fit_codecs([params], [features]), name="old")  # fits from before
    assert old.cuts == ()


def test_training_can_hear_only_the_prosody_of_builtin_features(tmp_path):
    """With audio_channels "prosody" the network reads loudness, voicing, pitch and onsets of the built-in
    features, the MFCC channels being zero. The codecs carry the choice, so synthesis (which reads audio
    through them) hears the same. The default hears every channel."""
    clip = prepared_clip(tmp_path, "a", 150, features_info={"kind": "builtin", "dim": 29, "channels": list(CHANNELS)})
    features = audio_features(150)
    heard = [CHANNELS.index(name) for name in PROSODY_CHANNELS]
    silent = [i for i in range(len(CHANNELS)) if i not in heard]
    clips, codecs, _, _ = load_training_clips([clip], TrainSettings(audio_channels="prosody"))
    assert len(heard) == 5 and np.all(clips[0].audio[:, silent] == 0) and np.all(clips[0].audio[:, heard] != 0)
    normalised = (features - codecs.audio_mean) / codecs.audio_std
    np.testing.assert_allclose(clips[0].audio[:, heard], normalised[:, heard], rtol=1e-5)
    saved = Codecs.from_tensors(*codecs.to_tensors())
    np.testing.assert_array_equal(saved.normalise_audio(features), clips[0].audio)

    clips_all, codecs_all, _, _ = load_training_clips([clip], TrainSettings())
    assert codecs_all.audio_heard is None and np.all(clips_all[0].audio != 0)
    assert Codecs.from_tensors(*codecs_all.to_tensors()).audio_heard is None  # as models from before the choice
    # Features without those channels (DeepSpeech's character logits) are heard whole.
    logits = prepared_clip(tmp_path, "b", 150, kinds=("deepspeech",))
    assert load_training_clips([logits], TrainSettings(audio_channels="prosody"))[1].audio_heard is None
    with pytest.raises(Dr2Error, match="unknown audio channel choice 'mfcc'"):
        load_training_clips([clip], TrainSettings(audio_channels="mfcc"))
