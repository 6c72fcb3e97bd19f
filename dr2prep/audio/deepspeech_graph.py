"""Reading the weights of a DeepSpeech v0.1.x frozen graph (`output_graph.pb`) without TensorFlow.

A frozen graph is a protobuf GraphDef whose trained variables became Const nodes of the same
names; the GraphDef message classes ship compiled inside the tensorboard wheel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dr2common.errors import Dr2Error
from dr2prep.audio.mfcc import INPUT_WIDTH
from dr2prep.stage import sha256_file

GRAPH_ENV = "DR2_DEEPSPEECH_GRAPH"  # where `--deepspeech-graph` is read from when not given
RELEASE_URL = "https://github.com/mozilla/DeepSpeech/releases/tag/v0.1.0"  # deepspeech-0.1.0-models.tar.gz
RELEASE_MD5 = "08a9e6e8dc450007a0df0a37956bc795"  # models/output_graph.pb of that archive

# Node names of DeepSpeech v0.1.x (DeepSpeech.py BiRNN): clipped-ReLU layers h1..h3, a
# bidirectional BasicLSTMCell, clipped-ReLU h5 and the linear logits layer h6.
DENSE_LAYERS = ("1", "2", "3", "5", "6")
LSTM_SCOPE = "bidirectional_rnn/{direction}/basic_lstm_cell"
LSTM_DIRECTIONS = ("fw", "bw")
# TensorFlow >= 1.2 names the LSTM variables kernel/bias; 1.0 and 1.1 named them weights/biases.
LSTM_KERNEL_NAMES = ("kernel", "weights")
LSTM_BIAS_NAMES = ("bias", "biases")
INPUT_NODE = "input_node"  # float32 [batch, steps, 494]
LENGTHS_NODE = "input_lengths"  # int32 [batch]
LOGITS_NODE = "logits"  # float32 [steps, batch, 29], time-major
N_CHARACTERS = 29  # ' ', a..z, apostrophe, CTC blank
ALPHABET = (" ", *"abcdefghijklmnopqrstuvwxyz", "'", "<blank>")  # logit order of the English model


@dataclass(frozen=True)
class DeepSpeechWeights:
    """The trained tensors of the network, in TensorFlow's layouts.

    dense[n] = (h_n (in, out), b_n (out,)) for n in 1, 2, 3, 5, 6;
    lstm[d] = (kernel (in + cell, 4 cell), bias (4 cell,)) for d in fw, bw, gates i, j, f, o.
    """

    dense: dict[str, tuple[np.ndarray, np.ndarray]]
    lstm: dict[str, tuple[np.ndarray, np.ndarray]]

    @property
    def n_cell(self) -> int:
        return self.lstm["fw"][1].shape[0] // 4

    @property
    def n_characters(self) -> int:
        return self.dense["6"][1].shape[0]

    def sizes(self) -> dict:
        """Layer widths read from the tensors (v0.1.0: 2048 hidden, 2048 cell, 29 characters)."""
        return {
            "n_input": self.dense["1"][0].shape[0],
            **{f"n_hidden_{n}": self.dense[n][1].shape[0] for n in ("1", "2", "3", "5")},
            "n_cell": self.n_cell,
            "n_characters": self.n_characters,
        }


def resolve_graph_path(option: str | Path | None) -> Path | None:
    """The graph given by `--deepspeech-graph`, else by $DR2_DEEPSPEECH_GRAPH, else None."""
    value = option or os.environ.get(GRAPH_ENV) or None
    return Path(value).expanduser() if value else None


def require_graph_path(option: str | Path | None) -> Path:
    """The graph to read (option, else $DR2_DEEPSPEECH_GRAPH); a clear error when none exists."""
    path = resolve_graph_path(option)
    if path is None:
        raise Dr2Error(
            f"DeepSpeech features need the DeepSpeech v0.1.0 graph: download deepspeech-0.1.0-models.tar.gz "
            f"({RELEASE_URL}) and give models/output_graph.pb with --deepspeech-graph or ${GRAPH_ENV}, "
            f"or use the built-in features"
        )
    if not path.is_file():
        raise Dr2Error(
            f"DeepSpeech graph {path} not found; give output_graph.pb of deepspeech-0.1.0-models.tar.gz "
            f"({RELEASE_URL}) with --deepspeech-graph or ${GRAPH_ENV}"
        )
    return path


_SHA_CACHE: dict[tuple, str] = {}


def graph_sha256(path: Path) -> str:
    """sha256 of the graph file, remembered per (path, size, mtime) so one run hashes it once."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(Path(path))
    return _SHA_CACHE[key]


def _graph_pb2():
    try:
        from tensorboard.compat.proto import graph_pb2
    except ImportError:  # pragma: no cover - tensorboard is a dependency
        raise Dr2Error("reading a DeepSpeech graph needs the tensorboard package; pip install tensorboard") from None
    return graph_pb2


def tensor_to_array(tensor) -> np.ndarray:
    """A TensorProto (float32 or int32) as a numpy array of its shape."""
    from tensorboard.compat.proto import types_pb2

    dtypes = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_INT32: np.int32}
    if tensor.dtype not in dtypes:
        raise ValueError(f"unsupported tensor dtype {tensor.dtype}")
    dtype = dtypes[tensor.dtype]
    shape = tuple(d.size for d in tensor.tensor_shape.dim)
    if tensor.tensor_content:
        values = np.frombuffer(tensor.tensor_content, dtype=np.dtype(dtype).newbyteorder("<"))
    else:
        values = np.asarray(tensor.float_val if dtype == np.float32 else tensor.int_val, dtype=dtype)
        if values.size == 1 and int(np.prod(shape)) > 1:  # TensorFlow stores a splat as one value
            values = np.full(int(np.prod(shape)), values[0], dtype=dtype)
    return values.astype(dtype, copy=False).reshape(shape)


def array_to_tensor(array: np.ndarray, tensor) -> None:
    """Fill a TensorProto with a float32 array (little-endian tensor_content, TensorFlow's layout)."""
    from tensorboard.compat.proto import types_pb2

    array = np.ascontiguousarray(array, dtype=np.dtype(np.float32).newbyteorder("<"))
    tensor.dtype = types_pb2.DT_FLOAT
    for size in array.shape:
        tensor.tensor_shape.dim.add().size = size
    tensor.tensor_content = array.tobytes()


def read_graph_constants(path: Path) -> dict[str, np.ndarray]:
    """Every Const node of a frozen GraphDef, by node name."""
    path = Path(path)
    if not path.is_file():
        raise Dr2Error(
            f"DeepSpeech graph {path} not found; give output_graph.pb of deepspeech-0.1.0-models.tar.gz "
            f"({RELEASE_URL}) with --deepspeech-graph or ${GRAPH_ENV}"
        )
    from google.protobuf.message import DecodeError

    graph = _graph_pb2().GraphDef()
    try:
        graph.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeError, ValueError):
        raise Dr2Error(
            f"{path} is not a TensorFlow frozen graph; give output_graph.pb of deepspeech-0.1.0-models.tar.gz"
        ) from None
    constants = {}
    for node in graph.node:
        if node.op == "Const" and "value" in node.attr:
            try:
                constants[node.name] = tensor_to_array(node.attr["value"].tensor)
            except ValueError:
                continue  # shapes, strings and other constants that are not weights
    return constants


def _pick(constants: dict, path: Path, names: list[str]) -> np.ndarray:
    for name in names:
        if name in constants:
            return constants[name]
    raise Dr2Error(
        f"{path} is not a DeepSpeech v0.1.x graph (it has no node '{names[0]}'); dr2 reads the "
        f"bidirectional-LSTM model, output_graph.pb of deepspeech-0.1.0-models.tar.gz ({RELEASE_URL})"
    )


def load_deepspeech_weights(path: Path) -> DeepSpeechWeights:
    """The weights of a DeepSpeech v0.1.x `output_graph.pb`, with their shapes checked.

    Layer widths are read from the tensors, so a graph trained with another --n_hidden
    also loads; the input must be 26 MFCCs with 9 frames of context (494 values).
    """
    path = Path(path)
    constants = read_graph_constants(path)
    dense = {n: (_pick(constants, path, [f"h{n}"]), _pick(constants, path, [f"b{n}"])) for n in DENSE_LAYERS}
    lstm = {}
    for direction in LSTM_DIRECTIONS:
        scope = LSTM_SCOPE.format(direction=direction)
        kernel = _pick(constants, path, [f"{scope}/{name}" for name in LSTM_KERNEL_NAMES])
        bias = _pick(constants, path, [f"{scope}/{name}" for name in LSTM_BIAS_NAMES])
        lstm[direction] = (kernel, bias)
    weights = DeepSpeechWeights(dense=dense, lstm=lstm)
    _check_shapes(weights, path)
    return weights


def _check_shapes(weights: DeepSpeechWeights, path: Path) -> None:
    def fail(what: str):
        raise Dr2Error(f"{path} has unexpected tensor shapes ({what}); give the DeepSpeech v0.1.x output_graph.pb")

    for n, (h, b) in weights.dense.items():
        if h.ndim != 2 or b.ndim != 1 or h.shape[1] != b.shape[0]:
            fail(f"h{n} {h.shape}, b{n} {b.shape}")
    if weights.dense["1"][0].shape[0] != INPUT_WIDTH:
        fail(f"h1 takes {weights.dense['1'][0].shape[0]} inputs, not 26 MFCCs x 19 frames = {INPUT_WIDTH}")
    for previous, n in (("1", "2"), ("2", "3"), ("5", "6")):
        if weights.dense[n][0].shape[0] != weights.dense[previous][1].shape[0]:
            fail(f"h{n} {weights.dense[n][0].shape} does not follow b{previous} {weights.dense[previous][1].shape}")
    n_in = weights.dense["3"][1].shape[0]
    for direction, (kernel, bias) in weights.lstm.items():
        cell = bias.shape[0] // 4
        if bias.ndim != 1 or bias.shape[0] % 4 or kernel.shape != (n_in + cell, 4 * cell):
            fail(f"{direction} LSTM kernel {kernel.shape}, bias {bias.shape}, input width {n_in}")
    if weights.lstm["bw"][1].shape != weights.lstm["fw"][1].shape:
        fail("forward and backward LSTM differ in size")
    if weights.dense["5"][0].shape[0] != 2 * weights.n_cell:
        fail(f"h5 {weights.dense['5'][0].shape} does not take both LSTM directions ({2 * weights.n_cell})")


def random_deepspeech_tensors(
    n_hidden: int = 2048, n_cell: int | None = None, n_characters: int = N_CHARACTERS, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random weights under v0.1.x node names and layouts, for tests and benchmarks.

    v0.1.0 uses n_hidden = n_cell = 2048 and a third layer of width 2 * n_cell. Scales keep
    activations in a useful range (fan-in scaled normals).
    """
    n_cell = n_cell or n_hidden
    rng = np.random.default_rng(seed)
    widths = {"1": (INPUT_WIDTH, n_hidden), "2": (n_hidden, n_hidden), "3": (n_hidden, 2 * n_cell),
              "5": (2 * n_cell, n_hidden), "6": (n_hidden, n_characters)}  # fmt: skip
    tensors = {}
    for n, (fan_in, fan_out) in widths.items():
        tensors[f"h{n}"] = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        tensors[f"b{n}"] = (rng.standard_normal(fan_out) * 0.05).astype(np.float32)
    for direction in LSTM_DIRECTIONS:
        scope = LSTM_SCOPE.format(direction=direction)
        fan_in = 2 * n_cell + n_cell
        tensors[f"{scope}/kernel"] = (rng.standard_normal((fan_in, 4 * n_cell)) / np.sqrt(fan_in)).astype(np.float32)
        tensors[f"{scope}/bias"] = (rng.standard_normal(4 * n_cell) * 0.05).astype(np.float32)
    return tensors


def write_constants_graph(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    """Write a GraphDef of Const nodes plus v0.1.x's input placeholders (for tests and benchmarks).

    It holds the weights as a frozen graph does; it does not hold the network's operations.
    """
    from tensorboard.compat.proto import types_pb2

    graph = _graph_pb2().GraphDef()
    node = graph.node.add(name=INPUT_NODE, op="Placeholder")
    node.attr["dtype"].type = types_pb2.DT_FLOAT
    for size in (-1, -1, INPUT_WIDTH):
        node.attr["shape"].shape.dim.add().size = size
    node = graph.node.add(name=LENGTHS_NODE, op="Placeholder")
    node.attr["dtype"].type = types_pb2.DT_INT32
    node.attr["shape"].shape.dim.add().size = -1
    for name, array in tensors.items():
        node = graph.node.add(name=name, op="Const")
        node.attr["dtype"].type = types_pb2.DT_FLOAT
        array_to_tensor(array, node.attr["value"].tensor)
    path = Path(path)
    path.write_bytes(graph.SerializeToString())
    return path
