"""The DeepSpeech v0.1.x port: graph reading, the network against independent references, MFCC."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dr2prep.audio import extract_features, make_extractor
from dr2prep.audio.deepspeech_graph import (
    LSTM_SCOPE,
    load_deepspeech_weights,
    random_deepspeech_tensors,
    read_graph_constants,
    write_constants_graph,
)
from dr2prep.audio import deepspeech_net
from dr2prep.audio.deepspeech_net import DeepSpeechNet
from dr2prep.audio.mfcc import INPUT_WIDTH, deepspeech_input, mfcc
from dr2common.errors import Dr2Error

V010_NODES = ["b1", "h1", "b2", "h2", "b3", "h3", "b5", "h5", "b6", "h6"] + [
    f"{LSTM_SCOPE.format(direction=d)}/{v}" for d in ("fw", "bw") for v in ("kernel", "bias")
]


def numpy_deepspeech(t: dict, x: np.ndarray) -> np.ndarray:
    """DeepSpeech.py BiRNN() written out in float64 numpy, straight from TensorFlow's layouts."""

    def relu20(v):
        return np.minimum(np.maximum(v, 0.0), 20.0)

    def sigmoid(v):
        return 1.0 / (1.0 + np.exp(-v))

    def lstm(kernel, bias, sequence):
        n = bias.size // 4
        h, c, outputs = np.zeros(n), np.zeros(n), []
        for x_t in sequence:
            i, j, f, o = np.split(np.concatenate([x_t, h]) @ kernel + bias, 4)  # BasicLSTMCell gate order
            c = c * sigmoid(f + 1.0) + sigmoid(i) * np.tanh(j)
            h = np.tanh(c) * sigmoid(o)
            outputs.append(h)
        return np.array(outputs)

    t = {k: v.astype(np.float64) for k, v in t.items()}
    fw, bw = (LSTM_SCOPE.format(direction=d) for d in ("fw", "bw"))
    layer_3 = relu20(relu20(relu20(x @ t["h1"] + t["b1"]) @ t["h2"] + t["b2"]) @ t["h3"] + t["b3"])
    forward = lstm(t[f"{fw}/kernel"], t[f"{fw}/bias"], layer_3)
    backward = lstm(t[f"{bw}/kernel"], t[f"{bw}/bias"], layer_3[::-1])[::-1]
    layer_5 = relu20(np.concatenate([forward, backward], axis=1) @ t["h5"] + t["b5"])
    return layer_5 @ t["h6"] + t["b6"]


@pytest.fixture
def small_graph(tmp_path):
    """A v0.1.0-named graph file with random weights of small widths (16 hidden, 24 cell)."""
    tensors = random_deepspeech_tensors(n_hidden=16, n_cell=24, seed=7)
    return write_constants_graph(tmp_path / "output_graph.pb", tensors), tensors


def test_graph_file_has_v010_nodes_and_round_trips(small_graph):
    path, tensors = small_graph
    constants = read_graph_constants(path)
    assert set(V010_NODES) <= set(constants)
    assert constants["h1"].shape == (INPUT_WIDTH, 16)
    for name in V010_NODES:
        np.testing.assert_array_equal(constants[name], tensors[name])


def test_loader_reads_sizes_from_the_tensors(small_graph):
    weights = load_deepspeech_weights(small_graph[0])
    assert weights.sizes() == {"n_input": 494, "n_hidden_1": 16, "n_hidden_2": 16, "n_hidden_3": 48,
                               "n_hidden_5": 16, "n_cell": 24, "n_characters": 29}  # fmt: skip


def test_logits_match_numpy_reference_across_lstm_chunks(small_graph, monkeypatch):
    path, tensors = small_graph
    monkeypatch.setattr(deepspeech_net, "_CHUNK_STEPS", 128)  # 300 steps: the state crosses two chunk joins
    net = DeepSpeechNet(load_deepspeech_weights(path))
    x = np.random.default_rng(0).standard_normal((300, INPUT_WIDTH)).astype(np.float32)
    logits = net(torch.from_numpy(x)).numpy()
    assert logits.shape == (300, 29)
    expected = numpy_deepspeech(tensors, x.astype(np.float64))
    assert np.abs(expected).max() > 1.0  # the reference is not trivially small
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_loader_accepts_tf_1_0_lstm_names(tmp_path, small_graph):
    _, tensors = small_graph
    renamed = {k.replace("/kernel", "/weights").replace("/bias", "/biases"): v for k, v in tensors.items()}
    weights = load_deepspeech_weights(write_constants_graph(tmp_path / "old.pb", renamed))
    assert weights.n_cell == 24


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda t: t.pop("h6"), "no node 'h6'"),
        (lambda t: t.pop(f"{LSTM_SCOPE.format(direction='bw')}/kernel"), "bidirectional_rnn/bw/basic_lstm_cell"),
        (lambda t: t.__setitem__("h1", np.zeros((100, 8), np.float32)), "494"),
    ],
)
def test_loader_refuses_other_graphs(tmp_path, damage, message):
    tensors = random_deepspeech_tensors(n_hidden=8, seed=1)
    damage(tensors)
    with pytest.raises(Dr2Error, match=message):
        load_deepspeech_weights(write_constants_graph(tmp_path / "g.pb", tensors))


def test_loader_refuses_missing_and_non_graph_files(tmp_path):
    with pytest.raises(Dr2Error, match="not found"):
        load_deepspeech_weights(tmp_path / "absent.pb")
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\xfe this is not a protobuf \x00" * 10)
    with pytest.raises(Dr2Error, match="not a TensorFlow frozen graph"):
        load_deepspeech_weights(junk)


def test_deepspeech_needs_a_graph(monkeypatch):
    monkeypatch.delenv("DR2_DEEPSPEECH_GRAPH", raising=False)
    with pytest.raises(Dr2Error, match="--deepspeech-graph"):
        make_extractor("deepspeech")


def test_tensorflow_parity(tmp_path):
    """The same frozen graph run by TensorFlow and by the port gives the same logits."""
    pytest.importorskip("tensorflow")
    from tests.prep import deepspeech_tf_reference as tf_reference

    try:
        tf_reference.basic_lstm_cell(4)
    except AttributeError:
        pytest.skip("this TensorFlow has no BasicLSTMCell (Keras 3); pip install tf_keras to run the parity test")
    path = tmp_path / "output_graph.pb"
    tf_reference.build_frozen_deepspeech(str(path), n_hidden=48, seed=1)
    x = np.random.default_rng(3).standard_normal((57, INPUT_WIDTH)).astype(np.float32)
    expected = tf_reference.run_frozen_logits(str(path), x)
    logits = DeepSpeechNet(load_deepspeech_weights(path))(torch.from_numpy(x)).numpy()
    assert logits.shape == expected.shape == (57, 29)
    assert np.abs(logits - expected).max() <= 1e-4


def _speechlike(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Voiced bursts (harmonics of 120-220 Hz) separated by pauses, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 170 + 50 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = (np.sin(2 * np.pi * 1.3 * t) > -0.2).astype(float)
    return (0.2 * voice * envelope + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def test_mfcc_matches_python_speech_features():
    psf = pytest.importorskip("python_speech_features")
    signal = np.trunc(_speechlike(1.3).astype(np.float64) * 32768)
    np.testing.assert_allclose(mfcc(signal), psf.mfcc(signal, samplerate=16000, numcep=26), atol=1e-9)


def test_network_input_matches_deepspeech_audio_to_input_vector():
    """util/audio.py audioToInputVector of DeepSpeech v0.1.0 (as VOCA copies it), with python_speech_features."""
    psf = pytest.importorskip("python_speech_features")
    samples = _speechlike(2.0)
    audio = np.trunc(samples * 32768).astype(np.int16)
    features = psf.mfcc(audio, samplerate=16000, numcep=26)[::2]
    empty = np.zeros((9, 26))
    padded = np.concatenate((empty, features, empty))
    windows = np.array([padded[i : i + 19].reshape(-1) for i in range(len(features))])
    expected = (windows - np.mean(windows)) / np.std(windows)
    got = deepspeech_input(samples)
    assert got.shape == (len(features), INPUT_WIDTH) == (100, 494)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_deepspeech_features_on_the_frame_clock(small_graph):
    path, _ = small_graph
    samples = _speechlike(1.5)
    features = extract_features(samples, kind="deepspeech", deepspeech_graph=path)
    assert features.shape == (45, 29) and features.dtype == np.float32
    assert np.isfinite(features).all() and features.std() > 0
    extractor = make_extractor("deepspeech", path)
    info = extractor.describe()
    assert info["kind"] == "deepspeech" and len(info["graph_sha256"]) == 64 and info["channels"][0] == " "
    # The environment variable names the graph when no option does; a graph makes deepspeech the default.
    assert extract_features(samples, n_frames=40, deepspeech_graph=path).shape == (40, 29)
